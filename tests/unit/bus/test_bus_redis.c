/* The Redis bus against a real redis-server started by each test on a free port:
 * two instances exchanging messages, kill and restart mid-stream, a server that
 * stops answering, the shared token bucket and presence. Also the url parser.
 * Each test runs its own loop; tests that need the server skip without it. */
#include <arpa/inet.h>
#include <errno.h>
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

#include "bus/redis_internal.h"

#define REDIS_SERVER "/usr/bin/redis-server"

/* ---- redis-server processes ---- */

static int free_port(void) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t len = sizeof(a);
  assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
  assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
  close(fd);
  return ntohs(a.sin_port);
}

static void sleep_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

/* A blocking client for checks from the test's side; NULL if not answering. */
static redisContext *raw_connect(int port) {
  struct timeval tv = {0, 200000};
  redisContext *c = redisConnectWithTimeout("127.0.0.1", port, tv);
  if (c && !c->err && redisSetTimeout(c, tv) == REDIS_OK) return c;
  if (c) redisFree(c);
  return NULL;
}

static long long raw_integer(int port, const char *cmd, const char *arg) {
  redisContext *c = raw_connect(port);
  assert_non_null(c);
  redisReply *r = redisCommand(c, cmd, arg);
  assert_non_null(r);
  long long v = r->type == REDIS_REPLY_INTEGER                     ? r->integer
                : r->type == REDIS_REPLY_ARRAY && r->elements == 2 ? r->element[1]->integer
                                                                   : -1;
  freeReplyObject(r);
  redisFree(c);
  return v;
}

/* Starts redis-server (with a password when requirepass is set) and waits until
 * it answers, NOAUTH included. */
static pid_t redis_start_auth(int port, const char *requirepass) {
  char portstr[16];
  snprintf(portstr, sizeof(portstr), "%d", port);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    if (!freopen("/dev/null", "w", stdout)) _exit(126);
    execl(REDIS_SERVER, REDIS_SERVER, "--port", portstr, "--bind", "127.0.0.1", "--save", "",
          "--appendonly", "no", "--daemonize", "no", "--requirepass",
          requirepass ? requirepass : "", (char *)NULL);
    _exit(127);
  }
  for (int i = 0; i < 300; i++) {
    redisContext *c = raw_connect(port);
    if (c) {
      redisReply *r = redisCommand(c, "PING");
      int ok = r && (r->type == REDIS_REPLY_STATUS || r->type == REDIS_REPLY_ERROR);
      if (r) freeReplyObject(r);
      redisFree(c);
      if (ok) return pid;
    }
    sleep_ms(10);
  }
  fail_msg("redis-server did not start on port %d", port);
  return -1;
}

static pid_t redis_start(int port) { return redis_start_auth(port, NULL); }

static void redis_kill(pid_t pid) {
  kill(pid, SIGKILL);
  waitpid(pid, NULL, 0);
}

/* ---- fixture: a loop, a server, two bus instances ---- */

typedef struct {
  bus_t *bus;
  int ups, downs;
  int received;
  char chan[16][32];
  char msg[16][32];
  size_t len[16];
  int results;
  int allowed[8];
  int64_t retry[8];
  long long count;
  int closed;
} peer_t;

typedef struct {
  uv_loop_t loop;
  pid_t redis;
  int port;
  char url[64];
  peer_t a, b;
  int timed_out;
} fixture_t;

static void on_message(void *ctx, const char *channel, const char *payload, size_t len) {
  peer_t *p = ctx;
  if (p->received < 16) {
    snprintf(p->chan[p->received], sizeof(p->chan[0]), "%s", channel);
    memcpy(p->msg[p->received], payload, len < 32 ? len : 32);
    p->len[p->received] = len;
  }
  p->received++;
}

static void on_state(void *ctx, int up) {
  peer_t *p = ctx;
  if (up)
    p->ups++;
  else
    p->downs++;
}

static void on_deadline(uv_timer_t *t) { *(int *)t->data = 1; }

