/* The MongoDB store backend: a mongoc_client_pool_t, jobs on libuv's thread pool,
 * MSG_INSERT jobs gathered per loop turn into one batch, and an orderly close.
 * The mongo_t and its handles belong to the loop thread; workers read only the
 * pool, the database name and the atomic "down" flags. */
#include <assert.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "parley/log.h"
#include "parley/util.h"
#include "store/mongo/mongo_internal.h"

#define BATCH_MAX 500
#define INDEX_RETRY_MS 2000
#define AUTH_RETRY_MS 2000 /* between login attempts while the server refuses ours */

typedef struct mongo_s {
  store_t *store;
  mongoc_client_pool_t *pool;
  char *dbname;
  uv_idle_t idle;   /* flushes the MSG_INSERT queue once per loop turn */
  uv_timer_t retry; /* retries index creation after a failure at start-up */
  store_job_t *msg_head, *msg_tail;
  int batch_in_flight; /* one batch at a time keeps seq ranges gap-free */
  int index_pending;   /* 1: indexes not created yet; 2: a creation job in flight */
  int handles_open;
  int closing;
  /* While the server is unreachable, one job at a time probes it (and waits
   * for the server selection timeout); the others fail at once. */
  atomic_int down;
  atomic_int probing;
  /* The server refused the URI's credentials: probes are spaced out, and the
   * refusal is logged once (with login, who we tried to be) until it passes. */
  atomic_int auth_failed;
  _Atomic long long last_probe_ms;
  char *login;
  _Atomic long long clock; /* see mongo_ctx_order() */
} mongo_t;

typedef struct mongo_work_s {
  uv_work_t req;
  mongo_t *m;
  store_job_t *jobs[BATCH_MAX];
  int n;
  int batch; /* a batch of MSG_INSERT */
  int index; /* the index creation job */
  int index_ok;
} mongo_work_t;

/* Made from the list of operations, so no slot is empty. */
static const mongo_op_fn ops[STORE_OP_COUNT] = {
#define STORE_OP(op, name, kind) [op] = mongo_##name,
#include "parley/store_ops.h"
#undef STORE_OP
};

mongo_op_fn mongo_op(enum store_op op) {
  assert((unsigned)op < STORE_OP_COUNT && ops[op]);
  return ops[op];
}

int mongo_ping(mongo_ctx_t *c, json_t *p, json_t **r) {
  bson_t cmd = BSON_INITIALIZER;
  bson_error_t e;
  BSON_APPEND_INT32(&cmd, "ping", 1);
  bool ok = mongoc_client_command_simple(c->client, c->dbname, &cmd, NULL, NULL, &e);
  bson_destroy(&cmd);
  if (!ok) return mongo_ctx_error(c, &e);
  *r = json_object();
  return STORE_OK;
}

static void fail_all(mongo_work_t *w, int status) {
  for (int i = 0; i < w->n; i++) w->jobs[i]->status = status;
}

/* Whether this job may talk to the server: always when it is up; when it is
 * down, only the one probe. Returns 1 when this worker became the probe. */
static int admit(mongo_t *m, int *probe) {
  *probe = 0;
  if (!atomic_load(&m->down)) return 1;
  long long now = (long long)util_now_ms();
  if (atomic_load(&m->auth_failed) && now - atomic_load(&m->last_probe_ms) < AUTH_RETRY_MS)
    return 0;
  int expected = 0;
  if (atomic_compare_exchange_strong(&m->probing, &expected, 1)) {
    atomic_store(&m->last_probe_ms, now);
    *probe = 1;
    return 1;
  }
  return 0;
}

/* A wrong user, password or authSource is an operator's error that no retry
 * mends: it is said once, clearly, and again when the server accepts us. */
static void note_auth(mongo_t *m, const mongo_ctx_t *c) {
  if (c->auth_failed) {
    if (!atomic_exchange(&m->auth_failed, 1))
      log_error(
          "store mongo: MongoDB refused the login (%s): check the user, password and "
          "authSource of the MongoDB URI; the store is unavailable until it is accepted",
          m->login);
  } else if (c->client && !c->down && atomic_exchange(&m->auth_failed, 0)) {
    log_info("store mongo: MongoDB accepted the login (%s)", m->login);
  }
}

