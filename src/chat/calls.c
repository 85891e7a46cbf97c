/* calls: ring timeouts, lease renewals and the sweep of lost calls, and the
 * history message every ended call leaves (calls.h). One timer ticks every
 * second; the calls this instance owns are a small array. Loop thread. */
#include "chat/calls.h"

#include <stdlib.h>
#include <string.h>

#include "chat/fanout.h"
#include "parley/log.h"
#include "parley/store.h"
#include "parley/util.h"

#define TICK_MS 1000
#define RENEW_EVERY_TICKS (CALLS_LEASE_MS / 3 / TICK_MS)
#define SWEEP_LIMIT 100

typedef struct owned_s {
  char id[25];
  int64_t ring_until_ms; /* 0 once it is no longer ringing here */
} owned_t;

struct calls_s {
  app_t *app;
  uv_timer_t timer;
  int stopped;
  unsigned ticks;
  int sweeping, renewing;
  owned_t *owned;
  size_t n;
};

void calls_tell_both(app_t *app, const json_t *call, const char *type, const json_t *extra) {
  json_t *frame = json_pack("{s:s, s:O, s:O}", "type", type, "call_id", json_object_get(call, "id"),
                            "conversation_id", json_object_get(call, "conversation_id"));
  json_t *to =
      json_pack("[O, O]", json_object_get(call, "caller_id"), json_object_get(call, "callee_id"));
  if (frame && extra) json_object_update(frame, (json_t *)extra);
  if (frame && to) fanout_event(app, frame, to, NULL);
  json_decref(frame);
  json_decref(to);
}

static void on_recorded(void *ctx, int status, json_t *result) {
  app_t *app = ctx;
  if (status != STORE_OK)
    log_warn("calls: a call's history message was not stored (%d)", status);
  else if (json_is_true(json_object_get(result, "created")))
    fanout_message_new(app, json_object_get(result, "message"),
                       json_object_get(result, "participant_ids"), NULL, 0, NULL);
  json_decref(result);
}

void calls_record(app_t *app, const json_t *call, const char *status) {
  json_t *answered = json_object_get(call, "answered_at_ms");
  json_t *rec = json_pack("{s:O, s:O, s:s}", "id", json_object_get(call, "id"), "media",
                          json_object_get(call, "media"), "status",
                          json_is_integer(answered) ? "ended" : status);
  if (!rec) return;
  if (json_is_integer(answered)) {
    json_int_t d =
        json_integer_value(json_object_get(call, "ended_at_ms")) - json_integer_value(answered);
    json_object_set_new(rec, "duration_ms", json_integer(d > 0 ? d : 0));
  }
  /* One per call: the call id is the client_id, so a retry stores nothing new. */
  json_t *params = json_pack("{s:O, s:O, s:n, s:O, s:s, s:{s:o}}", "conversation_id",
                             json_object_get(call, "conversation_id"), "sender_id",
                             json_object_get(call, "caller_id"), "text", "client_id",
                             json_object_get(call, "id"), "source", "web", "payload", "call", rec);
  if (!params || !app->store || store_call(app->store, MSG_INSERT, params, on_recorded, app) != 0)
    log_warn("calls: a call's history message could not be queued");
}

int calls_track(calls_t *c, const char *id) {
  if (!c || c->n >= CALLS_LOCAL_MAX) return -1;
  if (!c->owned) c->owned = calloc(CALLS_LOCAL_MAX, sizeof(*c->owned));
  if (!c->owned) return -1;
  owned_t *o = &c->owned[c->n++];
  snprintf(o->id, sizeof(o->id), "%s", id);
  o->ring_until_ms = util_now_ms() + c->app->cfg.call_ring_timeout_ms;
  return 0;
}

static void drop(calls_t *c, const char *id) {
  for (size_t i = 0; i < c->n; i++)
    if (strcmp(c->owned[i].id, id) == 0) {
      c->owned[i] = c->owned[--c->n];
      return;
    }
}

/* ---- the ring timeout ---- */

typedef struct ring_s {
  calls_t *c;
  char id[25];
} ring_t;

