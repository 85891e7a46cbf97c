/* Stored Instagram access tokens: libsodium secretbox (XSalsa20-Poly1305) under
 * the 32-byte secret_key, stored as base64(nonce || box). Pure; any thread. */
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "parley/instagram.h"

char *ig_token_seal(const unsigned char key[32], const char *token) {
  size_t mlen = strlen(token);
  size_t raw_len = crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES + mlen;
  unsigned char *raw = malloc(raw_len);
  if (!raw) return NULL;
  randombytes_buf(raw, crypto_secretbox_NONCEBYTES);
  crypto_secretbox_easy(raw + crypto_secretbox_NONCEBYTES, (const unsigned char *)token, mlen, raw,
                        key);
  size_t b64_len = sodium_base64_encoded_len(raw_len, sodium_base64_VARIANT_ORIGINAL);
  char *out = malloc(b64_len);
  if (out) sodium_bin2base64(out, b64_len, raw, raw_len, sodium_base64_VARIANT_ORIGINAL);
  sodium_memzero(raw, raw_len);
  free(raw);
  return out;
}

char *ig_token_open(const unsigned char key[32], const char *sealed) {
  size_t slen = strlen(sealed);
  unsigned char *raw = malloc(slen + 1);
  size_t raw_len = 0;
  char *out = NULL;
  if (!raw) return NULL;
  if (sodium_base642bin(raw, slen, sealed, slen, NULL, &raw_len, NULL,
                        sodium_base64_VARIANT_ORIGINAL) != 0 ||
      raw_len < crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES)
    goto done;
  size_t mlen = raw_len - crypto_secretbox_NONCEBYTES - crypto_secretbox_MACBYTES;
  out = malloc(mlen + 1);
  if (!out) goto done;
  if (crypto_secretbox_open_easy((unsigned char *)out, raw + crypto_secretbox_NONCEBYTES,
                                 raw_len - crypto_secretbox_NONCEBYTES, raw, key) != 0) {
    free(out);
    out = NULL;
    goto done;
  }
  out[mlen] = '\0';
done:
  free(raw);
  return out;
}
