/* The outbox without sockets (src/instagram/outbox.c, and the Graph API sender
 * of graph.c under it): what the owner sends is kept pending, goes to Graph as
 * Meta expects it, and is kept sent with Graph's message id once Meta took it,
 * delivered live; 5xx, 429 and transport failures before the request went out
 * are retried with growing backoff, other refusals are not, and a message Meta
 * did not take is kept failed with Graph's error; a timeout after the request
 * went out is failed/unknown_outcome and never retried; the per-account rate
 * limit answers without a request. Graph is the fake HTTP client of
 * tests/unit/net/httpc_fake.h, answering scripted responses. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "ig_fixture.h"
#include "instagram/outbox.h"
#include "instagram/window.h"
#include "parley/util.h"

typedef struct world_s {
  chat_fx_t *f;
  char owner[25];
  json_t *account, *contact;
  /* the outcome */
  int calls, sent, status;
  char error[128], code[32];
  json_t *message;
} world_t;

static json_t *query(world_t *w, enum store_op op, json_t *params) {
  return chat_fx_query(w->f, op, params);
}

/* A contact who wrote to the owner's account. */
static world_t *world_new(int per_min) {
  world_t *w = calloc(1, sizeof(*w));
  w->f = chat_fx_new(1);
  ig_fx_attach(w->f, per_min);
  if (chat_fx_user(w->f, "shop@example.com", w->owner) != STORE_OK) abort();
  if (ig_fx_account(w->f, w->owner, IG_FX_ACCOUNT) != STORE_OK) abort();
  w->account = query(w, IG_ACCOUNT_GET, json_pack("{s:s}", "user_id", w->owner));
  char now[32];
  util_iso8601(util_now_ms(), now);
  w->contact = query(w, CONTACT_UPSERT,
                     json_pack("{s:s, s:s, s:s}", "owner_id", w->owner, "ig_user_id", IG_FX_CONTACT,
                               "last_inbound_at", now));
  return w;
}

static int setup(void **state) {
  *state = world_new(600);
  return 0;
}

static int teardown(void **state) {
  world_t *w = *state;
  json_decref(w->account);
  json_decref(w->contact);
  json_decref(w->message);
  ig_fx_detach(w->f);
  chat_fx_free(w->f);
  free(w);
  return 0;
}

static void on_sent(void *ctx, const ig_sent_t *sent) {
  world_t *w = ctx;
  w->calls++;
  w->sent = sent->sent;
  w->status = sent->status;
  snprintf(w->error, sizeof(w->error), "%s", sent->error ? sent->error : "");
  snprintf(w->code, sizeof(w->code), "%s", sent->code ? sent->code : "");
  json_decref(w->message);
  w->message = json_incref(sent->message);
}

/* Sends text and waits for the outcome (10 s at most: three backoffs). */
static void send_and_wait(world_t *w, const char *text) {
  int before = w->calls;
  assert_int_equal(ig_outbox_send(&w->f->app, w->account, w->contact, IG_FX_TOKEN, text, NULL,
                                  "flow", 0, NULL, on_sent, w),
                   0);
  for (int i = 0; i < 1000 && w->calls == before; i++) chat_fx_run(w->f, 10);
  assert_int_equal(w->calls, before + 1);
  ig_fx_settle(w->f);
}

/* Messages kept in the contact's conversation. */
static size_t kept(world_t *w) {
  json_t *page = query(w, CONV_LIST, json_pack("{s:s, s:i}", "user_id", w->owner, "limit", 10));
  json_t *conv = json_array_get(json_object_get(page, "conversations"), 0);
  size_t n = conv ? (size_t)json_integer_value(json_object_get(conv, "last_seq")) : 0;
  json_decref(page);
  return n;
}

