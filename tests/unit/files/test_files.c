/* Files storage: the allow-list, libmagic's verdicts on real file heads (from
 * several threads, each with its own magic_t), and the storage contract run on
 * both backends, on a real loop and thread pool: uploads (commit, abort
 * mid-write, abort before open), readers and removal, against the data
 * directory and against the S3 backend talking to tests/s3_server (started
 * here on a free port; it checks every request's SigV4 signature). The S3
 * backend's own cases: multipart uploads, ranged reads across chunks, and
 * failures (5xx, a hanging server, a wrong key) that leave nothing. */
#include <curl/curl.h>
#include <dirent.h>
#include <jansson.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
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
  int s3;          /* the S3 backend against the stand-in */
  char bucket[32]; /* a bucket of its own per test */
} fx_t;

/* ---- the S3 stand-in, one for the whole run ---- */

static pid_t standin_pid;
static int standin_port;
static int bucket_seq;

/* tests/s3_server/server.py, found from this file's path. */
static void standin_script(char *out, size_t n) {
  const char *end = strstr(__FILE__, "unit/files/test_files.c");
  snprintf(out, n, "%.*ss3_server/server.py", end ? (int)(end - __FILE__) : 0, __FILE__);
}

static int standin_start(void **state) {
  (void)state;
  char script[1024], portfile[64];
  standin_script(script, sizeof(script));
  snprintf(portfile, sizeof(portfile), "/tmp/parley-s3-port-%d", (int)getpid());
  unlink(portfile);
  standin_pid = fork();
  if (standin_pid == 0) {
    execl("/usr/bin/python3", "python3", script, "--host", "127.0.0.1", "--port", "0",
          "--port-file", portfile, (char *)NULL);
    _exit(127);
  }
  for (int i = 0; i < 200 && !standin_port; i++) {
    FILE *f = fopen(portfile, "r");
    if (f) {
      if (fscanf(f, "%d", &standin_port) != 1) standin_port = 0;
      fclose(f);
    }
    if (!standin_port) usleep(50000);
  }
  unlink(portfile);
  return standin_port ? 0 : -1;
}

static int standin_stop(void **state) {
  (void)state;
  if (standin_pid > 0) {
    kill(standin_pid, SIGTERM);
    waitpid(standin_pid, NULL, 0);
  }
  return 0;
}

typedef struct resp_s {
  char data[65536];
  size_t len;
} resp_t;

static size_t resp_write(char *p, size_t size, size_t n, void *arg) {
  resp_t *r = arg;
  size_t len = size * n;
  if (len > sizeof(r->data) - 1 - r->len) len = sizeof(r->data) - 1 - r->len;
  memcpy(r->data + r->len, p, len);
  r->len += len;
  r->data[r->len] = '\0';
  return size * n;
}

/* A control route of the stand-in; returns the HTTP status. */
static long standin_call(const char *method, const char *path, const char *body, resp_t *out) {
  char url[256];
  snprintf(url, sizeof(url), "http://127.0.0.1:%d/_standin/%s", standin_port, path);
  static resp_t scratch;
  resp_t *r = out ? out : &scratch;
  r->len = 0;
  r->data[0] = '\0';
  CURL *e = curl_easy_init();
  curl_easy_setopt(e, CURLOPT_URL, url);
  curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
  if (body) curl_easy_setopt(e, CURLOPT_POSTFIELDS, body);
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, resp_write);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, r);
  long status = 0;
  if (curl_easy_perform(e) == CURLE_OK) curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
  curl_easy_cleanup(e);
  return status;
}

/* Objects in the bucket, or multipart uploads in progress. */
static int standin_count(fx_t *fx, const char *what) {
  resp_t r;
  char path[64];
  snprintf(path, sizeof(path), "state/%s", fx->bucket);
  assert_int_equal(standin_call("GET", path, NULL, &r), 200);
  json_t *st = json_loads(r.data, 0, NULL);
  assert_non_null(st);
  json_t *v = json_object_get(st, what);
  int n = (int)(json_is_array(v) ? json_array_size(v) : json_object_size(v));
  json_decref(st);
  return n;
}

