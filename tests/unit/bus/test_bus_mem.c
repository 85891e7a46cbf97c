/* The bus's in-memory maps when full (src/bus/presence.c, src/bus/bucket.c):
 * a new key sweeps out expired entries a part at a time (at most
 * BUS_MEM_SWEEP_MAX and a slot's chain per new key), never the whole map in
 * one call, and is refused only while no room is found. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "bus/bus_internal.h"

static void a_full_presence_map_is_swept_a_part_at_a_time(void **state) {
  presence_mem_t pm;
  presence_mem_init(&pm);
  char user[32];
  /* Full: half the users expire at 100, the others live until 10,000. */
  for (int i = 0; i < BUS_MAX_MEM_KEYS; i++) {
    snprintf(user, sizeof(user), "u%d", i);
    assert_int_equal(presence_mem_set(&pm, user, "i1", i % 2 ? 100 : 10000, 0), 1);
  }
  assert_int_equal(strmap_count(&pm.users), BUS_MAX_MEM_KEYS);
  /* Later, a new user: room is made, but only from a part of the map. */
  assert_int_equal(presence_mem_set(&pm, "new-1", "i1", 10000, 200), 1);
  size_t left = strmap_count(&pm.users);
  assert_true(left < BUS_MAX_MEM_KEYS);
  assert_true(left > BUS_MAX_MEM_KEYS - BUS_MEM_SWEEP_MAX); /* not the whole map */
  /* Each new user goes on where the sweep stopped; live users stay. */
  for (int k = 0; k < 4 * BUS_MEM_SWEEP_MAX; k++) {
    snprintf(user, sizeof(user), "new+%d", k);
    assert_int_equal(presence_mem_set(&pm, user, "i1", 10000, 200), 1);
  }
  assert_int_equal(presence_mem_count(&pm, "u0", 200), 1);
  assert_int_equal(presence_mem_count(&pm, "u2", 200), 1);
  presence_mem_free(&pm);
}

static void a_full_map_of_live_users_refuses_a_new_one(void **state) {
  presence_mem_t pm;
  presence_mem_init(&pm);
  char user[32];
  for (int i = 0; i < BUS_MAX_MEM_KEYS; i++) {
    snprintf(user, sizeof(user), "u%d", i);
    presence_mem_set(&pm, user, "i1", 10000, 0);
  }
  assert_int_equal(presence_mem_set(&pm, "one-more", "i1", 10000, 1), -1);
  assert_int_equal(presence_mem_count(&pm, "u7", 1), 1); /* the others are untouched */
  presence_mem_free(&pm);
}

static void a_full_bucket_map_makes_room_from_idle_buckets(void **state) {
  bucket_mem_t bm;
  bucket_mem_init(&bm);
  char key[32];
  int64_t retry;
  for (int i = 0; i < BUS_MAX_MEM_KEYS; i++) {
    snprintf(key, sizeof(key), "k%d", i);
    assert_int_equal(bucket_mem_take(&bm, key, 60, 10, 0, &retry), 1);
  }
  /* Idle for longer than a full refill (10 s): those buckets can go. */
  assert_int_equal(bucket_mem_take(&bm, "new", 60, 10, 20000, &retry), 1);
  size_t left = strmap_count(&bm.map);
  assert_true(left < BUS_MAX_MEM_KEYS && left > BUS_MAX_MEM_KEYS - BUS_MEM_SWEEP_MAX);
  bucket_mem_free(&bm);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(a_full_presence_map_is_swept_a_part_at_a_time),
      cmocka_unit_test(a_full_map_of_live_users_refuses_a_new_one),
      cmocka_unit_test(a_full_bucket_map_makes_room_from_idle_buckets),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
