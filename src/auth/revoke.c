/* Revocation of access tokens on account deletion: per user, "tokens issued at
 * or before T are invalid". Kept in this instance's memory and announced on the
 * bus so every instance learns it; an entry is dropped once every token it
 * covers has expired on its own. Loop thread. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "auth/auth_internal.h"
#include "parley/util.h"

/* Bounds the list: a flood of deletions cannot grow memory without limit. Past
 * it the oldest entry goes; its tokens expire within one token lifetime. */
#define REVOKE_MAX 65536

static void prune(auth_t *a, int64_t now_ms) {
  int64_t horizon = now_ms - ((int64_t)a->token_ttl + 120) * 1000;
  size_t j = 0;
  for (size_t i = 0; i < a->nrevoked; i++)
    if (a->revoked[i].before_ms >= horizon) a->revoked[j++] = a->revoked[i];
  a->nrevoked = j;
}

static auth_revocation_t *find(const auth_t *a, const char *user_id) {
  for (size_t i = 0; i < a->nrevoked; i++)
    if (strcmp(a->revoked[i].user_id, user_id) == 0) return &a->revoked[i];
  return NULL;
}

void auth_revoke_user(auth_t *a, const char *user_id, int64_t before_ms) {
  if (strlen(user_id) >= sizeof(a->revoked[0].user_id)) return;
  prune(a, util_now_ms());
  auth_revocation_t *r = find(a, user_id);
  if (r) {
    if (before_ms > r->before_ms) r->before_ms = before_ms;
    return;
  }
  if (a->nrevoked == REVOKE_MAX) {
    memmove(a->revoked, a->revoked + 1, (a->nrevoked - 1) * sizeof(*a->revoked));
    a->nrevoked--;
  }
  if (a->nrevoked == a->caprevoked) {
    size_t cap = a->caprevoked ? a->caprevoked * 2 : 16;
    auth_revocation_t *n = realloc(a->revoked, cap * sizeof(*n));
    if (!n) return;
    a->revoked = n;
    a->caprevoked = cap;
  }
  r = &a->revoked[a->nrevoked++];
  snprintf(r->user_id, sizeof(r->user_id), "%s", user_id);
  r->before_ms = before_ms;
}

int auth_is_revoked(const auth_t *a, const char *user_id, int64_t iat_s) {
  const auth_revocation_t *r = find(a, user_id);
  /* iat has second precision: a token from the same second as the deletion is
   * treated as issued before it. */
  return r && iat_s * 1000 <= r->before_ms;
}

char *auth_revoke_message(const char *user_id, int64_t before_ms) {
  json_t *j = json_pack("{s:s, s:I}", "user_id", user_id, "before_ms", (json_int_t)before_ms);
  char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
  json_decref(j);
  return s;
}

int auth_revoke_apply(auth_t *a, const char *payload, size_t len, char user_id[64]) {
  json_t *j = json_loadb(payload, len, 0, NULL);
  const json_t *uid = json_object_get(j, "user_id");
  const json_t *before = json_object_get(j, "before_ms");
  int rc = -1;
  if (json_is_string(uid) && json_string_length(uid) > 0 && json_string_length(uid) < 64 &&
      json_is_integer(before)) {
    snprintf(user_id, 64, "%s", json_string_value(uid));
    auth_revoke_user(a, user_id, json_integer_value(before));
    rc = 0;
  }
  json_decref(j);
  return rc;
}
