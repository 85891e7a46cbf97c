/* Argon2id password hashing and verification (libsodium crypto_pwhash_str) on
 * libuv's thread pool, so the loop never waits for it. At most a->parallel run
 * at once; the others wait in a FIFO here. A job owns copies of its inputs; the
 * worker touches only the job. Completions run on the loop thread. */
#include <stdlib.h>
#include <string.h>

#include "auth/auth_internal.h"

typedef struct pw_job_s {
  uv_work_t work;
  auth_t *auth;
  int verify; /* 0: hash, 1: verify against hash */
  int dummy;  /* verifying against the dummy hash: never a match */
  char *password;
  size_t len;
  char hash[crypto_pwhash_STRBYTES];
  unsigned long long opslimit;
  size_t memlimit;
  int status;
  auth_password_cb cb;
  void *ctx;
  struct pw_job_s *next; /* in the wait queue */
} pw_job_t;

int auth_password_parallelism(void) {
  unsigned n = uv_available_parallelism();
  return n > 1 ? (int)n - 1 : 1;
}

static void pw_work(uv_work_t *w) {
  pw_job_t *j = w->data;
  if (j->verify) {
    j->status = crypto_pwhash_str_verify(j->hash, j->password, j->len) == 0 ? 0 : 1;
  } else {
    j->status =
        crypto_pwhash_str(j->hash, j->password, j->len, j->opslimit, j->memlimit) == 0 ? 0 : -1;
  }
  sodium_memzero(j->password, j->len);
}

static void pw_job_free(pw_job_t *j) {
  sodium_memzero(j->password, j->len);
  free(j->password);
  sodium_memzero(j->hash, sizeof(j->hash));
  free(j);
}

static void pw_after(uv_work_t *w, int status);

static int pw_start(pw_job_t *j) {
  auth_t *a = j->auth;
  if (uv_queue_work(a->loop, &j->work, pw_work, pw_after) != 0) return -1;
  a->running++;
  return 0;
}

/* Starts waiting jobs while slots are free. A job that cannot start is called
 * back with an error (we are inside another job's completion, never inside the
 * caller's submit). */
static void pw_pump(auth_t *a) {
  while (a->running < a->parallel && a->queue_head) {
    pw_job_t *j = a->queue_head;
    a->queue_head = j->next;
    if (!a->queue_head) a->queue_tail = NULL;
    if (pw_start(j) != 0) {
      a->jobs--;
      j->cb(j->ctx, -1, NULL);
      pw_job_free(j);
    }
  }
}

/* Runs even when the job was cancelled (status UV_ECANCELED): the callback is
 * always called exactly once. */
static void pw_after(uv_work_t *w, int status) {
  pw_job_t *j = w->data;
  auth_t *a = j->auth;
  a->jobs--;
  a->running--;
  int result = status == 0 ? j->status : -1;
  if (j->dummy && result == 0) result = 1;
  j->cb(j->ctx, result, result == 0 && !j->verify ? j->hash : NULL);
  pw_job_free(j);
  pw_pump(a);
}

static int submit(auth_t *a, int verify, const char *hash, const char *password, size_t len,
                  auth_password_cb cb, void *ctx) {
  if (verify &&
      (!hash || strncmp(hash, "$argon2", 7) != 0 || strlen(hash) >= crypto_pwhash_STRBYTES))
    hash = NULL;
  if (a->jobs >= AUTH_MAX_PASSWORD_JOBS) return -1;
  pw_job_t *j = calloc(1, sizeof(*j));
  if (!j) return -1;
  j->password = malloc(len ? len : 1);
  if (!j->password) {
    free(j);
    return -1;
  }
  memcpy(j->password, password, len);
  j->len = len;
  j->auth = a;
  j->verify = verify;
  /* A stored hash that is not one (missing, cleared) costs the dummy's work. */
  j->dummy = verify && !hash;
  if (j->dummy) hash = a->dummy_hash;
  if (hash) memcpy(j->hash, hash, strlen(hash) + 1);
  j->opslimit = a->opslimit;
  j->memlimit = a->memlimit;
  j->cb = cb;
  j->ctx = ctx;
  j->work.data = j;
  if (a->running < a->parallel) {
    if (pw_start(j) != 0) {
      pw_job_free(j);
      return -1;
    }
  } else if (a->queue_tail) {
    a->queue_tail->next = j;
    a->queue_tail = j;
  } else {
    a->queue_head = a->queue_tail = j;
  }
  a->jobs++;
  return 0;
}

int auth_password_hash(auth_t *a, const char *password, size_t len, auth_password_cb cb,
                       void *ctx) {
  return submit(a, 0, NULL, password, len, cb, ctx);
}

int auth_password_verify(auth_t *a, const char *hash, const char *password, size_t len,
                         auth_password_cb cb, void *ctx) {
  return submit(a, 1, hash, password, len, cb, ctx);
}

int auth_password_jobs(const auth_t *a) { return a->jobs; }
