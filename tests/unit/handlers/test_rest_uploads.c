/* POST /api/uploads without sockets: a loopback request's body reaches the
 * upload handler through the streamed-body seam, is typed by libmagic on the
 * thread pool, written to the data directory and recorded; a refused type or
 * an oversized file leaves nothing in storage. */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "handlers/attachments.h"
#include "parley/files.h"
#include "parley/files_imager.h"
#include "parley/strmap.h"
#include "rest_fixture.h"

static int setup(void **state) {
  rest_fx_t *fx = rest_fx_new();
  app_t *app = fx->app;
  app->files = files_open_dir(&fx->chat->loop, fx->chat->dir);
  app->uploads = calloc(1, sizeof(*app->uploads));
  assert_non_null(app->files);
  app->cfg.image_max_pixels = 10000;
  app->imager = files_imager_new(&fx->chat->loop, app->files, app->cfg.image_max_pixels, 2);
  assert_non_null(app->imager);
  strmap_init(app->uploads);
  app->cfg.upload_max_bytes = 4096;
  app->cfg.upload_max_in_flight = 4;
  app->cfg.upload_quota_bytes = 1 << 20;
  *state = fx;
  return 0;
}

static int teardown(void **state) {
  rest_fx_t *fx = *state;
  chat_fx_run(fx->chat, 20); /* cleanups of aborted uploads finish */
  assert_int_equal(strmap_count(fx->app->uploads), 0);
  assert_int_equal(files_imager_busy(fx->app->imager), 0);
  files_imager_free(fx->app->imager);
  files_close(fx->app->files);
  strmap_free(fx->app->uploads);
  free(fx->app->uploads);
  rest_fx_free(fx);
  return 0;
}

/* Entries of files/ (tmp/ aside) and files/tmp/. */
static int stored(rest_fx_t *fx, const char *sub) {
  char path[160];
  snprintf(path, sizeof(path), "%s/files%s", fx->chat->dir, sub);
  DIR *d = opendir(path);
  int n = 0;
  struct dirent *e;
  while ((e = readdir(d)))
    if (e->d_name[0] != '.' && strcmp(e->d_name, "tmp") != 0) n++;
  closedir(d);
  return n;
}

static rest_reply_t *upload(rest_fx_t *fx, const char *target, const char *data, size_t len) {
  char *token = auth_token_issue(fx->app->auth, fx->a, "rest-login", util_now_ms() / 1000);
  char value[2048];
  snprintf(value, sizeof(value), "Bearer %s", token);
  free(token);
  rest_reply_t *r = calloc(1, sizeof(*r));
  http_req_t *req = http_loopback_new(&fx->srv, "POST", target, rest_sink, r);
  http_loopback_header(req, "Authorization", value);
  http_loopback_header(req, "Content-Type", "application/octet-stream");
  assert_int_equal(http_loopback_body(req, data, len), 0);
  http_loopback_dispatch(req);
  http_req_unref(req);
  rest_wait(fx, r);
  return r;
}

/* A whole 1 x 1 PNG (a red dot), and the same dot claiming 200 x 200. */
static const char png[] =
    "\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\1\0\0\0\1\x08\x06\0\0\0\x1f\x15\xc4\x89"
    "\0\0\0\rIDATx\x9c\x63\xf8\xcf\xc0\xf0\x1f\0\x05\0\x01\xff\x89\x99\x3d\x1d"
    "\0\0\0\0IEND\xae\x42\x60\x82";
static const char png_200[] =
    "\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\xc8\0\0\0\xc8\x08\x06\0\0\0\xad\x58\xae\x9e"
    "\0\0\0\rIDATx\x9c\x63\xf8\xcf\xc0\xf0\x1f\0\x05\0\x01\xff\x89\x99\x3d\x1d"
    "\0\0\0\0IEND\xae\x42\x60\x82";

static void an_upload_is_typed_stored_and_recorded(void **state) {
  rest_fx_t *fx = *state;
  rest_reply_t *r = upload(fx, "/api/uploads?name=dot.png", png, sizeof(png) - 1);
  assert_int_equal(r->status, 201);
  json_t *att = json_object_get(r->body, "attachment");
  assert_string_equal(json_string_value(json_object_get(att, "content_type")), "image/png");
  assert_string_equal(json_string_value(json_object_get(att, "type")), "image");
  assert_string_equal(json_string_value(json_object_get(att, "name")), "dot.png");
  assert_int_equal(json_integer_value(json_object_get(att, "size")), sizeof(png) - 1);
  assert_int_equal(json_integer_value(json_object_get(att, "width")), 1);
  assert_int_equal(json_integer_value(json_object_get(att, "height")), 1);
  assert_null(json_object_get(att, "thumbnail_key")); /* storage's business, not the client's */
  assert_int_equal(stored(fx, ""), 2);                /* the file and its thumbnail */
  assert_int_equal(stored(fx, "/tmp"), 0);
  rest_reply_free(r);
}

