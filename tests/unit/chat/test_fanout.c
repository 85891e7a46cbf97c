/* Fan-out and the bus dispatcher without sockets (src/chat/fanout.c,
 * dispatch.c): who gets which frame, the sender's ack, seq order across gaps,
 * envelopes of other instances, our own echoes, conversation views rendered
 * per user, and account revocations closing sessions. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "chat/channel_subs.h"
#include "chat/envelope.h"
#include "chat_fixture.h"

static int setup(void **state) {
  *state = chat_fx_new(0);
  return 0;
}

static int teardown(void **state) {
  chat_fx_free(*state);
  return 0;
}

static json_t *message(json_int_t seq) {
  return json_pack("{s:s, s:s, s:I, s:s, s:s}", "id", "m", "conversation_id", "c1", "seq", seq,
                   "sender_id", "u1", "text", "hi");
}

/* Takes the next frame of s and checks its type (and seq, when seq > 0). */
static void expect(ws_session_t *s, const char *type, json_int_t seq) {
  json_t *fr = fake_next(s);
  if (!fr) fail_msg("session %s: no %s frame", s->user_id, type);
  assert_string_equal(json_string_value(json_object_get(fr, "type")), type);
  if (seq > 0)
    assert_int_equal(json_integer_value(json_object_get(json_object_get(fr, "message"), "seq")),
                     seq);
  json_decref(fr);
}

/* An envelope as another instance would publish it. */
static void remote(chat_fx_t *f, json_t *hdr, const char *body) {
  json_object_set_new(hdr, "i", json_string("instance-there"));
  char *h = json_dumps(hdr, JSON_COMPACT);
  char payload[2048];
  int n = snprintf(payload, sizeof(payload), "%s\n%s", h, body);
  dispatch_message(&f->app, ENVELOPE_CHANNEL, payload, (size_t)n);
  free(h);
  json_decref(hdr);
}

static void a_message_reaches_every_session_and_the_sender_gets_its_ack(void **state) {
  chat_fx_t *f = *state;
  ws_session_t *a1 = fake_session_new(&f->app, "u1"), *a2 = fake_session_new(&f->app, "u1");
  ws_session_t *b = fake_session_new(&f->app, "u2"), *c = fake_session_new(&f->app, "u3");
  json_t *m = message(1), *ids = json_pack("[s, s]", "u1", "u2");
  fanout_message_new(&f->app, m, ids, "u1", a1->id, "cid-1");
  json_t *ack = fake_next(a1);
  assert_string_equal(json_string_value(json_object_get(ack, "type")), "message.ack");
  assert_string_equal(json_string_value(json_object_get(ack, "client_id")), "cid-1");
  json_decref(ack);
  expect(a2, "message.new", 1); /* the sender's other session */
  expect(b, "message.new", 1);
  assert_int_equal(fake_pending(a1) + fake_pending(a2) + fake_pending(b) + fake_pending(c), 0);
  assert_int_equal(f->app.metrics->messages_stored, 1);
  assert_int_equal(f->app.metrics->messages_delivered, 3);
  json_decref(m);
  json_decref(ids);
  fake_session_free(a1);
  fake_session_free(a2);
  fake_session_free(b);
  fake_session_free(c);
}

/* The ack's text, written without json_pack, is byte for byte what
 * json_pack("{s:s, s:s?}") and the message's encoding made: a client id with
 * escapes and UTF-8, none at all (null), and one that is not UTF-8, which
 * json_pack refused: no ack and, as before, no delivery. */
