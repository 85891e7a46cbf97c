/* One-time codes mailed to users: six digits to verify an address, and a
 * longer reset code whose first AUTH_CODE_SELECTOR_LEN characters name it (so
 * that a wrong try can count against that code without revealing anything).
 * Stored only as an HMAC-SHA256 keyed with the instance's token key, so a
 * leaked database holds nothing to try offline, even for six digits. Pure
 * given the key; loop thread. */
#include <ctype.h>
#include <string.h>

#include "auth/auth_internal.h"
#include "parley/util.h"

/* Crockford's base32: no I, L, O or U, so what is read aloud is typed right. */
static const char ALPHABET[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

void auth_code_digits(char out[AUTH_VERIFY_CODE_LEN + 1]) {
  for (int i = 0; i < AUTH_VERIFY_CODE_LEN; i++) out[i] = (char)('0' + randombytes_uniform(10));
  out[AUTH_VERIFY_CODE_LEN] = '\0';
}

void auth_code_reset(char out[AUTH_RESET_CODE_LEN + 1]) {
  for (int i = 0; i < AUTH_RESET_CODE_LEN; i++) out[i] = ALPHABET[randombytes_uniform(32)];
  out[AUTH_RESET_CODE_LEN] = '\0';
}

int auth_code_normalize(const char *in, size_t len, char *out, size_t outlen) {
  size_t n = 0;
  for (size_t i = 0; i < len; i++) {
    char c = (char)toupper((unsigned char)in[i]);
    if (c == ' ' || c == '-' || c == '\t') continue;
    if (c == 'O') c = '0';
    if (c == 'I' || c == 'L') c = '1';
    if (!strchr(ALPHABET, c) || c == '\0' || n + 1 >= outlen) return -1;
    out[n++] = c;
  }
  out[n] = '\0';
  return n ? 0 : -1;
}

void auth_code_hash(const auth_t *a, const char *purpose, const char *subject, const char *code,
                    char hex[65]) {
  unsigned char mac[crypto_auth_hmacsha256_BYTES];
  crypto_auth_hmacsha256_state st;
  crypto_auth_hmacsha256_init(&st, a->key, a->keylen);
  /* Each part with its NUL, so that no two (purpose, subject, code) collide. */
  crypto_auth_hmacsha256_update(&st, (const unsigned char *)purpose, strlen(purpose) + 1);
  crypto_auth_hmacsha256_update(&st, (const unsigned char *)subject, strlen(subject) + 1);
  crypto_auth_hmacsha256_update(&st, (const unsigned char *)code, strlen(code));
  crypto_auth_hmacsha256_final(&st, mac);
  util_hex(mac, sizeof(mac), hex);
  sodium_memzero(mac, sizeof(mac));
}
