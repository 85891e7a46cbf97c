/* The SQLite store backend: a dedicated store thread that owns the connection,
 * fed by a mutex/condvar queue that the loop fills once a turn (hand_over). It
 * takes every job queued so far and runs them as one transaction (group
 * commit), each job that may fail after writing under its own savepoint;
 * callbacks go back to the loop through a uv_async_t only after the COMMIT. The
 * loop never touches SQLite; it builds the results of new messages
 * (sqlite_msg_insert_result), which keeps the allocations of the hot path on
 * the thread that frees them. Between batches the thread indexes new
 * messages for search (sqlite_msg_index.c). */
#include <assert.h>
#include <errno.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "parley/log.h"
#include "store/sqlite/sqlite_internal.h"

/* New messages are indexed for search once the queue has stayed empty this
 * long, and after a batch once a chunk of them waits: a search, which indexes
 * what waits first, then never has more than a chunk and one batch to index.
 * (The win over indexing in each insert is the batch.) */
#define INDEX_IDLE_MS 10
/* An idle step waits for this many messages, or for the first of them to have
 * waited INDEX_IDLE_AGE_MS: each step is a transaction of its own, with its
 * commit and an FTS5 segment, and at 50 sends/s in groups of 100 the queue
 * stayed empty 10 ms after almost every message, so most steps indexed one
 * (160,000-178,000 instructions a message on the store thread, callgrind,
 * against 20,000-30,000 in chunks). Searches index what waits first, so the
 * wait changes no answer. */
#define INDEX_IDLE_MIN 100
#define INDEX_IDLE_AGE_MS 1000
/* The chunks are small: the store thread inserts nothing while it indexes, so
 * a chunk is a pause of every message behind it. 5,000 at a time (~220 million
 * instructions) held a fan-out run's messages 300-600 ms every 5,000 messages
 * on a shared core (p99 610 ms at 1,000 sends/s, 0.33 cores busy); 500 are a
 * few milliseconds. Idle, a chunk of 1,000 goes, then the queue is looked at
 * again. */
#define INDEX_LAG_MAX 500
#define INDEX_IDLE_CHUNK 1000

/* The page cache empties whenever another connection has written to the file
 * (another instance sharing the database): the next read transaction drops
 * every page. glibc keeps the memory of those pages in the store thread's arena
 * (which gives back only what lies at its top), so an instance sharing its
 * database would hold free memory up to the largest cache it ever had, bounded
 * only by cache_size (64 MiB by default). The index step is the other burst:
 * FTS5 flushes its pending terms and merges segments, reading and writing pages
 * through the cache and buffers beside it (1.5-2 MB at 24,000 messages).
 * When the cache measured after a batch or an index step has fallen
 * TRIM_MIN_BYTES below the largest measured since the last trim (so each such
 * trim has at least that much to give back), and after an index step at most
 * every TRIM_INTERVAL_MS, the store thread gives the free pages back:
 * malloc_trim, 0.15-0.3 ms at soak sizes, holding each arena's lock in turn
 * (the loop's too) for its share of that. The two bounds set how far resident
 * memory swings between trims: at 1 MiB and 10 s a two-instance soak swung by
 * 0.3-0.5 MB, more than its 10-minute judge tells from a creep; at these, a
 * trim costs at most 0.3 ms every 2 s of the store thread. */
#define TRIM_MIN_BYTES (256ll << 10)
#define TRIM_INTERVAL_MS 2000
/* A batch brings the members' activity of the conversations written since up
 * to date (migration 40) at most this often; a read of the inbox always does. */
#define ACTIVITY_FLUSH_MS 1000

/* Jobs taken together, with a slot per job for a new message's result. */
typedef struct sqlite_batch_s {
  store_job_t *jobs;
  struct sqlite_batch_s *next;
  size_t count;
  long long cache_bytes;     /* the connection's page cache after the batch */
  sqlite_insert_t inserts[]; /* count, in the order of jobs */
} sqlite_batch_t;

