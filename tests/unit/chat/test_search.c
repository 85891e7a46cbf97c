/* Message search's pure part (src/chat/search.c): query words folded as the
 * stores fold them, the bad queries API.md refuses, and snippets whose
 * highlights are code-point ranges over whole matching words, correct for
 * multi-byte UTF-8 and bounded in length. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "chat/search.h"
#include "parley/util.h"

static json_t *parse_ok(const char *q) {
  json_t *terms = NULL;
  assert_int_equal(search_parse(q, strlen(q), &terms), SEARCH_OK);
  assert_non_null(terms);
  return terms;
}

static void assert_terms(const char *q, const char *expected_json) {
  json_t *terms = parse_ok(q), *expected = json_loads(expected_json, 0, NULL);
  assert_non_null(expected);
  if (!json_equal(terms, expected)) {
    char *got = json_dumps(terms, 0);
    fail_msg("%s parsed as %s, not %s", q, got, expected_json);
  }
  json_decref(terms);
  json_decref(expected);
}

static void queries_fold_case_and_diacritics(void **state) {
  (void)state;
  assert_terms("Café", "[\"cafe\"]");
  assert_terms("  CAFÉ, café!  cafe ", "[\"cafe\"]");
  assert_terms("Crème brûlée", "[\"creme\", \"brulee\"]");
  assert_terms("ŁÓDŹ Straße", "[\"lodz\", \"straße\"]");
  assert_terms("ΚΑΦΈΣ Привет", "[\"καφεσ\", \"привет\"]");
  assert_terms("don't-stop_now", "[\"don\", \"t\", \"stop\", \"now\"]");
  assert_terms("日本語 テスト", "[\"日本語\", \"テスト\"]");
  /* An e followed by a combining acute accent is the word "e", as FTS5 reads it. */
  assert_terms("cafe\xcc\x81", "[\"cafe\"]");
  /* At most SEARCH_TERMS_MAX distinct words. */
  json_t *t = parse_ok("a b c d e f g h i j k l m n o p q r s t u v");
  assert_int_equal(json_array_size(t), SEARCH_TERMS_MAX);
  json_decref(t);
}

static void bad_queries_are_refused(void **state) {
  (void)state;
  json_t *terms = NULL;
  const char *noword[] = {"", "   ", "?!... ,;", "\xe2\x80\x94 \xc2\xbf \xe2\x80\xa6",
                          "\xf0\x9f\x98\x80\xe2\x9d\xa4\xef\xb8\x8f"};
  for (size_t i = 0; i < sizeof(noword) / sizeof(noword[0]); i++)
    assert_int_equal(search_parse(noword[i], strlen(noword[i]), &terms), SEARCH_ENOWORDS);
  char q[600];
  memset(q, 'a', 256);
  q[256] = '\0';
  json_t *ok = parse_ok(q);
  json_decref(ok);
  q[256] = 'a';
  q[257] = '\0';
  assert_int_equal(search_parse(q, 257, &terms), SEARCH_ETOOLONG);
  /* 256 two-byte characters are 256 characters, not 512. */
  for (int i = 0; i < 256; i++) memcpy(q + 2 * i, "\xc3\xa9", 2);
  ok = NULL;
  assert_int_equal(search_parse(q, 512, &ok), SEARCH_OK);
  json_decref(ok);
  assert_int_equal(search_parse("caf\xc3", 4, &terms), SEARCH_EUTF8);
  assert_int_equal(search_parse("a\0b", 3, &terms), SEARCH_EUTF8);
}

/* The substring of snippet text [start, end) in code points. */
static char *cp_slice(const char *s, json_int_t start, json_int_t end) {
  size_t len = strlen(s), i = 0, b0 = 0;
  json_int_t c = 0;
  while (i <= len) {
    if (c == start) b0 = i;
    if (c == end) break;
    i++;
    while (i < len && ((unsigned char)s[i] & 0xc0) == 0x80) i++;
    c++;
  }
  char *out = malloc(i - b0 + 1);
  memcpy(out, s + b0, i - b0);
  out[i - b0] = '\0';
  return out;
}

static void assert_highlights(json_t *snippet, const char *const *words, size_t n) {
  const char *text = json_string_value(json_object_get(snippet, "text"));
  json_t *hl = json_object_get(snippet, "highlights");
  assert_int_equal(json_array_size(hl), n);
  for (size_t i = 0; i < n; i++) {
    json_t *r = json_array_get(hl, i);
    char *got = cp_slice(text, json_integer_value(json_array_get(r, 0)),
                         json_integer_value(json_array_get(r, 1)));
    assert_string_equal(got, words[i]);
    free(got);
  }
}

