/* The in-process bus: deliveries on a later loop iteration and only to subscribed
 * channels, counted subscriptions, the memory token bucket, presence expiry and a
 * clean close. Each test runs its own loop. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "bus/bus_internal.h"

typedef struct {
  uv_loop_t loop;
  bus_t *bus;
  int received;
  char last_channel[64];
  char last_payload[64];
  size_t last_len;
  int closed;
  int results;
  int allowed[8];
  int64_t retry[8];
  long long count;
  int timed_out;
} fixture_t;

static void on_message(void *ctx, const char *channel, const char *payload, size_t len) {
  fixture_t *f = ctx;
  f->received++;
  snprintf(f->last_channel, sizeof(f->last_channel), "%s", channel);
  memcpy(f->last_payload, payload, len < sizeof(f->last_payload) ? len : sizeof(f->last_payload));
  f->last_len = len;
}

static void on_timeout(uv_timer_t *t) { *(int *)t->data = 1; }

/* Runs the loop until *flag >= want or ms pass; returns 1 when reached. */
static int run_until(fixture_t *f, int *flag, int want, uint64_t ms) {
  uv_timer_t t;
  f->timed_out = 0;
  uv_timer_init(&f->loop, &t);
  t.data = &f->timed_out;
  uv_timer_start(&t, on_timeout, ms, 0);
  while (*flag < want && !f->timed_out) uv_run(&f->loop, UV_RUN_ONCE);
  uv_close((uv_handle_t *)&t, NULL);
  uv_run(&f->loop, UV_RUN_NOWAIT);
  return *flag >= want;
}

/* Lets a few loop iterations pass (for "nothing arrives" checks). */
static void run_for(fixture_t *f, uint64_t ms) {
  int never = 0;
  run_until(f, &never, 1, ms);
}

static int setup(void **state) {
  fixture_t *f = calloc(1, sizeof(*f));
  uv_loop_init(&f->loop);
  f->bus = bus_local_new(&f->loop);
  bus_set_handlers(f->bus, on_message, NULL, f);
  *state = f;
  return 0;
}

static void on_closed(void *arg) { ((fixture_t *)arg)->closed = 1; }

static int teardown(void **state) {
  fixture_t *f = *state;
  if (f->bus) {
    bus_close(f->bus, on_closed, f);
    run_until(f, &f->closed, 1, 1000);
    assert_int_equal(f->closed, 1);
  }
  assert_int_equal(uv_run(&f->loop, UV_RUN_DEFAULT), 0);
  assert_int_equal(uv_loop_close(&f->loop), 0);
  free(f);
  return 0;
}

static void test_publish_delivers_later_and_only_subscribed(void **state) {
  fixture_t *f = *state;
  assert_string_equal(bus_backend(f->bus), "local");
  assert_int_equal(bus_is_up(f->bus), 1);
  assert_int_equal(bus_subscribe(f->bus, "conv:1"), 0);
  assert_int_equal(bus_publish(f->bus, "conv:1", "hi\0there", 8), 0);
  assert_int_equal(bus_publish(f->bus, "conv:2", "nobody", 6), 0);
  /* Never inside bus_publish. */
  assert_int_equal(f->received, 0);
  assert_true(run_until(f, &f->received, 1, 1000));
  run_for(f, 30);
  assert_int_equal(f->received, 1);
  assert_string_equal(f->last_channel, "conv:1");
  assert_int_equal(f->last_len, 8);
  assert_memory_equal(f->last_payload, "hi\0there", 8);
}

static void test_subscriptions_are_counted(void **state) {
  fixture_t *f = *state;
  assert_int_equal(bus_unsubscribe(f->bus, "c"), -1);
  assert_int_equal(bus_subscribe(f->bus, "c"), 0);
  assert_int_equal(bus_subscribe(f->bus, "c"), 0);
  assert_int_equal(bus_unsubscribe(f->bus, "c"), 0);
  /* One subscription left: still delivered, once. */
  assert_int_equal(bus_publish(f->bus, "c", "1", 1), 0);
  assert_true(run_until(f, &f->received, 1, 1000));
  run_for(f, 20);
  assert_int_equal(f->received, 1);
  assert_int_equal(bus_unsubscribe(f->bus, "c"), 0);
  assert_int_equal(bus_publish(f->bus, "c", "2", 1), 0);
  run_for(f, 30);
  assert_int_equal(f->received, 1);
  assert_int_equal(bus_unsubscribe(f->bus, "c"), -1);
}

static void test_unsubscribe_before_delivery_drops(void **state) {
  fixture_t *f = *state;
  assert_int_equal(bus_subscribe(f->bus, "c"), 0);
  assert_int_equal(bus_publish(f->bus, "c", "x", 1), 0);
  assert_int_equal(bus_unsubscribe(f->bus, "c"), 0);
  run_for(f, 30);
  assert_int_equal(f->received, 0);
}

/* A handler that publishes again is not re-entered and does not starve the loop. */
static void on_message_republish(void *ctx, const char *channel, const char *payload, size_t len) {
  fixture_t *f = ctx;
  f->received++;
  if (f->received < 5) assert_int_equal(bus_publish(f->bus, channel, payload, len), 0);
}

static void test_handler_may_publish(void **state) {
  fixture_t *f = *state;
  bus_set_handlers(f->bus, on_message_republish, NULL, f);
  assert_int_equal(bus_subscribe(f->bus, "c"), 0);
  assert_int_equal(bus_publish(f->bus, "c", "x", 1), 0);
  assert_true(run_until(f, &f->received, 5, 1000));
  run_for(f, 20);
  assert_int_equal(f->received, 5);
}

