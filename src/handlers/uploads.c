/* POST /api/uploads (API.md, Files): a file streamed to files storage as it
 * arrives, typed by its magic bytes on the thread pool, recorded in the store.
 * Limits: upload_max_bytes per file, upload_max_in_flight per user,
 * upload_quota_bytes per user, image_max_pixels per image. An image is
 * measured, stripped of EXIF (JPEG) and given a thumbnail (files_imager.h)
 * before it is recorded. Whatever fails, the partial object is aborted (or the
 * committed one removed) and nothing is left in storage. Loop thread. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chat/attach_url.h"
#include "handlers/common.h"
#include "handlers/handlers.h"
#include "handlers/multipart.h"
#include "parley/app.h"
#include "parley/files.h"
#include "parley/files_image.h"
#include "parley/files_imager.h"
#include "parley/files_type.h"
#include "parley/log.h"
#include "parley/strmap.h"
#include "parley/util.h"

/* Received bytes waiting for storage above which reading pauses, and below
 * which it resumes; a write takes at most UPLOAD_WRITE_MAX. */
#define UPLOAD_HIGH_WATER (1024 * 1024)
#define UPLOAD_LOW_WATER (256 * 1024)
#define UPLOAD_NAME_MAX 255
/* A multipart body may exceed the file by this much (boundaries, headers,
 * small fields) before it counts as too large. */
#define UPLOAD_MULTIPART_SLACK (64 * 1024)

typedef struct upload_s {
  http_req_t *req; /* a reference, dropped when the upload ends */
  app_t *app;
  char id[25];
  char user[64];
  char name[UPLOAD_NAME_MAX + 1];
  char mime[128];
  const char *kind;     /* image, video, audio, file: once the type passed */
  files_upload_t *fu;   /* NULL before begin and after commit or abort */
  int64_t limit;        /* bytes this file may have: the size limit or what the quota leaves */
  int limit_is_quota;   /* which of the two limit is */
  int64_t received;     /* the file's bytes */
  int64_t raw_received; /* the body's bytes (a multipart body's framing too) */
  multipart_t *mp;      /* a multipart/form-data body's parser, else NULL */
  int file_parts;       /* parts named "file" seen */
  buf_t head;           /* the first FILES_TYPE_HEAD bytes, for the type */
  buf_t pending;        /* received, not yet handed to storage */
  buf_t writing;        /* the write in flight */
  uv_work_t work;       /* the type check */
  int sniff_rc;
  int image_status; /* why the image step refused it, for the answer */
  int refs;         /* the upload itself, the type check, a write or a store call in flight */
  int counted;      /* holds one of the user's in-flight slots */
  int sniffing, typed, ended, committing, paused, done;
  int write_in_flight; /* storage reads `writing` until on_written */
} upload_t;

static void upload_unref(upload_t *up) {
  if (--up->refs > 0) return;
  if (up->counted) {
    intptr_t n = (intptr_t)strmap_get(up->app->uploads, up->user);
    if (n <= 1)
      strmap_del(up->app->uploads, up->user);
    else
      strmap_put(up->app->uploads, up->user, (void *)(n - 1));
  }
  free(up->mp);
  buf_free(&up->head);
  buf_free(&up->pending);
  buf_free(&up->writing);
  http_req_unref(up->req);
  free(up);
}

/* Ends the upload: discards what storage holds of it and answers (unless the
 * client left or was answered). */
static void upload_refuse(upload_t *up, int status, const char *code, const char *msg,
                          const char *field) {
  if (up->done) return;
  up->done = 1;
  /* With a write in flight storage still reads `writing` (on the thread pool):
   * the abort waits for on_written, which holds the upload until then. */
  if (up->fu && !up->write_in_flight) {
    files_upload_abort(up->fu);
    up->fu = NULL;
  }
  if (status && !up->req->replied) {
    if (status == 503) http_reply_header(up->req, "Retry-After", "1");
    http_reply_error(up->req, status, code, msg, field);
  }
  upload_unref(up);
}

static void upload_fail(upload_t *up, int status, const char *code, const char *msg) {
  upload_refuse(up, status, code, msg, NULL);
}

static void too_large(upload_t *up) {
  if (up->limit_is_quota)
    upload_fail(up, 413, "quota_exceeded", "the file does not fit in your upload quota");
  else
    upload_fail(up, 413, "payload_too_large", "the file is larger than upload_max_bytes");
}

