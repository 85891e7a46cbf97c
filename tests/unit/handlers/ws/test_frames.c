/* The WebSocket frame table through an in-memory harness (src/handlers/ws/):
 * scripted client frames go in through the protocol's message hook, the frames
 * the sessions are sent come out of the stand-in sessions, with a real SQLite
 * store, auth state, fan-out and presence behind them. No sockets. Also token
 * renewal on the open session, expiry (4001) and ended logins (4003). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "../../chat/chat_fixture.h"
#include "chat/revocations.h"
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
  assert_int_equal(chat_fx_group(w->f, w->u1, w->u2, w->conv), STORE_OK);
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
 * Presence frames (other users coming and going, the snapshot after ready)
 * are passed over. */
static json_t *expect(world_t *w, ws_session_t *s, const char *type, const char *code) {
  json_t *fr = out(w, s);
  while (strncmp(str(fr, "type"), "presence", 8) == 0) {
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
    if (strncmp(str(fr, "type"), "presence", 8) != 0)
      fail_msg("unexpected %s frame", str(fr, "type"));
    json_decref(fr);
  }
}

/* An anonymous session authenticated with an auth frame of a token of login. */
static ws_session_t *ready_login(world_t *w, const char *user, const char *login) {
  app_t *app = &w->f->app;
  ws_session_t *s = fake_session_new(app, NULL);
  char *token = auth_token_issue(app->auth, user, login, util_now_ms() / 1000);
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

static ws_session_t *ready(world_t *w, const char *user) { return ready_login(w, user, "login-0"); }

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
  /* The authentication deadline became the token's expiry: 4001 then. */
  fake_session_t *fs = (fake_session_t *)s;
  assert_int_equal(fs->deadline_code, WS_CLOSE_TOKEN_EXPIRED);
  assert_in_range(fs->deadline_ms, 900 * 1000 - 3000, 900 * 1000);
  assert_string_equal(s->login_id, "login-0");
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
  json_decref(expect(w, s, "error", "unauthorized"));
  assert_false(fake_closed(s, NULL));
  close_and_free(s);
}

/* An auth frame of token (NULL: a number instead) with client_id "a1". */
static void auth_frame(ws_session_t *s, const char *token) {
  char frame[1024];
  if (token)
    snprintf(frame, sizeof(frame), "{\"type\":\"auth\",\"token\":\"%s\",\"client_id\":\"a1\"}",
             token);
  else
    snprintf(frame, sizeof(frame), "{\"type\":\"auth\",\"token\":7,\"client_id\":\"a1\"}");
  in(s, frame);
}

/* Renewal: a fresh token of the same user moves the expiry (and the login);
 * a bad one or another user's changes nothing; unrenewed, the session closes
 * with 4001 at expiry. */
static void a_session_renews_its_token_or_expires(void **state) {
  world_t *w = *state;
  app_t *app = &w->f->app;
  ws_session_t *s = ready_login(w, w->u1, "login-a");
  fake_session_t *fs = (fake_session_t *)s;
  int64_t now = util_now_ms() / 1000;
  /* Another user's token: forbidden, nothing changes. */
  uint64_t armed = fs->deadline_ms;
  fs->deadline_ms = 1234;
  char *t = auth_token_issue(app->auth, w->u2, "login-b", now);
  auth_frame(s, t);
  free(t);
  json_t *fr = expect(w, s, "error", "forbidden");
  assert_string_equal(str(fr, "ref"), "a1");
  json_decref(fr);
  assert_int_equal(fs->deadline_ms, 1234);
  assert_string_equal(s->login_id, "login-a");
  /* Expired, forged, missing: unauthorized or validation_failed, nothing changes. */
  t = auth_token_issue(app->auth, w->u1, "login-a", now - 2000);
  auth_frame(s, t);
  free(t);
  fr = expect(w, s, "error", "unauthorized");
  assert_string_equal(str(fr, "message"), "token expired");
  json_decref(fr);
  auth_frame(s, "a.b.c");
  json_decref(expect(w, s, "error", "unauthorized"));
  auth_frame(s, NULL);
  fr = expect(w, s, "error", "validation_failed");
  assert_string_equal(str(fr, "field"), "token");
  json_decref(fr);
  assert_int_equal(fs->deadline_ms, 1234);
  assert_false(fake_closed(s, NULL));
  /* The same user's fresh token of another login: auth.ok, expiry moved. */
  t = auth_token_issue(app->auth, w->u1, "login-c", now + 30);
  auth_frame(s, t);
  free(t);
  fr = expect(w, s, "auth.ok", NULL);
  char want[32];
  util_iso8601((now + 30 + 900) * 1000, want);
  assert_string_equal(str(fr, "expires_at"), want);
  assert_string_equal(str(fr, "ref"), "a1");
  json_decref(fr);
  assert_string_equal(s->login_id, "login-c");
  assert_in_range(fs->deadline_ms, armed + 27 * 1000, armed + 33 * 1000);
  assert_int_equal(fs->deadline_code, WS_CLOSE_TOKEN_EXPIRED);
  /* The expiry passes unrenewed: closed with 4001, out of the hub. */
  assert_int_equal(fake_fire_deadline(s), 0);
  uint16_t code = 0;
  assert_true(fake_closed(s, &code));
  assert_int_equal(code, WS_CLOSE_TOKEN_EXPIRED);
  assert_int_equal(hub_session_count(app->hub), 0);
  fake_session_free(s);
}

