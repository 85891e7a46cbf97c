/* json_in (src/util/json_in.c): whatever the text, the value (or the refusal)
 * is jansson's json_loadb's, whether read directly or handed over. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "parley/json_in.h"

static void same_flags(const char *text, size_t flags) {
  json_error_t e1, e2;
  size_t len = strlen(text);
  json_t *want = json_loadb(text, len, flags, &e1);
  json_t *got = flags ? json_in_loadb_flags(text, len, flags, &e2) : json_in_loadb(text, len, &e2);
  if (!want) {
    assert_null(got);
    assert_string_equal(e1.text, e2.text);
    return;
  }
  assert_non_null(got);
  char *a = json_dumps(want, JSON_COMPACT), *b = json_dumps(got, JSON_COMPACT);
  assert_string_equal(a, b);
  assert_true(json_equal(want, got));
  free(a);
  free(b);
  json_decref(want);
  json_decref(got);
}

/* Both ways a WebSocket frame and a webhook are read. */
static void same(const char *text) {
  same_flags(text, 0);
  same_flags(text, JSON_REJECT_DUPLICATES);
}

/* A repeated key, at the top or nested, is refused with JSON_REJECT_DUPLICATES
 * (jansson's error); without one, nothing is handed over. */
static void duplicates(void **state) {
  (void)state;
  static const char *dup[] = {"{\"a\":1,\"a\":2}", "{\"x\":{\"a\":1,\"b\":2,\"a\":3}}",
                              "[{\"\":1,\"\":1}]"};
  for (size_t i = 0; i < sizeof(dup) / sizeof(dup[0]); i++) {
    json_error_t e;
    assert_null(json_in_loadb_flags(dup[i], strlen(dup[i]), JSON_REJECT_DUPLICATES, &e));
    same(dup[i]);
  }
  const char *frame =
      "{\"type\":\"message.send\",\"conversation_id\":\"c1\",\"text\":\"t=1\","
      "\"client_id\":\"k\",\"o\":{\"a\":1,\"b\":[{\"a\":2}]}}";
  unsigned long before = json_in_handed_over();
  json_t *v = json_in_loadb_flags(frame, strlen(frame), JSON_REJECT_DUPLICATES, NULL);
  assert_non_null(v);
  assert_int_equal(json_in_handed_over(), before);
  json_decref(v);
  same(frame);
}

