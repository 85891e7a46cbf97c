#!/bin/sh
# The mongo service's entry point in docker/docker-compose.yml. A replica set with
# authorization needs a keyFile even with one member, and mongod refuses a keyFile
# that group or others can read; compose bind-mounts secrets outside swarm with the
# host file's mode, so this copies the secret to a private file (mode 0400, owned by
# the mongodb user) and then runs the command given (the image's own entrypoint).
# tests/deploy/test_compose.py runs this script with its paths overridden.
set -eu

src=${MONGO_KEYFILE_SECRET:-/run/secrets/mongo_keyfile}
dst=${MONGO_KEYFILE:-/var/lib/mongo-keyfile/keyfile}
owner=${MONGO_KEYFILE_OWNER:-mongodb}

if [ ! -r "$src" ] || [ ! -s "$src" ]; then
  echo "mongo-keyfile: $src is missing, unreadable or empty (generate it with" \
    "docker/make-secrets.sh; see docs/DEPLOY.md)" >&2
  exit 2
fi
# Only CHOWN, SETUID and SETGID are granted: root without DAC_OVERRIDE cannot write
# into a directory of mongodb's, nor without FOWNER chmod a file of mongodb's. So the
# directory stays root's (others may pass through it, not list it; the file itself is
# mongodb's alone), and the mode is set before the owner.
# Mode first, owner last: once the file is mongodb's, root needs FOWNER to chmod it.
install -d -m 0711 "$(dirname "$dst")"
rm -f "$dst"
install -m 0400 "$src" "$dst"
chown "$owner" "$dst"
exec "$@"