static files_s3_config_t s3_config(fx_t *fx) {
  static char endpoint[64];
  snprintf(endpoint, sizeof(endpoint), "http://127.0.0.1:%d", standin_port);
  return (files_s3_config_t){.endpoint = endpoint,
                             .region = "us-east-1",
                             .bucket = fx->bucket,
                             .access_key = "parley-test",
                             .secret_key = "parley-test-secret",
                             .path_style = 1,
                             .part_bytes = 5 << 20,
                             .timeout_ms = 5000,
                             .retries = 2,
                             .max_jobs = 2,
                             .data_dir = fx->dir};
}

static int setup_with(void **state, int s3) {
  fx_t *fx = calloc(1, sizeof(*fx));
  uv_loop_init(&fx->loop);
  snprintf(fx->dir, sizeof(fx->dir), "/tmp/parley-files-XXXXXX");
  assert_non_null(mkdtemp(fx->dir));
  fx->s3 = s3;
  if (s3) {
    char path[64];
    snprintf(fx->bucket, sizeof(fx->bucket), "t%d-%d", (int)getpid(), ++bucket_seq);
    snprintf(path, sizeof(path), "buckets/%s", fx->bucket);
    assert_int_equal(standin_call("POST", path, NULL, NULL), 204);
    files_s3_config_t c = s3_config(fx);
    fx->f = files_open_s3(&fx->loop, &c);
  } else {
    fx->f = files_open_dir(&fx->loop, fx->dir);
  }
  assert_non_null(fx->f);
  *state = fx;
  return 0;
}

static int setup(void **state) { return setup_with(state, 0); }
static int setup_s3(void **state) { return setup_with(state, 1); }

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

static int count_dir(const char *path) {
  DIR *d = opendir(path);
  int n = 0;
  struct dirent *e;
  while ((e = readdir(d)))
    if (e->d_name[0] != '.' && strcmp(e->d_name, "tmp") != 0) n++;
  closedir(d);
  return n;
}

/* Committed objects (sub ""), or what uploads in progress hold (sub "/tmp"):
 * files/ and files/tmp/ of the data directory; the bucket's objects, and the
 * spool's files with the bucket's multipart uploads, for S3. */
static int count(fx_t *fx, const char *sub) {
  char path[128];
  if (fx->s3 && sub[0] == '\0') return standin_count(fx, "objects");
  if (fx->s3) {
    snprintf(path, sizeof(path), "%s/s3spool", fx->dir);
    return count_dir(path) + standin_count(fx, "uploads");
  }
  snprintf(path, sizeof(path), "%s/files%s", fx->dir, sub);
  return count_dir(path);
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
  snprintf(path, sizeof(path), "%s/%s/%s.deadbeef", fx->dir, fx->s3 ? "s3spool" : "files/tmp", key);
  FILE *f = fopen(path, "w");
  fputs("half", f);
  fclose(f);
  files_s3_config_t c = s3_config(fx);
  files_t *again = fx->s3 ? files_open_s3(&fx->loop, &c) : files_open_dir(&fx->loop, fx->dir);
  assert_non_null(again);
  assert_int_equal(count(fx, "/tmp"), 0);
  files_close(again);
}

/* ---- the S3 backend's own cases ---- */

#define BIG (12 * 1024 * 1024 + 123)
static char big[BIG];

/* Requests the stand-in saw for this test's bucket with method and a query
 * starting with query_prefix (NULL: any), answered status (0: any). */
static int requests(fx_t *fx, const char *method, const char *query_prefix, long status) {
  resp_t *r = malloc(sizeof(*r));
  char path[64];
  snprintf(path, sizeof(path), "requests/%s", fx->bucket);
  assert_int_equal(standin_call("GET", path, NULL, r), 200);
  json_t *all = json_loads(r->data, 0, NULL);
  assert_non_null(all);
  int n = 0;
  size_t i;
  json_t *q;
  json_array_foreach(all, i, q) {
    const char *query = json_string_value(json_object_get(q, "query"));
    if (strcmp(json_string_value(json_object_get(q, "method")), method) == 0 &&
        (!query_prefix || strncmp(query, query_prefix, strlen(query_prefix)) == 0) &&
        (!status || json_integer_value(json_object_get(q, "status")) == status))
      n++;
  }
  json_decref(all);
  free(r);
  return n;
}