static void a_message_meta_took_is_kept_and_delivered(void **state) {
  world_t *w = *state;
  httpc_t *h = w->f->app.http;
  ws_session_t *s = fake_session_new(&w->f->app, w->owner);
  httpc_fake_script(h, 200, "{\"recipient_id\":\"" IG_FX_CONTACT "\",\"message_id\":\"mid.out.1\"}",
                    NULL);
  send_and_wait(w, "Your order shipped");
  assert_int_equal(w->sent, 1);
  assert_int_equal(w->status, STORE_OK);
  assert_string_equal(json_string_value(json_object_get(w->message, "text")), "Your order shipped");
  assert_string_equal(json_string_value(json_object_get(w->message, "source")), "flow");
  assert_string_equal(json_string_value(json_object_get(w->message, "sender_id")), w->owner);
  assert_string_equal(json_string_value(json_object_get(w->message, "external_id")), "mid.out.1");
  assert_string_equal(json_string_value(json_object_get(w->message, "status")), "sent");
  assert_true(json_is_null(json_object_get(w->message, "error")));
  /* The request, as the Graph API expects it. */
  assert_int_equal(httpc_in_flight(h), 0);
  const httpc_fake_req_t *r = httpc_fake_request(h, 0);
  assert_string_equal(r->method, "POST");
  assert_string_equal(r->url, "https://graph.test/v21.0/" IG_FX_ACCOUNT "/messages");
  assert_string_equal(r->auth, "Bearer " IG_FX_TOKEN);
  json_t *body = json_loads(r->body, 0, NULL);
  assert_string_equal(json_string_value(json_object_get(json_object_get(body, "recipient"), "id")),
                      IG_FX_CONTACT);
  assert_string_equal(json_string_value(json_object_get(json_object_get(body, "message"), "text")),
                      "Your order shipped");
  json_decref(body);
  assert_null(httpc_fake_request(h, 1));
  /* The owner's sessions see it like any other message. */
  json_t *fr = fake_next(s);
  assert_string_equal(json_string_value(json_object_get(fr, "type")), "conversation.updated");
  json_decref(fr);
  fr = fake_next(s);
  assert_string_equal(json_string_value(json_object_get(fr, "type")), "message.new");
  assert_string_equal(json_string_value(json_object_get(json_object_get(fr, "message"), "status")),
                      "pending");
  json_decref(fr);
  fr = fake_next(s);
  assert_string_equal(json_string_value(json_object_get(fr, "type")), "message.updated");
  assert_string_equal(json_string_value(json_object_get(json_object_get(fr, "message"), "status")),
                      "sent");
  json_decref(fr);
  assert_int_equal(kept(w), 1);
  fake_session_free(s);
}

static void failures_worth_retrying_are_retried_with_backoff(void **state) {
  world_t *w = *state;
  httpc_t *h = w->f->app.http;
  httpc_fake_script(h, 503, "{}", NULL);
  httpc_fake_script(h, 0, NULL, "Failed to connect"); /* before the request went out */
  httpc_fake_script(h, 200, "{\"message_id\":\"mid.out.2\"}", NULL);
  send_and_wait(w, "third time lucky");
  assert_int_equal(w->sent, 1);
  assert_int_equal(w->status, STORE_OK);
  const httpc_fake_req_t *r0 = httpc_fake_request(h, 0), *r1 = httpc_fake_request(h, 1),
                         *r2 = httpc_fake_request(h, 2);
  assert_non_null(r2);
  assert_null(httpc_fake_request(h, 3));
  /* 250 ms, then 500 ms (graph.c's GRAPH_BACKOFF_MS doubling). */
  assert_true(r1->at_ms - r0->at_ms >= 250);
  assert_true(r2->at_ms - r1->at_ms >= 500);
  assert_int_equal(kept(w), 1);
}

static void a_refusal_is_final_and_kept_failed(void **state) {
  world_t *w = *state;
  httpc_t *h = w->f->app.http;
  httpc_fake_script(
      h, 400, "{\"error\":{\"message\":\"(#10) outside of allowed window\",\"code\":10}}", NULL);
  send_and_wait(w, "too late");
  assert_int_equal(w->sent, 0);
  assert_string_equal(w->error, "(#10) outside of allowed window");
  assert_string_equal(w->code, "10");
  assert_string_equal(json_string_value(json_object_get(w->message, "status")), "failed");
  json_t *err = json_object_get(w->message, "error");
  assert_string_equal(json_string_value(json_object_get(err, "code")), "10");
  assert_string_equal(json_string_value(json_object_get(err, "message")),
                      "(#10) outside of allowed window");
  assert_null(httpc_fake_request(h, 1)); /* not retried */
  assert_int_equal(kept(w), 1);
}

