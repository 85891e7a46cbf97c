/* Allocation fault injection, linked into parleyd only by the fault build
 * (-DPARLEY_FAULT_INJECT=ON), and into every unit test named test_*_fault.c
 * (which arms it with fault_arm()): the linker redirects every malloc, calloc,
 * realloc, strdup and strndup of Parley's own code here (-Wl,--wrap), and the
 * shared libraries keep the real ones. PARLEY_FAULT chooses which calls fail:
 *   site-once      the first call from each call site fails, later ones pass:
 *                  a scenario run again and again fails every site it reaches
 *   nth:N          the Nth call fails
 *   random:SEED:P  each call fails with probability P per mille
 * Calls fail only after PARLEY_FAULT_AFTER_MS (default 1000) from the first
 * call, so start-up succeeds. Each failed site is appended to PARLEY_FAULT_LOG
 * as a code address (addr2line turns it into a line). Any thread. */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t n);
char *__real_strdup(const char *s);
char *__real_strndup(const char *s, size_t n);

#define SITES 8192 /* open addressing, no allocation of its own */

enum mode { OFF, SITE_ONCE, NTH, RANDOM };

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static int ready;
static enum mode mode;
static uint64_t nth, calls, armed_at_ms, rng;
static unsigned per_mille;
static uintptr_t seen[SITES];
static FILE *log_file;

static uint64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Sets the mode from spec ("off" or NULL turns failures off); the lock is held. */
static void set_mode(const char *m) {
  mode = OFF;
  calls = 0;
  if (!m) return;
  if (strcmp(m, "site-once") == 0) {
    mode = SITE_ONCE;
  } else if (strncmp(m, "nth:", 4) == 0) {
    mode = NTH;
    nth = strtoull(m + 4, NULL, 10);
  } else if (strncmp(m, "random:", 7) == 0) {
    char *end;
    rng = strtoull(m + 7, &end, 10) | 1;
    per_mille = *end == ':' ? (unsigned)strtoul(end + 1, NULL, 10) : 10;
    mode = RANDOM;
  }
}

/* Reads the settings on the first call; the lock is held. */
static void setup(void) {
  ready = 1;
  const char *m = getenv("PARLEY_FAULT");
  const char *after = getenv("PARLEY_FAULT_AFTER_MS");
  armed_at_ms = now_ms() + (after ? strtoull(after, NULL, 10) : 1000);
  if (!m) return;
  set_mode(m);
  const char *path = getenv("PARLEY_FAULT_LOG");
  if (path) log_file = fopen(path, "a");
  if (log_file) setvbuf(log_file, NULL, _IOLBF, 0);
}

/* For unit tests linked with this file: replaces the mode at once, armed now,
 * counting calls afresh (fault_arm("nth:1") fails the next allocation). */
void fault_arm(const char *spec) {
  pthread_mutex_lock(&lock);
  if (!ready) setup();
  set_mode(spec);
  armed_at_ms = now_ms();
  pthread_mutex_unlock(&lock);
}

/* 1 when this site is seen for the first time (and is now remembered). */
static int first_time(uintptr_t site) {
  size_t i = (site >> 2) % SITES;
  for (size_t probes = 0; probes < SITES; probes++, i = (i + 1) % SITES) {
    if (seen[i] == site) return 0;
    if (seen[i] == 0) {
      seen[i] = site;
      return 1;
    }
  }
  return 0; /* the table is full: no more new sites */
}

static int should_fail(uintptr_t site) {
  pthread_mutex_lock(&lock);
  if (!ready) setup();
  int fail = 0;
  if (mode != OFF && now_ms() >= armed_at_ms) {
    calls++;
    if (mode == SITE_ONCE) {
      fail = first_time(site);
    } else if (mode == NTH) {
      fail = calls == nth;
    } else {
      rng ^= rng << 13;
      rng ^= rng >> 7;
      rng ^= rng << 17;
      fail = rng % 1000 < per_mille;
    }
    if (fail && log_file) fprintf(log_file, "%#lx\n", (unsigned long)site);
  }
  pthread_mutex_unlock(&lock);
  return fail;
}

#define SITE ((uintptr_t)__builtin_return_address(0))

void *__wrap_malloc(size_t n) { return should_fail(SITE) ? NULL : __real_malloc(n); }

void *__wrap_calloc(size_t n, size_t size) {
  return should_fail(SITE) ? NULL : __real_calloc(n, size);
}

void *__wrap_realloc(void *p, size_t n) { return should_fail(SITE) ? NULL : __real_realloc(p, n); }

char *__wrap_strdup(const char *s) { return should_fail(SITE) ? NULL : __real_strdup(s); }

char *__wrap_strndup(const char *s, size_t n) {
  return should_fail(SITE) ? NULL : __real_strndup(s, n);
}