/* ---- the type, from the first bytes, on the thread pool ---- */

static void sniff_work(uv_work_t *w) {
  upload_t *up = w->data;
  up->sniff_rc = files_type_sniff(up->head.data, up->head.len, up->mime, sizeof(up->mime));
}

static void kick(upload_t *up);

static void sniff_done(uv_work_t *w, int status) {
  upload_t *up = w->data;
  up->sniffing = 0;
  if (!up->done) {
    if (status != 0 || up->sniff_rc != 0) {
      log_warn("req %s: upload type check failed", up->req->request_id);
      upload_fail(up, 503, "unavailable", "the file's type could not be checked");
    } else if (!(up->kind = files_type_kind(up->mime))) {
      char msg[192];
      snprintf(msg, sizeof(msg), "files of type %s are not accepted", up->mime);
      upload_fail(up, 415, "unsupported_media_type", msg);
    } else {
      up->typed = 1;
      kick(up);
    }
  }
  upload_unref(up);
}

static void sniff_start(upload_t *up) {
  if (up->sniffing || up->typed) return;
  up->sniffing = 1;
  up->work.data = up;
  up->refs++;
  if (uv_queue_work(up->app->loop, &up->work, sniff_work, sniff_done) != 0) {
    up->sniffing = 0;
    up->refs--;
    upload_fail(up, 503, "unavailable", "the file's type could not be checked");
  }
}

/* ---- into storage ---- */

static void on_created(void *ctx, int status, json_t *result) {
  upload_t *up = ctx;
  if (status != STORE_OK) {
    log_warn("req %s: attachment %s not recorded (%d): removing it", up->req->request_id, up->id,
             status);
    files_remove(up->app->files, up->id, NULL, NULL);
    handlers_reply_store_error(up->req, status);
  } else {
    /* Its uploader may fetch it before sending it. */
    attach_url_view(up->app, result, 'u', up->user);
    http_reply_json(up->req, 201, json_pack("{s:O}", "attachment", result));
  }
  json_decref(result);
  up->done = 1;
  upload_unref(up); /* the store call's */
  upload_unref(up); /* the upload's */
}

/* Records the stored file, with an image's size and thumbnail when it has them. */
static void record(upload_t *up, const files_imaged_t *img) {
  json_t *p = json_pack("{s:s, s:s, s:s, s:s, s:I, s:s}", "id", up->id, "user_id", up->user, "type",
                        up->kind, "content_type", up->mime, "size", (json_int_t)up->received,
                        "name", up->name);
  if (p && img && img->width > 0) {
    /* The original as stored: a JPEG's without its EXIF is smaller. */
    if (img->size > 0) json_object_set_new(p, "size", json_integer(img->size));
    json_object_set_new(p, "width", json_integer(img->width));
    json_object_set_new(p, "height", json_integer(img->height));
    if (img->thumb_key[0]) {
      json_object_set_new(p, "thumbnail_key", json_string(img->thumb_key));
      json_object_set_new(p, "thumbnail_size", json_integer(img->thumb_size));
      json_object_set_new(p, "thumbnail_content_type", json_string("image/jpeg"));
    }
  }
  up->refs++;
  if (!p || store_call(up->app->store, ATTACH_CREATE, p, on_created, up) != 0) {
    up->refs--;
    files_remove(up->app->files, up->id, NULL, NULL);
    if (img && img->thumb_key[0]) files_remove(up->app->files, img->thumb_key, NULL, NULL);
    upload_fail(up, 503, "unavailable", "the store is unavailable, try again");
  }
}

/* A refused image is answered once its stored original is gone, so a client
 * told 400 or 413 finds nothing of it left. */
static void on_refused_removed(void *ctx, int status) {
  upload_t *up = ctx;
  (void)status; /* a removal that failed is logged by storage; the answer stands */
  if (up->image_status == FILES_IMAGE_TOO_LARGE) {
    char msg[160];
    snprintf(msg, sizeof(msg), "the image has more pixels than image_max_pixels (%lld)",
             (long long)up->app->cfg.image_max_pixels);
    upload_fail(up, 413, "payload_too_large", msg);
  } else if (up->image_status == FILES_IMAGE_INVALID) {
    upload_fail(up, 400, "validation_failed", "the image is damaged or truncated");
  } else {
    log_warn("req %s: image step failed (%d)", up->req->request_id, up->image_status);
    upload_fail(up, 503, "unavailable", "the image could not be processed");
  }
  upload_unref(up); /* the removal's */
}

