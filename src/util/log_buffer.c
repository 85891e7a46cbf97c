/* The access log's buffer: lines from the loop are appended to memory and a
 * thread of their own writes them to stderr, when the buffer passes
 * LOG_FLUSH_AT bytes, LOG_FLUSH_MS after the first unwritten line, and at exit.
 * The loop never waits for the sink: past the limit lines are counted and
 * dropped. Every write(2) of a log line (log.c's too) holds write_lock, so lines
 * never interleave. Process-wide state, as stderr is. */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "parley/log.h"
#include "util/log_internal.h"

#define LOG_FLUSH_AT (32 * 1024)
#define LOG_FLUSH_MS 50
#define LOG_CHUNK (64 * 1024) /* write_lock is released between chunks */
#define LOG_LIMIT_DEFAULT (1024 * 1024)

enum { WRITER_NONE, WRITER_RUNNING, WRITER_STOPPED };

static pthread_mutex_t write_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER; /* everything below */
static pthread_cond_t wake;    /* to the writer: lines, a full buffer, or stop */
static pthread_cond_t written; /* from the writer: a buffer went out */
static pthread_t writer;
static int state = WRITER_NONE;
static int stopping;  /* log_buffer_stop(): write what is left, then end */
static int hurry;     /* log_buffer_flush(): write without waiting LOG_FLUSH_MS */
static char *pending; /* lines not yet taken by the writer */
static size_t pending_len, pending_cap;
static size_t limit = LOG_LIMIT_DEFAULT;
static uint64_t taken, flushed; /* buffers taken by / written by the writer */
static _Atomic uint64_t dropped;

static void write_raw(const char *p, size_t len) {
  while (len > 0) {
    ssize_t n = write(STDERR_FILENO, p, len);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    p += n;
    len -= (size_t)n;
  }
}

void log_write_locked(const char *p, size_t len) {
  pthread_mutex_lock(&write_lock);
  write_raw(p, len);
  pthread_mutex_unlock(&write_lock);
}

/* Writes whole lines in chunks, so a warning from another thread waits for at
 * most one chunk. */
static void write_lines(const char *p, size_t len) {
  while (len > 0) {
    size_t n = len;
    if (n > LOG_CHUNK) {
      n = LOG_CHUNK;
      while (n > 0 && p[n - 1] != '\n') n--;
      if (n == 0) n = LOG_CHUNK;
    }
    log_write_locked(p, n);
    p += n;
    len -= n;
  }
}

static void deadline_in(struct timespec *ts, int ms) {
  clock_gettime(CLOCK_MONOTONIC, ts);
  ts->tv_nsec += (long)ms * 1000000L;
  ts->tv_sec += ts->tv_nsec / 1000000000L;
  ts->tv_nsec %= 1000000000L;
}

static void *writer_main(void *arg) {
  (void)arg;
  char *spare = NULL;
  size_t spare_cap = 0;
  pthread_mutex_lock(&lock);
  for (;;) {
    while (pending_len == 0 && !stopping) pthread_cond_wait(&wake, &lock);
    if (pending_len == 0) {
      /* Stopping, and everything is out: later lines are written at once. */
      state = WRITER_STOPPED;
      break;
    }
    /* The first unwritten line waits at most LOG_FLUSH_MS for company. */
    struct timespec until;
    deadline_in(&until, LOG_FLUSH_MS);
    while (!stopping && !hurry && pending_len < LOG_FLUSH_AT)
      if (pthread_cond_timedwait(&wake, &lock, &until) == ETIMEDOUT) break;
    char *out = pending;
    size_t out_len = pending_len, out_cap = pending_cap;
    pending = spare;
    pending_cap = spare_cap;
    pending_len = 0;
    taken++;
    pthread_mutex_unlock(&lock);
    write_lines(out, out_len);
    pthread_mutex_lock(&lock);
    spare = out;
    spare_cap = out_cap;
    flushed++;
    pthread_cond_broadcast(&written);
  }
  pthread_mutex_unlock(&lock);
  free(spare);
  return NULL;
}

static void stop_writer(void) { log_buffer_stop(); }

/* Under lock. 0 when the writer runs. */
static int start_writer(void) {
  if (state == WRITER_RUNNING) return 0;
  if (state == WRITER_STOPPED) return -1;
  pthread_condattr_t attr;
  pthread_condattr_init(&attr);
  pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
  pthread_cond_init(&wake, &attr);
  pthread_condattr_destroy(&attr);
  pthread_cond_init(&written, NULL);
  if (pthread_create(&writer, NULL, writer_main, NULL) != 0) {
    state = WRITER_STOPPED;
    return -1;
  }
  state = WRITER_RUNNING;
  atexit(stop_writer);
  return 0;
}

void log_buffer_line(const char *json, size_t len) {
  pthread_mutex_lock(&lock);
  if (start_writer() != 0) {
    /* Before start-up failed or after the writer stopped: the line goes now. */
    pthread_mutex_unlock(&lock);
    log_json_line(json, len);
    return;
  }
  if (pending_len + len + 1 > limit) {
    pthread_mutex_unlock(&lock);
    atomic_fetch_add(&dropped, 1);
    return;
  }
  if (pending_len + len + 1 > pending_cap) {
    size_t cap = pending_cap ? pending_cap : 64 * 1024;
    while (cap < pending_len + len + 1) cap *= 2;
    if (cap > limit) cap = limit;
    char *grown = realloc(pending, cap);
    if (!grown) {
      pthread_mutex_unlock(&lock);
      atomic_fetch_add(&dropped, 1);
      return;
    }
    pending = grown;
    pending_cap = cap;
  }
  memcpy(pending + pending_len, json, len);
  pending[pending_len + len] = '\n';
  size_t before = pending_len;
  pending_len += len + 1;
  /* The writer wants to hear of the first line (its timer starts) and of a full buffer. */
  if (before == 0 || (before < LOG_FLUSH_AT && pending_len >= LOG_FLUSH_AT))
    pthread_cond_signal(&wake);
  pthread_mutex_unlock(&lock);
}

void log_buffer_flush(void) {
  pthread_mutex_lock(&lock);
  if (state == WRITER_RUNNING) {
    uint64_t want = taken + (pending_len ? 1 : 0);
    hurry = 1;
    pthread_cond_signal(&wake);
    while (flushed < want) pthread_cond_wait(&written, &lock);
    hurry = 0;
  }
  pthread_mutex_unlock(&lock);
}

void log_buffer_stop(void) {
  pthread_mutex_lock(&lock);
  int running = state == WRITER_RUNNING && !stopping;
  if (running) {
    stopping = 1;
    pthread_cond_signal(&wake);
  }
  pthread_mutex_unlock(&lock);
  if (!running) return;
  pthread_join(writer, NULL);
  pthread_mutex_lock(&lock);
  free(pending);
  pending = NULL;
  pending_len = pending_cap = 0;
  pthread_mutex_unlock(&lock);
}

uint64_t log_buffer_dropped(void) { return atomic_load(&dropped); }

void log_buffer_set_limit(size_t bytes) {
  pthread_mutex_lock(&lock);
  limit = bytes;
  pthread_mutex_unlock(&lock);
}
