/* Pure helpers: UTF-8 validation, URL decoding, ISO-8601, hex, ids, buffers. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

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

/* util_utf8_valid as it was, a byte at a time: the reference for the fast path. */
static int utf8_bytewise(const unsigned char *s, size_t len) {
  size_t i = 0;
  while (i < len) {
    unsigned c = s[i];
    size_t n;
    uint32_t cp;
    if (c == 0) return 0;
    if (c < 0x80) {
      i++;
      continue;
    } else if ((c & 0xE0) == 0xC0) {
      n = 1;
      cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      n = 2;
      cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      n = 3;
      cp = c & 0x07;
    } else {
      return 0;
    }
    if (len - i <= n) return 0;
    for (size_t k = 1; k <= n; k++) {
      if ((s[i + k] & 0xC0) != 0x80) return 0;
      cp = cp << 6 | (s[i + k] & 0x3F);
    }
    if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000)) return 0;
    if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
    i += n + 1;
  }
  return 1;
}

/* Eight bytes at a time over ASCII: every break (a NUL, a high byte, a
 * sequence, a bad one, 0x7F and 0x01 next to them) at every offset and
 * alignment, and random strings, answer as the byte-wise check does. */
static void test_utf8_fast_path(void **state) {
  (void)state;
  const char *breaks[] = {
      "\0",   "\x80",         "\x7f", "\x01", "\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80",
      "\xc3", "\xed\xa0\x80", "\xff"};
  size_t blen[] = {1, 1, 1, 1, 2, 3, 4, 1, 3, 1};
  char buf[64];
  for (size_t b = 0; b < sizeof(blen) / sizeof(blen[0]); b++)
    for (size_t start = 0; start < 8; start++)
      for (size_t at = 0; at + blen[b] <= 40; at++) {
        memset(buf, 'a', sizeof(buf));
        memcpy(buf + start + at, breaks[b], blen[b]);
        for (size_t len = at; len <= 40; len += 3) {
          const unsigned char *s = (const unsigned char *)buf + start;
          assert_int_equal(util_utf8_valid(buf + start, len), utf8_bytewise(s, len));
        }
      }
  unsigned seed = 12345;
  for (int r = 0; r < 20000; r++) {
    size_t len = (size_t)(rand_r(&seed) % 48);
    for (size_t i = 0; i < len; i++) {
      int k = rand_r(&seed) % 16;
      buf[i] = (char)(k < 12   ? 0x20 + rand_r(&seed) % 0x5F
                      : k < 15 ? 0x80 + rand_r(&seed) % 0x78
                               : 0);
    }
    assert_int_equal(util_utf8_valid(buf, len), utf8_bytewise((const unsigned char *)buf, len));
  }
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
  /* The second's fields are kept between calls: the same second, the next,
   * an earlier one and one before 1970 each format as gmtime says. */
  const int64_t at[] = {INT64_C(1795255200999), INT64_C(1795255200000), INT64_C(1795255201001),
                        INT64_C(1795255199500), INT64_C(951825600007),  INT64_C(-1),
                        INT64_C(1795255200123)};
  const char *want[] = {"2026-11-21T10:00:00.999Z", "2026-11-21T10:00:00.000Z",
                        "2026-11-21T10:00:01.001Z", "2026-11-21T09:59:59.500Z",
                        "2000-02-29T12:00:00.007Z", NULL,
                        "2026-11-21T10:00:00.123Z"};
  for (size_t i = 0; i < sizeof(at) / sizeof(at[0]); i++) {
    util_iso8601(at[i], s);
    if (want[i]) assert_string_equal(s, want[i]); /* before 1970: as it always was */
  }
}

/* The hand-written formatter against snprintf's, the text it replaced:
 * leap days, the end of a year, every millisecond digit. */
