/* The S3-compatible storage backend. An upload's writes go to a spool file
 * under the data directory (hashed as they are written, for SigV4's payload
 * hash); once the spool holds a part (part_bytes, at least S3's 5 MiB) it goes
 * up as an UploadPart of a multipart upload created then. Commit sends what is
 * left as the last part and completes the upload, or, when no part went up
 * yet, sends the whole file as one PUT with its length (never a chunked PUT,
 * which S3 refuses). Abort, and any failure, aborts the multipart upload, so
 * nothing half-written remains. Reads are ranged GETs of read_chunk bytes into
 * the reader's buffer; remove is a DELETE.
 *
 * Each S3 request blocks a libuv pool thread (s3_request.c); at most max_jobs
 * of them run at once, the others wait in this backend's queue on the loop,
 * so the store's jobs always find pool threads (docs/ARCHITECTURE.md). Loop
 * thread, but for the *_run functions, which run on the pool. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <curl/curl.h>

#include "files/s3_request.h"
#include "parley/files.h"
#include "parley/log.h"
#include "parley/util.h"

#define READ_CHUNK (1024 * 1024)
#define MAX_PARTS 10000

typedef struct job_s job_t;
typedef void (*job_fn)(job_t *j);

struct job_s {
  uv_work_t work;
  struct s3_s *s;
  job_fn run;  /* pool thread */
  job_fn done; /* loop thread */
  int net;     /* talks to S3: counts against max_jobs */
  job_t *next; /* in the backend's queue */
};

typedef struct s3_s {
  files_t base;
  s3_conn_t conn;
  char *spool; /* <data_dir>/s3spool */
  uint64_t part_bytes;
  int max_jobs, running;
  job_t *head, *tail; /* waiting for a pool thread */
  int pending;        /* jobs queued or running, and their owners */
  int closing;
  int shared; /* conn.share made */
} s3_t;

/* Starts with files_t *f, as the interface's calls expect (files.c). */
typedef struct s3_upload_s {
  files_t *f;
  job_t job;
  char key[25];
  char *spool_path;
  int fd;
  uint64_t spool_len, total;
  crypto_hash_sha256_state sha; /* of the spool's bytes */
  char upload_id[256];          /* "" until the multipart upload exists */
  char (*etags)[128];           /* as s3_request_t's etag */
  int nparts, etag_cap;
  const char *data; /* the write in flight */
  size_t len;
  files_cb cb;
  void *ctx;
  int rc;
  int busy, aborted;
} s3_upload_t;

typedef struct s3_reader_s {
  files_t *f;
  job_t job;
  char key[25];
  uint64_t offset, total; /* total known after the first answer */
  int eof;
  char *buf; /* READ_CHUNK bytes; what is left of the last GET is [pos, len) */
  size_t pos, len;
  char *out; /* the caller's buffer of the read in flight */
  size_t out_len;
  files_cb open_cb;
  files_read_cb read_cb;
  void *ctx;
  int rc;
  int busy, closed;
} s3_reader_t;

typedef struct s3_remove_s {
  job_t job;
  char key[25];
  files_cb cb;
  void *ctx;
  int rc;
} s3_remove_t;

/* ---- the job queue: max_jobs on the pool at once ---- */

static void s3_free(s3_t *s);

static void job_work(uv_work_t *w) {
  job_t *j = w->data;
  if (j->run) j->run(j);
}

static void job_start(job_t *j);

static void job_after(uv_work_t *w, int status) {
  (void)status; /* never cancelled: the backend does not cancel its jobs */
  job_t *j = w->data;
  s3_t *s = j->s;
  if (j->net) s->running--;
  while (s->head && s->running < s->max_jobs) {
    job_t *next = s->head;
    s->head = next->next;
    if (!s->head) s->tail = NULL;
    job_start(next);
  }
  j->done(j); /* may free j, and the backend once closed */
}

