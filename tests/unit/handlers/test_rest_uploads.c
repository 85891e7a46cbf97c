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

#include "parley/files.h"
#include "parley/strmap.h"
#include "rest_fixture.h"

static int setup(void **state) {
  rest_fx_t *fx = rest_fx_new();
  app_t *app = fx->app;
  app->files = files_open_dir(&fx->chat->loop, fx->chat->dir);
  app->uploads = calloc(1, sizeof(*app->uploads));
  assert_non_null(app->files);
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

static const char png[] =
    "\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\1\0\0\0\1\x08\x06\0\0\0\x1f\x15\xc4\x89";

static void an_upload_is_typed_stored_and_recorded(void **state) {
  rest_fx_t *fx = *state;
  rest_reply_t *r = upload(fx, "/api/uploads?name=dot.png", png, sizeof(png) - 1);
  assert_int_equal(r->status, 201);
  json_t *att = json_object_get(r->body, "attachment");
  assert_string_equal(json_string_value(json_object_get(att, "content_type")), "image/png");
  assert_string_equal(json_string_value(json_object_get(att, "type")), "image");
  assert_string_equal(json_string_value(json_object_get(att, "name")), "dot.png");
  assert_int_equal(json_integer_value(json_object_get(att, "size")), sizeof(png) - 1);
  assert_int_equal(stored(fx, ""), 1);
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
  chat_fx_run(fx->chat, 20);
  assert_int_equal(stored(fx, ""), 0);
  assert_int_equal(stored(fx, "/tmp"), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(an_upload_is_typed_stored_and_recorded, setup, teardown),
      cmocka_unit_test_setup_teardown(refused_files_leave_nothing, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
