/* Instagram's pure parts: the webhook signature (good, wrong, missing prefix,
 * a body changed by one byte), every fixture parsed into events with the right
 * kinds and dedupe keys, the token cipher, and a send's text body. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "parley/instagram.h"

static char *read_fixture(const char *name, size_t *len) {
  char path[512];
  snprintf(path, sizeof(path), "%s/tests/fixtures/instagram/%s", PARLEY_SOURCE_DIR, name);
  FILE *f = fopen(path, "rb");
  assert_non_null(f);
  char *buf = malloc(65536);
  *len = fread(buf, 1, 65535, f);
  buf[*len] = '\0';
  fclose(f);
  return buf;
}

static void test_signature(void **state) {
  (void)state;
  const char *body = "{\"object\":\"instagram\"}";
  assert_false(ig_signature_valid("s3cret", NULL, body, strlen(body)));
  assert_false(ig_signature_valid("s3cret", "", body, strlen(body)));
  assert_false(ig_signature_valid("s3cret", "sha256=zz", body, strlen(body)));
  assert_false(ig_signature_valid(NULL, "sha256=00", body, strlen(body)));
}

/* Computes a signature with the same primitive the check uses, through a
 * known-answer vector (RFC 4231 case 2) so the check itself is verified. */
static void test_signature_known_answer(void **state) {
  (void)state;
  const char *data = "what do ya want for nothing?";
  const char *hdr = "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843";
  assert_true(ig_signature_valid("Jefe", hdr, data, strlen(data)));
  const char *upper = "sha256=5BDCC146BF60754E6A042426089575C75A003F089D2739839DEC58B964EC3843";
  assert_true(ig_signature_valid("Jefe", upper, data, strlen(data)));
  assert_false(ig_signature_valid("Jefe", hdr + 7, data, strlen(data))); /* no prefix */
  assert_false(ig_signature_valid("jefe", hdr, data, strlen(data)));     /* wrong key */
  char changed[64];
  strcpy(changed, data);
  changed[0] = 'W';
  assert_false(ig_signature_valid("Jefe", hdr, changed, strlen(changed))); /* one byte */
}

/* The signer gives the pure check's answers, again and again on one context
 * (each check starts a new MAC under the same key). */
static void test_signer(void **state) {
  (void)state;
  assert_null(ig_signer_new(NULL));
  assert_false(ig_signer_valid(NULL, "sha256=00", "x", 1));
  ig_signer_t *s = ig_signer_new("Jefe");
  assert_non_null(s);
  const char *data = "what do ya want for nothing?";
  const char *hdr = "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843";
  char changed[64];
  strcpy(changed, data);
  changed[0] = 'W';
  for (int i = 0; i < 3; i++) {
    assert_true(ig_signer_valid(s, hdr, data, strlen(data)));
    assert_false(ig_signer_valid(s, hdr, changed, strlen(changed)));
    assert_false(ig_signer_valid(s, hdr + 7, data, strlen(data)));
    assert_false(ig_signer_valid(s, NULL, data, strlen(data)));
    assert_false(ig_signer_valid(s, "sha256=zz", data, strlen(data)));
  }
  ig_signer_free(s);
  s = ig_signer_new("jefe"); /* another key */
  assert_false(ig_signer_valid(s, hdr, data, strlen(data)));
  ig_signer_free(s);
}

static json_t *events_of(const char *fixture) {
  size_t len;
  char *text = read_fixture(fixture, &len);
  json_t *body = json_loadb(text, len, 0, NULL);
  free(text);
  assert_non_null(body);
  json_t *ev = ig_webhook_events(body);
  json_decref(body);
  assert_non_null(ev);
  return ev;
}

