/* The push sender's queue (src/push/queue.c): per subscription and topic the
 * push that goes last is the newest message's. An older push than one queued,
 * in flight or sent is dropped, a newer one replaces one waiting in its place,
 * none starts while one of its endpoint+topic is in flight (the others pass
 * it), and what is held of each endpoint+topic is bounded. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "push/queue.h"

static push_job_t *job(const char *endpoint, const char *topic, int64_t seq) {
  push_job_t *j = calloc(1, sizeof(*j));
  assert_non_null(j);
  j->endpoint = strdup(endpoint);
  char text[64];
  snprintf(text, sizeof(text), "%s#%lld", topic, (long long)seq);
  j->payload = strdup(text);
  snprintf(j->topic, sizeof(j->topic), "%s", topic);
  j->seq = seq;
  return j;
}

/* Takes the next job; its payload ("topic#seq") must be want, or none. */
static push_job_t *next_is(pushq_t *q, const char *want) {
  push_job_t *j = pushq_next(q);
  if (!want) {
    assert_null(j);
    return NULL;
  }
  assert_non_null(j);
  assert_string_equal(j->payload, want);
  return j;
}

static void done(pushq_t *q, push_job_t *j, int64_t now) {
  pushq_done(q, j, now);
  push_job_free(j);
}

static void older_is_stale_newer_replaces_the_waiting_one(void **state) {
  (void)state;
  pushq_t q;
  pushq_init(&q, 100, 100, 60000);
  const char *e = "https://push.example/a";
  /* The store's reads ended out of order: 3, then 2 (stale), then 5. */
  assert_int_equal(pushq_put(&q, job(e, "c1", 3), 0), PUSHQ_QUEUED);
  assert_int_equal(pushq_put(&q, job(e, "c2", 1), 0), PUSHQ_QUEUED);
  assert_int_equal(pushq_put(&q, job(e, "c1", 2), 0), PUSHQ_STALE);
  assert_int_equal(pushq_put(&q, job(e, "c1", 3), 0), PUSHQ_STALE);
  assert_int_equal(pushq_put(&q, job(e, "c1", 5), 0), PUSHQ_COALESCED);
  assert_int_equal(pushq_put(&q, job(e, "c1", 4), 0), PUSHQ_STALE);
  /* Another subscription's c1 is its own. */
  assert_int_equal(pushq_put(&q, job("https://push.example/b", "c1", 1), 0), PUSHQ_QUEUED);
  assert_int_equal(pushq_queued(&q), 3);
  /* c1's newest, in the place of the first: before c2's. */
  push_job_t *a = next_is(&q, "c1#5");
  push_job_t *b = next_is(&q, "c2#1");
  push_job_t *c = next_is(&q, "c1#1");
  next_is(&q, NULL);
  done(&q, a, 1);
  done(&q, b, 1);
  done(&q, c, 1);
  /* Sent: an older one than 5 stays stale. */
  assert_int_equal(pushq_put(&q, job(e, "c1", 4), 2), PUSHQ_STALE);
  assert_int_equal(pushq_queued(&q), 0);
  pushq_free(&q);
}

static void one_in_flight_per_endpoint_and_topic_others_pass(void **state) {
  (void)state;
  pushq_t q;
  pushq_init(&q, 100, 100, 60000);
  const char *e = "https://push.example/a";
  assert_int_equal(pushq_put(&q, job(e, "c1", 1), 0), PUSHQ_QUEUED);
  push_job_t *first = next_is(&q, "c1#1");
  /* While 1 is in flight, 2 waits and 3 replaces it; c2 goes past. */
  assert_int_equal(pushq_put(&q, job(e, "c1", 2), 0), PUSHQ_QUEUED);
  assert_int_equal(pushq_put(&q, job(e, "c2", 7), 0), PUSHQ_QUEUED);
  assert_int_equal(pushq_put(&q, job(e, "c1", 3), 0), PUSHQ_COALESCED);
  push_job_t *other = next_is(&q, "c2#7");
  next_is(&q, NULL); /* c1#3 must not start beside c1#1 */
  assert_int_equal(pushq_queued(&q), 1);
  done(&q, first, 1);
  push_job_t *second = next_is(&q, "c1#3");
  done(&q, second, 2);
  done(&q, other, 2);
  next_is(&q, NULL);
  pushq_free(&q);
}

static void coalescing_takes_the_newer_keys_and_keeps_urgency(void **state) {
  (void)state;
  pushq_t q;
  pushq_init(&q, 100, 100, 60000);
  push_job_t *j = job("https://push.example/a", "c1", 1);
  j->urgent = 1;
  assert_int_equal(pushq_put(&q, j, 0), PUSHQ_QUEUED);
  j = job("https://push.example/a", "c1", 2);
  memset(j->auth, 7, sizeof(j->auth));
  assert_int_equal(pushq_put(&q, j, 0), PUSHQ_COALESCED);
  j = next_is(&q, "c1#2");
  assert_int_equal(j->seq, 2);
  assert_true(j->urgent); /* the mention in the burst still wakes the device */
  assert_int_equal(j->auth[0], 7);
  done(&q, j, 1);
  pushq_free(&q);
}