static void on_ended(void *ctx, int status) { *(int *)ctx = status == STORE_OK ? 1 : -1; }

static void end(world_t *w, const char *user, const char *login) {
  auth_revocation_t rv;
  int done = 0;
  assert_int_equal(auth_revocation_make(&rv, user, login, util_now_ms()), 0);
  assert_int_equal(revocations_end(&w->f->app, &rv, on_ended, &done), 0);
  for (int i = 0; i < 200 && !done; i++) chat_fx_run(w->f, 10);
  assert_int_equal(done, 1);
}

/* Ending a login closes its sessions with 4003 and refuses its tokens; the
 * store keeps it for the next start; the user's other login stays. Deleting the
 * account closes the rest. */
static void ending_a_login_or_the_account_closes_its_sessions(void **state) {
  world_t *w = *state;
  app_t *app = &w->f->app;
  ws_session_t *a = ready_login(w, w->u1, "login-a"), *b = ready_login(w, w->u1, "login-b");
  ws_session_t *other = ready_login(w, w->u2, "login-a");
  char *t = auth_token_issue(app->auth, w->u1, "login-a", util_now_ms() / 1000);
  end(w, w->u1, "login-a");
  uint16_t code = 0;
  assert_true(fake_closed(a, &code));
  assert_int_equal(code, 4003);
  assert_false(fake_closed(b, NULL));
  assert_false(fake_closed(other, NULL));
  ws_session_t *again = fake_session_new(app, NULL);
  auth_frame(again, t);
  assert_true(fake_closed(again, &code));
  assert_int_equal(code, 1008);
  fake_session_free(again);
  /* A renewal with that login's token is refused too. */
  auth_frame(b, t);
  json_decref(expect(w, b, "error", "unauthorized"));
  /* The store has it: a new instance (auth state) loads it. */
  json_t *r = NULL;
  assert_int_equal(
      store_sync_call(&w->f->loop, app->store, REVOKE_LIST,
                      json_pack("{s:I, s:i}", "now_ms", (json_int_t)util_now_ms(), "limit", 10), &r,
                      NULL),
      STORE_OK);
  json_t *list = json_object_get(r, "revocations");
  assert_int_equal(json_array_size(list), 1);
  assert_string_equal(str(json_array_get(list, 0), "login_id"), "login-a");
  assert_string_equal(str(json_array_get(list, 0), "user_id"), w->u1);
  json_decref(r);
  /* The account goes: every session of it closes with 4003. */
  end(w, w->u1, NULL);
  assert_true(fake_closed(b, &code));
  assert_int_equal(code, 4003);
  assert_false(fake_closed(other, NULL));
  free(t);
  fake_session_free(a);
  fake_session_free(b);
  close_and_free(other);
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
      cmocka_unit_test_setup_teardown(a_session_renews_its_token_or_expires, setup, teardown),
      cmocka_unit_test_setup_teardown(ending_a_login_or_the_account_closes_its_sessions, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(a_client_that_keeps_flooding_is_disconnected, setup,
                                      teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
