/* RFC 8291's encryption of a push message: ECDH between an ephemeral key and
 * the subscription's p256dh, the auth secret mixed in by HKDF, then RFC 8188's
 * content encryption key and nonce by HKDF and a single AES-128-GCM record.
 * Pure; any thread. */
#include "push/push_crypto.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/obj_mac.h>
#include <openssl/param_build.h>
#include <openssl/params.h>
#include <string.h>

#include "parley/util.h"

int push_p256_valid(const uint8_t key[PUSH_P256_PUBLIC_LEN]) {
  if (key[0] != 0x04) return 0;
  EC_GROUP *g = EC_GROUP_new_by_curve_name(NID_X9_62_prime256v1);
  EC_POINT *p = g ? EC_POINT_new(g) : NULL;
  int ok = p && EC_POINT_oct2point(g, p, key, PUSH_P256_PUBLIC_LEN, NULL) == 1 &&
           EC_POINT_is_on_curve(g, p, NULL) == 1 && !EC_POINT_is_at_infinity(g, p);
  EC_POINT_free(p);
  EC_GROUP_free(g);
  return ok;
}

int push_p256_public(const uint8_t priv[32], uint8_t pub[PUSH_P256_PUBLIC_LEN]) {
  int rc = -1;
  EC_GROUP *g = EC_GROUP_new_by_curve_name(NID_X9_62_prime256v1);
  EC_POINT *p = g ? EC_POINT_new(g) : NULL;
  BIGNUM *d = BN_bin2bn(priv, 32, NULL);
  if (!p || !d || BN_is_zero(d) || BN_cmp(d, EC_GROUP_get0_order(g)) >= 0) goto done;
  if (EC_POINT_mul(g, p, d, NULL, NULL, NULL) != 1) goto done;
  if (EC_POINT_point2oct(g, p, POINT_CONVERSION_UNCOMPRESSED, pub, PUSH_P256_PUBLIC_LEN, NULL) !=
      PUSH_P256_PUBLIC_LEN)
    goto done;
  rc = 0;
done:
  BN_clear_free(d);
  EC_POINT_free(p);
  EC_GROUP_free(g);
  return rc;
}

EVP_PKEY *push_p256_key(const uint8_t pub[PUSH_P256_PUBLIC_LEN], const uint8_t *priv) {
  EVP_PKEY *key = NULL;
  BIGNUM *d = priv ? BN_bin2bn(priv, 32, NULL) : NULL;
  OSSL_PARAM_BLD *b = OSSL_PARAM_BLD_new();
  OSSL_PARAM *params = NULL;
  EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
  if (!b || !ctx || (priv && !d)) goto done;
  if (!OSSL_PARAM_BLD_push_utf8_string(b, OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0) ||
      !OSSL_PARAM_BLD_push_octet_string(b, OSSL_PKEY_PARAM_PUB_KEY, pub, PUSH_P256_PUBLIC_LEN) ||
      (d && !OSSL_PARAM_BLD_push_BN(b, OSSL_PKEY_PARAM_PRIV_KEY, d)))
    goto done;
  params = OSSL_PARAM_BLD_to_param(b);
  if (!params || EVP_PKEY_fromdata_init(ctx) != 1) goto done;
  if (EVP_PKEY_fromdata(ctx, &key, d ? EVP_PKEY_KEYPAIR : EVP_PKEY_PUBLIC_KEY, params) != 1)
    key = NULL;
done:
  EVP_PKEY_CTX_free(ctx);
  OSSL_PARAM_free(params);
  OSSL_PARAM_BLD_free(b);
  BN_clear_free(d);
  return key;
}

/* HKDF-SHA-256 (extract with salt, expand with info) into out. */
static int hkdf(const uint8_t *salt, size_t saltlen, const uint8_t *ikm, size_t ikmlen,
                const uint8_t *info, size_t infolen, uint8_t *out, size_t outlen) {
  EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_id(EVP_PKEY_HKDF, NULL);
  int ok = c && EVP_PKEY_derive_init(c) == 1 && EVP_PKEY_CTX_set_hkdf_md(c, EVP_sha256()) == 1 &&
           EVP_PKEY_CTX_set1_hkdf_salt(c, salt, (int)saltlen) == 1 &&
           EVP_PKEY_CTX_set1_hkdf_key(c, ikm, (int)ikmlen) == 1 &&
           EVP_PKEY_CTX_add1_hkdf_info(c, info, (int)infolen) == 1 &&
           EVP_PKEY_derive(c, out, &outlen) == 1;
  EVP_PKEY_CTX_free(c);
  return ok ? 0 : -1;
}

static int ecdh(EVP_PKEY *mine, EVP_PKEY *peer, uint8_t secret[32]) {
  size_t len = 32;
  EVP_PKEY_CTX *c = EVP_PKEY_CTX_new(mine, NULL);
  int ok = c && EVP_PKEY_derive_init(c) == 1 && EVP_PKEY_derive_set_peer(c, peer) == 1 &&
           EVP_PKEY_derive(c, secret, &len) == 1 && len == 32;
  EVP_PKEY_CTX_free(c);
  return ok ? 0 : -1;
}