static void deadline_start(fixture_t *f, uv_timer_t *t, uint64_t ms) {
  f->timed_out = 0;
  uv_timer_init(&f->loop, t);
  t->data = &f->timed_out;
  uv_timer_start(t, on_deadline, ms, 0);
}

static void deadline_stop(fixture_t *f, uv_timer_t *t) {
  uv_close((uv_handle_t *)t, NULL);
  uv_run(&f->loop, UV_RUN_NOWAIT);
}

/* Runs the loop until expr holds or ms pass; the caller asserts expr after. */
#define RUN_UNTIL(f, expr, ms)                                          \
  do {                                                                  \
    uv_timer_t t_;                                                      \
    deadline_start((f), &t_, (ms));                                     \
    while (!(expr) && !(f)->timed_out) uv_run(&(f)->loop, UV_RUN_ONCE); \
    deadline_stop((f), &t_);                                            \
  } while (0)

static void run_for(fixture_t *f, uint64_t ms) { RUN_UNTIL(f, 0, ms); }

static void peer_open(fixture_t *f, peer_t *p) {
  p->bus = bus_redis_new(&f->loop, f->url);
  assert_non_null(p->bus);
  /* Short intervals so faults show within the suite's few seconds. */
  bus_redis_set_timing(p->bus, 100, 50, 400);
  bus_set_handlers(p->bus, on_message, on_state, p);
}

static int setup(void **state) {
  if (access(REDIS_SERVER, X_OK) != 0) {
    print_message("no %s: skipped\n", REDIS_SERVER);
    skip();
  }
  fixture_t *f = calloc(1, sizeof(*f));
  uv_loop_init(&f->loop);
  f->port = free_port();
  f->redis = redis_start(f->port);
  snprintf(f->url, sizeof(f->url), "redis://127.0.0.1:%d", f->port);
  peer_open(f, &f->a);
  peer_open(f, &f->b);
  *state = f;
  return 0;
}

static void on_closed(void *arg) { ((peer_t *)arg)->closed = 1; }

static int teardown(void **state) {
  fixture_t *f = *state;
  if (!f) return 0;
  peer_t *peers[2] = {&f->a, &f->b};
  for (int i = 0; i < 2; i++)
    if (peers[i]->bus) bus_close(peers[i]->bus, on_closed, peers[i]);
  /* Closing is bounded even when the server does not answer. */
  RUN_UNTIL(f, (!f->a.bus || f->a.closed) && (!f->b.bus || f->b.closed), 3000);
  assert_true(!f->a.bus || f->a.closed);
  assert_true(!f->b.bus || f->b.closed);
  assert_int_equal(uv_run(&f->loop, UV_RUN_DEFAULT), 0);
  assert_int_equal(uv_loop_close(&f->loop), 0);
  if (f->redis > 0) {
    kill(f->redis, SIGCONT);
    redis_kill(f->redis);
  }
  free(f);
  return 0;
}

static void wait_both_up(fixture_t *f, int ups) {
  RUN_UNTIL(f, f->a.ups >= ups && f->b.ups >= ups, 3000);
  assert_int_equal(f->a.ups, ups);
  assert_int_equal(f->b.ups, ups);
  assert_true(bus_is_up(f->a.bus) && bus_is_up(f->b.bus));
}

/* ---- tests ---- */