static void job_start(job_t *j) {
  s3_t *s = j->s;
  j->work.data = j;
  if (j->net) s->running++;
  if (uv_queue_work(s->base.loop, &j->work, job_work, job_after) != 0) {
    /* Only with a bad loop; run it here rather than lose its cleanup. */
    if (j->run) j->run(j);
    if (j->net) s->running--;
    j->done(j);
  }
}

/* Runs run on the pool, then done on the loop. A job that talks to S3 (net)
 * waits in the queue while max_jobs others do; one that only touches the
 * spool or a reader's buffer does not. */
static void job_submit(s3_t *s, job_t *j, job_fn run, job_fn done, int net) {
  j->s = s;
  j->run = run;
  j->done = done;
  j->net = net;
  j->next = NULL;
  if (!net || s->running < s->max_jobs) {
    job_start(j);
    return;
  }
  if (s->tail)
    s->tail->next = j;
  else
    s->head = j;
  s->tail = j;
}

/* Every upload, reader and removal holds the backend until it is freed. */
static void s3_release(s3_t *s) {
  if (--s->pending == 0 && s->closing) s3_free(s);
}

/* ---- S3 calls (pool thread) ---- */

static const char empty_sha[] = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

static int status_error(const s3_request_t *r, const char *what, const char *key) {
  if (r->status == 0) {
    log_warn("files s3: %s %s failed: %s", what, key, r->error);
    return r->timed_out ? UV_ETIMEDOUT : UV_EIO;
  }
  char code[64] = "";
  s3_xml_value(r->resp, "Code", code, sizeof(code));
  log_warn("files s3: %s %s answered %ld %s", what, key, r->status, code);
  return r->status == 404 ? UV_ENOENT : UV_EIO;
}

static void hex(const unsigned char *d, size_t n, char *out) {
  static const char digits[] = "0123456789abcdef";
  for (size_t i = 0; i < n; i++) {
    out[2 * i] = digits[d[i] >> 4];
    out[2 * i + 1] = digits[d[i] & 15];
  }
  out[2 * n] = '\0';
}

/* Sends the spool (spool_len bytes) as one PUT of the object (part 0) or as
 * part n of the multipart upload, then empties it. */
static int send_spool(s3_upload_t *u, int part) {
  s3_t *s = (s3_t *)u->f;
  unsigned char digest[crypto_hash_sha256_BYTES];
  char sha[2 * crypto_hash_sha256_BYTES + 1], query[400];
  crypto_hash_sha256_final(&u->sha, digest);
  hex(digest, sizeof(digest), sha);
  if (part) snprintf(query, sizeof(query), "partNumber=%d&uploadId=%s", part, u->upload_id);
  s3_request_t *r = calloc(1, sizeof(*r));
  if (!r) return UV_ENOMEM;
  *r = (s3_request_t){.method = "PUT",
                      .key = u->key,
                      .query = part ? query : "",
                      .sha256 = sha,
                      .body_fd = u->fd,
                      .body_len = u->spool_len};
  int rc = 0;
  if (s3_request_perform(&s->conn, r) != 0 || r->status != 200) {
    rc = status_error(r, part ? "UploadPart" : "PutObject", u->key);
  } else if (part) {
    if (!r->etag[0] || strlen(r->etag) >= sizeof(u->etags[0]))
      rc = UV_EIO;
    else
      snprintf(u->etags[part - 1], sizeof(u->etags[0]), "%s", r->etag);
  }
  free(r);
  if (rc == 0 && ftruncate(u->fd, 0) != 0) rc = uv_translate_sys_error(errno);
  u->spool_len = 0;
  crypto_hash_sha256_init(&u->sha);
  return rc;
}

