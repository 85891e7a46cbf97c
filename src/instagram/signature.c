/* Meta's webhook signature: X-Hub-Signature-256 = "sha256=" + hex HMAC-SHA256
 * of the raw body with the app secret. Checked before the body is parsed, in
 * constant time. ig_signature_valid is pure (any thread); an ig_signer_t
 * keeps the keyed HMAC set up once (OpenSSL's fetch of the algorithm and the
 * key's padding were half of each check) and is one thread's, the loop's. */
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdlib.h>
#include <string.h>

#include "parley/instagram.h"
#include "parley/util.h"

struct ig_signer_s {
  EVP_MAC *mac;
  EVP_MAC_CTX *ctx; /* keyed: each check re-initialises it with the same key */
};

/* The 32 bytes a header names, or -1 when it names none. */
static int given_mac(const char *header, unsigned char given[32]) {
  if (!header || strncmp(header, "sha256=", 7) != 0) return -1;
  return util_unhex(header + 7, given, 32);
}

int ig_signature_valid(const char *secret, const char *header, const char *body, size_t len) {
  unsigned char given[32];
  if (!secret || given_mac(header, given) != 0) return 0;
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int mac_len = 0;
  if (!HMAC(EVP_sha256(), secret, (int)strlen(secret), (const unsigned char *)body, len, mac,
            &mac_len) ||
      mac_len != sizeof(given))
    return 0;
  return util_ct_equal(mac, given, sizeof(given));
}

ig_signer_t *ig_signer_new(const char *secret) {
  if (!secret) return NULL;
  ig_signer_t *s = calloc(1, sizeof(*s));
  if (!s) return NULL;
  OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, "SHA256", 0),
                         OSSL_PARAM_construct_end()};
  s->mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
  s->ctx = s->mac ? EVP_MAC_CTX_new(s->mac) : NULL;
  if (!s->ctx || !EVP_MAC_init(s->ctx, (const unsigned char *)secret, strlen(secret), params)) {
    ig_signer_free(s);
    return NULL;
  }
  return s;
}

void ig_signer_free(ig_signer_t *s) {
  if (!s) return;
  EVP_MAC_CTX_free(s->ctx);
  EVP_MAC_free(s->mac);
  free(s);
}

int ig_signer_valid(ig_signer_t *s, const char *header, const char *body, size_t len) {
  unsigned char given[32], mac[EVP_MAX_MD_SIZE];
  size_t mac_len = 0;
  if (!s || given_mac(header, given) != 0) return 0;
  /* A NULL key starts a new MAC under the key already set. */
  if (!EVP_MAC_init(s->ctx, NULL, 0, NULL) ||
      !EVP_MAC_update(s->ctx, (const unsigned char *)body, len) ||
      !EVP_MAC_final(s->ctx, mac, &mac_len, sizeof(mac)) || mac_len != sizeof(given))
    return 0;
  return util_ct_equal(mac, given, sizeof(given));
}
