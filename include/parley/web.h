/* The web client's files, served by parleyd at / on the API's origin
 * (docs/ARCHITECTURE.md, config/README.md: web_dir). Every file is read into
 * memory once, at start-up, with a gzip variant and an ETag; requests are
 * answered from that table only, so no path can reach outside it and nothing
 * is read from disk on the loop. Loaded before the loop runs; read-only after. */
#ifndef PARLEY_WEB_H
#define PARLEY_WEB_H

#include <stddef.h>
#include <stdint.h>

#include "parley/http.h"

typedef struct web_s web_t;

/* The Content-Security-Policy of every page served. Images and media may also come
 * from Meta's CDNs: Instagram profile pictures and attachments are shown from there. */
#define WEB_META_CDNS "https://*.cdninstagram.com https://*.fbcdn.net https://*.fbsbx.com"
#define WEB_CSP                                                                   \
  "default-src 'self'; script-src 'self'; connect-src 'self'; style-src 'self'; " \
  "img-src 'self' blob: data: " WEB_META_CDNS "; media-src 'self' " WEB_META_CDNS \
  "; "                                                                            \
  "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"

/* Reads the regular files under dir (dot-files, symbolic links and files past
 * max_bytes of content in all are skipped, each with a log line). Returns NULL
 * with a warning when dir is missing or holds no file. The caller owns the
 * table (web_free). */
web_t *web_load(const char *dir, int64_t max_bytes);
void web_free(web_t *w);

/* The number of files and the bytes held (bodies and gzip variants). */
size_t web_count(const web_t *w);
size_t web_bytes(const web_t *w);

/* Answers a GET or HEAD for the web client: the file at req->path, or
 * index.html for paths that name no file (a client-side route). Returns 1 when
 * it replied, 0 when the request is not the web client's (another method, an
 * API path such as /api/..., /ws, /healthz; a missing file with an extension);
 * the caller then answers 404. w may be NULL (no web client). */
int web_serve(const web_t *w, http_req_t *req);

/* 1 when the file name carries a content hash (name-HASH.ext, HASH eight or more
 * upper-case letters and digits, or lower-case hex): cached for a year. */
int web_is_hashed(const char *path);

#endif
