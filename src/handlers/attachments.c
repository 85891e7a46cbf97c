/* GET /api/attachments/:id and .../thumbnail (API.md, Files): a download
 * through a signed URL (chat/attach_url.h), streamed from files storage a
 * piece at a time with back-pressure (the next piece is read while one is
 * written, and written only once the kernel took the one before), with a
 * single Range, an ETag and the headers that keep an uploaded file from
 * running in Parley's origin. Loop thread. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "handlers/attachments.h"

#include "chat/attach_url.h"
#include "handlers/common.h"
#include "handlers/handlers.h"
#include "parley/app.h"
#include "parley/files.h"
#include "parley/log.h"
#include "parley/util.h"

/* A piece read from storage and written to the client: the memory one
 * download costs, twice (the one read and the one the kernel has not taken). */
#define DL_CHUNK (64 * 1024)

/* Every download carries these: the file is data, never a page of Parley's. */
#define DL_CSP \
  "default-src 'none'; img-src 'self'; media-src 'self'; style-src 'unsafe-inline'; sandbox"

typedef struct dl_s {
  http_req_t *req; /* a reference */
  app_t *app;
  char key[64];
  char ctype[128];
  files_reader_t *reader; /* NULL until open, and after close */
  char *buf;
  size_t have;   /* bytes in buf not yet written */
  uint64_t left; /* bytes still to read */
  int refs;      /* the download, a pump on the stack */
  int reading, draining, done;
} dl_t;

/* Drops n references; the last frees the download. */
static void dl_release(dl_t *d, int n) {
  d->refs -= n;
  if (d->refs > 0) return;
  if (d->reader) files_reader_close(d->reader);
  free(d->buf);
  http_req_unref(d->req);
  free(d);
}

/* Ends the download (the reply is finished, or the client left); returns the
 * number of references the caller must drop (the download's own, once). */
static int dl_end(dl_t *d) {
  if (d->done) return 0;
  d->done = 1;
  if (d->reader) files_reader_close(d->reader);
  d->reader = NULL;
  http_reply_stream_end(d->req);
  return 1;
}

static void dl_finish(dl_t *d) {
  if (dl_end(d)) dl_release(d, 1);
}

static void pump(dl_t *d);

static void on_read(void *ctx, ssize_t n) {
  dl_t *d = ctx;
  d->reading = 0;
  if (d->done) return;
  if (n <= 0) {
    /* Storage failed, or the object is shorter than its record: the client
     * gets a short body and a closed connection, never wrong bytes. */
    log_warn("req %s: download of %s cut: %s", d->req->request_id, d->key,
             n < 0 ? uv_strerror((int)n) : "object shorter than recorded");
    dl_finish(d);
    return;
  }
  d->have = (size_t)n;
  d->left -= (uint64_t)n;
  pump(d);
}

static void on_drain(void *ctx, int gone) {
  dl_t *d = ctx;
  if (gone) {
    /* The request is finished already: only our part is left to drop. */
    if (d->done) return;
    d->done = 1;
    if (d->reader) files_reader_close(d->reader);
    d->reader = NULL;
    dl_release(d, 1);
    return;
  }
  d->draining = 0;
  pump(d);
}

/* Moves the download on: writes what was read once the client took the piece
 * before, reads the next piece meanwhile, ends when all is written. */
static void pump(dl_t *d) {
  d->refs++;
  int drop = 1; /* ours; and the download's when it ends here */
  while (!d->done) {
    if (d->have && !d->draining) {
      int rc = http_reply_stream_write(d->req, d->buf, d->have);
      d->have = 0;
      if (rc < 0) {
        drop += dl_end(d);
        break;
      }
      d->draining = rc == 1;
      continue;
    }
    if (!d->have && !d->reading && d->left) {
      size_t n = d->left < DL_CHUNK ? (size_t)d->left : DL_CHUNK;
      d->reading = 1;
      if (files_reader_read(d->reader, d->buf, n, on_read, d) != 0) {
        d->reading = 0;
        drop += dl_end(d);
      }
      break;
    }
    if (!d->have && !d->reading && !d->left && !d->draining) drop += dl_end(d);
    break;
  }
  dl_release(d, drop);
}

