/* The push sender: the VAPID key, a queue of pushes (bounded by
 * push_queue_max; in order per subscription and conversation, queue.h) and at
 * most push_concurrency requests in flight through app->http with the SSRF
 * guard (push_allow lifts it per host[:port]). Each push is encrypted for its
 * subscription (RFC 8291) and signed (RFC 8292) as it starts; a 404 or 410
 * removes the subscription. Loop thread. */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "parley/absent.h"
#include "parley/addrguard.h"
#include "parley/bus.h"
#include "parley/httpc.h"
#include "parley/log.h"
#include "parley/metrics.h"
#include "parley/store.h"
#include "parley/util.h"
#include "push/push_crypto.h"
#include "push/queue.h"
#include "push/rules.h"
#include "push/sender.h"
#include "push/vapid.h"

/* A VAPID token lives this long (RFC 8292: at most 24 hours). */
#define VAPID_TTL_S (12 * 3600)
#define PUSH_MAX_RESPONSE 4096
/* Users known to have no subscription (push_sub_absent): at most this many,
 * all asked again after NOSUBS_TTL_MS in case a subscription went unheard. */
#define NOSUBS_MAX 65536
#define NOSUBS_TTL_MS 60000
/* The newest seq pushed per subscription and conversation (queue.h): about
 * ORDER_MAX held (some 150 bytes each: 2.5 MB), each forgotten ORDER_KEEP_MS
 * after its last push ended. Forgetting one only matters while an older
 * message's push for it is still on its way through notify.c's three store
 * reads, which take milliseconds (MongoDB's give up after store_timeout_ms,
 * 5 s by default and 10 minutes at most): to come last it must outlast
 * ORDER_KEEP_MS, or ORDER_MAX pushes to other subscriptions or conversations
 * ending meanwhile. Then it is one push out of order, as before this was
 * held, not one lost. */
#define ORDER_MAX 16384
#define ORDER_KEEP_MS (10 * 60 * 1000)

typedef push_job_t job_t;

struct push_s {
  app_t *app;
  vapid_t *vapid;
  pushq_t queue;
  int in_flight;
  absent_t nosubs; /* users a PUSH_SUB_LIST found without a subscription */
};

push_t *push_new(app_t *app) {
  push_t *p = calloc(1, sizeof(*p));
  if (!p) return NULL;
  p->app = app;
  absent_init(&p->nosubs, NOSUBS_MAX, NOSUBS_TTL_MS);
  size_t waiting = app->cfg.push_queue_max > 0 ? (size_t)app->cfg.push_queue_max : 0;
  pushq_init(&p->queue, waiting, ORDER_MAX, ORDER_KEEP_MS);
  p->vapid = vapid_load(app->cfg.vapid_private_key, app->cfg.data_dir);
  if (!p->vapid) {
    free(p);
    return NULL;
  }
  return p;
}

void push_free(push_t *p) {
  if (!p) return;
  pushq_free(&p->queue);
  vapid_free(p->vapid);
  absent_free(&p->nosubs);
  free(p);
}

const char *push_vapid_public(const push_t *p) { return vapid_public_b64(p->vapid); }
size_t push_queued(const push_t *p) { return pushq_queued(&p->queue); }
int push_in_flight(const push_t *p) { return p->in_flight; }
int push_preview_on(const push_t *p) { return strcmp(p->app->cfg.push_preview, "on") == 0; }

absent_t *push_sub_absent(push_t *p) { return &p->nosubs; }

void push_forget_subs(push_t *p, const char *user_id) {
  if (p) absent_forget(&p->nosubs, user_id);
}

void push_subscribed(app_t *app, const char *user_id) {
  if (!user_id) return;
  push_forget_subs(app->push, user_id);
  /* Every instance (this one too, again) forgets the user's "none": at once
   * here, on the others as the bus brings it. */
  if (app->bus && bus_publish(app->bus, PUSH_SUBSCRIBED_CHANNEL, user_id, strlen(user_id)) != 0)
    log_warn("push: the bus is down; other instances push to the new subscription within %d s",
             NOSUBS_TTL_MS / 1000);
}

static int unb64(const char *s, uint8_t *out, size_t n) {
  size_t got = 0;
  return s &&
                 sodium_base642bin(out, n, s, strlen(s), NULL, &got, NULL,
                                   sodium_base64_VARIANT_URLSAFE_NO_PADDING) == 0 &&
                 got == n
             ? 0
             : -1;
}

static void pump(push_t *p);

static void on_removed(void *ctx, int status, json_t *result) {
  (void)ctx;
  if (status != STORE_OK && status != STORE_ENOTFOUND)
    log_warn("push: cannot remove an expired subscription (store status %d)", status);
  json_decref(result);
}

