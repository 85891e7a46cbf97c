/* File storage: the bytes of uploaded attachments, behind one interface with a
 * backend per kind of storage (the data directory now; an S3-compatible object
 * store fits the same calls: an upload is a multipart upload whose writes are
 * parts, commit completes it and abort aborts it). Loop thread only: every call
 * returns at once and its work runs off the loop (libuv's thread pool), with
 * the completion called back on the loop thread.
 *
 * An object is named by a key (an attachment id: [0-9a-f]{24}). It becomes
 * visible only when its upload commits; an upload that is aborted, or never
 * committed, leaves nothing behind under its key. */
#ifndef PARLEY_FILES_H
#define PARLEY_FILES_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

typedef struct files_s files_t;
typedef struct files_upload_s files_upload_t;
typedef struct files_reader_s files_reader_t;

/* Completions on the loop thread; status is 0 or a negative libuv error. */
typedef void (*files_cb)(void *ctx, int status);
/* A read's completion: n bytes (0 at the end) into the caller's buffer, or a
 * negative libuv error. */
typedef void (*files_read_cb)(void *ctx, ssize_t n);

/* A backend's operations (files_dir.c, files_s3.c). */
typedef struct files_ops_s {
  int (*upload_begin)(files_t *f, const char *key, files_upload_t **out, files_cb cb, void *ctx);
  int (*upload_write)(files_upload_t *u, const char *data, size_t len, files_cb cb, void *ctx);
  int (*upload_commit)(files_upload_t *u, files_cb cb, void *ctx);
  void (*upload_abort)(files_upload_t *u);
  int (*remove)(files_t *f, const char *key, files_cb cb, void *ctx);
  int (*reader_open)(files_t *f, const char *key, uint64_t offset, files_reader_t **out,
                     files_cb cb, void *ctx);
  int (*reader_read)(files_reader_t *r, char *buf, size_t len, files_read_cb cb, void *ctx);
  void (*reader_close)(files_reader_t *r);
  void (*close)(files_t *f);
} files_ops_t;

struct files_s {
  const files_ops_t *ops;
  uv_loop_t *loop;
};

/* The data-directory backend: objects under dir/files/, uploads written to
 * dir/files/tmp/ and renamed into place on commit; what tmp/ holds at start-up
 * (uploads a crash cut short) is removed. Creates the directories (start-up,
 * before the loop serves anything). Returns NULL after logging why. */
files_t *files_open_dir(uv_loop_t *loop, const char *dir);

/* The S3-compatible backend's settings (borrowed for the call). */
typedef struct files_s3_config_s {
  const char *endpoint;   /* http(s)://host[:port] */
  const char *region;     /* signs with it: "us-east-1" where the store has none */
  const char *bucket;     /* must exist */
  const char *access_key; /* SigV4 credentials */
  const char *secret_key;
  int path_style;       /* 1: endpoint/bucket/key; 0: bucket.host/key */
  uint64_t part_bytes;  /* a multipart upload's parts (5 MiB at least) */
  long timeout_ms;      /* one S3 request at most */
  int retries;          /* attempts after a 5xx or a failed connection */
  int max_jobs;         /* S3 requests at once, each holding a pool thread */
  const char *data_dir; /* uploads are spooled under data_dir/s3spool/ */
} files_s3_config_t;

/* The S3-compatible backend (files_s3.c): objects are keys of the bucket; an
 * upload is spooled to disk and goes up as one PUT when it commits below a
 * part's size, else as a multipart upload (parts sent as the spool fills,
 * aborted on abort or failure). Creates the spool directory and empties it
 * (start-up). Returns NULL after logging why. */
files_t *files_open_s3(uv_loop_t *loop, const files_s3_config_t *cfg);

/* Starts an upload of key; cb runs once the backend is ready for writes (or
 * with an error, after which *out is freed already). *out is valid at once and
 * owned by the caller until commit's callback or abort. Returns 0, or a
 * negative error without calling cb. */
int files_upload_begin(files_t *f, const char *key, files_upload_t **out, files_cb cb, void *ctx);
/* Appends data (borrowed until cb runs). One write (or commit) in flight at a
 * time per upload. */
int files_upload_write(files_upload_t *u, const char *data, size_t len, files_cb cb, void *ctx);
/* Makes everything written visible under the key. The upload is freed before
 * cb runs, whatever the status; on failure nothing is left under the key. */
int files_upload_commit(files_upload_t *u, files_cb cb, void *ctx);
/* Discards the upload and frees it; may be called before begin's callback ran,
 * or with a write in flight, whose callback then does not run, but whose data
 * the backend may still be reading (on the thread pool): a caller that would
 * free the data aborts after the write's callback instead (handlers/uploads.c). */
void files_upload_abort(files_upload_t *u);
/* Removes a committed object; removing one that is absent succeeds. cb may
 * be NULL. */
int files_remove(files_t *f, const char *key, files_cb cb, void *ctx);

/* Opens key for reading from offset; cb with 0, or UV_ENOENT for an absent
 * object (and *out is then freed). */
int files_reader_open(files_t *f, const char *key, uint64_t offset, files_reader_t **out,
                      files_cb cb, void *ctx);
/* Reads the next bytes into buf (borrowed until cb). One read in flight. */
int files_reader_read(files_reader_t *r, char *buf, size_t len, files_read_cb cb, void *ctx);
/* Closes and frees a reader; a read in flight then never calls back. */
void files_reader_close(files_reader_t *r);

/* Frees the backend; every upload and reader must be finished. */
void files_close(files_t *f);

/* 1 when key can name an object (24 lower-case hex digits). Pure. */
int files_key_valid(const char *key);

#endif
