/* Pure rules: email normalisation and the token-bucket arithmetic behind the
 * WebSocket frame rate. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>
#include <string.h>

#include "parley/auth.h"

static int norm(const char *in, char *out) { return auth_email_normalize(in, strlen(in), out); }

static void emails_are_trimmed_and_lowercased(void **state) {
  char out[255];
  assert_int_equal(norm("  Alice.Smith+tag@Example.COM \t\n", out), 0);
  assert_string_equal(out, "alice.smith+tag@example.com");
  assert_int_equal(norm("a@b.co", out), 0);
  assert_string_equal(out, "a@b.co");
}

static void non_emails_are_refused(void **state) {
  const char *bad[] = {"",         "   ",          "plain",     "@example.com", "a@",
                       "a@b",      "a@@b.com",     "a b@c.com", "a@b..com",     "a@.b.com",
                       "a@b.com.", "a@-b.com",     "a@b_c.com", "\"a\"@b.com",  "a@b.com\x01",
                       "é@b.com",  "a@b.c\xc3\xa9"};
  char out[255];
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) assert_int_equal(norm(bad[i], out), -1);
  char longone[300];
  memset(longone, 'a', 260);
  memcpy(longone + 250, "@b.com", 7);
  assert_int_equal(norm(longone, out), -1);
  /* Local part over 64 bytes. */
  char local[100];
  memset(local, 'a', 70);
  memcpy(local + 70, "@b.com", 7);
  assert_int_equal(norm(local, out), -1);
}

static void bucket_allows_burst_then_refills_at_rate(void **state) {
  auth_bucket_t b = {0};
  uint64_t retry = 0;
  for (int i = 0; i < 40; i++) assert_int_equal(auth_bucket_take(&b, 1000, 20, 40, &retry), 1);
  assert_int_equal(auth_bucket_take(&b, 1000, 20, 40, &retry), 0);
  assert_int_equal(retry, 50); /* one token every 1000/20 ms */
  assert_int_equal(auth_bucket_take(&b, 1049, 20, 40, &retry), 0);
  assert_int_equal(retry, 1);
  assert_int_equal(auth_bucket_take(&b, 1050, 20, 40, &retry), 1);
  assert_int_equal(auth_bucket_take(&b, 1050, 20, 40, &retry), 0);
  /* A long pause refills to the burst, never beyond. */
  int allowed = 0;
  for (int i = 0; i < 100; i++) allowed += auth_bucket_take(&b, 100000, 20, 40, NULL);
  assert_int_equal(allowed, 40);
  /* The clock going backwards gives nothing away. */
  assert_int_equal(auth_bucket_take(&b, 500, 20, 40, &retry), 0);
}

static void bucket_sustains_exactly_its_rate(void **state) {
  auth_bucket_t b = {0};
  int allowed = 0;
  /* 10 seconds of one attempt per millisecond: the burst plus rate * 10 s. */
  for (uint64_t t = 0; t < 10000; t++) allowed += auth_bucket_take(&b, 5000 + t, 20, 40, NULL);
  assert_in_range(allowed, 40 + 199, 40 + 200);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(emails_are_trimmed_and_lowercased),
      cmocka_unit_test(non_emails_are_refused),
      cmocka_unit_test(bucket_allows_burst_then_refills_at_rate),
      cmocka_unit_test(bucket_sustains_exactly_its_rate),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
