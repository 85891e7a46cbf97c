/* Token buckets by key in this process's memory: the local backend's buckets
 * and the Redis backend's fallback while Redis is down. The arithmetic is
 * util's bucket_t; this file owns one per key, bounded. Loop thread only. */
#include <stdlib.h>

#include "bus/bus_internal.h"
#include "parley/bucket.h"

void bucket_mem_init(bucket_mem_t *bm) {
  strmap_init(&bm->map);
  bm->sweep_at = (strmap_cursor_t){0};
}

static int bucket_free_one(const char *key, void *value, void *arg) {
  free(value);
  return 1;
}

void bucket_mem_free(bucket_mem_t *bm) {
  strmap_sweep(&bm->map, bucket_free_one, NULL);
  strmap_free(&bm->map);
}

/* A bucket untouched for longer than a full refill is indistinguishable from a
 * new one, so it can go: this keeps the map bounded by the active keys. */
struct sweep {
  bucket_mem_t *bm;
  uint64_t now_ms;
  uint64_t idle_ms;
};

static int bucket_sweep_one(const char *key, void *value, void *arg) {
  struct sweep *s = arg;
  bucket_t *b = value;
  if (s->now_ms - b->at_ms < s->idle_ms) return 0;
  free(b);
  return 1;
}

int bucket_mem_take(bucket_mem_t *bm, const char *key, int rate_per_min, int burst, uint64_t now_ms,
                    int64_t *retry_ms) {
  bucket_t *b = strmap_get(&bm->map, key);
  if (!b) {
    if (strmap_count(&bm->map) >= BUS_MAX_MEM_KEYS) {
      struct sweep s = {bm, now_ms, (uint64_t)burst * 60000 / (uint64_t)rate_per_min + 1};
      /* A part at a time: a full map is not walked whole for every new key. */
      strmap_sweep_some(&bm->map, &bm->sweep_at, BUS_MEM_SWEEP_MAX, bucket_sweep_one, &s);
    }
    b = calloc(1, sizeof(*b));
    /* Out of memory or too many live keys: refusing is safer than allowing. */
    if (!b || strmap_count(&bm->map) >= BUS_MAX_MEM_KEYS || strmap_put(&bm->map, key, b) < 0) {
      free(b);
      *retry_ms = 1000;
      return 0;
    }
  }
  uint64_t retry = 0;
  if (bucket_take(b, now_ms, rate_per_min / 60.0, burst, &retry)) {
    *retry_ms = 0;
    return 1;
  }
  *retry_ms = retry > 0 ? (int64_t)retry : 1;
  return 0;
}
