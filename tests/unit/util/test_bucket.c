/* The one token bucket (src/util/bucket.c): the burst, then exactly the rate;
 * the wait it reports; no gift from a clock that goes backwards. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "parley/bucket.h"

static void bucket_allows_burst_then_refills_at_rate(void **state) {
  bucket_t b = {0};
  uint64_t retry = 0;
  for (int i = 0; i < 40; i++) assert_int_equal(bucket_take(&b, 1000, 20, 40, &retry), 1);
  assert_int_equal(bucket_take(&b, 1000, 20, 40, &retry), 0);
  assert_int_equal(retry, 50); /* one token every 1000/20 ms */
  assert_int_equal(bucket_take(&b, 1049, 20, 40, &retry), 0);
  assert_int_equal(retry, 1);
  assert_int_equal(bucket_take(&b, 1050, 20, 40, &retry), 1);
  assert_int_equal(bucket_take(&b, 1050, 20, 40, &retry), 0);
  /* A long pause refills to the burst, never beyond. */
  int allowed = 0;
  for (int i = 0; i < 100; i++) allowed += bucket_take(&b, 100000, 20, 40, NULL);
  assert_int_equal(allowed, 40);
  /* The clock going backwards gives nothing away. */
  assert_int_equal(bucket_take(&b, 500, 20, 40, &retry), 0);
}

static void bucket_sustains_exactly_its_rate(void **state) {
  bucket_t b = {0};
  int allowed = 0;
  /* 10 seconds of one attempt per millisecond: the burst plus rate * 10 s. */
  for (uint64_t t = 0; t < 10000; t++) allowed += bucket_take(&b, 5000 + t, 20, 40, NULL);
  assert_in_range(allowed, 40 + 199, 40 + 200);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(bucket_allows_burst_then_refills_at_rate),
      cmocka_unit_test(bucket_sustains_exactly_its_rate),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
