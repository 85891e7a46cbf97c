/* The store: every persistent operation of API.md, asynchronous. Two backends
 * behind one interface: SQLite (embedded default, src/store/sqlite/) and MongoDB
 * (src/store/mongo/). Handlers see only this header.
 *
 * An operation is an op code with its parameters as a JSON object; its result is
 * a JSON value. store_call() is called on the loop thread; the work runs off the
 * loop (a store thread for SQLite, libuv's thread pool for MongoDB); the callback
 * runs on the loop thread exactly once, unless store_call() refused the job.
 * Worker code touches only the job's own parameters and result.
 *
 * Records use API.md's shapes: ids are opaque strings (24 hex), timestamps are
 * ISO-8601 strings with milliseconds. Every backend returns the same JSON for the
 * same calls; the contract suite in tests/unit/store/ checks both. */
#ifndef PARLEY_STORE_H
#define PARLEY_STORE_H

#include <jansson.h>
#include <uv.h>

typedef struct store_s store_t;

/* Status codes (0 is success). */
enum store_status {
  STORE_OK = 0,
  STORE_ENOTFOUND = -1,    /* no such record, or not visible to the caller */
  STORE_ECONFLICT = -2,    /* a uniqueness rule (email taken, IG account taken) */
  STORE_EFORBIDDEN = -3,   /* visible, but the caller may not do this */
  STORE_EINVAL = -4,       /* parameters the operation cannot use */
  STORE_EUNAVAILABLE = -5, /* the backend is down or timed out */
  STORE_EBUSY = -6,        /* too many jobs in flight (store_call refuses) */
  STORE_EREVOKED = -7,     /* a refresh token presented again: its family is revoked */
  STORE_ECLOSED = -8,      /* the store is shutting down */
};

/* Channels (store_ops.h): members per channel, channels per user. */
#define CHANNEL_MEMBERS_MAX 100000
#define CHANNELS_PER_USER_MAX 1000
/* Users one CHANNEL_IDS_OF_USERS reads. */
#define CHANNEL_IDS_BATCH_MAX 256

/* The most events one BOT_ENQUEUE queues (store_ops.h). */
#define BOTS_ENQUEUE_BATCH 64

/* The most tags and variables a contact keeps (CONTACT_UPDATE refuses more). */
#define CONTACT_TAGS_MAX 100
#define CONTACT_VARS_MAX 100
/* The most users one message mentions (MSG_INSERT refuses more), and the code
 * points of a quoted message's text that a reply keeps (its preview). */
#define MSG_MENTIONS_MAX 20
#define MSG_REPLY_PREVIEW_MAX 100

/* The most live logins (refresh families) a user keeps (REFRESH_CREATE ends
 * the least recently used past it). */
#define LOGINS_MAX 100
/* Versions kept per flow: the most recent ones, plus any a running or
 * waiting run started on (pruned when a publish makes a new one). */
#define FLOW_VERSIONS_KEPT 20

/* The key directory (DEVICE_* in store_ops.h): devices per user, one-time
 * prekeys held per device. */
#define DEVICES_MAX 10
#define DEVICE_PREKEYS_MAX 500

/* Web Push (PUSH_SUB_* in store_ops.h): subscriptions a user may hold (one a
 * browser profile), and users PUSH_SUB_LIST takes at once. */
#define PUSH_SUBS_MAX 10
#define PUSH_SUB_LIST_MAX 256

/* Completion on the loop thread. `result` is a new reference owned by the
 * callback (json_decref it), NULL when status != STORE_OK. */
typedef void (*store_cb)(void *ctx, int status, json_t *result);

/* Operations: USER_CREATE, MSG_INSERT, ... with their parameters and results,
 * listed and documented in parley/store_ops.h. */
enum store_op {
#define STORE_OP(op, name, kind) op,
#include "parley/store_ops.h"
#undef STORE_OP
  STORE_OP_COUNT
};

/* Opens the backend chosen by the configuration (mongo_uri set: MongoDB, else
 * SQLite under data_dir), creates its schema or indexes, and returns it, or NULL
 * after logging why. max_jobs caps jobs in flight. Loop thread. */
store_t *store_open_sqlite(uv_loop_t *loop, const char *path, int max_jobs);
/* The same with a page cache of cache_mb MiB (store_open_sqlite: 64), which it
 * fills up to that size as the database grows (see store_cache_bytes). */
store_t *store_open_sqlite_cache(uv_loop_t *loop, const char *path, int max_jobs, int cache_mb);
store_t *store_open_mongo(uv_loop_t *loop, const char *uri, int max_jobs, int timeout_ms);

/* Submits an operation; takes ownership of params. Returns 0 (cb will run once),
 * or STORE_EBUSY / STORE_ECLOSED / STORE_EINVAL without calling cb. */