static void the_common_case_and_everything_else(void **state) {
  (void)state;
  static const char *texts[] = {
      "{\"object\":\"instagram\",\"entry\":[{\"id\":\"1784\",\"time\":1764745000000,"
      "\"messaging\":[{\"sender\":{\"id\":\"65\"},\"message\":{\"mid\":\"m-1\",\"text\":\"Hi! "
      "(1)\",\"is_echo\":false,\"x\":null,\"y\":true}}]}]}",
      " \t\r\n{ \"a\" : [ 1 , -2 , 0 , -0 , [] , {} ] } \n",
      "[]",
      "{}",
      "[[[[[[[[[[]]]]]]]]]]",
      "{\"esc\":\"q\\\" b\\\\ s\\/ \\b\\f\\n\\r\\t\"}",
      "{\"a\":1,\"a\":2,\"b\":3}",
      "{\"\":\"\"}",
      "[\"\"]",                             /* the last of a key wins, in its place */
      "{\"u\":\"\\u00e9 \\ud83d\\ude00\"}", /* \u: jansson's */
      "{\"u\":\"\\u0000\"}",                /* refused by both */
      "{\"u\":\"\\ud83d\"}",                /* a lone surrogate: refused */
      "{\"t\":\"caf\xc3\xa9\"}",            /* UTF-8: jansson's */
      "{\"t\":\"\xff\"}",                   /* not UTF-8: refused */
      "{\"t\":\"a\x01\"}",                  /* a control character: refused */
      "{\"t\":\"del\x7f\"}",
      "{\"n\":1.5,\"m\":1e3,\"k\":-2E-2}", /* reals: jansson's */
      "{\"n\":123456789012345678}",
      "{\"n\":1234567890123456789}",
      "{\"n\":99999999999999999999}", /* too big: refused */
      "{\"n\":0123}",
      "{\"n\":-}",
      "{\"n\":- 1}",
      "{\"n\":+1}",
      "{\"n\":12abc}",
      "{\"a\":tru}",
      "{\"a\":nul}",
      "{\"a\":falsey}",
      "{\"a\":undefined}",
      "",
      "   ",
      "1",
      "\"s\"",
      "true",
      "null", /* not an object or an array: refused */
      "{}x",
      "{} {}",
      "[1,]",
      "[,1]",
      "{\"a\":1,}",
      "{\"a\" 1}",
      "{a:1}",
      "{\"a\":1",
      "[1",
      "[\"abc",
      "{\"a\":\"b\\",
      "{\"a\":\"b\\x\"}",
      "{\"a\"}",
      "{,}",
      "[:]",
      /* Plain strings are taken from the text itself; a string with an escape,
       * a control character or UTF-8 after plain bytes is copied from its start. */
      "{\"k\\n\":\"v\",\"caf\xc3\xa9\":{\"x\\t\":\"plain then \\\" quote\"}}",
      "{\"a\":\"plain then caf\xc3\xa9\",\"b\":\"plain then \x01\"}",
      "{\"a\":\"plain then \\u0041\"}",
      "{\"a\":\"unterminated plain",
      "{\"unterminated key",
  };
  for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) same(texts[i]);
  /* Long strings: the scratch grows past its first 256 bytes after a long plain
   * run, and a key past 255 bytes is jansson's, plain or not. */
  char big[2400];
  for (int esc = 0; esc < 2; esc++) {
    for (int keylen = 250; keylen <= 260; keylen += 5) {
      size_t n = 0;
      n += (size_t)snprintf(big + n, sizeof(big) - n, "{\"");
      for (int i = 0; i < keylen; i++) big[n++] = (char)('a' + i % 26);
      n += (size_t)snprintf(big + n, sizeof(big) - n, "\":\"");
      for (int i = 0; i < 1000; i++) big[n++] = (char)('A' + i % 26);
      if (esc) n += (size_t)snprintf(big + n, sizeof(big) - n, "\\n\\\"");
      for (int i = 0; i < 1000; i++) big[n++] = (char)('0' + i % 10);
      n += (size_t)snprintf(big + n, sizeof(big) - n, "\"}");
      big[n] = '\0';
      unsigned long before = json_in_handed_over();
      same(big);
      if (keylen < 256) assert_int_equal(json_in_handed_over(), before); /* read here */
    }
  }
}

static void deep_and_long(void **state) {
  (void)state;
  char text[8192];
  for (int depth = 30; depth <= 40; depth++) {
    size_t n = 0;
    for (int i = 0; i < depth; i++) text[n++] = '[';
    for (int i = 0; i < depth; i++) text[n++] = ']';
    text[n] = '\0';
    same(text);
  }
  /* Keys and strings past the scratch's first size and the key buffer. */
  for (int len = 250; len <= 1200; len += 475) {
    size_t n = (size_t)snprintf(text, sizeof(text), "{\"");
    for (int i = 0; i < len; i++) text[n++] = (char)('a' + i % 26);
    n += (size_t)snprintf(text + n, sizeof(text) - n, "\":\"");
    for (int i = 0; i < len; i++) text[n++] = (char)('A' + i % 26);
    snprintf(text + n, sizeof(text) - n, "\"}");
    same(text);
  }
}

/* Every prefix of a real body: each is refused by both, or read the same. */
static void every_prefix(void **state) {
  (void)state;
  const char *body =
      "{\"object\":\"instagram\",\"entry\":[{\"id\":\"17841400000000001\",\"time\":17,"
      "\"messaging\":[{\"sender\":{\"id\":\"65\"},\"recipient\":{\"id\":\"1784\"},"
      "\"timestamp\":-17,\"message\":{\"mid\":\"m\\\"1\",\"text\":\"a\\nb\"}}]}]}";
  char text[512];
  for (size_t n = 0; n <= strlen(body); n++) {
    memcpy(text, body, n);
    text[n] = '\0';
    same(text);
  }
}