static void run_jobs(mongo_ctx_t *c, mongo_work_t *w) {
  if (w->index) {
    w->index_ok = mongo_index_ensure(c) == 0;
  } else if (w->n > 1) {
    mongo_msg_insert_batch(c, w->jobs, w->n);
  } else { /* one job, a lone insert too, runs through the table */
    store_job_t *job = w->jobs[0];
    job->status = mongo_op(job->op)(c, job->params, &job->result);
    if (job->status != STORE_OK && job->result) {
      json_decref(job->result);
      job->result = NULL;
    }
  }
}

static void work_cb(uv_work_t *req) {
  mongo_work_t *w = req->data;
  mongo_t *m = w->m;
  int probe;
  if (!admit(m, &probe)) {
    fail_all(w, STORE_EUNAVAILABLE);
    return;
  }
  mongo_ctx_t c = {.dbname = m->dbname,
                   .clock = &m->clock,
                   .op = w->n ? store_op_name(w->jobs[0]->op) : "create_indexes"};
  c.client = mongoc_client_pool_pop(m->pool);
  if (!c.client) {
    fail_all(w, STORE_EUNAVAILABLE);
  } else {
    run_jobs(&c, w);
    for (int i = 0; i < w->n; i++) store_job_then(w->jobs[i]);
    mongo_ctx_release(&c);
    mongoc_client_pool_push(m->pool, c.client);
  }
  note_auth(m, &c);
  if (c.down)
    atomic_store(&m->down, 1);
  else if (c.client)
    atomic_store(&m->down, 0);
  if (probe) atomic_store(&m->probing, 0);
}

static void start_batch(mongo_t *m);
static void finish_close(mongo_t *m);
static void idle_cb(uv_idle_t *h);
static void retry_cb(uv_timer_t *t);

static void after_work_cb(uv_work_t *req, int status) {
  mongo_work_t *w = req->data;
  mongo_t *m = w->m;
  if (status == UV_ECANCELED) fail_all(w, STORE_ECLOSED);
  if (w->index) {
    m->index_pending = w->index_ok ? 0 : 1;
    if (!w->index_ok && !m->closing) uv_timer_start(&m->retry, retry_cb, INDEX_RETRY_MS, 0);
    free(w);
    if (m->closing) finish_close(m);
    return;
  }
  if (w->batch) {
    m->batch_in_flight = 0;
    if (m->msg_head) uv_idle_start(&m->idle, idle_cb);
  }
  /* The last store_job_done() may close the store (and free m): nothing of m
   * is touched after the loop. */
  int n = w->n;
  for (int i = 0; i < n; i++) store_job_done(w->jobs[i]);
  free(w);
}

static void queue(mongo_t *m, mongo_work_t *w) {
  w->m = m;
  w->req.data = w;
  int rc = uv_queue_work(m->store->loop, &w->req, work_cb, after_work_cb);
  if (rc != 0) {
    /* Never happens with valid arguments; complete the jobs anyway. */
    log_error("store mongo: uv_queue_work: %s", uv_strerror(rc));
    after_work_cb(&w->req, UV_ECANCELED);
  }
}

static void start_batch(mongo_t *m) {
  mongo_work_t *w = calloc(1, sizeof(*w));
  if (!w) return; /* the idle handle stays active and tries again */
  w->batch = 1;
  while (m->msg_head && w->n < BATCH_MAX) {
    store_job_t *job = m->msg_head;
    m->msg_head = job->next;
    job->next = NULL;
    w->jobs[w->n++] = job;
  }
  if (!m->msg_head) m->msg_tail = NULL;
  m->batch_in_flight = 1;
  uv_idle_stop(&m->idle);
  queue(m, w);
}

static void idle_cb(uv_idle_t *h) {
  mongo_t *m = h->data;
  if (m->batch_in_flight || !m->msg_head) {
    uv_idle_stop(h);
    return;
  }
  start_batch(m);
}

