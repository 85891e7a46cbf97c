#!/bin/sh
# Creates the secret files docker/docker-compose.yml reads, in docker/secrets/ (or
# the directory given), each from /dev/urandom; a file that exists is kept, so
# running it again changes nothing. The directory is private (0700) on the host; the
# files are 0444 because compose bind-mounts them with the host's mode and the
# services read them as their own users (Parley as uid 10001). mongod gets a private
# copy of its keyFile (docker/mongo-keyfile.sh). See docs/DEPLOY.md.
#   docker/make-secrets.sh [DIR]
set -eu

dir=${1:-$(dirname "$0")/secrets}
mkdir -p "$dir"
chmod 0700 "$dir"

hex() { od -An -tx1 -N"$1" /dev/urandom | tr -d ' \n'; }

# put NAME CONTENT: writes NAME unless it exists.
put() {
  if [ -e "$dir/$1" ]; then
    echo "kept    $dir/$1"
    return 0
  fi
  (umask 077 && printf '%s\n' "$2" >"$dir/$1.tmp")
  chmod 0444 "$dir/$1.tmp"
  mv "$dir/$1.tmp" "$dir/$1"
  echo "created $dir/$1"
}

put jwt_secret "$(hex 32)"
put secret_key "$(hex 32)"
put mongo_root_password "$(hex 24)"
# mongod's keyFile holds 6 to 1024 characters of the base64 set; hex digits are in it.
put mongo_keyfile "$(hex 384)"
put redis_password "$(hex 32)"
# The S3 store's (SeaweedFS) only identity: Parley's files.
put s3_access_key "parley$(hex 8)"
put s3_secret_key "$(hex 32)"
# coturn's static-auth-secret, with which Parley signs TURN credentials.
put turn_secret "$(hex 32)"
# Web Push's VAPID key (a P-256 private scalar, unpadded base64url): browsers subscribe
# with its public half, so every instance signs with it (docs/DEPLOY.md).
put vapid_private_key "$(head -c 32 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')"
# The URIs carry the credentials whole (PARLEY_MONGO_URI_FILE, PARLEY_REDIS_URL_FILE).
# mongo-init creates the `parley` user from this URI; w=majority and journal=true make
# a write count only once it is on disk on a majority of the replica set.
put parley_mongo_uri "mongodb://parley:$(hex 24)@mongo:27017/parley?replicaSet=rs0&authSource=parley&w=majority&journal=true"
put parley_redis_url "redis://:$(cat "$dir/redis_password")@redis:6379"
