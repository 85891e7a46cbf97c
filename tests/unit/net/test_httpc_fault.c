/* The outbound HTTP client after an allocation fails inside one of libcurl's
 * callbacks (tests/fault/fault.c fails the chosen allocation): the request
 * that met the failure completes with an error, and the client serves every
 * later request, as the Graph API client must after a moment without memory. */
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

#include "parley/httpc.h"

void fault_arm(const char *spec); /* tests/fault/fault.c */

#define OK_REPLY "HTTP/1.1 200 OK\r\nContent-Length: 11\r\nConnection: close\r\n\r\n{\"ok\":true}"

/* Answers every connection with OK_REPLY until stopped. */
typedef struct server_s {
  int fd;
  int port;
  pthread_t thread;
} server_t;

static void *serve(void *arg) {
  server_t *s = arg;
  for (;;) {
    int c = accept(s->fd, NULL, NULL);
    if (c < 0) return NULL;
    char got[4096];
    if (recv(c, got, sizeof(got), 0) > 0) send(c, OK_REPLY, strlen(OK_REPLY), MSG_NOSIGNAL);
    close(c);
  }
}

static void server_start(server_t *s) {
  memset(s, 0, sizeof(*s));
  s->fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in sa = {.sin_family = AF_INET};
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  assert_int_equal(bind(s->fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
  listen(s->fd, 16);
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
  char error[256];
} result_t;

static void on_done(void *ctx, const httpc_response_t *res) {
  result_t *r = ctx;
  r->called++;
  r->status = res->status;
  snprintf(r->error, sizeof(r->error), "%s", res->error ? res->error : "");
}

static void closed(void *arg) { *(int *)arg = 1; }

/* Sends one GET and runs the loop until it completes; returns its status (0
 * when it failed; -1 when the client would not take it). */
static int get(uv_loop_t *loop, httpc_t *h, int port, const char *arm, result_t *r) {
  char url[64];
  snprintf(url, sizeof(url), "http://127.0.0.1:%d/x", port);
  httpc_request_t req = {.method = "GET", .url = url, .timeout_ms = 5000};
  memset(r, 0, sizeof(*r));
  if (httpc_request(h, &req, on_done, r) != 0) return -1;
  /* Our code allocates nothing more before libcurl opens the socket: the next
   * allocation is the poll handle of socket_cb. */
  if (arm) fault_arm(arm);
  uv_update_time(loop);
  uint64_t deadline = uv_now(loop) + 10000;
  while (!r->called && uv_now(loop) < deadline) {
    if (!uv_run(loop, UV_RUN_ONCE)) usleep(1000); /* nothing left to wait for */
    uv_update_time(loop);
  }
  fault_arm("off");
  assert_int_equal(r->called, 1);
  return r->status;
}

/* The poll handle of a new socket cannot be allocated: that request fails at
 * once, and the next ones succeed. */
static void test_socket_callback_out_of_memory(void **state) {
  (void)state;
  server_t s;
  server_start(&s);
  uv_loop_t loop;
  uv_loop_init(&loop);
  httpc_t *h = httpc_new(&loop);
  result_t r;
  assert_int_equal(get(&loop, h, s.port, NULL, &r), 200);
  assert_int_equal(get(&loop, h, s.port, "nth:1", &r), 0);
  assert_string_equal(r.error, "out of memory");
  for (int i = 0; i < 3; i++) {
    assert_int_equal(get(&loop, h, s.port, NULL, &r), 200);
    assert_int_equal(httpc_in_flight(h), 0);
  }
  int done = 0;
  httpc_close(h, closed, &done);
  uv_run(&loop, UV_RUN_DEFAULT);
  assert_true(done);
  assert_int_equal(uv_loop_close(&loop), 0);
  server_stop(&s);
}

/* Every allocation of a request's life in turn (the Nth from the call on)
 * fails: the request is refused or fails, and the client serves the next. */
static void test_each_allocation_fails_once(void **state) {
  (void)state;
  server_t s;
  server_start(&s);
  uv_loop_t loop;
  uv_loop_init(&loop);
  httpc_t *h = httpc_new(&loop);
  char url[64];
  snprintf(url, sizeof(url), "http://127.0.0.1:%d/x", s.port);
  const char *headers[] = {"X-A: 1", NULL};
  for (int n = 1; n <= 8; n++) {
    char spec[16];
    snprintf(spec, sizeof(spec), "nth:%d", n);
    httpc_request_t req = {
        .method = "POST", .url = url, .headers = headers, .body = "{}", .body_len = 2};
    result_t r = {0};
    fault_arm(spec);
    if (httpc_request(h, &req, on_done, &r) == 0)
      while (!r.called) uv_run(&loop, UV_RUN_ONCE);
    fault_arm("off");
    assert_int_equal(get(&loop, h, s.port, NULL, &r), 200);
    assert_int_equal(httpc_in_flight(h), 0);
  }
  int done = 0;
  httpc_close(h, closed, &done);
  uv_run(&loop, UV_RUN_DEFAULT);
  assert_true(done);
  assert_int_equal(uv_loop_close(&loop), 0);
  server_stop(&s);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_socket_callback_out_of_memory),
      cmocka_unit_test(test_each_allocation_fails_once),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