typedef struct sqlite_store_s {
  store_t *store;
  sqlite_db_t *db;     /* the store thread's once it runs */
  sqlite_ckpt_t *ckpt; /* NULL: the store thread checkpoints */
  pthread_t thread;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  store_job_t *queue_head, *queue_tail;  /* submitted, guarded by mu */
  size_t queued;                         /* jobs in that queue, guarded by mu */
  sqlite_batch_t *done_head, *done_tail; /* committed, guarded by mu */
  int stop;                              /* guarded by mu */
  uv_async_t async;
  /* Jobs submitted this turn of the loop, not yet handed to the store thread;
   * loop thread only. */
  store_job_t *turn_head, *turn_tail;
  size_t turn_count;
  uv_check_t after_io;      /* hands them over after the turn's I/O callbacks */
  uv_prepare_t before_poll; /* and before the loop waits for I/O */
  int open_handles;         /* of async, after_io and before_poll, until closed */
  long long cache_peak;     /* the largest cache measured since the last trim; store thread */
  uint64_t last_trim_ms;    /* store thread */
  uint64_t unindexed_ms;    /* when the thread first waited with messages to index, 0: none */
} sqlite_store_t;

/* Made from the list of operations, so no slot is empty. */
static const sqlite_op_fn ops[STORE_OP_COUNT] = {
#define STORE_OP(op, name, kind) [op] = sqlite_##name,
#include "parley/store_ops.h"
#undef STORE_OP
};

sqlite_op_fn sqlite_op(enum store_op op) {
  assert((unsigned)op < STORE_OP_COUNT && ops[op]);
  return ops[op];
}

int sqlite_ping(sqlite_db_t *d, json_t *params, json_t **result) {
  sqlite3_stmt *st = sqlite_db_query(d, "SELECT 1", "");
  if (!st || sqlite_db_step(d, st) != 1) return STORE_EUNAVAILABLE;
  *result = json_object();
  return STORE_OK;
}

/* Only ops that can fail after writing need a savepoint: reads, and ops that
 * check everything before they write (MSG_INSERT), skip it, since a savepoint
 * copies every page the job touches into the statement journal, which halves
 * insert rates. */
static int needs_savepoint(enum store_op op) { return store_op_kind(op) == STORE_KIND_WRITE; }

/* Whether an op leaves the kept members (sqlite_members.c) as they are: an
 * insert and the reads, and the writes of an Instagram message and a flow run
 * and the bots' periodic claim, which write only their own tables
 * (webhook_events, contacts, flow_runs and flow_claims, flow_stats and
 * flow_reached, bots, and a message's delivery columns: status, error,
 * external_id, pending_until_ms), none of which a trigger carries to
 * participants, ig_agents or conversations. Every other write may change who
 * is in a conversation, or its type, and forgets them all. A flow run's dozen
 * jobs (and BOT_CLAIM every 2 s by default) used to forget them between its three
 * messages, so each MSG_INSERT read its conversation's members again. */
static int keeps_members(enum store_op op) {
  switch (op) {
    case MSG_INSERT:
    case MSG_SET_DELIVERY:
    case MSG_FAIL_PENDING:
    case BOT_CLAIM:
    case EVENT_INSERT:
    case EVENT_MARK_PROCESSED:
    case CONTACT_UPSERT:
    case CONTACT_UPDATE:
    case FLOW_RUN_SAVE:
    case FLOW_STATS_INC:
      return 1;
    default:
      return store_op_kind(op) == STORE_KIND_READ;
  }
}

static void insert_clear(sqlite_insert_t *ins) {
  json_decref(ins->members);
  ins->members = NULL;
  ins->seq = 0;
  ins->event_processed = 0;
}

/* Runs one job inside the batch's transaction, under its own savepoint (unless
 * fast allows skipping it) so that its failure undoes only its own writes.
 * Returns -1 when a job without a savepoint failed in a way that may have left
 * partial writes: the batch must then be rolled back and run again, slowly. */