static void on_imaged(void *ctx, int status, const files_imaged_t *r) {
  upload_t *up = ctx;
  if (status != 0) {
    up->image_status = status;
    up->refs++;
    if (files_remove(up->app->files, up->id, on_refused_removed, up) != 0)
      on_refused_removed(up, UV_EIO);
  } else if (up->done || http_req_gone(up->req)) {
    /* The client left while the image was made: nothing is recorded. */
    files_remove(up->app->files, up->id, NULL, NULL);
    if (r->thumb_key[0]) files_remove(up->app->files, r->thumb_key, NULL, NULL);
    upload_fail(up, 0, NULL, NULL);
  } else {
    record(up, r);
  }
  upload_unref(up); /* the image step's */
}

static void on_committed(void *ctx, int status) {
  upload_t *up = ctx;
  up->committing = 0;
  if (status != 0) {
    log_warn("req %s: upload commit failed: %s", up->req->request_id, uv_strerror(status));
    upload_fail(up, 503, "unavailable", "the file could not be stored");
    return;
  }
  if (strcmp(up->kind, "image") != 0) {
    record(up, NULL);
    return;
  }
  up->refs++;
  int rc = files_imager_run(up->app->imager, up->id, up->received, on_imaged, up);
  if (rc != 0) {
    up->refs--;
    files_remove(up->app->files, up->id, NULL, NULL);
    upload_fail(up, 503, "unavailable", "the image could not be processed");
  }
}

static void on_written(void *ctx, int status) {
  upload_t *up = ctx;
  up->write_in_flight = 0;
  up->writing.len = 0;
  if (up->done) { /* ended meanwhile: the abort it left for now */
    if (up->fu) files_upload_abort(up->fu);
    up->fu = NULL;
  } else if (status != 0) {
    log_warn("req %s: upload write failed: %s", up->req->request_id, uv_strerror(status));
    upload_fail(up, 503, "unavailable", "the file could not be stored");
  } else {
    kick(up);
  }
  upload_unref(up); /* the write's */
}

/* Moves the upload on: the next write, the commit, or reading again. */
static void kick(upload_t *up) {
  if (up->done || !up->typed || !up->fu || up->writing.len || up->committing) return;
  if (up->pending.len) {
    buf_t t = up->writing;
    up->writing = up->pending;
    up->pending = t;
    up->pending.len = 0;
    up->refs++;
    up->write_in_flight = 1;
    if (files_upload_write(up->fu, up->writing.data, up->writing.len, on_written, up) != 0) {
      up->write_in_flight = 0;
      up->refs--;
      upload_fail(up, 503, "unavailable", "the file could not be stored");
      return;
    }
  } else if (up->ended) {
    files_upload_t *fu = up->fu;
    up->fu = NULL; /* the commit owns it now */
    up->committing = 1;
    if (files_upload_commit(fu, on_committed, up) != 0) {
      up->committing = 0;
      up->fu = fu;
      upload_fail(up, 503, "unavailable", "the file could not be stored");
    }
    return;
  }
  if (up->paused && up->pending.len < UPLOAD_LOW_WATER) {
    up->paused = 0;
    http_req_body_resume(up->req);
  }
}

/* ---- the body ---- */

/* Bytes of the file (the raw body, or the multipart body's file part). */
static void file_data(upload_t *up, const char *data, size_t len) {
  if (up->done) return;
  up->received += (int64_t)len;
  if (up->received > up->limit) {
    too_large(up);
    return;
  }
  if (up->head.len < FILES_TYPE_HEAD) {
    size_t n = FILES_TYPE_HEAD - up->head.len;
    if (buf_append(&up->head, data, len < n ? len : n) != 0) goto nomem;
    if (up->head.len == FILES_TYPE_HEAD) sniff_start(up);
  }
  if (buf_append(&up->pending, data, len) != 0) goto nomem;
  if (up->pending.len > UPLOAD_HIGH_WATER && !up->paused) {
    up->paused = 1;
    http_req_body_pause(up->req);
  }
  kick(up);
  return;
nomem:
  upload_fail(up, 503, "unavailable", "out of memory");
}

