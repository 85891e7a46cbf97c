/* Uploads never sent in a message, removed after upload_unsent_ttl_s (see
 * upload_sweep.h): ATTACH_SWEEP removes a batch of records and names them,
 * then their bytes (and a thumbnail's, under the id's "-t" key when one was
 * made) are removed from files storage. One batch in flight. Loop thread. */
#include "chat/upload_sweep.h"

#include <stdio.h>
#include <stdlib.h>

#include "parley/files.h"
#include "parley/log.h"
#include "parley/metrics.h"
#include "parley/store.h"
#include "parley/util.h"

#define SWEEP_BATCH 100
#define INTERVAL_MIN_MS 1000
#define INTERVAL_MAX_MS 600000

struct upload_sweep_s {
  app_t *app;
  uv_timer_t timer;
  int stopped;
  int busy;
};

static void sweep(upload_sweep_t *s);

static void swept(void *ctx, int status, json_t *result) {
  upload_sweep_t *s = ctx;
  s->busy = 0;
  json_t *removed = json_object_get(result, "removed"), *id;
  size_t i;
  if (status != STORE_OK) {
    log_warn("uploads: cannot sweep unsent uploads (%d)", status);
  } else if (json_array_size(removed) > 0) {
    log_info("uploads: %zu upload(s) never sent removed", json_array_size(removed));
    json_array_foreach(removed, i, id) {
      /* The record is gone: the bytes are nobody's. A removal that fails
       * leaves bytes no record names, which no client can reach. */
      files_remove(s->app->files, json_string_value(id), NULL, NULL);
    }
    json_array_foreach(json_object_get(result, "thumbnails"), i, id)
        files_remove(s->app->files, json_string_value(id), NULL, NULL);
  }
  int again = status == STORE_OK && json_array_size(removed) >= SWEEP_BATCH;
  json_decref(result);
  if (again) sweep(s);
}

static void sweep(upload_sweep_t *s) {
  if (s->stopped || s->busy || !s->app->store || !s->app->files) return;
  int64_t before = util_now_ms() - (int64_t)s->app->cfg.upload_unsent_ttl_s * 1000;
  s->busy = 1;
  if (store_call(s->app->store, ATTACH_SWEEP,
                 json_pack("{s:I, s:i}", "before_ms", (json_int_t)before, "limit", SWEEP_BATCH),
                 swept, s) != 0)
    s->busy = 0;
}

static void on_tick(uv_timer_t *t) { sweep(t->data); }

upload_sweep_t *upload_sweep_new(app_t *app) {
  upload_sweep_t *s = calloc(1, sizeof(*s));
  if (!s) return NULL;
  s->app = app;
  int64_t every = (int64_t)app->cfg.upload_unsent_ttl_s * 1000 / 4;
  if (every < INTERVAL_MIN_MS) every = INTERVAL_MIN_MS;
  if (every > INTERVAL_MAX_MS) every = INTERVAL_MAX_MS;
  uv_timer_init(app->loop, &s->timer);
  s->timer.data = s;
  uv_timer_start(&s->timer, on_tick, 0, (uint64_t)every);
  return s;
}

void upload_sweep_stop(upload_sweep_t *s) {
  if (!s || s->stopped) return;
  s->stopped = 1;
  uv_timer_stop(&s->timer);
  uv_close((uv_handle_t *)&s->timer, NULL);
}

int upload_sweep_busy(const upload_sweep_t *s) { return s ? s->busy : 0; }

void upload_sweep_free(upload_sweep_t *s) { free(s); }
