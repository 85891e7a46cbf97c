/* The WebSocket frame table through an in-memory harness (src/handlers/ws/):
 * scripted client frames go in through the protocol's message hook, the frames
 * the sessions are sent come out of the stand-in sessions, with a real SQLite
 * store, auth state, fan-out and presence behind them. No sockets. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "../../chat/chat_fixture.h"
#include "handlers/ws/protocol.h"

typedef struct world_s {
  chat_fx_t *f;
  char u1[25], u2[25], conv[25];
} world_t;

static int setup(void **state) {
  world_t *w = calloc(1, sizeof(*w));
  w->f = chat_fx_new(1);
  app_t *app = &w->f->app;
  app->cfg.ws_rate = 1000;
  app->cfg.ws_burst = 1000;
  app->cfg.ws_auth_timeout_ms = 10000;
  ws_protocol_init(app);
  assert_int_equal(chat_fx_user(w->f, "one@example.com", w->u1), STORE_OK);
  assert_int_equal(chat_fx_user(w->f, "two@example.com", w->u2), STORE_OK);
  json_t *r = NULL;
  assert_int_equal(
      store_sync_call(&w->f->loop, app->store, CONV_CREATE,
                      json_pack("{s:s, s:s, s:s, s:[s, s]}", "type", "group", "name", "room",
                                "creator_id", w->u1, "participant_ids", w->u1, w->u2),
                      &r, NULL),
      STORE_OK);
  snprintf(w->conv, sizeof(w->conv), "%s",
           json_string_value(json_object_get(json_object_get(r, "conversation"), "id")));
  json_decref(r);
  *state = w;
  return 0;
}

static int teardown(void **state) {
  world_t *w = *state;
  chat_fx_free(w->f);
  free(w);
  return 0;
}

/* One scripted client frame. */
static void in(ws_session_t *s, const char *text) { ws_protocol_on_message(s, text, strlen(text)); }

/* The next frame of s, waiting for store completions (about 2 s at most). */
static json_t *out(world_t *w, ws_session_t *s) {
  for (int i = 0; i < 200 && fake_pending(s) == 0; i++) chat_fx_run(w->f, 10);
  json_t *fr = fake_next(s);
  if (!fr) fail_msg("session of %s: no frame", s->user_id[0] ? s->user_id : "(anonymous)");
  return fr;
}

static const char *str(json_t *o, const char *k) {
  return json_string_value(json_object_get(o, k));
}

/* Takes the next frame and checks type (and code for errors); returns it.
 * Presence frames (other users coming and going) are passed over. */
static json_t *expect(world_t *w, ws_session_t *s, const char *type, const char *code) {
  json_t *fr = out(w, s);
  while (strcmp(str(fr, "type"), "presence") == 0) {
    json_decref(fr);
    fr = out(w, s);
  }
  assert_string_equal(str(fr, "type"), type);
  if (code) assert_string_equal(str(fr, "code"), code);
  return fr;
}

/* Asserts that s has been sent nothing but presence frames. */
static void expect_nothing(world_t *w, ws_session_t *s) {
  chat_fx_run(w->f, 50);
  json_t *fr;
  while ((fr = fake_next(s))) {
    if (strcmp(str(fr, "type"), "presence") != 0) fail_msg("unexpected %s frame", str(fr, "type"));
    json_decref(fr);
  }
}

/* An anonymous session authenticated with an auth frame. */
static ws_session_t *ready(world_t *w, const char *user) {
  app_t *app = &w->f->app;
  ws_session_t *s = fake_session_new(app, NULL);
  char *token = auth_token_issue(app->auth, user, util_now_ms() / 1000);
  char frame[1024];
  snprintf(frame, sizeof(frame), "{\"type\":\"auth\",\"token\":\"%s\"}", token);
  in(s, frame);
  free(token);
  json_t *fr = expect(w, s, "ready", NULL);
  assert_string_equal(str(fr, "user_id"), user);
  assert_string_equal(str(fr, "session_id"), s->session_id);
  json_decref(fr);
  return s;
}

static void close_and_free(ws_session_t *s) {
  ws_session_close(s, 1000, "bye");
  fake_session_free(s);
}

static void authentication_comes_first(void **state) {
  world_t *w = *state;
  app_t *app = &w->f->app;
  uint16_t code = 0;
  ws_session_t *s = fake_session_new(app, NULL);
  in(s, "{\"type\":\"ping\"}");
  assert_true(fake_closed(s, &code));
  assert_int_equal(code, 1008);
  fake_session_free(s);

  s = fake_session_new(app, NULL);
  in(s, "{\"type\":\"auth\",\"token\":\"not-a-token\"}");
  assert_true(fake_closed(s, &code));
  assert_string_equal(((fake_session_t *)s)->close_reason, "invalid token");
  fake_session_free(s);

  s = ready(w, w->u1);
  assert_int_equal(hub_session_count(app->hub), 1);
  assert_int_equal(((fake_session_t *)s)->deadline_ms, 0); /* disarmed */
  close_and_free(s);
  assert_int_equal(hub_session_count(app->hub), 0);
}

static void the_table_answers_what_it_knows_and_refuses_the_rest(void **state) {
  world_t *w = *state;
  ws_session_t *s = ready(w, w->u1);
  in(s, "{\"type\":\"ping\"}");
  json_decref(expect(w, s, "pong", NULL));
  in(s, "{\"type\":\"teleport\",\"client_id\":\"r1\"}");
  json_t *fr = expect(w, s, "error", "unknown_type");
  assert_string_equal(str(fr, "ref"), "r1");
  assert_null(json_object_get(fr, "field")); /* frame-level errors name no field */
  json_decref(fr);
  in(s, "{\"client_id\":\"r2\"}");
  json_decref(expect(w, s, "error", "unknown_type"));
  in(s, "not json");
  json_decref(expect(w, s, "error", "invalid_json"));
  in(s, "{\"type\":\"auth\",\"token\":\"x\"}");
  json_decref(expect(w, s, "error", "already_authenticated"));
  assert_false(fake_closed(s, NULL));
  close_and_free(s);
}