/* The multipart upload: CreateMultipartUpload ("?uploads=", not "?uploads"). */
static int create_multipart(s3_upload_t *u) {
  s3_t *s = (s3_t *)u->f;
  s3_request_t *r = calloc(1, sizeof(*r));
  if (!r) return UV_ENOMEM;
  *r = (s3_request_t){
      .method = "POST", .key = u->key, .query = "uploads=", .sha256 = empty_sha, .body = ""};
  int rc = 0;
  if (s3_request_perform(&s->conn, r) != 0 || r->status != 200)
    rc = status_error(r, "CreateMultipartUpload", u->key);
  else if (s3_xml_value(r->resp, "UploadId", u->upload_id, sizeof(u->upload_id)) != 0 ||
           strspn(u->upload_id,
                  "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~") !=
               strlen(u->upload_id))
    rc = UV_EIO; /* an id that would need escaping in the signed query: none does */
  free(r);
  return rc;
}

static int flush_part(s3_upload_t *u) {
  if (!u->upload_id[0]) {
    int rc = create_multipart(u);
    if (rc != 0) return rc;
  }
  if (u->nparts == MAX_PARTS) return UV_EFBIG;
  if (u->nparts == u->etag_cap) {
    int cap = u->etag_cap ? u->etag_cap * 2 : 16;
    void *p = realloc(u->etags, (size_t)cap * sizeof(u->etags[0]));
    if (!p) return UV_ENOMEM;
    u->etags = p;
    u->etag_cap = cap;
  }
  u->nparts++;
  return send_spool(u, u->nparts);
}

static int complete_multipart(s3_upload_t *u) {
  s3_t *s = (s3_t *)u->f;
  size_t cap = 128 + (size_t)u->nparts * 256;
  char *xml = malloc(cap);
  s3_request_t *r = calloc(1, sizeof(*r));
  int rc = 0;
  if (!xml || !r) {
    rc = UV_ENOMEM;
    goto out;
  }
  size_t n = (size_t)snprintf(xml, cap, "<CompleteMultipartUpload>");
  for (int i = 0; i < u->nparts; i++) {
    /* ETags are quoted hex: the quotes become entities, nothing else needs it. */
    char etag[200] = "";
    const char *e = u->etags[i];
    size_t k = 0;
    for (; *e && k + 7 < sizeof(etag); e++) {
      if (*e == '"') {
        memcpy(etag + k, "&quot;", 6);
        k += 6;
      } else if (*e != '<' && *e != '&') {
        etag[k++] = *e;
      }
    }
    etag[k] = '\0';
    n += (size_t)snprintf(xml + n, cap - n,
                          "<Part><PartNumber>%d</PartNumber><ETag>%s</ETag></Part>", i + 1, etag);
  }
  n += (size_t)snprintf(xml + n, cap - n, "</CompleteMultipartUpload>");
  unsigned char digest[crypto_hash_sha256_BYTES];
  char sha[2 * crypto_hash_sha256_BYTES + 1], query[300];
  crypto_hash_sha256(digest, (const unsigned char *)xml, n);
  hex(digest, sizeof(digest), sha);
  snprintf(query, sizeof(query), "uploadId=%s", u->upload_id);
  *r = (s3_request_t){
      .method = "POST", .key = u->key, .query = query, .sha256 = sha, .body = xml, .body_len = n};
  /* S3 may answer 200 and then an <Error> in the body. */
  if (s3_request_perform(&s->conn, r) != 0 || r->status != 200 || strstr(r->resp, "<Error>"))
    rc = status_error(r, "CompleteMultipartUpload", u->key);
out:
  free(xml);
  free(r);
  return rc;
}

static void abort_multipart(s3_upload_t *u) {
  s3_t *s = (s3_t *)u->f;
  s3_request_t *r = calloc(1, sizeof(*r));
  if (!r) return;
  char query[300];
  snprintf(query, sizeof(query), "uploadId=%s", u->upload_id);
  *r = (s3_request_t){.method = "DELETE", .key = u->key, .query = query, .sha256 = empty_sha};
  if (s3_request_perform(&s->conn, r) != 0 || (r->status != 204 && r->status != 404))
    status_error(r, "AbortMultipartUpload", u->key); /* S3's lifecycle rule is the backstop */
  free(r);
  u->upload_id[0] = '\0';
}