static void short_texts_are_whole_with_code_point_ranges(void **state) {
  (void)state;
  json_t *terms = parse_ok("cafe CREME");
  json_t *s = search_snippet("Un café crème au Café de Flore, cafeteria non", terms);
  assert_string_equal(json_string_value(json_object_get(s, "text")),
                      "Un café crème au Café de Flore, cafeteria non");
  const char *words[] = {"café", "crème", "Café"};
  assert_highlights(s, words, 3);
  /* Code points, not bytes: "Un " is 3, "café" is 4 code points (5 bytes). */
  json_t *first = json_array_get(json_object_get(s, "highlights"), 0);
  assert_int_equal(json_integer_value(json_array_get(first, 0)), 3);
  assert_int_equal(json_integer_value(json_array_get(first, 1)), 7);
  json_t *second = json_array_get(json_object_get(s, "highlights"), 1);
  assert_int_equal(json_integer_value(json_array_get(second, 0)), 8);
  json_decref(s);
  /* Emoji (4 bytes, one code point) before a match shift it by one each. */
  s = search_snippet("\xf0\x9f\x98\x80\xf0\x9f\x98\x80 cafe", terms);
  first = json_array_get(json_object_get(s, "highlights"), 0);
  assert_int_equal(json_integer_value(json_array_get(first, 0)), 3);
  assert_int_equal(json_integer_value(json_array_get(first, 1)), 7);
  json_decref(s);
  s = search_snippet(NULL, terms);
  assert_string_equal(json_string_value(json_object_get(s, "text")), "");
  assert_int_equal(json_array_size(json_object_get(s, "highlights")), 0);
  json_decref(s);
  json_decref(terms);
}

static void long_texts_are_cut_around_the_first_match(void **state) {
  (void)state;
  json_t *terms = parse_ok("zèbre");
  char text[5000] = "";
  for (int i = 0; i < 100; i++) strcat(text, "é word ");
  strcat(text, "ZEBRE here ");
  for (int i = 0; i < 100; i++) strcat(text, "ünï more ");
  json_t *s = search_snippet(text, terms);
  const char *out = json_string_value(json_object_get(s, "text"));
  size_t cps = util_utf8_len(out, strlen(out));
  assert_true(cps <= SEARCH_SNIPPET_MAX + 2);
  assert_true(cps >= SEARCH_SNIPPET_MAX / 2);
  assert_memory_equal(out, "\xe2\x80\xa6", 3);                   /* cut before */
  assert_memory_equal(out + strlen(out) - 3, "\xe2\x80\xa6", 3); /* and after */
  const char *words[] = {"ZEBRE"};
  assert_highlights(s, words, 1);
  /* Cut between words: after the leading ellipsis comes a whole word. */
  assert_true(strncmp(out + 3, "é word", 7) == 0 || strncmp(out + 3, "word", 4) == 0 ||
              strncmp(out + 3, " ", 1) == 0);
  json_decref(s);

  /* A match in the last characters: the window ends with the text. */
  char tail[5000] = "";
  for (int i = 0; i < 300; i++) strcat(tail, "x ");
  strcat(tail, "zebre");
  s = search_snippet(tail, terms);
  out = json_string_value(json_object_get(s, "text"));
  assert_true(util_utf8_len(out, strlen(out)) <= SEARCH_SNIPPET_MAX + 1);
  assert_string_equal(out + strlen(out) - 5, "zebre");
  const char *last[] = {"zebre"};
  assert_highlights(s, last, 1);
  json_decref(s);

  /* No match found by the folding here: the start of the text, still bounded. */
  json_t *absent = json_pack("[s]", "absent");
  s = search_snippet(tail, absent);
  json_decref(absent);
  out = json_string_value(json_object_get(s, "text"));
  assert_true(util_utf8_len(out, strlen(out)) <= SEARCH_SNIPPET_MAX + 1);
  assert_memory_equal(out, "x x", 3);
  json_decref(s);
  json_decref(terms);
}

static void excluded_types_start_empty(void **state) {
  (void)state;
  json_t *t = search_excluded_types();
  assert_true(json_is_array(t));
  assert_int_equal(json_array_size(t), 0);
  json_decref(t);
  assert_int_equal(search_fold(0xc9), 'e');
  assert_int_equal(search_fold(0x17e), 'z');
  assert_int_equal(search_fold(0x152), 0x153);
  assert_false(search_is_word_char('_'));
  assert_true(search_is_word_char(0x65e5));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(queries_fold_case_and_diacritics),
      cmocka_unit_test(bad_queries_are_refused),
      cmocka_unit_test(short_texts_are_whole_with_code_point_ranges),
      cmocka_unit_test(long_texts_are_cut_around_the_first_match),
      cmocka_unit_test(excluded_types_start_empty),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
