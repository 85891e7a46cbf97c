/* Parses the Redis url of PARLEY_REDIS_URL: redis://[[user]:password@]host[:port][/db].
 * Owns the strings of the parsed result. Pure; any thread. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "bus/redis_internal.h"
#include "parley/util.h"

/* Percent-decodes [s, s+len) into a new string; NULL when malformed. */
static char *redis_url_decoded(const char *s, size_t len) {
  char *out = malloc(len + 1);
  if (!out) return NULL;
  long n = util_url_decode(s, len, out, len + 1, 0);
  if (n < 0 || memchr(out, '\0', (size_t)n)) {
    free(out);
    return NULL;
  }
  out[n] = '\0';
  return out;
}

/* Digits only, value in [lo, hi]. */
static int redis_url_number(const char *s, size_t len, long lo, long hi, int *out) {
  if (len == 0 || len > 9) return -1;
  long v = 0;
  for (size_t i = 0; i < len; i++) {
    if (!isdigit((unsigned char)s[i])) return -1;
    v = v * 10 + (s[i] - '0');
  }
  if (v < lo || v > hi) return -1;
  *out = (int)v;
  return 0;
}

static int redis_url_host_ok(const char *s, size_t len, int v6) {
  if (len == 0 || len > 253) return 0;
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)s[i];
    if (!(isalnum(c) || c == '.' || c == '-' || c == '_' || (v6 && c == ':'))) return 0;
  }
  return 1;
}

static int redis_url_userinfo(const char *s, size_t len, redis_url_t *u) {
  const char *colon = memchr(s, ':', len);
  /* A user with no password cannot AUTH: refuse rather than connect unauthenticated. */
  if (!colon) return -1;
  size_t ulen = (size_t)(colon - s);
  if (ulen && !(u->user = redis_url_decoded(s, ulen))) return -1;
  u->password = redis_url_decoded(colon + 1, len - ulen - 1);
  return u->password && *u->password ? 0 : -1;
}

static int redis_url_hostport(const char *s, size_t len, redis_url_t *u) {
  const char *host = s, *port = NULL;
  size_t hlen;
  int v6 = 0;
  if (len && s[0] == '[') {
    const char *close = memchr(s, ']', len);
    if (!close) return -1;
    host = s + 1;
    hlen = (size_t)(close - host);
    v6 = 1;
    if (close + 1 < s + len) {
      if (close[1] != ':') return -1;
      port = close + 2;
    }
  } else {
    const char *colon = memchr(s, ':', len);
    hlen = colon ? (size_t)(colon - s) : len;
    if (colon) port = colon + 1;
  }
  if (!redis_url_host_ok(host, hlen, v6)) return -1;
  u->port = 6379;
  if (port && redis_url_number(port, (size_t)(s + len - port), 1, 65535, &u->port) < 0) return -1;
  u->host = strndup(host, hlen);
  return u->host ? 0 : -1;
}

int redis_url_parse(const char *url, redis_url_t *u) {
  memset(u, 0, sizeof(*u));
  if (!url || util_strncasecmp(url, "redis://", 8) != 0) return -1;
  const char *auth = url + 8;
  const char *slash = strchr(auth, '/');
  const char *end = slash ? slash : auth + strlen(auth);
  const char *at = NULL;
  for (const char *p = auth; p < end; p++)
    if (*p == '@') at = p;
  if (at && redis_url_userinfo(auth, (size_t)(at - auth), u) < 0) goto fail;
  const char *hp = at ? at + 1 : auth;
  if (redis_url_hostport(hp, (size_t)(end - hp), u) < 0) goto fail;
  if (slash && slash[1] && redis_url_number(slash + 1, strlen(slash + 1), 0, 1 << 20, &u->db) < 0)
    goto fail;
  return 0;
fail:
  redis_url_free(u);
  return -1;
}

void redis_url_free(redis_url_t *u) {
  free(u->host);
  free(u->user);
  free(u->password);
  memset(u, 0, sizeof(*u));
}
