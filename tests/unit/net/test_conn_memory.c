/* Memory connections (conn_open_memory, the seam the HTTP fuzz target drives):
 * bytes in reach the handler only while it reads, writes reach the sink in
 * order and stay pending until drained, on_drain follows the drain, the timer
 * fires on demand, and a close waits for pending writes while an abort cancels
 * them; the memory goes with the loop's close callback. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "parley/conn.h"

typedef struct seen_s {
  char in[256], out[256];
  size_t in_len, out_len;
  int opened, drains, closes, timers;
} seen_t;

static seen_t seen;

static void on_read(conn_t *c, const char *data, size_t len) {
  memcpy(seen.in + seen.in_len, data, len);
  seen.in_len += len;
  /* Answers each read, and stops reading after a '!' (backpressure). */
  uv_buf_t b = uv_buf_init((char *)data, (unsigned)len);
  conn_write(c, &b, 1);
  if (memchr(data, '!', len)) conn_read_stop(c);
}
static void on_drain(conn_t *c) {
  seen.drains++;
  conn_read_start(c);
}
static void on_close(conn_t *c) { seen.closes++; }
static void on_open(conn_t *c) { seen.opened++; }
static void on_timer(conn_t *c) { seen.timers++; }

static const conn_handler_t handler = {
    .on_read = on_read, .on_close = on_close, .on_drain = on_drain, .on_open = on_open};

static void sink(void *arg, const char *data, size_t len) {
  seen_t *s = arg;
  memcpy(s->out + s->out_len, data, len);
  s->out_len += len;
}

static void test_read_write_drain_close(void **state) {
  (void)state;
  memset(&seen, 0, sizeof(seen));
  uv_loop_t loop;
  uv_loop_init(&loop);
  listener_t *l = listener_new(&loop, &handler, NULL, 1, NULL);
  conn_t *c = conn_open_memory(l, "192.0.2.7", sink, &seen);
  assert_non_null(c);
  assert_int_equal(seen.opened, 1);
  assert_string_equal(c->peer, "192.0.2.7");
  assert_int_equal(conn_count(l), 1);
  assert_null(conn_open_memory(l, "192.0.2.8", sink, &seen)); /* max_connections */
  conn_ref(c);

  assert_int_equal(conn_memory_read(c, "ab", 2), 0);
  assert_int_equal(conn_memory_read(c, "c!", 2), 0);
  assert_int_equal(conn_memory_read(c, "d", 1), -1); /* not reading */
  assert_memory_equal(seen.out, "abc!", 4);
  assert_int_equal(c->write_pending, 4);
  assert_int_equal(seen.drains, 0);
  conn_memory_drain(c);
  assert_int_equal(c->write_pending, 0);
  assert_int_equal(seen.drains, 1);
  assert_int_equal(conn_memory_read(c, "d", 1), 0); /* reading again */
  assert_memory_equal(seen.in, "abc!d", 5);

  assert_int_equal(conn_memory_fire_timer(c), -1);
  conn_timer_start(c, 60000, on_timer);
  assert_int_equal(conn_memory_fire_timer(c), 0);
  assert_int_equal(seen.timers, 1);

  /* A close waits for the pending write, then the memory goes. */
  conn_close(c);
  assert_int_equal(seen.closes, 1);
  assert_int_equal(conn_memory_read(c, "e", 1), -1);
  uv_run(&loop, UV_RUN_NOWAIT);
  assert_int_equal(conn_count(l), 1);
  conn_memory_drain(c);
  uv_run(&loop, UV_RUN_DEFAULT);
  assert_int_equal(conn_count(l), 0);
  conn_unref(c);
  listener_free(l);
  assert_int_equal(uv_loop_close(&loop), 0);
}

static void test_abort_cancels_writes(void **state) {
  (void)state;
  memset(&seen, 0, sizeof(seen));
  uv_loop_t loop;
  uv_loop_init(&loop);
  listener_t *l = listener_new(&loop, &handler, NULL, 4, NULL);
  conn_t *c = conn_open_memory(l, "::1", sink, &seen);
  assert_int_equal(conn_memory_read(c, "xyz", 3), 0);
  assert_int_equal(c->write_pending, 3);
  conn_abort(c); /* may free c once the loop runs: not touched after */
  uv_run(&loop, UV_RUN_DEFAULT);
  assert_int_equal(seen.closes, 1);
  assert_int_equal(seen.drains, 0);
  assert_int_equal(conn_count(l), 0);
  listener_free(l);
  assert_int_equal(uv_loop_close(&loop), 0);
}

static int visits[16];
static conn_t *walked[16];

static void visit(conn_t *c, void *arg) {
  conn_t **all = arg;
  for (int i = 0; i < 16; i++)
    if (all[i] == c) visits[i]++;
}

/* A walk spread over loop turns (conn_foreach_some, the shutdown's drain):
 * at most max a call, each open connection once, none that closed before its
 * turn came (even when its memory went meanwhile), none opened since. */
static void test_foreach_some_walks_in_parts(void **state) {
  (void)state;
  memset(&seen, 0, sizeof(seen));
  memset(visits, 0, sizeof(visits));
  uv_loop_t loop;
  uv_loop_init(&loop);
  listener_t *l = listener_new(&loop, &handler, NULL, 16, NULL);
  for (int i = 0; i < 10; i++) walked[i] = conn_open_memory(l, "192.0.2.9", sink, &seen);
  assert_int_equal(conn_foreach_some(l, 3, visit, walked), 1); /* no walk started: nothing */
  conn_foreach_restart(l);
  assert_int_equal(conn_foreach_some(l, 3, visit, walked), 0);
  int first = 0;
  for (int i = 0; i < 10; i++) first += visits[i];
  assert_int_equal(first, 3);
  /* The newest three come first (the list's head); close one of the others
   * and let the loop free it, and open one more. */
  int gone = -1;
  for (int i = 0; i < 10 && gone < 0; i++)
    if (!visits[i]) gone = i;
  conn_close(walked[gone]);
  uv_run(&loop, UV_RUN_NOWAIT);
  assert_int_equal(conn_count(l), 9);
  walked[10] = conn_open_memory(l, "192.0.2.10", sink, &seen);
  walked[gone] = NULL;
  int parts = 1;
  while (!conn_foreach_some(l, 3, visit, walked)) parts++;
  assert_int_equal(parts, 2); /* the other 6: 3 + 3 */
  for (int i = 0; i < 10; i++) assert_int_equal(visits[i], i == gone ? 0 : 1);
  assert_int_equal(visits[10], 0);
  for (int i = 0; i <= 10; i++)
    if (walked[i]) conn_close(walked[i]);
  uv_run(&loop, UV_RUN_DEFAULT);
  assert_int_equal(conn_count(l), 0);
  listener_free(l);
  assert_int_equal(uv_loop_close(&loop), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_read_write_drain_close),
      cmocka_unit_test(test_abort_cancels_writes),
      cmocka_unit_test(test_foreach_some_walks_in_parts),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
