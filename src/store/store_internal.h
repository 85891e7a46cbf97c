/* What the store backends share with src/store/store.c: the job and the backend's
 * table of functions. Not for handlers. */
#ifndef PARLEY_STORE_INTERNAL_H
#define PARLEY_STORE_INTERNAL_H

#include "parley/store.h"

/* What a failed operation can leave behind (parley/store_ops.h): the SQLite
 * backend runs STORE_KIND_WRITE operations under a savepoint. */
enum store_op_kind {
  STORE_KIND_READ,         /* writes nothing */
  STORE_KIND_CHECKS_FIRST, /* writes only after its last check, so a failure wrote nothing */
  STORE_KIND_WRITE,        /* may fail after it wrote */
};

/* The op's kind; op must be below STORE_OP_COUNT. */
enum store_op_kind store_op_kind(enum store_op op);

typedef struct store_job_s store_job_t;
struct store_job_s {
  store_t *store;
  enum store_op op;
  json_t *params; /* owned by the job; read by the worker */
  json_t *result; /* set by the worker (new reference) when status is STORE_OK */
  int status;
  store_cb cb;
  void *ctx;
  store_then_fn then; /* NULL, or run by store_job_then() on the worker */
  void *then_arg;
  const store_conv_rows_t *rows; /* NULL, or CONV_LIST's row writer (store_call_rows) */
  void *rows_arg;
  store_job_t *next; /* for the backend's queues */
};

typedef struct store_backend_s {
  const char *name;
  /* Takes a job accepted by store_call(); later, on the loop thread, the backend
   * calls store_job_done() for it exactly once. */
  void (*submit)(store_t *s, store_job_t *job);
  /* Called on the loop thread once no job is in flight; releases the backend and
   * then calls store_closed(s). */
  void (*close)(store_t *s);
} store_backend_t;

struct store_s {
  const store_backend_t *backend;
  uv_loop_t *loop;
  void *impl; /* the backend's state */
  int max_jobs;
  int in_flight;
  int closing;
  int healthy;
  long long cache_bytes; /* store_cache_bytes(); set by the backend on the loop thread */
  void (*close_done)(void *arg);
  void *close_arg;
};

/* MSG_INSERT's replies and mentions, the same on both backends. The preview
 * of a quoted message (a stored message, borrowed): {id, seq, sender_id,
 * text} with text cut to MSG_REPLY_PREVIEW_MAX code points (null when it had
 * none); a new object. */
json_t *store_reply_preview(const json_t *quoted);
/* 1 when params' mentions are absent, or an array of at most MSG_MENTIONS_MAX
 * distinct strings; 0 when not. */
int store_mentions_ok(const json_t *params);
/* 1 when the params of a MSG_INSERT carry reply_to or mentions. */
int store_has_reply_or_mentions(const json_t *params);
/* MSG_INSERT's payload rule: a secret conversation's messages carry
 * payload.ciphertexts and nothing readable (no text, attachments, quote or
 * mentions); no other conversation takes ciphertexts. 1 when params fit. */
int store_payload_fits(const json_t *params, int secret);

/* Allocates the common part; the backend sets impl. */
store_t *store_new(uv_loop_t *loop, const store_backend_t *backend, int max_jobs);
/* Completes a job on the loop thread: runs its callback, frees it, and finishes a
 * pending store_close() when it was the last one. */
void store_job_done(store_job_t *job);
/* Worker thread, once the job's status and result are final: applies the
 * job's store_then_fn to a successful result. */
void store_job_then(store_job_t *job);
/* The backend has released everything: frees the store and calls close_done. */
void store_closed(store_t *s);

#endif