/* UTF-8 in strings and keys is read here when it is valid as jansson checks
 * it (nothing handed over), and every invalid form is handed over and
 * refused as jansson refuses it. */
static void utf8(void **state) {
  (void)state;
  static const char *valid[] = {
      "{\"t\":\"caf\xc3\xa9 cr\xc3\xa8me \xe2\x82\xac 5\"}",
      "{\"t\":\"\xf0\x9f\x98\x80\xf0\x9f\x91\x8d\xf0\x9f\x8f\xbd\"}", /* emoji, a modifier */
      "{\"t\":\"\xc2\x80\xdf\xbf\xe0\xa0\x80\xef\xbf\xbf\xf0\x90\x80\x80\xf4\x8f\xbf\xbf\"}",
      "{\"t\":\"\xed\x9f\xbf\xee\x80\x80\"}", /* either side of the surrogates */
      "{\"\xd0\xba\xd0\xbb\xd1\x8e\xd1\x87\":\"\xe4\xb8\xad\xe6\x96\x87\\n\"}", /* a key */
      "[\"\xe2\x9d\xa4\",\"a\\\"\xc3\xa9\\\"b\",\"\x7f\"]",
  };
  static const char *invalid[] = {
      "{\"t\":\"\xc0\x80\"}",
      "{\"t\":\"\xc1\xbf\"}", /* overlong 2 */
      "{\"t\":\"\xe0\x80\x80\"}",
      "{\"t\":\"\xe0\x9f\xbf\"}", /* overlong 3 */
      "{\"t\":\"\xf0\x80\x80\x80\"}",
      "{\"t\":\"\xf0\x8f\xbf\xbf\"}", /* overlong 4 */
      "{\"t\":\"\xed\xa0\x80\"}",
      "{\"t\":\"\xed\xbf\xbf\"}", /* surrogates */
      "{\"t\":\"\xf4\x90\x80\x80\"}",
      "{\"t\":\"\xf5\x80\x80\x80\"}", /* past U+10FFFF */
      "{\"t\":\"\xf8\x88\x80\x80\x80\"}",
      "{\"t\":\"\xff\"}",
      "{\"t\":\"\x80\"}",
      "{\"t\":\"a\xbf\"}", /* lone continuations */
      "{\"t\":\"\xc3\"}",
      "{\"t\":\"\xe2\x82\"}", /* cut by the quote */
      "{\"t\":\"\xc3(\"}",
      "{\"t\":\"\xe2\x28\xa1\"}", /* not continued */
      "{\"t\":\"\xf0\x9f\x98",
      "{\"t\":\"\xf0", /* cut by the end */
      "{\"\xc3\":1}",
      "[\xc3\xa9]", /* a key; outside strings */
  };
  for (size_t i = 0; i < sizeof(valid) / sizeof(valid[0]); i++) {
    unsigned long before = json_in_handed_over();
    same(valid[i]); /* its own json_loadb is not counted: only json_in_loadb's */
    assert_int_equal(json_in_handed_over(), before);
  }
  for (size_t i = 0; i < sizeof(invalid) / sizeof(invalid[0]); i++) {
    unsigned long before = json_in_handed_over();
    same(invalid[i]);
    assert_int_equal(json_in_handed_over(), before + 2); /* once a way (same) */
  }
  /* Every prefix of a body with emoji: cut inside a sequence too. */
  const char *body = "{\"message\":{\"text\":\"Ol\xc3\xa1 \xf0\x9f\x98\x80 \xe2\x82\xac\"}}";
  char text[128];
  for (size_t n = 0; n <= strlen(body); n++) {
    memcpy(text, body, n);
    text[n] = '\0';
    same(text);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(utf8),          cmocka_unit_test(the_common_case_and_everything_else),
      cmocka_unit_test(deep_and_long), cmocka_unit_test(every_prefix),
      cmocka_unit_test(duplicates),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
