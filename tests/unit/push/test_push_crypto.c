/* Web Push's crypto (src/push/push_crypto.c, src/push/vapid.c): RFC 8291's
 * Appendix A reproduced byte for byte, the key checks, and the VAPID JWT of
 * RFC 8292 (its shape, its claims, and an ES256 signature in JOSE's raw r || s
 * that verifies with the public key). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/pem.h>
#include <sodium.h>

#include "push/push_crypto.h"
#include "push/vapid.h"

/* RFC 8291, Appendix A. */
#define PLAINTEXT "When I grow up, I want to be a watermelon"
#define AS_PRIVATE "yfWPiYE-n46HLnH0KqZOF1fJJU3MYrct3AELtAQ-oRw"
#define AS_PUBLIC \
  "BP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A8"
#define UA_PUBLIC \
  "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4"
#define AUTH_SECRET "BTBZMqHH6r4Tts7J_aSIgg"
#define SALT "DGv6ra1nlYgDCS1FRnbzlw"
#define BODY                                                                                       \
  "DGv6ra1nlYgDCS1FRnbzlwAAEABBBP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6T" \
  "lzAC8wEqKK6PBru3jl7A_yl95bQpu6cVPTpK4Mqgkf1CXztLVBSt2Ks3oZwbuwXPXLWyouBWLVWGNWQexSgSxsj_Qulcy4" \
  "a-fN"

static size_t unb64(const char *s, uint8_t *out, size_t cap) {
  size_t got = 0;
  assert_int_equal(sodium_base642bin(out, cap, s, strlen(s), NULL, &got, NULL,
                                     sodium_base64_VARIANT_URLSAFE_NO_PADDING),
                   0);
  return got;
}

static void rfc8291_example_is_reproduced(void **state) {
  (void)state;
  uint8_t as_priv[32], ua_pub[65], auth[16], salt[16], want[256], out[256];
  assert_int_equal(unb64(AS_PRIVATE, as_priv, sizeof(as_priv)), 32);
  assert_int_equal(unb64(UA_PUBLIC, ua_pub, sizeof(ua_pub)), 65);
  assert_int_equal(unb64(AUTH_SECRET, auth, sizeof(auth)), 16);
  assert_int_equal(unb64(SALT, salt, sizeof(salt)), 16);
  size_t wantlen = unb64(BODY, want, sizeof(want)), outlen = 0;
  assert_int_equal(push_encrypt(ua_pub, auth, (const uint8_t *)PLAINTEXT, strlen(PLAINTEXT),
                                as_priv, salt, out, &outlen),
                   0);
  assert_int_equal(outlen, wantlen);
  assert_int_equal(outlen, PUSH_OVERHEAD + strlen(PLAINTEXT));
  assert_memory_equal(out, want, wantlen);

  /* The sender's public key the example names is the one derived. */
  uint8_t as_pub[65], want_pub[65];
  assert_int_equal(unb64(AS_PUBLIC, want_pub, sizeof(want_pub)), 65);
  assert_int_equal(push_p256_public(as_priv, as_pub), 0);
  assert_memory_equal(as_pub, want_pub, 65);
}

static void fresh_keys_and_salts_differ_each_time(void **state) {
  (void)state;
  uint8_t ua_pub[65], auth[16], a[256], b[256];
  size_t alen = 0, blen = 0;
  unb64(UA_PUBLIC, ua_pub, sizeof(ua_pub));
  unb64(AUTH_SECRET, auth, sizeof(auth));
  assert_int_equal(push_encrypt(ua_pub, auth, (const uint8_t *)"hi", 2, NULL, NULL, a, &alen), 0);
  assert_int_equal(push_encrypt(ua_pub, auth, (const uint8_t *)"hi", 2, NULL, NULL, b, &blen), 0);
  assert_int_equal(alen, PUSH_OVERHEAD + 2);
  assert_int_equal(alen, blen);
  assert_memory_not_equal(a, b, 16);           /* the salt */
  assert_memory_not_equal(a + 21, b + 21, 65); /* the ephemeral key */
  assert_int_equal(a[20], 65);                 /* idlen */
  assert_int_equal((a[16] << 8 | a[17]) << 16 | (a[18] << 8 | a[19]), PUSH_RECORD_SIZE);
}

