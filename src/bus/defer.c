/* The deferred-callback queue: results and local deliveries run from an idle
 * handle on a later loop iteration, so no bus callback runs inside the bus call
 * (or the hiredis callback) that produced it. Owns its idle handle. Loop thread. */
#include <stdlib.h>

#include "bus/bus_internal.h"

static void defer_on_idle(uv_idle_t *h);

int defer_init(defer_t *d, uv_loop_t *loop) {
  d->head = d->tail = NULL;
  d->count = 0;
  d->closing = 0;
  d->closed = NULL;
  d->idle.data = d;
  return uv_idle_init(loop, &d->idle);
}

void defer_push(defer_t *d, defer_item_t *it) {
  it->next = NULL;
  if (d->tail)
    d->tail->next = it;
  else
    d->head = it;
  d->tail = it;
  d->count++;
  if (!d->closing) uv_idle_start(&d->idle, defer_on_idle);
}

/* Runs what was queued before this call; items queued meanwhile wait for the next
 * iteration, so a handler that publishes cannot keep the loop here forever. */
static void defer_run_batch(defer_t *d, int closing) {
  defer_item_t *it = d->head;
  size_t n = d->count;
  d->head = d->tail = NULL;
  d->count = 0;
  while (n--) {
    defer_item_t *next = it->next;
    it->run(it, closing);
    it = next;
  }
}

static void defer_on_idle(uv_idle_t *h) {
  defer_t *d = h->data;
  defer_run_batch(d, 0);
  if (!d->head) uv_idle_stop(&d->idle);
}

static void defer_on_closed(uv_handle_t *h) {
  defer_t *d = h->data;
  /* Completions are still owed to their callers (they may own ctx). */
  while (d->head) defer_run_batch(d, 1);
  if (d->closed) d->closed(d->closed_arg);
}

void defer_close(defer_t *d, void (*closed)(void *arg), void *arg) {
  d->closing = 1;
  d->closed = closed;
  d->closed_arg = arg;
  uv_close((uv_handle_t *)&d->idle, defer_on_closed);
}

struct defer_result {
  defer_item_t item;
  bus_take_fn take;
  bus_count_fn count_cb;
  void *ctx;
  int status;
  long long value;
};

static void defer_result_run(defer_item_t *it, int closing) {
  struct defer_result *r = (struct defer_result *)it;
  if (r->take)
    r->take(r->ctx, r->status, r->value);
  else
    r->count_cb(r->ctx, r->status, r->value);
  free(r);
}

int defer_take_result(defer_t *d, bus_take_fn cb, void *ctx, int allowed, int64_t retry_ms) {
  struct defer_result *r = calloc(1, sizeof(*r));
  if (!r) return -1;
  r->item.run = defer_result_run;
  r->take = cb;
  r->ctx = ctx;
  r->status = allowed;
  r->value = retry_ms;
  defer_push(d, &r->item);
  return 0;
}

int defer_count_result(defer_t *d, bus_count_fn cb, void *ctx, int status, long long count) {
  if (!cb) return 0;
  struct defer_result *r = calloc(1, sizeof(*r));
  if (!r) return -1;
  r->item.run = defer_result_run;
  r->count_cb = cb;
  r->ctx = ctx;
  r->status = status;
  r->value = count;
  defer_push(d, &r->item);
  return 0;
}

struct defer_counts {
  defer_item_t item;
  bus_counts_fn cb;
  void *ctx;
  int status;
  size_t n;
  long long *counts;
};

static void defer_counts_run(defer_item_t *it, int closing) {
  struct defer_counts *r = (struct defer_counts *)it;
  r->cb(r->ctx, r->status, r->counts, r->n);
  free(r->counts);
  free(r);
}

int defer_counts_result(defer_t *d, bus_counts_fn cb, void *ctx, int status, long long *counts,
                        size_t n) {
  struct defer_counts *r = calloc(1, sizeof(*r));
  if (!r) {
    free(counts);
    return -1;
  }
  r->item.run = defer_counts_run;
  r->cb = cb;
  r->ctx = ctx;
  r->status = status;
  r->counts = counts;
  r->n = counts ? n : 0;
  defer_push(d, &r->item);
  return 0;
}
