/* The set of ids a store read found absent (src/util/absent.c): an answer
 * asked before a change is not learned, a change forgets, and the set is
 * bounded in entries and in time. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cmocka.h>

#include "parley/absent.h"

static void learns_and_forgets(void **state) {
  (void)state;
  absent_t a;
  absent_init(&a, 100, 1000);
  assert_int_equal(absent_known(&a, "u1", 10), 0);
  uint64_t g = absent_gen(&a);
  assert_int_equal(absent_learn(&a, "u1", g, 10), 1);
  assert_int_equal(absent_learn(&a, "u2", g, 10), 1);
  assert_int_equal(absent_known(&a, "u1", 20), 1);
  assert_int_equal(absent_known(&a, "u3", 20), 0);
  /* u1 subscribed: forgotten; u2 is still known. */
  absent_forget(&a, "u1");
  assert_int_equal(absent_known(&a, "u1", 20), 0);
  assert_int_equal(absent_known(&a, "u2", 20), 1);
  /* All forgotten (the bus went down or came back). */
  absent_forget(&a, NULL);
  assert_int_equal(absent_count(&a), 0);
  assert_int_equal(absent_known(&a, "u2", 20), 0);
  absent_free(&a);
}

static void an_answer_asked_before_a_change_is_not_kept(void **state) {
  (void)state;
  absent_t a;
  absent_init(&a, 100, 1000);
  uint64_t asked = absent_gen(&a);
  /* Another id changed while the read was in flight: the answer may predate
   * a change of this one too, so nothing is learned from it. */
  absent_forget(&a, "u9");
  assert_int_equal(absent_learn(&a, "u1", asked, 10), 0);
  assert_int_equal(absent_known(&a, "u1", 10), 0);
  assert_int_equal(absent_learn(&a, "u1", absent_gen(&a), 10), 1);
  assert_int_equal(absent_known(&a, "u1", 10), 1);
  absent_free(&a);
}

static void bounded_in_entries_and_time(void **state) {
  (void)state;
  absent_t a;
  absent_init(&a, 3, 1000);
  char id[8];
  for (int i = 0; i < 3; i++) {
    snprintf(id, sizeof(id), "u%d", i);
    assert_int_equal(absent_learn(&a, id, absent_gen(&a), 100), 1);
  }
  assert_int_equal(absent_count(&a), 3);
  /* A fourth starts over. */
  assert_int_equal(absent_learn(&a, "u3", absent_gen(&a), 100), 1);
  assert_int_equal(absent_count(&a), 1);
  assert_int_equal(absent_known(&a, "u0", 100), 0);
  assert_int_equal(absent_known(&a, "u3", 100), 1);
  /* ttl_ms after the set's first entry, it is dropped. */
  assert_int_equal(absent_known(&a, "u3", 1099), 1);
  assert_int_equal(absent_known(&a, "u3", 1100), 0);
  assert_int_equal(absent_count(&a), 0);
  /* And learning after the time starts a new set. */
  assert_int_equal(absent_learn(&a, "u4", absent_gen(&a), 5000), 1);
  assert_int_equal(absent_known(&a, "u4", 5500), 1);
  absent_free(&a);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(learns_and_forgets),
      cmocka_unit_test(an_answer_asked_before_a_change_is_not_kept),
      cmocka_unit_test(bounded_in_entries_and_time),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
