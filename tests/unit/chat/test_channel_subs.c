/* The connected members of channels (src/chat/channel_subs.c), without the
 * app: a user's channels read at their first session, joins and leaves that
 * arrive while the read is in flight applied after it in order, a stale read
 * ignored, and every trace of a user gone when their last session closes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "chat/channel_subs.h"

static int has(channel_subs_t *s, const char *conv, const char *user) {
  return json_object_get(channel_subs_members(s, conv), user) != NULL;
}

static void a_read_gives_the_users_channels(void **state) {
  channel_subs_t *s = channel_subs_new();
  int gen = channel_subs_track(s, "u1");
  assert_false(has(s, "c1", "u1"));
  json_t *ids = json_pack("[s, s]", "c1", "c2");
  channel_subs_loaded(s, "u1", gen, ids);
  assert_true(has(s, "c1", "u1") && has(s, "c2", "u1"));
  assert_int_equal(json_object_size(channel_subs_of(s, "u1")), 2);
  /* Another user in c1: both there; one leaves, one stays. */
  channel_subs_loaded(s, "u2", channel_subs_track(s, "u2"), ids);
  assert_int_equal(json_object_size(channel_subs_members(s, "c1")), 2);
  channel_subs_change(s, "c1", "u2", 0);
  assert_false(has(s, "c1", "u2"));
  assert_true(has(s, "c1", "u1"));
  /* The last session goes: nothing of u1 is left, empty sets are dropped. */
  channel_subs_untrack(s, "u1");
  assert_null(channel_subs_of(s, "u1"));
  assert_null(channel_subs_members(s, "c1"));
  assert_true(has(s, "c2", "u2"));
  json_decref(ids);
  channel_subs_free(s);
}

static void changes_during_the_read_are_applied_after_it(void **state) {
  channel_subs_t *s = channel_subs_new();
  int gen = channel_subs_track(s, "u1");
  /* Left c1 after the read saw it; joined c3 after the read; c4 joined and left. */
  channel_subs_change(s, "c1", "u1", 0);
  channel_subs_change(s, "c3", "u1", 1);
  channel_subs_change(s, "c4", "u1", 1);
  channel_subs_change(s, "c4", "u1", 0);
  assert_null(channel_subs_members(s, "c3")); /* not yet: the read decides first */
  json_t *ids = json_pack("[s, s]", "c1", "c2");
  channel_subs_loaded(s, "u1", gen, ids);
  assert_false(has(s, "c1", "u1"));
  assert_true(has(s, "c2", "u1") && has(s, "c3", "u1"));
  assert_false(has(s, "c4", "u1"));
  json_decref(ids);
  channel_subs_free(s);
}

static void a_stale_read_and_unknown_users_change_nothing(void **state) {
  channel_subs_t *s = channel_subs_new();
  int old = channel_subs_track(s, "u1");
  channel_subs_untrack(s, "u1");
  int gen = channel_subs_track(s, "u1");
  json_t *ids = json_pack("[s]", "c1");
  channel_subs_loaded(s, "u1", old, ids); /* the first session's read, answered late */
  assert_false(has(s, "c1", "u1"));
  channel_subs_loaded(s, "u1", gen, NULL); /* a failed read: joins alone */
  channel_subs_change(s, "c9", "u1", 1);
  assert_true(has(s, "c9", "u1"));
  /* A user with no session here is not followed. */
  channel_subs_change(s, "c1", "nobody", 1);
  assert_null(channel_subs_members(s, "c1"));
  assert_null(channel_subs_members(s, NULL));
  json_decref(ids);
  channel_subs_free(s);
  channel_subs_free(NULL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(a_read_gives_the_users_channels),
      cmocka_unit_test(changes_during_the_read_are_applied_after_it),
      cmocka_unit_test(a_stale_read_and_unknown_users_change_nothing),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
