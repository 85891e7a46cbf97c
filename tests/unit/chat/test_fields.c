/* The message field rules shared by REST and WebSocket (src/chat/fields.c):
 * lengths in code points, not bytes; invalid UTF-8 and NUL refused; a send's
 * text and optional client_id. Pure. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "chat/fields.h"

static json_t *J(const char *text) {
  json_t *j = json_loads(text, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
  if (!j) fail_msg("bad JSON in test: %s", text);
  return j;
}

static int ok(const char *json, size_t min, size_t max) {
  json_t *v = J(json);
  int r = fields_string_ok(v, min, max);
  json_decref(v);
  return r;
}

static void strings_are_measured_in_code_points(void **state) {
  assert_true(ok("\"abc\"", 1, 3));
  assert_false(ok("\"abcd\"", 1, 3));
  assert_false(ok("\"\"", 1, 3));
  assert_true(ok("\"\"", 0, 3));
  /* Three code points, nine bytes. */
  assert_true(ok("\"\\u65e5\\u672c\\u8a9e\"", 1, 3));
  /* One code point beyond the BMP (a surrogate pair in JSON), four bytes. */
  assert_true(ok("\"\\ud83d\\ude00\"", 1, 1));
  assert_false(ok("7", 0, 10));
  assert_false(ok("null", 0, 10));
  assert_false(fields_string_ok(NULL, 0, 10));
  /* NUL inside a string would end it early in C. */
  assert_false(ok("\"a\\u0000b\"", 1, 10));
}

static void invalid_utf8_is_refused(void **state) {
  json_t *v = json_stringn_nocheck("\xff\xfe", 2);
  assert_false(fields_string_ok(v, 1, 10));
  json_decref(v);
}

static const char *check(const char *body) {
  json_t *b = J(body);
  const char *bad = fields_check_send(b);
  json_decref(b);
  return bad;
}

static void a_send_may_quote_and_mention_within_bounds(void **state) {
  assert_null(check("{\"text\":\"hi\",\"reply_to\":\"m1\",\"mentions\":[\"u1\",\"u2\"]}"));
  assert_null(check("{\"text\":\"hi\",\"reply_to\":null,\"mentions\":[]}"));
  assert_string_equal(check("{\"text\":\"hi\",\"reply_to\":5}"), "reply_to");
  assert_string_equal(check("{\"text\":\"hi\",\"reply_to\":\"\"}"), "reply_to");
  assert_string_equal(check("{\"text\":\"hi\",\"mentions\":\"u1\"}"), "mentions");
  assert_string_equal(check("{\"text\":\"hi\",\"mentions\":[\"u1\",\"u1\"]}"), "mentions");
  assert_string_equal(check("{\"text\":\"hi\",\"mentions\":[1]}"), "mentions");
  json_t *b = J("{\"text\":\"hi\"}"), *ids = json_array();
  for (int i = 0; i < FIELDS_MENTIONS_MAX; i++) json_array_append_new(ids, json_sprintf("u%d", i));
  json_object_set_new(b, "mentions", ids);
  assert_null(fields_check_send(b));
  json_array_append_new(ids, json_string("one-too-many"));
  assert_string_equal(fields_check_send(b), "mentions");
  assert_true(fields_has_reply(b));
  json_decref(b);
}

static void a_send_needs_text_and_may_have_a_client_id(void **state) {
  assert_null(check("{\"text\":\"hi\"}"));
  assert_null(check("{\"text\":\"hi\",\"client_id\":\"c-1\"}"));
  assert_null(check("{\"text\":\"hi\",\"client_id\":null}"));
  assert_string_equal(check("{}"), "text");
  assert_string_equal(check("{\"text\":\"\"}"), "text");
  assert_string_equal(check("{\"text\":[\"hi\"]}"), "text");
  assert_string_equal(check("{\"text\":\"hi\",\"client_id\":\"\"}"), "client_id");
  assert_string_equal(check("{\"text\":\"hi\",\"client_id\":5}"), "client_id");
  /* The bounds themselves. */
  size_t n = FIELDS_TEXT_MAX;
  char *body = malloc(n + 32);
  memcpy(body, "{\"text\":\"", 9);
  memset(body + 9, 'x', n);
  strcpy(body + 9 + n, "\"}");
  assert_null(check(body));
  memset(body + 9, 'x', n + 1);
  strcpy(body + 9 + n + 1, "\"}");
  assert_string_equal(check(body), "text");
  free(body);
  char cid[FIELDS_CLIENT_ID_MAX + 64];
  snprintf(cid, sizeof(cid), "{\"text\":\"x\",\"client_id\":\"%0*d\"}", FIELDS_CLIENT_ID_MAX + 1,
           0);
  assert_string_equal(check(cid), "client_id");
}

