/* Search benchmark: fills a store with messages directly through store_call
 * (MSG_INSERT with group commit, as store_bench.c does; the store thread
 * indexes them for search between batches), then runs MSG_SEARCH queries one
 * after the other, each as a random user over their own conversations, and
 * prints queries per second with latency percentiles. Texts are words of a
 * generated vocabulary drawn with a Zipf-like law (so some terms match
 * hundreds of thousands of messages and most only a few), with accented words
 * among them; queries mix common, middle and rare terms, one or two a query,
 * and every tenth is limited to one conversation. One loop thread. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "bench_store.h"
#include "chat/search.h"
#include "parley/log.h"
#include "parley/store.h"
#include "parley/util.h"

#define VOCAB 5000
#define USERS 200
#define MEMBERS 5

typedef struct bench_s {
  uv_loop_t *loop;
  store_t *store;
  int total, convs, inflight;
  int submitted, done, failed;
  char (*users)[25];
  char (*conv_ids)[25];
  int (*members)[MEMBERS]; /* user indexes of each conversation */
  char (*vocab)[16];
  double *cdf; /* cumulative Zipf weights over the vocabulary */
  uint64_t rng;
  json_t *last;
} bench_t;

static uint32_t rnd(bench_t *b) { /* xorshift64*, reproducible */
  b->rng ^= b->rng >> 12;
  b->rng ^= b->rng << 25;
  b->rng ^= b->rng >> 27;
  return (uint32_t)((b->rng * 2685821657736338717ULL) >> 32);
}

static int call_sync(bench_t *b, enum store_op op, json_t *params) {
  return bench_call_sync(b->loop, b->store, op, params, &b->last);
}

/* Pronounceable words of 4 to 9 letters; every seventh carries an accent. */
static void make_vocab(bench_t *b) {
  static const char *cons = "bcdfghklmnprstvz", *vow = "aeiou";
  static const char *accented[] = {"é", "è", "ü", "ï", "ô"};
  b->vocab = calloc(VOCAB, 16);
  b->cdf = calloc(VOCAB, sizeof(double));
  double sum = 0;
  for (int i = 0; i < VOCAB; i++) {
    char *w = b->vocab[i];
    int syl = 2 + (int)(rnd(b) % 3), n = 0;
    for (int s = 0; s < syl; s++) {
      w[n++] = cons[rnd(b) % 16];
      if (i % 7 == 3 && s == 1) {
        const char *a = accented[rnd(b) % 5];
        memcpy(w + n, a, strlen(a));
        n += (int)strlen(a);
      } else {
        w[n++] = vow[rnd(b) % 5];
      }
    }
    w[n] = '\0';
    sum += 1.0 / pow(i + 1, 0.9);
    b->cdf[i] = sum;
  }
  for (int i = 0; i < VOCAB; i++) b->cdf[i] /= sum;
}

