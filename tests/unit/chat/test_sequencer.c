/* Unit tests for the fan-out reorder buffer (src/chat/sequencer.c): what a
 * client would see is the order of deliveries, so each test records it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "chat/sequencer.h"

typedef struct rec_s {
  int64_t delivered[64];
  char convs[64][8];
  int n;
  int dropped;
} rec_t;

static void on_deliver(void *ctx, const char *conv, int64_t seq, void *item) {
  rec_t *r = ctx;
  assert_int_equal(*(int64_t *)item, seq);
  free(item);
  snprintf(r->convs[r->n], sizeof(r->convs[r->n]), "%s", conv);
  r->delivered[r->n++] = seq;
}

static void on_drop(void *ctx, void *item) {
  rec_t *r = ctx;
  free(item);
  r->dropped++;
}

static sequencer_t *make(rec_t *r) {
  memset(r, 0, sizeof(*r));
  sequencer_opts_t o = {100, 30, 4, 1000, on_deliver, on_drop, r};
  return sequencer_new(&o);
}

static void push(sequencer_t *q, const char *conv, int64_t seq, int64_t now) {
  int64_t *item = malloc(sizeof(*item));
  *item = seq;
  sequencer_push(q, conv, seq, item, now);
}

static void in_order_is_delivered_at_once(void **state) {
  rec_t r;
  sequencer_t *q = make(&r);
  for (int64_t s = 1; s <= 5; s++) push(q, "a", s, 0);
  assert_int_equal(r.n, 5);
  for (int i = 0; i < 5; i++) assert_int_equal(r.delivered[i], i + 1);
  assert_int_equal(sequencer_tick(q, 0), -1);
  sequencer_free(q);
}

static void out_of_order_is_reordered(void **state) {
  rec_t r;
  sequencer_t *q = make(&r);
  push(q, "a", 1, 0);
  push(q, "a", 3, 1);
  push(q, "a", 4, 2);
  assert_int_equal(r.n, 1);
  assert_int_equal(sequencer_held(q), 2);
  push(q, "a", 2, 3);
  assert_int_equal(r.n, 4);
  for (int i = 0; i < 4; i++) assert_int_equal(r.delivered[i], i + 1);
  assert_int_equal(sequencer_held(q), 0);
  sequencer_free(q);
}

static void a_gap_is_passed_over_after_the_wait(void **state) {
  rec_t r;
  sequencer_t *q = make(&r);
  push(q, "a", 1, 0);
  push(q, "a", 3, 10);
  assert_int_equal(sequencer_tick(q, 50), 60); /* waits until 10 + 100 */
  assert_int_equal(r.n, 1);
  assert_int_equal(sequencer_tick(q, 110), -1);
  assert_int_equal(r.n, 2);
  assert_int_equal(r.delivered[1], 3);
  /* The late one would now be out of order: dropped, never delivered. */
  push(q, "a", 2, 120);
  assert_int_equal(r.n, 2);
  assert_int_equal(r.dropped, 1);
  push(q, "a", 4, 130);
  assert_int_equal(r.delivered[2], 4);
  sequencer_free(q);
}

static void later_arrivals_do_not_extend_the_wait(void **state) {
  rec_t r;
  sequencer_t *q = make(&r);
  push(q, "a", 1, 0);
  push(q, "a", 3, 0);
  push(q, "a", 4, 90);
  sequencer_tick(q, 100);
  assert_int_equal(r.n, 3);
  assert_int_equal(r.delivered[2], 4);
  sequencer_free(q);
}

static void too_many_held_passes_over_the_gap(void **state) {
  rec_t r;
  sequencer_t *q = make(&r); /* max_held 4 */
  push(q, "a", 1, 0);
  for (int64_t s = 3; s <= 7; s++) push(q, "a", s, 0);
  assert_int_equal(r.n, 6);
  assert_int_equal(r.delivered[5], 7);
  sequencer_free(q);
}

static void duplicates_are_dropped(void **state) {
  rec_t r;
  sequencer_t *q = make(&r);
  push(q, "a", 1, 0);
  push(q, "a", 1, 0);
  push(q, "a", 3, 0);
  push(q, "a", 3, 0);
  push(q, "a", 2, 0);
  assert_int_equal(r.n, 3);
  assert_int_equal(r.dropped, 2);
  sequencer_free(q);
}

static void conversations_are_independent(void **state) {
  rec_t r;
  sequencer_t *q = make(&r);
  push(q, "a", 1, 0);
  push(q, "b", 1, 0);
  push(q, "a", 3, 0);
  push(q, "b", 2, 0);
  assert_int_equal(r.n, 3);
  assert_string_equal(r.convs[2], "b");
  sequencer_free(q);
}

/* A conversation first seen at seq > 1: lower seqs may still be on their way
 * (another instance, another store thread), so it waits first_hold_ms. */
static void first_sight_waits_for_lower_seqs(void **state) {
  rec_t r;
  sequencer_t *q = make(&r);
  push(q, "a", 8, 0);
  assert_int_equal(r.n, 0);
  push(q, "a", 7, 5);
  push(q, "a", 9, 6);
  assert_int_equal(r.n, 0);
  assert_int_equal(sequencer_tick(q, 20), 10);
  sequencer_tick(q, 30);
  assert_int_equal(r.n, 3);
  assert_int_equal(r.delivered[0], 7);
  assert_int_equal(r.delivered[2], 9);
  push(q, "a", 10, 31); /* known now: no wait */
  assert_int_equal(r.n, 4);
  sequencer_free(q);
}

static void idle_conversations_are_forgotten_and_held_items_freed(void **state) {
  rec_t r;
  sequencer_t *q = make(&r);
  push(q, "a", 5, 0);
  sequencer_tick(q, 40);
  assert_int_equal(r.n, 1);
  sequencer_tick(q, 5000);
  /* Forgotten: seq 2 starts it afresh instead of being dropped as late. */
  push(q, "a", 2, 5001);
  sequencer_tick(q, 5040);
  assert_int_equal(r.n, 2);
  assert_int_equal(r.dropped, 0);
  push(q, "b", 1, 5041);
  push(q, "b", 3, 5041);
  sequencer_free(q); /* the held 3 is dropped, not leaked */
  assert_int_equal(r.dropped, 1);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(in_order_is_delivered_at_once),
      cmocka_unit_test(out_of_order_is_reordered),
      cmocka_unit_test(a_gap_is_passed_over_after_the_wait),
      cmocka_unit_test(later_arrivals_do_not_extend_the_wait),
      cmocka_unit_test(too_many_held_passes_over_the_gap),
      cmocka_unit_test(duplicates_are_dropped),
      cmocka_unit_test(conversations_are_independent),
      cmocka_unit_test(first_sight_waits_for_lower_seqs),
      cmocka_unit_test(idle_conversations_are_forgotten_and_held_items_freed),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