static void the_acks_bytes_are_json_packs(void **state) {
  chat_fx_t *f = *state;
  ws_session_t *a = fake_session_new(&f->app, "u1"), *b = fake_session_new(&f->app, "u2");
  json_t *ids = json_pack("[s, s]", "u1", "u2");
  const char *cids[] = {"cid-1", "q\"b\\c\n\x01\x1f\t \xc3\xa9\xe2\x82\xac/", "", NULL};
  for (int i = 0; i < 4; i++) {
    json_t *m = message(i + 1);
    fanout_message_new(&f->app, m, ids, "u1", a->id, cids[i]);
    fake_session_t *fa = (fake_session_t *)a;
    assert_int_equal(fake_pending(a), 1);
    json_t *want =
        json_pack("{s:s, s:s?, s:O}", "type", "message.ack", "client_id", cids[i], "message", m);
    char *text = json_dumps(want, JSON_COMPACT);
    assert_string_equal(fa->frames[fa->taken], text);
    fa->taken++;
    free(text);
    json_decref(want);
    expect(b, "message.new", i + 1);
    json_decref(m);
  }
  json_t *m = message(5);
  fanout_message_new(&f->app, m, ids, "u1", a->id, "bad\xff");
  assert_int_equal(fake_pending(a) + fake_pending(b), 0);
  json_decref(m);
  json_decref(ids);
  fake_session_free(a);
  fake_session_free(b);
}

static void remote_messages_are_delivered_in_seq_order(void **state) {
  chat_fx_t *f = *state;
  ws_session_t *b = fake_session_new(&f->app, "u2");
  json_t *m1 = message(1), *m2 = message(2), *m3 = message(3);
  const char *fmt = "{s:s, s:s, s:I, s:[s]}";
  json_t *f1 = json_pack("{s:s, s:O}", "type", "message.new", "message", m1);
  json_t *f2 = json_pack("{s:s, s:O}", "type", "message.new", "message", m2);
  char *t1 = json_dumps(f1, JSON_COMPACT), *t2 = json_dumps(f2, JSON_COMPACT);
  remote(f, json_pack(fmt, "k", "m", "c", "c1", "s", (json_int_t)2, "u", "u2"), t2);
  assert_int_equal(fake_pending(b), 0); /* held: 1 may still come */
  assert_int_equal(fanout_held(f->app.fanout), 1);
  remote(f, json_pack(fmt, "k", "m", "c", "c1", "s", (json_int_t)1, "u", "u2"), t1);
  expect(b, "message.new", 1);
  expect(b, "message.new", 2);
  /* Our own stored message 3 goes straight out. */
  json_t *ids = json_pack("[s]", "u2");
  fanout_message_new(&f->app, m3, ids, NULL, 0, NULL);
  expect(b, "message.new", 3);
  free(t1);
  free(t2);
  json_decref(f1);
  json_decref(f2);
  json_decref(m1);
  json_decref(m2);
  json_decref(m3);
  json_decref(ids);
  fake_session_free(b);
}

static void a_gap_is_passed_over_after_the_wait(void **state) {
  chat_fx_t *f = *state;
  ws_session_t *b = fake_session_new(&f->app, "u2");
  json_t *ids = json_pack("[s]", "u2");
  json_t *m1 = message(1), *m3 = message(3);
  fanout_message_new(&f->app, m1, ids, NULL, 0, NULL);
  expect(b, "message.new", 1);
  fanout_message_new(&f->app, m3, ids, NULL, 0, NULL); /* 2 is missing */
  assert_int_equal(fake_pending(b), 0);
  chat_fx_run(f, 400); /* past the hold: the timer releases 3 */
  expect(b, "message.new", 3);
  assert_int_equal(fanout_held(f->app.fanout), 0);
  json_decref(m1);
  json_decref(m3);
  json_decref(ids);
  fake_session_free(b);
}

/* What the on_message_stored hook (push) was last told. */
static int stored_calls;
static char stored_here[8]; /* '1' here, '0' not, "" when NULL */

static void record_stored(app_t *app, const json_t *message, const json_t *ids,
                          const unsigned char *here) {
  (void)app;
  (void)message;
  stored_calls++;
  size_t n = json_array_size(ids), i;
  for (i = 0; here && i < n && i < sizeof(stored_here) - 1; i++)
    stored_here[i] = here[i] ? '1' : '0';
  stored_here[here ? i : 0] = '\0';
}

/* The hook is told who had a session here by the delivery's own walk; a
 * message held for a gap, or encoded for nobody, leaves it to look them up. */
