/* The signature of a webhook delivery: HMAC-SHA256 of the raw body under the
 * bot's signing secret, in X-Parley-Signature as "sha256=<hex>" (GitHub's
 * and Meta's shape). Pure; any thread. */
#include <sodium.h>
#include <string.h>

#include "parley/bots.h"

void bots_sign(const char *secret, const char *body, size_t len, char out[72]) {
  unsigned char mac[crypto_auth_hmacsha256_BYTES];
  crypto_auth_hmacsha256_state st;
  crypto_auth_hmacsha256_init(&st, (const unsigned char *)secret, strlen(secret));
  crypto_auth_hmacsha256_update(&st, (const unsigned char *)body, len);
  crypto_auth_hmacsha256_final(&st, mac);
  memcpy(out, "sha256=", 7);
  sodium_bin2hex(out + 7, 65, mac, sizeof(mac));
}
