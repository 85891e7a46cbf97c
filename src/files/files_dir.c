/* The data-directory storage backend: an object is the file files/<key> under
 * the data directory. An upload is written to files/tmp/<key>.<random> and
 * renamed into place once flushed, so a reader never sees a partial object and
 * an aborted upload leaves nothing. Every file operation is a uv_fs request,
 * run on libuv's thread pool; the callbacks run on the loop thread. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "parley/files.h"
#include "parley/log.h"
#include "parley/util.h"

typedef struct dir_s {
  files_t base;
  char *root; /* <data_dir>/files */
  char *tmp;  /* <data_dir>/files/tmp */
} dir_t;

/* Starts with files_t *f, as the interface's calls expect (files.c). */
typedef struct dir_upload_s {
  files_t *f;
  uv_loop_t *loop;
  uv_fs_t req;
  char *tmp_path, *final_path;
  uv_file fd; /* -1 until open */
  uint64_t offset;
  const char *data; /* what is left of the write in flight */
  size_t len;
  files_cb cb;
  void *ctx;
  int busy;    /* a uv_fs request is in flight */
  int aborted; /* the owner let go: clean up when the request returns */
} dir_upload_t;

typedef struct dir_reader_s {
  files_t *f;
  uv_loop_t *loop;
  uv_fs_t req;
  uv_file fd;
  uint64_t offset;
  files_cb open_cb;
  files_read_cb read_cb;
  void *ctx;
  int busy, closed;
} dir_reader_t;

typedef struct dir_remove_s {
  uv_fs_t req;
  files_cb cb;
  void *ctx;
} dir_remove_t;

static void upload_free(dir_upload_t *u) {
  free(u->tmp_path);
  free(u->final_path);
  free(u);
}

/* ---- cleanup of an upload that will not commit ---- */

static void on_cleanup_unlink(uv_fs_t *req) {
  dir_upload_t *u = req->data;
  uv_fs_req_cleanup(req);
  upload_free(u);
}

static void cleanup_unlink(dir_upload_t *u) {
  u->req.data = u;
  if (uv_fs_unlink(u->loop, &u->req, u->tmp_path, on_cleanup_unlink) != 0) upload_free(u);
}

static void on_cleanup_close(uv_fs_t *req) {
  dir_upload_t *u = req->data;
  uv_fs_req_cleanup(req);
  u->fd = -1;
  cleanup_unlink(u);
}

/* Closes the temporary file and removes it, then frees the upload. */
static void cleanup_start(dir_upload_t *u) {
  u->req.data = u;
  if (u->fd >= 0 && uv_fs_close(u->loop, &u->req, u->fd, on_cleanup_close) == 0) return;
  cleanup_unlink(u);
}

/* ---- an upload ---- */

static void on_open(uv_fs_t *req) {
  dir_upload_t *u = req->data;
  ssize_t rc = req->result;
  uv_fs_req_cleanup(req);
  u->busy = 0;
  if (rc < 0) {
    /* Nothing of ours exists: O_EXCL refused or the open failed. */
    files_cb cb = u->cb;
    void *ctx = u->ctx;
    int aborted = u->aborted;
    upload_free(u);
    if (!aborted) cb(ctx, (int)rc);
    return;
  }
  u->fd = (uv_file)rc;
  if (u->aborted) {
    cleanup_start(u);
    return;
  }
  u->cb(u->ctx, 0);
}

static int dir_upload_begin(files_t *f, const char *key, files_upload_t **out, files_cb cb,
                            void *ctx) {
  dir_t *d = (dir_t *)f;
  dir_upload_t *u = calloc(1, sizeof(*u));
  if (!u) return UV_ENOMEM;
  u->f = f;
  u->loop = f->loop;
  u->fd = -1;
  u->cb = cb;
  u->ctx = ctx;
  char rnd[25];
  util_new_id(rnd);
  size_t n = strlen(d->tmp) + strlen(d->root) + 64;
  u->tmp_path = malloc(n);
  u->final_path = malloc(n);
  if (!u->tmp_path || !u->final_path) {
    upload_free(u);
    return UV_ENOMEM;
  }
  snprintf(u->tmp_path, n, "%s/%s.%s", d->tmp, key, rnd);
  snprintf(u->final_path, n, "%s/%s", d->root, key);
  u->req.data = u;
  int rc = uv_fs_open(u->loop, &u->req, u->tmp_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640,
                      on_open);
  if (rc != 0) {
    upload_free(u);
    return rc;
  }
  u->busy = 1;
  *out = (files_upload_t *)u;
  return 0;
}

static int write_next(dir_upload_t *u);