static void test_iso8601_format(void **state) {
  (void)state;
  for (int64_t t = 0; t < INT64_C(4102444800000); t += INT64_C(777777777) + 7) {
    char s[32], want[96];
    time_t secs = (time_t)(t / 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    snprintf(want, sizeof(want), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(t % 1000));
    util_iso8601(t, s);
    assert_string_equal(s, want);
  }
  char s[32];
  util_iso8601(INT64_C(951868799999), s);
  assert_string_equal(s, "2000-02-29T23:59:59.999Z");
  util_iso8601(INT64_C(1798761599000), s);
  assert_string_equal(s, "2026-12-31T23:59:59.000Z");
  util_iso8601(0, s);
  assert_string_equal(s, "1970-01-01T00:00:00.000Z");
}

/* The hand-written parser against the calendar: leap years, dates before 1970,
 * a day past the month's end (runs on, as timegm() did), and every malformed
 * shape refused. */
static void test_iso8601_parse(void **state) {
  (void)state;
  int64_t ms = 0;
  assert_int_equal(util_parse_iso8601("1970-01-01T00:00:00.000Z", &ms), 0);
  assert_int_equal(ms, 0);
  assert_int_equal(util_parse_iso8601("1969-12-31T23:59:59.999Z", &ms), 0);
  assert_int_equal(ms, -1);
  assert_int_equal(util_parse_iso8601("2000-02-29T12:00:00.000Z", &ms), 0);
  assert_int_equal(ms, INT64_C(951825600000));
  assert_int_equal(util_parse_iso8601("2024-03-01T00:00:00.000Z", &ms), 0);
  assert_int_equal(ms, INT64_C(1709251200000));
  assert_int_equal(util_parse_iso8601("1900-03-01T00:00:00.000Z", &ms), 0);
  assert_int_equal(ms, INT64_C(-2203891200000));
  assert_int_equal(util_parse_iso8601("2026-02-31T00:00:00.000Z", &ms), 0);
  int64_t march3 = 0;
  assert_int_equal(util_parse_iso8601("2026-03-03T00:00:00.000Z", &march3), 0);
  assert_int_equal(ms, march3);
  /* Every 7,777,777,777 ms from 1970 to 2100 formats and parses back. */
  for (int64_t t = 0; t < INT64_C(4102444800000); t += INT64_C(7777777777)) {
    char s[32];
    util_iso8601(t, s);
    assert_int_equal(util_parse_iso8601(s, &ms), 0);
    assert_int_equal(ms, t);
  }
  const char *bad[] = {"",
                       "2026-11-21T10:00:00.123",
                       "2026-11-21T10:00:00.123Z ",
                       "2026-11-21T10:00:00Z",
                       "2026-11-21 10:00:00.123Z",
                       "2026-13-01T00:00:00.000Z",
                       "2026-00-01T00:00:00.000Z",
                       "2026-01-00T00:00:00.000Z",
                       "2026-01-32T00:00:00.000Z",
                       "2026-01-01T24:00:00.000Z",
                       "2026-01-01T00:60:00.000Z",
                       "2026-01-01T00:00:61.000Z",
                       "2026-1a-01T00:00:00.000Z",
                       "+026-01-01T00:00:00.000Z",
                       "2026-01-01T00:00:00.-12Z"};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
    assert_int_equal(util_parse_iso8601(bad[i], &ms), -1);
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
  /* Request ids: 16 lowercase hex characters, none repeated across pool refills. */
  char ids[200][17];
  for (int i = 0; i < 200; i++) {
    util_random_hex16(ids[i]);
    assert_int_equal(strlen(ids[i]), 16);
    assert_int_equal(strspn(ids[i], "0123456789abcdef"), 16);
    for (int j = 0; j < i; j++) assert_string_not_equal(ids[i], ids[j]);
  }
}

/* Request ids come from a per-thread stream: a forked child must not continue the
 * parent's (same key, same next bytes), neither mid-pool nor at its next refill. */
static void test_request_ids_after_fork(void **state) {
  (void)state;
  char warm[17];
  util_random_hex16(warm); /* the parent has a key and a part-used pool */
  enum { N = 100 };
  int fds[2];
  assert_int_equal(pipe(fds), 0);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    close(fds[0]);
    char id[17];
    for (int i = 0; i < N; i++) {
      util_random_hex16(id);
      if (write(fds[1], id, 16) != 16) _exit(1);
    }
    _exit(0);
  }
  close(fds[1]);
  char parent[N][17], child[N][17];
  for (int i = 0; i < N; i++) util_random_hex16(parent[i]);
  for (int i = 0; i < N; i++) {
    size_t got = 0;
    while (got < 16) {
      ssize_t n = read(fds[0], child[i] + got, 16 - got);
      assert_true(n > 0);
      got += (size_t)n;
    }
    child[i][16] = '\0';
  }
  close(fds[0]);
  int status;
  assert_int_equal(waitpid(pid, &status, 0), pid);
  assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  for (int i = 0; i < N; i++)
    for (int j = 0; j < N; j++) assert_string_not_equal(parent[i], child[j]);
}

