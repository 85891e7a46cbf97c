#!/bin/sh
# The container's entry point: checks what a cluster cannot run without, then execs
# parleyd (so it is PID 1 and receives SIGTERM itself) with the container's arguments.
# tests/scripts/test_image_run.py runs it as the image does, as an unprivileged user.
set -eu

# Instances behind one load balancer must accept each other's tokens and decrypt each
# other's stored Instagram tokens. Left unset, each container would generate its own
# keys, and sessions would break as requests move between instances. A config file
# (--config or PARLEY_CONFIG) may hold them instead, so then the file decides. Each
# value may also come from a file named by PARLEY_<KEY>_FILE, as parleyd reads it.
is_set() { # NAME: true when NAME or NAME_FILE is set and not empty
  eval "[ -n \"\${$1:-}\" ] || [ -n \"\${$1_FILE:-}\" ]"
}

uses_config_file() {
  [ -n "${PARLEY_CONFIG:-}" ] && return 0
  for arg in "$@"; do
    case "$arg" in --config | --config=*) return 0 ;; esac
  done
  return 1
}

if is_set PARLEY_REDIS_URL && ! uses_config_file "$@"; then
  if ! is_set PARLEY_JWT_SECRET || ! is_set PARLEY_SECRET_KEY; then
    echo "parley-entrypoint: PARLEY_JWT_SECRET and PARLEY_SECRET_KEY (or their _FILE" \
      "forms) must be set when instances share a Redis bus (generate each with: openssl rand -hex 32;" \
      "see docs/DEPLOY.md)" >&2
    exit 2
  fi
fi

# parleyd sits beside this script (/usr/local/bin in the image).
exec "$(dirname "$0")/parleyd" "$@"
