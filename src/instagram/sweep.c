/* sweep: pending sends whose lease ran out become failed/unknown_outcome (see
 * sweep.h). One MSG_FAIL_PENDING at a time, a bounded batch each; a full
 * batch sweeps again at once. Owner: the Instagram module. Loop thread. */
#include "instagram/sweep.h"

#include <stdlib.h>

#include "chat/fanout.h"
#include "parley/instagram.h"
#include "parley/log.h"
#include "parley/store.h"
#include "parley/util.h"

#define SWEEP_BATCH 100
/* Beyond the longest send: the outcome's own store write. */
#define LEASE_SLACK_MS 2000
#define INTERVAL_MIN_MS 1000
#define INTERVAL_MAX_MS 60000

struct ig_sweep_s {
  app_t *app;
  uv_timer_t timer;
  int stopped;
  int busy;
};

int64_t ig_sweep_lease_ms(const app_t *app) {
  int64_t longest = app->graph
                        ? graph_send_max_ms(app->graph)
                        : 4LL * (app->cfg.graph_timeout_ms > 0 ? app->cfg.graph_timeout_ms : 10000);
  return longest + LEASE_SLACK_MS;
}

static void sweep(ig_sweep_t *s);

static void swept(void *ctx, int status, json_t *result) {
  ig_sweep_t *s = ctx;
  s->busy = 0;
  json_t *messages = json_object_get(result, "messages"), *m;
  size_t i;
  if (status != STORE_OK) {
    log_warn("instagram: cannot resolve sends left pending by a stopped instance (%d)", status);
  } else if (json_array_size(messages) > 0) {
    log_warn(
        "instagram: %zu send(s) left pending by a stopped instance marked failed"
        " (unknown_outcome)",
        json_array_size(messages));
    json_array_foreach(messages, i, m) fanout_message_updated(
        s->app, json_object_get(m, "message"), json_object_get(m, "participant_ids"));
  }
  int again = status == STORE_OK && json_array_size(messages) >= SWEEP_BATCH;
  json_decref(result);
  if (again) sweep(s);
}

static void sweep(ig_sweep_t *s) {
  if (s->stopped || s->busy || !s->app->store) return;
  int64_t now = util_now_ms();
  char stale[32];
  util_iso8601(now - ig_sweep_lease_ms(s->app), stale);
  s->busy = 1;
  if (store_call(s->app->store, MSG_FAIL_PENDING,
                 json_pack("{s:I, s:s, s:i}", "now_ms", (json_int_t)now, "stale_before", stale,
                           "limit", SWEEP_BATCH),
                 swept, s) != 0)
    s->busy = 0;
}

static void on_tick(uv_timer_t *t) { sweep(t->data); }

ig_sweep_t *ig_sweep_new(app_t *app) {
  ig_sweep_t *s = calloc(1, sizeof(*s));
  if (!s) return NULL;
  s->app = app;
  int64_t every = ig_sweep_lease_ms(app) / 4;
  if (every < INTERVAL_MIN_MS) every = INTERVAL_MIN_MS;
  if (every > INTERVAL_MAX_MS) every = INTERVAL_MAX_MS;
  uv_timer_init(app->loop, &s->timer);
  s->timer.data = s;
  uv_timer_start(&s->timer, on_tick, 0, (uint64_t)every);
  return s;
}

void ig_sweep_stop(ig_sweep_t *s) {
  if (!s || s->stopped) return;
  s->stopped = 1;
  uv_timer_stop(&s->timer);
  uv_close((uv_handle_t *)&s->timer, NULL);
}

int ig_sweep_busy(const ig_sweep_t *s) { return s ? s->busy : 0; }

void ig_sweep_free(ig_sweep_t *s) { free(s); }
