#!/bin/sh
# The redis service's entry point in docker/docker-compose.yml. The official Redis
# image reads no *_FILE variable, so this writes a config file (mode 0400, owned by
# the redis user) holding `requirepass` from the password secret, and then runs the
# command given with that file as its first argument after redis-server:
#   redis-entrypoint.sh docker-entrypoint.sh redis-server [more options]
# The password never appears on a command line. tests/deploy/test_compose.py
# runs this script with its paths overridden.
set -eu

secret=${REDIS_PASSWORD_FILE:-/run/secrets/redis_password}
conf=${REDIS_CONF:-/var/lib/redis-conf/redis.conf}
owner=${REDIS_CONF_OWNER:-redis}

if [ ! -r "$secret" ]; then
  echo "redis-entrypoint: $secret is missing or unreadable (see docs/DEPLOY.md)" >&2
  exit 2
fi
password=$(cat "$secret") # $(...) drops the trailing newline
# Redis parses the config line by line with quoting rules of its own; a password of
# plain characters needs no quoting (make-secrets.sh writes hex).
case "$password" in
  "" | *[!A-Za-z0-9_.~+/=-]*)
    echo "redis-entrypoint: $secret must hold one line of letters, digits and _.~+/=-" \
      "(e.g. openssl rand -hex 32)" >&2
    exit 2
    ;;
esac

# Only CHOWN, SETUID and SETGID are granted: root without DAC_OVERRIDE cannot write
# into a directory of redis's, nor without FOWNER chmod a file of redis's. So the
# directory stays root's (mode 0711) and the mode is set before the owner.
umask 077
dir=$(dirname "$conf")
install -d -m 0711 "$dir"
tmp="$dir/.redis.conf.$$"
{
  echo "# Written by redis-entrypoint.sh at start from $secret; do not edit."
  echo "requirepass $password"
  # Only pub/sub passes through Redis (the store is the source of truth), so nothing
  # is persisted.
  echo 'save ""'
  echo "appendonly no"
} >"$tmp"
chmod 0400 "$tmp"
chown "$owner" "$tmp"
mv -f "$tmp" "$conf"

# "docker-entrypoint.sh redis-server ..." becomes "... redis-server $conf ...".
cmd=$1
shift
if [ "$cmd" = redis-server ] || [ "${1:-}" = redis-server ]; then
  if [ "$cmd" = redis-server ]; then
    exec "$cmd" "$conf" "$@"
  fi
  server=$1
  shift
  exec "$cmd" "$server" "$conf" "$@"
fi
echo "redis-entrypoint: expected a command that runs redis-server, got: $cmd $*" >&2
exit 2
