/* Presence batching without a loop (src/chat/presence_batch.c): a recipient
 * outside a window hears a change at once; changes within the window go as one
 * frame when it ends, a later change of a user replacing the earlier one; the
 * pending set is bounded; a flush handles at most its budget of recipients. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "chat/presence_batch.h"

#define MAX_SENT 64

typedef struct sent_s {
  int n;
  char to[MAX_SENT][32];
  json_t *frame[MAX_SENT];
} sent_t;

static void record(void *ctx, const char *recipient, const char *text, size_t len) {
  sent_t *s = ctx;
  assert_true(s->n < MAX_SENT);
  snprintf(s->to[s->n], sizeof(s->to[0]), "%s", recipient);
  s->frame[s->n] = json_loadb(text, len, 0, NULL);
  assert_non_null(s->frame[s->n]);
  s->n++;
}

static void sent_clear(sent_t *s) {
  for (int i = 0; i < s->n; i++) json_decref(s->frame[i]);
  memset(s, 0, sizeof(*s));
}

static json_t *entries(const char *user, const char *status) {
  return json_pack("[{s:s, s:s, s:n}]", "user_id", user, "status", status, "last_seen");
}

static void add(presence_batch_t *b, const char *to, const char *user, const char *status,
                int64_t now) {
  json_t *e = entries(user, status);
  presence_batch_add(b, to, e, now);
  json_decref(e);
}

static const char *type_of(sent_t *s, int i) {
  return json_string_value(json_object_get(s->frame[i], "type"));
}

/* The i-th frame's k-th entry: a presence frame is its own only entry. */
static const char *entry_field(sent_t *s, int i, size_t k, const char *field) {
  json_t *f = s->frame[i];
  json_t *e = strcmp(type_of(s, i), "presence") == 0
                  ? (k == 0 ? f : NULL)
                  : json_array_get(json_object_get(f, "users"), k);
  return json_string_value(json_object_get(e, field));
}

static void a_change_while_idle_goes_at_once_and_the_window_collects_the_rest(void **state) {
  sent_t s = {0};
  presence_batch_t *b = presence_batch_new(100, 1000, record, &s);
  add(b, "r", "u1", "online", 1000);
  assert_int_equal(s.n, 1); /* idle: at once, as a presence frame */
  assert_string_equal(type_of(&s, 0), "presence");
  assert_string_equal(entry_field(&s, 0, 0, "user_id"), "u1");

  add(b, "r", "u2", "online", 1010);
  add(b, "r", "u3", "away", 1020);
  assert_int_equal(s.n, 1); /* within the window: held */
  assert_int_equal(presence_batch_pending(b), 2);
  assert_int_equal(presence_batch_flush(b, 1050, 16), 50);  /* due at 1100 */
  assert_int_equal(presence_batch_flush(b, 1100, 16), 100); /* sent; a new window */
  assert_int_equal(s.n, 2);
  assert_string_equal(type_of(&s, 1), "presence.batch");
  assert_string_equal(s.to[1], "r");
  assert_string_equal(entry_field(&s, 1, 0, "user_id"), "u2");
  assert_string_equal(entry_field(&s, 1, 1, "user_id"), "u3");
  assert_string_equal(entry_field(&s, 1, 1, "status"), "away");

  /* One change in the next window comes as a presence frame when it ends. */
  add(b, "r", "u4", "dnd", 1150);
  assert_int_equal(presence_batch_flush(b, 1200, 16), 100);
  assert_int_equal(s.n, 3);
  assert_string_equal(type_of(&s, 2), "presence");
  assert_string_equal(entry_field(&s, 2, 0, "status"), "dnd");
  /* A window that ends with nothing pending is forgotten: idle again. */
  assert_int_equal(presence_batch_flush(b, 1300, 16), -1);
  assert_int_equal(presence_batch_recipients(b), 0);
  add(b, "r", "u5", "online", 1301);
  assert_int_equal(s.n, 4);
  presence_batch_free(b);
  sent_clear(&s);
}

