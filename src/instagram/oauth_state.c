/* The state of "Continue with Instagram": signed, expiring and bound to the
 * session that asked for the authorize URL, so a redirect that another
 * session (or a forger) started is refused. Pure; any thread. */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "instagram/oauth.h"

#define NONCE_BYTES 16

/* A key for states alone, derived from the secret key (which also seals
 * tokens: one key is never used for two purposes). */
static void state_key(const unsigned char key[32], unsigned char out[32]) {
  crypto_kdf_derive_from_key(out, 32, 1, "igoauth_", key);
}

static void mac_hex(const unsigned char key[32], const char *user_id, const char *login_id,
                    const char *body, size_t body_len, char hex[65]) {
  unsigned char k[32], mac[crypto_auth_hmacsha256_BYTES];
  crypto_auth_hmacsha256_state st;
  state_key(key, k);
  crypto_auth_hmacsha256_init(&st, k, sizeof(k));
  /* Each part with its terminating NUL, so no two sessions run together. */
  crypto_auth_hmacsha256_update(&st, (const unsigned char *)user_id, strlen(user_id) + 1);
  crypto_auth_hmacsha256_update(&st, (const unsigned char *)login_id, strlen(login_id) + 1);
  crypto_auth_hmacsha256_update(&st, (const unsigned char *)body, body_len);
  crypto_auth_hmacsha256_final(&st, mac);
  sodium_bin2hex(hex, 65, mac, sizeof(mac));
  sodium_memzero(k, sizeof(k));
}

int ig_oauth_state_make(const unsigned char key[32], const char *user_id, const char *login_id,
                        int64_t now_ms, char out[IG_OAUTH_STATE_MAX]) {
  unsigned char nonce[NONCE_BYTES];
  char nonce_hex[2 * NONCE_BYTES + 1], body[64], mac[65];
  if (!user_id || !login_id) return -1;
  randombytes_buf(nonce, sizeof(nonce));
  sodium_bin2hex(nonce_hex, sizeof(nonce_hex), nonce, sizeof(nonce));
  int n = snprintf(body, sizeof(body), "%lld.%s", (long long)(now_ms + IG_OAUTH_STATE_TTL_MS),
                   nonce_hex);
  if (n < 0 || (size_t)n >= sizeof(body)) return -1;
  mac_hex(key, user_id, login_id, body, (size_t)n, mac);
  n = snprintf(out, IG_OAUTH_STATE_MAX, "%s.%s", body, mac);
  return n > 0 && n < IG_OAUTH_STATE_MAX ? 0 : -1;
}

int ig_oauth_state_check(const unsigned char key[32], const char *user_id, const char *login_id,
                         int64_t now_ms, const char *state) {
  if (!state || !user_id || !login_id || strlen(state) >= IG_OAUTH_STATE_MAX) return -1;
  const char *dot1 = strchr(state, '.');
  const char *dot2 = dot1 ? strchr(dot1 + 1, '.') : NULL;
  if (!dot1 || !dot2 || strlen(dot2 + 1) != 64 || dot2 - dot1 - 1 != 2 * NONCE_BYTES) return -1;
  for (const char *p = state; p < dot1; p++)
    if (*p < '0' || *p > '9') return -1;
  if (dot1 == state || dot1 - state > 15) return -1;
  char mac[65];
  mac_hex(key, user_id, login_id, state, (size_t)(dot2 - state), mac);
  if (sodium_memcmp(mac, dot2 + 1, 64) != 0) return -1;
  long long expiry = strtoll(state, NULL, 10);
  /* Signed by us, so the expiry is ours: past it, or further off than a
   * state ever lives (a clock that went back), it is refused. */
  if (expiry <= now_ms || expiry - now_ms > IG_OAUTH_STATE_TTL_MS) return -2;
  return 0;
}