/* The connections the stand-in saw for this test's bucket. */
static int connections(fx_t *fx) {
  resp_t *r = malloc(sizeof(*r));
  char path[64];
  snprintf(path, sizeof(path), "requests/%s", fx->bucket);
  assert_int_equal(standin_call("GET", path, NULL, r), 200);
  json_t *all = json_loads(r->data, 0, NULL);
  assert_non_null(all);
  json_t *peers = json_object();
  size_t i;
  json_t *q;
  json_array_foreach(all, i, q) {
    char port[16];
    snprintf(port, sizeof(port), "%lld", json_integer_value(json_object_get(q, "peer")));
    json_object_set_new(peers, port, json_true());
  }
  int n = (int)json_object_size(peers);
  json_decref(peers);
  json_decref(all);
  free(r);
  return n;
}

static void fault(fx_t *fx, const char *json) {
  char path[64];
  snprintf(path, sizeof(path), "fault/%s", fx->bucket);
  assert_int_equal(standin_call(json ? "POST" : "DELETE", path, json, NULL), 204);
}

/* Begins an upload and writes len bytes of big in 1 MiB writes; returns the
 * first failed status (0 when every write went through). */
static int upload_some(fx_t *fx, files_upload_t **u, size_t len) {
  assert_int_equal(files_upload_begin(fx->f, key, u, done, fx), 0);
  wait_call(fx);
  assert_int_equal(fx->status, 0);
  for (size_t off = 0; off < len; off += 1 << 20) {
    size_t n = len - off < (1u << 20) ? len - off : 1u << 20;
    assert_int_equal(files_upload_write(*u, big + off, n, done, fx), 0);
    wait_call(fx);
    if (fx->status != 0) return fx->status;
  }
  return 0;
}

static void test_s3_multipart_and_ranged_reads(void **state) {
  fx_t *fx = *state;
  for (size_t i = 0; i < BIG; i++) big[i] = (char)(i * 7 + i / 4096);
  files_upload_t *u = NULL;
  assert_int_equal(upload_some(fx, &u, 6 << 20), 0);
  /* A part went up (5 MiB at least): a multipart upload is in progress,
   * nothing is visible yet. */
  assert_int_equal(standin_count(fx, "uploads"), 1);
  assert_int_equal(count(fx, ""), 0);
  for (size_t off = 6 << 20; off < BIG; off += 1 << 20) {
    size_t n = BIG - off < (1u << 20) ? BIG - off : 1u << 20;
    assert_int_equal(files_upload_write(u, big + off, n, done, fx), 0);
    wait_call(fx);
    assert_int_equal(fx->status, 0);
  }
  assert_int_equal(files_upload_commit(u, done, fx), 0);
  wait_call(fx);
  assert_int_equal(fx->status, 0);
  assert_int_equal(count(fx, ""), 1);
  assert_int_equal(count(fx, "/tmp"), 0);
  /* CreateMultipartUpload as "uploads=", two full parts and the rest, then
   * CompleteMultipartUpload; no PutObject of the whole. */
  assert_int_equal(requests(fx, "POST", "uploads=", 200), 1);
  assert_int_equal(requests(fx, "PUT", "partNumber=", 200), 3);
  assert_int_equal(requests(fx, "POST", "uploadId=", 200), 1);
  assert_int_equal(requests(fx, "PUT", NULL, 0), 3);

  /* Read back from an offset, across the reader's 1 MiB chunks. */
  files_reader_t *r = NULL;
  size_t from = (5 << 20) - 10, got = 0;
  assert_int_equal(files_reader_open(fx->f, key, from, &r, done, fx), 0);
  wait_call(fx);
  assert_int_equal(fx->status, 0);
  static char buf[300 * 1024];
  for (;;) {
    assert_int_equal(files_reader_read(r, buf, sizeof(buf), read_done, fx), 0);
    wait_call(fx);
    assert_true(fx->nread >= 0);
    if (fx->nread == 0) break;
    assert_memory_equal(buf, big + from + got, (size_t)fx->nread);
    got += (size_t)fx->nread;
  }
  assert_int_equal(got, BIG - from);
  files_reader_close(r);
  /* At the end exactly: opens, and reads nothing. */
  assert_int_equal(files_reader_open(fx->f, key, BIG, &r, done, fx), 0);
  wait_call(fx);
  assert_int_equal(fx->status, 0);
  assert_int_equal(files_reader_read(r, buf, sizeof(buf), read_done, fx), 0);
  wait_call(fx);
  assert_int_equal(fx->nread, 0);
  files_reader_close(r);
  uv_run(&fx->loop, UV_RUN_DEFAULT);
  /* Connections are kept between requests, whichever pool thread makes them:
   * 5 to store, 9 to read, over a connection or two (one per thread at once). */
  assert_true(connections(fx) <= 2);
}

