/* Revocation of access tokens when an account is deleted or a login ends: per
 * user or per login ("sid"), "tokens issued at or before T are invalid". Held
 * in this instance's memory (a map, so a check costs one or two lookups), kept
 * in the store by the caller and announced on the bus so that every instance,
 * restarted or not, learns it; an entry is dropped once every token it covers
 * has expired on its own. Loop thread. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "auth/auth_internal.h"
#include "parley/log.h"
#include "parley/util.h"

/* Kept past a token's lifetime by the clock skew verification allows, and more. */
#define KEEP_EXTRA_S 120

int auth_revocation_make(auth_revocation_t *r, const char *user_id, const char *login_id,
                         int64_t before_ms) {
  memset(r, 0, sizeof(*r));
  if (!user_id || !user_id[0] || strlen(user_id) >= sizeof(r->user_id)) return -1;
  if (login_id && strlen(login_id) >= sizeof(r->login_id)) return -1;
  snprintf(r->user_id, sizeof(r->user_id), "%s", user_id);
  if (login_id) snprintf(r->login_id, sizeof(r->login_id), "%s", login_id);
  r->before_ms = before_ms;
  return 0;
}

static void key_of(char out[80], const char *user_id, const char *login_id) {
  if (login_id && login_id[0])
    snprintf(out, 80, "l:%s", login_id);
  else
    snprintf(out, 80, "u:%s", user_id);
}

int64_t auth_revoke_keep_until(const auth_t *a, int64_t before_ms) {
  return before_ms + ((int64_t)a->token_ttl + KEEP_EXTRA_S) * 1000;
}

typedef struct sweep_s {
  int64_t horizon; /* entries made before it are dropped */
  int64_t oldest;  /* the oldest entry kept (for evict_oldest) */
  const char *oldest_key;
} sweep_t;

static int drop_expired(const char *key, void *value, void *arg) {
  sweep_t *sw = arg;
  int64_t before = *(int64_t *)value;
  if (before < sw->horizon) {
    free(value);
    return 1;
  }
  return 0;
}

void auth_revoke_prune(auth_t *a, int64_t now_ms) {
  sweep_t sw = {0};
  sw.horizon = now_ms - ((int64_t)a->token_ttl + KEEP_EXTRA_S) * 1000;
  if (now_ms == INT64_MAX) sw.horizon = INT64_MAX;
  strmap_sweep(&a->revoked, drop_expired, &sw);
}

static int find_oldest(const char *key, void *value, void *arg) {
  sweep_t *sw = arg;
  int64_t before = *(int64_t *)value;
  if (!sw->oldest_key || before < sw->oldest) {
    sw->oldest = before;
    sw->oldest_key = key;
  }
  return 0;
}

/* The map is full even after pruning: the oldest entry goes. */
static void evict_oldest(auth_t *a) {
  sweep_t sw = {0};
  strmap_sweep(&a->revoked, find_oldest, &sw);
  if (!sw.oldest_key) return;
  char key[80];
  snprintf(key, sizeof(key), "%s", sw.oldest_key);
  free(strmap_del(&a->revoked, key));
  log_warn("revocations: over %d held, the oldest was dropped", AUTH_REVOKE_MAX);
}

int auth_revoke(auth_t *a, const auth_revocation_t *r) {
  char key[80];
  key_of(key, r->user_id, r->login_id);
  int64_t *have = strmap_get(&a->revoked, key);
  if (have) {
    if (r->before_ms <= *have) return 0;
    *have = r->before_ms;
    return 1;
  }
  if (strmap_count(&a->revoked) >= AUTH_REVOKE_MAX) auth_revoke_prune(a, util_now_ms());
  if (strmap_count(&a->revoked) >= AUTH_REVOKE_MAX) evict_oldest(a);
  int64_t *v = malloc(sizeof(*v));
  if (!v) return -1;
  *v = r->before_ms;
  if (strmap_put(&a->revoked, key, v) != 0) {
    free(v);
    return -1;
  }
  return 1;
}

size_t auth_revoke_count(const auth_t *a) { return strmap_count(&a->revoked); }

/* iat has second precision: a token from the same second as the revocation is
 * treated as issued before it. */
static int covered(const auth_t *a, const char *key, int64_t iat_s) {
  const int64_t *before = strmap_get(&a->revoked, key);
  return before && iat_s * 1000 <= *before;
}

int auth_is_revoked(const auth_t *a, const auth_claims_t *c) {
  if (strmap_count(&a->revoked) == 0) return 0;
  char key[80];
  key_of(key, c->sub, NULL);
  if (covered(a, key, c->iat)) return 1;
  if (!c->sid[0]) return 0;
  key_of(key, c->sub, c->sid);
  return covered(a, key, c->iat);
}

char *auth_revoke_message(const auth_revocation_t *r) {
  json_t *j = json_pack("{s:s, s:I}", "user_id", r->user_id, "before_ms", (json_int_t)r->before_ms);
  if (j && r->login_id[0]) json_object_set_new(j, "login_id", json_string(r->login_id));
  char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
  json_decref(j);
  return s;
}

const char *auth_revoke_channel(const auth_revocation_t *r) {
  return r->login_id[0] ? AUTH_LOGOUT_CHANNEL : AUTH_REVOKE_CHANNEL;
}

static const char *id_field(const json_t *j, const char *name, size_t max) {
  const json_t *v = json_object_get(j, name);
  if (!json_is_string(v) || json_string_length(v) == 0 || json_string_length(v) >= max ||
      strlen(json_string_value(v)) != json_string_length(v))
    return NULL;
  return json_string_value(v);
}

int auth_revoke_parse(const char *payload, size_t len, auth_revocation_t *r) {
  json_t *j = json_loadb(payload, len, 0, NULL);
  const char *uid = id_field(j, "user_id", sizeof(r->user_id));
  const char *login = id_field(j, "login_id", sizeof(r->login_id));
  const json_t *before = json_object_get(j, "before_ms");
  int rc = -1;
  if (uid && json_is_integer(before) && (login || !json_object_get(j, "login_id")))
    rc = auth_revocation_make(r, uid, login, json_integer_value(before));
  json_decref(j);
  return rc;
}

void auth_set_ready(auth_t *a, int ready) { a->ready = ready; }

int auth_ready(const auth_t *a) { return a->ready; }