/* ---- a multipart/form-data body: one part named "file" is the file ---- */

/* 1 when name is 1 to 255 bytes without control characters. */
static int name_ok(const char *name) {
  size_t n = strlen(name);
  if (n == 0 || n > UPLOAD_NAME_MAX) return 0;
  for (size_t i = 0; i < n; i++)
    if ((unsigned char)name[i] < 0x20 || name[i] == 0x7f) return 0;
  return 1;
}

static int mp_part(void *ctx, const char *name, const char *filename, const char *ctype) {
  upload_t *up = ctx;
  (void)ctype;                             /* the type comes from the bytes, never from the claim */
  if (strcmp(name, "file") != 0) return 0; /* other fields are skipped */
  if (++up->file_parts > 1) {
    upload_refuse(up, 400, "validation_failed", "send one file per upload", "file");
    return -1;
  }
  if (!up->name[0]) {
    if (!filename || !name_ok(filename)) {
      upload_refuse(up, 400, "validation_failed",
                    "the file part's filename (or ?name=) must be 1 to 255 bytes, no control "
                    "characters",
                    "name");
      return -1;
    }
    snprintf(up->name, sizeof(up->name), "%s", filename);
  }
  return 1;
}

static void mp_data(void *ctx, const char *data, size_t len) { file_data(ctx, data, len); }
static void mp_part_end(void *ctx) { (void)ctx; }

static const multipart_cbs_t mp_cbs = {mp_part, mp_data, mp_part_end};

static void on_data(void *ctx, const char *data, size_t len) {
  upload_t *up = ctx;
  if (up->done) return;
  if (!up->mp) {
    file_data(up, data, len);
    return;
  }
  up->raw_received += (int64_t)len;
  if (up->raw_received > up->limit + UPLOAD_MULTIPART_SLACK) {
    too_large(up);
    return;
  }
  /* A callback may end the upload: the parser (in up) must outlive the feed. */
  up->refs++;
  if (multipart_feed(up->mp, data, len) != 0 && !up->done)
    upload_fail(up, 400, "invalid_multipart", "the multipart/form-data body is malformed");
  upload_unref(up);
}

static void on_end(void *ctx) {
  upload_t *up = ctx;
  if (up->done) return;
  if (up->mp && multipart_finish(up->mp) != 0) {
    upload_fail(up, 400, "invalid_multipart",
                "the multipart/form-data body ended before its closing boundary");
    return;
  }
  if (up->mp && up->file_parts == 0) {
    upload_refuse(up, 400, "validation_failed", "no part named file", "file");
    return;
  }
  up->ended = 1;
  if (up->received == 0) {
    upload_fail(up, 400, "validation_failed", "the file is empty");
    return;
  }
  sniff_start(up);
  kick(up);
}

static void on_abort(void *ctx) {
  upload_t *up = ctx;
  upload_fail(up, 0, NULL, NULL);
}

static const http_body_sink_t upload_sink = {on_data, on_end, on_abort};

/* ---- the start: limits, quota, storage ---- */

static void on_begun(void *ctx, int status) {
  upload_t *up = ctx;
  if (status != 0) {
    up->fu = NULL; /* freed by the backend */
    log_warn("req %s: upload could not start: %s", up->req->request_id, uv_strerror(status));
    upload_fail(up, 503, "unavailable", "the file could not be stored");
    return;
  }
  if (http_req_stream_body(up->req, &upload_sink, up) != 0) upload_fail(up, 0, NULL, NULL);
}

static void on_usage(void *ctx, int status, json_t *result) {
  upload_t *up = ctx;
  int64_t used = (int64_t)json_integer_value(json_object_get(result, "bytes"));
  json_decref(result);
  if (up->done || http_req_gone(up->req)) {
    upload_fail(up, 0, NULL, NULL);
  } else if (status != STORE_OK) {
    handlers_reply_store_error(up->req, status);
    upload_fail(up, 0, NULL, NULL);
  } else {
    const config_t *cfg = &up->app->cfg;
    int64_t left = cfg->upload_quota_bytes - used;
    up->limit = cfg->upload_max_bytes;
    if (left < up->limit) {
      up->limit = left < 0 ? 0 : left;
      up->limit_is_quota = 1;
    }
    int64_t declared = http_req_content_length(up->req);
    if (declared > up->limit + (up->mp ? UPLOAD_MULTIPART_SLACK : 0) || up->limit == 0) {
      too_large(up);
    } else {
      int rc = files_upload_begin(up->app->files, up->id, &up->fu, on_begun, up);
      if (rc != 0) {
        up->fu = NULL;
        upload_fail(up, 503, "unavailable", "the file could not be stored");
      }
    }
  }
  upload_unref(up); /* the store call's */
}