static void test_fixtures(void **state) {
  (void)state;
  json_t *ev = events_of("message_text.json");
  assert_int_equal(json_array_size(ev), 1);
  json_t *p = json_object_get(json_array_get(ev, 0), "payload");
  assert_int_equal(ig_event_kind(p), IG_EV_MESSAGE);
  assert_string_equal(json_string_value(json_object_get(p, "contact_id")), "6543210987654321");
  assert_string_equal(json_string_value(json_object_get(p, "account_id")), "17841400000000001");
  assert_string_equal(json_string_value(json_object_get(p, "text")),
                      "Hi! What is the price of the blue mug?");
  assert_string_equal(json_string_value(json_object_get(json_array_get(ev, 0), "mid")),
                      json_string_value(json_object_get(p, "mid")));
  assert_int_equal(json_integer_value(json_object_get(p, "timestamp_ms")), 1763719199000);
  json_decref(ev);

  ev = events_of("message_attachment.json");
  p = json_object_get(json_array_get(ev, 0), "payload");
  assert_int_equal(ig_event_kind(p), IG_EV_MESSAGE);
  assert_true(json_is_null(json_object_get(p, "text")));
  json_t *att = json_array_get(json_object_get(p, "attachments"), 0);
  assert_string_equal(json_string_value(json_object_get(att, "type")), "image");
  assert_non_null(strstr(json_string_value(json_object_get(att, "url")), "lookaside.fbsbx.com"));
  json_decref(ev);

  ev = events_of("message_echo.json");
  p = json_object_get(json_array_get(ev, 0), "payload");
  assert_int_equal(ig_event_kind(p), IG_EV_ECHO);
  assert_string_equal(json_string_value(json_object_get(p, "contact_id")), "6543210987654321");
  json_decref(ev);

  ev = events_of("reaction.json");
  p = json_object_get(json_array_get(ev, 0), "payload");
  assert_int_equal(ig_event_kind(p), IG_EV_REACTION);
  assert_string_equal(json_string_value(json_object_get(p, "emoji")), "\xe2\x9d\xa4");
  assert_non_null(
      strstr(json_string_value(json_object_get(json_array_get(ev, 0), "mid")), "reaction:"));
  json_decref(ev);

  ev = events_of("seen.json");
  p = json_object_get(json_array_get(ev, 0), "payload");
  assert_int_equal(ig_event_kind(p), IG_EV_SEEN);
  json_decref(ev);

  ev = events_of("dashboard_test.json");
  assert_int_equal(json_array_size(ev), 1);
  p = json_object_get(json_array_get(ev, 0), "payload");
  assert_int_equal(ig_event_kind(p), IG_EV_OTHER);
  /* No id of its own: keyed by a digest of the change, so a retry is a duplicate. */
  const char *key = json_string_value(json_object_get(json_array_get(ev, 0), "mid"));
  assert_non_null(key);
  assert_int_equal(strlen(key), 4 + 64);
  assert_memory_equal(key, "raw:", 4);
  json_t *again = events_of("dashboard_test.json");
  assert_string_equal(json_string_value(json_object_get(json_array_get(again, 0), "mid")), key);
  json_decref(again);
  json_decref(ev);
}

static const char *key_of(json_t *ev) {
  return json_string_value(json_object_get(json_array_get(ev, 0), "mid"));
}

static json_t *payload_of(json_t *ev) { return json_object_get(json_array_get(ev, 0), "payload"); }

/* The other shapes: an unsend and an edit carry the original mid but are keyed
 * apart from it (and from each other); every kind gets its fields. */
static void test_more_shapes(void **state) {
  (void)state;
  json_t *text = events_of("message_text.json"), *unsend = events_of("message_unsend.json"),
         *edit = events_of("message_edit.json");
  assert_int_equal(ig_event_kind(payload_of(unsend)), IG_EV_UNSEND);
  assert_int_equal(ig_event_kind(payload_of(edit)), IG_EV_EDIT);
  const char *mid = json_string_value(json_object_get(payload_of(text), "mid"));
  assert_string_equal(json_string_value(json_object_get(payload_of(unsend), "mid")), mid);
  assert_string_equal(json_string_value(json_object_get(payload_of(edit), "mid")), mid);
  assert_string_not_equal(key_of(unsend), key_of(text));
  assert_string_not_equal(key_of(edit), key_of(text));
  assert_string_not_equal(key_of(edit), key_of(unsend));
  assert_false(json_is_true(json_object_get(payload_of(unsend), "echo")));
  assert_string_equal(json_string_value(json_object_get(payload_of(edit), "text")),
                      "Hi! What is the price of the red mug?");
  json_decref(text);
  json_decref(unsend);
  json_decref(edit);

  json_t *ev = events_of("postback.json");
  json_t *p = payload_of(ev);
  assert_int_equal(ig_event_kind(p), IG_EV_POSTBACK);
  assert_string_equal(json_string_value(json_object_get(p, "title")), "Shoes");
  assert_string_equal(json_string_value(json_object_get(p, "payload")), "CATEGORY_SHOES");
  json_decref(ev);

  ev = events_of("quick_reply.json");
  p = payload_of(ev);
  assert_int_equal(ig_event_kind(p), IG_EV_MESSAGE);
  assert_string_equal(json_string_value(json_object_get(p, "quick_reply")), "CATEGORY_BAGS");
  json_decref(ev);

  ev = events_of("referral.json");
  p = payload_of(ev);
  assert_int_equal(ig_event_kind(p), IG_EV_REFERRAL);
  assert_string_equal(json_string_value(json_object_get(json_object_get(p, "referral"), "ref")),
                      "spring_sale");
  assert_memory_equal(key_of(ev), "raw:", 4);
  json_decref(ev);

  ev = events_of("story_reply.json");
  json_t *att = json_array_get(json_object_get(payload_of(ev), "attachments"), 0);
  assert_string_equal(json_string_value(json_object_get(att, "type")), "story_reply");
  assert_string_equal(json_string_value(json_object_get(att, "story_id")), "17890000000000002");
  json_decref(ev);

  ev = events_of("unreaction.json");
  p = payload_of(ev);
  assert_int_equal(ig_event_kind(p), IG_EV_UNREACTION);
  assert_true(json_is_null(json_object_get(p, "emoji")));
  json_decref(ev);

  ev = events_of("unsupported.json");
  p = payload_of(ev);
  assert_int_equal(ig_event_kind(p), IG_EV_OTHER);
  assert_string_equal(json_string_value(json_object_get(p, "raw_type")), "message_reactions_v2");
  assert_string_equal(json_string_value(json_object_get(p, "contact_id")), "6543210987654321");
  json_decref(ev);

  /* A comment by someone else is a comment event, a trigger of flows. */
  ev = events_of("comment.json");
  p = payload_of(ev);
  assert_int_equal(ig_event_kind(p), IG_EV_COMMENT);
  assert_string_equal(json_string_value(json_object_get(p, "contact_id")), "6543210987654321");
  assert_string_equal(json_string_value(json_object_get(p, "comment_id")), "17910000000000001");
  assert_string_equal(json_string_value(json_object_get(p, "media_id")), "17900000000000001");
  assert_string_equal(json_string_value(json_object_get(p, "text")),
                      "Price please? Send me the link");
  json_decref(ev);
}

