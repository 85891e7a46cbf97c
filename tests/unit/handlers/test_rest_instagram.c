/* Instagram over REST without sockets (src/handlers/instagram.c): Meta's
 * webhook verification and signed deliveries (stored once per mid, then
 * ingested), connecting an account only as Graph names it, its status and
 * disconnection, contacts visible to their owner alone, and the send call's
 * refusals. Graph answers through the fake HTTP client. Loopback harness of
 * rest_fixture.h. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <sodium.h>

#include "rest_fixture.h"

#define HOOK "/api/webhook/instagram"
#define ME_OK "{\"user_id\":\"" IG_FX_ACCOUNT "\",\"username\":\"shop\",\"id\":\"app-scoped\"}"

/* POSTs body to the webhook, signed with secret (NULL: unsigned). */
static rest_reply_t *deliver(rest_fx_t *fx, const char *body, const char *secret) {
  rest_reply_t *r = calloc(1, sizeof(*r));
  http_req_t *req = http_loopback_new(&fx->srv, "POST", HOOK, rest_sink, r);
  if (secret) {
    unsigned char mac[crypto_auth_hmacsha256_BYTES];
    crypto_auth_hmacsha256_state st;
    crypto_auth_hmacsha256_init(&st, (const unsigned char *)secret, strlen(secret));
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)body, strlen(body));
    crypto_auth_hmacsha256_final(&st, mac);
    char sig[80] = "sha256=";
    util_hex(mac, sizeof(mac), sig + 7);
    http_loopback_header(req, "X-Hub-Signature-256", sig);
  }
  http_loopback_header(req, "Content-Type", "application/json");
  http_loopback_body(req, body, strlen(body));
  http_loopback_dispatch(req);
  http_req_unref(req);
  rest_wait(fx, r);
  return r;
}

/* Connects IG_FX_ACCOUNT to user as Graph's /me names it. */
static void connect_account(rest_fx_t *fx, const char *user) {
  httpc_fake_script(fx->app->http, 200, ME_OK, NULL);
  rest_reply_t *r = rest_call(fx, 200, "POST", "/api/instagram/connect", user,
                              "{\"access_token\":\"" IG_FX_TOKEN "\"}");
  assert_string_equal(rest_str(r, "account", "ig_user_id", NULL), IG_FX_ACCOUNT);
  assert_null(json_object_get(json_object_get(r->body, "account"), "token_cipher"));
  rest_reply_free(r);
}

static void verification_answers_the_challenge_only_to_the_right_token(void **state) {
  rest_fx_t *fx = *state;
  rest_reply_t *r = rest_call(
      fx, 200, "GET",
      HOOK "?hub.mode=subscribe&hub.verify_token=verify-me&hub.challenge=1158201444", NULL, NULL);
  assert_string_equal(r->raw, "1158201444");
  rest_reply_free(r);
  rest_expect_error(fx, 403, "forbidden", NULL, "GET",
                    HOOK "?hub.mode=subscribe&hub.verify_token=guess&hub.challenge=1", NULL, NULL);
  rest_expect_error(fx, 403, "forbidden", NULL, "GET",
                    HOOK "?hub.mode=unsubscribe&hub.verify_token=verify-me&hub.challenge=1", NULL,
                    NULL);
  rest_expect_error(fx, 403, "forbidden", NULL, "GET", HOOK, NULL, NULL);
  fx->app->cfg.ig_verify_token = NULL;
  rest_expect_error(fx, 503, "unavailable", NULL, "GET",
                    HOOK "?hub.mode=subscribe&hub.verify_token=verify-me&hub.challenge=1", NULL,
                    NULL);
}

/* Graph's answer to the profile the ingest asks for on a contact's first message. */
#define PROFILE_JSON \
  "{\"name\":\"Mia Rossi\",\"username\":\"mia.rossi\",\"profile_pic\":\"https://x/p.jpg\"}"

