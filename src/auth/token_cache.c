/* Verified access tokens, remembered by their exact bytes: a token presented
 * again skips the base64, JSON, HMAC and libjwt work of auth_token_verify_key
 * (about 9% of an authenticated GET's instructions). Only what cannot change
 * for the same bytes and key is kept (the claims); expiry and the clock skew
 * are checked again on every hit, and revocation (logout, deletion, password
 * reset, on any instance) is checked by auth_token_verify after the cache, so
 * it takes effect on the next request as before. Bounded: AUTH_TOKEN_CACHE_SLOTS
 * slots of at most AUTH_TOKEN_CACHE_MAX_LEN bytes, direct-mapped by a keyed
 * SipHash of the token, a newer token replacing an older one. Loop thread. */
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "auth/auth_internal.h"

#define CLOCK_SKEW_S 60 /* as token.c */

typedef struct slot_s {
  uint64_t hash;
  size_t len; /* 0: empty */
  char *token;
  auth_claims_t claims;
} slot_t;

struct auth_token_cache_s {
  unsigned char key[crypto_shorthash_KEYBYTES];
  slot_t slots[AUTH_TOKEN_CACHE_SLOTS];
};

auth_token_cache_t *auth_token_cache_new(void) {
  auth_token_cache_t *c = calloc(1, sizeof(*c));
  if (c) crypto_shorthash_keygen(c->key);
  return c;
}

void auth_token_cache_free(auth_token_cache_t *c) {
  if (!c) return;
  for (size_t i = 0; i < AUTH_TOKEN_CACHE_SLOTS; i++) free(c->slots[i].token);
  free(c);
}

static slot_t *slot_of(auth_token_cache_t *c, const char *token, size_t len, uint64_t *hash) {
  unsigned char h[crypto_shorthash_BYTES];
  crypto_shorthash(h, (const unsigned char *)token, len, c->key);
  memcpy(hash, h, sizeof(*hash));
  return &c->slots[*hash % AUTH_TOKEN_CACHE_SLOTS];
}

int auth_token_cache_get(auth_token_cache_t *c, const char *token, int64_t now_s,
                         auth_claims_t *out) {
  size_t len = c && token ? strnlen(token, AUTH_TOKEN_CACHE_MAX_LEN + 1) : 0;
  if (len == 0 || len > AUTH_TOKEN_CACHE_MAX_LEN) return 1;
  uint64_t hash;
  slot_t *s = slot_of(c, token, len, &hash);
  if (s->len != len || s->hash != hash || memcmp(s->token, token, len) != 0) return 1;
  if (s->claims.iat > now_s + CLOCK_SKEW_S) return AUTH_TOKEN_BAD_CLAIMS;
  if (s->claims.exp <= now_s) return AUTH_TOKEN_EXPIRED;
  *out = s->claims;
  return AUTH_TOKEN_OK;
}

void auth_token_cache_put(auth_token_cache_t *c, const char *token, const auth_claims_t *claims) {
  size_t len = c && token ? strnlen(token, AUTH_TOKEN_CACHE_MAX_LEN + 1) : 0;
  if (len == 0 || len > AUTH_TOKEN_CACHE_MAX_LEN) return;
  uint64_t hash;
  slot_t *s = slot_of(c, token, len, &hash);
  char *copy = malloc(len);
  if (!copy) return;
  memcpy(copy, token, len);
  free(s->token);
  s->token = copy;
  s->len = len;
  s->hash = hash;
  s->claims = *claims;
}
