/* Web Push's pure rules (src/push/rules.c): which endpoints a subscription
 * may name, who of a message's recipients is pushed (offline, not in
 * do-not-disturb, not muted), and what the payload carries (a cut preview,
 * none for secret chats or without previews, mentions). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "push/rules.h"

static void endpoints_are_https_unless_allowed(void **state) {
  (void)state;
  assert_null(push_endpoint_problem("https://fcm.googleapis.com/fcm/send/abc:def", ""));
  assert_null(push_endpoint_problem("https://[2001:db8::1]:8443/p", NULL));
  assert_string_equal(push_endpoint_problem("http://push.example/p", ""), "must be an https URL");
  assert_null(push_endpoint_problem("http://127.0.0.1:9000/p", "127.0.0.1:9000"));
  assert_non_null(push_endpoint_problem("http://127.0.0.1:9001/p", "127.0.0.1:9000"));
  assert_null(push_endpoint_problem("http://push.local/p", "push.local"));
  assert_non_null(push_endpoint_problem("ftp://push.example/p", NULL));
  assert_non_null(push_endpoint_problem("https://user:pw@push.example/p", NULL));
  assert_non_null(push_endpoint_problem("https://push.example/a b", NULL));
  assert_non_null(push_endpoint_problem("not a url", NULL));
  assert_non_null(push_endpoint_problem("", NULL));
  assert_non_null(push_endpoint_problem(NULL, NULL));
  char long_url[PUSH_ENDPOINT_MAX + 2];
  memset(long_url, 'a', sizeof(long_url));
  memcpy(long_url, "https://x.example/", 18);
  long_url[sizeof(long_url) - 1] = '\0';
  assert_non_null(push_endpoint_problem(long_url, NULL));
  long_url[PUSH_ENDPOINT_MAX] = '\0';
  assert_null(push_endpoint_problem(long_url, NULL));
}

static json_t *conv_with(const char *muted_until) {
  return json_pack("{s:s, s:s, s:s, s:[{s:s, s:s?}, {s:s}]}", "id", "c1", "type", "group", "name",
                   "Garden club", "participants", "id", "bob", "muted_until", muted_until, "id",
                   "ann");
}

static void only_offline_unmuted_users_not_in_dnd_are_pushed(void **state) {
  (void)state;
  int64_t now = 1800000000000; /* 2027-01-15T08:00:00.000Z */
  json_t *conv = conv_with(NULL);
  json_t *bob = json_pack("{s:s, s:s, s:b}", "id", "bob", "status", "online", "alive", 0);
  assert_true(push_wanted(bob, conv, now));
  json_object_set_new(bob, "alive", json_true());
  assert_false(push_wanted(bob, conv, now)); /* a session somewhere */
  json_object_set_new(bob, "alive", json_false());
  json_object_set_new(bob, "status", json_string("dnd"));
  assert_false(push_wanted(bob, conv, now));
  json_object_set_new(bob, "status", json_string("invisible"));
  assert_true(push_wanted(bob, conv, now)); /* hidden, not busy */
  json_decref(conv);
  conv = conv_with("2027-01-15T09:00:00.000Z");
  assert_false(push_wanted(bob, conv, now));
  json_decref(conv);
  conv = conv_with("2027-01-15T07:00:00.000Z"); /* a mute that ran out */
  assert_true(push_wanted(bob, conv, now));
  json_object_set_new(bob, "deleted", json_true());
  assert_false(push_wanted(bob, conv, now));
  json_decref(bob);
  json_decref(conv);
}

