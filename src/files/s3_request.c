/* One signed S3 request through libcurl's AWS SigV4 signing, on a pool thread.
 * Debian bookworm's curl 7.88 signs S3 requests correctly only when it is
 * helped: the code adds x-amz-content-sha256 itself (curl then signs it and
 * takes its value as the payload hash), writes "?uploads=" rather than
 * "?uploads" and puts query parameters in sorted order (curl signs the query
 * as written, S3 signs it canonical), and never blanks a header with "Name:"
 * (curl would sign the header it then does not send: "Expect:" breaks every
 * PUT). Bodies always have a length: S3 refuses a chunked PUT. */
#include "files/s3_request.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

typedef struct io_s {
  s3_request_t *r;
  uint64_t sent; /* of a file body */
} io_t;

static size_t on_read(char *buf, size_t size, size_t n, void *arg) {
  io_t *io = arg;
  s3_request_t *r = io->r;
  uint64_t left = r->body_len - io->sent;
  size_t want = size * n < left ? size * n : (size_t)left;
  if (want == 0) return 0;
  ssize_t got = pread(r->body_fd, buf, want, (off_t)io->sent);
  if (got <= 0) return CURL_READFUNC_ABORT; /* the spool file shrank: never send less */
  io->sent += (uint64_t)got;
  return (size_t)got;
}

static size_t on_write(char *data, size_t size, size_t n, void *arg) {
  s3_request_t *r = ((io_t *)arg)->r;
  size_t len = size * n;
  if (r->sink && r->status / 100 == 2) {
    if (len > r->sink_cap - r->sink_len) return 0; /* more than asked for: fail */
    memcpy(r->sink + r->sink_len, data, len);
    r->sink_len += len;
    return len;
  }
  size_t room = sizeof(r->resp) - 1 - r->resp_len;
  size_t take = len < room ? len : room; /* an error's XML: its start is enough */
  memcpy(r->resp + r->resp_len, data, take);
  r->resp_len += take;
  r->resp[r->resp_len] = '\0';
  return len;
}

static size_t on_header(char *data, size_t size, size_t n, void *arg) {
  s3_request_t *r = ((io_t *)arg)->r;
  size_t len = size * n;
  if (len > 5 && strncmp(data, "HTTP/", 5) == 0) {
    /* A new answer (after a 100 Continue, say): what came before was not it. */
    const char *sp = memchr(data, ' ', len);
    r->status = sp && sp + 4 <= data + len ? strtol(sp + 1, NULL, 10) : 0;
    r->etag[0] = '\0';
    return len;
  }
  char line[512];
  if (len >= sizeof(line)) return len;
  memcpy(line, data, len);
  line[len] = '\0';
  line[strcspn(line, "\r\n")] = '\0';
  if (strncasecmp(line, "etag:", 5) == 0) {
    const char *v = line + 5;
    while (*v == ' ') v++;
    size_t vlen = strlen(v);
    if (vlen < sizeof(r->etag)) memcpy(r->etag, v, vlen + 1);
  } else if (strncasecmp(line, "content-range:", 14) == 0) {
    const char *slash = strrchr(line, '/');
    if (slash && slash[1] != '*') r->total = strtoull(slash + 1, NULL, 10);
  }
  return len;
}