/* The ?name= of the file: 1 to 255 bytes of UTF-8 without control characters. */
static int read_name(http_req_t *req, char *out, size_t outlen) {
  long n = http_req_query(req, "name", out, outlen);
  if (n <= 0) return -1;
  for (long i = 0; i < n; i++)
    if ((unsigned char)out[i] < 0x20 || out[i] == 0x7f) return -1;
  return 0;
}

static void upload_start(http_req_t *req) {
  app_t *app = req->app;
  char name[UPLOAD_NAME_MAX + 1] = "";
  const char *ct = http_req_header(req, "content-type");
  int form = ct && util_strncasecmp(ct, "multipart/form-data", 19) == 0;
  /* A form names the file in its part (?name= may still override it). */
  if ((!form || http_req_query(req, "name", name, sizeof(name)) != -1) &&
      read_name(req, name, sizeof(name)) != 0) {
    http_reply_error(req, 400, "validation_failed",
                     "name must be the file's name: 1 to 255 bytes, no control characters", "name");
    return;
  }
  if (ct && !form && util_strncasecmp(ct, "multipart/", 10) == 0) {
    http_reply_error(req, 415, "unsupported_media_type",
                     "send the file as multipart/form-data or as the raw body", NULL);
    return;
  }
  multipart_t *mp = NULL;
  if (form) {
    mp = malloc(sizeof(*mp));
    if (!mp || multipart_init(mp, ct, &mp_cbs, NULL) != 0) {
      free(mp);
      if (!mp)
        http_reply_error(req, 503, "unavailable", "out of memory", NULL);
      else
        http_reply_error(req, 400, "invalid_multipart",
                         "multipart/form-data needs a boundary of 1 to 70 characters", NULL);
      return;
    }
  }
  int64_t declared = http_req_content_length(req);
  if (declared > app->cfg.upload_max_bytes + (mp ? UPLOAD_MULTIPART_SLACK : 0)) {
    free(mp);
    http_reply_error(req, 413, "payload_too_large", "the file is larger than upload_max_bytes",
                     NULL);
    return;
  }
  if (declared == 0) {
    free(mp);
    http_reply_error(req, 400, "validation_failed", "the file is empty", NULL);
    return;
  }
  intptr_t running = (intptr_t)strmap_get(app->uploads, req->user_id);
  if (running >= app->cfg.upload_max_in_flight) {
    free(mp);
    http_reply_header(req, "Retry-After", "1");
    http_reply_error(req, 429, "rate_limited", "too many uploads at once", NULL);
    return;
  }
  upload_t *up = calloc(1, sizeof(*up));
  if (!up || strmap_put(app->uploads, req->user_id, (void *)(running + 1)) != 0) {
    free(up);
    free(mp);
    http_reply_error(req, 503, "unavailable", "out of memory", NULL);
    return;
  }
  up->counted = 1;
  up->refs = 1;
  up->app = app;
  up->req = req;
  http_req_ref(req);
  util_new_id(up->id);
  snprintf(up->user, sizeof(up->user), "%s", req->user_id);
  snprintf(up->name, sizeof(up->name), "%s", name);
  up->mp = mp;
  if (mp) mp->ctx = up;
  up->refs++;
  if (store_call(app->store, ATTACH_USAGE, json_pack("{s:s}", "user_id", up->user), on_usage, up) !=
      0) {
    up->refs--;
    upload_fail(up, 503, "unavailable", "the store is unavailable, try again");
  }
}

static const route_t routes[] = {
    {"POST", "/api/uploads", ROUTE_AUTH | ROUTE_STREAM, upload_start},
};

const route_table_t uploads_routes = ROUTE_TABLE(routes);