static void test_two_instances_exchange_messages(void **state) {
  fixture_t *f = *state;
  assert_string_equal(bus_backend(f->a.bus), "redis");
  assert_int_equal(bus_subscribe(f->a.bus, "conv:1"), 0);
  assert_int_equal(bus_subscribe(f->b.bus, "conv:1"), 0);
  assert_int_equal(bus_subscribe(f->b.bus, "conv:2"), 0);
  /* Down until connected: the caller delivers locally and clients sync later. */
  assert_int_equal(bus_publish(f->a.bus, "conv:1", "early", 5), -1);
  wait_both_up(f, 1);

  assert_int_equal(bus_publish(f->a.bus, "conv:1", "hi\0a", 4), 0);
  assert_int_equal(bus_publish(f->a.bus, "conv:9", "nobody", 6), 0);
  assert_int_equal(bus_publish(f->a.bus, "conv:2", "to b", 4), 0);
  /* PUBLISH is written in the protocol's text by the bus (redis_cmd.c): an
   * empty payload, one that looks like the protocol, and one of many digits'
   * length arrive as they were. */
  static char big[70001];
  for (size_t i = 0; i < sizeof(big); i++) big[i] = (char)('a' + i % 26);
  assert_int_equal(bus_publish(f->a.bus, "conv:2", "", 0), 0);
  assert_int_equal(bus_publish(f->a.bus, "conv:2", "\r\n*1\r\n$3", 9), 0);
  assert_int_equal(bus_publish(f->a.bus, "conv:2", big, sizeof(big)), 0);
  RUN_UNTIL(f, f->a.received >= 1 && f->b.received >= 5, 2000);
  run_for(f, 50);
  /* A hears its own publish (as Redis does) but not conv:2; B hears both, in order. */
  assert_int_equal(f->a.received, 1);
  assert_string_equal(f->a.chan[0], "conv:1");
  assert_int_equal(f->a.len[0], 4);
  assert_memory_equal(f->a.msg[0], "hi\0a", 4);
  assert_int_equal(f->b.received, 5);
  assert_string_equal(f->b.chan[0], "conv:1");
  assert_string_equal(f->b.chan[1], "conv:2");
  assert_memory_equal(f->b.msg[1], "to b", 4);
  assert_int_equal(f->b.len[2], 0);
  assert_int_equal(f->b.len[3], 9);
  assert_memory_equal(f->b.msg[3], "\r\n*1\r\n$3", 9);
  assert_int_equal(f->b.len[4], sizeof(big));
  assert_memory_equal(f->b.msg[4], big, 32);

  /* A healthy close unsubscribes and disconnects at once, well before the
   * deadline (one ping interval) that bounds closing a dead connection. */
  uint64_t t0 = uv_now(&f->loop);
  bus_close(f->b.bus, on_closed, &f->b);
  assert_int_equal(bus_publish(f->b.bus, "conv:1", "x", 1), -1);
  RUN_UNTIL(f, f->b.closed, 1000);
  assert_int_equal(f->b.closed, 1);
  assert_true(uv_now(&f->loop) - t0 < 80);
  f->b.bus = NULL;
  assert_int_equal(raw_integer(f->port, "PUBSUB NUMSUB %s", "conv:2"), 0);
}

/* A readable event reads on while the subscriber's socket holds bytes (redis.c's
 * redis_poll): hiredis reads 16 KiB at a time, and at one read a turn a
 * subscriber hearing every instance's envelopes fell behind under load until
 * Redis closed it for its output buffer. 40 messages of 4,000 bytes wait in
 * the socket; one turn hears more than the 4 that 16 KiB holds. */
static void test_a_turn_reads_more_than_one_buffer(void **state) {
  fixture_t *f = *state;
  assert_int_equal(bus_subscribe(f->b.bus, "big"), 0);
  wait_both_up(f, 1);
  run_for(f, 20);
  static char payload[4000];
  memset(payload, 'x', sizeof(payload));
  redisContext *c = raw_connect(f->port);
  assert_non_null(c);
  for (int i = 0; i < 40; i++) {
    redisReply *r = redisCommand(c, "PUBLISH big %b", payload, sizeof(payload));
    assert_non_null(r);
    assert_int_equal(r->integer, 1);
    freeReplyObject(r);
  }
  redisFree(c);
  sleep_ms(100); /* written to b's socket meanwhile */
  int before = f->b.received;
  uv_run(&f->loop, UV_RUN_NOWAIT);
  assert_true(f->b.received - before > 8);
  RUN_UNTIL(f, f->b.received - before >= 40, 2000);
  assert_int_equal(f->b.received - before, 40);
  assert_int_equal(f->b.len[0], sizeof(payload));
}