static void the_stored_hook_hears_who_the_delivery_found_here(void **state) {
  chat_fx_t *f = *state;
  f->app.on_message_stored = record_stored;
  stored_calls = 0;
  ws_session_t *a = fake_session_new(&f->app, "u1"), *c = fake_session_new(&f->app, "u3");
  json_t *ids = json_pack("[s, s, s, s]", "u1", "u2", "u3", "u4");
  json_t *m1 = message(1), *m2 = message(2), *m3 = message(3), *m4 = message(4);
  fanout_message_new(&f->app, m1, ids, "u1", a->id, "cid-1");
  assert_int_equal(stored_calls, 1);
  assert_string_equal(stored_here, "1010");
  fanout_message_new(&f->app, m3, ids, NULL, 0, NULL); /* 2 is missing: held */
  assert_int_equal(stored_calls, 2);
  assert_string_equal(stored_here, "");
  fanout_message_new(&f->app, m2, ids, NULL, 0, NULL); /* releases 3 as well */
  assert_string_equal(stored_here, "1010");
  fake_session_free(a);
  fake_session_free(c);
  fanout_message_new(&f->app, m4, ids, NULL, 0, NULL); /* nobody here: not encoded */
  assert_int_equal(stored_calls, 4);
  assert_string_equal(stored_here, "");
  json_decref(m1);
  json_decref(m2);
  json_decref(m3);
  json_decref(m4);
  json_decref(ids);
  f->app.on_message_stored = NULL;
}

/* The sessions a conversation's message went to are kept for its next one
 * only while no session comes or goes on this instance, and only for the same
 * recipients: a session that left is never sent to again (a kept pointer to
 * it is a use after free under ASan), one that came (a user's first session
 * or another one) gets the next message, and so does a recipient the next
 * message adds; the same ids in another array are the same recipients. */
static void kept_recipients_never_reach_a_gone_session_nor_miss_a_new_one(void **state) {
  chat_fx_t *f = *state;
  ws_session_t *a = fake_session_new(&f->app, "u1"), *b = fake_session_new(&f->app, "u2");
  ws_session_t *gone = fake_session_new(&f->app, "u3");
  json_t *ids = json_pack("[s, s, s, s]", "u1", "u2", "u3", "u4");
  json_t *m[6];
  for (int i = 1; i <= 5; i++) m[i] = message(i);
  fanout_message_new(&f->app, m[1], ids, NULL, 0, NULL);
  expect(a, "message.new", 1);
  expect(b, "message.new", 1);
  expect(gone, "message.new", 1);
  fake_session_free(gone); /* leaves the hub; its memory is gone */
  fanout_message_new(&f->app, m[2], ids, NULL, 0, NULL);
  expect(a, "message.new", 2);
  expect(b, "message.new", 2);
  ws_session_t *d = fake_session_new(&f->app, "u4"), *b2 = fake_session_new(&f->app, "u2");
  ws_session_t *e = fake_session_new(&f->app, "u5");
  fanout_message_new(&f->app, m[3], ids, NULL, 0, NULL);
  expect(a, "message.new", 3);
  expect(b, "message.new", 3);
  expect(b2, "message.new", 3);
  expect(d, "message.new", 3);
  assert_int_equal(fake_pending(e), 0); /* not a recipient */
  json_t *more = json_pack("[s, s, s, s, s]", "u1", "u2", "u3", "u4", "u5");
  fanout_message_new(&f->app, m[4], more, NULL, 0, NULL);
  expect(e, "message.new", 4);
  json_t *same = json_deep_copy(more);
  fanout_message_new(&f->app, m[5], same, NULL, 0, NULL);
  expect(e, "message.new", 5);
  ws_session_t *all[] = {a, b, b2, d};
  for (int i = 0; i < 4; i++) {
    expect(all[i], "message.new", 4);
    expect(all[i], "message.new", 5);
    assert_int_equal(fake_pending(all[i]), 0);
    fake_session_free(all[i]);
  }
  assert_int_equal(fake_pending(e), 0);
  fake_session_free(e);
  for (int i = 1; i <= 5; i++) json_decref(m[i]);
  json_decref(ids);
  json_decref(more);
  json_decref(same);
}

