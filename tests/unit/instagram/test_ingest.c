/* The ingest of stored webhook events without sockets (src/instagram/ingest.c):
 * a message becomes a contact, one instagram conversation with the account's
 * owner and a message delivered live; the same mid again adds nothing; echoes
 * of what the owner sent are not stored twice; reactions and reads reach the
 * message they name; events of accounts nobody connected are dropped; the
 * flow hook runs once per new incoming message, after the contact's profile
 * was fetched (which a failure does not hold up); edits and unsends. Real SQLite store, fixtures
 * of tests/fixtures/instagram, the harness of ig_fixture.h. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "ig_fixture.h"

typedef struct world_s {
  chat_fx_t *f;
  char owner[25];
  int hook_calls;
  char hook_text[128];
  char hook_kind[32];
  char hook_extra[64];
  char hook_username[64]; /* the contact's username as the hook saw it */
} world_t;

/* Graph's answer to the user-profile request (GET /<IGSID>?fields=...). */
#define PROFILE_JSON \
  "{\"name\":\"Mia Rossi\",\"username\":\"mia.rossi\",\"profile_pic\":\"https://x/p.jpg\"}"

static void on_message(void *ctx, const json_t *account, const json_t *contact,
                       const json_t *event) {
  world_t *w = ctx;
  w->hook_calls++;
  assert_string_equal(json_string_value(json_object_get(account, "user_id")), w->owner);
  assert_non_null(json_object_get(account, "token_cipher"));
  assert_string_equal(json_string_value(json_object_get(contact, "ig_user_id")), IG_FX_CONTACT);
  /* A postback (a button or a quick reply) is seen by its payload. */
  const char *text = json_string_value(json_object_get(event, "payload"));
  if (!text) text = json_string_value(json_object_get(event, "text"));
  snprintf(w->hook_text, sizeof(w->hook_text), "%s", text ? text : "(none)");
  snprintf(w->hook_kind, sizeof(w->hook_kind), "%s",
           json_string_value(json_object_get(event, "kind")));
  const char *extra = json_string_value(json_object_get(event, "comment_id"));
  if (!extra) extra = json_string_value(json_object_get(event, "ref"));
  snprintf(w->hook_extra, sizeof(w->hook_extra), "%s", extra ? extra : "");
  const char *username = json_string_value(json_object_get(contact, "username"));
  snprintf(w->hook_username, sizeof(w->hook_username), "%s", username ? username : "(none)");
}

static int setup(void **state) {
  world_t *w = calloc(1, sizeof(*w));
  w->f = chat_fx_new(1);
  ig_fx_attach(w->f, 600);
  ig_ingest_on_message(w->f->app.ingest, on_message, w);
  /* A contact's first message fetches its profile: Graph answers it. */
  httpc_fake_script(w->f->app.http, 200, PROFILE_JSON, NULL);
  if (chat_fx_user(w->f, "shop@example.com", w->owner) != STORE_OK) return -1;
  if (ig_fx_account(w->f, w->owner, IG_FX_ACCOUNT) != STORE_OK) return -1;
  *state = w;
  return 0;
}

static int teardown(void **state) {
  world_t *w = *state;
  ig_fx_detach(w->f);
  chat_fx_free(w->f);
  free(w);
  return 0;
}

static json_t *query(world_t *w, enum store_op op, json_t *params) {
  return chat_fx_query(w->f, op, params);
}

/* The owner's only instagram conversation (a new reference to its id). */
static json_t *the_conversation(world_t *w) {
  json_t *page = query(w, CONV_LIST, json_pack("{s:s, s:i}", "user_id", w->owner, "limit", 10));
  json_t *convs = json_object_get(page, "conversations");
  assert_int_equal(json_array_size(convs), 1);
  json_t *c = json_array_get(convs, 0);
  assert_string_equal(json_string_value(json_object_get(c, "type")), "instagram");
  json_t *id = json_incref(json_object_get(c, "id"));
  json_decref(page);
  return id;
}

