/* Refresh tokens: 256 random bits in unpadded base64url. The store only ever
 * sees their SHA-256 (hex), so a leaked database holds no usable token. Pure;
 * any thread. */
#include <sodium.h>
#include <string.h>

#include "auth/auth_internal.h"
#include "parley/util.h"

#define REFRESH_BYTES 32

static void hash_hex(const char *token, size_t len, char out[65]) {
  unsigned char digest[crypto_hash_sha256_BYTES];
  crypto_hash_sha256(digest, (const unsigned char *)token, len);
  util_hex(digest, sizeof(digest), out);
}

void auth_refresh_new(char token[AUTH_REFRESH_LEN + 1], char hash[65]) {
  unsigned char raw[REFRESH_BYTES];
  util_random(raw, sizeof(raw));
  sodium_bin2base64(token, AUTH_REFRESH_LEN + 1, raw, sizeof(raw),
                    sodium_base64_VARIANT_URLSAFE_NO_PADDING);
  sodium_memzero(raw, sizeof(raw));
  hash_hex(token, AUTH_REFRESH_LEN, hash);
}

int auth_refresh_hash(const char *token, size_t len, char hash[65]) {
  unsigned char raw[REFRESH_BYTES];
  size_t rawlen = 0;
  /* Only strings that decode to exactly 32 bytes can be ours. */
  if (len != AUTH_REFRESH_LEN ||
      sodium_base642bin(raw, sizeof(raw), token, len, NULL, &rawlen, NULL,
                        sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0 ||
      rawlen != REFRESH_BYTES)
    return -1;
  hash_hex(token, len, hash);
  return 0;
}
