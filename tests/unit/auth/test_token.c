/* Access tokens: what we issue verifies, and every forged shape a client could
 * send is refused (alg none, RS256 header, another key, tampering, expiry,
 * wrong issuer), whatever libjwt alone would say. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "parley/auth.h"

static const unsigned char KEY[] = "unit-test-key-0123456789abcdef-0123";
#define KEYLEN (sizeof(KEY) - 1)
#define NOW 1800000000LL

static void b64(const char *in, size_t len, char *out, size_t outlen) {
  sodium_bin2base64(out, outlen, (const unsigned char *)in, len,
                    sodium_base64_VARIANT_URLSAFE_NO_PADDING);
}

/* Builds header.payload.signature by hand; sign = 0 leaves the signature empty,
 * key NULL signs with KEY. */
static char *forge(const char *header, const char *payload, const unsigned char *key, size_t keylen,
                   int sign) {
  char h[1024], p[1024], sig[128] = "";
  b64(header, strlen(header), h, sizeof(h));
  b64(payload, strlen(payload), p, sizeof(p));
  char *signing = malloc(2200);
  snprintf(signing, 2200, "%s.%s", h, p);
  if (sign) {
    unsigned char mac[32];
    crypto_auth_hmacsha256_state st;
    crypto_auth_hmacsha256_init(&st, key ? key : KEY, key ? keylen : KEYLEN);
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)signing, strlen(signing));
    crypto_auth_hmacsha256_final(&st, mac);
    b64((const char *)mac, sizeof(mac), sig, sizeof(sig));
  }
  char *out = malloc(2400);
  snprintf(out, 2400, "%s.%s", signing, sig);
  free(signing);
  return out;
}

static const char *GOOD_PAYLOAD =
    "{\"sub\":\"u1\",\"iss\":\"parley\",\"jti\":\"j1\",\"iat\":1800000000,\"exp\":1800000900}";

static int verify(const char *token) {
  auth_claims_t c;
  return auth_token_verify_key(KEY, KEYLEN, token, NOW, &c);
}

static void issued_token_verifies(void **state) {
  char *t = auth_token_issue_key(KEY, KEYLEN, "abc123", NULL, NOW, 900);
  assert_non_null(t);
  auth_claims_t c;
  assert_int_equal(auth_token_verify_key(KEY, KEYLEN, t, NOW + 10, &c), AUTH_TOKEN_OK);
  assert_string_equal(c.sub, "abc123");
  assert_int_equal(c.iat, NOW);
  assert_int_equal(c.exp, NOW + 900);
  assert_true(strlen(c.jti) > 0);
  /* Two tokens for the same user in the same second still differ (jti). */
  char *t2 = auth_token_issue_key(KEY, KEYLEN, "abc123", NULL, NOW, 900);
  assert_string_not_equal(t, t2);
  assert_string_equal(c.sid, ""); /* no login given: no sid */
  /* A token of a login carries it as sid. */
  char *t3 = auth_token_issue_key(KEY, KEYLEN, "abc123", "family-1", NOW, 900);
  assert_int_equal(auth_token_verify_key(KEY, KEYLEN, t3, NOW + 10, &c), AUTH_TOKEN_OK);
  assert_string_equal(c.sid, "family-1");
  free(t);
  free(t2);
  free(t3);
}

static void hand_signed_hs256_verifies(void **state) {
  char *t = forge("{\"alg\":\"HS256\",\"typ\":\"JWT\"}", GOOD_PAYLOAD, NULL, 0, 1);
  assert_int_equal(verify(t), AUTH_TOKEN_OK);
  free(t);
}

static void alg_none_is_refused(void **state) {
  char *t = forge("{\"alg\":\"none\",\"typ\":\"JWT\"}", GOOD_PAYLOAD, NULL, 0, 0);
  assert_int_equal(verify(t), AUTH_TOKEN_MALFORMED); /* no signature part at all */
  free(t);
  /* alg none with a valid HMAC attached is still refused by the header pin. */
  t = forge("{\"alg\":\"none\",\"typ\":\"JWT\"}", GOOD_PAYLOAD, NULL, 0, 1);
  assert_int_equal(verify(t), AUTH_TOKEN_BAD_ALG);
  free(t);
  t = forge("{\"alg\":\"None\"}", GOOD_PAYLOAD, NULL, 0, 1);
  assert_int_equal(verify(t), AUTH_TOKEN_BAD_ALG);
  free(t);
}

static void other_algs_are_refused(void **state) {
  const char *headers[] = {"{\"alg\":\"RS256\",\"typ\":\"JWT\"}",
                           "{\"alg\":\"HS512\"}",
                           "{\"alg\":\"hs256\"}",
                           "{\"typ\":\"JWT\"}",
                           "{\"alg\":[\"HS256\"]}",
                           "{\"alg\":\"HS256\",\"crit\":[\"exp\"]}",
                           "{\"alg\":\"HS256\",\"alg\":\"none\"}"};
  for (size_t i = 0; i < sizeof(headers) / sizeof(headers[0]); i++) {
    char *t = forge(headers[i], GOOD_PAYLOAD, NULL, 0, 1);
    assert_int_not_equal(verify(t), AUTH_TOKEN_OK);
    free(t);
  }
  char *t = forge("{\"alg\":\"RS256\"}", GOOD_PAYLOAD, NULL, 0, 1);
  assert_int_equal(verify(t), AUTH_TOKEN_BAD_ALG);
  free(t);
}

