/* Store benchmark: messages stored per second through store_call(MSG_INSERT) with
 * group commit, keeping a fixed number of inserts in flight, for the backend named
 * on the command line (an SQLite path, or a mongodb:// URI). One loop thread.
 * Prints the rate with the CPU time the process used (all its threads) and the
 * load average before the run, since the machine is shared. With a fifth argument
 * it then reads that many history pages (MSG_LIST, 50 messages that all carry
 * reactions, at spread-out places) one after the other and prints their rate and
 * the CPU time per page (what a loaded machine disturbs least) on a second line. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "bench_store.h"
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
} bench_t;

static int call_sync(bench_t *b, enum store_op op, json_t *params) {
  return bench_call_sync(b->loop, b->store, op, params, &b->last);
}

static void on_insert(void *ctx, int status, json_t *result);

/* Tops the store up to `inflight` inserts of ours. Counted here, not by
 * store_jobs_in_flight(): the store still counts a job while its callback runs,
 * so from on_insert with one in flight that count never fell below the bound
 * and nothing was submitted again (the bench waited forever). */
static void refill(bench_t *b) {
  while (b->submitted < b->total && b->submitted - b->done < b->inflight) {
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

/* User and system time of the process (all its threads) so far. */
static double cpu_seconds(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

static void on_react(void *ctx, int status, json_t *result) {
  bench_t *b = ctx;
  b->done++;
  if (status != 0) b->failed++;
  json_decref(result);
}

/* Two reactions on every message of the first conversation, 400 in flight at a
 * time; returns how many messages it has, or -1. */
static int react_all(bench_t *b) {
  int count = 0;
  for (json_int_t after = 0;;) {
    if (call_sync(b, MSG_LIST,
                  json_pack("{s:s,s:s,s:i,s:I}", "conversation_id", b->conv_ids[0], "user_id",
                            b->sender, "limit", 200, "after_seq", after)))
      return -1;
    json_t *page = b->last, *msgs = json_object_get(page, "messages"), *m;
    size_t i;
    b->submitted = b->done = 0;
    json_array_foreach(msgs, i, m) {
      for (int e = 0; e < 2; e++)
        if (store_call(b->store, MSG_REACT,
                       json_pack("{s:O,s:s,s:s,s:b}", "id", json_object_get(m, "id"), "user_id",
                                 b->sender, "emoji", e ? "🎉" : "👍", "add", 1),
                       on_react, b) == 0)
          b->submitted++;
      after = json_integer_value(json_object_get(m, "seq"));
      count++;
    }
    int more = json_is_true(json_object_get(page, "has_more"));
    json_decref(page);
    while (b->done < b->submitted) uv_run(b->loop, UV_RUN_ONCE);
    if (b->failed || b->done < 2 * (int)i) return -1;
    if (!more) return count;
  }
}

/* Reads `pages` pages of 50 at spread-out places, one at a time; every message
 * must come with its two reactions. Returns the seconds taken (*cpu: the CPU
 * seconds), or -1. */
static double read_pages(bench_t *b, int pages, double *cpu) {
  int count = react_all(b);
  if (count < 51) return -1;
  *cpu = cpu_seconds();
  uint64_t start = uv_hrtime();
  for (int i = 0; i < pages; i++) {
    json_int_t before = 51 + (json_int_t)((i * 7919L) % (count - 50));
    if (call_sync(b, MSG_LIST,
                  json_pack("{s:s,s:s,s:i,s:I}", "conversation_id", b->conv_ids[0], "user_id",
                            b->sender, "limit", 50, "before_seq", before)))
      return -1;
    json_t *msgs = json_object_get(b->last, "messages"), *m;
    size_t j;
    int ok = json_array_size(msgs) == 50;
    json_array_foreach(msgs, j, m) ok = ok && json_array_size(json_object_get(m, "reactions")) == 2;
    json_decref(b->last);
    if (!ok) return -1;
  }
  *cpu = cpu_seconds() - *cpu;
  return (double)(uv_hrtime() - start) / 1e9;
}

static void on_closed(void *arg) { *(int *)arg = 1; }

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr,
            "usage: %s <sqlite-path | mongodb://uri> [messages] [conversations] [in-flight]"
            " [pages]\n",
            argv[0]);
    return 2;
  }
  log_set_level(LOG_WARN);
  bench_t b = {.total = argc > 2 ? atoi(argv[2]) : 200000,
               .convs = argc > 3 ? atoi(argv[3]) : 100,
               .inflight = argc > 4 ? atoi(argv[4]) : 5000};
  int pages = argc > 5 ? atoi(argv[5]) : 0;
  if (b.total <= 0 || b.convs <= 0 || b.inflight <= 0 || pages < 0) return 2;
  uv_loop_t loop;
  uv_loop_init(&loop);
  b.loop = &loop;
  b.conv_ids = calloc((size_t)b.convs, 25);
  const char *backend = bench_store_backend(argv[1]);
  b.store = bench_store_open(&loop, argv[1], b.inflight * 2);
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
  int inserts_failed = b.failed;
  double page_cpu = 0;
  double page_secs = pages > 0 && !inserts_failed ? read_pages(&b, pages, &page_cpu) : 0;
  int closed = 0;
  store_close(b.store, on_closed, &closed);
  while (!closed) uv_run(&loop, UV_RUN_ONCE);
  uv_loop_close(&loop);
  free(b.conv_ids);
  printf(
      "store_bench backend=%s messages=%d conversations=%d in_flight=%d failed=%d seconds=%.3f"
      " rate=%.0f msg/s cpu_us_per_msg=%.1f user+%.1f sys load=%.2f,%.2f,%.2f  command: %s %s %d "
      "%d %d\n",
      backend, b.total, b.convs, b.inflight, inserts_failed, secs, b.total / secs,
      user * 1e6 / b.total, sys * 1e6 / b.total, load[0], load[1], load[2], argv[0], argv[1],
      b.total, b.convs, b.inflight);
  if (pages > 0 && page_secs > 0)
    printf(
        "store_bench_pages backend=%s pages=%d messages_per_page=50 reactions_per_message=2"
        " seconds=%.3f rate=%.0f pages/s ms_per_page=%.3f cpu_us_per_page=%.0f\n",
        backend, pages, page_secs, pages / page_secs, page_secs * 1e3 / pages,
        page_cpu * 1e6 / pages);
  else if (pages > 0)
    fprintf(stderr, "store_bench: the pages phase failed\n");
  return inserts_failed || (pages > 0 && page_secs <= 0) ? 1 : 0;
}