static void a_stale_mention_makes_the_waiting_one_urgent(void **state) {
  (void)state;
  pushq_t q;
  pushq_init(&q, 100, 100, 60000);
  /* 4 in flight, 6 waiting; then the store's reads for 5 (a mention) end. */
  assert_int_equal(pushq_put(&q, job("https://push.example/a", "c1", 4), 0), PUSHQ_QUEUED);
  push_job_t *flying = next_is(&q, "c1#4");
  assert_int_equal(pushq_put(&q, job("https://push.example/a", "c1", 6), 0), PUSHQ_QUEUED);
  push_job_t *j = job("https://push.example/a", "c1", 5);
  j->urgent = 1;
  assert_int_equal(pushq_put(&q, j, 0), PUSHQ_STALE);
  assert_false(flying->urgent); /* started already: as it was */
  done(&q, flying, 1);
  j = next_is(&q, "c1#6");
  assert_true(j->urgent);
  done(&q, j, 2);
  /* Nothing waiting: a stale mention changes nothing (the newer one is sent). */
  j = job("https://push.example/a", "c1", 3);
  j->urgent = 1;
  assert_int_equal(pushq_put(&q, j, 3), PUSHQ_STALE);
  next_is(&q, NULL);
  pushq_free(&q);
}

static void the_bound_holds_and_coalescing_needs_no_room(void **state) {
  (void)state;
  pushq_t q;
  pushq_init(&q, 2, 100, 60000);
  const char *e = "https://push.example/a";
  assert_int_equal(pushq_put(&q, job(e, "c1", 1), 0), PUSHQ_QUEUED);
  assert_int_equal(pushq_put(&q, job(e, "c2", 1), 0), PUSHQ_QUEUED);
  assert_int_equal(pushq_put(&q, job(e, "c3", 1), 0), PUSHQ_FULL);
  assert_int_equal(pushq_put(&q, job(e, "c1", 2), 0), PUSHQ_COALESCED);
  /* A dropped push is not remembered: c3's 1 comes in once there is room. */
  done(&q, next_is(&q, "c1#2"), 1);
  assert_int_equal(pushq_put(&q, job(e, "c3", 1), 1), PUSHQ_QUEUED);
  /* Without a seq or topic: in order, never stale. */
  done(&q, next_is(&q, "c2#1"), 1);
  assert_int_equal(pushq_put(&q, job(e, "", 0), 1), PUSHQ_QUEUED);
  done(&q, next_is(&q, "c3#1"), 1);
  assert_int_equal(pushq_put(&q, job(e, "", 0), 1), PUSHQ_QUEUED);
  done(&q, next_is(&q, "#0"), 1);
  done(&q, next_is(&q, "#0"), 1);
  pushq_free(&q);
}

static void what_is_held_is_bounded_and_forgotten(void **state) {
  (void)state;
  pushq_t q;
  pushq_init(&q, 100, 3, 1000);
  const char *e = "https://push.example/a";
  /* c1 in flight and c2 waiting are held whatever the cap. */
  assert_int_equal(pushq_put(&q, job(e, "c1", 5), 0), PUSHQ_QUEUED);
  push_job_t *c1 = next_is(&q, "c1#5");
  assert_int_equal(pushq_put(&q, job(e, "c2", 5), 0), PUSHQ_QUEUED);
  char topic[8];
  for (int i = 0; i < 10; i++) {
    snprintf(topic, sizeof(topic), "t%d", i);
    assert_int_equal(pushq_put(&q, job(e, topic, 1), 10), PUSHQ_QUEUED);
    push_job_t *j = pushq_next(&q);
    assert_non_null(j);
    if (j->topic[0] == 'c') { /* c2 first */
      done(&q, j, 10);
      j = pushq_next(&q);
    }
    done(&q, j, 10 + i);
    assert_true(pushq_keys(&q) <= 3);
  }
  /* c1, in flight all along, is still known: its older push is stale. */
  assert_int_equal(pushq_put(&q, job(e, "c1", 4), 20), PUSHQ_STALE);
  /* The least recently used idle ones went first: t9 is held, t0 is not. */
  assert_int_equal(pushq_put(&q, job(e, "t9", 1), 20), PUSHQ_STALE);
  assert_int_equal(pushq_put(&q, job(e, "t0", 1), 20), PUSHQ_QUEUED);
  done(&q, next_is(&q, "t0#1"), 30);
  done(&q, c1, 30);
  /* keep_ms after their last push ended, all are forgotten. */
  assert_int_equal(pushq_put(&q, job(e, "c1", 4), 1030), PUSHQ_QUEUED);
  assert_int_equal(pushq_keys(&q), 1);
  pushq_free(&q);
}

int main(void) {
  if (sodium_init() < 0) return 1;
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(older_is_stale_newer_replaces_the_waiting_one),
      cmocka_unit_test(one_in_flight_per_endpoint_and_topic_others_pass),
      cmocka_unit_test(coalescing_takes_the_newer_keys_and_keeps_urgency),
      cmocka_unit_test(a_stale_mention_makes_the_waiting_one_urgent),
      cmocka_unit_test(the_bound_holds_and_coalescing_needs_no_room),
      cmocka_unit_test(what_is_held_is_bounded_and_forgotten),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