static void submit(store_t *s, store_job_t *job) {
  mongo_t *m = s->impl;
  if (job->op == MSG_INSERT) {
    job->next = NULL;
    if (m->msg_tail)
      m->msg_tail->next = job;
    else
      m->msg_head = job;
    m->msg_tail = job;
    if (!m->batch_in_flight) uv_idle_start(&m->idle, idle_cb);
    return;
  }
  mongo_work_t *w = calloc(1, sizeof(*w));
  if (!w) {
    job->status = STORE_EUNAVAILABLE;
    store_job_done(job);
    return;
  }
  w->jobs[0] = job;
  w->n = 1;
  queue(m, w);
}

static void index_job(mongo_t *m) {
  mongo_work_t *w = calloc(1, sizeof(*w));
  if (!w) {
    uv_timer_start(&m->retry, retry_cb, INDEX_RETRY_MS, 0);
    return;
  }
  w->index = 1;
  m->index_pending = 2;
  queue(m, w);
}

static void retry_cb(uv_timer_t *t) {
  mongo_t *m = t->data;
  if (!m->closing && m->index_pending == 1) index_job(m);
}

static void free_mongo(mongo_t *m) {
  if (m->pool) mongoc_client_pool_destroy(m->pool);
  free(m->dbname);
  free(m->login);
  free(m);
}

static void finish_close(mongo_t *m) {
  if (m->handles_open > 0 || m->index_pending == 2) return;
  store_t *s = m->store;
  free_mongo(m);
  store_closed(s);
}

static void handle_closed(uv_handle_t *h) {
  mongo_t *m = h->data;
  m->handles_open--;
  finish_close(m);
}

static void backend_close(store_t *s) {
  mongo_t *m = s->impl;
  m->closing = 1;
  uv_timer_stop(&m->retry);
  uv_close((uv_handle_t *)&m->idle, handle_closed);
  uv_close((uv_handle_t *)&m->retry, handle_closed);
}

static const store_backend_t mongo_backend = {"mongo", submit, backend_close};

static pthread_once_t init_once = PTHREAD_ONCE_INIT;

static void log_handler(mongoc_log_level_t level, const char *domain, const char *message,
                        void *data) {
  /* Every refused login: said once by note_auth() instead. */
  if (strncmp(message, "Failed authentication", 21) == 0) return;
  if (level <= MONGOC_LOG_LEVEL_WARNING) log_warn("mongoc %s: %s", domain, message);
}

static void init(void) {
  mongoc_init();
  mongoc_log_set_handler(log_handler, NULL);
}

/* Threads that may pop a client at once: libuv's pool size. The pool holds at
 * least that many clients, so mongoc_client_pool_pop() never waits. */
static int thread_count(void) {
  const char *v = getenv("UV_THREADPOOL_SIZE");
  long n = v && *v ? strtol(v, NULL, 10) : 4;
  if (n < 1) n = 1;
  if (n > 1024) n = 1024;
  return (int)n;
}

static void bound(mongoc_uri_t *uri, const char *opt, int ms) {
  if (!mongoc_uri_has_option(uri, opt)) mongoc_uri_set_option_as_int32(uri, opt, ms);
}

/* "Answered only after it is durably stored": unless the URI sets w= or
 * journal=, every write waits for a majority of the replica set, journaled
 * ({w: "majority", j: true}; on a standalone server the majority is itself).
 * wtimeoutMS (unless given) is most of the timeout, so a set that lost its
 * majority answers a write concern error before the socket gives up. Reads go
 * to the primary, which has every write Parley was answered for; a secondary
 * could answer without a write Parley just made, so a read preference other
 * than primary is overridden. */
