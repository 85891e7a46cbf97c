/* The web client's file table without sockets: what web_load keeps, skips and
 * compresses, and what web_serve answers (status, route, headers) for a
 * request whose connection is gone, so the reply is recorded but not sent. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "http/http_internal.h"
#include "parley/log.h"
#include "parley/web.h"

static char dir[256];

static void put(const char *rel, const char *data, size_t len) {
  char path[512];
  snprintf(path, sizeof(path), "%s/%s", dir, rel);
  FILE *f = fopen(path, "wb");
  assert_non_null(f);
  assert_int_equal(fwrite(data, 1, len, f), len);
  fclose(f);
}

static char *repeat(const char *s, int n, size_t *len) {
  size_t sl = strlen(s);
  char *out = malloc(sl * (size_t)n + 1);
  for (int i = 0; i < n; i++) memcpy(out + sl * (size_t)i, s, sl);
  out[sl * (size_t)n] = '\0';
  *len = sl * (size_t)n;
  return out;
}

static int setup(void **state) {
  (void)state;
  snprintf(dir, sizeof(dir), "/tmp/parley-web-test-XXXXXX");
  assert_non_null(mkdtemp(dir));
  char sub[300];
  snprintf(sub, sizeof(sub), "%s/assets", dir);
  assert_int_equal(mkdir(sub, 0700), 0);
  put("index.html", "<!doctype html><title>Parley</title>", 36);
  size_t n;
  char *js = repeat("export const x = 1;\n", 100, &n);
  put("assets/app-X2Y4Z6W8.js", js, n);
  free(js);
  put(".hidden", "no", 2);
  put("tiny.txt", "tiny", 4);
  return 0;
}

static int teardown(void **state) {
  (void)state;
  char cmd[300];
  snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
  assert_int_equal(system(cmd), 0);
  return 0;
}

static http_req_t *req_for(const http_server_t *srv, const char *method, const char *path) {
  http_req_t *r = http_req_new(srv, NULL);
  r->method = method;
  r->path = strdup(path);
  return r;
}

static void add_header(http_req_t *r, const char *name, const char *value) {
  assert_int_equal(http_loopback_header(r, name, value), 0);
}

/* The value of a header the reply would carry, copied into out; NULL if absent. */
static const char *reply_header(const http_req_t *r, const char *name, char *out, size_t n) {
  char key[128];
  snprintf(key, sizeof(key), "%s: ", name);
  const char *h = r->extra_headers.data;
  if (!h) return NULL;
  const char *at = strstr(h, key);
  if (!at) return NULL;
  at += strlen(key);
  size_t len = strcspn(at, "\r");
  snprintf(out, n, "%.*s", (int)len, at);
  return out;
}

static void test_hashed_names(void **state) {
  (void)state;
  assert_true(web_is_hashed("/assets/app-X2Y4Z6W8.js"));
  assert_true(web_is_hashed("/chunk-ABCDEFGH.css"));
  assert_true(web_is_hashed("/assets/main.3f9a0c1d.js"));
  assert_true(web_is_hashed("/a-0123456789abcdef.js"));
  assert_false(web_is_hashed("/index.html"));
  assert_false(web_is_hashed("/my-component.js"));     /* lower-case, not hex */
  assert_false(web_is_hashed("/app-X2Y4Z6.js"));       /* too short */
  assert_false(web_is_hashed("/ABCDEFGHIJ.js"));       /* no separator */
  assert_false(web_is_hashed("/assets/app-X2Y4Z6W8")); /* no extension */
}

static void test_load_keeps_regular_files_and_compresses(void **state) {
  (void)state;
  web_t *w = web_load(dir, 1 << 20);
  assert_non_null(w);
  assert_int_equal(web_count(w), 3); /* index, app js, tiny: not the dot-file */
  /* The script (2000 bytes) got a gzip variant; bytes count both. */
  assert_true(web_bytes(w) > 2000 + 36 + 4);
  assert_true(web_bytes(w) < 2 * (2000 + 36 + 4));
  web_free(w);
}

