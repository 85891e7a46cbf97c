/* The dispatcher (src/chat/dispatch.c) as the bus drives it: what is published
 * on the channels dispatch_start subscribed to reaches its handler (an account
 * revocation, an ended login close their sessions); other channels reach
 * nothing; envelopes are counted and our own are not delivered twice. The
 * in-process bus, the stand-in sessions of tests/unit/ws, no sockets. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "chat/envelope.h"
#include "chat_fixture.h"

static int setup(void **state) {
  *state = chat_fx_new(1);
  return 0;
}

static int teardown(void **state) {
  chat_fx_free(*state);
  return 0;
}

/* Publishes a revocation of user_id (and login_id, when given) on its channel
 * and lets the bus deliver it. */
static void publish_revocation(chat_fx_t *f, const char *user_id, const char *login_id) {
  auth_revocation_t r;
  assert_int_equal(auth_revocation_make(&r, user_id, login_id, util_now_ms()), 0);
  char *msg = auth_revoke_message(&r);
  assert_int_equal(bus_publish(f->app.bus, auth_revoke_channel(&r), msg, strlen(msg)), 0);
  free(msg);
  chat_fx_run(f, 20);
}

static void revocations_on_the_bus_close_sessions(void **state) {
  chat_fx_t *f = *state;
  ws_session_t *a1 = fake_session_new(&f->app, "u1"), *a2 = fake_session_new(&f->app, "u1");
  ws_session_t *b = fake_session_new(&f->app, "u2");
  snprintf(a1->login_id, sizeof(a1->login_id), "L1");
  snprintf(a2->login_id, sizeof(a2->login_id), "L2");
  publish_revocation(f, "u1", "L1"); /* the logout channel */
  assert_true(fake_closed(a1, NULL));
  assert_false(fake_closed(a2, NULL));
  publish_revocation(f, "u1", NULL); /* the account channel */
  uint16_t code = 0;
  assert_true(fake_closed(a2, &code));
  assert_int_equal(code, 4003);
  assert_false(fake_closed(b, NULL));
  fake_session_free(a1);
  fake_session_free(a2);
  fake_session_free(b);
}

static void nothing_else_reaches_the_handlers(void **state) {
  chat_fx_t *f = *state;
  ws_session_t *a = fake_session_new(&f->app, "u1");
  auth_revocation_t r;
  assert_int_equal(auth_revocation_make(&r, "u1", NULL, util_now_ms()), 0);
  char *msg = auth_revoke_message(&r);
  /* A channel the dispatcher did not subscribe to, then one it does not know. */
  assert_int_equal(bus_publish(f->app.bus, "some.other.channel", msg, strlen(msg)), 0);
  chat_fx_run(f, 20);
  dispatch_message(&f->app, "some.other.channel", msg, strlen(msg));
  assert_false(fake_closed(a, NULL));
  /* Malformed revocations are ignored. */
  dispatch_message(&f->app, AUTH_REVOKE_CHANNEL, "{}", 2);
  dispatch_message(&f->app, AUTH_LOGOUT_CHANNEL, "", 0);
  assert_false(fake_closed(a, NULL));
  free(msg);
  fake_session_free(a);
}