static void a_send_is_acked_to_its_session_and_delivered_to_the_others(void **state) {
  world_t *w = *state;
  ws_session_t *a = ready(w, w->u1), *b = ready(w, w->u2);
  char frame[512];
  snprintf(frame, sizeof(frame),
           "{\"type\":\"message.send\",\"conversation_id\":\"%s\",\"text\":\"hello\","
           "\"client_id\":\"c-1\"}",
           w->conv);
  in(a, frame);
  json_t *ack = expect(w, a, "message.ack", NULL);
  assert_string_equal(str(ack, "client_id"), "c-1");
  json_t *msg = json_object_get(ack, "message");
  assert_string_equal(str(msg, "text"), "hello");
  assert_int_equal(json_integer_value(json_object_get(msg, "seq")), 1);
  json_t *got = expect(w, b, "message.new", NULL);
  assert_string_equal(str(json_object_get(got, "message"), "id"), str(msg, "id"));
  json_decref(got);
  json_decref(ack);
  /* The same client_id again: the original, to this session only. */
  in(a, frame);
  ack = expect(w, a, "message.ack", NULL);
  assert_int_equal(json_integer_value(json_object_get(json_object_get(ack, "message"), "seq")), 1);
  json_decref(ack);
  expect_nothing(w, b);

  /* typing and read reach the other participant; sync answers the asker. */
  snprintf(frame, sizeof(frame),
           "{\"type\":\"typing\",\"conversation_id\":\"%s\",\"state\":\"start\"}", w->conv);
  in(a, frame);
  json_t *t = expect(w, b, "typing", NULL);
  assert_string_equal(str(t, "user_id"), w->u1);
  json_decref(t);
  snprintf(frame, sizeof(frame), "{\"type\":\"read\",\"conversation_id\":\"%s\",\"seq\":1}",
           w->conv);
  in(b, frame);
  t = expect(w, a, "read", NULL);
  assert_string_equal(str(t, "user_id"), w->u2);
  json_decref(t);
  snprintf(frame, sizeof(frame),
           "{\"type\":\"sync\",\"conversation_id\":\"%s\",\"after_seq\":0,\"limit\":10}", w->conv);
  in(b, frame);
  t = expect(w, b, "sync.result", NULL);
  assert_int_equal(json_array_size(json_object_get(t, "messages")), 1);
  json_decref(t);
  close_and_free(a);
  close_and_free(b);
}

static void bad_frames_get_errors_and_change_nothing(void **state) {
  world_t *w = *state;
  ws_session_t *a = ready(w, w->u1);
  char frame[512];
  in(a, "{\"type\":\"message.send\",\"conversation_id\":\"\",\"text\":\"x\",\"client_id\":\"c\"}");
  json_t *fr = expect(w, a, "error", "validation_failed");
  assert_string_equal(str(fr, "field"), "conversation_id");
  json_decref(fr);
  snprintf(frame, sizeof(frame),
           "{\"type\":\"message.send\",\"conversation_id\":\"%s\",\"text\":\"\"}", w->conv);
  in(a, frame);
  fr = expect(w, a, "error", "validation_failed");
  assert_string_equal(str(fr, "field"), "text");
  json_decref(fr);
  in(a, "{\"type\":\"message.send\",\"conversation_id\":\"nope\",\"text\":\"x\"}");
  fr = expect(w, a, "error", "not_found");
  json_decref(fr);
  snprintf(frame, sizeof(frame), "{\"type\":\"typing\",\"conversation_id\":\"%s\",\"state\":\"x\"}",
           w->conv);
  in(a, frame);
  json_decref(expect(w, a, "error", "validation_failed"));
  /* Nothing was stored. */
  json_t *page = NULL;
  assert_int_equal(store_sync_call(&w->f->loop, w->f->app.store, MSG_LIST,
                                   json_pack("{s:s, s:s, s:i}", "conversation_id", w->conv,
                                             "user_id", w->u1, "limit", 10),
                                   &page, NULL),
                   STORE_OK);
  assert_int_equal(json_array_size(json_object_get(page, "messages")), 0);
  json_decref(page);
  close_and_free(a);
}

static void a_client_that_keeps_flooding_is_disconnected(void **state) {
  world_t *w = *state;
  w->f->app.cfg.ws_rate = 1;
  w->f->app.cfg.ws_burst = 2;
  ws_session_t *a = ready(w, w->u1); /* the auth frame took one token */
  in(a, "{\"type\":\"ping\"}");
  json_decref(expect(w, a, "pong", NULL));
  in(a, "{\"type\":\"ping\"}");
  json_decref(expect(w, a, "error", "rate_limited"));
  uint16_t code = 0;
  for (int i = 0; i < 10 && !fake_closed(a, &code); i++) in(a, "{\"type\":\"ping\"}");
  assert_true(fake_closed(a, &code));
  assert_int_equal(code, 1008);
  assert_string_equal(((fake_session_t *)a)->close_reason, "rate limit exceeded");
  fake_session_free(a);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(authentication_comes_first, setup, teardown),
      cmocka_unit_test_setup_teardown(the_table_answers_what_it_knows_and_refuses_the_rest, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(a_send_is_acked_to_its_session_and_delivered_to_the_others,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(bad_frames_get_errors_and_change_nothing, setup, teardown),
      cmocka_unit_test_setup_teardown(a_client_that_keeps_flooding_is_disconnected, setup,
                                      teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