static void deliveries_are_signed_stored_once_and_ingested(void **state) {
  rest_fx_t *fx = *state;
  connect_account(fx, fx->a);
  httpc_fake_script(fx->app->http, 200, PROFILE_JSON, NULL);
  char *body = ig_fx_read("message_text.json");
  rest_reply_t *r = deliver(fx, body, NULL);
  assert_int_equal(r->status, 401);
  assert_string_equal(rest_str(r, "error", "code", NULL), "invalid_signature");
  rest_reply_free(r);
  r = deliver(fx, body, "another-secret");
  assert_int_equal(r->status, 401);
  rest_reply_free(r);
  r = deliver(fx, body, "app-secret");
  assert_int_equal(r->status, 200);
  assert_string_equal(r->raw, "EVENT_RECEIVED");
  rest_reply_free(r);
  r = deliver(fx, body, "app-secret"); /* Meta's retry */
  assert_int_equal(r->status, 200);
  rest_reply_free(r);
  free(body);
  r = deliver(fx, "{\"object\":", "app-secret");
  assert_int_equal(r->status, 400);
  assert_string_equal(rest_str(r, "error", "code", NULL), "invalid_json");
  rest_reply_free(r);
  ig_fx_settle(fx->chat);
  assert_int_equal(fx->app->metrics->webhook_events, 1);
  /* The message is in a's inbox, once. */
  r = rest_call(fx, 200, "GET", "/api/messages/instagram", fx->a, NULL);
  json_t *convs = json_object_get(r->body, "conversations");
  assert_int_equal(json_array_size(convs), 1);
  assert_int_equal(json_integer_value(json_object_get(json_array_get(convs, 0), "last_seq")), 1);
  /* The contact's profile named the conversation. */
  assert_string_equal(json_string_value(json_object_get(json_array_get(convs, 0), "name")),
                      "Mia Rossi");
  rest_reply_free(r);
}

static void an_account_is_the_one_graph_names(void **state) {
  rest_fx_t *fx = *state;
  httpc_t *h = fx->app->http;
  rest_expect_error(fx, 400, "validation_failed", "access_token", "POST", "/api/instagram/connect",
                    fx->a, "{}");
  rest_expect_error(fx, 400, "validation_failed", "ig_user_id", "POST", "/api/instagram/connect",
                    fx->a, "{\"access_token\":\"t\",\"ig_user_id\":\"12ab\"}");
  httpc_fake_script(h, 200, ME_OK, NULL);
  rest_expect_error(fx, 400, "validation_failed", "ig_user_id", "POST", "/api/instagram/connect",
                    fx->a, "{\"access_token\":\"t\",\"ig_user_id\":\"999\"}");
  httpc_fake_script(h, 400, "{\"error\":{\"message\":\"Invalid OAuth\",\"code\":190}}", NULL);
  rest_expect_error(fx, 400, "validation_failed", "access_token", "POST", "/api/instagram/connect",
                    fx->a, "{\"access_token\":\"expired\"}");
  httpc_fake_script(h, 200, "{\"username\":\"shop\"}", NULL);
  rest_expect_error(fx, 502, "upstream_error", NULL, "POST", "/api/instagram/connect", fx->a,
                    "{\"access_token\":\"t\"}");
  rest_reply_t *r = rest_call(fx, 200, "GET", "/api/instagram/status", fx->a, NULL);
  assert_false(json_is_true(json_object_get(r->body, "connected")));
  rest_reply_free(r);

  connect_account(fx, fx->a);
  const httpc_fake_req_t *req = httpc_fake_request(h, 3);
  assert_non_null(strstr(req->url, "/me?fields=user_id,username"));
  assert_string_equal(req->auth, "Bearer " IG_FX_TOKEN);
  r = rest_call(fx, 200, "GET", "/api/instagram/status", fx->a, NULL);
  assert_true(json_is_true(json_object_get(r->body, "connected")));
  assert_string_equal(rest_str(r, "account", "username", NULL), "shop");
  assert_null(json_object_get(json_object_get(r->body, "account"), "token_cipher"));
  rest_reply_free(r);
  /* Someone else cannot take it. */
  httpc_fake_script(h, 200, ME_OK, NULL);
  rest_expect_error(fx, 409, "conflict", "ig_user_id", "POST", "/api/instagram/connect", fx->b,
                    "{\"access_token\":\"theirs\"}");
  rest_reply_free(rest_call(fx, 204, "POST", "/api/instagram/disconnect", fx->a, NULL));
  r = rest_call(fx, 200, "GET", "/api/instagram/status", fx->a, NULL);
  assert_false(json_is_true(json_object_get(r->body, "connected")));
  rest_reply_free(r);
  rest_reply_free(rest_call(fx, 204, "POST", "/api/instagram/disconnect", fx->a, NULL));
}

static void contacts_are_their_owners(void **state) {
  rest_fx_t *fx = *state;
  connect_account(fx, fx->a);
  httpc_fake_script(fx->app->http, 200, PROFILE_JSON, NULL);
  char *body = ig_fx_read("message_text.json");
  rest_reply_free(deliver(fx, body, "app-secret"));
  free(body);
  ig_fx_settle(fx->chat);
  rest_reply_t *r = rest_call(fx, 200, "GET", "/api/contacts", fx->a, NULL);
  json_t *contacts = json_object_get(r->body, "contacts");
  assert_int_equal(json_array_size(contacts), 1);
  json_t *c = json_array_get(contacts, 0);
  assert_string_equal(json_string_value(json_object_get(c, "ig_user_id")), IG_FX_CONTACT);
  assert_null(json_object_get(c, "owner_id"));
  char target[96];
  snprintf(target, sizeof(target), "/api/contacts/%s", json_string_value(json_object_get(c, "id")));
  rest_reply_free(r);
  r = rest_call(fx, 200, "GET", target, fx->a, NULL);
  assert_string_equal(rest_str(r, "contact", "ig_user_id", NULL), IG_FX_CONTACT);
  rest_reply_free(r);
  rest_expect_error(fx, 404, "not_found", NULL, "GET", target, fx->b, NULL);
  r = rest_call(fx, 200, "GET", "/api/contacts", fx->b, NULL);
  assert_int_equal(json_array_size(json_object_get(r->body, "contacts")), 0);
  rest_reply_free(r);
}