static void envelopes_are_counted_and_our_own_skipped(void **state) {
  chat_fx_t *f = *state;
  ws_session_t *b = fake_session_new(&f->app, "u2");
  uint64_t before = f->app.metrics->bus_received;
  char payload[256];
  int n = snprintf(payload, sizeof(payload),
                   "{\"i\":\"%s\",\"k\":\"e\",\"u\":[\"u2\"]}\n{\"type\":\"typing\"}",
                   f->app.instance_id);
  dispatch_message(&f->app, ENVELOPE_CHANNEL, payload, (size_t)n);
  assert_int_equal(fake_pending(b), 0);
  n = snprintf(payload, sizeof(payload),
               "{\"i\":\"elsewhere\",\"k\":\"e\",\"u\":[\"u2\"]}\n{\"type\":\"typing\"}");
  dispatch_message(&f->app, ENVELOPE_CHANNEL, payload, (size_t)n);
  json_t *fr = fake_next(b);
  assert_non_null(fr);
  assert_string_equal(json_string_value(json_object_get(fr, "type")), "typing");
  json_decref(fr);
  /* As envelope_publish writes them, "i" last: ours is dropped before its
   * header is parsed, another instance's (even one whose id ends like ours,
   * or with ours in a string before it) is delivered. */
  n = snprintf(payload, sizeof(payload),
               "{\"k\":\"e\",\"u\":[\"u2\"],\"i\":\"%s\"}\n{\"type\":\"a\"}", f->app.instance_id);
  dispatch_message(&f->app, ENVELOPE_CHANNEL, payload, (size_t)n);
  assert_int_equal(fake_pending(b), 0);
  n = snprintf(
      payload, sizeof(payload),
      "{\"k\":\"e\",\"x\":\"\\\"i\\\":\\\"%s\\\"\",\"u\":[\"u2\"],\"i\":\"x%s\"}\n{\"type\":\"b\"}",
      f->app.instance_id, f->app.instance_id + 1);
  dispatch_message(&f->app, ENVELOPE_CHANNEL, payload, (size_t)n);
  fr = fake_next(b);
  assert_non_null(fr);
  assert_string_equal(json_string_value(json_object_get(fr, "type")), "b");
  json_decref(fr);
  /* No instance id or kind: dropped. */
  dispatch_message(&f->app, ENVELOPE_CHANNEL, "{\"u\":[\"u2\"]}\n{}", 15);
  assert_int_equal(fake_pending(b), 0);
  assert_int_equal(f->app.metrics->bus_received - before, 5);
  fake_session_free(b);
}

/* Another instance's envelope with its recipients packed (envelope_payload)
 * reaches them; one cut inside the ids, or whose count the payload does not
 * hold, is dropped (and logged) and reaches no one. */
static void packed_recipients_reach_them_and_bad_ones_no_one(void **state) {
  chat_fx_t *f = *state;
  const char *id = "0123456789abcdef0a234567";
  ws_session_t *b = fake_session_new(&f->app, id);
  json_t *users = json_pack("[s]", id), *h = json_pack("{s:s}", "k", "e");
  size_t len;
  char *p = envelope_payload(NULL, h, users, 1, "elsewhere", "{\"type\":\"typing\"}", 17, &len);
  assert_non_null(p);
  assert_non_null(strstr(p, "\"U\":1"));
  for (size_t cut = (size_t)((char *)memchr(p, '\n', len) - p) + 1; cut < len - 17; cut++) {
    dispatch_message(&f->app, ENVELOPE_CHANNEL, p, cut);
    assert_int_equal(fake_pending(b), 0);
  }
  const char *bad = "{\"k\":\"e\",\"U\":2,\"i\":\"elsewhere\"}\n0123456789ab{}";
  dispatch_message(&f->app, ENVELOPE_CHANNEL, bad, strlen(bad));
  assert_int_equal(fake_pending(b), 0);
  dispatch_message(&f->app, ENVELOPE_CHANNEL, p, len);
  json_t *fr = fake_next(b);
  assert_non_null(fr);
  assert_string_equal(json_string_value(json_object_get(fr, "type")), "typing");
  json_decref(fr);
  assert_int_equal(fake_pending(b), 0);
  free(p);
  json_decref(users);
  json_decref(h);
  fake_session_free(b);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(revocations_on_the_bus_close_sessions, setup, teardown),
      cmocka_unit_test_setup_teardown(nothing_else_reaches_the_handlers, setup, teardown),
      cmocka_unit_test_setup_teardown(envelopes_are_counted_and_our_own_skipped, setup, teardown),
      cmocka_unit_test_setup_teardown(packed_recipients_reach_them_and_bad_ones_no_one, setup,
                                      teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