static void on_write(uv_fs_t *req) {
  dir_upload_t *u = req->data;
  ssize_t rc = req->result;
  uv_fs_req_cleanup(req);
  u->busy = 0;
  if (u->aborted) {
    cleanup_start(u);
    return;
  }
  if (rc >= 0) {
    u->offset += (uint64_t)rc;
    u->data += rc;
    u->len -= (size_t)rc;
    if (rc > 0 && u->len > 0 && (rc = write_next(u)) == 0) return; /* a short write */
    if (u->len > 0 && rc >= 0) rc = UV_EIO;
  }
  u->cb(u->ctx, rc < 0 ? (int)rc : 0);
}

static int write_next(dir_upload_t *u) {
  uv_buf_t b = uv_buf_init((char *)u->data, (unsigned)u->len);
  u->req.data = u;
  int rc = uv_fs_write(u->loop, &u->req, u->fd, &b, 1, (int64_t)u->offset, on_write);
  if (rc == 0) u->busy = 1;
  return rc;
}

static int dir_upload_write(files_upload_t *fu, const char *data, size_t len, files_cb cb,
                            void *ctx) {
  dir_upload_t *u = (dir_upload_t *)fu;
  if (u->busy || u->fd < 0 || len > UINT32_MAX) return UV_EINVAL;
  u->data = data;
  u->len = len;
  u->cb = cb;
  u->ctx = ctx;
  return write_next(u);
}

/* Commit: fdatasync, close, rename into place. A failure removes the file. */
static void commit_fail(dir_upload_t *u, int status) {
  files_cb cb = u->cb;
  void *ctx = u->ctx;
  log_warn("files: commit of %s failed: %s", u->final_path, uv_strerror(status));
  cleanup_start(u); /* frees u */
  cb(ctx, status);
}

static void on_rename(uv_fs_t *req) {
  dir_upload_t *u = req->data;
  int rc = (int)req->result;
  uv_fs_req_cleanup(req);
  if (rc < 0) {
    commit_fail(u, rc);
    return;
  }
  files_cb cb = u->cb;
  void *ctx = u->ctx;
  upload_free(u);
  cb(ctx, 0);
}

static void on_commit_close(uv_fs_t *req) {
  dir_upload_t *u = req->data;
  int rc = (int)req->result;
  uv_fs_req_cleanup(req);
  u->fd = -1;
  if (rc == 0) rc = uv_fs_rename(u->loop, &u->req, u->tmp_path, u->final_path, on_rename);
  if (rc < 0) commit_fail(u, rc);
}

static void on_sync(uv_fs_t *req) {
  dir_upload_t *u = req->data;
  int rc = (int)req->result;
  uv_fs_req_cleanup(req);
  if (rc == 0) rc = uv_fs_close(u->loop, &u->req, u->fd, on_commit_close);
  if (rc < 0) commit_fail(u, rc);
}

static int dir_upload_commit(files_upload_t *fu, files_cb cb, void *ctx) {
  dir_upload_t *u = (dir_upload_t *)fu;
  if (u->busy || u->fd < 0) return UV_EINVAL;
  u->cb = cb;
  u->ctx = ctx;
  u->busy = 1; /* no abort from now on: the commit owns u */
  u->req.data = u;
  int rc = uv_fs_fdatasync(u->loop, &u->req, u->fd, on_sync);
  if (rc != 0) u->busy = 0;
  return rc;
}

static void dir_upload_abort(files_upload_t *fu) {
  dir_upload_t *u = (dir_upload_t *)fu;
  u->aborted = 1;
  if (!u->busy) cleanup_start(u);
}

/* ---- removal ---- */

static void on_remove(uv_fs_t *req) {
  dir_remove_t *r = req->data;
  int rc = (int)req->result;
  uv_fs_req_cleanup(req);
  if (rc == UV_ENOENT) rc = 0;
  if (r->cb) r->cb(r->ctx, rc);
  free(r);
}

static int dir_remove(files_t *f, const char *key, files_cb cb, void *ctx) {
  dir_t *d = (dir_t *)f;
  dir_remove_t *r = calloc(1, sizeof(*r));
  if (!r) return UV_ENOMEM;
  char path[4096];
  snprintf(path, sizeof(path), "%s/%s", d->root, key);
  r->cb = cb;
  r->ctx = ctx;
  r->req.data = r;
  int rc = uv_fs_unlink(f->loop, &r->req, path, on_remove);
  if (rc != 0) free(r);
  return rc;
}

/* ---- readers ---- */

static void on_reader_closed(uv_fs_t *req) {
  uv_fs_req_cleanup(req);
  free(req->data);
}

static void reader_finish(dir_reader_t *r) {
  r->req.data = r;
  if (r->fd < 0 || uv_fs_close(r->loop, &r->req, r->fd, on_reader_closed) != 0) free(r);
}

