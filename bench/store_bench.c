/* Store benchmark: messages stored per second through store_call(MSG_INSERT) with
 * group commit, keeping a fixed number of inserts in flight, for the backend named
 * on the command line (an SQLite path, or a mongodb:// URI). One loop thread.
 * Prints the rate with the CPU time the process used (all its threads) and the
 * load average before the run, since the machine is shared. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "parley/log.h"
#include "parley/store.h"
#include "parley/util.h"

typedef struct bench_s {
  uv_loop_t *loop;
  store_t *store;
  int total, convs, inflight;
  int submitted, done, failed;
  char sender[25];
  char (*conv_ids)[25];
  json_t *last; /* result of the last synchronous call */
  int last_status, last_done;
} bench_t;

static void on_sync(void *ctx, int status, json_t *result) {
  bench_t *b = ctx;
  b->last_status = status;
  b->last = result;
  b->last_done = 1;
}

static int call_sync(bench_t *b, enum store_op op, json_t *params) {
  b->last_done = 0;
  b->last = NULL;
  if (store_call(b->store, op, params, on_sync, b) != 0) return -1;
  while (!b->last_done) uv_run(b->loop, UV_RUN_ONCE);
  return b->last_status;
}

static void on_insert(void *ctx, int status, json_t *result);

/* Tops the store up to `inflight` inserts. */
static void refill(bench_t *b) {
  while (b->submitted < b->total && store_jobs_in_flight(b->store) < b->inflight) {
    int i = b->submitted++;
    char cid[32];
    snprintf(cid, sizeof(cid), "bench-%d", i);
    json_t *p = json_pack("{s:s,s:s,s:s,s:s,s:s}", "conversation_id", b->conv_ids[i % b->convs],
                          "sender_id", b->sender, "text",
                          "a benchmark message of typical chat length, about sixty bytes",
                          "client_id", cid, "source", "web");
    if (store_call(b->store, MSG_INSERT, p, on_insert, b) != 0) {
      b->submitted--;
      return;
    }
  }
}

static void on_insert(void *ctx, int status, json_t *result) {
  bench_t *b = ctx;
  b->done++;
  /* Every message is new: a result that says otherwise is a failure too. */
  if (status != 0 || !json_is_true(json_object_get(result, "created"))) b->failed++;
  json_decref(result);
  refill(b);
}

static int prepare(bench_t *b) {
  char email[64], id[25];
  util_new_id(id);
  snprintf(email, sizeof(email), "bench-%s@example.com", id);
  if (call_sync(b, USER_CREATE,
                json_pack("{s:s,s:s,s:s}", "email", email, "name", "Bench", "password_hash", "x")))
    return -1;
  snprintf(b->sender, sizeof(b->sender), "%s", json_string_value(json_object_get(b->last, "id")));
  json_decref(b->last);
  for (int c = 0; c < b->convs; c++) {
    if (call_sync(b, CONV_CREATE,
                  json_pack("{s:s,s:s,s:s,s:[s]}", "type", "group", "name", "bench", "creator_id",
                            b->sender, "participant_ids", b->sender)))
      return -1;
    json_t *conv = json_object_get(b->last, "conversation");
    snprintf(b->conv_ids[c], 25, "%s", json_string_value(json_object_get(conv, "id")));
    json_decref(b->last);
  }
  return 0;
}

static void on_closed(void *arg) { *(int *)arg = 1; }

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr,
            "usage: %s <sqlite-path | mongodb://uri> [messages] [conversations] [in-flight]\n",
            argv[0]);
    return 2;
  }
  log_set_level(LOG_WARN);
  bench_t b = {.total = argc > 2 ? atoi(argv[2]) : 200000,
               .convs = argc > 3 ? atoi(argv[3]) : 100,
               .inflight = argc > 4 ? atoi(argv[4]) : 5000};
  if (b.total <= 0 || b.convs <= 0 || b.inflight <= 0) return 2;
  uv_loop_t loop;
  uv_loop_init(&loop);
  b.loop = &loop;
  b.conv_ids = calloc((size_t)b.convs, 25);
  int mongo = strncmp(argv[1], "mongodb://", 10) == 0;
  b.store = mongo ? store_open_mongo(&loop, argv[1], b.inflight * 2, 5000)
                  : store_open_sqlite(&loop, argv[1], b.inflight * 2);
  if (!b.store || prepare(&b) != 0) {
    fprintf(stderr, "store_bench: cannot open or prepare %s\n", argv[1]);
    return 1;
  }
  double load[3] = {0, 0, 0};
  getloadavg(load, 3);
  struct rusage before, after;
  getrusage(RUSAGE_SELF, &before);
  uint64_t start = uv_hrtime();
  refill(&b);
  while (b.done < b.total) uv_run(&loop, UV_RUN_ONCE);
  double secs = (double)(uv_hrtime() - start) / 1e9;
  getrusage(RUSAGE_SELF, &after);
  double user = (double)(after.ru_utime.tv_sec - before.ru_utime.tv_sec) +
                (double)(after.ru_utime.tv_usec - before.ru_utime.tv_usec) / 1e6;
  double sys = (double)(after.ru_stime.tv_sec - before.ru_stime.tv_sec) +
               (double)(after.ru_stime.tv_usec - before.ru_stime.tv_usec) / 1e6;
  int closed = 0;
  store_close(b.store, on_closed, &closed);
  while (!closed) uv_run(&loop, UV_RUN_ONCE);
  uv_loop_close(&loop);
  free(b.conv_ids);
  printf(
      "store_bench backend=%s messages=%d conversations=%d in_flight=%d failed=%d seconds=%.3f"
      " rate=%.0f msg/s cpu_us_per_msg=%.1f user+%.1f sys load=%.2f,%.2f,%.2f  command: %s %s %d "
      "%d %d\n",
      mongo ? "mongo" : "sqlite", b.total, b.convs, b.inflight, b.failed, secs, b.total / secs,
      user * 1e6 / b.total, sys * 1e6 / b.total, load[0], load[1], load[2], argv[0], argv[1],
      b.total, b.convs, b.inflight);
  return b.failed ? 1 : 0;
}