int store_call(store_t *s, enum store_op op, json_t *params, store_cb cb, void *ctx);

/* Runs on the store's worker thread after a successful operation (on SQLite,
 * after its batch's COMMIT): takes result (a new reference) and returns what
 * the callback gets instead (a new reference; NULL: an empty object). It may
 * read params and arg (which must stay valid and unchanged while the job is
 * in flight) and touch nothing the loop changes. It lets a handler turn a
 * large result into its answer on the thread that allocated it: a jansson
 * tree built on one thread and freed on another costs the freeing thread
 * most of its time in glibc's malloc_consolidate. */
typedef json_t *(*store_then_fn)(void *arg, const json_t *params, json_t *result);
/* store_call() with then applied to the result before cb. */
int store_call_then(store_t *s, enum store_op op, json_t *params, store_then_fn then,
                    void *then_arg, store_cb cb, void *ctx);

/* CONV_LIST's page handed to a writer row by row instead of as a jansson
 * tree (store_call_rows): a backend that can (SQLite) calls begin, then for
 * each conversation of the page in order either conv, member for each of its
 * participants in the order they joined, message (a plain last message) and
 * conv_end, or record with the conversation as CONV_LIST's result would hold
 * it (the backend chooses which; direct, secret and group conversations
 * without a contact take the rows), then end, whose result is the job's;
 * abort instead of end when a read fails.
 * Every call runs on the store's worker, inside the read's transaction; a
 * string (p NULL: JSON null; else n bytes, then a NUL) is borrowed for the
 * call. A backend that cannot (MongoDB) ignores the writer and answers with
 * the tree. */
typedef struct store_str_s {
  const char *p;
  size_t n;
} store_str_t;
typedef struct store_conv_row_s {
  store_str_t id, type, name, created_at, updated_at, avatar_id;
  long long last_seq;
} store_conv_row_t;
typedef struct store_member_row_s {
  store_str_t id, name, avatar_url, avatar_id, role, muted_until; /* muted_until: while future */
  long long last_read_seq, last_delivered_seq, mention_count;
} store_member_row_t;
typedef struct store_msg_row_s {
  store_str_t id, conversation_id, sender_id, text, client_id, source, created_at, edited_at;
  long long seq;
  int deleted;
  /* As its record would hold them (attachments NULL: none, []); borrowed,
   * and the writer may change the attachments (it signs their URLs). */
  json_t *attachments, *reactions;
} store_msg_row_t;
typedef struct store_conv_rows_s {
  /* The writer's state for one page, from the job's params; NULL: no memory. */
  void *(*begin)(void *arg, const json_t *params);
  /* Each returns 0, or -1 when memory runs out (the backend then aborts). */
  int (*conv)(void *w, const store_conv_row_t *c);
  int (*member)(void *w, const store_member_row_t *m);
  /* A chat's last message when it is plain (no reply, mentions, delivery
   * status or payload), before conv_end, which then gets NULL. */
  int (*message)(void *w, const store_msg_row_t *m);
  /* Borrowed; the writer may change them (it signs their URLs in place). */
  int (*conv_end)(void *w, json_t *last_message); /* NULL: none, or given to message */
  int (*record)(void *w, json_t *conv);
  /* The page's result (a new reference, NULL without memory); frees w. */
  json_t *(*end)(void *w, const char *next_cursor);
  void (*abort)(void *w);
} store_conv_rows_t;
/* store_call_then() for CONV_LIST with rows (a static table) and rows_arg
 * (valid and unchanged while the job is in flight) for a backend that can
 * write the page from its rows; then still runs on the result, whichever way
 * it was made. */
int store_call_rows(store_t *s, enum store_op op, json_t *params, const store_conv_rows_t *rows,
                    void *rows_arg, store_then_fn then, void *then_arg, store_cb cb, void *ctx);

/* Jobs accepted and not yet completed. */
int store_jobs_in_flight(const store_t *s);
/* "sqlite" or "mongo". */
const char *store_backend(const store_t *s);
/* 1 while the last operation reached the backend, 0 after it failed to. */
int store_healthy(const store_t *s);
/* Bytes held by the backend's page cache in this process, headers of each page
 * included, as of the last completed batch: SQLite's cache fills up to its
 * cache_size as the database grows. 0 for MongoDB (its cache is the server's). */
long long store_cache_bytes(const store_t *s);

/* Stops accepting jobs, lets those in flight complete (their callbacks run), then
 * releases everything and calls done (which may be NULL) on the loop thread.
 * The loop must keep running until then. */
void store_close(store_t *s, void (*done)(void *arg), void *arg);

/* The op's name, for logs and metrics. */
const char *store_op_name(enum store_op op);

#endif