static void a_send_is_refused_before_graph_when_it_cannot_go(void **state) {
  rest_fx_t *fx = *state;
  const char *p = "/api/instagram/send-message";
  rest_expect_error(fx, 400, "validation_failed", "recipient_id", "POST", p, fx->a,
                    "{\"text\":\"hi\"}");
  rest_expect_error(fx, 400, "validation_failed", "text", "POST", p, fx->a,
                    "{\"recipient_id\":\"" IG_FX_CONTACT "\",\"text\":\"\"}");
  rest_expect_error(fx, 400, "validation_failed", NULL, "POST", p, fx->a,
                    "{\"recipient_id\":\"" IG_FX_CONTACT "\",\"text\":\"hi\"}"); /* no account */
  connect_account(fx, fx->a);
  /* Nobody wrote from this id: outside the 24-hour window. */
  rest_expect_error(fx, 422, "outside_messaging_window", NULL, "POST", p, fx->a,
                    "{\"recipient_id\":\"1111\",\"text\":\"hi\"}");
  assert_null(httpc_fake_request(fx->app->http, 1)); /* only connect's /me went out */
}

/* Files go to Instagram contacts one at a time, without text, by a URL on the
 * server's public_url: text with a file, or two files, is a 400 naming
 * attachment_ids; a file without a public_url is a 503; none reaches Graph. */
static void files_are_refused_in_an_instagram_conversation(void **state) {
  rest_fx_t *fx = *state;
  connect_account(fx, fx->a);
  httpc_fake_script(fx->app->http, 200, PROFILE_JSON, NULL);
  char *body = ig_fx_read("message_text.json");
  rest_reply_free(deliver(fx, body, "app-secret"));
  free(body);
  ig_fx_settle(fx->chat);
  rest_reply_t *r = rest_call(fx, 200, "GET", "/api/messages/instagram", fx->a, NULL);
  const char *conv = json_string_value(
      json_object_get(json_array_get(json_object_get(r->body, "conversations"), 0), "id"));
  assert_non_null(conv);
  char target[128];
  snprintf(target, sizeof(target), "/api/conversations/%s/messages", conv);
  rest_reply_free(r);
  json_t *att = chat_fx_query(
      fx->chat, ATTACH_CREATE,
      json_pack("{s:s, s:s, s:s, s:s, s:i, s:s}", "id", "0123456789abcdef01234567", "user_id",
                fx->a, "type", "image", "content_type", "image/png", "size", 70, "name", "p.png"));
  assert_non_null(att);
  json_decref(att);
  int sent_before = 0;
  while (httpc_fake_request(fx->app->http, sent_before)) sent_before++;
  rest_expect_error(fx, 400, "validation_failed", "attachment_ids", "POST", target, fx->a,
                    "{\"text\":\"hi\",\"attachment_ids\":[\"0123456789abcdef01234567\"]}");
  rest_expect_error(
      fx, 400, "validation_failed", "attachment_ids", "POST", target, fx->a,
      "{\"attachment_ids\":[\"0123456789abcdef01234567\",\"0123456789abcdef01234568\"]}");
  rest_expect_error(fx, 503, "unavailable", NULL, "POST", target, fx->a,
                    "{\"attachment_ids\":[\"0123456789abcdef01234567\"]}");
  assert_null(httpc_fake_request(fx->app->http, sent_before)); /* nothing went to Graph */
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(verification_answers_the_challenge_only_to_the_right_token,
                                      rest_setup, rest_teardown),
      cmocka_unit_test_setup_teardown(deliveries_are_signed_stored_once_and_ingested, rest_setup,
                                      rest_teardown),
      cmocka_unit_test_setup_teardown(an_account_is_the_one_graph_names, rest_setup, rest_teardown),
      cmocka_unit_test_setup_teardown(contacts_are_their_owners, rest_setup, rest_teardown),
      cmocka_unit_test_setup_teardown(a_send_is_refused_before_graph_when_it_cannot_go, rest_setup,
                                      rest_teardown),
      cmocka_unit_test_setup_teardown(files_are_refused_in_an_instagram_conversation, rest_setup,
                                      rest_teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
