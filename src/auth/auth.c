/* The auth state's life (key, dummy hash, limits from the configuration) and
 * the router's authenticate hook. Loop thread. */
#include <stdlib.h>
#include <string.h>

#include "auth/auth_internal.h"
#include "parley/log.h"
#include "parley/util.h"

/* The dummy hash has the same parameters as real ones, so verifying an unknown
 * account's login costs what a wrong password costs. */
static int make_dummy_hash(auth_t *a) {
  unsigned char pw[16];
  util_random(pw, sizeof(pw));
  int rc = crypto_pwhash_str(a->dummy_hash, (const char *)pw, sizeof(pw), a->opslimit, a->memlimit);
  sodium_memzero(pw, sizeof(pw));
  return rc;
}

auth_t *auth_new(uv_loop_t *loop, const config_t *cfg) {
  if (sodium_init() < 0) return NULL;
  auth_t *a = calloc(1, sizeof(*a));
  if (!a) return NULL;
  a->loop = loop;
  a->ready = 1;
  strmap_init(&a->revoked);
  a->tokens = auth_token_cache_new(); /* NULL: every token is verified in full */
  a->token_ttl = cfg->access_token_ttl > 0 ? cfg->access_token_ttl : 900;
  a->opslimit = (unsigned long long)cfg->argon2_opslimit;
  a->memlimit = (size_t)cfg->argon2_memlimit;
  a->parallel = auth_password_parallelism();
  if (auth_secret_load(a, cfg->jwt_secret, cfg->data_dir) != 0) goto fail;
  if (make_dummy_hash(a) != 0) {
    log_error("cannot hash with Argon2id (opslimit %llu, memlimit %zu)", a->opslimit, a->memlimit);
    goto fail;
  }
  return a;
fail:
  auth_free(a);
  return NULL;
}

void auth_free(auth_t *a) {
  if (!a) return;
  if (a->key) {
    sodium_memzero(a->key, a->keylen);
    free(a->key);
  }
  auth_revoke_prune(a, INT64_MAX);
  strmap_free(&a->revoked);
  auth_token_cache_free(a->tokens);
  free(a);
}

int auth_token_ttl(const auth_t *a) { return a->token_ttl; }

/* The header is read from the request's own array (not http_req_header) so that
 * this module depends on nothing but util. */
static const char *bearer_token(const http_req_t *req) {
  for (int i = 0; i < req->nheaders; i++) {
    if (strcmp(req->headers[i].name, "authorization") != 0) continue;
    const char *v = req->headers[i].value;
    if (util_strncasecmp(v, "Bearer ", 7) != 0) return NULL;
    v += 7;
    while (*v == ' ') v++;
    return *v ? v : NULL;
  }
  return NULL;
}

int auth_authenticate(void *auth, http_req_t *req) {
  const char *token = bearer_token(req);
  auth_claims_t claims;
  if (!token || !auth) return -1;
  int rc = auth_token_verify(auth, token, util_now_ms() / 1000, &claims);
  if (rc == AUTH_TOKEN_NOT_READY) return -2;
  if (rc != AUTH_TOKEN_OK) return -1;
  snprintf(req->user_id, sizeof(req->user_id), "%s", claims.sub);
  snprintf(req->login_id, sizeof(req->login_id), "%s", claims.sid);
  return 0;
}