static void test_password_and_db(void **state) {
  fixture_t *f = calloc(1, sizeof(*f));
  *state = f;
  uv_loop_init(&f->loop);
  f->port = free_port();
  f->redis = redis_start_auth(f->port, "s3cret");
  snprintf(f->url, sizeof(f->url), "redis://:s3cret@127.0.0.1:%d/3", f->port);
  peer_open(f, &f->a);
  snprintf(f->url, sizeof(f->url), "redis://:wrong@127.0.0.1:%d/3", f->port);
  peer_open(f, &f->b);
  assert_int_equal(bus_subscribe(f->a.bus, "c"), 0);
  RUN_UNTIL(f, f->a.ups >= 1, 2000);
  assert_int_equal(f->a.ups, 1);
  assert_int_equal(bus_publish(f->a.bus, "c", "ok", 2), 0);
  assert_int_equal(bus_presence_set(f->a.bus, "u", "i", 10000, NULL, NULL), 0);
  RUN_UNTIL(f, f->a.received >= 1, 2000);
  assert_int_equal(f->a.received, 1);
  /* A refused password never counts as up. */
  run_for(f, 200);
  assert_int_equal(f->b.ups, 0);
  redisContext *c = raw_connect(f->port);
  assert_non_null(c);
  redisReply *r = redisCommand(c, "AUTH s3cret");
  freeReplyObject(r);
  r = redisCommand(c, "SELECT 3");
  freeReplyObject(r);
  r = redisCommand(c, "EXISTS parley:presence:u");
  assert_int_equal(r->integer, 1);
  freeReplyObject(r);
  redisFree(c);
}

static void test_counted_subscriptions(void **state) {
  fixture_t *f = *state;
  assert_int_equal(bus_subscribe(f->b.bus, "c"), 0);
  assert_int_equal(bus_subscribe(f->b.bus, "c"), 0);
  assert_int_equal(bus_subscribe(f->b.bus, "marker"), 0);
  wait_both_up(f, 1);
  assert_int_equal(bus_unsubscribe(f->b.bus, "c"), 0);
  assert_int_equal(bus_publish(f->a.bus, "c", "1", 1), 0);
  RUN_UNTIL(f, f->b.received >= 1, 2000);
  assert_int_equal(f->b.received, 1);
  assert_int_equal(raw_integer(f->port, "PUBSUB NUMSUB %s", "c"), 1);

  /* The last unsubscribe leaves the channel on the server too. */
  assert_int_equal(bus_unsubscribe(f->b.bus, "c"), 0);
  assert_int_equal(bus_unsubscribe(f->b.bus, "c"), -1);
  assert_int_equal(bus_publish(f->a.bus, "c", "2", 1), 0);
  assert_int_equal(bus_publish(f->a.bus, "marker", "m", 1), 0);
  RUN_UNTIL(f, f->b.received >= 2, 2000);
  run_for(f, 30);
  assert_int_equal(f->b.received, 2);
  assert_string_equal(f->b.chan[1], "marker");
  assert_int_equal(raw_integer(f->port, "PUBSUB NUMSUB %s", "c"), 0);

  /* Unsubscribe and subscribe again before Redis answered: still subscribed. */
  assert_int_equal(bus_subscribe(f->b.bus, "d"), 0);
  run_for(f, 30);
  assert_int_equal(bus_unsubscribe(f->b.bus, "d"), 0);
  assert_int_equal(bus_subscribe(f->b.bus, "d"), 0);
  run_for(f, 50);
  assert_int_equal(bus_publish(f->a.bus, "d", "3", 1), 0);
  RUN_UNTIL(f, f->b.received >= 3, 2000);
  assert_int_equal(f->b.received, 3);
  assert_string_equal(f->b.chan[2], "d");
}

