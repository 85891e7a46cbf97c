/* The fetcher of Instagram media (media.h): claims due media from the store,
 * fetches each from Meta's URL, types it, stores it, runs an image through the
 * imager and records the result, at most media_fetch_concurrency at once.
 * A fetch holds the response's bytes (at most upload_max_bytes) from the HTTP
 * answer until they are in storage. Loop thread. */
#include "instagram/media.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chat/fanout.h"
#include "parley/addrguard.h"
#include "parley/files.h"
#include "parley/files_image.h"
#include "parley/files_imager.h"
#include "parley/files_type.h"
#include "parley/httpc.h"
#include "parley/log.h"
#include "parley/store.h"
#include "parley/util.h"

/* A claim at least this often (media another instance recorded, a lost kick),
 * and after a store failure. */
#define POLL_MS 60000
#define STORE_RETRY_MS 5000
/* Bytes handed to storage per write. */
#define WRITE_MAX (1024 * 1024)
/* The lease of a claimed medium beyond the fetch's timeout: typing, storage
 * and the image step. */
#define LEASE_SLACK_MS 120000

struct ig_media_s {
  app_t *app;
  uv_timer_t timer;
  int running;  /* fetches in flight */
  int claiming; /* a claim waits for the store */
  int again;    /* a kick came during the claim */
  int stopped;
};

typedef struct fetch_s {
  ig_media_t *m;
  char id[25];
  int attempts; /* failed before this one */
  char *data;   /* the fetched bytes, until they are in storage */
  size_t len, off, chunk;
  char mime[128];
  const char *kind;
  char thumb[32]; /* the thumbnail's storage key, once made */
  int sniff_rc;
  uv_work_t work;
  files_upload_t *fu;
} fetch_t;

static void claim(ig_media_t *m);

json_t *ig_media_items(const json_t *message) {
  json_t *items = json_array(), *a;
  size_t i;
  json_array_foreach(json_object_get(message, "attachments"), i, a) {
    const char *fetch = json_string_value(json_object_get(a, "fetch"));
    json_t *id = json_object_get(a, "id"), *type = json_object_get(a, "type");
    json_t *name = json_object_get(a, "name"), *url = json_object_get(a, "source_url");
    if (!fetch || strcmp(fetch, "pending") != 0 || !json_is_string(id) || !json_is_string(type) ||
        !json_is_string(name) || !json_is_string(url))
      continue;
    json_array_append_new(items, json_pack("{s:O, s:O, s:O, s:O}", "id", id, "type", type, "name",
                                           name, "source_url", url));
  }
  return items;
}

int64_t ig_media_retry_at(int64_t now_ms, int attempts, int retry_ms, int max_attempts) {
  if (attempts >= max_attempts) return -1;
  int shift = attempts > 1 ? attempts - 1 : 0;
  if (shift > 20) shift = 20;
  int64_t delay = (int64_t)retry_ms << shift;
  if (delay > 86400000) delay = 86400000;
  return now_ms + delay;
}

/* ---- one fetch ---- */

static void fetch_end(fetch_t *f) {
  ig_media_t *m = f->m;
  if (f->fu) files_upload_abort(f->fu);
  free(f->data);
  free(f);
  m->running--;
  claim(m);
}

static void fail_recorded(void *ctx, int status, json_t *result) {
  fetch_t *f = ctx;
  if (status != STORE_OK && status != STORE_ENOTFOUND)
    log_warn("instagram media %s: the failed fetch was not recorded (%d); its lease ends it", f->id,
             status);
  else if (json_object_get(result, "message")) /* failed for good: fetch says so */
    fanout_message_updated(f->m->app, json_object_get(result, "message"),
                           json_object_get(result, "participant_ids"));
  json_decref(result);
  fetch_end(f);
}

/* The fetch failed: due again later (retry) or never (Meta's URL stays). */
static void fail(fetch_t *f, int retry, const char *why) {
  const config_t *cfg = &f->m->app->cfg;
  int64_t at = retry ? ig_media_retry_at(util_now_ms(), f->attempts + 1, cfg->media_fetch_retry_ms,
                                         cfg->media_fetch_attempts)
                     : -1;
  if (at < 0)
    log_warn("instagram media %s: not fetched (%s); Meta's URL is kept", f->id, why);
  else
    log_info("instagram media %s: fetch failed (%s); retried in %lld ms", f->id, why,
             (long long)(at - util_now_ms()));
  json_t *p =
      json_pack("{s:s, s:o}", "id", f->id, "retry_at_ms", at < 0 ? json_null() : json_integer(at));
  if (store_call(f->m->app->store, ATTACH_MEDIA_DONE, p, fail_recorded, f) != 0) fetch_end(f);
}