static void on_open(void *ctx, int status) {
  dl_t *d = ctx;
  if (d->done) return;
  if (status != 0) {
    d->reader = NULL; /* freed by the backend */
    if (status == UV_ENOENT)
      http_reply_error(d->req, 404, "not_found", "no such attachment", NULL);
    else {
      log_warn("req %s: %s could not be read: %s", d->req->request_id, d->key, uv_strerror(status));
      http_reply_header(d->req, "Retry-After", "1");
      http_reply_error(d->req, 503, "unavailable", "the file could not be read", NULL);
    }
    d->done = 1;
    dl_release(d, 1);
    return;
  }
  int head = strcmp(d->req->method, "HEAD") == 0;
  if (http_reply_stream_begin(d->req, d->req->status, d->ctype, d->left, on_drain, d) != 0 ||
      head) {
    d->left = 0;
    dl_finish(d);
    return;
  }
  pump(d);
}

int attachments_parse_range(const char *h, uint64_t size, uint64_t *from, uint64_t *to) {
  if (!h || strncmp(h, "bytes=", 6) != 0 || strchr(h, ',')) return 0;
  const char *p = h + 6;
  char *end;
  if (*p == '-') {
    if (p[1] < '0' || p[1] > '9') return 0;
    unsigned long long n = strtoull(p + 1, &end, 10);
    if (*end) return 0;
    if (n == 0) return -1;
    *from = n >= size ? 0 : size - n;
    *to = size - 1;
    return 1;
  }
  if (*p < '0' || *p > '9') return 0;
  unsigned long long a = strtoull(p, &end, 10);
  if (*end != '-') return 0;
  p = end + 1;
  unsigned long long b = size - 1;
  if (*p) {
    if (*p < '0' || *p > '9') return 0;
    b = strtoull(p, &end, 10);
    if (*end) return 0;
    if (b < a) return 0;
    if (b >= size) b = size - 1;
  }
  if (a >= size) return -1;
  *from = a;
  *to = b;
  return 1;
}

/* 1 when If-None-Match names etag (or is "*"). */
static int etag_matches(const char *inm, const char *etag) {
  if (!inm) return 0;
  if (strcmp(inm, "*") == 0) return 1;
  size_t n = strlen(etag);
  for (const char *p = strstr(inm, etag); p; p = strstr(p + 1, etag))
    if ((p == inm || p[-1] == ' ' || p[-1] == ',' ||
         (p - inm >= 2 && p[-2] == 'W' && p[-1] == '/')) &&
        (p[n] == '\0' || p[n] == ',' || p[n] == ' '))
      return 1;
  return 0;
}

/* Content-Disposition: inline for images, else attachment, with the name in
 * both the plain form (non-ASCII and quotes replaced) and RFC 5987's. */
static void disposition(http_req_t *req, int inline_, const char *name) {
  buf_t b;
  buf_init(&b);
  buf_append_str(&b, inline_ ? "inline; filename=\"" : "attachment; filename=\"");
  for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
    char ch = (*p < 0x20 || *p >= 0x7f || *p == '"' || *p == '\\') ? '_' : (char)*p;
    buf_append(&b, &ch, 1);
  }
  buf_append_str(&b, "\"; filename*=UTF-8''");
  static const char hex[] = "0123456789ABCDEF";
  for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
    if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
        strchr("!#$&+-.^_`|~", *p)) {
      buf_append(&b, (const char *)p, 1);
    } else {
      char e[3] = {'%', hex[*p >> 4], hex[*p & 15]};
      buf_append(&b, e, 3);
    }
  }
  buf_append(&b, "", 1);
  http_reply_header(req, "Content-Disposition", b.data);
  buf_free(&b);
}

static void not_found(http_req_t *req) {
  http_reply_error(req, 404, "not_found", "no such attachment", NULL);
}