/* The conversation's messages, oldest first (a new reference). */
static json_t *messages(world_t *w) {
  json_t *conv = the_conversation(w);
  json_t *page = query(
      w, MSG_LIST,
      json_pack("{s:o, s:s, s:i}", "conversation_id", conv, "user_id", w->owner, "limit", 50));
  json_t *msgs = json_incref(json_object_get(page, "messages"));
  json_decref(page);
  return msgs;
}

static void a_message_becomes_contact_conversation_and_message(void **state) {
  world_t *w = *state;
  ws_session_t *s = fake_session_new(&w->f->app, w->owner);
  assert_int_equal(ig_fx_deliver_file(w->f, "message_text.json"), 1);

  json_t *contacts = query(w, CONTACT_LIST, json_pack("{s:s}", "owner_id", w->owner));
  json_t *c = json_array_get(json_object_get(contacts, "contacts"), 0);
  assert_int_equal(json_array_size(json_object_get(contacts, "contacts")), 1);
  assert_string_equal(json_string_value(json_object_get(c, "ig_user_id")), IG_FX_CONTACT);
  assert_non_null(json_string_value(json_object_get(c, "last_inbound_at")));
  json_decref(contacts);

  json_t *msgs = messages(w);
  assert_int_equal(json_array_size(msgs), 1);
  json_t *m = json_array_get(msgs, 0);
  assert_string_equal(json_string_value(json_object_get(m, "text")),
                      "Hi! What is the price of the blue mug?");
  assert_string_equal(json_string_value(json_object_get(m, "sender_id")), "ig:" IG_FX_CONTACT);
  assert_string_equal(json_string_value(json_object_get(m, "source")), "instagram");
  json_decref(msgs);

  /* The owner's session heard of the conversation, then of the message (the
   * rename after the profile fetch may come before or after it). */
  json_t *fr = fake_next(s);
  assert_string_equal(json_string_value(json_object_get(fr, "type")), "conversation.updated");
  json_decref(fr);
  int news = 0;
  while ((fr = fake_next(s))) {
    news += strcmp(json_string_value(json_object_get(fr, "type")), "message.new") == 0;
    json_decref(fr);
  }
  assert_int_equal(news, 1);
  assert_int_equal(w->hook_calls, 1);
  assert_string_equal(w->hook_text, "Hi! What is the price of the blue mug?");
  fake_session_free(s);
}

static void the_same_mid_twice_adds_nothing(void **state) {
  world_t *w = *state;
  char *body = ig_fx_read("message_text.json");
  assert_int_equal(ig_fx_deliver(w->f, body), 1);
  assert_int_equal(ig_fx_deliver(w->f, body), 0); /* Meta's retry */
  free(body);
  json_t *msgs = messages(w);
  assert_int_equal(json_array_size(msgs), 1);
  json_decref(msgs);
  assert_int_equal(w->hook_calls, 1);
  /* Nothing is left pending. */
  json_t *pending = query(w, EVENT_LIST_PENDING, json_pack("{s:i}", "limit", 10));
  assert_int_equal(json_array_size(json_object_get(pending, "events")), 0);
  json_decref(pending);
}

static void on_stored(void *ctx, const ig_stored_t *st) {
  ig_stored_t *out = ctx;
  out->status = st->status;
  out->message = json_incref(st->message);
}

/* The next frame of s that is not presence, checked for type (a new reference). */
static json_t *frame(ws_session_t *s, const char *type) {
  json_t *fr = fake_next(s);
  if (!fr) fail_msg("no %s frame", type);
  assert_string_equal(json_string_value(json_object_get(fr, "type")), type);
  return fr;
}

/* The owner's reply went out through Graph (stored with Graph's mid); its echo,
 * the contact's reaction to it and their read marker follow. */