static void recorded(void *ctx, int status, json_t *result) {
  fetch_t *f = ctx;
  app_t *app = f->m->app;
  if (status == STORE_OK) {
    fanout_message_updated(app, json_object_get(result, "message"),
                           json_object_get(result, "participant_ids"));
  } else if (status == STORE_ENOTFOUND) {
    /* Its message was deleted meanwhile: the bytes are nobody's. */
    files_remove(app->files, f->id, NULL, NULL);
    if (f->thumb[0]) files_remove(app->files, f->thumb, NULL, NULL);
  } else {
    log_warn("instagram media %s: stored, not recorded (%d); fetched again after its lease", f->id,
             status);
  }
  json_decref(result);
  fetch_end(f);
}

/* Records the stored file (with an image's size and thumbnail). */
static void record(fetch_t *f, const files_imaged_t *img) {
  json_t *p = json_pack("{s:s, s:s, s:I}", "id", f->id, "content_type", f->mime, "size",
                        (json_int_t)f->len);
  if (p && img && img->width > 0) {
    if (img->size > 0) json_object_set_new(p, "size", json_integer(img->size));
    json_object_set_new(p, "width", json_integer(img->width));
    json_object_set_new(p, "height", json_integer(img->height));
    if (img->thumb_key[0]) {
      json_object_set_new(p, "thumbnail_key", json_string(img->thumb_key));
      json_object_set_new(p, "thumbnail_size", json_integer(img->thumb_size));
      json_object_set_new(p, "thumbnail_content_type", json_string("image/jpeg"));
    }
  }
  if (img) snprintf(f->thumb, sizeof(f->thumb), "%s", img->thumb_key);
  if (!p || store_call(f->m->app->store, ATTACH_MEDIA_DONE, p, recorded, f) != 0) fetch_end(f);
}

static void on_imaged(void *ctx, int status, const files_imaged_t *r) {
  fetch_t *f = ctx;
  if (status == 0) {
    record(f, r);
  } else if (status == FILES_IMAGE_TOO_LARGE || status == FILES_IMAGE_INVALID) {
    files_remove(f->m->app->files, f->id, NULL, NULL);
    fail(f, 0, status == FILES_IMAGE_TOO_LARGE ? "over image_max_pixels" : "a damaged image");
  } else {
    fail(f, 1, "the image step failed");
  }
}

static void on_committed(void *ctx, int status) {
  fetch_t *f = ctx;
  if (status != 0) {
    fail(f, 1, uv_strerror(status));
    return;
  }
  free(f->data); /* in storage now */
  f->data = NULL;
  if (strcmp(f->kind, "image") != 0) {
    record(f, NULL);
    return;
  }
  if (files_imager_run(f->m->app->imager, f->id, (int64_t)f->len, on_imaged, f) != 0)
    fail(f, 1, "the image step is unavailable");
}

static void write_next(fetch_t *f);

static void on_written(void *ctx, int status) {
  fetch_t *f = ctx;
  if (status != 0) {
    fail(f, 1, uv_strerror(status));
    return;
  }
  f->off += f->chunk;
  write_next(f);
}

static void write_next(fetch_t *f) {
  if (f->off < f->len) {
    f->chunk = f->len - f->off < WRITE_MAX ? f->len - f->off : WRITE_MAX;
    if (files_upload_write(f->fu, f->data + f->off, f->chunk, on_written, f) != 0)
      fail(f, 1, "storage refused a write");
    return;
  }
  files_upload_t *fu = f->fu;
  f->fu = NULL; /* the commit owns it */
  if (files_upload_commit(fu, on_committed, f) != 0) {
    f->fu = fu;
    fail(f, 1, "storage refused the commit");
  }
}

static void on_begun(void *ctx, int status) {
  fetch_t *f = ctx;
  if (status != 0) {
    f->fu = NULL; /* freed by the backend */
    fail(f, 1, uv_strerror(status));
    return;
  }
  write_next(f);
}

static void sniff_work(uv_work_t *w) {
  fetch_t *f = w->data;
  size_t n = f->len < FILES_TYPE_HEAD ? f->len : FILES_TYPE_HEAD;
  f->sniff_rc = files_type_sniff(f->data, n, f->mime, sizeof(f->mime));
}

static void sniff_done(uv_work_t *w, int status) {
  fetch_t *f = w->data;
  if (status != 0 || f->sniff_rc != 0) {
    fail(f, 1, "its type could not be checked");
  } else if (!(f->kind = files_type_kind(f->mime))) {
    char why[192];
    snprintf(why, sizeof(why), "type %s is not accepted", f->mime);
    fail(f, 0, why);
  } else if (files_upload_begin(f->m->app->files, f->id, &f->fu, on_begun, f) != 0) {
    f->fu = NULL;
    fail(f, 1, "storage refused the upload");
  }
}

