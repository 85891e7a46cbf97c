/* The HTTP layer over real loopback sockets, in process: the loop runs in a
 * thread with a test route table, and each test is a client with a blocking
 * socket. Covers byte-by-byte and odd-split parsing, pipelining with an async
 * handler in the middle, chunked bodies, every limit, malformed input, the
 * request and idle deadlines, 404/405, CORS and X-Request-Id. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "parley/config.h"
#include "parley/conn.h"
#include "parley/http.h"
#include "parley/log.h"
#include "parley/metrics.h"
#include "parley/router.h"

static config_t cfg;
static metrics_t *metrics;
static http_server_t srv;
static listener_t *listener;
static uv_loop_t loop;
static uv_async_t stop_async;
static pthread_t loop_thread;
static int port;

static void h_echo(http_req_t *r) {
  char q[256] = "";
  long n = http_req_query(r, "q", q, sizeof(q));
  json_t *body = json_pack("{s:s, s:s, s:I}", "path", r->path, "q", n >= 0 ? q : "", "body_len",
                           (json_int_t)r->body.len);
  http_reply_json(r, 200, body);
}

typedef struct slow_s {
  uv_timer_t timer;
  http_req_t *req;
} slow_t;

static void slow_closed(uv_handle_t *h) { free(h->data); }
static void slow_fire(uv_timer_t *t) {
  slow_t *s = t->data;
  http_reply_json(s->req, 200, json_pack("{s:s}", "slow", "done"));
  http_req_unref(s->req);
  t->data = s;
  uv_close((uv_handle_t *)t, slow_closed);
}
static void h_slow(http_req_t *r) {
  slow_t *s = calloc(1, sizeof(*s));
  s->req = r;
  http_req_ref(r);
  uv_timer_init(&loop, &s->timer);
  s->timer.data = s;
  uv_timer_start(&s->timer, slow_fire, 50, 0);
}

static void h_json(http_req_t *r) {
  json_t *j = http_req_json(r);
  if (!j) return;
  http_reply_json(r, 200, j);
}

static void h_private(http_req_t *r) {
  http_reply_json(r, 200, json_pack("{s:s}", "user", r->user_id));
}

static int authenticate(void *a, http_req_t *r) {
  (void)a;
  const char *h = http_req_header(r, "authorization");
  if (!h || strcmp(h, "Bearer good") != 0) return -1;
  strcpy(r->user_id, "u1");
  return 0;
}

static const route_t routes[] = {
    {"GET", "/echo", 0, h_echo},  {"POST", "/echo", 0, h_echo},      {"GET", "/slow", 0, h_slow},
    {"POST", "/json", 0, h_json}, {"GET", "/private", 1, h_private},
};
static const route_table_t table = ROUTE_TABLE(routes);
static const route_table_t *const tables[] = {&table};

static void close_conn(conn_t *c, void *arg) {
  (void)arg;
  conn_close(c);
}
static void on_stop(uv_async_t *a) {
  listener_stop(listener);
  conn_foreach(listener, close_conn, NULL);
  uv_close((uv_handle_t *)a, NULL);
}
static void *run_loop(void *arg) {
  (void)arg;
  uv_run(&loop, UV_RUN_DEFAULT);
  return NULL;
}

static int setup(void **state) {
  (void)state;
  memset(&cfg, 0, sizeof(cfg));
  char *argv[] = {"test", NULL};
  setenv("PARLEY_REQUEST_TIMEOUT_MS", "400", 1);
  setenv("PARLEY_IDLE_TIMEOUT_MS", "600", 1);
  setenv("PARLEY_MAX_BODY_BYTES", "4096", 1);
  setenv("PARLEY_CORS_ORIGINS", "https://app.example.com", 1);
  if (config_load(&cfg, 1, argv) != 0) return -1;
  log_set_level(LOG_ERROR);
  uv_loop_init(&loop);
  metrics = metrics_new();
  srv = (http_server_t){&cfg, tables, 1, authenticate, NULL, metrics, NULL, NULL, NULL, NULL};
  listener = listener_new(&loop, &http_conn_handler, &srv, cfg.max_connections, metrics);
  if (!listener || listener_start(listener, "127.0.0.1", 0) != 0) return -1;
  port = listener_port(listener);
  uv_async_init(&loop, &stop_async, on_stop);
  pthread_create(&loop_thread, NULL, run_loop, NULL);
  return 0;
}

static int teardown(void **state) {
  (void)state;
  uv_async_send(&stop_async);
  pthread_join(loop_thread, NULL);
  int rc = uv_loop_close(&loop);
  listener_free(listener);
  metrics_free(metrics);
  config_free(&cfg);
  return rc == 0 ? 0 : -1;
}

static int client(void) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
  return fd;
}

static void send_all(int fd, const char *s, size_t len) {
  while (len) {
    ssize_t n = send(fd, s, len, MSG_NOSIGNAL);
    if (n <= 0) return;
    s += n;
    len -= (size_t)n;
  }
}

/* Reads until the peer closes or `want` complete responses arrived, or timeout. */
static size_t read_responses(int fd, char *out, size_t cap, int want, int timeout_ms) {
  size_t len = 0;
  out[0] = '\0';
  for (;;) {
    int got = 0;
    const char *p = out;
    while ((p = strstr(p, "HTTP/1.1 "))) {
      const char *hdr_end = strstr(p, "\r\n\r\n");
      if (!hdr_end) break;
      const char *cl = strcasestr(p, "Content-Length: ");
      size_t body = (cl && cl < hdr_end) ? (size_t)atol(cl + 16) : 0;
      if ((size_t)(hdr_end + 4 - out) + body > len) break;
      got++;
      p = hdr_end + 4 + body;
    }
    if (want > 0 && got >= want) return len;
    struct pollfd pfd = {fd, POLLIN, 0};
    if (poll(&pfd, 1, timeout_ms) <= 0) return len;
    ssize_t n = recv(fd, out + len, cap - len - 1, 0);
    if (n <= 0) return len;
    len += (size_t)n;
    out[len] = '\0';
  }
}

