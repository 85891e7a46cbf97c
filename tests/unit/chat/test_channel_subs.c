/* The connected members of channels (src/chat/channel_subs.c), without the
 * app: a user's channels read at their first session, joins and leaves that
 * arrive while the read is in flight applied after it in order, a stale read
 * ignored, and every trace of a user gone when their last session closes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

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

/* Reads are batched: the users due come out in the order their first session
 * opened, at most max at a time, without those gone (or back under a new
 * generation) since; a batch's answer is applied per user, a failed one leaves
 * each followed by joins alone. */
static void reads_are_taken_in_batches_in_order(void **state) {
  channel_subs_t *s = channel_subs_new();
  int g1 = channel_subs_track(s, "u1");
  channel_subs_track(s, "u2");
  int g3 = channel_subs_track(s, "u3");
  channel_subs_untrack(s, "u2"); /* gone before its read started */
  channel_subs_track(s, "u4");
  channel_subs_untrack(s, "u4");
  int g4 = channel_subs_track(s, "u4"); /* back: read once, as the new generation */
  json_t *b = channel_subs_take(s, 2);
  json_t *want = json_pack("[[s, i], [s, i]]", "u1", g1, "u3", g3);
  assert_true(json_equal(b, want));
  json_decref(want);
  json_t *rest = channel_subs_take(s, 10);
  want = json_pack("[[s, i]]", "u4", g4);
  assert_true(json_equal(rest, want));
  json_decref(want);
  assert_null(channel_subs_take(s, 10));
  /* u1's answer applies; u3 has none in it (as if it had no channel). */
  json_t *by_user = json_pack("{s:[s, s]}", "u1", "c1", "c2");
  channel_subs_change(s, "c3", "u3", 1); /* during the read: applied after it */
  channel_subs_loaded_batch(s, b, by_user);
  assert_true(has(s, "c1", "u1") && has(s, "c2", "u1"));
  assert_true(has(s, "c3", "u3"));
  assert_int_equal(json_object_size(channel_subs_of(s, "u3")), 1);
  /* A failed read: joins alone. */
  channel_subs_loaded_batch(s, rest, NULL);
  channel_subs_change(s, "c9", "u4", 1);
  assert_true(has(s, "c9", "u4"));
  /* 600 at once: 256, 256, 88, each user once. */
  char id[16];
  for (int i = 0; i < 600; i++) {
    snprintf(id, sizeof(id), "s%d", i);
    channel_subs_track(s, id);
  }
  size_t sizes[3];
  json_t *seen = json_object();
  for (int k = 0; k < 3; k++) {
    json_t *part = channel_subs_take(s, 256);
    sizes[k] = json_array_size(part);
    size_t i;
    json_t *v;
    json_array_foreach(part, i, v) {
      snprintf(id, sizeof(id), "s%zu", (size_t)k * 256 + i);
      assert_string_equal(json_string_value(json_array_get(v, 0)), id);
      json_object_set_new(seen, id, json_true());
    }
    json_decref(part);
  }
  assert_true(sizes[0] == 256 && sizes[1] == 256 && sizes[2] == 88);
  assert_int_equal(json_object_size(seen), 600);
  assert_null(channel_subs_take(s, 256));
  json_decref(seen);
  json_decref(by_user);
  json_decref(b);
  json_decref(rest);
  channel_subs_track(s, "late");
  channel_subs_free(s); /* with a user still due: freed */
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(a_read_gives_the_users_channels),
      cmocka_unit_test(changes_during_the_read_are_applied_after_it),
      cmocka_unit_test(a_stale_read_and_unknown_users_change_nothing),
      cmocka_unit_test(reads_are_taken_in_batches_in_order),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