static void on_sent(void *ctx, const httpc_response_t *res) {
  job_t *j = ctx;
  push_t *p = j->owner;
  app_t *app = p->app;
  p->in_flight--;
  pushq_done(&p->queue, j, (int64_t)uv_now(app->loop));
  if (res->status == 404 || res->status == 410) {
    /* The subscription expired or was withdrawn (RFC 8030, section 7.3). */
    log_info("push: the push service answered %d: subscription removed", res->status);
    if (app->store && !app->shutting_down)
      store_call(app->store, PUSH_SUB_DELETE, json_pack("{s:s}", "endpoint", j->endpoint),
                 on_removed, NULL);
  } else if (res->status < 200 || res->status > 299) {
    log_warn("push: not delivered (%d%s%s)", res->status, res->error ? ", " : "",
             res->error ? res->error : "");
  }
  push_job_free(j);
  if (!app->shutting_down) pump(p);
}

/* An urgent push is for a message that mentions the user (notify.c), or stands
 * for one it replaced or made stale that did (queue.h): its payload says so, as
 * its Urgency does. Left as it was when memory runs out. */
static void mention_folded(job_t *j) {
  char *text = j->urgent ? push_payload_mentioning(j->payload) : NULL;
  if (!text) return;
  free(j->payload);
  j->payload = text;
}

/* Encrypts, signs and sends j; returns 0 (on_sent will run) or -1. */
static int start(push_t *p, job_t *j) {
  app_t *app = p->app;
  mention_folded(j);
  uint8_t body[PUSH_RECORD_SIZE];
  size_t blen = 0, plen = strlen(j->payload);
  char authz[2048], ttl[48], urgency[32], topic[48];
  if (push_encrypt(j->p256dh, j->auth, (const uint8_t *)j->payload, plen, NULL, NULL, body,
                   &blen) != 0)
    return -1;
  char value[1900];
  if (vapid_authorization(p->vapid, j->endpoint, app->cfg.vapid_subject,
                          util_now_ms() / 1000 + VAPID_TTL_S, value, sizeof(value)) < 0)
    return -1;
  snprintf(authz, sizeof(authz), "Authorization: %s", value);
  snprintf(ttl, sizeof(ttl), "TTL: %d", app->cfg.push_ttl_s);
  snprintf(urgency, sizeof(urgency), "Urgency: %s", j->urgent ? "high" : "normal");
  snprintf(topic, sizeof(topic), "Topic: %s", j->topic);
  const char *headers[] = {authz,
                           ttl,
                           urgency,
                           topic,
                           "Content-Encoding: aes128gcm",
                           "Content-Type: application/octet-stream",
                           NULL};
  httpc_request_t req = {.method = "POST",
                         .url = j->endpoint,
                         .headers = headers,
                         .body = (const char *)body,
                         .body_len = blen,
                         .timeout_ms = app->cfg.push_timeout_ms,
                         .max_response = PUSH_MAX_RESPONSE,
                         .check = addrguard_check,
                         .check_ctx = (void *)app->cfg.push_allow};
  if (httpc_request(app->http, &req, on_sent, j) != 0) return -1;
  p->in_flight++;
  return 0;
}

static void pump(push_t *p) {
  job_t *j;
  while (p->in_flight < p->app->cfg.push_concurrency && p->app->http &&
         (j = pushq_next(&p->queue))) {
    if (start(p, j) != 0) {
      log_warn("push: cannot send a push");
      pushq_done(&p->queue, j, (int64_t)uv_now(p->app->loop));
      push_job_free(j);
    }
  }
}

int push_enqueue(push_t *p, const json_t *sub, json_t *payload, const char *topic, int64_t seq,
                 int urgent) {
  app_t *app = p->app;
  job_t *j = NULL;
  char *text = payload ? json_dumps(payload, JSON_COMPACT) : NULL;
  json_decref(payload);
  if (!text || strlen(text) > PUSH_PLAINTEXT_MAX) goto drop;
  j = calloc(1, sizeof(*j));
  const char *endpoint = json_string_value(json_object_get(sub, "endpoint"));
  if (!j || !endpoint ||
      unb64(json_string_value(json_object_get(sub, "p256dh")), j->p256dh, sizeof(j->p256dh)) != 0 ||
      unb64(json_string_value(json_object_get(sub, "auth")), j->auth, sizeof(j->auth)) != 0 ||
      !(j->endpoint = strdup(endpoint)))
    goto drop;
  j->owner = p;
  j->payload = text;
  j->seq = seq;
  j->urgent = urgent;
  snprintf(j->topic, sizeof(j->topic), "%s", topic ? topic : "");
  switch (pushq_put(&p->queue, j, (int64_t)uv_now(app->loop))) {
    case PUSHQ_QUEUED:
      break;
    case PUSHQ_COALESCED:
      if (app->metrics) app->metrics->push_coalesced++;
      return 0;
    case PUSHQ_STALE:
      if (app->metrics) app->metrics->push_stale++;
      return 0;
    case PUSHQ_FULL:
      log_warn("push: %zu pushes waiting already: one dropped", pushq_queued(&p->queue));
      return -1;
    case PUSHQ_NOMEM:
      log_warn("push: out of memory: one push dropped");
      return -1;
  }
  pump(p);
  return 0;
drop:
  if (j) j->payload = NULL;
  push_job_free(j);
  free(text);
  return -1;
}