static void test_bad_shapes(void **state) {
  (void)state;
  json_t *b = json_loads("[1,2]", 0, NULL);
  assert_null(ig_webhook_events(b));
  json_decref(b);
  b = json_loads("{\"object\":\"instagram\",\"entry\":{}}", 0, NULL);
  assert_null(ig_webhook_events(b));
  json_decref(b);
  /* Items of the wrong types become "other" events, never a crash. */
  b = json_loads(
      "{\"entry\":[{\"id\":5,\"messaging\":[1,{\"sender\":7,\"message\":{\"mid\":3}}]}]}", 0, NULL);
  json_t *ev = ig_webhook_events(b);
  assert_int_equal(json_array_size(ev), 2);
  assert_int_equal(ig_event_kind(json_object_get(json_array_get(ev, 1), "payload")), IG_EV_OTHER);
  json_decref(ev);
  json_decref(b);
}

static void test_token_cipher(void **state) {
  (void)state;
  unsigned char key[32], other[32];
  memset(key, 7, sizeof(key));
  memset(other, 8, sizeof(other));
  char *sealed = ig_token_seal(key, "IGQVJ-secret-token");
  assert_non_null(sealed);
  assert_null(strstr(sealed, "secret"));
  char *opened = ig_token_open(key, sealed);
  assert_string_equal(opened, "IGQVJ-secret-token");
  free(opened);
  assert_null(ig_token_open(other, sealed));
  sealed[5] = sealed[5] == 'A' ? 'B' : 'A';
  assert_null(ig_token_open(key, sealed));
  assert_null(ig_token_open(key, "!!notbase64"));
  free(sealed);
}

/* The text body of a send is what json_dumps(JSON_COMPACT) writes for the
 * object json_pack built, byte for byte, and refuses what json_pack refused. */
static void test_text_body(void **state) {
  (void)state;
  const char *texts[] = {"Hi ana, the blue mug is 12 EUR.", "",
                         "quote \" back\\slash / tab\t nl\n cr\r \b\f \x01\x1f",
                         "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", "\x7f <>&'"};
  const char *tags[] = {NULL, "HUMAN_AGENT"};
  for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
    for (size_t t = 0; t < 2; t++) {
      json_t *body = json_pack("{s:{s:s}, s:{s:s}}", "recipient", "id", "6500000000000007",
                               "message", "text", texts[i]);
      assert_non_null(body);
      if (tags[t]) {
        json_object_set_new(body, "messaging_type", json_string("MESSAGE_TAG"));
        json_object_set_new(body, "tag", json_string(tags[t]));
      }
      char *want = json_dumps(body, JSON_COMPACT);
      char *got = graph_text_body("6500000000000007", texts[i], tags[t]);
      assert_non_null(got);
      assert_string_equal(got, want);
      free(want);
      free(got);
      json_decref(body);
    }
  }
  assert_null(graph_text_body(NULL, "x", NULL));
  assert_null(graph_text_body("1", NULL, NULL));
  assert_null(graph_text_body("1", "bad \xc3\x28 utf-8", NULL));
  assert_null(graph_text_body("\xed\xa0\x80", "surrogate", NULL));
  assert_null(json_pack("{s:s}", "text", "bad \xc3\x28 utf-8"));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_signature),    cmocka_unit_test(test_signature_known_answer),
      cmocka_unit_test(test_signer),       cmocka_unit_test(test_fixtures),
      cmocka_unit_test(test_more_shapes),  cmocka_unit_test(test_bad_shapes),
      cmocka_unit_test(test_token_cipher), cmocka_unit_test(test_text_body),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