static int run_job(sqlite_db_t *d, store_job_t *job, sqlite_insert_t *ins, int fast) {
  sqlite_op_fn fn = sqlite_op(job->op);
  job->result = NULL;
  insert_clear(ins);
  /* Other ops read the counters that inserts advance in memory. */
  if (job->op != MSG_INSERT && d->pending && sqlite_msg_insert_flush(d) != STORE_OK) return -1;
  if (!keeps_members(job->op)) sqlite_members_forget_all(d);
  int savepoint = !fast || needs_savepoint(job->op);
  uint64_t contacts_written = d->contacts_written;
  if (savepoint && sqlite_db_exec(d, "SAVEPOINT job", "") != STORE_OK) {
    job->status = STORE_EUNAVAILABLE;
    return 0;
  }
  d->keep_on_error = 0;
  d->insert = ins;
  d->rows = job->rows;
  d->rows_arg = job->rows_arg;
  job->status = fn(d, job->params, &job->result);
  d->insert = NULL;
  d->rows = NULL;
  if (job->status != STORE_OK && job->result) {
    json_decref(job->result);
    job->result = NULL;
  }
  if (!savepoint)
    return job->status == STORE_EUNAVAILABLE || job->status == STORE_ECONFLICT ? -1 : 0;
  /* Under a savepoint an insert's counters are written before the RELEASE. */
  if (job->status == STORE_OK && d->pending && sqlite_msg_insert_flush(d) != STORE_OK) {
    json_decref(job->result);
    job->result = NULL;
    job->status = STORE_EUNAVAILABLE;
  }
  sqlite_msg_insert_discard(d);
  if (job->status != STORE_OK && !d->keep_on_error) {
    sqlite_db_exec(d, "ROLLBACK TO job", "");
    sqlite_contact_rolled_back(d, contacts_written);
    sqlite_members_forget_all(d);
  }
  if (sqlite_db_exec(d, "RELEASE job", "") != STORE_OK) job->status = STORE_EUNAVAILABLE;
  return 0;
}

static void fail_all(sqlite_batch_t *b) {
  size_t i = 0;
  for (store_job_t *j = b->jobs; j; j = j->next, i++) {
    json_decref(j->result);
    j->result = NULL;
    j->status = STORE_EUNAVAILABLE;
    insert_clear(&b->inserts[i]);
  }
}

static uint64_t mono_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (uint64_t)t.tv_sec * 1000u + (uint64_t)t.tv_nsec / 1000000u;
}

/* One batch, one transaction: 0 when committed (each job has its own status), -1
 * when a savepoint-free job needs the batch run again with savepoints, -2 when
 * BEGIN or COMMIT failed and nothing of the batch is durable. */
static int try_batch(sqlite_db_t *d, sqlite_batch_t *b, int fast) {
  if (sqlite_db_exec(d, "BEGIN IMMEDIATE", "") != STORE_OK) return -2;
  sqlite_contact_sync(d); /* another instance may share the file */
  sqlite_members_sync(d);
  size_t i = 0;
  for (store_job_t *j = b->jobs; j; j = j->next, i++) {
    if (run_job(d, j, &b->inserts[i], fast) != 0) {
      sqlite_msg_insert_discard(d);
      sqlite_db_exec_plain(d, "ROLLBACK");
      sqlite_contact_forget_all(d);
      sqlite_members_forget_all(d);
      return -1;
    }
  }
  if (sqlite_msg_insert_flush(d) != STORE_OK) {
    sqlite_db_exec_plain(d, "ROLLBACK");
    sqlite_contact_forget_all(d);
    sqlite_members_forget_all(d);
    return fast ? -1 : -2;
  }
  /* Members' activity (migration 40): a second at most after the last time. */
  uint64_t now = mono_ms();
  if (now - d->activity_flushed_ms >= ACTIVITY_FLUSH_MS) {
    if (sqlite_activity_flush(d) != STORE_OK) {
      sqlite_db_exec_plain(d, "ROLLBACK");
      sqlite_contact_forget_all(d);
      sqlite_members_forget_all(d);
      return fast ? -1 : -2;
    }
    d->activity_flushed_ms = now;
  }
  /* Reads an op stopped early would otherwise stay open across the COMMIT. */
  for (sqlite3_stmt *st = sqlite3_next_stmt(d->db, NULL); st; st = sqlite3_next_stmt(d->db, st))
    if (sqlite3_stmt_busy(st)) sqlite3_reset(st);
  if (sqlite_db_exec(d, "COMMIT", "") != STORE_OK) {
    sqlite_db_exec_plain(d, "ROLLBACK");
    sqlite_contact_forget_all(d);
    sqlite_members_forget_all(d);
    return -2;
  }
  return 0;
}

static void run_batch(sqlite_db_t *d, sqlite_batch_t *batch) {
  int rc = try_batch(d, batch, 1);
  if (rc == -1) {
    fail_all(batch);
    rc = try_batch(d, batch, 0);
  }
  if (rc != 0) fail_all(batch);
}

