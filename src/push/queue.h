/* The push sender's queue (inside the push module), in order per
 * subscription and topic. A push service keeps only the last push it
 * received per subscription and Topic (RFC 8030, section 5.4), so for each
 * endpoint+topic the last one sent must be the newest message's (the
 * highest seq of its conversation), though notify.c's store reads end in any
 * order (MongoDB's run on libuv's pool) and several pushes are in flight at
 * once:
 * - a push older than (or as old as) one queued, in flight or sent for its
 *   endpoint+topic is dropped (stale; when urgent, the one waiting, if any,
 *   becomes urgent);
 * - a newer one while one waits for it takes the waiting one's place in the
 *   queue (coalesced: the payload, keys, seq; Urgency high if either was);
 * - a push does not start while one of its endpoint+topic is in flight; the
 *   others go on past it, and there are at most as many of those passed over
 *   as there are pushes in flight (one waits per endpoint+topic).
 * What is held of each endpoint+topic (its newest seq) is forgotten keep_ms
 * after its last push ended, and past keys_max the least recently used is,
 * when nothing of it is queued or in flight: an older push is then no longer
 * known stale only if its store reads took longer than that (push.c says
 * why the bound is safe). Pushes without a seq or topic are queued as they
 * come. Embed a pushq_t and treat its fields as private. Loop thread. */
#ifndef PARLEY_PUSH_QUEUE_H
#define PARLEY_PUSH_QUEUE_H

#include <stddef.h>
#include <stdint.h>

#include "parley/strmap.h"
#include "push/push_crypto.h"

typedef struct pushq_key_s pushq_key_t;

typedef struct push_job_s {
  struct push_job_s *next;
  pushq_key_t *key; /* its endpoint+topic's (private); NULL: unordered */
  void *owner;      /* the sender's (push_t) */
  char *endpoint;
  char *payload;
  char topic[33];
  int64_t seq; /* the message's in its conversation; 0: unordered */
  int urgent;
  uint8_t p256dh[PUSH_P256_PUBLIC_LEN];
  uint8_t auth[PUSH_AUTH_LEN];
} push_job_t;

typedef struct pushq_s {
  push_job_t *head, *tail;
  size_t queued, max;
  strmap_t keys;                      /* hash of topic+endpoint -> pushq_key_t */
  pushq_key_t *idle_head, *idle_tail; /* nothing queued or in flight: least recent first */
  size_t keys_max;
  int64_t keep_ms;
} pushq_t;

typedef enum {
  PUSHQ_QUEUED,    /* at the queue's tail */
  PUSHQ_COALESCED, /* into the one waiting for its endpoint+topic */
  PUSHQ_STALE,     /* dropped: a newer one was queued, in flight or sent */
  PUSHQ_FULL,      /* dropped: max waiting already */
  PUSHQ_NOMEM      /* dropped */
} pushq_result_t;

/* An empty queue of at most max waiting, holding about keys_max
 * endpoint+topics (more only while they have pushes queued or in flight),
 * each forgotten keep_ms after its last push ended. */
void pushq_init(pushq_t *q, size_t max, size_t keys_max, int64_t keep_ms);
/* Frees the jobs waiting and what is held; those in flight are the caller's
 * (pushq_done them first, or free them with push_job_free after). */
void pushq_free(pushq_t *q);
/* Frees a job that is in no queue (NULL is fine). */
void push_job_free(push_job_t *j);
/* Hands j over (always taken: queued, merged or freed); see above. */
pushq_result_t pushq_put(pushq_t *q, push_job_t *j, int64_t now_ms);
/* The first waiting job whose endpoint+topic has none in flight, out of the
 * queue and now in flight; NULL when there is none. */
push_job_t *pushq_next(pushq_t *q);
/* j (from pushq_next) ended, sent or not; still the caller's to free. */
void pushq_done(pushq_t *q, push_job_t *j, int64_t now_ms);
/* Jobs waiting; endpoint+topics held (tests, metrics). */
size_t pushq_queued(const pushq_t *q);
size_t pushq_keys(const pushq_t *q);

#endif