static void on_take(void *ctx, int allowed, int64_t retry_after_ms) {
  peer_t *p = ctx;
  p->allowed[p->results] = allowed;
  p->retry[p->results] = retry_after_ms;
  p->results++;
}

static void test_kill_and_restart_mid_stream(void **state) {
  fixture_t *f = *state;
  assert_int_equal(bus_subscribe(f->b.bus, "conv:7"), 0);
  wait_both_up(f, 1);
  assert_int_equal(bus_publish(f->a.bus, "conv:7", "before", 6), 0);
  RUN_UNTIL(f, f->b.received >= 1, 2000);
  assert_int_equal(f->b.received, 1);

  redis_kill(f->redis);
  f->redis = -1;
  RUN_UNTIL(f, f->a.downs >= 1 && f->b.downs >= 1, 2000);
  assert_int_equal(f->a.downs, 1);
  assert_int_equal(f->b.downs, 1);
  assert_false(bus_is_up(f->a.bus));
  assert_int_equal(bus_publish(f->a.bus, "conv:7", "lost", 4), -1);
  /* The bucket still answers, from this instance's memory. */
  assert_int_equal(bus_bucket_take(f->a.bus, "k", 60, 1, on_take, &f->a), 0);
  RUN_UNTIL(f, f->a.results >= 1, 1000);
  assert_int_equal(f->a.results, 1);
  assert_int_equal(f->a.allowed[0], 1);
  run_for(f, 300); /* a few failed reconnection attempts */
  assert_int_equal(f->b.ups, 1);

  f->redis = redis_start(f->port);
  wait_both_up(f, 2);
  assert_int_equal(raw_integer(f->port, "PUBSUB NUMSUB %s", "conv:7"), 1);
  assert_int_equal(bus_publish(f->a.bus, "conv:7", "after", 5), 0);
  RUN_UNTIL(f, f->b.received >= 2, 2000);
  assert_int_equal(f->b.received, 2);
  assert_memory_equal(f->b.msg[1], "after", 5);
}

/* SIGSTOP: the sockets stay open but nothing answers; only the ping notices. */
static void test_stopped_server_is_noticed(void **state) {
  fixture_t *f = *state;
  assert_int_equal(bus_subscribe(f->b.bus, "c"), 0);
  wait_both_up(f, 1);
  assert_int_equal(kill(f->redis, SIGSTOP), 0);
  uint64_t t0 = uv_now(&f->loop);
  RUN_UNTIL(f, f->a.downs >= 1 && f->b.downs >= 1, 2000);
  assert_int_equal(f->a.downs, 1);
  assert_int_equal(f->b.downs, 1);
  /* ping every 100 ms, overdue one interval later */
  assert_true(uv_now(&f->loop) - t0 < 600);
  assert_int_equal(bus_publish(f->a.bus, "c", "x", 1), -1);

  assert_int_equal(kill(f->redis, SIGCONT), 0);
  wait_both_up(f, 2);
  assert_int_equal(bus_publish(f->a.bus, "c", "y", 1), 0);
  RUN_UNTIL(f, f->b.received >= 1, 2000);
  assert_int_equal(f->b.received, 1);
  assert_memory_equal(f->b.msg[0], "y", 1);
}

/* libuv runs timers before a turn's reads: a turn that outlasts the ping's
 * deadline while the ping's answer waits in the socket (a long turn of
 * deliveries, under load) does not take the bus down (redis_on_ping_timer).
 * The pings are written, the loop is held past the deadline while Redis
 * answers, and the next turn runs the ping timer before it reads. */