/* How long the queue must stay empty before an idle index step, in ms: see
 * INDEX_IDLE_MIN. Store thread. */
static long idle_wait_ms(sqlite_store_t *ss) {
  uint64_t now = mono_ms();
  if (!ss->unindexed_ms) ss->unindexed_ms = now;
  uint64_t due = ss->unindexed_ms + INDEX_IDLE_AGE_MS;
  if (ss->db->unindexed >= INDEX_IDLE_MIN || due <= now + INDEX_IDLE_MS) return INDEX_IDLE_MS;
  return (long)(due - now);
}

/* Waits for a job; while messages wait to be indexed, only until an idle index
 * step is due, and then returns 1 (idle). Called with mu held. */
static int wait_for_jobs(sqlite_store_t *ss) {
  struct timespec until;
  int timed = ss->db->unindexed > 0;
  if (!timed) ss->unindexed_ms = 0;
  if (timed) {
    long ms = idle_wait_ms(ss);
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += ms / 1000;
    until.tv_nsec += (ms % 1000) * 1000000L;
    until.tv_sec += until.tv_nsec / 1000000000L;
    until.tv_nsec %= 1000000000L;
  }
  while (!ss->queue_head && !ss->stop) {
    if (!timed)
      pthread_cond_wait(&ss->cv, &ss->mu);
    else if (pthread_cond_timedwait(&ss->cv, &ss->mu, &until) == ETIMEDOUT)
      return !ss->queue_head && !ss->stop;
  }
  return 0;
}

/* Takes every job queued so far as one batch; NULL with *idle set when the
 * queue stayed empty while messages wait to be indexed. Without memory for the
 * batch the jobs go back to the head of the queue and the thread waits a
 * little for the loop to free some. */
static sqlite_batch_t *take_queue(sqlite_store_t *ss, int *idle) {
  pthread_mutex_lock(&ss->mu);
  *idle = wait_for_jobs(ss);
  store_job_t *head = ss->queue_head, *tail = ss->queue_tail;
  size_t n = ss->queued;
  ss->queue_head = ss->queue_tail = NULL;
  ss->queued = 0;
  pthread_mutex_unlock(&ss->mu);
  if (!head) return NULL;
  sqlite_batch_t *b = calloc(1, sizeof(*b) + n * sizeof(b->inserts[0]));
  if (b) {
    b->jobs = head;
    b->count = n;
    return b;
  }
  pthread_mutex_lock(&ss->mu);
  tail->next = ss->queue_head;
  if (!ss->queue_head) ss->queue_tail = tail;
  ss->queue_head = head;
  ss->queued += n;
  pthread_mutex_unlock(&ss->mu);
  usleep(1000);
  return NULL;
}

/* What the connection's page cache holds, per-page headers included (the cache
 * fills up to cache_size as pages are read; /metrics reports it so that RSS can be
 * judged beyond it). Store thread: the connection is not shared. */
static long long cache_bytes(sqlite_db_t *d) {
  int cur = 0, hi = 0;
  if (sqlite3_db_status(d->db, SQLITE_DBSTATUS_CACHE_USED, &cur, &hi, 0) != SQLITE_OK) return 0;
  return cur;
}

/* Store thread, with the cache just measured: see TRIM_MIN_BYTES. */
static void trim_free_pages(sqlite_store_t *ss, long long cache, int indexed) {
  if (cache > ss->cache_peak) ss->cache_peak = cache;
  int dropped = ss->cache_peak - cache >= TRIM_MIN_BYTES;
  if (!dropped && !indexed) return;
  uint64_t now = mono_ms();
  if (!dropped && ss->last_trim_ms && now - ss->last_trim_ms < TRIM_INTERVAL_MS) return;
#ifdef __GLIBC__
  malloc_trim(0);
#endif
  ss->last_trim_ms = now;
  ss->cache_peak = cache;
}

