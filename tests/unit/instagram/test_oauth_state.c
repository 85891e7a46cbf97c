/* The state of "Continue with Instagram" without I/O: a state made for a
 * session checks for that session only, until it expires; a forged, altered,
 * truncated or foreign one is refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "instagram/oauth.h"

static const unsigned char KEY[32] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
static const unsigned char OTHER_KEY[32] = {9};
#define NOW 1764700000000LL

static void test_round_trip_and_binding(void **state) {
  (void)state;
  char s[IG_OAUTH_STATE_MAX], t[IG_OAUTH_STATE_MAX];
  assert_int_equal(ig_oauth_state_make(KEY, "user-a", "login-1", NOW, s), 0);
  assert_int_equal(ig_oauth_state_make(KEY, "user-a", "login-1", NOW, t), 0);
  assert_string_not_equal(s, t); /* a fresh nonce each time */
  assert_int_equal(ig_oauth_state_check(KEY, "user-a", "login-1", NOW, s), 0);
  assert_int_equal(ig_oauth_state_check(KEY, "user-a", "login-1", NOW + 599999, s), 0);
  /* Another user, another login of the same user, another key. */
  assert_int_equal(ig_oauth_state_check(KEY, "user-b", "login-1", NOW, s), -1);
  assert_int_equal(ig_oauth_state_check(KEY, "user-a", "login-2", NOW, s), -1);
  assert_int_equal(ig_oauth_state_check(KEY, "user-a", "", NOW, s), -1);
  assert_int_equal(ig_oauth_state_check(OTHER_KEY, "user-a", "login-1", NOW, s), -1);
  /* The parts cannot be shifted between user and login. */
  assert_int_equal(ig_oauth_state_make(KEY, "ab", "c", NOW, t), 0);
  assert_int_equal(ig_oauth_state_check(KEY, "a", "bc", NOW, t), -1);
}

static void test_expiry(void **state) {
  (void)state;
  char s[IG_OAUTH_STATE_MAX];
  assert_int_equal(ig_oauth_state_make(KEY, "u", "l", NOW, s), 0);
  assert_int_equal(ig_oauth_state_check(KEY, "u", "l", NOW + IG_OAUTH_STATE_TTL_MS, s), -2);
  assert_int_equal(ig_oauth_state_check(KEY, "u", "l", NOW + 86400000LL, s), -2);
  /* A clock that went back a long way: further off than a state lives. */
  assert_int_equal(ig_oauth_state_check(KEY, "u", "l", NOW - 60000, s), -2);
}

static void test_altered_and_malformed(void **state) {
  (void)state;
  char s[IG_OAUTH_STATE_MAX], t[IG_OAUTH_STATE_MAX + 8];
  assert_int_equal(ig_oauth_state_make(KEY, "u", "l", NOW, s), 0);
  size_t n = strlen(s);
  for (size_t i = 0; i < n; i++) {
    if (s[i] == '.') continue;
    memcpy(t, s, n + 1);
    t[i] = t[i] == '1' ? '2' : '1'; /* every character counts */
    assert_int_equal(ig_oauth_state_check(KEY, "u", "l", NOW, t), -1);
  }
  const char *bad[] = {"", ".", "..", "1.2.3", "abc.def.ghi", NULL};
  for (size_t i = 0; bad[i]; i++)
    assert_int_equal(ig_oauth_state_check(KEY, "u", "l", NOW, bad[i]), -1);
  snprintf(t, sizeof(t), "%s0", s); /* longer MAC */
  assert_int_equal(ig_oauth_state_check(KEY, "u", "l", NOW, t), -1);
  memcpy(t, s, n + 1);
  t[n - 1] = '\0'; /* shorter MAC */
  assert_int_equal(ig_oauth_state_check(KEY, "u", "l", NOW, t), -1);
  snprintf(t, sizeof(t), "-%s", s); /* a sign before the expiry */
  assert_int_equal(ig_oauth_state_check(KEY, "u", "l", NOW, t), -1);
  assert_int_equal(ig_oauth_state_check(KEY, "u", "l", NOW, NULL), -1);
  assert_int_equal(ig_oauth_state_make(KEY, NULL, "l", NOW, t), -1);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_round_trip_and_binding),
      cmocka_unit_test(test_expiry),
      cmocka_unit_test(test_altered_and_malformed),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
