/* The Redis bus's connection glue (hiredis contexts on libuv) when one
 * allocation of a connection attempt fails (tests/fault/fault.c): each of the
 * first allocations after start-up fails in turn, and every time the bus must
 * give that attempt up cleanly and come up on a later one, against a real
 * redis-server started on a free port (skipped without one). */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <hiredis/hiredis.h>

#include "bus/bus_internal.h"
#include "parley/bus.h"

#define REDIS_SERVER "/usr/bin/redis-server"

void fault_arm(const char *spec); /* tests/fault/fault.c */

static int free_port(void) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t len = sizeof(a);
  assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
  assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
  close(fd);
  return ntohs(a.sin_port);
}

static pid_t redis_start(int port) {
  char portstr[16];
  snprintf(portstr, sizeof(portstr), "%d", port);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    if (!freopen("/dev/null", "w", stdout)) _exit(126);
    execl(REDIS_SERVER, REDIS_SERVER, "--port", portstr, "--bind", "127.0.0.1", "--save", "",
          "--appendonly", "no", "--daemonize", "no", (char *)NULL);
    _exit(127);
  }
  for (int i = 0; i < 300; i++) {
    struct timeval tv = {0, 200000};
    redisContext *c = redisConnectWithTimeout("127.0.0.1", port, tv);
    int ok = c && !c->err;
    if (c) redisFree(c);
    if (ok) return pid;
    struct timespec ts = {0, 10000000L};
    nanosleep(&ts, NULL);
  }
  fail_msg("redis-server did not start on port %d", port);
  return -1;
}

typedef struct {
  int ups, closed, timed_out;
} state_t;

static void on_message(void *ctx, const char *channel, const char *payload, size_t len) {}
static void on_state(void *ctx, int up) { ((state_t *)ctx)->ups += up; }
static void on_closed(void *arg) { ((state_t *)arg)->closed = 1; }
static void on_deadline(uv_timer_t *t) { ((state_t *)t->data)->timed_out = 1; }

/* Runs loop until *flag is set or ms pass. */
static void run_until(uv_loop_t *loop, state_t *st, int *flag, uint64_t ms) {
  uv_timer_t t;
  uv_timer_init(loop, &t);
  t.data = st;
  st->timed_out = 0;
  uv_timer_start(&t, on_deadline, ms, 0);
  while (!*flag && !st->timed_out) uv_run(loop, UV_RUN_ONCE);
  uv_close((uv_handle_t *)&t, NULL);
  uv_run(loop, UV_RUN_NOWAIT);
}

static void test_each_connect_allocation_fails_once(void **state) {
  (void)state;
  if (access(REDIS_SERVER, X_OK) != 0) {
    print_message("no %s: skipped\n", REDIS_SERVER);
    skip();
  }
  int port = free_port();
  pid_t redis = redis_start(port);
  char url[64];
  snprintf(url, sizeof(url), "redis://127.0.0.1:%d", port);
  for (int n = 1; n <= 12; n++) {
    uv_loop_t loop;
    uv_loop_init(&loop);
    state_t st = {0};
    bus_t *b = bus_redis_new(&loop, url);
    assert_non_null(b);
    bus_redis_set_timing(b, 200, 20, 100);
    bus_set_handlers(b, on_message, on_state, &st);
    assert_int_equal(bus_subscribe(b, "c"), 0);
    /* The Nth allocation from here fails: one in the first connection attempt
     * (the hiredis adapter's poll handle, a command, a reply...). */
    char spec[16];
    snprintf(spec, sizeof(spec), "nth:%d", n);
    fault_arm(spec);
    run_until(&loop, &st, &st.ups, 5000);
    fault_arm("off");
    if (!st.ups) fail_msg("allocation %d failed: the bus never came up", n);
    bus_close(b, on_closed, &st);
    run_until(&loop, &st, &st.closed, 3000);
    assert_true(st.closed);
    assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(uv_loop_close(&loop), 0);
  }
  kill(redis, SIGKILL);
  waitpid(redis, NULL, 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_each_connect_allocation_fails_once),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