static void on_http(void *ctx, const httpc_response_t *res) {
  fetch_t *f = ctx;
  if (res->status == 0 && res->error && strcmp(res->error, "cancelled") == 0) {
    fetch_end(f); /* shutting down: due again when its lease ends */
    return;
  }
  if (res->status == 0 && res->error && strcmp(res->error, "response too large") == 0) {
    fail(f, 0, "larger than upload_max_bytes");
    return;
  }
  if (res->status != 200 || res->len == 0) {
    char why[160];
    snprintf(why, sizeof(why), "%s %d",
             res->status  ? "HTTP"
             : res->error ? res->error
                          : "error",
             res->status);
    fail(f, 1, why);
    return;
  }
  f->data = malloc(res->len);
  if (!f->data) {
    fail(f, 1, "out of memory");
    return;
  }
  memcpy(f->data, res->body, res->len);
  f->len = res->len;
  f->work.data = f;
  if (uv_queue_work(f->m->app->loop, &f->work, sniff_work, sniff_done) != 0)
    fail(f, 1, "the thread pool refused the type check");
}

static void start(ig_media_t *m, json_t *item) {
  const char *id = json_string_value(json_object_get(item, "id"));
  const char *url = json_string_value(json_object_get(item, "source_url"));
  if (!id || !files_key_valid(id) || !url) return;
  fetch_t *f = calloc(1, sizeof(*f));
  if (!f) return; /* due again when its lease ends */
  f->m = m;
  m->running++;
  snprintf(f->id, sizeof(f->id), "%s", id);
  f->attempts = (int)json_integer_value(json_object_get(item, "attempts"));
  const config_t *cfg = &m->app->cfg;
  httpc_request_t req = {"GET",
                         url,
                         NULL,
                         NULL,
                         0,
                         cfg->media_fetch_timeout_ms,
                         (size_t)cfg->upload_max_bytes,
                         addrguard_check,
                         (void *)cfg->media_fetch_allow};
  if (httpc_request(m->app->http, &req, on_http, f) != 0) fail(f, 1, "the request was refused");
}

/* ---- claims ---- */

static void on_tick(uv_timer_t *t) { claim(t->data); }

static void arm(ig_media_t *m, int64_t ms) {
  if (m->stopped) return;
  if (ms < 10) ms = 10;
  if (ms > POLL_MS) ms = POLL_MS;
  uv_timer_start(&m->timer, on_tick, (uint64_t)ms, 0);
}

static void claimed(void *ctx, int status, json_t *result) {
  ig_media_t *m = ctx;
  m->claiming = 0;
  if (status != STORE_OK) {
    json_decref(result);
    arm(m, STORE_RETRY_MS);
    return;
  }
  json_t *item;
  size_t i;
  json_array_foreach(json_object_get(result, "media"), i, item) start(m, item);
  json_t *next = json_object_get(result, "next_ms");
  arm(m, json_is_integer(next) ? json_integer_value(next) - util_now_ms() : POLL_MS);
  json_decref(result);
  if (m->again) {
    m->again = 0;
    claim(m);
  }
}

static void claim(ig_media_t *m) {
  if (m->stopped) return;
  if (m->claiming) {
    m->again = 1;
    return;
  }
  int room = m->app->cfg.media_fetch_concurrency - m->running;
  if (room <= 0) return; /* a fetch's end claims again */
  m->claiming = 1;
  int64_t lease = (int64_t)m->app->cfg.media_fetch_timeout_ms + LEASE_SLACK_MS;
  if (store_call(m->app->store, ATTACH_MEDIA_CLAIM,
                 json_pack("{s:I, s:I, s:i}", "now_ms", (json_int_t)util_now_ms(), "lease_ms",
                           (json_int_t)lease, "limit", room),
                 claimed, m) != 0) {
    m->claiming = 0;
    arm(m, STORE_RETRY_MS);
  }
}

ig_media_t *ig_media_new(app_t *app) {
  ig_media_t *m = calloc(1, sizeof(*m));
  if (!m) return NULL;
  m->app = app;
  uv_timer_init(app->loop, &m->timer);
  m->timer.data = m;
  claim(m);
  return m;
}

void ig_media_kick(ig_media_t *m) {
  if (m) claim(m);
}

void ig_media_stop(ig_media_t *m) {
  if (!m || m->stopped) return;
  m->stopped = 1;
  uv_timer_stop(&m->timer);
  uv_close((uv_handle_t *)&m->timer, NULL);
}

int ig_media_busy(const ig_media_t *m) { return m ? m->running + m->claiming : 0; }

void ig_media_free(ig_media_t *m) { free(m); }