static void test_load_bound_and_missing_dir(void **state) {
  (void)state;
  web_t *w = web_load(dir, 100); /* only the small files fit */
  assert_non_null(w);
  assert_true(web_bytes(w) <= 100);
  assert_int_equal(web_count(w), 2);
  web_free(w);
  assert_null(web_load("/nonexistent/parley-web", 1 << 20));
  assert_null(web_load("", 1 << 20));
  assert_null(web_load(NULL, 1 << 20));
}

static void test_serve(void **state) {
  (void)state;
  config_t cfg;
  memset(&cfg, 0, sizeof(cfg));
  http_server_t srv = {.cfg = &cfg};
  web_t *w = web_load(dir, 1 << 20);
  char v[512], etag[64];

  http_req_t *r = req_for(&srv, "GET", "/");
  assert_int_equal(web_serve(w, r), 1);
  assert_int_equal(r->status, 200);
  assert_string_equal(r->route, "web");
  assert_non_null(reply_header(r, "Content-Security-Policy", v, sizeof(v)));
  assert_string_equal(v, WEB_CSP);
  assert_non_null(reply_header(r, "Cache-Control", v, sizeof(v)));
  assert_string_equal(v, "no-cache");
  assert_non_null(reply_header(r, "ETag", etag, sizeof(etag)));
  assert_non_null(reply_header(r, "X-Content-Type-Options", v, sizeof(v)));
  http_req_unref(r);

  r = req_for(&srv, "GET", "/index.html");
  add_header(r, "if-none-match", etag);
  assert_int_equal(web_serve(w, r), 1);
  assert_int_equal(r->status, 304);
  http_req_unref(r);

  r = req_for(&srv, "HEAD", "/assets/app-X2Y4Z6W8.js");
  add_header(r, "accept-encoding", "gzip, deflate");
  assert_int_equal(web_serve(w, r), 1);
  assert_int_equal(r->status, 200);
  assert_non_null(reply_header(r, "Content-Encoding", v, sizeof(v)));
  assert_non_null(reply_header(r, "Cache-Control", v, sizeof(v)));
  assert_string_equal(v, "public, max-age=31536000, immutable");
  http_req_unref(r);

  r = req_for(&srv, "GET", "/assets/app-X2Y4Z6W8.js");
  add_header(r, "accept-encoding", "gzip;q=0, br");
  assert_int_equal(web_serve(w, r), 1);
  assert_null(reply_header(r, "Content-Encoding", v, sizeof(v)));
  http_req_unref(r);

  /* A client route gets index.html; the API's paths and other methods never do. */
  r = req_for(&srv, "GET", "/chat/42");
  assert_int_equal(web_serve(w, r), 1);
  assert_int_equal(r->status, 200);
  http_req_unref(r);
  const char *not_ours[] = {"/api/x",       "/api",    "/ws",         "/healthz", "/metrics/",
                            "/webhooks/ig", "/readyz", "/missing.js", "/.hidden"};
  for (size_t i = 0; i < sizeof(not_ours) / sizeof(not_ours[0]); i++) {
    r = req_for(&srv, "GET", not_ours[i]);
    assert_int_equal(web_serve(w, r), 0);
    assert_int_equal(r->replied, 0);
    http_req_unref(r);
  }
  r = req_for(&srv, "POST", "/inbox");
  assert_int_equal(web_serve(w, r), 0);
  http_req_unref(r);
  r = req_for(&srv, "GET", "/inbox");
  assert_int_equal(web_serve(NULL, r), 0);
  http_req_unref(r);
  web_free(w);
}

int main(void) {
  log_set_level(LOG_ERROR);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_hashed_names),
      cmocka_unit_test(test_load_keeps_regular_files_and_compresses),
      cmocka_unit_test(test_load_bound_and_missing_dir),
      cmocka_unit_test(test_serve),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
