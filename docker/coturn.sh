#!/bin/sh
# coturn's entry point in docker/docker-compose.yml: writes turnserver.conf with
# the shared secret read from the compose secret (coturn reads it only from its
# configuration or command line, and a command line shows in `ps`), then runs
# turnserver. The secret is the one Parley signs TURN credentials with
# (PARLEY_TURN_SECRET_FILE): coturn's REST API convention (use-auth-secret).
# Relaying to private and loopback addresses is refused, so the TURN server
# cannot be used to reach the stack's own network. See docs/DEPLOY.md.
#   TURN_SECRET_FILE TURN_REALM TURN_MIN_PORT TURN_MAX_PORT [TURN_EXTERNAL_IP]
#   [TURN_CONF] (default /tmp/turnserver.conf) [TURN_EXEC] (default turnserver)
set -eu

conf=${TURN_CONF:-/tmp/turnserver.conf}
secret=$(cat "${TURN_SECRET_FILE:-/run/secrets/turn_secret}")
case "$secret" in
  *[!A-Za-z0-9]* | "")
    echo "coturn.sh: the TURN secret must be letters and digits" >&2
    exit 1
    ;;
esac

umask 077
{
  echo "listening-port=3478"
  echo "tls-listening-port=5349"
  echo "min-port=${TURN_MIN_PORT:-49160}"
  echo "max-port=${TURN_MAX_PORT:-49200}"
  echo "realm=${TURN_REALM:-parley}"
  echo "use-auth-secret"
  echo "static-auth-secret=$secret"
  echo "fingerprint"
  echo "no-cli"
  echo "no-multicast-peers"
  echo "no-software-attribute"
  for range in 0.0.0.0-0.255.255.255 10.0.0.0-10.255.255.255 100.64.0.0-100.127.255.255 \
    127.0.0.0-127.255.255.255 169.254.0.0-169.254.255.255 172.16.0.0-172.31.255.255 \
    192.168.0.0-192.168.255.255 ::1 fc00::-fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff \
    fe80::-febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff; do
    echo "denied-peer-ip=$range"
  done
  if [ -n "${TURN_EXTERNAL_IP:-}" ]; then echo "external-ip=$TURN_EXTERNAL_IP"; fi
  # TLS on 5349 once a certificate is mounted (docs/DEPLOY.md).
  if [ -r /etc/coturn/tls/cert.pem ] && [ -r /etc/coturn/tls/key.pem ]; then
    echo "cert=/etc/coturn/tls/cert.pem"
    echo "pkey=/etc/coturn/tls/key.pem"
  else
    echo "no-tls"
    echo "no-dtls"
  fi
} >"$conf"

exec "${TURN_EXEC:-turnserver}" -c "$conf"