static void on_take(void *ctx, int allowed, int64_t retry_after_ms) {
  fixture_t *f = ctx;
  f->allowed[f->results] = allowed;
  f->retry[f->results] = retry_after_ms;
  f->results++;
}

static void test_bucket_burst_then_refuse(void **state) {
  fixture_t *f = *state;
  for (int i = 0; i < 3; i++)
    assert_int_equal(bus_bucket_take(f->bus, "login:ip", 60, 2, on_take, f), 0);
  assert_int_equal(bus_bucket_take(f->bus, "other", 60, 2, on_take, f), 0);
  assert_int_equal(f->results, 0);
  assert_true(run_until(f, &f->results, 4, 1000));
  assert_int_equal(f->allowed[0], 1);
  assert_int_equal(f->allowed[1], 1);
  assert_int_equal(f->allowed[2], 0);
  /* 60 a minute: the next token is at most a second away. */
  assert_true(f->retry[2] > 0 && f->retry[2] <= 1000);
  assert_int_equal(f->allowed[3], 1);
  assert_int_equal(bus_bucket_take(f->bus, "k", 0, 2, on_take, f), -1);
}

static void on_count(void *ctx, int status, long long count) {
  fixture_t *f = ctx;
  assert_int_equal(status, 0);
  f->count = count;
  f->results++;
}

static void test_presence_expires(void **state) {
  fixture_t *f = *state;
  assert_int_equal(bus_presence_set(f->bus, "u1", "i1", 60, on_count, f), 0);
  assert_int_equal(bus_presence_set(f->bus, "u1", "i2", 5000, on_count, f), 0);
  assert_true(run_until(f, &f->results, 2, 1000));
  assert_int_equal(f->count, 2);
  run_for(f, 100);
  assert_int_equal(bus_presence_count(f->bus, "u1", on_count, f), 0);
  assert_true(run_until(f, &f->results, 3, 1000));
  assert_int_equal(f->count, 1);
  assert_int_equal(bus_presence_set(f->bus, "u1", "i2", 0, on_count, f), 0);
  assert_true(run_until(f, &f->results, 4, 1000));
  assert_int_equal(f->count, 0);
}

static long long many[4];
static size_t many_n;

static void on_counts(void *ctx, int status, const long long *counts, size_t n) {
  fixture_t *f = ctx;
  assert_int_equal(status, 0);
  many_n = n;
  for (size_t i = 0; i < n && i < 4; i++) many[i] = counts[i];
  f->results++;
}

/* Many users in one call, in the order asked; bad arguments are refused. */
static void test_presence_counts(void **state) {
  fixture_t *f = *state;
  assert_int_equal(bus_presence_set(f->bus, "u1", "i1", 5000, on_count, f), 0);
  assert_int_equal(bus_presence_set(f->bus, "u3", "i1", 5000, on_count, f), 0);
  assert_int_equal(bus_presence_set(f->bus, "u3", "i2", 5000, on_count, f), 0);
  assert_true(run_until(f, &f->results, 3, 1000));
  const char *users[] = {"u3", "u2", "u1"};
  assert_int_equal(bus_presence_counts(f->bus, users, 3, on_counts, f), 0);
  assert_true(run_until(f, &f->results, 4, 1000));
  assert_int_equal(many_n, 3);
  assert_int_equal(many[0], 2);
  assert_int_equal(many[1], 0);
  assert_int_equal(many[2], 1);
  assert_int_equal(bus_presence_counts(f->bus, users, 0, on_counts, f), -1);
  assert_int_equal(bus_presence_counts(f->bus, users, BUS_PRESENCE_MANY + 1, on_counts, f), -1);
  const char *bad[] = {"u1", ""};
  assert_int_equal(bus_presence_counts(f->bus, bad, 2, on_counts, f), -1);
}

/* Closing with a message and a result queued: the message is dropped, the result
 * still reaches its caller, and the loop ends clean (teardown checks it). */
static void test_close_with_work_queued(void **state) {
  fixture_t *f = *state;
  assert_int_equal(bus_subscribe(f->bus, "c"), 0);
  assert_int_equal(bus_publish(f->bus, "c", "x", 1), 0);
  assert_int_equal(bus_bucket_take(f->bus, "k", 60, 1, on_take, f), 0);
  bus_close(f->bus, on_closed, f);
  assert_int_equal(bus_publish(f->bus, "c", "y", 1), -1);
  assert_int_equal(f->closed, 0);
  assert_true(run_until(f, &f->closed, 1, 1000));
  assert_int_equal(f->received, 0);
  assert_int_equal(f->results, 1);
  f->bus = NULL;
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_publish_delivers_later_and_only_subscribed, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_subscriptions_are_counted, setup, teardown),
      cmocka_unit_test_setup_teardown(test_unsubscribe_before_delivery_drops, setup, teardown),
      cmocka_unit_test_setup_teardown(test_handler_may_publish, setup, teardown),
      cmocka_unit_test_setup_teardown(test_bucket_burst_then_refuse, setup, teardown),
      cmocka_unit_test_setup_teardown(test_presence_expires, setup, teardown),
      cmocka_unit_test_setup_teardown(test_presence_counts, setup, teardown),
      cmocka_unit_test_setup_teardown(test_close_with_work_queued, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