static void bad_keys_and_long_payloads_are_refused(void **state) {
  (void)state;
  uint8_t ua_pub[65], auth[16], out[PUSH_RECORD_SIZE + 64];
  size_t outlen = 0;
  unb64(UA_PUBLIC, ua_pub, sizeof(ua_pub));
  unb64(AUTH_SECRET, auth, sizeof(auth));
  assert_true(push_p256_valid(ua_pub));
  static uint8_t plain[PUSH_PLAINTEXT_MAX + 1];
  assert_int_equal(push_encrypt(ua_pub, auth, plain, PUSH_PLAINTEXT_MAX, NULL, NULL, out, &outlen),
                   0);
  assert_int_equal(outlen, PUSH_RECORD_SIZE);
  assert_int_equal(
      push_encrypt(ua_pub, auth, plain, PUSH_PLAINTEXT_MAX + 1, NULL, NULL, out, &outlen), -1);
  ua_pub[64] ^= 1; /* off the curve */
  assert_false(push_p256_valid(ua_pub));
  assert_int_equal(push_encrypt(ua_pub, auth, (const uint8_t *)"x", 1, NULL, NULL, out, &outlen),
                   -1);
  ua_pub[64] ^= 1;
  ua_pub[0] = 0x02; /* compressed form: not what a browser sends */
  assert_false(push_p256_valid(ua_pub));
}

/* Decodes one JWT part into a JSON object. */
static json_t *jwt_part(const char *s, size_t len) {
  uint8_t raw[1024];
  size_t got = 0;
  assert_int_equal(sodium_base642bin(raw, sizeof(raw), s, len, NULL, &got, NULL,
                                     sodium_base64_VARIANT_URLSAFE_NO_PADDING),
                   0);
  json_t *j = json_loadb((const char *)raw, got, 0, NULL);
  assert_non_null(j);
  return j;
}

/* Verifies raw r || s over input with the public point pub. */
static int es256_verifies(const uint8_t pub[65], const char *input, size_t len,
                          const uint8_t raw[64]) {
  ECDSA_SIG *sig = ECDSA_SIG_new();
  ECDSA_SIG_set0(sig, BN_bin2bn(raw, 32, NULL), BN_bin2bn(raw + 32, 32, NULL));
  uint8_t *der = NULL;
  int derlen = i2d_ECDSA_SIG(sig, &der);
  ECDSA_SIG_free(sig);
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0),
      OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, (void *)pub, 65),
      OSSL_PARAM_construct_end()};
  EVP_PKEY *key = NULL;
  EVP_PKEY_CTX *kc = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
  EVP_PKEY_fromdata_init(kc);
  EVP_PKEY_fromdata(kc, &key, EVP_PKEY_PUBLIC_KEY, params);
  EVP_MD_CTX *md = EVP_MD_CTX_new();
  int ok = key && EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, key) == 1 &&
           EVP_DigestVerify(md, der, (size_t)derlen, (const uint8_t *)input, len) == 1;
  EVP_MD_CTX_free(md);
  EVP_PKEY_free(key);
  EVP_PKEY_CTX_free(kc);
  OPENSSL_free(der);
  return ok;
}