static void a_send_may_carry_files_and_then_no_text(void **state) {
  assert_null(check("{\"attachment_ids\":[\"a1\",\"a2\"]}"));
  assert_null(check("{\"text\":null,\"attachment_ids\":[\"a1\"]}"));
  assert_null(check("{\"text\":\"look\",\"attachment_ids\":[\"a1\"]}"));
  assert_null(check("{\"text\":\"hi\",\"attachment_ids\":null}"));
  /* No file: text is needed as before; a present text must still be valid. */
  assert_string_equal(check("{\"attachment_ids\":[]}"), "text");
  assert_string_equal(check("{\"text\":\"\",\"attachment_ids\":[\"a1\"]}"), "text");
  assert_string_equal(check("{\"text\":\"x\",\"attachment_ids\":\"a1\"}"), "attachment_ids");
  assert_string_equal(check("{\"text\":\"x\",\"attachment_ids\":[1]}"), "attachment_ids");
  assert_string_equal(check("{\"attachment_ids\":[\"a1\",\"a1\"]}"), "attachment_ids");
  json_t *b = J("{}"), *ids = json_array();
  for (int i = 0; i < FIELDS_ATTACHMENTS_MAX; i++)
    json_array_append_new(ids, json_sprintf("a%d", i));
  json_object_set_new(b, "attachment_ids", ids);
  assert_null(fields_check_send(b));
  assert_true(fields_has_attachments(b));
  json_array_append_new(ids, json_string("one-too-many"));
  assert_string_equal(fields_check_send(b), "attachment_ids");
  json_decref(b);
}

static void a_secret_send_carries_only_ciphertexts(void **state) {
  assert_null(check("{\"ciphertexts\": {\"6b10a1\": \"QUJD-_x\"}, \"client_id\": \"c\"}"));
  assert_string_equal(check("{\"ciphertexts\": {}}"), "ciphertexts");
  assert_string_equal(check("{\"ciphertexts\": []}"), "ciphertexts");
  assert_string_equal(check("{\"ciphertexts\": {\"d\": \"QUJD=\"}}"), "ciphertexts");
  assert_string_equal(check("{\"ciphertexts\": {\"d\": \"\"}}"), "ciphertexts");
  assert_string_equal(check("{\"ciphertexts\": {\"d\": 1}}"), "ciphertexts");
  /* Keys are ids: never an operator or a dotted path in a store. */
  assert_string_equal(check("{\"ciphertexts\": {\"$set\": \"QUJD\"}}"), "ciphertexts");
  assert_string_equal(check("{\"ciphertexts\": {\"a.b\": \"QUJD\"}}"), "ciphertexts");
  /* Nothing readable beside them. */
  assert_string_equal(check("{\"ciphertexts\": {\"d\": \"QUJD\"}, \"text\": \"hi\"}"), "text");
  assert_null(check("{\"ciphertexts\": {\"d\": \"QUJD\"}, \"text\": null}"));
  assert_string_equal(check("{\"ciphertexts\": {\"d\": \"QUJD\"}, \"mentions\": [\"u\"]}"),
                      "mentions");
  assert_string_equal(check("{\"ciphertexts\": {\"d\": \"QUJD\"}, \"reply_to\": \"m\"}"),
                      "reply_to");
  assert_string_equal(check("{\"ciphertexts\": {\"d\": \"QUJD\"}, \"attachment_ids\": [\"f\"]}"),
                      "attachment_ids");
  assert_string_equal(check("{\"ciphertexts\": {\"d\": \"QUJD\"}, \"client_id\": 5}"), "client_id");
  /* Bounds: entries and each ciphertext's length. */
  json_t *b = json_pack("{s:{}}", "ciphertexts"), *cts = json_object_get(b, "ciphertexts");
  for (int i = 0; i < FIELDS_CIPHERTEXTS_MAX; i++) {
    char k[8];
    snprintf(k, sizeof(k), "d%d", i);
    json_object_set_new(cts, k, json_string("QUJD"));
  }
  assert_null(fields_check_send(b));
  json_object_set_new(cts, "one-more", json_string("QUJD"));
  assert_string_equal(fields_check_send(b), "ciphertexts");
  json_object_clear(cts);
  char *big = malloc(FIELDS_CIPHERTEXT_MAX + 2);
  memset(big, 'A', FIELDS_CIPHERTEXT_MAX);
  big[FIELDS_CIPHERTEXT_MAX] = 0;
  json_object_set_new(cts, "d", json_string(big));
  assert_null(fields_check_send(b));
  strcat(big, "A");
  json_object_set_new(cts, "d", json_string(big));
  assert_string_equal(fields_check_send(b), "ciphertexts");
  free(big);
  json_decref(b);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(strings_are_measured_in_code_points),
      cmocka_unit_test(invalid_utf8_is_refused),
      cmocka_unit_test(a_send_needs_text_and_may_have_a_client_id),
      cmocka_unit_test(a_send_may_quote_and_mention_within_bounds),
      cmocka_unit_test(a_send_may_carry_files_and_then_no_text),
      cmocka_unit_test(a_secret_send_carries_only_ciphertexts),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
