/* Pure helpers: UTF-8 validation, URL decoding, ISO-8601, hex, ids, buffers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "parley/buf.h"
#include "parley/util.h"

static void test_utf8(void **state) {
  (void)state;
  assert_true(util_utf8_valid("hello", 5));
  assert_true(util_utf8_valid("h\xc3\xa9llo \xf0\x9f\x98\x80", 11));
  assert_false(util_utf8_valid("\xc3", 1));             /* truncated */
  assert_false(util_utf8_valid("\xc0\xaf", 2));         /* overlong */
  assert_false(util_utf8_valid("\xed\xa0\x80", 3));     /* surrogate */
  assert_false(util_utf8_valid("\xf4\x90\x80\x80", 4)); /* above U+10FFFF */
  assert_false(util_utf8_valid("a\0b", 3));             /* NUL */
  assert_false(util_utf8_valid("\xe2\x82", 2));         /* truncated at the end */
  assert_int_equal(util_utf8_len("h\xc3\xa9\xf0\x9f\x98\x80", 7), 3);
}

static void test_url_decode(void **state) {
  (void)state;
  char out[32];
  assert_int_equal(util_url_decode("a%20b+c", 7, out, sizeof(out), 1), 5);
  assert_string_equal(out, "a b c");
  assert_int_equal(util_url_decode("a+b", 3, out, sizeof(out), 0), 3);
  assert_string_equal(out, "a+b");
  assert_int_equal(util_url_decode("%zz", 3, out, sizeof(out), 0), -1);
  assert_int_equal(util_url_decode("%2", 2, out, sizeof(out), 0), -1);
  assert_int_equal(util_url_decode("abcdef", 6, out, 4, 0), -1);
}

static void test_iso8601_round_trip(void **state) {
  (void)state;
  char s[32];
  util_iso8601(INT64_C(1795255200123), s);
  assert_string_equal(s, "2026-11-21T10:00:00.123Z");
  int64_t ms = 0;
  assert_int_equal(util_parse_iso8601(s, &ms), 0);
  assert_int_equal(ms, INT64_C(1795255200123));
  assert_int_equal(util_parse_iso8601("2026-11-21 10:00:00", &ms), -1);
}

static void test_hex_and_ids(void **state) {
  (void)state;
  unsigned char raw[3] = {0x00, 0xab, 0xff}, back[3];
  char hex[7];
  util_hex(raw, 3, hex);
  assert_string_equal(hex, "00abff");
  assert_int_equal(util_unhex(hex, back, 3), 0);
  assert_memory_equal(raw, back, 3);
  assert_int_equal(util_unhex("0g0000", back, 3), -1);
  char a[25], b[25];
  util_new_id(a);
  util_new_id(b);
  assert_int_equal(strlen(a), 24);
  assert_string_not_equal(a, b);
}

static void test_buf(void **state) {
  (void)state;
  buf_t b;
  buf_init(&b);
  for (int i = 0; i < 1000; i++) buf_printf(&b, "%d,", i);
  assert_true(b.len > 2000);
  assert_memory_equal(b.data, "0,1,2,", 6);
  buf_consume(&b, 2);
  assert_memory_equal(b.data, "1,2,", 4);
  char *s = buf_steal(&b);
  assert_int_equal(b.len, 0);
  assert_memory_equal(s, "1,2,", 4);
  free(s);
  buf_free(&b);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_utf8),
      cmocka_unit_test(test_url_decode),
      cmocka_unit_test(test_iso8601_round_trip),
      cmocka_unit_test(test_hex_and_ids),
      cmocka_unit_test(test_buf),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