static void got(void *ctx, int status, json_t *rec) {
  dl_t *d = ctx;
  http_req_t *req = d->req;
  const char *u = NULL;
  char uid[32];
  if (http_req_query(req, "u", uid, sizeof(uid)) > 0) u = uid;
  int thumb = strstr(req->route, "thumbnail") != NULL;
  if (status == STORE_ENOTFOUND) {
    not_found(req);
    goto done;
  } else if (status != STORE_OK) {
    handlers_reply_store_error(req, status);
    goto done;
  }
  /* A URL for the uploader names them; one for a conversation was signed only
   * for its participants' views of a message that holds the file. */
  const char *owner = json_string_value(json_object_get(rec, "user_id"));
  const char *key = thumb ? json_string_value(json_object_get(rec, "thumbnail_key"))
                          : json_string_value(json_object_get(rec, "id"));
  json_int_t size = json_integer_value(json_object_get(rec, thumb ? "thumbnail_size" : "size"));
  const char *ctype = thumb ? json_string_value(json_object_get(rec, "thumbnail_content_type"))
                            : json_string_value(json_object_get(rec, "content_type"));
  const char *type = json_string_value(json_object_get(rec, "type"));
  const char *name = json_string_value(json_object_get(rec, "name"));
  if ((u && (!owner || strcmp(owner, u) != 0)) || !key || !ctype || size <= 0 || !type || !name) {
    not_found(req);
    goto done;
  }
  snprintf(d->key, sizeof(d->key), "%s", key);
  snprintf(d->ctype, sizeof(d->ctype), "%s", ctype);

  char etag[40], cc[48];
  snprintf(etag, sizeof(etag), "\"%s%s\"", http_req_param(req, "id"), thumb ? "-t" : "");
  snprintf(cc, sizeof(cc), "private, max-age=%d", d->app->cfg.attachment_url_ttl_s);
  http_reply_header(req, "ETag", etag);
  http_reply_header(req, "Cache-Control", cc);
  http_reply_header(req, "Accept-Ranges", "bytes");
  http_reply_header(req, "X-Content-Type-Options", "nosniff");
  http_reply_header(req, "Content-Security-Policy", DL_CSP);
  http_reply_header(req, "Cross-Origin-Resource-Policy", "same-origin");
  http_reply_header(req, "Referrer-Policy", "no-referrer");
  if (etag_matches(http_req_header(req, "if-none-match"), etag)) {
    http_reply_empty(req, 304);
    goto done;
  }
  disposition(req, thumb || strcmp(type, "image") == 0, name);

  uint64_t from = 0, to = (uint64_t)size - 1;
  const char *if_range = http_req_header(req, "if-range");
  int r = (!if_range || strcmp(if_range, etag) == 0)
              ? attachments_parse_range(http_req_header(req, "range"), (uint64_t)size, &from, &to)
              : 0;
  char range[96];
  if (r < 0) {
    snprintf(range, sizeof(range), "bytes */%lld", (long long)size);
    http_reply_header(req, "Content-Range", range);
    http_reply_error(req, 416, "range_not_satisfiable", "the range lies beyond the file's end",
                     NULL);
    goto done;
  }
  if (r > 0) {
    snprintf(range, sizeof(range), "bytes %llu-%llu/%lld", (unsigned long long)from,
             (unsigned long long)to, (long long)size);
    http_reply_header(req, "Content-Range", range);
  }
  req->status = r > 0 ? 206 : 200; /* kept for on_open */
  d->left = to - from + 1;
  d->buf = malloc(DL_CHUNK);
  if (!d->buf) {
    http_reply_error(req, 503, "unavailable", "out of memory", NULL);
    goto done;
  }
  json_decref(rec);
  if (files_reader_open(d->app->files, d->key, from, &d->reader, on_open, d) != 0) {
    d->reader = NULL;
    http_reply_error(req, 503, "unavailable", "the file could not be read", NULL);
    d->done = 1;
    dl_release(d, 1);
  }
  return;
done:
  json_decref(rec);
  d->done = 1;
  dl_release(d, 1);
}

static void download(http_req_t *req) {
  app_t *app = req->app;
  const char *id = http_req_param(req, "id");
  int thumb = strstr(req->route, "thumbnail") != NULL;
  char scope_id[32], exp[24], sig[72];
  char scope = 'c';
  long n = http_req_query(req, "c", scope_id, sizeof(scope_id));
  if (n <= 0) {
    scope = 'u';
    n = http_req_query(req, "u", scope_id, sizeof(scope_id));
  }
  if (n <= 0) {
    scope = 'a'; /* an avatar: its owner's id */
    n = http_req_query(req, "a", scope_id, sizeof(scope_id));
  }
  /* Expired, altered, or signed for another file: as if there were none. */
  if (n <= 0 || http_req_query(req, "exp", exp, sizeof(exp)) <= 0 ||
      http_req_query(req, "sig", sig, sizeof(sig)) <= 0 ||
      attach_url_verify(&app->url_key, id, thumb, scope, scope_id, exp, sig,
                        util_now_ms() / 1000) != 0) {
    not_found(req);
    return;
  }
  dl_t *d = calloc(1, sizeof(*d));
  if (!d) {
    http_reply_error(req, 503, "unavailable", "out of memory", NULL);
    return;
  }
  d->req = req;
  d->app = app;
  d->refs = 1;
  http_req_ref(req);
  if (store_call(app->store, ATTACH_GET, json_pack("{s:s}", "id", id), got, d) != 0) {
    http_reply_error(req, 503, "unavailable", "the store is unavailable, try again", NULL);
    dl_release(d, 1);
  }
}

static const route_t routes[] = {
    {"GET", "/api/attachments/:id", 0, download},
    {"GET", "/api/attachments/:id/thumbnail", 0, download},
};

const route_table_t attachments_routes = ROUTE_TABLE(routes);