static void test_s3_abort_mid_multipart(void **state) {
  fx_t *fx = *state;
  files_upload_t *u = NULL;
  assert_int_equal(upload_some(fx, &u, 6 << 20), 0);
  assert_int_equal(standin_count(fx, "uploads"), 1);
  files_upload_abort(u);
  uv_run(&fx->loop, UV_RUN_DEFAULT);
  assert_int_equal(count(fx, ""), 0);
  assert_int_equal(count(fx, "/tmp"), 0);
  assert_int_equal(requests(fx, "DELETE", "uploadId=", 204), 1);
}

static void test_s3_failures_leave_nothing(void **state) {
  fx_t *fx = *state;
  files_upload_t *u = NULL;
  /* Parts refused 503: tried 1 + retries times, then the write fails. */
  fault(fx, "{\"status\": 503, \"methods\": [\"PUT\"]}");
  assert_int_equal(upload_some(fx, &u, 6 << 20), UV_EIO);
  assert_int_equal(requests(fx, "PUT", "partNumber=1", 503), 3);
  files_upload_abort(u);
  uv_run(&fx->loop, UV_RUN_DEFAULT);
  assert_int_equal(count(fx, "/tmp"), 0);
  /* The completion refused: the commit fails and the upload is aborted. */
  fault(fx, NULL);
  assert_int_equal(upload_some(fx, &u, 6 << 20), 0);
  fault(fx, "{\"status\": 500, \"methods\": [\"POST\"], \"count\": 3}");
  assert_int_equal(files_upload_commit(u, done, fx), 0);
  wait_call(fx);
  assert_int_equal(fx->status, UV_EIO);
  /* A small one refused. */
  fault(fx, "{\"status\": 503, \"methods\": [\"PUT\"]}");
  assert_int_equal(upload_some(fx, &u, 1000), 0);
  assert_int_equal(files_upload_commit(u, done, fx), 0);
  wait_call(fx);
  assert_int_equal(fx->status, UV_EIO);
  uv_run(&fx->loop, UV_RUN_DEFAULT);
  assert_int_equal(count(fx, ""), 0);
  assert_int_equal(count(fx, "/tmp"), 0);
  /* Removal of an absent object succeeds; a failing one says so. */
  fault(fx, NULL);
  assert_int_equal(files_remove(fx->f, key, done, fx), 0);
  wait_call(fx);
  assert_int_equal(fx->status, 0);
  fault(fx, "{\"status\": 503}");
  assert_int_equal(files_remove(fx->f, key, done, fx), 0);
  wait_call(fx);
  assert_int_equal(fx->status, UV_EIO);
  uv_run(&fx->loop, UV_RUN_DEFAULT);
}

static void test_s3_hanging_server_times_out(void **state) {
  fx_t *fx = *state;
  files_close(fx->f);
  files_s3_config_t c = s3_config(fx);
  c.timeout_ms = 300;
  c.retries = 1;
  fx->f = files_open_s3(&fx->loop, &c);
  fault(fx, "{\"hang\": 2, \"methods\": [\"PUT\"]}");
  files_upload_t *u = NULL;
  assert_int_equal(upload_some(fx, &u, 100), 0);
  uint64_t start = uv_hrtime();
  assert_int_equal(files_upload_commit(u, done, fx), 0);
  wait_call(fx);
  assert_int_equal(fx->status, UV_ETIMEDOUT);
  /* Two attempts of 300 ms and the pause between: well under the hang. */
  assert_true(uv_hrtime() - start < 1500 * 1000000ull);
  uv_run(&fx->loop, UV_RUN_DEFAULT);
  assert_int_equal(count(fx, "/tmp"), 0);
}

typedef struct order_s {
  int commit_status, remove_status;
  int commit_done, remove_done; /* the order they finished in, from 1 */
  int seq;
} order_t;

static void on_order_commit(void *ctx, int status) {
  order_t *o = ctx;
  o->commit_status = status;
  o->commit_done = ++o->seq;
}