static void a_later_change_of_a_user_replaces_the_earlier_one(void **state) {
  sent_t s = {0};
  presence_batch_t *b = presence_batch_new(100, 1000, record, &s);
  add(b, "r", "u0", "online", 0); /* opens the window */
  add(b, "r", "u1", "online", 10);
  add(b, "r", "u2", "online", 20);
  add(b, "r", "u1", "offline", 30); /* a quick flip: only offline is left */
  assert_int_equal(presence_batch_pending(b), 2);
  presence_batch_flush(b, 100, 16);
  assert_int_equal(s.n, 2);
  json_t *users = json_object_get(s.frame[1], "users");
  assert_int_equal(json_array_size(users), 2);
  assert_string_equal(entry_field(&s, 1, 0, "user_id"), "u1");
  assert_string_equal(entry_field(&s, 1, 0, "status"), "offline");
  assert_string_equal(entry_field(&s, 1, 1, "user_id"), "u2");
  presence_batch_free(b);
  sent_clear(&s);
}

static void the_pending_set_is_bounded_and_entries_given_together_go_together(void **state) {
  sent_t s = {0};
  presence_batch_t *b = presence_batch_new(100, 3, record, &s);
  /* Idle, several at once (as an instance's departed users): one batch. */
  json_t *many = json_pack("[{s:s, s:s}, {s:s, s:s}]", "user_id", "a", "status", "offline",
                           "user_id", "b", "status", "offline");
  presence_batch_add(b, "r", many, 0);
  assert_int_equal(s.n, 1);
  assert_string_equal(type_of(&s, 0), "presence.batch");
  /* Within the window: the third pending entry reaches the bound, sent now. */
  add(b, "r", "u1", "online", 1);
  add(b, "r", "u2", "online", 2);
  assert_int_equal(s.n, 1);
  add(b, "r", "u3", "online", 3);
  assert_int_equal(s.n, 2);
  assert_int_equal(json_array_size(json_object_get(s.frame[1], "users")), 3);
  assert_int_equal(presence_batch_pending(b), 0);
  /* Idle with more than the bound: frames of at most 3 entries. */
  json_t *five = json_array();
  for (int i = 0; i < 5; i++) {
    char id[8];
    snprintf(id, sizeof(id), "v%d", i);
    json_array_append_new(five, json_pack("{s:s, s:s}", "user_id", id, "status", "online"));
  }
  presence_batch_add(b, "other", five, 4);
  assert_int_equal(s.n, 4);
  assert_int_equal(json_array_size(json_object_get(s.frame[2], "users")), 3);
  assert_int_equal(json_array_size(json_object_get(s.frame[3], "users")), 2);
  json_decref(five);
  json_decref(many);
  presence_batch_free(b);
  sent_clear(&s);
}

static void a_flush_ends_at_most_its_budget_of_windows(void **state) {
  sent_t s = {0};
  presence_batch_t *b = presence_batch_new(100, 1000, record, &s);
  char to[8];
  for (int i = 0; i < 5; i++) {
    snprintf(to, sizeof(to), "r%d", i);
    add(b, to, "u1", "online", 0);  /* at once */
    add(b, to, "u2", "online", 10); /* pending */
  }
  assert_int_equal(s.n, 5);
  assert_int_equal(presence_batch_flush(b, 0, 0), 100); /* budget 0 only tells */
  assert_int_equal(presence_batch_flush(b, 100, 2), 0); /* more are due now */
  assert_int_equal(s.n, 7);
  assert_int_equal(presence_batch_flush(b, 100, 2), 0);
  assert_int_equal(presence_batch_flush(b, 100, 2), 100); /* the rest, then the next windows */
  assert_int_equal(s.n, 10);
  assert_int_equal(presence_batch_pending(b), 0);
  assert_int_equal(presence_batch_recipients(b), 5);
  assert_int_equal(presence_batch_flush(b, 200, 16), -1);
  assert_int_equal(presence_batch_recipients(b), 0);
  presence_batch_free(b);
  sent_clear(&s);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(a_change_while_idle_goes_at_once_and_the_window_collects_the_rest),
      cmocka_unit_test(a_later_change_of_a_user_replaces_the_earlier_one),
      cmocka_unit_test(the_pending_set_is_bounded_and_entries_given_together_go_together),
      cmocka_unit_test(a_flush_ends_at_most_its_budget_of_windows),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