static void *thread_main(void *arg) {
  sqlite_store_t *ss = arg;
  for (;;) {
    int idle = 0;
    sqlite_batch_t *batch = take_queue(ss, &idle);
    if (idle) {
      sqlite_msg_index_step(ss->db, INDEX_IDLE_CHUNK);
      ss->unindexed_ms = 0; /* what is left (over a chunk) waits anew */
      trim_free_pages(ss, cache_bytes(ss->db), 1);
      continue;
    }
    if (!batch) {
      pthread_mutex_lock(&ss->mu);
      int stop = ss->stop && !ss->queue_head;
      pthread_mutex_unlock(&ss->mu);
      if (stop) break;
      continue;
    }
    run_batch(ss->db, batch);
    for (store_job_t *j = batch->jobs; j; j = j->next) store_job_then(j);
    batch->cache_bytes = cache_bytes(ss->db);
    long long cache = batch->cache_bytes;
    int indexed = 0;
    pthread_mutex_lock(&ss->mu);
    if (ss->done_tail)
      ss->done_tail->next = batch;
    else
      ss->done_head = batch;
    ss->done_tail = batch;
    pthread_mutex_unlock(&ss->mu);
    uv_async_send(&ss->async);
    /* Under sustained load the queue is never empty for long: the index keeps
     * up in chunks between batches, after their callbacks are on their way. */
    if (ss->db->unindexed >= INDEX_LAG_MAX) {
      sqlite_msg_index_step(ss->db, INDEX_LAG_MAX);
      cache = cache_bytes(ss->db);
      indexed = 1;
    }
    trim_free_pages(ss, cache, indexed);
  }
  return NULL;
}

/* Loop thread: builds the results the store thread left to it and completes the
 * batch's jobs. */
static void complete(sqlite_batch_t *b) {
  store_job_t *j = b->jobs;
  if (j) j->store->cache_bytes = b->cache_bytes;
  for (size_t i = 0; j; i++) {
    store_job_t *next = j->next;
    sqlite_insert_t *ins = &b->inserts[i];
    if (ins->seq && j->status == STORE_OK && !j->result)
      j->result = sqlite_msg_insert_result(j->params, ins);
    json_decref(ins->members);
    j->next = NULL;
    store_job_done(j);
    j = next;
  }
  free(b);
}

/* Loop thread: completes everything committed so far. The last completion of a
 * closing store calls backend_close(), which frees ss later (in the close callback
 * of the async handle), so nothing here touches ss after the loop. */
static void on_async(uv_async_t *h) {
  sqlite_store_t *ss = h->data;
  pthread_mutex_lock(&ss->mu);
  sqlite_batch_t *b = ss->done_head;
  ss->done_head = ss->done_tail = NULL;
  pthread_mutex_unlock(&ss->mu);
  while (b) {
    sqlite_batch_t *next = b->next;
    complete(b);
    b = next;
  }
}

/* Loop thread: the jobs of this turn go to the store thread together, with one
 * lock and at most one wake-up. Handed over one by one, every job woke the
 * store thread, which (on the loop's core, as bench/run pins it) took the core
 * from the loop at once and committed that job alone: a context switch each
 * way and a transaction per job, a cost no instruction count shows, and one
 * that grew with every store call an event makes. Nothing waits longer than
 * the turn: the check handle runs after the turn's I/O callbacks (HTTP
 * requests, store completions), the prepare handle before the loop waits
 * again, after every other prepare callback (it is never stopped, and libuv
 * runs prepare handles started later first). Order is kept. */
static void hand_over(sqlite_store_t *ss) {
  if (!ss->turn_head) return;
  pthread_mutex_lock(&ss->mu);
  if (ss->queue_tail)
    ss->queue_tail->next = ss->turn_head;
  else
    ss->queue_head = ss->turn_head;
  ss->queue_tail = ss->turn_tail;
  ss->queued += ss->turn_count;
  pthread_mutex_unlock(&ss->mu);
  /* Signalled after the unlock: signalled under it, the store thread (on the
   * loop's core) took the core at the wake-up, found the mutex held, slept on
   * it, and the unlock woke it again: two more context switches and a futex
   * call each side per hand-over. It re-checks the queue under the lock, and ss
   * outlives the thread, so nothing is lost. */
  pthread_cond_signal(&ss->cv);
  ss->turn_head = ss->turn_tail = NULL;
  ss->turn_count = 0;
}

static void on_after_io(uv_check_t *h) { hand_over(h->data); }
static void on_before_poll(uv_prepare_t *h) { hand_over(h->data); }

static void submit(store_t *s, store_job_t *job) {
  sqlite_store_t *ss = s->impl;
  job->next = NULL;
  if (ss->turn_tail)
    ss->turn_tail->next = job;
  else
    ss->turn_head = job;
  ss->turn_tail = job;
  ss->turn_count++;
}