static int attempt(const s3_conn_t *c, s3_request_t *r) {
  CURL *e = curl_easy_init();
  if (!e) {
    snprintf(r->error, sizeof(r->error), "out of memory");
    return -1;
  }
  io_t io = {r, 0};
  char url[1024], sha[128], ctype[64] = "Content-Type: application/xml";
  snprintf(url, sizeof(url), "%s/%s%s%s", c->base, r->key, r->query[0] ? "?" : "", r->query);
  snprintf(sha, sizeof(sha), "x-amz-content-sha256: %s", r->sha256);
  struct curl_slist *h = curl_slist_append(NULL, sha);
  if (r->body && h) h = curl_slist_append(h, ctype);
  r->status = 0;
  r->etag[0] = '\0';
  r->total = 0;
  r->sink_len = 0;
  r->resp_len = 0;
  r->resp[0] = '\0';
  r->error[0] = '\0';
  r->timed_out = 0;
  curl_easy_setopt(e, CURLOPT_URL, url);
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(e, CURLOPT_SHARE, c->share);
  curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(e, CURLOPT_AWS_SIGV4, c->sigv4);
  curl_easy_setopt(e, CURLOPT_USERPWD, c->userpwd);
  curl_easy_setopt(e, CURLOPT_HTTPHEADER, h);
  curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, c->timeout_ms);
  curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, c->timeout_ms < 10000 ? c->timeout_ms : 10000L);
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_write);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, &io);
  curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(e, CURLOPT_HEADERDATA, &io);
  if (strcmp(r->method, "PUT") == 0) {
    curl_easy_setopt(e, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(e, CURLOPT_INFILESIZE_LARGE, (curl_off_t)r->body_len);
    curl_easy_setopt(e, CURLOPT_READFUNCTION, on_read);
    curl_easy_setopt(e, CURLOPT_READDATA, &io);
  } else if (strcmp(r->method, "POST") == 0) {
    curl_easy_setopt(e, CURLOPT_POST, 1L);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, r->body ? r->body : "");
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)r->body_len);
  } else if (strcmp(r->method, "HEAD") == 0) {
    curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
  } else if (strcmp(r->method, "GET") != 0) {
    curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, r->method);
  }
  if (r->range) curl_easy_setopt(e, CURLOPT_RANGE, r->range);
  CURLcode rc = h ? curl_easy_perform(e) : CURLE_OUT_OF_MEMORY;
  long status = 0;
  if (rc == CURLE_OK) curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
  r->status = status;
  if (rc != CURLE_OK) {
    r->timed_out = rc == CURLE_OPERATION_TIMEDOUT;
    snprintf(r->error, sizeof(r->error), "%s", curl_easy_strerror(rc));
  }
  curl_slist_free_all(h);
  curl_easy_cleanup(e);
  return rc == CURLE_OK ? 0 : -1;
}

static void share_lock(CURL *e, curl_lock_data data, curl_lock_access access, void *arg) {
  (void)e;
  (void)access;
  uv_mutex_lock(&((s3_conn_t *)arg)->locks[data]);
}

static void share_unlock(CURL *e, curl_lock_data data, void *arg) {
  (void)e;
  uv_mutex_unlock(&((s3_conn_t *)arg)->locks[data]);
}

int s3_conn_share_init(s3_conn_t *c) {
  for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
    if (uv_mutex_init(&c->locks[i]) != 0) {
      while (i-- > 0) uv_mutex_destroy(&c->locks[i]);
      return -1;
    }
  c->share = curl_share_init();
  if (!c->share || curl_share_setopt(c->share, CURLSHOPT_LOCKFUNC, share_lock) != CURLSHE_OK ||
      curl_share_setopt(c->share, CURLSHOPT_UNLOCKFUNC, share_unlock) != CURLSHE_OK ||
      curl_share_setopt(c->share, CURLSHOPT_USERDATA, c) != CURLSHE_OK ||
      curl_share_setopt(c->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_CONNECT) != CURLSHE_OK ||
      curl_share_setopt(c->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS) != CURLSHE_OK) {
    s3_conn_share_free(c);
    return -1;
  }
  return 0;
}

void s3_conn_share_free(s3_conn_t *c) {
  if (c->share) curl_share_cleanup(c->share);
  c->share = NULL;
  for (int i = 0; i < CURL_LOCK_DATA_LAST; i++) uv_mutex_destroy(&c->locks[i]);
}

static int retryable(const s3_request_t *r, int rc) {
  if (rc != 0) return 1;
  return r->status == 500 || r->status == 502 || r->status == 503 || r->status == 504;
}

int s3_request_perform(const s3_conn_t *c, s3_request_t *r) {
  int rc = -1;
  for (int i = 0; i <= c->retries; i++) {
    if (i > 0) {
      /* 100 ms, 200 ms, 400 ms ...: a blip passes, a dead server fails soon. */
      struct timespec ts = {0, 0};
      long ms = 100L << (i - 1 < 5 ? i - 1 : 5);
      ts.tv_sec = ms / 1000;
      ts.tv_nsec = (ms % 1000) * 1000000L;
      nanosleep(&ts, NULL);
    }
    rc = attempt(c, r);
    if (!retryable(r, rc)) break;
  }
  return rc;
}

int s3_xml_value(const char *xml, const char *tag, char *out, size_t outlen) {
  char open[64], close[64];
  snprintf(open, sizeof(open), "<%s>", tag);
  snprintf(close, sizeof(close), "</%s>", tag);
  const char *a = strstr(xml, open);
  if (!a) return -1;
  a += strlen(open);
  const char *b = strstr(a, close);
  if (!b || (size_t)(b - a) >= outlen) return -1;
  memcpy(out, a, (size_t)(b - a));
  out[b - a] = '\0';
  return 0;
}
