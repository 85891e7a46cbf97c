/* The hub with 70k users: each user's sessions are found by id (and only
 * theirs), counts follow adds and removes, removing twice is harmless, and a
 * callback that removes sessions while the hub iterates them is safe. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "parley/ws.h"

#define USERS 70000 /* past the initial 65536 buckets: the table grows */

static ws_session_t *sessions; /* two per user: 2i and 2i+1 */

static int setup(void **state) {
  sessions = calloc(2 * USERS, sizeof(*sessions));
  for (int i = 0; i < 2 * USERS; i++) {
    snprintf(sessions[i].user_id, sizeof(sessions[i].user_id), "user-%06d", i / 2);
    sessions[i].id = (uint64_t)i;
  }
  return 0;
}

static int teardown(void **state) {
  free(sessions);
  return 0;
}

typedef struct seen_s {
  int count;
  uint64_t ids[8];
} seen_t;

static void collect(ws_session_t *s, void *arg) {
  seen_t *seen = arg;
  seen->ids[seen->count++ % 8] = s->id;
}

static void test_many_users(void **state) {
  hub_t *h = hub_new();
  assert_non_null(h);
  for (int i = 0; i < 2 * USERS; i++) assert_int_equal(hub_add(h, &sessions[i]), i % 2 + 1);
  assert_int_equal(hub_add(h, &sessions[0]), 2); /* already there: not added twice */
  assert_int_equal(hub_session_count(h), 2 * USERS);
  assert_int_equal(hub_user_count(h), USERS);

  /* each lookup finds exactly that user's two sessions */
  clock_t t0 = clock();
  for (int u = 0; u < USERS; u++) {
    char id[32];
    snprintf(id, sizeof(id), "user-%06d", u);
    seen_t seen = {0};
    hub_foreach(h, id, collect, &seen);
    assert_int_equal(seen.count, 2);
    assert_true(seen.ids[0] / 2 == (uint64_t)u && seen.ids[1] / 2 == (uint64_t)u);
    assert_true(seen.ids[0] != seen.ids[1]);
  }
  /* 70k lookups are hash lookups: far under a second even unoptimized */
  assert_true((double)(clock() - t0) / CLOCKS_PER_SEC < 1.0);
  seen_t none = {0};
  hub_foreach(h, "nobody", collect, &none);
  assert_int_equal(none.count, 0);

  seen_t all = {0};
  hub_foreach_all(h, collect, &all);
  assert_int_equal(all.count, 2 * USERS);

  /* removals: the user stays until the last session goes; twice is harmless */
  assert_int_equal(hub_remove(h, &sessions[10]), 1);
  assert_int_equal(hub_remove(h, &sessions[10]), 1);
  assert_int_equal(hub_remove(h, &sessions[11]), 0);
  assert_int_equal(hub_remove(h, &sessions[11]), 0);
  assert_int_equal(hub_user_count(h), USERS - 1);
  seen_t gone = {0};
  hub_foreach(h, "user-000005", collect, &gone);
  assert_int_equal(gone.count, 0);
  for (int i = 0; i < 2 * USERS; i++) hub_remove(h, &sessions[i]);
  assert_int_equal(hub_session_count(h), 0);
  assert_int_equal(hub_user_count(h), 0);
  hub_free(h);
}

typedef struct remover_s {
  hub_t *hub;
  int calls;
} remover_t;

static void remove_self(ws_session_t *s, void *arg) {
  remover_t *r = arg;
  r->calls++;
  hub_remove(r->hub, s); /* what a session closing during a send does */
}

static void test_remove_while_iterating(void **state) {
  hub_t *h = hub_new();
  ws_session_t many[40];
  memset(many, 0, sizeof(many));
  for (int i = 0; i < 40; i++) {
    strcpy(many[i].user_id, "busy-user");
    hub_add(h, &many[i]);
  }
  remover_t r = {h, 0};
  hub_foreach(h, "busy-user", remove_self, &r);
  assert_int_equal(r.calls, 40); /* every session visited once */
  assert_int_equal(hub_user_count(h), 0);
  for (int i = 0; i < 3; i++) hub_add(h, &many[i]);
  r.calls = 0;
  hub_foreach_all(h, remove_self, &r);
  assert_int_equal(r.calls, 3);
  assert_int_equal(hub_session_count(h), 0);
  /* sessions whose connection is gone are not counted as sent to */
  hub_add(h, &many[0]);
  assert_int_equal(hub_send_user(h, "busy-user", "x", 1), 0);
  hub_free(h); /* frees what is still registered */
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_many_users, setup, teardown),
      cmocka_unit_test(test_remove_while_iterating),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
