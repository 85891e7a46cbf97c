/* Presence without sockets (src/chat/presence.c) against the in-process bus
 * and a SQLite store: the first session of a user announces online to the
 * users who share a conversation with them, a second one says nothing, the last
 * one to close announces offline, and another instance's announcement reaches
 * the sessions it names. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "chat/envelope.h"
#include "chat_fixture.h"

/* Turns the loop until s has a frame (at most about 2 s); returns it. */
static json_t *wait_frame(chat_fx_t *f, ws_session_t *s) {
  for (int i = 0; i < 200 && fake_pending(s) == 0; i++) chat_fx_run(f, 10);
  return fake_next(s);
}

static void expect_presence(chat_fx_t *f, ws_session_t *s, const char *user, const char *status) {
  json_t *fr = wait_frame(f, s);
  if (!fr) fail_msg("no presence frame for %s", user);
  assert_string_equal(json_string_value(json_object_get(fr, "type")), "presence");
  assert_string_equal(json_string_value(json_object_get(fr, "user_id")), user);
  assert_string_equal(json_string_value(json_object_get(fr, "status")), status);
  json_decref(fr);
}

static void first_and_last_sessions_are_announced_to_contacts(void **state) {
  chat_fx_t *f = chat_fx_new(1);
  char u1[25], u2[25], u3[25];
  assert_int_equal(chat_fx_user(f, "one@example.com", u1), STORE_OK);
  assert_int_equal(chat_fx_user(f, "two@example.com", u2), STORE_OK);
  assert_int_equal(chat_fx_user(f, "three@example.com", u3), STORE_OK);
  assert_int_equal(store_sync_call(&f->loop, f->app.store, CONV_CREATE,
                                   json_pack("{s:s, s:n, s:s, s:[s, s]}", "type", "direct", "name",
                                             "creator_id", u1, "participant_ids", u1, u2),
                                   NULL, NULL),
                   STORE_OK);
  ws_session_t *b = fake_session_new(&f->app, u2);
  ws_session_t *stranger = fake_session_new(&f->app, u3);

  presence_session_opened(&f->app, u1, 1);
  expect_presence(f, b, u1, "online");
  presence_session_opened(&f->app, u1, 2); /* a second tab: nothing new */
  presence_session_closed(&f->app, u1, 1);
  chat_fx_run(f, 100);
  assert_int_equal(fake_pending(b), 0);
  presence_session_closed(&f->app, u1, 0);
  expect_presence(f, b, u1, "offline");
  assert_int_equal(fake_pending(stranger), 0); /* shares no conversation */

  /* Another instance announces someone: the sessions it names hear it. */
  json_t *hdr = json_pack("{s:s, s:s, s:[s], s:s, s:s}", "i", "instance-there", "k", "p", "u", u2,
                          "user", "u-far", "status", "online");
  char *h = json_dumps(hdr, JSON_COMPACT);
  char payload[512];
  int n = snprintf(payload, sizeof(payload),
                   "%s\n{\"type\":\"presence\",\"user_id\":\"u-far\",\"status\":\"online\"}", h);
  dispatch_message(&f->app, ENVELOPE_CHANNEL, payload, (size_t)n);
  expect_presence(f, b, "u-far", "online");
  assert_int_equal(fake_pending(stranger), 0);
  free(h);
  json_decref(hdr);
  fake_session_free(b);
  fake_session_free(stranger);
  chat_fx_free(f);
}

static void presence_stops_with_the_app(void **state) {
  chat_fx_t *f = chat_fx_new(0);
  assert_non_null(f->app.presence);
  f->app.shutting_down = 1;
  chat_fx_run(f, 1100); /* its timer notices */
  assert_null(f->app.presence);
  assert_null(f->app.fanout);
  /* Sessions closing during shutdown find no presence and announce nothing. */
  presence_session_closed(&f->app, "u1", 0);
  chat_fx_free(f);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(first_and_last_sessions_are_announced_to_contacts),
      cmocka_unit_test(presence_stops_with_the_app),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