static void test_answer_waiting_after_a_long_turn(void **state) {
  fixture_t *f = *state;
  wait_both_up(f, 1);
  redis_bus_t *rs[2] = {(redis_bus_t *)f->a.bus, (redis_bus_t *)f->b.bus};
  for (int round = 0; round < 3; round++) {
    RUN_UNTIL(f,
              rs[0]->pub.ping_pending && rs[0]->sub.ping_pending && rs[1]->pub.ping_pending &&
                  rs[1]->sub.ping_pending,
              1000);
    for (int i = 0; i < 2; i++) {
      assert_non_null(rs[i]->pub.ac);
      assert_non_null(rs[i]->sub.ac);
      redisAsyncHandleWrite(rs[i]->pub.ac); /* the pings leave now, if not yet */
      redisAsyncHandleWrite(rs[i]->sub.ac);
    }
    sleep_ms(180); /* ping every 100 ms: overdue, answered, not read */
    uv_run(&f->loop, UV_RUN_NOWAIT);
    run_for(f, 150);
  }
  assert_int_equal(f->a.downs, 0);
  assert_int_equal(f->b.downs, 0);
  assert_true(bus_is_up(f->a.bus) && bus_is_up(f->b.bus));
}

/* A listener that accepts connections and never says a word. */
static void test_silent_listener_never_up(void **state) {
  fixture_t *f = calloc(1, sizeof(*f));
  *state = f;
  uv_loop_init(&f->loop);
  int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t alen = sizeof(a);
  assert_int_equal(bind(lfd, (struct sockaddr *)&a, sizeof(a)), 0);
  assert_int_equal(listen(lfd, 64), 0);
  assert_int_equal(getsockname(lfd, (struct sockaddr *)&a, &alen), 0);
  snprintf(f->url, sizeof(f->url), "redis://localhost:%d/0", ntohs(a.sin_port));
  peer_open(f, &f->a);

  int accepted[64], n = 0;
  for (int i = 0; i < 8; i++) {
    run_for(f, 100);
    int fd;
    while (n < 64 && (fd = accept(lfd, NULL, NULL)) >= 0) accepted[n++] = fd;
  }
  /* Never up, and each silent connection pair was given up and retried. */
  assert_int_equal(f->a.ups, 0);
  assert_false(bus_is_up(f->a.bus));
  assert_int_equal(bus_publish(f->a.bus, "c", "x", 1), -1);
  assert_true(n >= 4);
  /* bus_close must not wait for answers that never come (teardown bounds it). */
  bus_close(f->a.bus, on_closed, &f->a);
  RUN_UNTIL(f, f->a.closed, 3000);
  assert_int_equal(f->a.closed, 1);
  f->a.bus = NULL;
  for (int i = 0; i < n; i++) close(accepted[i]);
  close(lfd);
}

static void test_bucket_shared_by_two_instances(void **state) {
  fixture_t *f = *state;
  wait_both_up(f, 1);
  /* burst 3 at 60 a minute, taken twice by A and once by B, then refused to both. */
  assert_int_equal(bus_bucket_take(f->a.bus, "login:1.2.3.4", 60, 3, on_take, &f->a), 0);
  assert_int_equal(bus_bucket_take(f->a.bus, "login:1.2.3.4", 60, 3, on_take, &f->a), 0);
  assert_int_equal(bus_bucket_take(f->b.bus, "login:1.2.3.4", 60, 3, on_take, &f->b), 0);
  RUN_UNTIL(f, f->a.results >= 2 && f->b.results >= 1, 2000);
  assert_int_equal(f->a.allowed[0] + f->a.allowed[1] + f->b.allowed[0], 3);
  assert_int_equal(bus_bucket_take(f->b.bus, "login:1.2.3.4", 60, 3, on_take, &f->b), 0);
  assert_int_equal(bus_bucket_take(f->a.bus, "login:1.2.3.4", 60, 3, on_take, &f->a), 0);
  assert_int_equal(bus_bucket_take(f->a.bus, "login:other", 60, 3, on_take, &f->a), 0);
  RUN_UNTIL(f, f->a.results >= 4 && f->b.results >= 2, 2000);
  assert_int_equal(f->b.allowed[1], 0);
  assert_int_equal(f->a.allowed[2], 0);
  assert_true(f->b.retry[1] > 0 && f->b.retry[1] <= 1000);
  assert_true(f->a.retry[2] > 0 && f->a.retry[2] <= 1000);
  assert_int_equal(f->a.allowed[3], 1);
  assert_true(raw_integer(f->port, "PTTL %s", "parley:bucket:login:1.2.3.4") > 0);

  /* A second later one token is back, for whoever asks first. */
  run_for(f, 1050);
  assert_int_equal(bus_bucket_take(f->b.bus, "login:1.2.3.4", 60, 3, on_take, &f->b), 0);
  assert_int_equal(bus_bucket_take(f->a.bus, "login:1.2.3.4", 60, 3, on_take, &f->a), 0);
  RUN_UNTIL(f, f->a.results >= 5 && f->b.results >= 3, 2000);
  assert_int_equal(f->b.allowed[2], 1);
  assert_int_equal(f->a.allowed[4], 0);
}