static int peer_closed(int fd, int timeout_ms) {
  char b[256];
  struct pollfd pfd = {fd, POLLIN, 0};
  for (;;) {
    if (poll(&pfd, 1, timeout_ms) <= 0) return 0;
    ssize_t n = recv(fd, b, sizeof(b), 0);
    if (n <= 0) return 1;
  }
}

static int count(const char *hay, const char *needle) {
  int n = 0;
  for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle)) n++;
  return n;
}

static void test_byte_by_byte(void **state) {
  (void)state;
  int fd = client();
  const char *req = "GET /echo?q=a%20b HTTP/1.1\r\nHost: x\r\nX-Request-Id: abc-123\r\n\r\n";
  for (size_t i = 0; i < strlen(req); i++) send_all(fd, req + i, 1);
  char out[8192];
  read_responses(fd, out, sizeof(out), 1, 2000);
  assert_non_null(strstr(out, "HTTP/1.1 200 OK"));
  assert_non_null(strstr(out, "\"q\":\"a b\""));
  assert_non_null(strstr(out, "X-Request-Id: abc-123"));
  close(fd);
}

static void test_pipelined_in_order_with_odd_splits(void **state) {
  (void)state;
  int fd = client();
  const char *reqs =
      "GET /echo?q=1 HTTP/1.1\r\nHost: x\r\n\r\n"
      "GET /slow HTTP/1.1\r\nHost: x\r\n\r\n"
      "POST /echo?q=3 HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"
      "GET /echo?q=4 HTTP/1.1\r\nHost: x\r\n\r\n";
  size_t len = strlen(reqs), off = 0, step = 7;
  while (off < len) {
    size_t n = off + step > len ? len - off : step;
    send_all(fd, reqs + off, n);
    off += n;
    step = step * 3 % 23 + 1;
  }
  char out[16384];
  read_responses(fd, out, sizeof(out), 4, 3000);
  assert_int_equal(count(out, "HTTP/1.1 200 OK"), 4);
  char *a = strstr(out, "\"q\":\"1\""), *b = strstr(out, "\"slow\""),
       *c = strstr(out, "\"q\":\"3\""), *d = strstr(out, "\"q\":\"4\"");
  assert_true(a && b && c && d);
  assert_true(a < b && b < c && c < d);
  assert_non_null(strstr(out, "\"body_len\":5"));
  close(fd);
}