static void on_async_closed(uv_handle_t *h) {
  sqlite_store_t *ss = h->data;
  if (--ss->open_handles > 0) return;
  store_t *s = ss->store;
  sqlite_ckpt_stop(ss->ckpt, ss->db);
  sqlite_db_close(ss->db);
  pthread_mutex_destroy(&ss->mu);
  pthread_cond_destroy(&ss->cv);
  free(ss);
  store_closed(s);
}

/* No job is in flight (store.c guarantees it), so the thread is idle and the
 * join is immediate. */
static void backend_close(store_t *s) {
  sqlite_store_t *ss = s->impl;
  pthread_mutex_lock(&ss->mu);
  ss->stop = 1;
  pthread_cond_signal(&ss->cv);
  pthread_mutex_unlock(&ss->mu);
  pthread_join(ss->thread, NULL);
  uv_close((uv_handle_t *)&ss->after_io, on_async_closed);
  uv_close((uv_handle_t *)&ss->before_poll, on_async_closed);
  uv_close((uv_handle_t *)&ss->async, on_async_closed);
}

static const store_backend_t sqlite_backend = {"sqlite", submit, backend_close};

store_t *store_open_sqlite(uv_loop_t *loop, const char *path, int max_jobs) {
  return store_open_sqlite_cache(loop, path, max_jobs, 64);
}

store_t *store_open_sqlite_cache(uv_loop_t *loop, const char *path, int max_jobs, int cache_mb) {
  sqlite_store_t *ss = calloc(1, sizeof(*ss));
  store_t *s = NULL;
  if (!ss) return NULL;
  pthread_condattr_t attr;
  pthread_condattr_init(&attr);
  pthread_condattr_setclock(&attr, CLOCK_MONOTONIC); /* the idle wait's deadline */
  pthread_mutex_init(&ss->mu, NULL);
  pthread_cond_init(&ss->cv, &attr);
  pthread_condattr_destroy(&attr);
  char pragma[64];
  /* A negative cache_size is KiB, page headers included. */
  snprintf(pragma, sizeof(pragma), "PRAGMA cache_size=-%lld", (long long)cache_mb * 1024);
  ss->db = sqlite_db_open(path);
  if (!ss->db || sqlite_db_exec_plain(ss->db, pragma) != 0 || sqlite_schema_migrate(ss->db) != 0)
    goto fail;
  ss->db->unindexed = 1; /* an earlier run may have left messages to index */
  ss->ckpt = sqlite_ckpt_start(ss->db, path);
  s = store_new(loop, &sqlite_backend, max_jobs);
  if (!s) goto fail;
  s->impl = ss;
  ss->store = s;
  /* The thread sends on the async handle only after a job, and none can be
   * submitted before this returns, so it may start before the handle exists. */
  if (pthread_create(&ss->thread, NULL, thread_main, ss) != 0) {
    log_error("store: cannot start the sqlite store thread");
    goto fail;
  }
  if (uv_async_init(loop, &ss->async, on_async) != 0) {
    log_error("store: cannot create the sqlite completion handle");
    pthread_mutex_lock(&ss->mu);
    ss->stop = 1;
    pthread_cond_signal(&ss->cv);
    pthread_mutex_unlock(&ss->mu);
    pthread_join(ss->thread, NULL);
    goto fail;
  }
  ss->async.data = ss;
  /* Both never stop, and keep no loop alive; they cannot fail on a live loop. */
  uv_check_init(loop, &ss->after_io);
  uv_prepare_init(loop, &ss->before_poll);
  ss->after_io.data = ss->before_poll.data = ss;
  uv_check_start(&ss->after_io, on_after_io);
  uv_prepare_start(&ss->before_poll, on_before_poll);
  uv_unref((uv_handle_t *)&ss->after_io);
  uv_unref((uv_handle_t *)&ss->before_poll);
  ss->open_handles = 3;
  log_info("store: sqlite at %s", path);
  return s;
fail:
  sqlite_ckpt_stop(ss->ckpt, ss->db);
  sqlite_db_close(ss->db);
  pthread_mutex_destroy(&ss->mu);
  pthread_cond_destroy(&ss->cv);
  free(ss);
  free(s);
  return NULL;
}
