/* One signed S3 request, performed synchronously with a libcurl easy handle on
 * a thread-pool thread (files_s3.c queues it), with its retries. Internal to
 * the files module. Any thread; no shared state but the settings it is given. */
#ifndef PARLEY_FILES_S3_REQUEST_H
#define PARLEY_FILES_S3_REQUEST_H

#include <curl/curl.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

/* What every request of a backend shares; read-only once made. */
typedef struct s3_conn_s {
  char *base;    /* "http://host:port/bucket" (path style) or "http://bucket.host:port" */
  char *userpwd; /* "access:secret" */
  char *sigv4;   /* "aws:amz:<region>:s3" */
  long timeout_ms;
  int retries;
  /* Connections and DNS answers kept between requests, whichever pool thread
   * makes them (keep-alive, one TLS handshake for many requests). */
  CURLSH *share;
  uv_mutex_t locks[CURL_LOCK_DATA_LAST];
} s3_conn_t;

/* Makes conn->share (start-up). Returns 0 or -1. */
int s3_conn_share_init(s3_conn_t *conn);
/* Frees it; no request may be in flight. */
void s3_conn_share_free(s3_conn_t *conn);

typedef struct s3_request_s {
  /* in */
  const char *method; /* "GET", "PUT", "POST", "DELETE", "HEAD" */
  const char *key;    /* object key (24 hex digits: nothing to escape) */
  const char *query;  /* "" or "uploads=" / "partNumber=N&uploadId=X": sorted, with '=' */
  const char *sha256; /* the body's SHA-256 hex, or "UNSIGNED-PAYLOAD" */
  int body_fd;        /* a PUT's body: body_len bytes of this file from offset 0, or -1 */
  const char *body;   /* a POST's body in memory, or NULL */
  uint64_t body_len;
  const char *range; /* "a-b" for GET, or NULL */
  char *sink;        /* a GET's body goes here (sink_cap bytes at most), or NULL */
  size_t sink_cap;
  /* out */
  long status;      /* the last answer's HTTP status; 0 when none came */
  char etag[128];   /* ETag of the answer, quotes included */
  uint64_t total;   /* a ranged GET's object size (Content-Range), else 0 */
  size_t sink_len;  /* bytes put in sink */
  char resp[16384]; /* the start of a non-sink answer's body (S3's XML), NUL-terminated */
  size_t resp_len;
  int timed_out;
  char error[256]; /* libcurl's reason when status is 0 */
} s3_request_t;

/* Performs r, retrying (with a short doubling pause) answers 500, 502, 503 and
 * 504 and failures to connect or transfer, conn->retries times at most; each
 * attempt is bounded by conn->timeout_ms. Returns 0 when an answer came (see
 * r->status), or -1 when none did (r->error, r->timed_out). Blocks: pool
 * threads only. */
int s3_request_perform(const s3_conn_t *conn, s3_request_t *r);

/* The text of <tag>...</tag> in xml into out (outlen bytes). Returns 0, or -1
 * when absent or too long. Pure. */
int s3_xml_value(const char *xml, const char *tag, char *out, size_t outlen);

#endif