static void refused_files_leave_nothing(void **state) {
  rest_fx_t *fx = *state;
  static const char html[] = "<!DOCTYPE html><html><script>x()</script></html>\n";
  rest_reply_t *r = upload(fx, "/api/uploads?name=x.html", html, sizeof(html) - 1);
  assert_int_equal(r->status, 415);
  rest_reply_free(r);
  char big[5000];
  memset(big, 'x', sizeof(big));
  memcpy(big, "%PDF-1.4\n", 9);
  r = upload(fx, "/api/uploads?name=big.pdf", big, sizeof(big));
  assert_int_equal(r->status, 413);
  rest_reply_free(r);
  r = upload(fx, "/api/uploads", png, sizeof(png) - 1);
  assert_int_equal(r->status, 400);
  rest_reply_free(r);
  /* An image over image_max_pixels (10,000), judged from its header. */
  r = upload(fx, "/api/uploads?name=big.png", png_200, sizeof(png_200) - 1);
  assert_int_equal(r->status, 413);
  assert_non_null(
      strstr(json_string_value(json_object_get(json_object_get(r->body, "error"), "message")),
             "image_max_pixels"));
  rest_reply_free(r);
  /* Cut short: refused, not half shown. */
  r = upload(fx, "/api/uploads?name=cut.png", png, sizeof(png) - 20);
  assert_int_equal(r->status, 400);
  rest_reply_free(r);
  chat_fx_run(fx->chat, 20);
  assert_int_equal(stored(fx, ""), 0);
  assert_int_equal(stored(fx, "/tmp"), 0);
}

static rest_reply_t *fetch(rest_fx_t *fx, const char *target, const char *range) {
  rest_reply_t *r = calloc(1, sizeof(*r));
  http_req_t *req = http_loopback_new(&fx->srv, "GET", target, rest_sink, r);
  assert_non_null(req);
  if (range) http_loopback_header(req, "Range", range);
  http_loopback_dispatch(req);
  http_req_unref(req);
  rest_wait(fx, r);
  return r;
}

static void the_uploader_downloads_through_the_signed_url(void **state) {
  rest_fx_t *fx = *state;
  char pdf[3000];
  for (size_t i = 0; i < sizeof(pdf); i++) pdf[i] = (char)('a' + i % 26);
  memcpy(pdf, "%PDF-1.4\n", 9);
  rest_reply_t *up = upload(fx, "/api/uploads?name=a.pdf", pdf, sizeof(pdf));
  assert_int_equal(up->status, 201);
  const char *url = rest_str(up, "attachment", "url", NULL);
  assert_non_null(url);
  rest_reply_t *r = fetch(fx, url, NULL);
  assert_int_equal(r->status, 200);
  assert_memory_equal(r->raw, pdf, sizeof(pdf));
  assert_non_null(strstr(r->head, "Content-Length: 3000\r\n"));
  assert_non_null(strstr(r->head, "Content-Disposition: attachment;"));
  assert_non_null(strstr(r->head, "X-Content-Type-Options: nosniff\r\n"));
  rest_reply_free(r);
  r = fetch(fx, url, "bytes=2990-");
  assert_int_equal(r->status, 206);
  assert_memory_equal(r->raw, pdf + 2990, 10);
  assert_non_null(strstr(r->head, "Content-Range: bytes 2990-2999/3000\r\n"));
  rest_reply_free(r);
  char bad[256];
  snprintf(bad, sizeof(bad), "%s", url);
  bad[strlen(bad) - 1] = bad[strlen(bad) - 1] == '0' ? '1' : '0';
  r = fetch(fx, bad, NULL);
  assert_int_equal(r->status, 404);
  rest_reply_free(r);
  rest_reply_free(up);
}

static void ranges(void **state) {
  (void)state;
  uint64_t a = 0, b = 0;
  assert_int_equal(attachments_parse_range(NULL, 100, &a, &b), 0);
  assert_int_equal(attachments_parse_range("bytes=0-9", 100, &a, &b), 1);
  assert_true(a == 0 && b == 9);
  assert_int_equal(attachments_parse_range("bytes=90-", 100, &a, &b), 1);
  assert_true(a == 90 && b == 99);
  assert_int_equal(attachments_parse_range("bytes=-10", 100, &a, &b), 1);
  assert_true(a == 90 && b == 99);
  assert_int_equal(attachments_parse_range("bytes=-1000", 100, &a, &b), 1);
  assert_true(a == 0 && b == 99);
  assert_int_equal(attachments_parse_range("bytes=50-1000", 100, &a, &b), 1);
  assert_true(a == 50 && b == 99);
  assert_int_equal(attachments_parse_range("bytes=100-", 100, &a, &b), -1);
  assert_int_equal(attachments_parse_range("bytes=-0", 100, &a, &b), -1);
  assert_int_equal(attachments_parse_range("bytes=0-1,4-5", 100, &a, &b), 0);
  assert_int_equal(attachments_parse_range("bytes=9-2", 100, &a, &b), 0);
  assert_int_equal(attachments_parse_range("bytes=x-2", 100, &a, &b), 0);
  assert_int_equal(attachments_parse_range("bytes=1-2x", 100, &a, &b), 0);
  assert_int_equal(attachments_parse_range("bytes=-", 100, &a, &b), 0);
  assert_int_equal(attachments_parse_range("lines=1-2", 100, &a, &b), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(an_upload_is_typed_stored_and_recorded, setup, teardown),
      cmocka_unit_test_setup_teardown(refused_files_leave_nothing, setup, teardown),
      cmocka_unit_test_setup_teardown(the_uploader_downloads_through_the_signed_url, setup,
                                      teardown),
      cmocka_unit_test(ranges),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
