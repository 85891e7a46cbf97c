/* The outbound HTTP client against a tiny blocking server in a thread: a good
 * answer, a server that never answers (timeout), an oversized body, the
 * address guard, cancellation on close, a handle reused with nothing of its
 * last request; and the private-address table. */
#include <arpa/inet.h>
#include <netinet/in.h>
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

#include "parley/addrguard.h"
#include "parley/httpc.h"

typedef struct server_s {
  int fd;
  int port;
  const char *reply; /* NULL: read the request and never answer */
  int hold_ms;
  char got[4096];
  pthread_t thread;
} server_t;

static void *serve(void *arg) {
  server_t *s = arg;
  int c = accept(s->fd, NULL, NULL);
  if (c < 0) return NULL;
  ssize_t n = recv(c, s->got, sizeof(s->got) - 1, 0);
  if (n > 0) s->got[n] = '\0';
  if (s->reply)
    send(c, s->reply, strlen(s->reply), MSG_NOSIGNAL);
  else
    usleep((useconds_t)s->hold_ms * 1000);
  close(c);
  return NULL;
}

static void server_start(server_t *s, const char *reply, int hold_ms) {
  memset(s, 0, sizeof(*s));
  s->reply = reply;
  s->hold_ms = hold_ms;
  s->fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in sa = {.sin_family = AF_INET};
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  assert_int_equal(bind(s->fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
  listen(s->fd, 4);
  socklen_t len = sizeof(sa);
  getsockname(s->fd, (struct sockaddr *)&sa, &len);
  s->port = ntohs(sa.sin_port);
  pthread_create(&s->thread, NULL, serve, s);
}

static void server_stop(server_t *s) {
  shutdown(s->fd, SHUT_RDWR);
  close(s->fd);
  pthread_join(s->thread, NULL);
}

typedef struct result_s {
  int called;
  int status;
  char body[256];
  char error[256];
} result_t;

static void on_done(void *ctx, const httpc_response_t *res) {
  result_t *r = ctx;
  r->called++;
  r->status = res->status;
  snprintf(r->body, sizeof(r->body), "%s", res->body);
  snprintf(r->error, sizeof(r->error), "%s", res->error ? res->error : "");
}

static void closed(void *arg) { *(int *)arg = 1; }

static void run(const char *url, long timeout_ms, size_t max, httpc_addr_check check, result_t *r) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  httpc_t *h = httpc_new(&loop);
  const char *headers[] = {"Content-Type: application/json", NULL};
  httpc_request_t req = {.method = "POST",
                         .url = url,
                         .headers = headers,
                         .body = "{\"a\":1}",
                         .body_len = 7,
                         .timeout_ms = timeout_ms,
                         .max_response = max,
                         .check = check};
  assert_int_equal(httpc_request(h, &req, on_done, r), 0);
  while (!r->called) uv_run(&loop, UV_RUN_ONCE);
  int done = 0;
  httpc_close(h, closed, &done);
  uv_run(&loop, UV_RUN_DEFAULT);
  assert_true(done);
  assert_int_equal(uv_loop_close(&loop), 0);
}

static void test_good_answer(void **state) {
  (void)state;
  server_t s;
  server_start(
      &s, "HTTP/1.1 200 OK\r\nContent-Length: 11\r\nConnection: close\r\n\r\n{\"ok\":true}", 0);
  char url[64];
  snprintf(url, sizeof(url), "http://127.0.0.1:%d/x", s.port);
  result_t r = {0};
  run(url, 2000, 0, NULL, &r);
  server_stop(&s);
  assert_int_equal(r.status, 200);
  assert_string_equal(r.body, "{\"ok\":true}");
  assert_non_null(strstr(s.got, "POST /x HTTP/1.1"));
  assert_non_null(strstr(s.got, "{\"a\":1}"));
}

static void test_timeout(void **state) {
  (void)state;
  server_t s;
  server_start(&s, NULL, 1500);
  char url[64];
  snprintf(url, sizeof(url), "http://127.0.0.1:%d/", s.port);
  result_t r = {0};
  run(url, 300, 0, NULL, &r);
  server_stop(&s);
  assert_int_equal(r.status, 0);
  assert_string_equal(r.error, "timeout");
}

static void test_too_large(void **state) {
  (void)state;
  server_t s;
  server_start(
      &s, "HTTP/1.1 200 OK\r\nContent-Length: 40\r\n\r\n0123456789012345678901234567890123456789",
      0);
  char url[64];
  snprintf(url, sizeof(url), "http://127.0.0.1:%d/", s.port);
  result_t r = {0};
  run(url, 2000, 16, NULL, &r);
  server_stop(&s);
  assert_int_equal(r.status, 0);
  assert_string_equal(r.error, "response too large");
}

static int refuse_private(void *ctx, const char *host, int port, const struct sockaddr *a) {
  (void)ctx;
  (void)host;
  (void)port;
  return !addrguard_is_private(a);
}

static void test_guard_refuses(void **state) {
  (void)state;
  result_t r = {0};
  run("http://127.0.0.1:9/", 2000, 0, refuse_private, &r);
  assert_int_equal(r.status, 0);
  assert_string_equal(r.error, "refused address");
}

static int blocked(const char *text) {
  struct sockaddr_in a = {.sin_family = AF_INET};
  struct sockaddr_in6 b = {.sin6_family = AF_INET6};
  if (inet_pton(AF_INET, text, &a.sin_addr) == 1)
    return addrguard_is_private((struct sockaddr *)&a);
  assert_int_equal(inet_pton(AF_INET6, text, &b.sin6_addr), 1);
  return addrguard_is_private((struct sockaddr *)&b);
}

/* Each special-purpose range of IANA's registries, by its first and last
 * address, and the public neighbours just outside it where there are some. */
static void test_private_table(void **state) {
  (void)state;
  static const char *const ranges[][2] = {
      {"0.0.0.0", "0.255.255.255"},
      {"10.0.0.0", "10.255.255.255"},
      {"100.64.0.0", "100.127.255.255"},
      {"127.0.0.0", "127.255.255.255"},
      {"169.254.0.0", "169.254.255.255"},
      {"172.16.0.0", "172.31.255.255"},
      {"192.0.0.0", "192.0.0.255"},
      {"192.0.2.0", "192.0.2.255"},
      {"192.31.196.0", "192.31.196.255"},
      {"192.52.193.0", "192.52.193.255"},
      {"192.88.99.0", "192.88.99.255"},
      {"192.168.0.0", "192.168.255.255"},
      {"192.175.48.0", "192.175.48.255"},
      {"198.18.0.0", "198.19.255.255"},
      {"198.51.100.0", "198.51.100.255"},
      {"203.0.113.0", "203.0.113.255"},
      {"224.0.0.0", "239.255.255.255"},
      {"240.0.0.0", "255.255.255.255"},
      {"::", "::ffff:ffff"},
      {"::ffff:0:0:0", "::ffff:0:ffff:ffff"},
      {"::ffff:127.0.0.1", "::ffff:10.1.2.3"},
      {"64:ff9b::", "64:ff9b::ffff:ffff"},
      {"64:ff9b:1::", "64:ff9b:1:ffff:ffff:ffff:ffff:ffff"},
      {"100::", "100::ffff:ffff:ffff:ffff"},
      {"100:0:0:1::", "100:0:0:1:ffff:ffff:ffff:ffff"},
      {"2001::", "2001:1ff:ffff:ffff:ffff:ffff:ffff:ffff"},
      {"2001:db8::", "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff"},
      {"2002::", "2002:ffff:ffff:ffff:ffff:ffff:ffff:ffff"},
      {"2620:4f:8000::", "2620:4f:8000:ffff:ffff:ffff:ffff:ffff"},
      {"3fff::", "3fff:fff:ffff:ffff:ffff:ffff:ffff:ffff"},
      {"5f00::", "5f00:ffff:ffff:ffff:ffff:ffff:ffff:ffff"},
      {"fc00::", "fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"},
      {"fe80::", "febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff"},
      {"ff00::", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"},
  };
  for (size_t i = 0; i < sizeof(ranges) / sizeof(ranges[0]); i++) {
    if (!blocked(ranges[i][0]) || !blocked(ranges[i][1]))
      fail_msg("the range %s - %s is not blocked whole", ranges[i][0], ranges[i][1]);
  }
  static const char *const public_addrs[] = {
      "8.8.8.8",         "1.1.1.1",       "9.255.255.255",   "11.0.0.0",
      "100.63.255.255",  "100.128.0.0",   "172.15.255.255",  "172.32.0.0",
      "192.0.1.255",     "192.0.3.0",     "198.17.255.255",  "198.20.0.0",
      "223.255.255.255", "93.184.216.34", "::ffff:8.8.8.8",  "2606:2800:220:1::1",
      "2001:200::1",     "2003::1",       "2620:4f:8001::1", "2a00:1450:4001::1",
      "64:ff9b:2::1",
  };
  for (size_t i = 0; i < sizeof(public_addrs) / sizeof(public_addrs[0]); i++) {
    if (blocked(public_addrs[i])) fail_msg("the public address %s is blocked", public_addrs[i]);
  }
}

static void test_close_cancels(void **state) {
  (void)state;
  server_t s;
  server_start(&s, NULL, 1000);
  char url[64];
  snprintf(url, sizeof(url), "http://127.0.0.1:%d/", s.port);
  uv_loop_t loop;
  uv_loop_init(&loop);
  httpc_t *h = httpc_new(&loop);
  result_t r = {0};
  httpc_request_t req = {.method = "GET", .url = url, .timeout_ms = 5000};
  assert_int_equal(httpc_request(h, &req, on_done, &r), 0);
  uv_run(&loop, UV_RUN_NOWAIT);
  int done = 0;
  httpc_close(h, closed, &done);
  uv_run(&loop, UV_RUN_DEFAULT);
  assert_int_equal(r.called, 1);
  assert_string_equal(r.error, "cancelled");
  assert_true(done);
  assert_int_equal(uv_loop_close(&loop), 0);
  server_stop(&s);
}

/* Answers two connections one after the other, keeping each request. */
typedef struct server2_s {
  int fd;
  int port;
  char got[2][4096];
  pthread_t thread;
} server2_t;

static void *serve2(void *arg) {
  server2_t *s = arg;
  static const char reply[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok";
  for (int i = 0; i < 2; i++) {
    int c = accept(s->fd, NULL, NULL);
    if (c < 0) return NULL;
    ssize_t n = recv(c, s->got[i], sizeof(s->got[i]) - 1, 0);
    if (n > 0) s->got[i][n] = '\0';
    send(c, reply, strlen(reply), MSG_NOSIGNAL);
    close(c);
  }
  return NULL;
}

static int allow_all(void *ctx, const char *host, int port, const struct sockaddr *addr) {
  (void)host;
  (void)port;
  (void)addr;
  (*(int *)ctx)++;
  return 1;
}

/* A finished transfer's easy handle serves the next request: nothing of the
 * first (method, headers, body, address guard, HEAD's no-body) carries over. */
static void test_handle_reused_clean(void **state) {
  (void)state;
  server2_t s = {0};
  s.fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in sa = {.sin_family = AF_INET};
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  assert_int_equal(bind(s.fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
  listen(s.fd, 4);
  socklen_t len = sizeof(sa);
  getsockname(s.fd, (struct sockaddr *)&sa, &len);
  s.port = ntohs(sa.sin_port);
  pthread_create(&s.thread, NULL, serve2, &s);
  char url1[64], url2[64];
  snprintf(url1, sizeof(url1), "http://127.0.0.1:%d/first", s.port);
  snprintf(url2, sizeof(url2), "http://127.0.0.1:%d/second", s.port);

  uv_loop_t loop;
  uv_loop_init(&loop);
  httpc_t *h = httpc_new(&loop);
  int checked = 0;
  const char *headers[] = {"X-First: yes", NULL};
  httpc_request_t first = {.method = "HEAD",
                           .url = url1,
                           .headers = headers,
                           .timeout_ms = 2000,
                           .check = allow_all,
                           .check_ctx = &checked};
  result_t r1 = {0}, r2 = {0};
  assert_int_equal(httpc_request(h, &first, on_done, &r1), 0);
  while (!r1.called) uv_run(&loop, UV_RUN_ONCE);
  httpc_request_t second = {
      .method = "POST", .url = url2, .body = "{\"b\":2}", .body_len = 7, .timeout_ms = 2000};
  assert_int_equal(httpc_request(h, &second, on_done, &r2), 0);
  while (!r2.called) uv_run(&loop, UV_RUN_ONCE);
  int done = 0;
  httpc_close(h, closed, &done);
  uv_run(&loop, UV_RUN_DEFAULT);
  assert_true(done);
  assert_int_equal(uv_loop_close(&loop), 0);
  pthread_join(s.thread, NULL);
  close(s.fd);

  assert_int_equal(r1.status, 200);
  assert_non_null(strstr(s.got[0], "HEAD /first HTTP/1.1"));
  assert_non_null(strstr(s.got[0], "X-First: yes"));
  assert_int_equal(checked, 1);
  assert_int_equal(r2.status, 200);
  assert_string_equal(r2.body, "ok"); /* HEAD's no-body is gone */
  assert_non_null(strstr(s.got[1], "POST /second HTTP/1.1"));
  assert_non_null(strstr(s.got[1], "{\"b\":2}"));
  assert_non_null(strstr(s.got[1], "User-Agent: parleyd/"));
  assert_null(strstr(s.got[1], "X-First"));
  assert_int_equal(checked, 1); /* the second request had no guard */
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_good_answer),         cmocka_unit_test(test_timeout),
      cmocka_unit_test(test_too_large),           cmocka_unit_test(test_guard_refuses),
      cmocka_unit_test(test_private_table),       cmocka_unit_test(test_close_cancels),
      cmocka_unit_test(test_handle_reused_clean),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
