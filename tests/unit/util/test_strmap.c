/* The one string map (src/util/strmap.c): puts, replaces, lookups and removals
 * across growth, and sweeps that remove exactly what they say. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <cmocka.h>

#include "parley/strmap.h"

static void basics_across_growth(void **state) {
  strmap_t m;
  strmap_init(&m);
  assert_null(strmap_get(&m, "absent"));
  assert_null(strmap_del(&m, "absent"));
  char key[16];
  for (int i = 0; i < 1000; i++) {
    snprintf(key, sizeof(key), "k%d", i);
    assert_int_equal(strmap_put(&m, key, (void *)(intptr_t)(i + 1)), 0);
  }
  assert_int_equal(strmap_count(&m), 1000);
  assert_ptr_equal(strmap_get(&m, "k500"), (void *)(intptr_t)501);
  assert_int_equal(strmap_put(&m, "k500", (void *)(intptr_t)7), 0); /* replaces */
  assert_int_equal(strmap_count(&m), 1000);
  assert_ptr_equal(strmap_del(&m, "k500"), (void *)(intptr_t)7);
  assert_null(strmap_get(&m, "k500"));
  assert_int_equal(strmap_count(&m), 999);
  for (int i = 0; i < 1000; i++) {
    snprintf(key, sizeof(key), "k%d", i);
    assert_ptr_equal(strmap_get(&m, key), i == 500 ? NULL : (void *)(intptr_t)(i + 1));
  }
  strmap_free(&m);
  assert_int_equal(strmap_count(&m), 0);
  assert_null(strmap_get(&m, "k1"));
}

static int drop_odd(const char *key, void *value, void *arg) {
  (*(int *)arg)++;
  return ((intptr_t)value & 1) != 0;
}

static void sweep_removes_what_fn_returns(void **state) {
  strmap_t m;
  strmap_init(&m);
  char key[16];
  for (int i = 1; i <= 100; i++) {
    snprintf(key, sizeof(key), "u%d", i);
    assert_int_equal(strmap_put(&m, key, (void *)(intptr_t)i), 0);
  }
  int visited = 0;
  strmap_sweep(&m, drop_odd, &visited);
  assert_int_equal(visited, 100);
  assert_int_equal(strmap_count(&m), 50);
  assert_null(strmap_get(&m, "u1"));
  assert_ptr_equal(strmap_get(&m, "u2"), (void *)(intptr_t)2);
  strmap_free(&m);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(basics_across_growth),
      cmocka_unit_test(sweep_removes_what_fn_returns),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