static void on_order_remove(void *ctx, int status) {
  order_t *o = ctx;
  o->remove_status = status;
  o->remove_done = ++o->seq;
}

/* With s3_max_jobs 1, a request to S3 waits while another is in flight, but
 * an upload's begin and its writes (the spool only) do not. */
static void test_s3_requests_at_once_are_bounded(void **state) {
  fx_t *fx = *state;
  files_close(fx->f);
  files_s3_config_t c = s3_config(fx);
  c.max_jobs = 1;
  fx->f = files_open_s3(&fx->loop, &c);
  fault(fx, "{\"hang\": 1.0, \"status\": 0, \"methods\": [\"PUT\"], \"count\": 1}");
  files_upload_t *u = NULL, *v = NULL;
  assert_int_equal(upload_some(fx, &u, 100), 0);
  order_t o = {0};
  assert_int_equal(files_upload_commit(u, on_order_commit, &o), 0); /* hangs 1 s */
  assert_int_equal(files_remove(fx->f, "00000000000000000000000a", on_order_remove, &o), 0);
  uint64_t start = uv_hrtime();
  assert_int_equal(upload_some(fx, &v, 3000), 0); /* not behind the commit */
  assert_true(uv_hrtime() - start < 800 * 1000000ull);
  assert_int_equal(o.seq, 0);
  files_upload_abort(v);
  uv_run(&fx->loop, UV_RUN_DEFAULT);
  /* The removal ran after the commit's request, not beside it. */
  assert_int_equal(o.commit_done, 1);
  assert_int_equal(o.remove_done, 2);
  assert_int_equal(o.remove_status, 0);
  assert_int_equal(o.commit_status, 0);
  assert_int_equal(count(fx, ""), 1);
  assert_int_equal(count(fx, "/tmp"), 0);
}

static void test_s3_wrong_key_refused(void **state) {
  fx_t *fx = *state;
  files_close(fx->f);
  files_s3_config_t c = s3_config(fx);
  c.secret_key = "not-the-secret";
  fx->f = files_open_s3(&fx->loop, &c);
  files_upload_t *u = NULL;
  assert_int_equal(upload_some(fx, &u, 100), 0);
  assert_int_equal(files_upload_commit(u, done, fx), 0);
  wait_call(fx);
  assert_int_equal(fx->status, UV_EIO);
  assert_int_equal(requests(fx, "PUT", NULL, 403), 1); /* SignatureDoesNotMatch, no retry */
  files_reader_t *r = NULL;
  assert_int_equal(files_reader_open(fx->f, key, 0, &r, done, fx), 0);
  wait_call(fx);
  assert_int_equal(fx->status, UV_EIO);
  uv_run(&fx->loop, UV_RUN_DEFAULT);
  assert_int_equal(count(fx, ""), 0);
  assert_int_equal(count(fx, "/tmp"), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_allow_list),
      cmocka_unit_test(test_sniff_per_thread),
      /* The contract, on both backends. */
      cmocka_unit_test_setup_teardown(test_upload_commit_read_remove, setup, teardown),
      cmocka_unit_test_setup_teardown(test_abort_leaves_nothing, setup, teardown),
      cmocka_unit_test_setup_teardown(test_crash_leftovers_swept_at_open, setup, teardown),
      cmocka_unit_test_setup_teardown(test_upload_commit_read_remove, setup_s3, teardown),
      cmocka_unit_test_setup_teardown(test_abort_leaves_nothing, setup_s3, teardown),
      cmocka_unit_test_setup_teardown(test_crash_leftovers_swept_at_open, setup_s3, teardown),
      /* S3 only. */
      cmocka_unit_test_setup_teardown(test_s3_multipart_and_ranged_reads, setup_s3, teardown),
      cmocka_unit_test_setup_teardown(test_s3_abort_mid_multipart, setup_s3, teardown),
      cmocka_unit_test_setup_teardown(test_s3_failures_leave_nothing, setup_s3, teardown),
      cmocka_unit_test_setup_teardown(test_s3_hanging_server_times_out, setup_s3, teardown),
      cmocka_unit_test_setup_teardown(test_s3_requests_at_once_are_bounded, setup_s3, teardown),
      cmocka_unit_test_setup_teardown(test_s3_wrong_key_refused, setup_s3, teardown),
  };
  return cmocka_run_group_tests(tests, standin_start, standin_stop);
}