static void another_key_is_refused(void **state) {
  const unsigned char other[] = "another-key-another-key-another-key";
  char *t = auth_token_issue_key(other, sizeof(other) - 1, "u1", NULL, NOW, 900);
  assert_int_equal(verify(t), AUTH_TOKEN_BAD_SIG);
  free(t);
  /* libjwt signs with an empty key if asked; such a token must not pass either. */
  t = forge("{\"alg\":\"HS256\"}", GOOD_PAYLOAD, (const unsigned char *)"", 0, 1);
  assert_int_equal(verify(t), AUTH_TOKEN_BAD_SIG);
  free(t);
  /* And verifying with an empty key is refused outright. */
  t = auth_token_issue_key(KEY, KEYLEN, "u1", NULL, NOW, 900);
  auth_claims_t c;
  assert_int_not_equal(auth_token_verify_key((const unsigned char *)"", 0, t, NOW, &c),
                       AUTH_TOKEN_OK);
  free(t);
}

static void tampered_payload_is_refused(void **state) {
  char *t = auth_token_issue_key(KEY, KEYLEN, "victim", NULL, NOW, 900);
  char *evil = forge("{\"alg\":\"HS256\",\"typ\":\"JWT\"}",
                     "{\"sub\":\"admin\",\"iss\":\"parley\",\"jti\":\"x\",\"iat\":1800000000,"
                     "\"exp\":1800000900}",
                     NULL, 0, 1);
  /* Keep the forged payload, put back the genuine token's signature. */
  char *sig = strrchr(t, '.');
  char *evil_sig = strrchr(evil, '.');
  strcpy(evil_sig, sig);
  assert_int_equal(verify(evil), AUTH_TOKEN_BAD_SIG);
  /* A flipped character in the signature. */
  size_t n = strlen(t);
  t[n - 2] = t[n - 2] == 'A' ? 'B' : 'A';
  assert_int_equal(verify(t), AUTH_TOKEN_BAD_SIG);
  free(t);
  free(evil);
}

static void expired_is_refused(void **state) {
  char *t = auth_token_issue_key(KEY, KEYLEN, "u1", NULL, NOW - 1000, 900);
  assert_int_equal(verify(t), AUTH_TOKEN_EXPIRED);
  free(t);
  t = auth_token_issue_key(KEY, KEYLEN, "u1", NULL, NOW - 900, 900); /* exp == now */
  assert_int_equal(verify(t), AUTH_TOKEN_EXPIRED);
  free(t);
}

static void bad_claims_are_refused(void **state) {
  const char *payloads[] = {
      "{\"sub\":\"u1\",\"iss\":\"other\",\"jti\":\"j\",\"iat\":1800000000,\"exp\":1800000900}",
      "{\"sub\":\"u1\",\"jti\":\"j\",\"iat\":1800000000,\"exp\":1800000900}",
      "{\"sub\":\"u1\",\"iss\":\"parley\",\"jti\":\"j\",\"iat\":1800000000,\"exp\":\"9999999999\"}",
      "{\"sub\":\"u1\",\"iss\":\"parley\",\"jti\":\"j\",\"iat\":1800000000}",
      "{\"sub\":{\"$ne\":1},\"iss\":\"parley\",\"jti\":\"j\",\"iat\":1800000000,\"exp\":"
      "1800000900}",
      "{\"iss\":\"parley\",\"jti\":\"j\",\"iat\":1800000000,\"exp\":1800000900}",
      "{\"sub\":\"u1\",\"iss\":\"parley\",\"iat\":1800000000,\"exp\":1800000900}",
      /* issued in the future */
      "{\"sub\":\"u1\",\"iss\":\"parley\",\"jti\":\"j\",\"iat\":1800009000,\"exp\":1800009900}",
      /* sid not a string, empty, or too long */
      "{\"sub\":\"u1\",\"iss\":\"parley\",\"jti\":\"j\",\"sid\":7,\"iat\":1800000000,\"exp\":"
      "1800000900}",
      "{\"sub\":\"u1\",\"iss\":\"parley\",\"jti\":\"j\",\"sid\":\"\",\"iat\":1800000000,\"exp\":"
      "1800000900}",
      "{\"sub\":\"u1\",\"iss\":\"parley\",\"jti\":\"j\",\"sid\":"
      "\"0123456789012345678901234567890123\","
      "\"iat\":1800000000,\"exp\":1800000900}",
  };
  for (size_t i = 0; i < sizeof(payloads) / sizeof(payloads[0]); i++) {
    char *t = forge("{\"alg\":\"HS256\"}", payloads[i], NULL, 0, 1);
    assert_int_equal(verify(t), AUTH_TOKEN_BAD_CLAIMS);
    free(t);
  }
}

static void malformed_is_refused(void **state) {
  const char *tokens[] = {"",           "abc",  "a.b",      "a.b.c.d",
                          "..",         "a..c", "e30.e30.", "eyJhbGciOiJIUzI1NiJ9.e30=.AAAA",
                          "!!!.???.***"};
  for (size_t i = 0; i < sizeof(tokens) / sizeof(tokens[0]); i++)
    assert_int_not_equal(verify(tokens[i]), AUTH_TOKEN_OK);
  assert_int_not_equal(verify(NULL), AUTH_TOKEN_OK);
  char *huge = malloc(10000);
  memset(huge, 'a', 9999);
  huge[9999] = '\0';
  huge[10] = huge[20] = '.';
  assert_int_equal(verify(huge), AUTH_TOKEN_MALFORMED);
  free(huge);
}

int main(void) {
  if (sodium_init() < 0) return 1;
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(issued_token_verifies),  cmocka_unit_test(hand_signed_hs256_verifies),
      cmocka_unit_test(alg_none_is_refused),    cmocka_unit_test(other_algs_are_refused),
      cmocka_unit_test(another_key_is_refused), cmocka_unit_test(tampered_payload_is_refused),
      cmocka_unit_test(expired_is_refused),     cmocka_unit_test(bad_claims_are_refused),
      cmocka_unit_test(malformed_is_refused),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