static void events_skip_the_excluded_user_and_our_own_echoes(void **state) {
  chat_fx_t *f = *state;
  ws_session_t *a = fake_session_new(&f->app, "u1"), *b = fake_session_new(&f->app, "u2");
  json_t *frame = json_pack("{s:s, s:s, s:s}", "type", "typing", "user_id", "u1", "state", "start");
  json_t *ids = json_pack("[s, s]", "u1", "u2");
  fanout_event(&f->app, frame, ids, "u1");
  expect(b, "typing", 0);
  assert_int_equal(fake_pending(a), 0);
  /* Another instance's event, with the same exclusion. */
  remote(f, json_pack("{s:s, s:[s, s], s:s}", "k", "e", "u", "u1", "u2", "x", "u2"),
         "{\"type\":\"typing\"}");
  expect(a, "typing", 0);
  assert_int_equal(fake_pending(b), 0);
  /* Our own envelope, echoed by Redis: delivered already, so ignored. */
  char payload[256];
  int n = snprintf(payload, sizeof(payload), "{\"i\":\"%s\",\"k\":\"e\",\"u\":[\"u2\"]}\n{}",
                   f->app.instance_id);
  dispatch_message(&f->app, ENVELOPE_CHANNEL, payload, (size_t)n);
  /* And malformed ones change nothing. */
  dispatch_message(&f->app, ENVELOPE_CHANNEL, "no newline", 10);
  dispatch_message(&f->app, ENVELOPE_CHANNEL, "[1]\n{}", 6);
  assert_int_equal(fake_pending(a) + fake_pending(b), 0);
  json_decref(frame);
  json_decref(ids);
  fake_session_free(a);
  fake_session_free(b);
}

static json_int_t unread_of(ws_session_t *s) {
  json_t *fr = fake_next(s);
  assert_non_null(fr);
  assert_string_equal(json_string_value(json_object_get(fr, "type")), "conversation.updated");
  json_int_t n =
      json_integer_value(json_object_get(json_object_get(fr, "conversation"), "unread_count"));
  json_decref(fr);
  return n;
}

static void conversations_are_rendered_for_each_user(void **state) {
  chat_fx_t *f = *state;
  ws_session_t *a = fake_session_new(&f->app, "u1"), *b = fake_session_new(&f->app, "u2");
  ws_session_t *gone = fake_session_new(&f->app, "u3");
  json_t *conv = json_pack("{s:s, s:I, s:[{s:s, s:I}, {s:s, s:I}]}", "id", "c1", "last_seq",
                           (json_int_t)5, "participants", "id", "u1", "last_read_seq",
                           (json_int_t)1, "id", "u2", "last_read_seq", (json_int_t)3);
  fanout_conversation(&f->app, conv, "u3");
  assert_int_equal(unread_of(a), 4);
  assert_int_equal(unread_of(b), 2);
  assert_int_equal(unread_of(gone), 0); /* the removed member hears of it too */
  char *body = json_dumps(conv, JSON_COMPACT);
  remote(f, json_pack("{s:s}", "k", "c"), body);
  assert_int_equal(unread_of(a), 4);
  assert_int_equal(unread_of(b), 2);
  assert_int_equal(fake_pending(gone), 0);
  free(body);
  json_decref(conv);
  fake_session_free(a);
  fake_session_free(b);
  fake_session_free(gone);
}

/* A view is rendered only for users with a session here, asked at each
 * delivery: an offline participant costs nothing and misses nothing once it
 * connects. */