static void echo_reaction_and_read_reach_the_sent_message(void **state) {
  world_t *w = *state;
  ig_fx_deliver_file(w->f, "message_text.json");
  json_t *account = query(w, IG_ACCOUNT_GET, json_pack("{s:s}", "user_id", w->owner));
  json_t *contact = query(
      w, CONTACT_GET, json_pack("{s:s, s:s}", "owner_id", w->owner, "ig_user_id", IG_FX_CONTACT));
  /* The mid of the echo fixture, which the reaction and read fixtures name. */
  const char *mid =
      "aWdfZAG1faXRlbToxOklHTWVzc2FnZAUlEOjE3ODQxNDAwMDAwMDAwMDAxOjAwMDAwMDAwMDAwMDAwMD"
      "AwMDAwMDAwMDAwMDAwMDM";
  ig_stored_t got = {-1, NULL, NULL};
  ig_ingest_store_outgoing(w->f->app.ingest, account, contact, "The blue mug is 12 EUR.", mid, NULL,
                           NULL, "instagram", NULL, on_stored, &got);
  ig_fx_settle(w->f);
  json_decref(account);
  json_decref(contact);
  assert_int_equal(got.status, STORE_OK);
  assert_string_equal(json_string_value(json_object_get(got.message, "sender_id")), w->owner);
  json_int_t seq = json_integer_value(json_object_get(got.message, "seq"));
  assert_int_equal(seq, 2);
  json_decref(got.message);

  ws_session_t *s = fake_session_new(&w->f->app, w->owner);
  assert_int_equal(ig_fx_deliver_file(w->f, "message_echo.json"), 1);
  json_t *msgs = messages(w);
  assert_int_equal(json_array_size(msgs), 2); /* the echo is the message already kept */
  json_decref(msgs);
  assert_int_equal(fake_pending(s), 0);
  assert_int_equal(w->hook_calls, 1); /* echoes run no flows */

  ig_fx_deliver_file(w->f, "reaction.json");
  json_t *fr = frame(s, "message.updated");
  json_t *reactions = json_object_get(json_object_get(fr, "message"), "reactions");
  assert_int_equal(json_array_size(reactions), 1);
  json_t *r = json_array_get(reactions, 0);
  assert_string_equal(json_string_value(json_object_get(r, "emoji")), "\xe2\x9d\xa4");
  assert_string_equal(json_string_value(json_array_get(json_object_get(r, "user_ids"), 0)),
                      "ig:" IG_FX_CONTACT);
  json_decref(fr);

  ig_fx_deliver_file(w->f, "seen.json");
  fr = frame(s, "read");
  assert_string_equal(json_string_value(json_object_get(fr, "user_id")), "ig:" IG_FX_CONTACT);
  assert_int_equal(json_integer_value(json_object_get(fr, "seq")), seq);
  json_decref(fr);
  fake_session_free(s);
}

static void events_of_unknown_accounts_are_dropped(void **state) {
  world_t *w = *state;
  char *body = ig_fx_read("message_text.json");
  char *at = strstr(body, IG_FX_ACCOUNT);
  assert_non_null(at);
  at[strlen(IG_FX_ACCOUNT) - 1] = '9'; /* entry id: an account nobody connected */
  char *again = strstr(at + 1, IG_FX_ACCOUNT);
  if (again) again[strlen(IG_FX_ACCOUNT) - 1] = '9';
  assert_int_equal(ig_fx_deliver(w->f, body), 1);
  free(body);
  json_t *page = query(w, CONV_LIST, json_pack("{s:s, s:i}", "user_id", w->owner, "limit", 10));
  assert_int_equal(json_array_size(json_object_get(page, "conversations")), 0);
  json_decref(page);
  json_t *pending = query(w, EVENT_LIST_PENDING, json_pack("{s:i}", "limit", 10));
  assert_int_equal(json_array_size(json_object_get(pending, "events")), 0); /* processed */
  json_decref(pending);
  assert_int_equal(w->hook_calls, 0);
}

/* The first message fetches the contact's profile (off the event's way); the
 * conversation takes the name, the flow hook sees the username, and a later
 * message within the day fetches nothing. */
