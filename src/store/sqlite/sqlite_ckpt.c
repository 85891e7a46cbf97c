/* The WAL checkpointer of the SQLite store: a thread with a connection of its own
 * copies committed WAL frames into the database file (and syncs it), so the store
 * thread only appends to the WAL. The store thread's commit hook wakes it. */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#include "parley/log.h"
#include "store/sqlite/sqlite_internal.h"

/* Frames (pages) committed to the WAL since the checkpointer was last woken
 * that wake it again: SQLite's own autocheckpoint default. Counted from the
 * last wake, not from the WAL's start: the WAL seldom restarts under load (see
 * below), and "the WAL holds 1,000 frames" then woke it after every commit, a
 * checkpoint and an fdatasync of the database for each (16 % of the process's
 * CPU in a fan-out run, perf), copying the same hot pages again and again. Not
 * more: fewer wakes copy fewer pages (each once however many frames hold it),
 * but the forced copy below, on the store thread with writes held, copies what
 * the checkpointer has not, up to this many frames; at 4,000 the tenth
 * session's deciding run had the fan-out's p99 higher by half (PERFORMANCE.md,
 * "ordered ids"). */
#define CKPT_KICK_FRAMES 1000
/* The WAL restarts from its start only when a write begins with every frame
 * copied, which a checkpointer running beside a busy writer seldom sees; past
 * this size (64 MiB of 4 KiB pages) the store thread copies the remainder itself
 * (little, as the checkpointer has done the rest), and the WAL restarts. */
#define CKPT_FORCE_FRAMES 16384
/* That copy syncs the WAL and the database on the store thread, so no write
 * commits while it runs: 2-17 ms on this project's test machine, 478 ms once
 * while other processes wrote to the same disk (issue 21's groups of 100, where
 * it comes every ~6 s at 400 sends/s). One that holds writes longer than this
 * is logged, at most once a minute, with how many and the longest. */
#define CKPT_SLOW_MS 100
#define CKPT_SLOW_LOG_MS 60000

struct sqlite_ckpt_s {
  sqlite_db_t *db; /* the checkpointer's own connection */
  pthread_t thread;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int kick;      /* guarded by mu */
  int stop;      /* guarded by mu */
  int kicked_at; /* the WAL's frames at the last wake; store thread only */
  /* Forced copies slower than CKPT_SLOW_MS since the last log; store thread only. */
  int slow_count;
  double slow_max_ms;
  uint64_t slow_logged_ms;
};

static uint64_t now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (uint64_t)t.tv_sec * 1000u + (uint64_t)t.tv_nsec / 1000000u;
}

/* Store thread: the WAL's forced copy, timed. */
static void force_checkpoint(sqlite_ckpt_t *c, sqlite3 *db, const char *name) {
  struct timespec a, b;
  clock_gettime(CLOCK_MONOTONIC, &a);
  sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
  clock_gettime(CLOCK_MONOTONIC, &b);
  double ms = (double)(b.tv_sec - a.tv_sec) * 1e3 + (double)(b.tv_nsec - a.tv_nsec) / 1e6;
  if (ms < CKPT_SLOW_MS) return;
  c->slow_count++;
  if (ms > c->slow_max_ms) c->slow_max_ms = ms;
  uint64_t now = now_ms();
  if (c->slow_logged_ms && now - c->slow_logged_ms < CKPT_SLOW_LOG_MS) return;
  log_warn(
      "store: sqlite's WAL copy held writes for up to %.0f ms (%d times since the last "
      "such line): the disk is slow to sync",
      c->slow_max_ms, c->slow_count);
  c->slow_logged_ms = now;
  c->slow_count = 0;
  c->slow_max_ms = 0;
}

static void *ckpt_main(void *arg) {
  sqlite_ckpt_t *c = arg;
  pthread_mutex_lock(&c->mu);
  for (;;) {
    while (!c->kick && !c->stop) pthread_cond_wait(&c->cv, &c->mu);
    if (c->stop) break;
    c->kick = 0;
    pthread_mutex_unlock(&c->mu);
    /* PASSIVE never waits for the writer; SQLITE_BUSY (the store thread is
     * checkpointing itself) just means there is nothing to do now. */
    int rc = sqlite3_wal_checkpoint_v2(c->db->db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
    if (rc != SQLITE_OK && rc != SQLITE_BUSY)
      log_warn("store: sqlite checkpoint: %s", sqlite3_errstr(rc));
    pthread_mutex_lock(&c->mu);
  }
  pthread_mutex_unlock(&c->mu);
  return NULL;
}

/* Store thread, after each commit (a wal_hook, which replaces autocheckpoint). */
static int on_commit(void *arg, sqlite3 *db, const char *name, int frames) {
  sqlite_ckpt_t *c = arg;
  if (frames < c->kicked_at) c->kicked_at = 0; /* the WAL restarted */
  if (frames >= CKPT_FORCE_FRAMES) {
    force_checkpoint(c, db, name);
  } else if (frames - c->kicked_at >= CKPT_KICK_FRAMES) {
    c->kicked_at = frames;
    pthread_mutex_lock(&c->mu);
    c->kick = 1;
    pthread_cond_signal(&c->cv);
    pthread_mutex_unlock(&c->mu);
  }
  return SQLITE_OK;
}

sqlite_ckpt_t *sqlite_ckpt_start(sqlite_db_t *writer, const char *path) {
  sqlite_ckpt_t *c = calloc(1, sizeof(*c));
  if (!c) return NULL;
  pthread_mutex_init(&c->mu, NULL);
  pthread_cond_init(&c->cv, NULL);
  /* It reads no pages through its cache: the checkpoint copies frames directly. */
  if (!(c->db = sqlite_db_open(path)) || sqlite_db_exec_plain(c->db, "PRAGMA cache_size=16") != 0)
    goto fail;
  if (pthread_create(&c->thread, NULL, ckpt_main, c) != 0) goto fail;
  sqlite3_wal_hook(writer->db, on_commit, c);
  return c;
fail:
  log_warn("store: no sqlite checkpoint thread; the store thread checkpoints");
  sqlite_db_close(c->db);
  pthread_mutex_destroy(&c->mu);
  pthread_cond_destroy(&c->cv);
  free(c);
  return NULL;
}

void sqlite_ckpt_stop(sqlite_ckpt_t *c, sqlite_db_t *writer) {
  if (!c) return;
  sqlite3_wal_autocheckpoint(writer->db, CKPT_KICK_FRAMES); /* the default hook again */
  pthread_mutex_lock(&c->mu);
  c->stop = 1;
  pthread_cond_signal(&c->cv);
  pthread_mutex_unlock(&c->mu);
  pthread_join(c->thread, NULL);
  sqlite_db_close(c->db);
  pthread_mutex_destroy(&c->mu);
  pthread_cond_destroy(&c->cv);
  free(c);
}
