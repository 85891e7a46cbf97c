/* Read markers (src/chat/read.c) against a real SQLite store: a marker moves
 * forward only, never past the last message; a move is announced to the other
 * participants (not to the reader); a conversation the user is not in is a
 * not-found, answered without a frame. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "chat/conv_view.h"
#include "chat/fields.h"
#include "chat/read.h"
#include "chat_fixture.h"

typedef struct world_s {
  chat_fx_t *f;
  char u1[25], u2[25], u3[25], conv[25];
  int calls, status;
} world_t;

static int setup(void **state) {
  world_t *w = calloc(1, sizeof(*w));
  w->f = chat_fx_new(1);
  app_t *app = &w->f->app;
  if (chat_fx_user(w->f, "one@example.com", w->u1) ||
      chat_fx_user(w->f, "two@example.com", w->u2) ||
      chat_fx_user(w->f, "three@example.com", w->u3))
    return -1;
  if (chat_fx_group(w->f, w->u1, w->u2, w->conv) != STORE_OK) return -1;
  for (int i = 0; i < 3; i++)
    if (store_sync_call(
            &w->f->loop, app->store, MSG_INSERT,
            json_pack("{s:s, s:s, s:s, s:s, s:b}", "conversation_id", w->conv, "sender_id", w->u1,
                      "text", "hi", "source", "web", "check_member", 1),
            NULL, NULL) != STORE_OK)
      return -1;
  *state = w;
  return 0;
}

static int teardown(void **state) {
  world_t *w = *state;
  chat_fx_free(w->f);
  free(w);
  return 0;
}

static void on_marked(void *ctx, int status) {
  world_t *w = ctx;
  w->calls++;
  w->status = status;
}

/* Marks and waits; returns the status the callback got. */
static int mark(world_t *w, const char *conv, const char *user, long long seq) {
  int before = w->calls;
  int rc = read_mark(&w->f->app, conv, user, seq, on_marked, w);
  if (rc != 0) return rc;
  while (w->calls == before) uv_run(&w->f->loop, UV_RUN_ONCE);
  assert_int_equal(w->calls, before + 1);
  return w->status;
}

/* user's marker as the store has it. */
static long long marker(world_t *w, const char *user) {
  json_t *conv =
      chat_fx_query(w->f, CONV_GET, json_pack("{s:s, s:s}", "id", w->conv, "user_id", w->u1));
  long long seq = conv_view_read_seq(conv, user);
  json_decref(conv);
  return seq;
}

static void a_move_is_announced_to_the_others(void **state) {
  world_t *w = *state;
  ws_session_t *reader = fake_session_new(&w->f->app, w->u2);
  ws_session_t *sender = fake_session_new(&w->f->app, w->u1);
  assert_int_equal(mark(w, w->conv, w->u2, 2), STORE_OK);
  assert_int_equal(marker(w, w->u2), 2);
  json_t *fr = fake_next(sender);
  assert_non_null(fr);
  assert_string_equal(json_string_value(json_object_get(fr, "type")), "read");
  assert_string_equal(json_string_value(json_object_get(fr, "conversation_id")), w->conv);
  assert_string_equal(json_string_value(json_object_get(fr, "user_id")), w->u2);
  assert_int_equal(json_integer_value(json_object_get(fr, "seq")), 2);
  json_decref(fr);
  assert_int_equal(fake_pending(reader), 0);
  fake_session_free(reader);
  fake_session_free(sender);
}

static void a_marker_never_moves_back_nor_past_the_end(void **state) {
  world_t *w = *state;
  ws_session_t *sender = fake_session_new(&w->f->app, w->u1);
  assert_int_equal(mark(w, w->conv, w->u2, 2), STORE_OK);
  json_decref(fake_next(sender));
  assert_int_equal(mark(w, w->conv, w->u2, 1), STORE_OK);
  assert_int_equal(marker(w, w->u2), 2);
  assert_int_equal(mark(w, w->conv, w->u2, 2), STORE_OK); /* no move: no frame */
  assert_int_equal(fake_pending(sender), 0);
  assert_int_equal(mark(w, w->conv, w->u2, 99), STORE_OK);
  assert_int_equal(marker(w, w->u2), 3);
  json_t *fr = fake_next(sender);
  assert_int_equal(json_integer_value(json_object_get(fr, "seq")), 3);
  json_decref(fr);
  fake_session_free(sender);
}

static void outsiders_and_unknown_conversations_are_not_found(void **state) {
  world_t *w = *state;
  ws_session_t *sender = fake_session_new(&w->f->app, w->u1);
  assert_int_equal(mark(w, w->conv, w->u3, 1), STORE_ENOTFOUND);
  assert_int_equal(mark(w, "0123456789abcdef01234567", w->u2, 1), STORE_ENOTFOUND);
  char longer[FIELDS_ID_MAX + 2];
  memset(longer, 'a', sizeof(longer) - 1);
  longer[sizeof(longer) - 1] = '\0';
  int before = w->calls;
  assert_int_equal(read_mark(&w->f->app, longer, w->u2, 1, on_marked, w), STORE_ENOTFOUND);
  assert_int_equal(w->calls, before); /* answered at once, cb not called */
  chat_fx_run(w->f, 20);
  assert_int_equal(fake_pending(sender), 0);
  assert_int_equal(marker(w, w->u3), -1);
  fake_session_free(sender);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(a_move_is_announced_to_the_others, setup, teardown),
      cmocka_unit_test_setup_teardown(a_marker_never_moves_back_nor_past_the_end, setup, teardown),
      cmocka_unit_test_setup_teardown(outsiders_and_unknown_conversations_are_not_found, setup,
                                      teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