static void the_profile_names_contact_and_conversation(void **state) {
  world_t *w = *state;
  ws_session_t *s = fake_session_new(&w->f->app, w->owner);
  assert_int_equal(ig_fx_deliver_file(w->f, "message_text.json"), 1);
  const httpc_fake_req_t *r = httpc_fake_request(w->f->app.http, 0);
  assert_non_null(r);
  assert_string_equal(r->method, "GET");
  assert_string_equal(
      r->url, "https://graph.test/v21.0/" IG_FX_CONTACT "?fields=name,username,profile_pic");
  assert_string_equal(r->auth, "Bearer " IG_FX_TOKEN);
  json_t *c = query(w, CONTACT_GET,
                    json_pack("{s:s, s:s}", "owner_id", w->owner, "ig_user_id", IG_FX_CONTACT));
  assert_string_equal(json_string_value(json_object_get(c, "name")), "Mia Rossi");
  assert_string_equal(json_string_value(json_object_get(c, "profile_pic")), "https://x/p.jpg");
  json_decref(c);
  json_t *page = query(w, CONV_LIST, json_pack("{s:s, s:i}", "user_id", w->owner, "limit", 10));
  json_t *conv = json_array_get(json_object_get(page, "conversations"), 0);
  assert_string_equal(json_string_value(json_object_get(conv, "name")), "Mia Rossi");
  assert_string_equal(
      json_string_value(json_object_get(json_object_get(conv, "contact"), "username")),
      "mia.rossi");
  json_decref(page);
  assert_int_equal(w->hook_calls, 1);
  assert_string_equal(w->hook_username, "mia.rossi"); /* the flow waited for the profile */
  /* Created under the IGSID, renamed live once the profile is stored. */
  const char *names[2] = {IG_FX_CONTACT, "Mia Rossi"};
  int n = 0;
  json_t *fr;
  while ((fr = fake_next(s))) {
    if (strcmp(json_string_value(json_object_get(fr, "type")), "conversation.updated") == 0) {
      assert_true(n < 2);
      assert_string_equal(
          json_string_value(json_object_get(json_object_get(fr, "conversation"), "name")),
          names[n++]);
    }
    json_decref(fr);
  }
  assert_int_equal(n, 2);
  assert_int_equal(ig_fx_deliver_file(w->f, "quick_reply.json"), 1);
  assert_null(httpc_fake_request(w->f->app.http, 1)); /* cached for a day */
  assert_int_equal(w->hook_calls, 2);
  assert_string_equal(w->hook_text, "CATEGORY_BAGS"); /* flows get the payload */
  fake_session_free(s);
}

/* A failed fetch stores nothing and holds nothing up; the next message retries. */
static void a_failed_profile_fetch_is_retried_by_the_next_message(void **state) {
  world_t *w = *state;
  httpc_t *h = w->f->app.http;
  h->nscript = h->scripted; /* drop the setup's answer: Graph fails twice (one retry) */
  httpc_fake_script(h, 500, "{\"error\":{\"message\":\"boom\",\"code\":2}}", NULL);
  httpc_fake_script(h, 500, "{\"error\":{\"message\":\"boom\",\"code\":2}}", NULL);
  assert_int_equal(ig_fx_deliver_file(w->f, "message_text.json"), 1);
  assert_non_null(httpc_fake_request(h, 1));
  json_t *msgs = messages(w);
  assert_int_equal(json_array_size(msgs), 1); /* stored anyway */
  json_decref(msgs);
  assert_int_equal(w->hook_calls, 1); /* and flows ran, without a username */
  assert_string_equal(w->hook_username, "(none)");
  json_t *c = query(w, CONTACT_GET,
                    json_pack("{s:s, s:s}", "owner_id", w->owner, "ig_user_id", IG_FX_CONTACT));
  assert_true(json_is_null(json_object_get(c, "name")));
  json_decref(c);
  httpc_fake_script(h, 200, PROFILE_JSON, NULL);
  assert_int_equal(ig_fx_deliver_file(w->f, "postback.json"), 1);
  assert_non_null(httpc_fake_request(h, 2));
  c = query(w, CONTACT_GET,
            json_pack("{s:s, s:s}", "owner_id", w->owner, "ig_user_id", IG_FX_CONTACT));
  assert_string_equal(json_string_value(json_object_get(c, "name")), "Mia Rossi");
  json_decref(c);
  assert_string_equal(w->hook_text, "CATEGORY_SHOES");
}

