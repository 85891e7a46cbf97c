/* What the store benchmarks (store_bench, search_bench, growth_bench) share:
 * opening the store named on the command line (an SQLite path, or a
 * mongodb:// URI) and one synchronous call on the loop. Header-only: each
 * benchmark (a .c of bench/) is a program of its own. */
#ifndef PARLEY_BENCH_STORE_H
#define PARLEY_BENCH_STORE_H

#include <string.h>

#include "parley/store.h"

/* "mongo" for a mongodb:// URI, else "sqlite". */
static inline const char *bench_store_backend(const char *where) {
  return strncmp(where, "mongodb://", 10) == 0 ? "mongo" : "sqlite";
}

/* The store at where, with room for max_jobs jobs in flight; NULL if it cannot open. */
static inline store_t *bench_store_open(uv_loop_t *loop, const char *where, int max_jobs) {
  return strcmp(bench_store_backend(where), "mongo") == 0
             ? store_open_mongo(loop, where, max_jobs, 5000)
             : store_open_sqlite(loop, where, max_jobs);
}

typedef struct bench_sync_s {
  int done, status;
  json_t *result;
} bench_sync_t;

static inline void bench_on_sync(void *ctx, int status, json_t *result) {
  bench_sync_t *s = ctx;
  s->status = status;
  s->result = result;
  s->done = 1;
}

/* Calls op and turns the loop until it answers: its status, and its result in
 * *out (a new reference, or NULL); -1 when the call could not be queued. */
static inline int bench_call_sync(uv_loop_t *loop, store_t *store, enum store_op op, json_t *params,
                                  json_t **out) {
  bench_sync_t s = {0};
  *out = NULL;
  if (store_call(store, op, params, bench_on_sync, &s) != 0) return -1;
  while (!s.done) uv_run(loop, UV_RUN_ONCE);
  *out = s.result;
  return s.status;
}

#endif
