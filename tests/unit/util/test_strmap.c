/* The one string map (src/util/strmap.c): puts, replaces, lookups and removals
 * across growth, and sweeps that remove exactly what they say. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

typedef struct visits_s {
  unsigned char seen[20000];
  size_t calls_this_turn;
} visits_t;

static int visit(const char *key, void *value, void *arg) {
  visits_t *v = arg;
  intptr_t i = (intptr_t)value;
  if (v->seen[i] < 255) v->seen[i]++;
  v->calls_this_turn++;
  return i % 7 == 0; /* removes some as it goes */
}

/* A walk in parts: each part does a bounded amount; every entry there from
 * start to end is visited, also when the map grows and shrinks in between. */
static void a_walk_in_parts_is_bounded_and_complete(void **state) {
  strmap_t m;
  strmap_init(&m);
  char key[32];
  for (intptr_t i = 0; i < 10000; i++) {
    snprintf(key, sizeof(key), "k%ld", (long)i);
    assert_int_equal(strmap_put(&m, key, (void *)i), 0);
  }
  static visits_t v;
  memset(&v, 0, sizeof(v));
  strmap_cursor_t c = {0};
  int parts = 0, done = 0;
  while (!done) {
    v.calls_this_turn = 0;
    done = strmap_sweep_some(&m, &c, 100, visit, &v);
    parts++;
    assert_true(v.calls_this_turn <= 100 + 16); /* the budget and one slot's chain */
    if (parts == 20) {                          /* the map grows past a doubling mid-walk */
      for (intptr_t i = 10000; i < 20000; i++) {
        snprintf(key, sizeof(key), "k%ld", (long)i);
        assert_int_equal(strmap_put(&m, key, (void *)i), 0);
      }
    }
    assert_true(parts < 1000);
  }
  assert_true(parts > 10);
  for (int i = 0; i < 10000; i++) assert_true(v.seen[i] >= 1);
  for (intptr_t i = 0; i < 10000; i += 7) {
    snprintf(key, sizeof(key), "k%ld", (long)i);
    assert_null(strmap_get(&m, key));
  }
  /* A fresh walk starts over and completes. */
  memset(&v, 0, sizeof(v));
  while (!strmap_sweep_some(&m, &c, 1000, visit, &v)) {}
  for (intptr_t i = 0; i < 20000; i++) {
    snprintf(key, sizeof(key), "k%ld", (long)i);
    assert_true(strmap_get(&m, key) == NULL || v.seen[i] >= 1);
    assert_true(i % 7 != 0 || strmap_get(&m, key) == NULL);
  }
  strmap_sweep(&m, visit, &v);
  strmap_free(&m);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(basics_across_growth),
      cmocka_unit_test(sweep_removes_what_fn_returns),
      cmocka_unit_test(a_walk_in_parts_is_bounded_and_complete),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