/* A timeout after the request went out: Meta may have delivered it. */
static void an_unknown_outcome_is_never_retried(void **state) {
  world_t *w = *state;
  httpc_t *h = w->f->app.http;
  httpc_fake_script(h, 0, NULL, "timeout");
  httpc_fake_script(h, 200, "{\"message_id\":\"mid.never\"}", NULL);
  send_and_wait(w, "maybe delivered");
  assert_int_equal(w->sent, 0);
  assert_string_equal(w->code, "unknown_outcome");
  assert_string_equal(json_string_value(json_object_get(w->message, "status")), "failed");
  assert_string_equal(
      json_string_value(json_object_get(json_object_get(w->message, "error"), "code")),
      "unknown_outcome");
  assert_null(httpc_fake_request(h, 1)); /* not retried */
  assert_int_equal(kept(w), 1);
}

static void retries_end_after_three(void **state) {
  world_t *w = *state;
  httpc_t *h = w->f->app.http;
  for (int i = 0; i < 4; i++) httpc_fake_script(h, 500, "not json", NULL);
  send_and_wait(w, "never");
  assert_int_equal(w->sent, 0);
  assert_non_null(strstr(w->error, "500"));
  assert_string_equal(w->code, "upstream_error");
  assert_non_null(httpc_fake_request(h, 3));
  assert_null(httpc_fake_request(h, 4));
  assert_int_equal(kept(w), 1); /* kept failed */
}

static void the_account_rate_limit_answers_without_a_request(void **state) {
  world_t *w = world_new(1); /* a burst of 5 */
  httpc_t *h = w->f->app.http;
  static const char *const answers[] = {"{\"message_id\":\"m0\"}", "{\"message_id\":\"m1\"}",
                                        "{\"message_id\":\"m2\"}", "{\"message_id\":\"m3\"}",
                                        "{\"message_id\":\"m4\"}"};
  for (int i = 0; i < 5; i++) httpc_fake_script(h, 200, answers[i], NULL);
  for (int i = 0; i < 5; i++) {
    send_and_wait(w, "hello");
    assert_int_equal(w->sent, 1);
  }
  send_and_wait(w, "one too many");
  assert_int_equal(w->sent, 0);
  assert_string_equal(w->code, "rate_limited");
  assert_null(httpc_fake_request(h, 5));
  teardown((void **)&w);
}

static void without_a_graph_client_nothing_starts(void **state) {
  world_t *w = *state;
  graph_t *g = w->f->app.graph;
  w->f->app.graph = NULL;
  assert_int_equal(ig_outbox_send(&w->f->app, w->account, w->contact, IG_FX_TOKEN, "x", NULL,
                                  "flow", 0, NULL, on_sent, w),
                   -1);
  w->f->app.graph = g;
  assert_int_equal(w->calls, 0);
}

/* The window: 24 hours for everyone; with ig_human_agent_tag on, 7 days for a person's
 * reply (tagged HUMAN_AGENT), never for a flow. */
static void the_window_and_the_human_agent_tag(void **state) {
  world_t *w = *state;
  app_t *app = &w->f->app;
  const char *tag = "x";
  char at[32];
  json_t *c = json_object();
  util_iso8601(util_now_ms() - 3600 * 1000LL, at);
  json_object_set_new(c, "last_inbound_at", json_string(at));
  app->cfg.ig_human_agent_tag = "off";
  assert_int_equal(ig_window_open(app, c, 0, &tag), 1);
  assert_null(tag);
  util_iso8601(util_now_ms() - 2 * 86400 * 1000LL, at);
  json_object_set_new(c, "last_inbound_at", json_string(at));
  assert_int_equal(ig_window_open(app, c, 1, &tag), 0);
  app->cfg.ig_human_agent_tag = "on";
  assert_int_equal(ig_window_open(app, c, 1, &tag), 1);
  assert_string_equal(tag, "HUMAN_AGENT");
  assert_int_equal(ig_window_open(app, c, 0, &tag), 0); /* a flow */
  util_iso8601(util_now_ms() - 8 * 86400 * 1000LL, at);
  json_object_set_new(c, "last_inbound_at", json_string(at));
  assert_int_equal(ig_window_open(app, c, 1, &tag), 0);
  json_object_del(c, "last_inbound_at");
  assert_int_equal(ig_window_open(app, c, 1, &tag), 0); /* never wrote */
  app->cfg.ig_human_agent_tag = NULL;
  json_decref(c);
}

/* A flow's send outside 24 hours is refused before anything is stored or sent, even
 * with the tag on. */
