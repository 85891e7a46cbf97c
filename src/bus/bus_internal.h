/* What the bus backends share and the tests may reach: the backend table, the
 * string map, the deferred-callback queue and the in-memory bucket and presence.
 * Private to src/bus/ and tests/unit/bus/. Loop thread only. */
#ifndef PARLEY_BUS_INTERNAL_H
#define PARLEY_BUS_INTERNAL_H

#include "parley/bus.h"
#include "parley/strmap.h"

/* Bounds on what callers hand the bus. */
enum {
  BUS_MAX_NAME = 512,         /* channel, key, user and instance ids, bytes */
  BUS_MAX_PAYLOAD = 4 << 20,  /* one published message */
  BUS_MAX_CHANNELS = 1 << 17, /* distinct subscribed channels */
  BUS_MAX_QUEUED = 1 << 16,   /* messages or commands waiting for delivery */
  BUS_MAX_MEM_KEYS = 1 << 17, /* in-memory buckets or presence users */
  BUS_MEM_SWEEP_MAX = 1024    /* entries a full map's sweep looks at per new key */
};

/* ---- backend table: each backend embeds bus_t first and fills ops ---- */
struct bus_ops {
  const char *name;
  int (*is_up)(const bus_t *b);
  int (*subscribe)(bus_t *b, const char *channel);
  int (*unsubscribe)(bus_t *b, const char *channel);
  int (*publish)(bus_t *b, const char *channel, const char *payload, size_t len);
  int (*bucket_take)(bus_t *b, const char *key, int rate_per_min, int burst, bus_take_fn cb,
                     void *ctx);
  int (*presence_set)(bus_t *b, const char *user, const char *instance, int64_t ttl_ms,
                      bus_count_fn cb, void *ctx);
  int (*presence_count)(bus_t *b, const char *user, bus_count_fn cb, void *ctx);
  int (*presence_counts)(bus_t *b, const char *const *users, size_t n, bus_counts_fn cb, void *ctx);
  void (*close)(bus_t *b, void (*done)(void *arg), void *arg);
};

struct bus_s {
  const struct bus_ops *ops;
  uv_loop_t *loop;
  bus_message_fn on_message;
  bus_state_fn on_state;
  void *ctx;
  int closing; /* set by bus_close; every entry point then returns -1 */
};

/* Test knobs for the Redis backend (milliseconds): how often each connection is
 * pinged (an unanswered ping is overdue after one more interval) and the range of
 * the reconnection backoff. Call right after bus_redis_new. */
void bus_redis_set_timing(bus_t *b, uint64_t ping_ms, uint64_t backoff_min_ms,
                          uint64_t backoff_max_ms);

/* ---- defer.c: callbacks run on a later loop iteration, never re-entrantly ---- */
typedef struct defer_item {
  struct defer_item *next;
  /* Runs the item and frees it; closing = 1 when the bus is closing (messages
   * are then dropped, completions still reported so callers can release ctx). */
  void (*run)(struct defer_item *it, int closing);
} defer_item_t;

typedef struct {
  uv_idle_t idle;
  defer_item_t *head, *tail;
  size_t count;
  int closing;
  void (*closed)(void *arg);
  void *closed_arg;
} defer_t;

int defer_init(defer_t *d, uv_loop_t *loop);
void defer_push(defer_t *d, defer_item_t *it);
/* Runs what is still queued (with closing = 1), closes the idle handle and calls
 * closed from its close callback. */
void defer_close(defer_t *d, void (*closed)(void *arg), void *arg);

/* Queues a bus_take_fn or bus_count_fn result (nothing when a count cb is NULL);
 * returns -1 when out of memory. */
int defer_take_result(defer_t *d, bus_take_fn cb, void *ctx, int allowed, int64_t retry_ms);
int defer_count_result(defer_t *d, bus_count_fn cb, void *ctx, int status, long long count);
/* The same for a bus_counts_fn; takes counts (malloc'd, freed after the call)
 * even when it fails. */
int defer_counts_result(defer_t *d, bus_counts_fn cb, void *ctx, int status, long long *counts,
                        size_t n);

/* ---- bucket.c: token buckets in this process's memory ---- */
typedef struct {
  strmap_t map;
  strmap_cursor_t sweep_at; /* where the sweep of idle buckets stands */
} bucket_mem_t;

void bucket_mem_init(bucket_mem_t *bm);
void bucket_mem_free(bucket_mem_t *bm);
/* Takes one token at now_ms (monotonic): returns 1, or 0 with *retry_ms set. */
int bucket_mem_take(bucket_mem_t *bm, const char *key, int rate_per_min, int burst, uint64_t now_ms,
                    int64_t *retry_ms);

/* ---- presence.c: (user, instance) -> expiry in this process's memory ---- */
typedef struct {
  strmap_t users;
  strmap_cursor_t sweep_at; /* where the sweep of expired users stands */
} presence_mem_t;

void presence_mem_init(presence_mem_t *pm);
void presence_mem_free(presence_mem_t *pm);
/* Sets or clears (ttl_ms = 0) the entry; returns the live count or -1. */
long long presence_mem_set(presence_mem_t *pm, const char *user, const char *instance,
                           int64_t ttl_ms, uint64_t now_ms);
long long presence_mem_count(presence_mem_t *pm, const char *user, uint64_t now_ms);
/* The counts of n users into a new array (NULL when out of memory). */
long long *presence_mem_counts(presence_mem_t *pm, const char *const *users, size_t n,
                               uint64_t now_ms);

#endif