static int gcm_seal(const uint8_t key[16], const uint8_t nonce[12], const uint8_t *plain,
                    size_t len, uint8_t *out) {
  EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
  static const uint8_t delimiter = 0x02; /* the last (only) record, no padding */
  int n = 0, ok = c && EVP_EncryptInit_ex(c, EVP_aes_128_gcm(), NULL, key, nonce) == 1 &&
                  EVP_EncryptUpdate(c, out, &n, plain, (int)len) == 1;
  size_t at = (size_t)n;
  ok = ok && EVP_EncryptUpdate(c, out + at, &n, &delimiter, 1) == 1;
  at += (size_t)n;
  ok = ok && EVP_EncryptFinal_ex(c, out + at, &n) == 1;
  at += (size_t)n;
  ok = ok && at == len + 1 && EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, 16, out + at) == 1;
  EVP_CIPHER_CTX_free(c);
  return ok ? 0 : -1;
}

int push_encrypt(const uint8_t ua_public[PUSH_P256_PUBLIC_LEN], const uint8_t auth[PUSH_AUTH_LEN],
                 const uint8_t *plain, size_t len, const uint8_t *as_private, const uint8_t *salt,
                 uint8_t *out, size_t *outlen) {
  int rc = -1;
  uint8_t priv[32], as_public[PUSH_P256_PUBLIC_LEN], secret[32], ikm[32], cek[16], nonce[12];
  uint8_t salt_buf[PUSH_SALT_LEN];
  /* "WebPush: info" || 0x00 || ua_public || as_public */
  uint8_t key_info[14 + 2 * PUSH_P256_PUBLIC_LEN];
  EVP_PKEY *as = NULL, *ua = NULL;
  if (len > PUSH_PLAINTEXT_MAX || !push_p256_valid(ua_public)) return -1;
  if (as_private) {
    memcpy(priv, as_private, 32);
  } else {
    do util_random(priv, sizeof(priv));
    while (push_p256_public(priv, as_public) != 0);
  }
  if (!salt) util_random(salt_buf, sizeof(salt_buf));
  const uint8_t *s = salt ? salt : salt_buf;
  if (push_p256_public(priv, as_public) != 0) goto done;
  as = push_p256_key(as_public, priv);
  ua = push_p256_key(ua_public, NULL);
  if (!as || !ua || ecdh(as, ua, secret) != 0) goto done;

  memcpy(key_info, "WebPush: info", 14); /* with its NUL */
  memcpy(key_info + 14, ua_public, PUSH_P256_PUBLIC_LEN);
  memcpy(key_info + 14 + PUSH_P256_PUBLIC_LEN, as_public, PUSH_P256_PUBLIC_LEN);
  if (hkdf(auth, PUSH_AUTH_LEN, secret, 32, key_info, sizeof(key_info), ikm, 32) != 0) goto done;
  static const char cek_info[] = "Content-Encoding: aes128gcm"; /* + its NUL */
  static const char nonce_info[] = "Content-Encoding: nonce";   /* + its NUL */
  if (hkdf(s, PUSH_SALT_LEN, ikm, 32, (const uint8_t *)cek_info, sizeof(cek_info), cek, 16) != 0 ||
      hkdf(s, PUSH_SALT_LEN, ikm, 32, (const uint8_t *)nonce_info, sizeof(nonce_info), nonce, 12) !=
          0)
    goto done;

  /* RFC 8188's header: salt, rs (32-bit big-endian), idlen, keyid (as_public). */
  uint8_t *p = out;
  memcpy(p, s, PUSH_SALT_LEN);
  p += PUSH_SALT_LEN;
  *p++ = (uint8_t)(PUSH_RECORD_SIZE >> 24);
  *p++ = (uint8_t)(PUSH_RECORD_SIZE >> 16);
  *p++ = (uint8_t)(PUSH_RECORD_SIZE >> 8);
  *p++ = (uint8_t)PUSH_RECORD_SIZE;
  *p++ = PUSH_P256_PUBLIC_LEN;
  memcpy(p, as_public, PUSH_P256_PUBLIC_LEN);
  p += PUSH_P256_PUBLIC_LEN;
  if (gcm_seal(cek, nonce, plain, len, p) != 0) goto done;
  *outlen = (size_t)(p - out) + len + 1 + 16;
  rc = 0;
done:
  EVP_PKEY_free(as);
  EVP_PKEY_free(ua);
  OPENSSL_cleanse(priv, sizeof(priv));
  OPENSSL_cleanse(secret, sizeof(secret));
  OPENSSL_cleanse(ikm, sizeof(ikm));
  OPENSSL_cleanse(cek, sizeof(cek));
  return rc;
}
