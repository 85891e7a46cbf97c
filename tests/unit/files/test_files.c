/* Files storage without sockets: the allow-list, libmagic's verdicts on real
 * file heads (from several threads, each with its own magic_t), and the data
 * directory backend's uploads (commit, abort mid-write, abort before open),
 * readers and removal, on a real loop and thread pool. */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include <cmocka.h>

#include "parley/files.h"
#include "parley/files_type.h"

static void test_allow_list(void **state) {
  (void)state;
  assert_string_equal(files_type_kind("image/png"), "image");
  assert_string_equal(files_type_kind("video/mp4"), "video");
  assert_string_equal(files_type_kind("audio/mpeg"), "audio");
  assert_string_equal(files_type_kind("application/pdf"), "file");
  assert_string_equal(
      files_type_kind("application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
      "file");
  assert_null(files_type_kind("application/vnd.openxmlformats-officedocument."));
  assert_null(files_type_kind("text/html"));
  assert_null(files_type_kind("image/svg+xml"));
  assert_null(files_type_kind("application/x-executable"));
  assert_null(files_type_kind("image/pngx"));
  assert_null(files_type_kind(NULL));
}

static const char png[] =
    "\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\1\0\0\0\1\x08\x06\0\0\0\x1f\x15\xc4\x89";
static const char html[] = "<!DOCTYPE html><html><body><script>x()</script></body></html>\n";

typedef struct sniff_s {
  const char *data;
  size_t len;
  char mime[128];
  int rc;
} sniff_t;

static void sniff_thread(void *arg) {
  sniff_t *s = arg;
  s->rc = files_type_sniff(s->data, s->len, s->mime, sizeof(s->mime));
}

static void test_sniff_per_thread(void **state) {
  (void)state;
  sniff_t s[4] = {{png, sizeof(png) - 1, "", -1},
                  {html, sizeof(html) - 1, "", -1},
                  {"%PDF-1.4\n%%EOF\n", 15, "", -1},
                  {png, sizeof(png) - 1, "", -1}};
  uv_thread_t t[4];
  for (int i = 0; i < 4; i++) assert_int_equal(uv_thread_create(&t[i], sniff_thread, &s[i]), 0);
  for (int i = 0; i < 4; i++) uv_thread_join(&t[i]);
  for (int i = 0; i < 4; i++) assert_int_equal(s[i].rc, 0);
  assert_string_equal(s[0].mime, "image/png");
  assert_string_equal(s[1].mime, "text/html");
  assert_string_equal(s[2].mime, "application/pdf");
  assert_string_equal(s[3].mime, "image/png");
}

typedef struct fx_s {
  uv_loop_t loop;
  char dir[64];
  files_t *f;
  int calls, status;
  ssize_t nread;
} fx_t;

static int setup(void **state) {
  fx_t *fx = calloc(1, sizeof(*fx));
  uv_loop_init(&fx->loop);
  snprintf(fx->dir, sizeof(fx->dir), "/tmp/parley-files-XXXXXX");
  assert_non_null(mkdtemp(fx->dir));
  fx->f = files_open_dir(&fx->loop, fx->dir);
  assert_non_null(fx->f);
  *state = fx;
  return 0;
}

static int teardown(void **state) {
  fx_t *fx = *state;
  files_close(fx->f);
  assert_int_equal(uv_loop_close(&fx->loop), 0);
  char cmd[128];
  snprintf(cmd, sizeof(cmd), "rm -rf %s", fx->dir);
  assert_int_equal(system(cmd), 0);
  free(fx);
  return 0;
}

static void done(void *ctx, int status) {
  fx_t *fx = ctx;
  fx->calls++;
  fx->status = status;
}

static void read_done(void *ctx, ssize_t n) {
  fx_t *fx = ctx;
  fx->calls++;
  fx->nread = n;
}

/* Runs the loop until cb was called once more. */
static void wait_call(fx_t *fx) {
  int want = fx->calls + 1;
  while (fx->calls < want) uv_run(&fx->loop, UV_RUN_ONCE);
}

/* Entries of files/ (not counting tmp) and of files/tmp. */
static int count(fx_t *fx, const char *sub) {
  char path[128];
  snprintf(path, sizeof(path), "%s/files%s", fx->dir, sub);
  DIR *d = opendir(path);
  int n = 0;
  struct dirent *e;
  while ((e = readdir(d)))
    if (e->d_name[0] != '.' && strcmp(e->d_name, "tmp") != 0) n++;
  closedir(d);
  return n;
}

static const char *key = "0123456789abcdef01234567";

static void test_upload_commit_read_remove(void **state) {
  fx_t *fx = *state;
  files_upload_t *u = NULL;
  assert_int_equal(files_upload_begin(fx->f, "../etc/passwd", &u, done, fx), UV_EINVAL);
  assert_int_equal(files_upload_begin(fx->f, key, &u, done, fx), 0);
  wait_call(fx);
  assert_int_equal(fx->status, 0);
  assert_int_equal(files_upload_write(u, "hello ", 6, done, fx), 0);
  wait_call(fx);
  assert_int_equal(files_upload_write(u, "world", 5, done, fx), 0);
  wait_call(fx);
  /* Not visible before the commit. */
  assert_int_equal(count(fx, ""), 0);
  assert_int_equal(count(fx, "/tmp"), 1);
  assert_int_equal(files_upload_commit(u, done, fx), 0);
  wait_call(fx);
  assert_int_equal(fx->status, 0);
  assert_int_equal(count(fx, ""), 1);
  assert_int_equal(count(fx, "/tmp"), 0);

  files_reader_t *r = NULL;
  assert_int_equal(files_reader_open(fx->f, key, 6, &r, done, fx), 0);
  wait_call(fx);
  assert_int_equal(fx->status, 0);
  char buf[16];
  assert_int_equal(files_reader_read(r, buf, sizeof(buf), read_done, fx), 0);
  wait_call(fx);
  assert_int_equal(fx->nread, 5);
  assert_memory_equal(buf, "world", 5);
  assert_int_equal(files_reader_read(r, buf, sizeof(buf), read_done, fx), 0);
  wait_call(fx);
  assert_int_equal(fx->nread, 0);
  files_reader_close(r);

  assert_int_equal(files_remove(fx->f, key, done, fx), 0);
  wait_call(fx);
  assert_int_equal(fx->status, 0);
  assert_int_equal(count(fx, ""), 0);
  assert_int_equal(files_reader_open(fx->f, key, 0, &r, done, fx), 0);
  wait_call(fx);
  assert_int_equal(fx->status, UV_ENOENT);
  uv_run(&fx->loop, UV_RUN_DEFAULT);
}

static void test_abort_leaves_nothing(void **state) {
  fx_t *fx = *state;
  files_upload_t *u = NULL;
  /* Aborted before it opened: its callback never runs. */
  assert_int_equal(files_upload_begin(fx->f, key, &u, done, fx), 0);
  files_upload_abort(u);
  uv_run(&fx->loop, UV_RUN_DEFAULT);
  assert_int_equal(fx->calls, 0);
  /* Aborted with a write in flight. */
  assert_int_equal(files_upload_begin(fx->f, key, &u, done, fx), 0);
  wait_call(fx);
  static char big[1 << 20];
  assert_int_equal(files_upload_write(u, big, sizeof(big), done, fx), 0);
  files_upload_abort(u);
  uv_run(&fx->loop, UV_RUN_DEFAULT);
  assert_int_equal(fx->calls, 1);
  assert_int_equal(count(fx, ""), 0);
  assert_int_equal(count(fx, "/tmp"), 0);
}

static void test_crash_leftovers_swept_at_open(void **state) {
  fx_t *fx = *state;
  char path[160];
  snprintf(path, sizeof(path), "%s/files/tmp/%s.deadbeef", fx->dir, key);
  FILE *f = fopen(path, "w");
  fputs("half", f);
  fclose(f);
  files_t *again = files_open_dir(&fx->loop, fx->dir);
  assert_non_null(again);
  assert_int_equal(count(fx, "/tmp"), 0);
  files_close(again);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_allow_list),
      cmocka_unit_test(test_sniff_per_thread),
      cmocka_unit_test_setup_teardown(test_upload_commit_read_remove, setup, teardown),
      cmocka_unit_test_setup_teardown(test_abort_leaves_nothing, setup, teardown),
      cmocka_unit_test_setup_teardown(test_crash_leftovers_swept_at_open, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