static void test_chunked_body(void **state) {
  (void)state;
  int fd = client();
  const char *req =
      "POST /json HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
      "Transfer-Encoding: chunked\r\n\r\n4\r\n{\"a\"\r\n4\r\n:12}\r\n0\r\n\r\n";
  send_all(fd, req, strlen(req));
  char out[8192];
  read_responses(fd, out, sizeof(out), 1, 2000);
  assert_non_null(strstr(out, "HTTP/1.1 200 OK"));
  assert_non_null(strstr(out, "{\"a\":12}"));
  close(fd);
}

static void test_json_errors(void **state) {
  (void)state;
  int fd = client();
  const char *req =
      "POST /json HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\n{}"
      "POST /json HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: "
      "3\r\n\r\n{x}";
  send_all(fd, req, strlen(req));
  char out[8192];
  read_responses(fd, out, sizeof(out), 2, 2000);
  assert_non_null(strstr(out, "HTTP/1.1 415"));
  assert_non_null(strstr(out, "\"code\":\"unsupported_media_type\""));
  assert_non_null(strstr(out, "HTTP/1.1 400"));
  assert_non_null(strstr(out, "\"code\":\"invalid_json\""));
  close(fd);
}

static void test_body_too_large_before_reading(void **state) {
  (void)state;
  int fd = client();
  const char *req = "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n";
  send_all(fd, req, strlen(req));
  char out[8192];
  read_responses(fd, out, sizeof(out), 1, 2000);
  assert_non_null(strstr(out, "HTTP/1.1 413"));
  assert_non_null(strstr(out, "payload_too_large"));
  assert_true(peer_closed(fd, 2000));
  close(fd);
}

static void test_headers_and_url_limits(void **state) {
  (void)state;
  char *big = malloc(40000);
  int fd = client();
  int n = snprintf(big, 20000, "GET /echo HTTP/1.1\r\nHost: x\r\nX-Big: ");
  memset(big + n, 'a', 17000);
  strcpy(big + n + 17000, "\r\n\r\n");
  send_all(fd, big, strlen(big));
  char out[8192];
  read_responses(fd, out, sizeof(out), 1, 2000);
  assert_non_null(strstr(out, "HTTP/1.1 431"));
  close(fd);

  fd = client();
  n = snprintf(big, 40000, "GET /echo?q=");
  memset(big + n, 'b', 33000); /* over HTTP_MAX_URL (32 KiB) */
  strcpy(big + n + 33000, " HTTP/1.1\r\nHost: x\r\n\r\n");
  send_all(fd, big, strlen(big));
  read_responses(fd, out, sizeof(out), 1, 2000);
  assert_non_null(strstr(out, "HTTP/1.1 414"));
  close(fd);
  free(big);
}

/* A target and headers larger than a request's own room (HTTP_REQ_ARENA), in
 * pieces split inside the target and inside a header's value: what does not
 * fit is allocated apart, and all of it reads back. */
static void test_beyond_the_request_room(void **state) {
  (void)state;
  char *big = malloc(8192);
  char q[201];
  memset(q, 'c', 200);
  q[200] = '\0';
  int n = snprintf(big, 8192, "GET /echo?q=%s&pad=", q);
  memset(big + n, 'd', 1500);
  n += 1500;
  n += snprintf(big + n, 8192 - (size_t)n, " HTTP/1.1\r\nHost: x\r\nX-Pad: ");
  memset(big + n, 'e', 1500);
  n += 1500;
  snprintf(big + n, 8192 - (size_t)n, "\r\nX-Request-Id: late-id\r\n\r\n");
  int fd = client();
  size_t len = strlen(big);
  send_all(fd, big, 100); /* inside the target */
  usleep(20000);
  send_all(fd, big + 100, 1800); /* inside X-Pad's value */
  usleep(20000);
  send_all(fd, big + 1900, len - 1900);
  char out[8192];
  read_responses(fd, out, sizeof(out), 1, 2000);
  assert_non_null(strstr(out, "HTTP/1.1 200 OK"));
  assert_non_null(strstr(out, "X-Request-Id: late-id"));
  char want[260];
  snprintf(want, sizeof(want), "\"q\":\"%s\"", q);
  assert_non_null(strstr(out, want));
  close(fd);
  free(big);
}