static void on_count(void *ctx, int status, long long count) {
  peer_t *p = ctx;
  assert_int_equal(status, 0);
  p->count = count;
  p->results++;
}

static void test_presence_across_instances_and_ttl(void **state) {
  fixture_t *f = *state;
  wait_both_up(f, 1);
  assert_int_equal(bus_presence_set(f->a.bus, "u1", "inst-a", 300, on_count, &f->a), 0);
  RUN_UNTIL(f, f->a.results >= 1, 2000);
  assert_int_equal(f->a.count, 1);
  assert_int_equal(bus_presence_set(f->b.bus, "u1", "inst-b", 300, on_count, &f->b), 0);
  RUN_UNTIL(f, f->b.results >= 1, 2000);
  assert_int_equal(f->b.count, 2);
  /* Refreshing is not a second presence. */
  assert_int_equal(bus_presence_set(f->a.bus, "u1", "inst-a", 300, on_count, &f->a), 0);
  assert_int_equal(bus_presence_count(f->a.bus, "u2", on_count, &f->a), 0);
  RUN_UNTIL(f, f->a.results >= 3, 2000);
  assert_int_equal(f->a.count, 0); /* u2 */

  assert_int_equal(bus_presence_set(f->b.bus, "u1", "inst-b", 0, on_count, &f->b), 0);
  RUN_UNTIL(f, f->b.results >= 2, 2000);
  assert_int_equal(f->b.count, 1);
  /* inst-a stops refreshing (as a dead instance would) and expires. */
  run_for(f, 350);
  assert_int_equal(bus_presence_count(f->b.bus, "u1", on_count, &f->b), 0);
  RUN_UNTIL(f, f->b.results >= 3, 2000);
  assert_int_equal(f->b.count, 0);
  assert_int_equal(raw_integer(f->port, "EXISTS %s", "parley:presence:u1"), 0);
}

static long long many[4];
static size_t many_n;

static void on_counts(void *ctx, int status, const long long *counts, size_t n) {
  peer_t *p = ctx;
  assert_int_equal(status, 0);
  many_n = n;
  for (size_t i = 0; i < n && i < 4; i++) many[i] = counts[i];
  p->results++;
}

/* Many users' counts in one EVAL, in the order asked, expiry applied; with
 * Redis gone, this instance's memory answers. */