static void conversations_skip_users_with_no_session_here(void **state) {
  chat_fx_t *f = *state;
  ws_session_t *b = fake_session_new(&f->app, "u2");
  json_t *conv = json_pack("{s:s, s:I, s:[{s:s, s:I}, {s:s, s:I}]}", "id", "c1", "last_seq",
                           (json_int_t)5, "participants", "id", "u1", "last_read_seq",
                           (json_int_t)1, "id", "u2", "last_read_seq", (json_int_t)3);
  fanout_conversation(&f->app, conv, NULL);
  assert_int_equal(unread_of(b), 2);
  assert_int_equal(fake_pending(b), 0);
  ws_session_t *a = fake_session_new(&f->app, "u1");
  fanout_conversation(&f->app, conv, NULL);
  assert_int_equal(unread_of(a), 4);
  assert_int_equal(unread_of(b), 2);
  json_decref(conv);
  fake_session_free(a);
  fake_session_free(b);
}

static void a_revocation_closes_the_users_sessions(void **state) {
  chat_fx_t *f = chat_fx_new(1);
  ws_session_t *a1 = fake_session_new(&f->app, "u1"), *a2 = fake_session_new(&f->app, "u1");
  ws_session_t *b = fake_session_new(&f->app, "u2");
  dispatch_message(&f->app, AUTH_REVOKE_CHANNEL, "not json", 8);
  assert_false(fake_closed(a1, NULL));
  auth_revocation_t r;
  assert_int_equal(auth_revocation_make(&r, "u1", NULL, util_now_ms()), 0);
  char *msg = auth_revoke_message(&r);
  dispatch_message(&f->app, AUTH_REVOKE_CHANNEL, msg, strlen(msg));
  uint16_t code = 0;
  assert_true(fake_closed(a1, &code));
  assert_int_equal(code, 4003);
  assert_true(fake_closed(a2, NULL));
  assert_false(fake_closed(b, NULL));
  assert_int_equal(hub_session_count(f->app.hub), 1);
  free(msg);
  fake_session_free(a1);
  fake_session_free(a2);
  fake_session_free(b);
  chat_fx_free(f);
}

/* An ended login from the bus closes that login's sessions only, with 4003;
 * the same user's other logins and sessions without a login stay. */
static void an_ended_login_closes_its_sessions_only(void **state) {
  chat_fx_t *f = chat_fx_new(1);
  ws_session_t *l1 = fake_session_new(&f->app, "u1"), *l2 = fake_session_new(&f->app, "u1");
  ws_session_t *none = fake_session_new(&f->app, "u1"), *other = fake_session_new(&f->app, "u2");
  snprintf(l1->login_id, sizeof(l1->login_id), "login-1");
  snprintf(l2->login_id, sizeof(l2->login_id), "login-2");
  snprintf(other->login_id, sizeof(other->login_id), "login-1");
  auth_revocation_t r;
  assert_int_equal(auth_revocation_make(&r, "u1", "login-1", util_now_ms()), 0);
  char *msg = auth_revoke_message(&r);
  dispatch_message(&f->app, AUTH_LOGOUT_CHANNEL, msg, strlen(msg));
  uint16_t code = 0;
  assert_true(fake_closed(l1, &code));
  assert_int_equal(code, 4003);
  assert_false(fake_closed(l2, NULL));
  assert_false(fake_closed(none, NULL));
  assert_false(fake_closed(other, NULL));
  /* The echo of the same revocation changes nothing. */
  dispatch_message(&f->app, AUTH_LOGOUT_CHANNEL, msg, strlen(msg));
  assert_false(fake_closed(l2, NULL));
  free(msg);
  fake_session_free(l1);
  fake_session_free(l2);
  fake_session_free(none);
  fake_session_free(other);
  chat_fx_free(f);
}

/* A channel: results name no recipients; the members connected here (channel_subs)
 * get its messages, updates and conversation frames, here and from other
 * instances, and a join or leave on the bus changes who that is. */
