/* One-time codes: six random digits, twenty characters of Crockford's base32
 * for a reset, codes as people type them (spaces, dashes, case, O for 0, I and
 * L for 1) normalised and anything else refused, and the stored hash keyed by
 * the instance's key and bound to purpose and user. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "parley/auth.h"

static auth_t *new_auth(uv_loop_t *loop, const char *secret) {
  config_t cfg = {0};
  cfg.data_dir = "/nonexistent";
  cfg.jwt_secret = (char *)secret;
  cfg.access_token_ttl = 900;
  cfg.argon2_opslimit = 1;
  cfg.argon2_memlimit = 8192;
  return auth_new(loop, &cfg);
}

static void codes_have_their_shape(void **state) {
  char d[AUTH_VERIFY_CODE_LEN + 1], r[AUTH_RESET_CODE_LEN + 1], first[AUTH_RESET_CODE_LEN + 1];
  auth_code_reset(first);
  int differs = 0;
  for (int n = 0; n < 200; n++) {
    auth_code_digits(d);
    assert_int_equal(strlen(d), AUTH_VERIFY_CODE_LEN);
    for (int i = 0; d[i]; i++) assert_true(isdigit((unsigned char)d[i]));
    auth_code_reset(r);
    assert_int_equal(strlen(r), AUTH_RESET_CODE_LEN);
    assert_null(strpbrk(r, "ILOUilou-")); /* none of the letters people misread */
    differs |= strcmp(r, first) != 0;
  }
  assert_true(differs);
}

static void typed_codes_are_normalised(void **state) {
  char out[32];
  assert_int_equal(auth_code_normalize(" 123-456 ", 9, out, sizeof(out)), 0);
  assert_string_equal(out, "123456");
  const char *typed = "abcd-efgh-oil0-1234";
  assert_int_equal(auth_code_normalize(typed, strlen(typed), out, sizeof(out)), 0);
  assert_string_equal(out, "ABCDEFGH01101234");
  assert_int_equal(auth_code_normalize("12#456", 6, out, sizeof(out)), -1);
  assert_int_equal(auth_code_normalize("u", 1, out, sizeof(out)), -1); /* U is not ours */
  assert_int_equal(auth_code_normalize(" - ", 3, out, sizeof(out)), -1);
  assert_int_equal(auth_code_normalize("12\0"
                                       "34",
                                       5, out, sizeof(out)),
                   -1);
  assert_int_equal(auth_code_normalize("123456789", 9, out, 9), -1); /* does not fit */
}

static void hashes_are_keyed_and_bound(void **state) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  auth_t *a = new_auth(&loop, "one-secret-for-the-tests-0123456789");
  auth_t *b = new_auth(&loop, "another-secret-for-the-tests-012345");
  assert_non_null(a);
  assert_non_null(b);
  char h1[65], h2[65];
  auth_code_hash(a, "verify", "u1", "123456", h1);
  assert_int_equal(strlen(h1), 64);
  auth_code_hash(a, "verify", "u1", "123456", h2);
  assert_string_equal(h1, h2);
  auth_code_hash(a, "verify", "u2", "123456", h2);
  assert_string_not_equal(h1, h2); /* another user's code */
  auth_code_hash(a, "reset", "u1", "123456", h2);
  assert_string_not_equal(h1, h2); /* another purpose */
  auth_code_hash(a, "verify", "u11", "23456", h2);
  assert_string_not_equal(h1, h2); /* parts never run together */
  auth_code_hash(b, "verify", "u1", "123456", h2);
  assert_string_not_equal(h1, h2); /* another instance key */
  auth_free(a);
  auth_free(b);
  uv_loop_close(&loop);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(codes_have_their_shape),
      cmocka_unit_test(typed_codes_are_normalised),
      cmocka_unit_test(hashes_are_keyed_and_bound),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