static void vapid_token_is_an_es256_jwt_for_the_origin(void **state) {
  (void)state;
  vapid_t *v = vapid_parse(AS_PRIVATE);
  assert_non_null(v);
  assert_string_equal(vapid_public_b64(v), AS_PUBLIC);
  char auth[2048];
  int n = vapid_authorization(v, "https://push.example.net:8443/wpush/v2/abc?x=1",
                              "mailto:ops@example.com", 1893456000, auth, sizeof(auth));
  assert_true(n > 0);
  assert_int_equal(strncmp(auth, "vapid t=", 8), 0);
  const char *jwt = auth + 8, *comma = strstr(jwt, ", k=");
  assert_non_null(comma);
  assert_string_equal(comma + 4, AS_PUBLIC);
  const char *dot1 = strchr(jwt, '.'), *dot2 = dot1 ? strchr(dot1 + 1, '.') : NULL;
  assert_non_null(dot2);
  json_t *h = jwt_part(jwt, (size_t)(dot1 - jwt));
  assert_string_equal(json_string_value(json_object_get(h, "alg")), "ES256");
  assert_string_equal(json_string_value(json_object_get(h, "typ")), "JWT");
  json_t *c = jwt_part(dot1 + 1, (size_t)(dot2 - dot1 - 1));
  assert_string_equal(json_string_value(json_object_get(c, "aud")),
                      "https://push.example.net:8443");
  assert_int_equal(json_integer_value(json_object_get(c, "exp")), 1893456000);
  assert_string_equal(json_string_value(json_object_get(c, "sub")), "mailto:ops@example.com");
  json_decref(h);
  json_decref(c);

  uint8_t raw[64], pub[65];
  size_t got = 0;
  assert_int_equal(sodium_base642bin(raw, sizeof(raw), dot2 + 1, (size_t)(comma - dot2 - 1), NULL,
                                     &got, NULL, sodium_base64_VARIANT_URLSAFE_NO_PADDING),
                   0);
  assert_int_equal(got, 64); /* raw r || s, not DER */
  unb64(AS_PUBLIC, pub, sizeof(pub));
  assert_true(es256_verifies(pub, jwt, (size_t)(dot2 - jwt), raw));
  raw[5] ^= 1;
  assert_false(es256_verifies(pub, jwt, (size_t)(dot2 - jwt), raw));

  assert_int_equal(vapid_authorization(v, "ftp://x/y", "mailto:a@b", 1, auth, sizeof(auth)), -1);
  assert_int_equal(vapid_authorization(v, "https://a.example/p", "mailto:a@b", 1, auth, 40), -1);
  vapid_free(v);
}

static void der_signatures_become_32_byte_halves(void **state) {
  (void)state;
  /* Short r and s (DER drops their leading zeros) are padded to 32 bytes. */
  ECDSA_SIG *sig = ECDSA_SIG_new();
  BIGNUM *r = BN_new(), *s = BN_new();
  BN_set_word(r, 0x1234);
  BN_set_word(s, 0xff);
  ECDSA_SIG_set0(sig, r, s);
  uint8_t *der = NULL, raw[64], want[64] = {0};
  int len = i2d_ECDSA_SIG(sig, &der);
  want[30] = 0x12;
  want[31] = 0x34;
  want[63] = 0xff;
  assert_int_equal(vapid_der_to_raw(der, (size_t)len, raw), 0);
  assert_memory_equal(raw, want, 64);
  assert_int_equal(vapid_der_to_raw(der, (size_t)len - 1, raw), -1);
  assert_int_equal(vapid_der_to_raw((const uint8_t *)"junk", 4, raw), -1);
  OPENSSL_free(der);
  ECDSA_SIG_free(sig);
}

static void keys_parse_from_pem_or_scalar_only(void **state) {
  (void)state;
  EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
  BIO *bio = BIO_new(BIO_s_mem());
  PEM_write_bio_PrivateKey(bio, k, NULL, NULL, 0, NULL, NULL);
  char *pem = NULL;
  long n = BIO_get_mem_data(bio, &pem);
  char *text = strndup(pem, (size_t)n);
  vapid_t *v = vapid_parse(text);
  assert_non_null(v);
  assert_int_equal(strlen(vapid_public_b64(v)), 87);
  vapid_free(v);
  free(text);
  BIO_free(bio);
  EVP_PKEY_free(k);
  assert_null(vapid_parse("not a key"));
  assert_null(vapid_parse(AUTH_SECRET));                                      /* 16 bytes */
  assert_null(vapid_parse("_____________________________________________w")); /* >= n */
  char origin[64];
  assert_int_equal(vapid_origin("http://127.0.0.1:9/p/q", origin, sizeof(origin)), 0);
  assert_string_equal(origin, "http://127.0.0.1:9");
  assert_int_equal(vapid_origin("https:///p", origin, sizeof(origin)), -1);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(rfc8291_example_is_reproduced),
      cmocka_unit_test(fresh_keys_and_salts_differ_each_time),
      cmocka_unit_test(bad_keys_and_long_payloads_are_refused),
      cmocka_unit_test(vapid_token_is_an_es256_jwt_for_the_origin),
      cmocka_unit_test(der_signatures_become_32_byte_halves),
      cmocka_unit_test(keys_parse_from_pem_or_scalar_only),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