static void durable(mongoc_uri_t *uri, int timeout_ms) {
  mongoc_write_concern_t *wc = mongoc_write_concern_copy(mongoc_uri_get_write_concern(uri));
  int64_t wtimeout = timeout_ms - timeout_ms / 5;
  if (mongoc_uri_has_option(uri, MONGOC_URI_WTIMEOUTMS))
    wtimeout = mongoc_write_concern_get_wtimeout_int64(wc);
  if (mongoc_write_concern_get_w(wc) == MONGOC_WRITE_CONCERN_W_DEFAULT &&
      !mongoc_write_concern_journal_is_set(wc)) {
    mongoc_write_concern_set_wmajority(wc, 0);
    mongoc_write_concern_set_journal(wc, true);
  }
  if (mongoc_write_concern_get_wmajority(wc) || mongoc_write_concern_get_w(wc) > 1)
    mongoc_write_concern_set_wtimeout_int64(wc, wtimeout);
  mongoc_uri_set_write_concern(uri, wc);
  mongoc_write_concern_destroy(wc);
  const mongoc_read_prefs_t *rp = mongoc_uri_get_read_prefs_t(uri);
  if (rp && mongoc_read_prefs_get_mode(rp) != MONGOC_READ_PRIMARY) {
    log_warn("store mongo: readPreference in the URI ignored: Parley reads from the primary");
    mongoc_read_prefs_t *primary = mongoc_read_prefs_new(MONGOC_READ_PRIMARY);
    mongoc_uri_set_read_prefs_t(uri, primary);
    mongoc_read_prefs_destroy(primary);
  }
}

static mongoc_uri_t *make_uri(const char *text, int timeout_ms) {
  bson_error_t e;
  mongoc_uri_t *uri = mongoc_uri_new_with_error(text, &e);
  if (!uri) {
    log_error("store mongo: bad URI: %s", e.message);
    return NULL;
  }
  bound(uri, MONGOC_URI_SERVERSELECTIONTIMEOUTMS, timeout_ms);
  bound(uri, MONGOC_URI_CONNECTTIMEOUTMS, timeout_ms);
  bound(uri, MONGOC_URI_SOCKETTIMEOUTMS, timeout_ms);
  if (!mongoc_uri_get_appname(uri)) mongoc_uri_set_appname(uri, "parley");
  durable(uri, timeout_ms);
  return uri;
}

/* Indexes are created before the loop serves; when the server is not there
 * yet, the store opens anyway (answering EUNAVAILABLE) and retries. */
static void first_indexes(mongo_t *m) {
  mongo_ctx_t c = {.dbname = m->dbname, .clock = &m->clock, .op = "create_indexes"};
  c.client = mongoc_client_pool_pop(m->pool);
  int ok = mongo_index_ensure(&c) == 0;
  mongo_ctx_release(&c);
  mongoc_client_pool_push(m->pool, c.client);
  note_auth(m, &c);
  m->index_pending = ok ? 0 : 1;
  if (!ok) {
    atomic_store(&m->down, 1);
    uv_timer_start(&m->retry, retry_cb, INDEX_RETRY_MS, 0);
  }
}

store_t *store_open_mongo(uv_loop_t *loop, const char *uri_text, int max_jobs, int timeout_ms) {
  pthread_once(&init_once, init);
  if (timeout_ms <= 0) timeout_ms = 5000;
  mongoc_uri_t *uri = make_uri(uri_text, timeout_ms);
  if (!uri) return NULL;
  mongo_t *m = calloc(1, sizeof(*m));
  store_t *s = store_new(loop, &mongo_backend, max_jobs);
  if (!m || !s) goto fail;
  const char *db = mongoc_uri_get_database(uri);
  m->dbname = strdup(db && *db ? db : "parley");
  const char *user = mongoc_uri_get_username(uri), *source = mongoc_uri_get_auth_source(uri);
  char login[320];
  snprintf(login, sizeof(login), "user \"%.120s\", authSource \"%.120s\"", user ? user : "",
           source ? source : "");
  m->login = strdup(login);
  bson_error_t e;
  m->pool = mongoc_client_pool_new_with_error(uri, &e);
  if (!m->dbname || !m->login || !m->pool) {
    log_error("store mongo: cannot create the client pool: %s",
              m->pool ? "out of memory" : e.message);
    goto fail;
  }
  mongoc_client_pool_set_error_api(m->pool, MONGOC_ERROR_API_VERSION_2);
  mongoc_client_pool_max_size(m->pool, (uint32_t)thread_count() + 1);
  m->store = s;
  s->impl = m;
  uv_idle_init(loop, &m->idle);
  uv_timer_init(loop, &m->retry);
  m->idle.data = m->retry.data = m;
  m->handles_open = 2;
  mongoc_uri_destroy(uri);
  first_indexes(m);
  return s;
fail:
  mongoc_uri_destroy(uri);
  if (m) free_mongo(m);
  free(s);
  return NULL;
}