static void on_timed_out(void *ctx, int status, json_t *result) {
  ring_t *r = ctx;
  if (status == STORE_OK) {
    calls_record(r->c->app, result, "missed");
    json_t *why = json_pack("{s:s}", "reason", "timeout");
    calls_tell_both(r->c->app, result, "call.hangup", why);
    json_decref(why);
  }
  /* ECONFLICT: answered or ended meanwhile; an answered call stays owned. */
  if (status != STORE_ECONFLICT) drop(r->c, r->id);
  json_decref(result);
  free(r);
}

static void ring_timeouts(calls_t *c, int64_t now) {
  for (size_t i = 0; i < c->n; i++) {
    owned_t *o = &c->owned[i];
    if (!o->ring_until_ms || o->ring_until_ms > now) continue;
    o->ring_until_ms = 0;
    ring_t *r = calloc(1, sizeof(*r));
    if (!r) continue;
    r->c = c;
    memcpy(r->id, o->id, sizeof(r->id));
    if (store_call(c->app->store, CALL_SET_STATE,
                   json_pack("{s:s, s:[s], s:s, s:I}", "id", o->id, "from", "ringing", "state",
                             "ended", "now_ms", (json_int_t)now),
                   on_timed_out, r) != 0)
      free(r);
  }
}

/* ---- renewals and the sweep ---- */

static void on_renewed(void *ctx, int status, json_t *result) {
  calls_t *c = ctx;
  c->renewing = 0;
  json_t *live = json_object_get(result, "live");
  if (status == STORE_OK && json_is_array(live)) {
    /* What is not live any more ended elsewhere: no longer ours to renew. */
    for (size_t i = 0; i < c->n;) {
      int found = 0;
      size_t k;
      json_t *v;
      json_array_foreach(live, k, v) if (strcmp(json_string_value(v), c->owned[i].id) == 0) found =
          1;
      if (found)
        i++;
      else
        c->owned[i] = c->owned[--c->n];
    }
  }
  json_decref(result);
}

static void renew(calls_t *c, int64_t now) {
  if (c->renewing || c->n == 0) return;
  json_t *ids = json_array();
  for (size_t i = 0; i < c->n; i++) json_array_append_new(ids, json_string(c->owned[i].id));
  c->renewing = 1;
  if (store_call(
          c->app->store, CALL_RENEW,
          json_pack("{s:o, s:I}", "ids", ids, "lease_until_ms", (json_int_t)(now + CALLS_LEASE_MS)),
          on_renewed, c) != 0)
    c->renewing = 0;
}

static void on_swept(void *ctx, int status, json_t *result) {
  calls_t *c = ctx;
  c->sweeping = 0;
  json_t *calls = json_object_get(result, "calls"), *call;
  size_t i;
  if (status == STORE_OK && json_array_size(calls) > 0) {
    log_warn("calls: %zu call(s) of a stopped instance ended", json_array_size(calls));
    json_t *why = json_pack("{s:s}", "reason", "lost");
    json_array_foreach(calls, i, call) {
      calls_record(c->app, call, "missed");
      calls_tell_both(c->app, call, "call.hangup", why);
    }
    json_decref(why);
  }
  json_decref(result);
}

static void sweep(calls_t *c, int64_t now) {
  if (c->sweeping) return;
  c->sweeping = 1;
  if (store_call(c->app->store, CALL_SWEEP,
                 json_pack("{s:I, s:i}", "now_ms", (json_int_t)now, "limit", SWEEP_LIMIT), on_swept,
                 c) != 0)
    c->sweeping = 0;
}

static void on_tick(uv_timer_t *t) {
  calls_t *c = t->data;
  if (c->stopped || !c->app->store) return;
  int64_t now = util_now_ms();
  ring_timeouts(c, now);
  if (++c->ticks % RENEW_EVERY_TICKS == 0) {
    renew(c, now);
    sweep(c, now);
  }
}

calls_t *calls_new(app_t *app) {
  calls_t *c = calloc(1, sizeof(*c));
  if (!c) return NULL;
  c->app = app;
  uv_timer_init(app->loop, &c->timer);
  c->timer.data = c;
  uv_timer_start(&c->timer, on_tick, TICK_MS, TICK_MS);
  return c;
}

void calls_stop(calls_t *c) {
  if (!c || c->stopped) return;
  c->stopped = 1;
  uv_timer_stop(&c->timer);
  uv_close((uv_handle_t *)&c->timer, NULL);
}

void calls_free(calls_t *c) {
  if (!c) return;
  free(c->owned);
  free(c);
}
