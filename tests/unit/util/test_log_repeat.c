/* A repeating warning's pace (src/util/log_repeat.c): the first failure, then
 * one a minute with the count held back, and one line when it recovers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "parley/log_repeat.h"

static void first_then_once_a_minute_then_recovery(void **state) {
  (void)state;
  log_repeat_t r = {0};
  uint64_t held = 99, n = 99;
  assert_int_equal(log_repeat_ok(&r, &n), 0); /* nothing failed: nothing to say */
  assert_int_equal(n, 0);
  /* A store down for 150 s, asked every second from t = 1,000,000 ms. */
  int logged = 0;
  uint64_t held_total = 0;
  for (int s = 0; s < 150; s++) {
    int64_t now = 1000000 + (int64_t)s * 1000;
    if (log_repeat_fail(&r, now, 60000, &held)) {
      /* At 0 s (none held), 60 s and 120 s (59 held each). */
      assert_int_equal(s % 60, 0);
      assert_int_equal(held, s == 0 ? 0 : 59);
      held_total += held;
      logged++;
    }
  }
  assert_int_equal(logged, 3);
  assert_int_equal(held_total + (uint64_t)logged + r.held, 150);
  assert_int_equal(log_repeat_ok(&r, &n), 1); /* recovered: said once */
  assert_int_equal(n, 150);
  assert_int_equal(log_repeat_ok(&r, &n), 0);
  /* A new outage is logged at once, whatever the time of the last line. */
  assert_int_equal(log_repeat_fail(&r, 1150000, 60000, &held), 1);
  assert_int_equal(held, 0);
  assert_int_equal(log_repeat_fail(&r, 1150500, 60000, &held), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(first_then_once_a_minute_then_recovery),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