static void test_presence_counts_in_one_round_trip(void **state) {
  fixture_t *f = *state;
  wait_both_up(f, 1);
  assert_int_equal(bus_presence_set(f->a.bus, "m1", "inst-a", 5000, on_count, &f->a), 0);
  assert_int_equal(bus_presence_set(f->b.bus, "m1", "inst-b", 200, on_count, &f->b), 0);
  assert_int_equal(bus_presence_set(f->b.bus, "m3", "inst-b", 5000, on_count, &f->b), 0);
  RUN_UNTIL(f, f->a.results >= 1 && f->b.results >= 2, 2000);
  const char *users[] = {"m1", "m2", "m3"};
  assert_int_equal(bus_presence_counts(f->a.bus, users, 3, on_counts, &f->a), 0);
  RUN_UNTIL(f, f->a.results >= 2, 2000);
  assert_int_equal(many_n, 3);
  assert_int_equal(many[0], 2);
  assert_int_equal(many[1], 0);
  assert_int_equal(many[2], 1); /* set by the other instance: from Redis */
  run_for(f, 250);              /* inst-b's entry for m1 expires */
  assert_int_equal(bus_presence_counts(f->a.bus, users, 3, on_counts, &f->a), 0);
  RUN_UNTIL(f, f->a.results >= 3, 2000);
  assert_int_equal(many[0], 1);
  assert_int_equal(many[2], 1);
  /* Redis gone: a's own memory knows only its own entries. */
  redis_kill(f->redis);
  f->redis = -1;
  RUN_UNTIL(f, f->a.downs >= 1, 5000);
  assert_int_equal(bus_presence_counts(f->a.bus, users, 3, on_counts, &f->a), 0);
  RUN_UNTIL(f, f->a.results >= 4, 2000);
  assert_int_equal(many[0], 1);
  assert_int_equal(many[2], 0);
}

static void test_url_parse(void **state) {
  redis_url_t u;
  assert_int_equal(redis_url_parse("redis://localhost", &u), 0);
  assert_string_equal(u.host, "localhost");
  assert_int_equal(u.port, 6379);
  assert_int_equal(u.db, 0);
  assert_null(u.password);
  redis_url_free(&u);
  assert_int_equal(redis_url_parse("redis://:p%40ss@cache.internal:7000/2", &u), 0);
  assert_string_equal(u.host, "cache.internal");
  assert_int_equal(u.port, 7000);
  assert_string_equal(u.password, "p@ss");
  assert_null(u.user);
  assert_int_equal(u.db, 2);
  redis_url_free(&u);
  assert_int_equal(redis_url_parse("redis://app:pw@[::1]:6380/", &u), 0);
  assert_string_equal(u.host, "::1");
  assert_string_equal(u.user, "app");
  assert_int_equal(u.port, 6380);
  redis_url_free(&u);
  const char *bad[] = {"http://localhost", "redis://",    "redis://h:0",    "redis://h:99999",
                       "redis://h:12x",    "redis://h/x", "redis://user@h", "redis://h o",
                       "redis://[::1",     NULL};
  for (int i = 0; bad[i]; i++) assert_int_equal(redis_url_parse(bad[i], &u), -1);
  uv_loop_t loop;
  uv_loop_init(&loop);
  assert_null(bus_redis_new(&loop, "redis://h:0"));
  assert_int_equal(uv_loop_close(&loop), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_url_parse),
      cmocka_unit_test_setup_teardown(test_two_instances_exchange_messages, setup, teardown),
      cmocka_unit_test_setup_teardown(test_a_turn_reads_more_than_one_buffer, setup, teardown),
      cmocka_unit_test_setup_teardown(test_counted_subscriptions, setup, teardown),
      cmocka_unit_test_teardown(test_password_and_db, teardown),
      cmocka_unit_test_setup_teardown(test_kill_and_restart_mid_stream, setup, teardown),
      cmocka_unit_test_setup_teardown(test_stopped_server_is_noticed, setup, teardown),
      cmocka_unit_test_setup_teardown(test_answer_waiting_after_a_long_turn, setup, teardown),
      cmocka_unit_test_teardown(test_silent_listener_never_up, teardown),
      cmocka_unit_test_setup_teardown(test_bucket_shared_by_two_instances, setup, teardown),
      cmocka_unit_test_setup_teardown(test_presence_across_instances_and_ttl, setup, teardown),
      cmocka_unit_test_setup_teardown(test_presence_counts_in_one_round_trip, setup, teardown),
  };
  /* e.g. BUS_TEST_FILTER='test_kill*' to run one test */
  if (getenv("BUS_TEST_FILTER")) cmocka_set_test_filter(getenv("BUS_TEST_FILTER"));
  return cmocka_run_group_tests(tests, NULL, NULL);
}
