/* The streamed multipart/form-data parser (src/handlers/multipart.c), socket
 * free: one body fed split at every point (and byte by byte) gives the same
 * parts; boundaries straddling pieces, delimiter look-alikes inside a file,
 * truncation at every point and malformed bodies. Pure. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "handlers/multipart.h"

typedef struct got_s {
  char names[4][64], files[4][64], types[4][64];
  int parts, ended;
  char data[4096];
  size_t len;
  int skip_text; /* refuse parts that are not "file" */
} got_t;

static int on_part(void *ctx, const char *name, const char *filename, const char *ctype) {
  got_t *g = ctx;
  if (g->parts < 4) {
    snprintf(g->names[g->parts], 64, "%s", name);
    snprintf(g->files[g->parts], 64, "%s", filename ? filename : "(none)");
    snprintf(g->types[g->parts], 64, "%s", ctype ? ctype : "(none)");
  }
  g->parts++;
  return g->skip_text ? strcmp(name, "file") == 0 : 1;
}

static void on_data(void *ctx, const char *data, size_t len) {
  got_t *g = ctx;
  assert_true(g->len + len <= sizeof(g->data));
  memcpy(g->data + g->len, data, len);
  g->len += len;
}

static void on_part_end(void *ctx) {
  got_t *g = ctx;
  g->ended++;
}

static const multipart_cbs_t cbs = {on_part, on_data, on_part_end};

#define CT "multipart/form-data; boundary=XyZ--bound"
/* A file whose bytes look like the delimiter's beginnings: CR, CRLF, "--",
 * "\r\n--XyZ--boun" (one byte short) and a CR right before the real one. */
static const char FILE_BYTES[] = "line1\r\nline2\r\r\n-\r\n--\r\n--XyZ--boun\r\n--XyZ--bounX\r\r";
static const char BODY[] =
    "preamble to ignore\r\n"
    "--XyZ--bound\r\n"
    "Content-Disposition: form-data; name=\"note\"\r\n"
    "\r\n"
    "hello\r\n"
    "--XyZ--bound  \r\n"
    "content-disposition: form-data; name=\"file\"; "
    "filename=\"a \\\"b\\\".png\"\r\n"
    "Content-Type: image/png\r\n"
    "\r\n"
    "line1\r\nline2\r\r\n-\r\n--\r\n--XyZ--boun\r\n--XyZ--bounX\r\r"
    "\r\n--XyZ--bound--\r\n"
    "epilogue";

static void check(const got_t *g) {
  assert_int_equal(g->parts, 2);
  assert_int_equal(g->ended, 1);
  assert_string_equal(g->names[0], "note");
  assert_string_equal(g->files[0], "(none)");
  assert_string_equal(g->names[1], "file");
  assert_string_equal(g->files[1], "a \"b\".png");
  assert_string_equal(g->types[1], "image/png");
  assert_int_equal(g->len, sizeof(FILE_BYTES) - 1);
  assert_memory_equal(g->data, FILE_BYTES, g->len);
}

static void every_split_point_gives_the_same_parts(void **state) {
  (void)state;
  size_t n = sizeof(BODY) - 1;
  for (size_t i = 0; i <= n; i++) {
    for (size_t j = i; j <= n; j += (n - i) / 7 + 1) {
      multipart_t m;
      got_t g = {.skip_text = 1};
      assert_int_equal(multipart_init(&m, CT, &cbs, &g), 0);
      assert_int_equal(multipart_feed(&m, BODY, i), 0);
      assert_int_equal(multipart_feed(&m, BODY + i, j - i), 0);
      assert_int_equal(multipart_feed(&m, BODY + j, n - j), 0);
      assert_int_equal(multipart_finish(&m), 0);
      check(&g);
    }
  }
  multipart_t m;
  got_t g = {.skip_text = 1};
  assert_int_equal(multipart_init(&m, CT, &cbs, &g), 0);
  for (size_t i = 0; i < n; i++) assert_int_equal(multipart_feed(&m, BODY + i, 1), 0);
  assert_int_equal(multipart_finish(&m), 0);
  check(&g);
}

