/* The in-process bus (the default): publish fans out to this instance's own
 * subscriptions on a later loop iteration; buckets and presence live in memory.
 * Owns the channel counts, the queued messages and one idle handle. Loop thread. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bus/bus_internal.h"

typedef struct {
  bus_t base;
  strmap_t chans; /* channel -> subscription count, stored in the pointer */
  defer_t defer;
  bucket_mem_t buckets;
  presence_mem_t presence;
  size_t queued; /* messages waiting in defer */
  void (*done)(void *arg);
  void *done_arg;
} bus_local_t;

struct local_msg {
  defer_item_t item;
  bus_local_t *l;
  size_t len;
  char *payload; /* points into buf, after the channel */
  char buf[];    /* channel NUL payload NUL */
};

static uintptr_t local_count(bus_local_t *l, const char *channel) {
  return (uintptr_t)strmap_get(&l->chans, channel);
}

static int local_is_up(const bus_t *b) { return 1; }

static int local_subscribe(bus_t *b, const char *channel) {
  bus_local_t *l = (bus_local_t *)b;
  uintptr_t n = local_count(l, channel);
  if (!n && strmap_count(&l->chans) >= BUS_MAX_CHANNELS) return -1;
  return strmap_put(&l->chans, channel, (void *)(n + 1));
}

static int local_unsubscribe(bus_t *b, const char *channel) {
  bus_local_t *l = (bus_local_t *)b;
  uintptr_t n = local_count(l, channel);
  if (!n) return -1;
  if (n == 1) {
    strmap_del(&l->chans, channel);
    return 0;
  }
  return strmap_put(&l->chans, channel, (void *)(n - 1));
}

/* Delivered only while the channel is still subscribed, as Redis would. */
static void local_msg_run(defer_item_t *it, int closing) {
  struct local_msg *m = (struct local_msg *)it;
  bus_local_t *l = m->l;
  l->queued--;
  if (!closing && l->base.on_message && local_count(l, m->buf))
    l->base.on_message(l->base.ctx, m->buf, m->payload, m->len);
  free(m);
}

static int local_publish(bus_t *b, const char *channel, const char *payload, size_t len) {
  bus_local_t *l = (bus_local_t *)b;
  /* Nobody here listens: nothing to deliver, and the publish still succeeded. */
  if (!local_count(l, channel)) return 0;
  if (l->queued >= BUS_MAX_QUEUED) return -1;
  size_t clen = strlen(channel);
  struct local_msg *m = malloc(sizeof(*m) + clen + 1 + len + 1);
  if (!m) return -1;
  m->item.run = local_msg_run;
  m->l = l;
  m->len = len;
  memcpy(m->buf, channel, clen + 1);
  m->payload = m->buf + clen + 1;
  memcpy(m->payload, payload, len);
  m->payload[len] = '\0';
  l->queued++;
  defer_push(&l->defer, &m->item);
  return 0;
}

static int local_bucket_take(bus_t *b, const char *key, int rate_per_min, int burst, bus_take_fn cb,
                             void *ctx) {
  bus_local_t *l = (bus_local_t *)b;
  int64_t retry = 0;
  int ok = bucket_mem_take(&l->buckets, key, rate_per_min, burst, uv_now(b->loop), &retry);
  return defer_take_result(&l->defer, cb, ctx, ok, retry);
}

static int local_presence_set(bus_t *b, const char *user, const char *instance, int64_t ttl_ms,
                              bus_count_fn cb, void *ctx) {
  bus_local_t *l = (bus_local_t *)b;
  long long n = presence_mem_set(&l->presence, user, instance, ttl_ms, uv_now(b->loop));
  if (n < 0) return -1;
  return defer_count_result(&l->defer, cb, ctx, 0, n);
}

static int local_presence_count(bus_t *b, const char *user, bus_count_fn cb, void *ctx) {
  bus_local_t *l = (bus_local_t *)b;
  long long n = presence_mem_count(&l->presence, user, uv_now(b->loop));
  return defer_count_result(&l->defer, cb, ctx, 0, n);
}

static int local_presence_counts(bus_t *b, const char *const *users, size_t n, bus_counts_fn cb,
                                 void *ctx) {
  bus_local_t *l = (bus_local_t *)b;
  long long *counts = presence_mem_counts(&l->presence, users, n, uv_now(b->loop));
  if (!counts) return -1;
  return defer_counts_result(&l->defer, cb, ctx, 0, counts, n);
}

static void local_free(bus_local_t *l) {
  strmap_free(&l->chans);
  bucket_mem_free(&l->buckets);
  presence_mem_free(&l->presence);
  free(l);
}

static void local_closed(void *arg) {
  bus_local_t *l = arg;
  void (*done)(void *) = l->done;
  void *done_arg = l->done_arg;
  local_free(l);
  if (done) done(done_arg);
}

static void local_close(bus_t *b, void (*done)(void *arg), void *arg) {
  bus_local_t *l = (bus_local_t *)b;
  l->done = done;
  l->done_arg = arg;
  defer_close(&l->defer, local_closed, l);
}

static const struct bus_ops local_ops = {
    .name = "local",
    .is_up = local_is_up,
    .subscribe = local_subscribe,
    .unsubscribe = local_unsubscribe,
    .publish = local_publish,
    .bucket_take = local_bucket_take,
    .presence_set = local_presence_set,
    .presence_count = local_presence_count,
    .presence_counts = local_presence_counts,
    .close = local_close,
};

bus_t *bus_local_new(uv_loop_t *loop) {
  bus_local_t *l = calloc(1, sizeof(*l));
  if (!l) return NULL;
  l->base.ops = &local_ops;
  l->base.loop = loop;
  strmap_init(&l->chans);
  bucket_mem_init(&l->buckets);
  presence_mem_init(&l->presence);
  if (defer_init(&l->defer, loop) != 0) {
    free(l);
    return NULL;
  }
  return &l->base;
}