static void a_flow_never_uses_the_tag(void **state) {
  world_t *w = *state;
  char at[32];
  util_iso8601(util_now_ms() - 2 * 86400 * 1000LL, at);
  json_object_set_new(w->contact, "last_inbound_at", json_string(at));
  w->f->app.cfg.ig_human_agent_tag = "on";
  send_and_wait(w, "a flow two days later");
  w->f->app.cfg.ig_human_agent_tag = NULL;
  assert_int_equal(w->sent, 0);
  assert_string_equal(w->code, "outside_messaging_window");
  assert_null(w->message);
  assert_null(httpc_fake_request(w->f->app.http, 0));
  assert_int_equal(kept(w), 0);
}

/* A flow's send (ig_outbox_send_message, whose caller does not take the
 * message back): with nobody connected its outcome is stored and not read
 * back; with the owner's session here it is delivered as message.updated. */
static void flow_send_and_wait(world_t *w, const char *text) {
  int before = w->calls;
  assert_int_equal(ig_outbox_send_message(&w->f->app, w->account, w->contact, IG_FX_TOKEN, text,
                                          NULL, NULL, NULL, "flow", 0, NULL, on_sent, w),
                   0);
  for (int i = 0; i < 1000 && w->calls == before; i++) chat_fx_run(w->f, 10);
  assert_int_equal(w->calls, before + 1);
  ig_fx_settle(w->f);
}

static json_t *last_kept(world_t *w) {
  json_t *page = query(w, CONV_LIST, json_pack("{s:s, s:i}", "user_id", w->owner, "limit", 10));
  json_t *conv = json_array_get(json_object_get(page, "conversations"), 0);
  json_t *msgs = query(w, MSG_LIST,
                       json_pack("{s:O, s:s, s:i}", "conversation_id", json_object_get(conv, "id"),
                                 "user_id", w->owner, "limit", 1));
  json_t *m = json_incref(json_array_get(json_object_get(msgs, "messages"), 0));
  json_decref(msgs);
  json_decref(page);
  return m;
}

static void a_flow_send_is_stored_whoever_listens(void **state) {
  world_t *w = *state;
  httpc_t *h = w->f->app.http;
  httpc_fake_script(h, 200, "{\"message_id\":\"mid.flow.1\"}", NULL);
  flow_send_and_wait(w, "nobody is watching");
  assert_int_equal(w->sent, 1);
  assert_int_equal(w->status, STORE_OK);
  json_t *m = last_kept(w);
  assert_string_equal(json_string_value(json_object_get(m, "text")), "nobody is watching");
  assert_string_equal(json_string_value(json_object_get(m, "status")), "sent");
  assert_string_equal(json_string_value(json_object_get(m, "external_id")), "mid.flow.1");
  json_decref(m);
  /* The owner is here now: the next send's outcome reaches the session. */
  ws_session_t *s = fake_session_new(&w->f->app, w->owner);
  httpc_fake_script(h, 200, "{\"message_id\":\"mid.flow.2\"}", NULL);
  flow_send_and_wait(w, "someone is watching");
  assert_int_equal(w->sent, 1);
  json_t *fr = fake_next(s);
  while (fr && strcmp(json_string_value(json_object_get(fr, "type")), "message.updated") != 0) {
    json_decref(fr);
    fr = fake_next(s);
  }
  assert_non_null(fr);
  json_t *msg = json_object_get(fr, "message");
  assert_string_equal(json_string_value(json_object_get(msg, "text")), "someone is watching");
  assert_string_equal(json_string_value(json_object_get(msg, "status")), "sent");
  assert_string_equal(json_string_value(json_object_get(msg, "external_id")), "mid.flow.2");
  json_decref(fr);
  fake_session_free(s);
  assert_int_equal(kept(w), 2);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(a_message_meta_took_is_kept_and_delivered, setup, teardown),
      cmocka_unit_test_setup_teardown(failures_worth_retrying_are_retried_with_backoff, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(a_refusal_is_final_and_kept_failed, setup, teardown),
      cmocka_unit_test_setup_teardown(an_unknown_outcome_is_never_retried, setup, teardown),
      cmocka_unit_test_setup_teardown(retries_end_after_three, setup, teardown),
      cmocka_unit_test(the_account_rate_limit_answers_without_a_request),
      cmocka_unit_test_setup_teardown(without_a_graph_client_nothing_starts, setup, teardown),
      cmocka_unit_test_setup_teardown(the_window_and_the_human_agent_tag, setup, teardown),
      cmocka_unit_test_setup_teardown(a_flow_never_uses_the_tag, setup, teardown),
      cmocka_unit_test_setup_teardown(a_flow_send_is_stored_whoever_listens, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
