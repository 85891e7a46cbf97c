/* The push sender's queue, in order per subscription and topic (queue.h).
 * An endpoint+topic is held under a 128-bit BLAKE2b of topic and endpoint (in
 * hex), not the endpoint itself (up to PUSH_ENDPOINT_MAX bytes): about 150
 * bytes an entry. Loop thread. */
#include "push/queue.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

struct pushq_key_s {
  char id[2 * 16 + 1];
  int64_t newest;      /* the highest seq queued, in flight or sent */
  int64_t touched;     /* when its last push ended */
  push_job_t *waiting; /* its job in the queue, not started */
  int in_flight;
  pushq_key_t *prev, *next; /* in the idle list while neither waiting nor in flight */
};

void pushq_init(pushq_t *q, size_t max, size_t keys_max, int64_t keep_ms) {
  memset(q, 0, sizeof(*q));
  q->max = max;
  q->keys_max = keys_max;
  q->keep_ms = keep_ms;
  strmap_init(&q->keys);
}

void push_job_free(push_job_t *j) {
  if (!j) return;
  free(j->endpoint);
  free(j->payload);
  sodium_memzero(j->auth, sizeof(j->auth));
  free(j);
}

static int free_key(const char *id, void *value, void *arg) {
  (void)id;
  (void)arg;
  free(value);
  return 1;
}

void pushq_free(pushq_t *q) {
  while (q->head) {
    push_job_t *j = q->head;
    q->head = j->next;
    push_job_free(j);
  }
  q->tail = NULL;
  q->queued = 0;
  strmap_sweep(&q->keys, free_key, NULL);
  strmap_free(&q->keys);
  q->idle_head = q->idle_tail = NULL;
}

static int idle(const pushq_key_t *k) { return !k->waiting && !k->in_flight; }

static void idle_unlink(pushq_t *q, pushq_key_t *k) {
  if (k->prev)
    k->prev->next = k->next;
  else
    q->idle_head = k->next;
  if (k->next)
    k->next->prev = k->prev;
  else
    q->idle_tail = k->prev;
  k->prev = k->next = NULL;
}

static void idle_append(pushq_t *q, pushq_key_t *k) {
  k->next = NULL;
  k->prev = q->idle_tail;
  if (q->idle_tail)
    q->idle_tail->next = k;
  else
    q->idle_head = k;
  q->idle_tail = k;
}

static void forget(pushq_t *q, pushq_key_t *k) {
  idle_unlink(q, k);
  strmap_del(&q->keys, k->id);
  free(k);
}

static void key_id(const push_job_t *j, char out[2 * 16 + 1]) {
  uint8_t h[16];
  crypto_generichash_state st;
  crypto_generichash_init(&st, NULL, 0, sizeof(h));
  crypto_generichash_update(&st, (const uint8_t *)j->topic, strlen(j->topic) + 1);
  crypto_generichash_update(&st, (const uint8_t *)j->endpoint, strlen(j->endpoint));
  crypto_generichash_final(&st, h, sizeof(h));
  sodium_bin2hex(out, 2 * 16 + 1, h, sizeof(h));
}

static void append(pushq_t *q, push_job_t *j) {
  j->next = NULL;
  if (q->tail)
    q->tail->next = j;
  else
    q->head = j;
  q->tail = j;
  q->queued++;
}

pushq_result_t pushq_put(pushq_t *q, push_job_t *j, int64_t now_ms) {
  /* Forgotten after keep_ms: the idle list is in the order they ended. */
  while (q->idle_head && q->idle_head->touched + q->keep_ms <= now_ms) forget(q, q->idle_head);
  j->key = NULL;
  if (j->seq <= 0 || !j->topic[0] || !j->endpoint) {
    if (q->queued >= q->max) goto full;
    append(q, j);
    return PUSHQ_QUEUED;
  }
  char id[2 * 16 + 1];
  key_id(j, id);
  pushq_key_t *k = strmap_get(&q->keys, id);
  if (k && j->seq <= k->newest) {
    /* A mention among the older messages still wakes the device, through the
     * newer push when that has not started. */
    if (k->waiting && j->urgent) k->waiting->urgent = 1;
    push_job_free(j);
    return PUSHQ_STALE;
  }
  if (k && k->waiting) {
    /* The newer message's push, in the older's place. */
    push_job_t *w = k->waiting;
    char *older = w->payload;
    w->payload = j->payload;
    j->payload = older;
    memcpy(w->p256dh, j->p256dh, sizeof(w->p256dh));
    memcpy(w->auth, j->auth, sizeof(w->auth));
    w->urgent = w->urgent || j->urgent;
    w->seq = k->newest = j->seq;
    push_job_free(j);
    return PUSHQ_COALESCED;
  }
  if (q->queued >= q->max) goto full;
  if (!k) {
    while (strmap_count(&q->keys) >= q->keys_max && q->idle_head) forget(q, q->idle_head);
    k = calloc(1, sizeof(*k));
    if (!k) goto nomem;
    memcpy(k->id, id, sizeof(k->id));
    if (strmap_put(&q->keys, k->id, k) != 0) {
      free(k);
      goto nomem;
    }
  } else if (idle(k)) {
    idle_unlink(q, k);
  }
  k->newest = j->seq;
  k->waiting = j;
  j->key = k;
  append(q, j);
  return PUSHQ_QUEUED;
full:
  push_job_free(j);
  return PUSHQ_FULL;
nomem:
  push_job_free(j);
  return PUSHQ_NOMEM;
}

push_job_t *pushq_next(pushq_t *q) {
  /* Passed over: jobs whose endpoint+topic has one in flight, at most one
   * each, so no more than are in flight. */
  push_job_t *prev = NULL, *j = q->head;
  while (j && j->key && j->key->in_flight) {
    prev = j;
    j = j->next;
  }
  if (!j) return NULL;
  if (prev)
    prev->next = j->next;
  else
    q->head = j->next;
  if (q->tail == j) q->tail = prev;
  j->next = NULL;
  q->queued--;
  if (j->key) {
    j->key->waiting = NULL;
    j->key->in_flight = 1;
  }
  return j;
}

void pushq_done(pushq_t *q, push_job_t *j, int64_t now_ms) {
  pushq_key_t *k = j->key;
  j->key = NULL;
  if (!k) return;
  k->in_flight = 0;
  k->touched = now_ms;
  if (idle(k)) idle_append(q, k);
}

size_t pushq_queued(const pushq_t *q) { return q->queued; }
size_t pushq_keys(const pushq_t *q) { return strmap_count(&q->keys); }