/* An unsend carries the mid of the message it unsends: it is not a duplicate
 * of it, deletes it live, and an edit before it changed the text. */
static void edit_and_unsend_change_the_message(void **state) {
  world_t *w = *state;
  assert_int_equal(ig_fx_deliver_file(w->f, "message_text.json"), 1);
  ws_session_t *s = fake_session_new(&w->f->app, w->owner);
  assert_int_equal(ig_fx_deliver_file(w->f, "message_edit.json"), 1);
  json_t *fr = frame(s, "message.updated");
  assert_string_equal(json_string_value(json_object_get(json_object_get(fr, "message"), "text")),
                      "Hi! What is the price of the red mug?");
  json_decref(fr);
  assert_int_equal(ig_fx_deliver_file(w->f, "message_unsend.json"), 1);
  fr = frame(s, "message.updated");
  assert_true(json_is_true(json_object_get(json_object_get(fr, "message"), "deleted")));
  json_decref(fr);
  json_t *msgs = messages(w);
  assert_int_equal(json_array_size(msgs), 1);
  assert_true(json_is_null(json_object_get(json_array_get(msgs, 0), "text")));
  json_decref(msgs);
  assert_int_equal(w->hook_calls, 1); /* edits and unsends run no flows */
  fake_session_free(s);
}

/* Each trigger shape reaches flows with its kind: story reply and mention,
 * referral, a comment (stored with its comment attachment, no messaging
 * window opened), a quick reply as a postback. */
static void trigger_shapes_reach_flows_with_their_kind(void **state) {
  world_t *w = *state;
  static const struct {
    const char *file, *kind, *text, *extra;
  } cases[] = {
      {"story_reply.json", "story_reply", "Love this!", ""},
      {"story_mention.json", "story_mention", "(none)", ""},
      {"referral.json", "referral", "(none)", "spring_sale"},
      {"comment.json", "comment", "Price please? Send me the link", "17910000000000001"},
      {"quick_reply.json", "postback", "CATEGORY_BAGS", ""},
      {"message_text.json", "message", "Hi! What is the price of the blue mug?", ""},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    assert_int_equal(ig_fx_deliver_file(w->f, cases[i].file), 1);
    assert_int_equal(w->hook_calls, (int)i + 1);
    assert_string_equal(w->hook_kind, cases[i].kind);
    assert_string_equal(w->hook_text, cases[i].text);
    assert_string_equal(w->hook_extra, cases[i].extra);
    if (strcmp(cases[i].kind, "comment") == 0) {
      json_t *msgs = messages(w), *m, *att = NULL;
      size_t k;
      json_array_foreach(msgs, k, m) {
        const char *t = json_string_value(json_object_get(m, "text"));
        if (t && strcmp(t, cases[i].text) == 0)
          att = json_array_get(json_object_get(m, "attachments"), 0);
      }
      assert_non_null(att);
      assert_string_equal(json_string_value(json_object_get(att, "type")), "comment");
      assert_string_equal(json_string_value(json_object_get(att, "media_id")), "17900000000000001");
      json_decref(msgs);
      json_t *c = query(w, CONTACT_GET,
                        json_pack("{s:s, s:s}", "owner_id", w->owner, "ig_user_id", IG_FX_CONTACT));
      assert_non_null(c);
      json_decref(c);
    }
  }
  assert_int_equal(ig_fx_deliver_file(w->f, "comment.json"), 0); /* Meta's retry: a duplicate */
  assert_int_equal(w->hook_calls, 6);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(a_message_becomes_contact_conversation_and_message, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(trigger_shapes_reach_flows_with_their_kind, setup, teardown),
      cmocka_unit_test_setup_teardown(the_same_mid_twice_adds_nothing, setup, teardown),
      cmocka_unit_test_setup_teardown(echo_reaction_and_read_reach_the_sent_message, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(events_of_unknown_accounts_are_dropped, setup, teardown),
      cmocka_unit_test_setup_teardown(the_profile_names_contact_and_conversation, setup, teardown),
      cmocka_unit_test_setup_teardown(a_failed_profile_fetch_is_retried_by_the_next_message, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(edit_and_unsend_change_the_message, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