/* Removes the spool and whatever went up of the multipart upload. */
static void discard(s3_upload_t *u) {
  if (u->fd >= 0) close(u->fd);
  u->fd = -1;
  if (u->spool_path) unlink(u->spool_path);
  if (u->upload_id[0]) abort_multipart(u);
}

/* ---- an upload ---- */

static void upload_free(s3_upload_t *u) {
  s3_t *s = (s3_t *)u->f;
  free(u->spool_path);
  free(u->etags);
  free(u);
  s3_release(s);
}

#define UPLOAD_OF(j) ((s3_upload_t *)((char *)(j)-offsetof(s3_upload_t, job)))

static void cleanup_run(job_t *j) { discard(UPLOAD_OF(j)); }
static void cleanup_done(job_t *j) { upload_free(UPLOAD_OF(j)); }

static void cleanup_start(s3_upload_t *u) {
  u->busy = 1;
  job_submit((s3_t *)u->f, &u->job, cleanup_run, cleanup_done, u->upload_id[0] != '\0');
}

static void begin_run(job_t *j) {
  s3_upload_t *u = UPLOAD_OF(j);
  u->fd = open(u->spool_path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  u->rc = u->fd < 0 ? uv_translate_sys_error(errno) : 0;
}

/* Write, begin and cleanup share this end: a write's callback, unless the
 * owner let go meanwhile. */
static void step_done(job_t *j) {
  s3_upload_t *u = UPLOAD_OF(j);
  u->busy = 0;
  if (u->aborted) {
    cleanup_start(u);
    return;
  }
  if (u->rc != 0 && u->fd < 0) { /* begin failed: nothing of ours exists */
    files_cb cb = u->cb;
    void *ctx = u->ctx;
    int rc = u->rc;
    upload_free(u);
    cb(ctx, rc);
    return;
  }
  u->cb(u->ctx, u->rc);
}

static int s3_upload_begin(files_t *f, const char *key, files_upload_t **out, files_cb cb,
                           void *ctx) {
  s3_t *s = (s3_t *)f;
  s3_upload_t *u = calloc(1, sizeof(*u));
  if (!u) return UV_ENOMEM;
  u->f = f;
  u->fd = -1;
  u->cb = cb;
  u->ctx = ctx;
  snprintf(u->key, sizeof(u->key), "%s", key);
  crypto_hash_sha256_init(&u->sha);
  char rnd[25];
  util_new_id(rnd);
  size_t n = strlen(s->spool) + 64;
  u->spool_path = malloc(n);
  if (!u->spool_path) {
    free(u);
    return UV_ENOMEM;
  }
  snprintf(u->spool_path, n, "%s/%s.%s", s->spool, key, rnd);
  s->pending++;
  u->busy = 1;
  job_submit(s, &u->job, begin_run, step_done, 0);
  *out = (files_upload_t *)u;
  return 0;
}

static void write_run(job_t *j) {
  s3_upload_t *u = UPLOAD_OF(j);
  size_t done = 0;
  u->rc = 0;
  while (done < u->len) {
    ssize_t n = pwrite(u->fd, u->data + done, u->len - done, (off_t)(u->spool_len + done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      u->rc = n < 0 ? uv_translate_sys_error(errno) : UV_EIO;
      return;
    }
    done += (size_t)n;
  }
  crypto_hash_sha256_update(&u->sha, (const unsigned char *)u->data, u->len);
  u->spool_len += u->len;
  u->total += u->len;
  if (u->spool_len >= ((s3_t *)u->f)->part_bytes) u->rc = flush_part(u);
}

static int s3_upload_write(files_upload_t *fu, const char *data, size_t len, files_cb cb,
                           void *ctx) {
  s3_upload_t *u = (s3_upload_t *)fu;
  if (u->busy || u->fd < 0) return UV_EINVAL;
  u->data = data;
  u->len = len;
  u->cb = cb;
  u->ctx = ctx;
  u->busy = 1;
  s3_t *s = (s3_t *)u->f;
  job_submit(s, &u->job, write_run, step_done, u->spool_len + len >= s->part_bytes);
  return 0;
}

static void commit_run(job_t *j) {
  s3_upload_t *u = UPLOAD_OF(j);
  if (!u->upload_id[0])
    u->rc = send_spool(u, 0); /* small, or empty: one PUT with its length */
  else if ((u->rc = u->spool_len > 0 ? flush_part(u) : 0) == 0)
    u->rc = complete_multipart(u);
  if (u->rc == 0) u->upload_id[0] = '\0'; /* nothing to abort any more */
  discard(u);
}

static void commit_done(job_t *j) {
  s3_upload_t *u = UPLOAD_OF(j);
  files_cb cb = u->cb;
  void *ctx = u->ctx;
  int rc = u->rc;
  upload_free(u);
  cb(ctx, rc);
}

static int s3_upload_commit(files_upload_t *fu, files_cb cb, void *ctx) {
  s3_upload_t *u = (s3_upload_t *)fu;
  if (u->busy || u->fd < 0) return UV_EINVAL;
  u->cb = cb;
  u->ctx = ctx;
  u->busy = 1; /* no abort from now on: the commit owns u */
  job_submit((s3_t *)u->f, &u->job, commit_run, commit_done, 1);
  return 0;
}

static void s3_upload_abort(files_upload_t *fu) {
  s3_upload_t *u = (s3_upload_t *)fu;
  u->aborted = 1;
  if (!u->busy) cleanup_start(u);
}

/* ---- removal ---- */

#define REMOVE_OF(j) ((s3_remove_t *)((char *)(j)-offsetof(s3_remove_t, job)))

static void remove_run(job_t *j) {
  s3_remove_t *rm = REMOVE_OF(j);
  s3_request_t *r = calloc(1, sizeof(*r));
  if (!r) {
    rm->rc = UV_ENOMEM;
    return;
  }
  *r = (s3_request_t){.method = "DELETE", .key = rm->key, .query = "", .sha256 = empty_sha};
  rm->rc = 0;
  if (s3_request_perform(&j->s->conn, r) != 0 ||
      (r->status != 204 && r->status != 200 && r->status != 404))
    rm->rc = status_error(r, "DeleteObject", rm->key);
  free(r);
}

static void remove_done(job_t *j) {
  s3_remove_t *rm = REMOVE_OF(j);
  s3_t *s = j->s;
  if (rm->cb) rm->cb(rm->ctx, rm->rc);
  free(rm);
  s3_release(s);
}

static int s3_remove(files_t *f, const char *key, files_cb cb, void *ctx) {
  s3_remove_t *rm = calloc(1, sizeof(*rm));
  if (!rm) return UV_ENOMEM;
  snprintf(rm->key, sizeof(rm->key), "%s", key);
  rm->cb = cb;
  rm->ctx = ctx;
  ((s3_t *)f)->pending++;
  job_submit((s3_t *)f, &rm->job, remove_run, remove_done, 1);
  return 0;
}

/* ---- readers ---- */

#define READER_OF(j) ((s3_reader_t *)((char *)(j)-offsetof(s3_reader_t, job)))

static void reader_free(s3_reader_t *r) {
  s3_t *s = (s3_t *)r->f;
  free(r->buf);
  free(r);
  s3_release(s);
}

/* The next chunk from offset into buf: a ranged GET. */
static void fetch_run(job_t *j) {
  s3_reader_t *rd = READER_OF(j);
  s3_request_t *r = calloc(1, sizeof(*r));
  if (!r) {
    rd->rc = UV_ENOMEM;
    return;
  }
  char range[64];
  snprintf(range, sizeof(range), "%llu-%llu", (unsigned long long)rd->offset,
           (unsigned long long)(rd->offset + READ_CHUNK - 1));
  *r = (s3_request_t){.method = "GET",
                      .key = rd->key,
                      .query = "",
                      .sha256 = empty_sha,
                      .range = range,
                      .sink = rd->buf,
                      .sink_cap = READ_CHUNK};
  rd->rc = 0;
  rd->pos = rd->len = 0;
  if (s3_request_perform(&j->s->conn, r) != 0) {
    rd->rc = status_error(r, "GetObject", rd->key);
  } else if (r->status == 416) {
    rd->eof = 1; /* the object exists and ends at or before offset */
  } else if (r->status == 206 || (r->status == 200 && rd->offset == 0)) {
    rd->len = r->sink_len;
    rd->total = r->status == 200 ? r->sink_len : r->total;
    if (rd->offset + rd->len >= rd->total || rd->len == 0) rd->eof = 1;
  } else {
    rd->rc = status_error(r, "GetObject", rd->key);
  }
  free(r);
}

static void open_done(job_t *j) {
  s3_reader_t *r = READER_OF(j);
  r->busy = 0;
  if (r->closed) {
    reader_free(r);
    return;
  }
  if (r->rc != 0) {
    files_cb cb = r->open_cb;
    void *ctx = r->ctx;
    int rc = r->rc;
    reader_free(r);
    cb(ctx, rc);
    return;
  }
  r->open_cb(r->ctx, 0);
}

static int s3_reader_open(files_t *f, const char *key, uint64_t offset, files_reader_t **out,
                          files_cb cb, void *ctx) {
  s3_reader_t *r = calloc(1, sizeof(*r));
  if (!r || !(r->buf = malloc(READ_CHUNK))) {
    free(r);
    return UV_ENOMEM;
  }
  r->f = f;
  snprintf(r->key, sizeof(r->key), "%s", key);
  r->offset = offset;
  r->open_cb = cb;
  r->ctx = ctx;
  r->busy = 1;
  ((s3_t *)f)->pending++;
  job_submit((s3_t *)f, &r->job, fetch_run, open_done, 1);
  *out = (files_reader_t *)r;
  return 0;
}

/* Hands out what the buffer holds; 0 at the end. */
static ssize_t serve(s3_reader_t *r) {
  size_t n = r->len - r->pos < r->out_len ? r->len - r->pos : r->out_len;
  memcpy(r->out, r->buf + r->pos, n);
  r->pos += n;
  r->offset += n;
  return (ssize_t)n;
}

static void read_done(job_t *j) {
  s3_reader_t *r = READER_OF(j);
  r->busy = 0;
  if (r->closed) {
    reader_free(r);
    return;
  }
  r->read_cb(r->ctx, r->rc != 0 ? r->rc : serve(r));
}

static int s3_reader_read(files_reader_t *fr, char *buf, size_t len, files_read_cb cb, void *ctx) {
  s3_reader_t *r = (s3_reader_t *)fr;
  if (r->busy || r->closed) return UV_EINVAL;
  r->out = buf;
  r->out_len = len;
  r->read_cb = cb;
  r->ctx = ctx;
  if (r->pos < r->len || r->eof || len == 0) {
    /* Answered from the buffer, but still on a later turn of the loop, as
     * the interface's other backend does. */
    r->busy = 1;
    r->rc = 0;
    job_submit((s3_t *)r->f, &r->job, NULL, read_done, 0);
    return 0;
  }
  r->busy = 1;
  job_submit((s3_t *)r->f, &r->job, fetch_run, read_done, 1);
  return 0;
}

static void s3_reader_close(files_reader_t *fr) {
  s3_reader_t *r = (s3_reader_t *)fr;
  r->closed = 1;
  if (!r->busy) reader_free(r);
}

/* ---- the backend ---- */

static void s3_free(s3_t *s) {
  if (s->shared) s3_conn_share_free(&s->conn);
  free(s->conn.base);
  free(s->conn.userpwd);
  free(s->conn.sigv4);
  free(s->spool);
  free(s);
}

static void s3_close(files_t *f) {
  s3_t *s = (s3_t *)f;
  s->closing = 1;
  if (s->pending == 0) s3_free(s);
  /* else the last cleanup (an aborted upload's AbortMultipartUpload) frees it */
}

static const files_ops_t s3_ops = {
    .upload_begin = s3_upload_begin,
    .upload_write = s3_upload_write,
    .upload_commit = s3_upload_commit,
    .upload_abort = s3_upload_abort,
    .remove = s3_remove,
    .reader_open = s3_reader_open,
    .reader_read = s3_reader_read,
    .reader_close = s3_reader_close,
    .close = s3_close,
};

/* Removes what a crash left in the spool: uploads that never committed (their
 * multipart uploads, if any, are left to the bucket's lifecycle rule). */
static void sweep_spool(const char *dir) {
  DIR *d = opendir(dir);
  if (!d) return;
  struct dirent *e;
  char path[4096];
  while ((e = readdir(d)) != NULL) {
    if (e->d_name[0] == '.') continue;
    snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
    if (unlink(path) != 0) log_warn("files s3: cannot remove %s: %s", path, strerror(errno));
  }
  closedir(d);
}

static char *make_base(const files_s3_config_t *c) {
  const char *sep = strstr(c->endpoint, "://");
  size_t n = strlen(c->endpoint) + strlen(c->bucket) + 8;
  char *b = malloc(n);
  if (!b || !sep) {
    free(b);
    return NULL;
  }
  size_t end = strlen(c->endpoint);
  while (end > 0 && c->endpoint[end - 1] == '/') end--;
  if (c->path_style)
    snprintf(b, n, "%.*s/%s", (int)end, c->endpoint, c->bucket);
  else
    snprintf(b, n, "%.*s%s.%.*s", (int)(sep + 3 - c->endpoint), c->endpoint, c->bucket,
             (int)(end - (size_t)(sep + 3 - c->endpoint)), sep + 3);
  return b;
}

files_t *files_open_s3(uv_loop_t *loop, const files_s3_config_t *c) {
  if (!c->endpoint || !c->bucket || !c->access_key || !c->secret_key || !c->region) {
    log_error("files s3: s3_endpoint, s3_bucket, s3_access_key and s3_secret_key must be set");
    return NULL;
  }
  if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK || sodium_init() < 0) return NULL;
  s3_t *s = calloc(1, sizeof(*s));
  if (!s) return NULL;
  size_t n = strlen(c->access_key) + strlen(c->secret_key) + 2;
  s->conn.userpwd = malloc(n);
  if (s->conn.userpwd) snprintf(s->conn.userpwd, n, "%s:%s", c->access_key, c->secret_key);
  n = strlen(c->region) + 16;
  s->conn.sigv4 = malloc(n);
  if (s->conn.sigv4) snprintf(s->conn.sigv4, n, "aws:amz:%s:s3", c->region);
  s->conn.base = make_base(c);
  n = strlen(c->data_dir) + 16;
  s->spool = malloc(n);
  if (!s->conn.userpwd || !s->conn.sigv4 || !s->conn.base || !s->spool) goto fail;
  snprintf(s->spool, n, "%s/s3spool", c->data_dir);
  if (mkdir(s->spool, 0700) != 0 && errno != EEXIST) {
    log_error("files s3: cannot create %s: %s", s->spool, strerror(errno));
    goto fail;
  }
  sweep_spool(s->spool);
  if (s3_conn_share_init(&s->conn) != 0) goto fail;
  s->shared = 1;
  s->conn.timeout_ms = c->timeout_ms;
  s->conn.retries = c->retries;
  s->part_bytes = c->part_bytes < 5u << 20 ? 5u << 20 : c->part_bytes;
  s->max_jobs = c->max_jobs > 0 ? c->max_jobs : 1;
  s->base.ops = &s3_ops;
  s->base.loop = loop;
  return &s->base;
fail:
  s3_free(s);
  return NULL;
}
