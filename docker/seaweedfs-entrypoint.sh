#!/bin/sh
# The seaweedfs service's entry point in docker/docker-compose.yml: SeaweedFS reads
# its S3 credentials from a JSON file (-s3.config) and no *_FILE variable, so this
# writes that file (mode 0400) from the access key and secret key secrets, then runs
# the command given with -s3.config added:
#   seaweedfs-entrypoint.sh weed server -dir=/data -s3 [more options]
# The keys never appear on a command line. With "init BUCKET" instead it creates
# the bucket Parley uses once the server answers (the s3-init service; creating a
# bucket that exists changes nothing).
set -eu

access=${S3_ACCESS_KEY_FILE:-/run/secrets/s3_access_key}
secret=${S3_SECRET_KEY_FILE:-/run/secrets/s3_secret_key}
conf=${S3_CONF:-/var/lib/seaweedfs-conf/s3.json}

if [ "${1:-}" = init ]; then
  bucket=$2
  master=${SEAWEEDFS_MASTER:-seaweedfs:9333}
  for _ in $(seq 60); do
    if echo "s3.bucket.list" | weed shell -master="$master" >/dev/null 2>&1; then
      if echo "s3.bucket.list" | weed shell -master="$master" 2>/dev/null | grep -qw "$bucket"; then
        echo "seaweedfs-entrypoint: bucket $bucket exists"
        exit 0
      fi
      echo "s3.bucket.create -name $bucket" | weed shell -master="$master"
      echo "s3.bucket.list" | weed shell -master="$master" 2>/dev/null | grep -qw "$bucket" && exit 0
    fi
    sleep 2
  done
  echo "seaweedfs-entrypoint: could not create bucket $bucket at $master" >&2
  exit 1
fi

for f in "$access" "$secret"; do
  if [ ! -r "$f" ]; then
    echo "seaweedfs-entrypoint: $f is missing or unreadable (docker/make-secrets.sh)" >&2
    exit 2
  fi
done
key=$(cat "$access")
sec=$(cat "$secret")
# JSON without an escaper: keys of plain characters only (make-secrets.sh writes hex).
case "$key$sec" in
  *[!A-Za-z0-9_.~+/=-]*)
    echo "seaweedfs-entrypoint: the S3 keys must be letters, digits and _.~+/=-" >&2
    exit 2
    ;;
esac
umask 077
dir=$(dirname "$conf")
install -d -m 0700 "$dir"
tmp="$dir/.s3.json.$$"
printf '{"identities": [{"name": "parley", "credentials": [{"accessKey": "%s", "secretKey": "%s"}], "actions": ["Read", "Write", "List", "Tagging", "Admin"]}]}\n' \
  "$key" "$sec" >"$tmp"
chmod 0400 "$tmp"
mv -f "$tmp" "$conf"
exec "$@" -s3.config="$conf"