static void payloads_say_who_where_and_a_cut_preview(void **state) {
  (void)state;
  char text[400];
  memset(text, 'x', sizeof(text));
  memcpy(text, "\xc3\xa9t\xc3\xa9 ", 6); /* two-byte characters count once */
  text[sizeof(text) - 1] = '\0';
  json_t *msg = json_pack("{s:s, s:s, s:i, s:s, s:s, s:[s]}", "id", "m1", "conversation_id", "c1",
                          "seq", 7, "sender_id", "ann", "text", text, "mentions", "bob");
  json_t *conv = conv_with(NULL);
  json_t *p = push_payload(msg, conv, "Ann", "bob", 1);
  assert_string_equal(json_string_value(json_object_get(p, "title")), "Garden club");
  assert_string_equal(json_string_value(json_object_get(p, "sender_name")), "Ann");
  assert_string_equal(json_string_value(json_object_get(p, "conversation_id")), "c1");
  assert_int_equal(json_integer_value(json_object_get(p, "seq")), 7);
  assert_true(json_is_true(json_object_get(p, "mention")));
  const char *preview = json_string_value(json_object_get(p, "text"));
  assert_int_equal(strlen(preview), 6 + 116 + 3); /* 120 characters (4 in 6 bytes), an ellipsis */
  assert_memory_equal(preview, "\xc3\xa9t\xc3\xa9 x", 7);
  assert_string_equal(preview + strlen(preview) - 3, "\xe2\x80\xa6");
  json_decref(p);
  /* Another recipient is not mentioned; no preview when asked so. */
  p = push_payload(msg, conv, "Ann", "cat", 0);
  assert_true(json_is_false(json_object_get(p, "mention")));
  assert_null(json_object_get(p, "text"));
  json_decref(p);
  /* A direct conversation's title is the sender; a secret one's text never goes. */
  json_object_set_new(conv, "type", json_string("direct"));
  p = push_payload(msg, conv, "Ann", "bob", 1);
  assert_string_equal(json_string_value(json_object_get(p, "title")), "Ann");
  json_decref(p);
  json_object_set_new(conv, "type", json_string("secret"));
  p = push_payload(msg, conv, "Ann", "bob", 1);
  assert_null(json_object_get(p, "text"));
  assert_string_equal(json_string_value(json_object_get(p, "conversation_type")), "secret");
  json_decref(p);
  /* A short text goes whole. */
  json_object_set_new(conv, "type", json_string("group"));
  json_object_set_new(msg, "text", json_string("hi"));
  p = push_payload(msg, conv, "Ann", "bob", 1);
  assert_string_equal(json_string_value(json_object_get(p, "text")), "hi");
  json_decref(p);
  json_decref(msg);
  json_decref(conv);
}

static void a_payload_is_made_to_say_mention_and_nothing_else_changes(void **state) {
  (void)state;
  json_t *msg =
      json_pack("{s:s, s:s, s:i, s:s, s:s, s:[s]}", "id", "m1", "conversation_id", "c1", "seq", 7,
                "sender_id", "ann", "text", "caf\xc3\xa9 \"x\"", "mentions", "bob");
  json_t *conv = conv_with(NULL);
  json_t *plain = push_payload(msg, conv, "Ann", "cat", 1);
  json_t *mentioned = push_payload(msg, conv, "Ann", "cat", 1);
  json_object_set_new(mentioned, "mention", json_true());
  char *text = json_dumps(plain, JSON_COMPACT), *want = json_dumps(mentioned, JSON_COMPACT);
  char *got = push_payload_mentioning(text);
  assert_non_null(got);
  assert_string_equal(got, want); /* the same bytes, key order included */
  /* Already a mention, or not a payload: nothing to change. */
  assert_null(push_payload_mentioning(got));
  assert_null(push_payload_mentioning("{\"mention\":1}"));
  assert_null(push_payload_mentioning("not json"));
  assert_null(push_payload_mentioning(NULL));
  free(got);
  free(text);
  free(want);
  json_decref(plain);
  json_decref(mentioned);
  json_decref(msg);
  json_decref(conv);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(endpoints_are_https_unless_allowed),
      cmocka_unit_test(only_offline_unmuted_users_not_in_dnd_are_pushed),
      cmocka_unit_test(payloads_say_who_where_and_a_cut_preview),
      cmocka_unit_test(a_payload_is_made_to_say_mention_and_nothing_else_changes),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