static int zipf_word(bench_t *b) {
  double u = (double)rnd(b) / 4294967296.0;
  int lo = 0, hi = VOCAB - 1;
  while (lo < hi) {
    int mid = (lo + hi) / 2;
    if (b->cdf[mid] < u)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo;
}

static void make_text(bench_t *b, char *out, size_t n) {
  int words = 5 + (int)(rnd(b) % 12);
  size_t len = 0;
  for (int i = 0; i < words && len + 20 < n; i++)
    len += (size_t)snprintf(out + len, n - len, "%s%s", i ? " " : "", b->vocab[zipf_word(b)]);
}

static void on_insert(void *ctx, int status, json_t *result);

static void refill(bench_t *b) {
  char text[256];
  while (b->submitted < b->total && store_jobs_in_flight(b->store) < b->inflight) {
    /* Conversations take turns in bursts of 20, as chats do; a random one at
     * each message would make every group commit touch hundreds of them. */
    int i = b->submitted++, c = (int)((uint32_t)(i / 20) * 2654435761u % (uint32_t)b->convs);
    make_text(b, text, sizeof(text));
    json_t *p = json_pack("{s:s,s:s,s:s,s:s}", "conversation_id", b->conv_ids[c], "sender_id",
                          b->users[b->members[c][i % MEMBERS]], "text", text, "source", "web");
    if (store_call(b->store, MSG_INSERT, p, on_insert, b) != 0) {
      b->submitted--;
      return;
    }
  }
}

static void on_insert(void *ctx, int status, json_t *result) {
  bench_t *b = ctx;
  b->done++;
  if (status != 0) b->failed++;
  json_decref(result);
  refill(b);
}

static int prepare(bench_t *b) {
  b->users = calloc(USERS, 25);
  b->conv_ids = calloc((size_t)b->convs, 25);
  b->members = calloc((size_t)b->convs, sizeof(*b->members));
  char run[25], email[80];
  util_new_id(run);
  for (int u = 0; u < USERS; u++) {
    snprintf(email, sizeof(email), "search-%s-%d@example.com", run, u);
    if (call_sync(
            b, USER_CREATE,
            json_pack("{s:s,s:s,s:s}", "email", email, "name", "Bench", "password_hash", "x")))
      return -1;
    snprintf(b->users[u], 25, "%s", json_string_value(json_object_get(b->last, "id")));
    json_decref(b->last);
  }
  for (int c = 0; c < b->convs; c++) {
    json_t *ids = json_array();
    for (int m = 0; m < MEMBERS; m++) {
      b->members[c][m] = (c * 7 + m * 41) % USERS; /* distinct: 41 * m mod 200 differ */
      json_array_append_new(ids, json_string(b->users[b->members[c][m]]));
    }
    if (call_sync(b, CONV_CREATE,
                  json_pack("{s:s,s:s,s:s,s:o}", "type", "group", "name", "bench", "creator_id",
                            b->users[b->members[c][0]], "participant_ids", ids)))
      return -1;
    snprintf(b->conv_ids[c], 25, "%s",
             json_string_value(json_object_get(json_object_get(b->last, "conversation"), "id")));
    json_decref(b->last);
  }
  return 0;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

/* A query's terms as the API parses them (chat/search.c folds the accents):
 * a common word (rank < 50), a middle one (< 1000) or a rare one, and a
 * second word half the time. */
static json_t *query_terms(bench_t *b) {
  char q[64];
  size_t len = 0;
  int n = 1 + (int)(rnd(b) % 2);
  for (int i = 0; i < n; i++) {
    uint32_t kind = rnd(b) % 3;
    int w = kind == 0   ? (int)(rnd(b) % 50)
            : kind == 1 ? 50 + (int)(rnd(b) % 950)
                        : 1000 + (int)(rnd(b) % (VOCAB - 1000));
    len += (size_t)snprintf(q + len, sizeof(q) - len, "%s%s", i ? " " : "", b->vocab[w]);
  }
  json_t *terms = NULL;
  return search_parse(q, len, &terms) == SEARCH_OK ? terms : json_pack("[s]", "none");
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr,
            "usage: %s <sqlite-path | mongodb://uri> [messages] [conversations] [queries]\n",
            argv[0]);
    return 2;
  }
  log_set_level(LOG_WARN);
  bench_t b = {.total = argc > 2 ? atoi(argv[2]) : 1000000,
               .convs = argc > 3 ? atoi(argv[3]) : 1000,
               .inflight = 5000,
               .rng = 0x9e3779b97f4a7c15ULL};
  int queries = argc > 4 ? atoi(argv[4]) : 2000;
  if (b.total <= 0 || b.convs <= 0 || queries <= 0) return 2;
  uv_loop_t loop;
  uv_loop_init(&loop);
  b.loop = &loop;
  const char *backend = bench_store_backend(argv[1]);
  b.store = bench_store_open(&loop, argv[1], b.inflight * 2);
  make_vocab(&b);
  if (!b.store || prepare(&b) != 0) {
    fprintf(stderr, "search_bench: cannot open or prepare %s\n", argv[1]);
    return 1;
  }
  uint64_t start = uv_hrtime();
  refill(&b);
  while (b.done < b.total) uv_run(&loop, UV_RUN_ONCE);
  double fill_secs = (double)(uv_hrtime() - start) / 1e9;
  fprintf(stderr, "search_bench: stored %d messages in %.1f s (%.0f msg/s), %d failed\n", b.total,
          fill_secs, b.total / fill_secs, b.failed);

  double load[3] = {0, 0, 0};
  getloadavg(load, 3);
  double *lat = calloc((size_t)queries, sizeof(double));
  long hits = 0;
  int errors = 0;
  struct rusage ru0, ru1;
  getrusage(RUSAGE_SELF, &ru0);
  start = uv_hrtime();
  for (int q = 0; q < queries; q++) {
    int c = (int)(rnd(&b) % (uint32_t)b.convs);
    json_t *p = json_pack("{s:s, s:o, s:[], s:i, s:i, s:i}", "user_id",
                          b.users[b.members[c][q % MEMBERS]], "terms", query_terms(&b),
                          "exclude_types", "offset", 0, "limit", 20, "window", 1000);
    if (q % 10 == 9) json_object_set_new(p, "conversation_id", json_string(b.conv_ids[c]));
    uint64_t t0 = uv_hrtime();
    if (call_sync(&b, MSG_SEARCH, p) != 0) {
      errors++;
    } else {
      hits += (long)json_array_size(json_object_get(b.last, "results"));
      json_decref(b.last);
    }
    lat[q] = (double)(uv_hrtime() - t0) / 1e6;
  }
  double secs = (double)(uv_hrtime() - start) / 1e9;
  getrusage(RUSAGE_SELF, &ru1);
  /* CPU time of the whole process (loop and store thread): what a loaded,
   * shared machine disturbs least. */
  double cpu = (double)(ru1.ru_utime.tv_sec - ru0.ru_utime.tv_sec + ru1.ru_stime.tv_sec -
                        ru0.ru_stime.tv_sec) +
               (double)(ru1.ru_utime.tv_usec - ru0.ru_utime.tv_usec + ru1.ru_stime.tv_usec -
                        ru0.ru_stime.tv_usec) /
                   1e6;
  qsort(lat, (size_t)queries, sizeof(double), cmp_double);
  store_close(b.store, NULL, NULL);
  uv_run(&loop, UV_RUN_DEFAULT);
  printf(
      "search_bench backend=%s messages=%d conversations=%d users=%d fill_rate=%.0f msg/s"
      " queries=%d errors=%d seconds=%.3f qps=%.1f p50_ms=%.2f p99_ms=%.2f max_ms=%.2f"
      " cpu_ms_per_query=%.2f results_per_query=%.1f load=%.2f,%.2f,%.2f\n",
      backend, b.total, b.convs, USERS, b.total / fill_secs, queries, errors, secs, queries / secs,
      lat[queries / 2], lat[(int)(queries * 0.99)], lat[queries - 1], cpu * 1e3 / queries,
      (double)hits / queries, load[0], load[1], load[2]);
  free(lat);
  return errors || b.failed ? 1 : 0;
}