static void a_channel_reaches_its_connected_members_only(void **state) {
  chat_fx_t *f = *state;
  f->app.channel_subs = channel_subs_new();
  ws_session_t *adm = fake_session_new(&f->app, "u1"), *mem = fake_session_new(&f->app, "u2");
  ws_session_t *out = fake_session_new(&f->app, "u3");
  json_t *chans = json_pack("[s]", "c1");
  channel_subs_loaded(f->app.channel_subs, "u1", channel_subs_track(f->app.channel_subs, "u1"),
                      chans);
  channel_subs_loaded(f->app.channel_subs, "u2", channel_subs_track(f->app.channel_subs, "u2"),
                      chans);
  channel_subs_loaded(f->app.channel_subs, "u3", channel_subs_track(f->app.channel_subs, "u3"),
                      NULL);
  json_t *m = message(1), *none = json_array();
  fanout_message_new(&f->app, m, none, "u1", adm->id, "p1");
  expect(adm, "message.ack", 1);
  expect(mem, "message.new", 1);
  assert_int_equal(fake_pending(out), 0);
  /* Another instance's post, then u3 joins there: it gets the next one. */
  json_decref(m);
  m = message(2);
  json_t *frame = json_pack("{s:s, s:O}", "type", "message.new", "message", m);
  char *body = json_dumps(frame, 0);
  json_decref(frame);
  remote(f, json_pack("{s:s, s:s, s:I, s:[]}", "k", "m", "c", "c1", "s", (json_int_t)2, "u"), body);
  free(body);
  expect(mem, "message.new", 2);
  expect(adm, "message.new", 2);
  remote(f, json_pack("{s:s, s:s, s:s, s:b}", "k", "j", "c", "c1", "u", "u3", "a", 1), "");
  json_decref(m);
  m = message(3);
  fanout_message_new(&f->app, m, none, NULL, 0, NULL);
  expect(out, "message.new", 3);
  expect(mem, "message.new", 3);
  expect(adm, "message.new", 3);
  /* An edit, and a rename rendered without anyone's role. */
  fanout_message_updated(&f->app, m, none);
  expect(out, "message.updated", 3);
  expect(mem, "message.updated", 3);
  expect(adm, "message.updated", 3);
  json_t *conv = json_pack("{s:s, s:s, s:s, s:I, s:I}", "id", "c1", "type", "channel", "name",
                           "News", "member_count", (json_int_t)100000, "last_seq", (json_int_t)3);
  fanout_conversation(&f->app, conv, NULL);
  json_t *fr = fake_next(mem);
  assert_string_equal(json_string_value(json_object_get(fr, "type")), "conversation.updated");
  assert_null(json_object_get(json_object_get(fr, "conversation"), "role"));
  json_decref(fr);
  expect(adm, "conversation.updated", 0);
  expect(out, "conversation.updated", 0);
  /* u2 leaves (announced here): no more. */
  channel_subs_announce(&f->app, "c1", "u2", 0);
  json_decref(m);
  m = message(4);
  fanout_message_new(&f->app, m, none, NULL, 0, NULL);
  expect(adm, "message.new", 4);
  assert_int_equal(fake_pending(mem), 0);
  json_decref(m);
  json_decref(none);
  json_decref(chans);
  json_decref(conv);
  fake_session_free(adm);
  fake_session_free(mem);
  fake_session_free(out);
  channel_subs_free(f->app.channel_subs);
  f->app.channel_subs = NULL;
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(a_message_reaches_every_session_and_the_sender_gets_its_ack,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(the_acks_bytes_are_json_packs, setup, teardown),
      cmocka_unit_test_setup_teardown(remote_messages_are_delivered_in_seq_order, setup, teardown),
      cmocka_unit_test_setup_teardown(a_gap_is_passed_over_after_the_wait, setup, teardown),
      cmocka_unit_test_setup_teardown(the_stored_hook_hears_who_the_delivery_found_here, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(kept_recipients_never_reach_a_gone_session_nor_miss_a_new_one,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(events_skip_the_excluded_user_and_our_own_echoes, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(conversations_are_rendered_for_each_user, setup, teardown),
      cmocka_unit_test_setup_teardown(conversations_skip_users_with_no_session_here, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(a_channel_reaches_its_connected_members_only, setup,
                                      teardown),
      cmocka_unit_test(a_revocation_closes_the_users_sessions),
      cmocka_unit_test(an_ended_login_closes_its_sessions_only),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