static void test_malformed_is_400_and_closed(void **state) {
  (void)state;
  int fd = client();
  const char *req = "GET /echo HTTP/1.1\r\nHost x\r\n\r\n";
  send_all(fd, req, strlen(req));
  char out[8192];
  read_responses(fd, out, sizeof(out), 1, 2000);
  assert_non_null(strstr(out, "HTTP/1.1 400"));
  assert_non_null(strstr(out, "\"error\""));
  assert_true(peer_closed(fd, 2000));
  close(fd);
}

static void test_not_found_method_not_allowed_auth(void **state) {
  (void)state;
  int fd = client();
  const char *req =
      "GET /nope HTTP/1.1\r\nHost: x\r\n\r\n"
      "DELETE /echo HTTP/1.1\r\nHost: x\r\n\r\n"
      "GET /private HTTP/1.1\r\nHost: x\r\n\r\n"
      "GET /private HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer good\r\n\r\n";
  send_all(fd, req, strlen(req));
  char out[8192];
  read_responses(fd, out, sizeof(out), 4, 2000);
  assert_non_null(strstr(out, "HTTP/1.1 404"));
  assert_non_null(strstr(out, "\"code\":\"not_found\""));
  assert_non_null(strstr(out, "HTTP/1.1 405"));
  assert_non_null(strstr(out, "Allow: GET, POST"));
  assert_non_null(strstr(out, "HTTP/1.1 401"));
  assert_non_null(strstr(out, "{\"user\":\"u1\"}"));
  close(fd);
}

static void test_cors(void **state) {
  (void)state;
  int fd = client();
  const char *req =
      "OPTIONS /echo HTTP/1.1\r\nHost: x\r\nOrigin: https://app.example.com\r\n"
      "Access-Control-Request-Method: POST\r\n\r\n"
      "GET /echo HTTP/1.1\r\nHost: x\r\nOrigin: https://evil.example.com\r\n\r\n";
  send_all(fd, req, strlen(req));
  char out[8192];
  read_responses(fd, out, sizeof(out), 2, 2000);
  assert_non_null(strstr(out, "HTTP/1.1 204"));
  assert_non_null(strstr(out, "Access-Control-Allow-Origin: https://app.example.com"));
  assert_non_null(strstr(out, "Access-Control-Allow-Methods:"));
  assert_null(strstr(out, "evil.example.com"));
  close(fd);
}

static void test_slow_request_times_out(void **state) {
  (void)state;
  int fd = client();
  send_all(fd, "GET /echo HTTP/1.1\r\nHo", 22);
  char out[8192];
  read_responses(fd, out, sizeof(out), 1, 3000);
  assert_non_null(strstr(out, "HTTP/1.1 408"));
  assert_true(peer_closed(fd, 2000));
  close(fd);
}

static void test_idle_keepalive_closes(void **state) {
  (void)state;
  int fd = client();
  send_all(fd, "GET /echo HTTP/1.1\r\nHost: x\r\n\r\n", 31);
  char out[8192];
  read_responses(fd, out, sizeof(out), 1, 2000);
  assert_non_null(strstr(out, "HTTP/1.1 200"));
  assert_true(peer_closed(fd, 3000));
  close(fd);
}

static void test_half_closed_client_gets_answer(void **state) {
  (void)state;
  int fd = client();
  send_all(fd, "GET /slow HTTP/1.1\r\nHost: x\r\n\r\n", 31);
  shutdown(fd, SHUT_WR);
  char out[8192];
  read_responses(fd, out, sizeof(out), 1, 2000);
  assert_non_null(strstr(out, "\"slow\":\"done\""));
  close(fd);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_byte_by_byte),
      cmocka_unit_test(test_pipelined_in_order_with_odd_splits),
      cmocka_unit_test(test_chunked_body),
      cmocka_unit_test(test_json_errors),
      cmocka_unit_test(test_body_too_large_before_reading),
      cmocka_unit_test(test_headers_and_url_limits),
      cmocka_unit_test(test_beyond_the_request_room),
      cmocka_unit_test(test_malformed_is_400_and_closed),
      cmocka_unit_test(test_not_found_method_not_allowed_auth),
      cmocka_unit_test(test_cors),
      cmocka_unit_test(test_slow_request_times_out),
      cmocka_unit_test(test_idle_keepalive_closes),
      cmocka_unit_test(test_half_closed_client_gets_answer),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
