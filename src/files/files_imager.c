/* The image step of stored files (include/parley/files_imager.h): read back,
 * processed on the thread pool, the results stored, a bounded number at once
 * and the rest in a FIFO. Loop thread, but for the work function. */
#include "parley/files_imager.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "parley/files_image.h"
#include "parley/util.h"

#define READ_CHUNK (256 * 1024)

typedef struct job_s job_t;

struct files_imager_s {
  uv_loop_t *loop;
  files_t *files;
  int64_t max_pixels;
  int running, max_running, waiting;
  job_t *head, *tail; /* waiting jobs, oldest first */
};

struct job_s {
  files_imager_t *im;
  job_t *next;
  char key[25];
  size_t size, len;
  char *data; /* the whole file while it is read and processed */
  files_reader_t *rd;
  files_upload_t *up;
  const char *put_data; /* borrowed from img while its upload runs */
  size_t put_len;
  void (*put_next)(job_t *j);
  uv_work_t work;
  files_image_t img;
  int rc;
  files_imaged_t res;
  files_imager_cb cb;
  void *ctx;
};

static int start(job_t *j);

static void finish(job_t *j, int status) {
  files_imager_t *im = j->im;
  if (j->rd) files_reader_close(j->rd);
  free(j->data);
  files_image_free(&j->img);
  im->running--;
  if (status != 0) memset(&j->res, 0, sizeof(j->res));
  j->cb(j->ctx, status, &j->res);
  free(j);
  while (im->head && im->running < im->max_running) {
    job_t *next = im->head;
    im->head = next->next;
    if (!im->head) im->tail = NULL;
    im->waiting--;
    int rc = start(next);
    if (rc != 0) {
      im->running++; /* finish counts it out again */
      finish(next, rc);
    }
  }
}

/* ---- storing a result: begin, one write, commit ---- */

static void put_committed(void *ctx, int status) {
  job_t *j = ctx;
  j->up = NULL;
  if (status != 0)
    finish(j, status);
  else
    j->put_next(j);
}

static void put_written(void *ctx, int status) {
  job_t *j = ctx;
  if (status != 0) {
    files_upload_abort(j->up);
    j->up = NULL;
    finish(j, status);
    return;
  }
  files_upload_t *up = j->up;
  int rc = files_upload_commit(up, put_committed, j);
  if (rc != 0) {
    files_upload_abort(up);
    j->up = NULL;
    finish(j, rc);
  }
}

static void put_begun(void *ctx, int status) {
  job_t *j = ctx;
  if (status != 0) {
    j->up = NULL; /* freed by the backend */
    finish(j, status);
    return;
  }
  int rc = files_upload_write(j->up, j->put_data, j->put_len, put_written, j);
  if (rc != 0) {
    files_upload_abort(j->up);
    j->up = NULL;
    finish(j, rc);
  }
}

static void put(job_t *j, const char *key, const char *data, size_t len, void (*next)(job_t *)) {
  j->put_data = data;
  j->put_len = len;
  j->put_next = next;
  int rc = files_upload_begin(j->im->files, key, &j->up, put_begun, j);
  if (rc != 0) {
    j->up = NULL;
    finish(j, rc);
  }
}

static void thumb_stored(job_t *j) { finish(j, 0); }

static void original_stored(job_t *j) {
  util_new_id(j->res.thumb_key);
  j->res.thumb_size = (int64_t)j->img.thumb_len;
  put(j, j->res.thumb_key, j->img.thumb, j->img.thumb_len, thumb_stored);
}

/* ---- processing, on the thread pool ---- */

static void process_work(uv_work_t *w) {
  job_t *j = w->data;
  j->rc = files_image_process(j->data, j->len, j->im->max_pixels, &j->img);
}

static void process_done(uv_work_t *w, int status) {
  job_t *j = w->data;
  free(j->data);
  j->data = NULL;
  if (status != 0) {
    finish(j, status);
  } else if (j->rc == FILES_IMAGE_UNKNOWN) {
    finish(j, 0);
  } else if (j->rc != FILES_IMAGE_OK) {
    finish(j, j->rc);
  } else {
    j->res.width = j->img.width;
    j->res.height = j->img.height;
    j->res.size = j->img.original ? (int64_t)j->img.original_len : (int64_t)j->size;
    if (j->img.original)
      put(j, j->key, j->img.original, j->img.original_len, original_stored);
    else
      original_stored(j);
  }
}

/* ---- reading the object back ---- */

static void on_read(void *ctx, ssize_t n);

static void read_next(job_t *j) {
  size_t want = j->size - j->len < READ_CHUNK ? j->size - j->len : READ_CHUNK;
  int rc = files_reader_read(j->rd, j->data + j->len, want, on_read, j);
  if (rc != 0) finish(j, rc);
}

/* Reads until the recorded size is in; an object shorter than its record is
 * an error (a longer one is read only as far as the record says). */
static void on_read(void *ctx, ssize_t n) {
  job_t *j = ctx;
  if (n <= 0) {
    finish(j, n < 0 ? (int)n : UV_EIO);
    return;
  }
  j->len += (size_t)n;
  if (j->len < j->size) {
    read_next(j);
    return;
  }
  files_reader_close(j->rd);
  j->rd = NULL;
  j->work.data = j;
  int rc = uv_queue_work(j->im->loop, &j->work, process_work, process_done);
  if (rc != 0) finish(j, rc);
}

static void on_open(void *ctx, int status) {
  job_t *j = ctx;
  if (status != 0) {
    j->rd = NULL; /* freed by the backend */
    finish(j, status);
    return;
  }
  read_next(j);
}

/* Starts a job; on an error nothing is counted and cb has not run. */
static int start(job_t *j) {
  files_imager_t *im = j->im;
  j->data = malloc(j->size);
  if (!j->data) return UV_ENOMEM;
  int rc = files_reader_open(im->files, j->key, 0, &j->rd, on_open, j);
  if (rc != 0) {
    j->rd = NULL;
    free(j->data);
    j->data = NULL;
    return rc;
  }
  im->running++;
  return 0;
}

files_imager_t *files_imager_new(uv_loop_t *loop, files_t *files, int64_t max_pixels, int running) {
  files_imager_t *im = calloc(1, sizeof(*im));
  if (!im) return NULL;
  im->loop = loop;
  im->files = files;
  im->max_pixels = max_pixels;
  im->max_running = running > 0 ? running : 1;
  return im;
}

int files_imager_run(files_imager_t *im, const char *key, int64_t size, files_imager_cb cb,
                     void *ctx) {
  if (!files_key_valid(key) || size <= 0) return UV_EINVAL;
  job_t *j = calloc(1, sizeof(*j));
  if (!j) return UV_ENOMEM;
  j->im = im;
  memcpy(j->key, key, sizeof(j->key));
  j->size = (size_t)size;
  j->cb = cb;
  j->ctx = ctx;
  if (im->running < im->max_running) {
    int rc = start(j);
    if (rc != 0) {
      free(j);
      return rc;
    }
  } else {
    if (im->tail)
      im->tail->next = j;
    else
      im->head = j;
    im->tail = j;
    im->waiting++;
  }
  return 0;
}

int files_imager_busy(const files_imager_t *im) { return im->running + im->waiting; }

void files_imager_free(files_imager_t *im) {
  if (!im) return;
  assert(files_imager_busy(im) == 0);
  free(im);
}