/* Ordered ids: the same form as util_new_id's; one thread's follow each other
 * (seconds, its origin, a counter that goes up by one, wrapping at 2^24); another
 * thread, or a forked child, has another origin. */
static void *ordered_in_thread(void *out) {
  util_new_ordered_id(out);
  return NULL;
}

static void test_ordered_ids(void **state) {
  (void)state;
  enum { N = 5000 };
  static char ids[N][25];
  for (int i = 0; i < N; i++) {
    util_new_ordered_id(ids[i]);
    assert_int_equal(strlen(ids[i]), 24);
    assert_int_equal(strspn(ids[i], "0123456789abcdef"), 24);
  }
  for (int i = 1; i < N; i++) {
    /* seconds and origin never go back; the origin stays */
    assert_true(strncmp(ids[i - 1], ids[i], 8) <= 0);
    assert_memory_equal(ids[i - 1] + 8, ids[i] + 8, 10);
    unsigned long a = strtoul(ids[i - 1] + 18, NULL, 16), b = strtoul(ids[i] + 18, NULL, 16);
    assert_int_equal(b, (a + 1) & 0xffffff);
    /* so they sort as made, but across the counter's wrap within a second */
    if (b != 0 || strncmp(ids[i - 1], ids[i], 8) < 0) assert_true(strcmp(ids[i - 1], ids[i]) < 0);
  }
  char other[25];
  pthread_t t;
  assert_int_equal(pthread_create(&t, NULL, ordered_in_thread, other), 0);
  assert_int_equal(pthread_join(t, NULL), 0);
  assert_memory_not_equal(other + 8, ids[0] + 8, 10);
  int fds[2];
  assert_int_equal(pipe(fds), 0);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    char id[25];
    util_new_ordered_id(id);
    _exit(write(fds[1], id, 24) == 24 ? 0 : 1);
  }
  close(fds[1]);
  char child[25] = {0};
  size_t got = 0;
  while (got < 24) {
    ssize_t n = read(fds[0], child + got, 24 - got);
    assert_true(n > 0);
    got += (size_t)n;
  }
  close(fds[0]);
  int status;
  assert_int_equal(waitpid(pid, &status, 0), pid);
  assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  assert_memory_not_equal(child + 8, ids[0] + 8, 10);
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
      cmocka_unit_test(test_utf8),           cmocka_unit_test(test_utf8_fast_path),
      cmocka_unit_test(test_url_decode),     cmocka_unit_test(test_iso8601_round_trip),
      cmocka_unit_test(test_iso8601_format), cmocka_unit_test(test_iso8601_parse),
      cmocka_unit_test(test_hex_and_ids),    cmocka_unit_test(test_request_ids_after_fork),
      cmocka_unit_test(test_ordered_ids),    cmocka_unit_test(test_buf),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