static void a_body_cut_anywhere_is_truncated(void **state) {
  (void)state;
  size_t whole = strstr(BODY, "--XyZ--bound--") + strlen("--XyZ--bound--") - BODY;
  for (size_t i = 0; i < whole; i++) {
    multipart_t m;
    got_t g = {.skip_text = 1};
    assert_int_equal(multipart_init(&m, CT, &cbs, &g), 0);
    assert_int_equal(multipart_feed(&m, BODY, i), 0);
    assert_int_equal(multipart_finish(&m), -1);
    assert_true(g.len <= sizeof(FILE_BYTES) - 1);
  }
}

static void skipped_parts_give_no_bytes(void **state) {
  (void)state;
  multipart_t m;
  got_t g = {.skip_text = 0};
  assert_int_equal(multipart_init(&m, CT, &cbs, &g), 0);
  assert_int_equal(multipart_feed(&m, BODY, sizeof(BODY) - 1), 0);
  assert_int_equal(multipart_finish(&m), 0);
  assert_int_equal(g.ended, 2);
  assert_int_equal(g.len, 5 + sizeof(FILE_BYTES) - 1);
  assert_memory_equal(g.data, "hello", 5);
}

static int parse(const char *ct, const char *body) {
  multipart_t m;
  got_t g = {.skip_text = 1};
  if (multipart_init(&m, ct, &cbs, &g) != 0) return -2;
  if (multipart_feed(&m, body, strlen(body)) != 0) return -1;
  return multipart_finish(&m);
}

static void boundaries_and_malformed_bodies(void **state) {
  (void)state;
  static const char ok[] =
      "--b\r\nContent-Disposition: form-data; name=file; filename=x\r\n\r\n"
      "data\r\n--b--";
  assert_int_equal(parse("multipart/form-data; boundary=b", ok), 0);
  assert_int_equal(parse("Multipart/Form-Data; charset=x; boundary=\"b\"", ok), 0);
  assert_int_equal(parse("multipart/form-data", ok), -2);
  assert_int_equal(parse("multipart/form-data; boundary=", ok), -2);
  assert_int_equal(parse("multipart/mixed; boundary=b", ok), -2);
  assert_int_equal(parse("application/octet-stream", ok), -2);
  char long_b[120] = "multipart/form-data; boundary=";
  memset(long_b + strlen(long_b), 'a', 71);
  assert_int_equal(parse(long_b, ok), -2);
  const char *ct = "multipart/form-data; boundary=b";
  /* No Content-Disposition; not form-data; no name; junk after a delimiter;
   * a header line without a colon. */
  assert_int_equal(parse(ct, "--b\r\nContent-Type: text/plain\r\n\r\nx\r\n--b--"), -1);
  assert_int_equal(parse(ct, "--b\r\nContent-Disposition: attachment; name=f\r\n\r\nx\r\n--b--"),
                   -1);
  assert_int_equal(parse(ct, "--b\r\nContent-Disposition: form-data\r\n\r\nx\r\n--b--"), -1);
  assert_int_equal(parse(ct, "--bX\r\nContent-Disposition: form-data; name=f\r\n\r\n--b--"), -1);
  assert_int_equal(parse(ct, "--b\r\nno colon here\r\n\r\nx\r\n--b--"), -1);
  /* Headers past the limit. */
  char *big = malloc(MULTIPART_HEADERS_MAX + 100);
  strcpy(big, "--b\r\nX-Pad: ");
  memset(big + strlen(big), 'p', MULTIPART_HEADERS_MAX);
  strcpy(big + strlen("--b\r\nX-Pad: ") + MULTIPART_HEADERS_MAX, "\r\n\r\n");
  assert_int_equal(parse(ct, big), -1);
  free(big);
  /* No closing delimiter, or nothing at all. */
  assert_int_equal(parse(ct, "--b\r\nContent-Disposition: form-data; name=f\r\n\r\nx\r\n--b"), -1);
  assert_int_equal(parse(ct, ""), -1);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(every_split_point_gives_the_same_parts),
      cmocka_unit_test(a_body_cut_anywhere_is_truncated),
      cmocka_unit_test(skipped_parts_give_no_bytes),
      cmocka_unit_test(boundaries_and_malformed_bodies),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