static void on_ropen(uv_fs_t *req) {
  dir_reader_t *r = req->data;
  ssize_t rc = req->result;
  uv_fs_req_cleanup(req);
  r->busy = 0;
  if (rc >= 0) r->fd = (uv_file)rc;
  if (r->closed) {
    reader_finish(r);
    return;
  }
  if (rc < 0) {
    files_cb cb = r->open_cb;
    void *ctx = r->ctx;
    free(r);
    cb(ctx, (int)rc);
    return;
  }
  r->open_cb(r->ctx, 0);
}

static int dir_reader_open(files_t *f, const char *key, uint64_t offset, files_reader_t **out,
                           files_cb cb, void *ctx) {
  dir_t *d = (dir_t *)f;
  dir_reader_t *r = calloc(1, sizeof(*r));
  if (!r) return UV_ENOMEM;
  char path[4096];
  snprintf(path, sizeof(path), "%s/%s", d->root, key);
  r->f = f;
  r->loop = f->loop;
  r->fd = -1;
  r->offset = offset;
  r->open_cb = cb;
  r->ctx = ctx;
  r->req.data = r;
  int rc = uv_fs_open(f->loop, &r->req, path, O_RDONLY | O_CLOEXEC, 0, on_ropen);
  if (rc != 0) {
    free(r);
    return rc;
  }
  r->busy = 1;
  *out = (files_reader_t *)r;
  return 0;
}

static void on_read(uv_fs_t *req) {
  dir_reader_t *r = req->data;
  ssize_t rc = req->result;
  uv_fs_req_cleanup(req);
  r->busy = 0;
  if (r->closed) {
    reader_finish(r);
    return;
  }
  if (rc > 0) r->offset += (uint64_t)rc;
  r->read_cb(r->ctx, rc);
}

static int dir_reader_read(files_reader_t *fr, char *buf, size_t len, files_read_cb cb, void *ctx) {
  dir_reader_t *r = (dir_reader_t *)fr;
  if (r->busy || r->fd < 0 || len > UINT32_MAX) return UV_EINVAL;
  uv_buf_t b = uv_buf_init(buf, (unsigned)len);
  r->read_cb = cb;
  r->ctx = ctx;
  r->req.data = r;
  int rc = uv_fs_read(r->loop, &r->req, r->fd, &b, 1, (int64_t)r->offset, on_read);
  if (rc == 0) r->busy = 1;
  return rc;
}

static void dir_reader_close(files_reader_t *fr) {
  dir_reader_t *r = (dir_reader_t *)fr;
  r->closed = 1;
  if (!r->busy) reader_finish(r);
}

static void dir_close(files_t *f) {
  dir_t *d = (dir_t *)f;
  free(d->root);
  free(d->tmp);
  free(d);
}

static const files_ops_t dir_ops = {
    .upload_begin = dir_upload_begin,
    .upload_write = dir_upload_write,
    .upload_commit = dir_upload_commit,
    .upload_abort = dir_upload_abort,
    .remove = dir_remove,
    .reader_open = dir_reader_open,
    .reader_read = dir_reader_read,
    .reader_close = dir_reader_close,
    .close = dir_close,
};

static int make_dir(const char *path) {
  if (mkdir(path, 0750) == 0 || errno == EEXIST) return 0;
  log_error("files: cannot create %s: %s", path, strerror(errno));
  return -1;
}

/* Removes what a crash left in tmp/: uploads that never committed. */
static void sweep_tmp(const char *tmp) {
  DIR *dir = opendir(tmp);
  if (!dir) return;
  struct dirent *e;
  char path[4096];
  while ((e = readdir(dir)) != NULL) {
    if (e->d_name[0] == '.') continue;
    snprintf(path, sizeof(path), "%s/%s", tmp, e->d_name);
    if (unlink(path) != 0) log_warn("files: cannot remove %s: %s", path, strerror(errno));
  }
  closedir(dir);
}

files_t *files_open_dir(uv_loop_t *loop, const char *dir) {
  dir_t *d = calloc(1, sizeof(*d));
  if (!d) return NULL;
  size_t n = strlen(dir) + 16;
  d->root = malloc(n);
  d->tmp = malloc(n);
  if (!d->root || !d->tmp) goto fail;
  snprintf(d->root, n, "%s/files", dir);
  snprintf(d->tmp, n, "%s/files/tmp", dir);
  if (make_dir(dir) != 0 || make_dir(d->root) != 0 || make_dir(d->tmp) != 0) goto fail;
  sweep_tmp(d->tmp);
  d->base.ops = &dir_ops;
  d->base.loop = loop;
  return &d->base;
fail:
  free(d->root);
  free(d->tmp);
  free(d);
  return NULL;
}
