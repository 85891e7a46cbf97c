/* Pure rules: email normalisation. */
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

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(emails_are_trimmed_and_lowercased),
      cmocka_unit_test(non_emails_are_refused),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
