/* The flow runner (see runner.h). A run is a small async state machine:
 * step the engine, perform the one action it returned, step again; it stops at
 * a delay (persisted as a scheduled step and a saved run) or at the end, and is
 * saved with its trace. A timer claims due steps (deleting the step claims it,
 * so two instances never resume the same run) and resumes them. Loop thread. */
#include "flows/runner.h"

#include <assert.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chat/fanout.h"
#include "flows/tz.h"
#include "instagram/outbox.h"
#include "instagram/takeover.h"
#include "parley/absent.h"
#include "parley/addrguard.h"
#include "parley/bus.h"
#include "parley/flows.h"
#include "parley/flows_stats.h"
#include "parley/httpc.h"
#include "parley/instagram.h"
#include "parley/log.h"
#include "parley/store.h"
#include "parley/strmap.h"
#include "parley/util.h"

#define POLL_MS 500
#define API_CALL_TIMEOUT_MS 5000
#define API_CALL_MAX_RESPONSE (64 * 1024)
#define WINDOW_MS (24LL * 3600 * 1000)
/* Each account's active flows (FLOW_LIST live) are held between messages,
 * dropped on every change to the owner's flows, here or (through the bus) on
 * another instance, and at most this long (a backstop). */
#define ACTIVE_TTL_MS 30000
#define ACTIVE_MAX 4096 /* accounts held; a full cache starts over */
/* Contacts no ask waits for (SCHED_TAKE_WAIT found none): not asked again
 * until an ask here or (through the bus) on another instance waits for one,
 * and at most this long. Bounded; a full set starts over. */
#define NOWAIT_TTL_MS 60000
#define NOWAIT_MAX 65536
/* A run's counters wait this long in memory to be added with others' in one
 * FLOW_STATS_INC a flow version; at most STATS_PENDING_MAX keys and contacts
 * wait, at shutdown none. */
#define STATS_FLUSH_MS 100
#define STATS_PENDING_MAX 20000
/* (flow, version, node, contact) known to be in the store's reached sets: not
 * sent again. Bounded; a full set starts over. */
#define REACHED_KNOWN_MAX 100000
/* Accounts' tokens opened (token_cipher -> token): a sealed token always opens
 * to the same token, and an account that changes its token stores a new
 * cipher (a new nonce), so an entry cannot be stale; the oldest makes room. */
#define TOKENS_MAX 256

typedef struct token_entry_s {
  char *cipher, *token;
} token_entry_t;

struct flow_runner_s {
  app_t *app;
  uv_timer_t timer;
  int timer_open;
  int runs;
  int polling;
  int claims;    /* SCHED_DELETE claims in flight: each may become a run */
  int counts;    /* FLOW_STATS_INC calls in flight */
  flow_tz_t *tz; /* the time zones read so far */
  /* owner_id -> {flows, at_ms}: the account's active flows as FLOW_LIST live
   * answered them; shared by the runs (never edited). */
  json_t *active;
  uint64_t active_gen; /* bumped by every change: a list read before one is not kept */
  absent_t nowait;     /* contact ids no ask waits for */
  /* Counters not yet stored: "<version> <flow_id>" -> {flow_id, version, inc,
   * reached: {node_id: {contact_id: true}}}; pending counts their keys and
   * contacts. */
  json_t *stats;
  size_t pending;
  json_t *known; /* "<flow_id> <version> <node_id> <contact_id>" -> true */
  uv_timer_t stats_timer;
  int stats_timer_open;
  int stopped;
  /* The opened tokens: ring[i] owns its cipher and token; tokens maps a
   * cipher to its ring entry. */
  strmap_t tokens;
  token_entry_t ring[TOKENS_MAX];
  size_t ring_next;
};

typedef struct run_s {
  flow_runner_t *r;
  json_t *flow;
  flow_graph_t *graph; /* flow indexed, built at its first step */
  json_t *account;     /* with token_cipher */
  json_t *contact;
  json_t *record;     /* the stored run */
  json_t *ctx;        /* {contact, message: {text}} */
  json_t *actions;    /* the current step's actions, performed in order */
  json_t *event;      /* what started it: the inbound event (flow_trigger_matches) */
  json_t *answer;     /* resuming an ask: the contact's answer (a string) */
  json_t *candidates; /* the flows whose trigger matched, by priority */
  json_t *skipped;    /* [{flow_id, reason}]: candidates run once / cooldown kept out */
  size_t cand;        /* the candidate being considered */
  uint64_t list_gen;  /* active_gen when FLOW_LIST was asked */
  uint64_t wait_gen;  /* absent_gen(nowait) when SCHED_TAKE_WAIT was asked */
  int asks;           /* the delay scheduled is an ask's wait for the contact */
  json_t *held;       /* tag and set_variable changes not stored yet: {add_tags, set_variables} */
  int ending;         /* save_and_end waits for the held changes */
  char *token;
  size_t counted;                  /* trace entries already in the flow's counters */
  int started;                     /* this piece started the run: "started" not yet counted */
  void (*then)(struct run_s *run); /* what follows the account's time zone being loaded */
} run_t;

static void advance(run_t *run);

/* The end of the contact's automation pause (a person took over the
 * conversation, instagram/takeover.h), or 0 when automation runs. */
static int64_t paused_until(const json_t *contact) {
  const char *until = json_string_value(json_object_get(contact, "automation_paused_until"));
  int64_t ms = 0;
  if (!until || util_parse_iso8601(until, &ms) != 0) return 0;
  return ms > util_now_ms() ? ms : 0;
}

static const char *sget(const json_t *o, const char *k) {
  return json_string_value(json_object_get(o, k));
}
static json_t *state_of(run_t *run) { return json_object_get(run->record, "state"); }

/* The run's flow indexed (flows.h): built once a run, so a step looks its
 * node and edge up without walking the flow's arrays. */
static const char *step(run_t *run, json_t *state) {
  if (!run->graph) run->graph = flow_graph_new(run->flow);
  if (!run->graph) return flow_step(run->flow, state, run->ctx, run->actions);
  return flow_graph_step(run->graph, state, run->ctx, run->actions);
}

static void resume(run_t *run, json_t *result) {
  if (!run->graph) run->graph = flow_graph_new(run->flow);
  if (!run->graph)
    flow_resume(run->flow, state_of(run), result, run->actions);
  else
    flow_graph_resume(run->graph, state_of(run), result, run->actions);
}

static run_t *run_new(flow_runner_t *r) {
  run_t *run = calloc(1, sizeof(*run));
  if (!run) return NULL;
  run->r = r;
  run->actions = json_array();
  r->runs++;
  return run;
}

static void run_free(run_t *run) {
  assert(run->r->runs > 0);
  run->r->runs--;
  flow_graph_free(run->graph);
  json_decref(run->flow);
  json_decref(run->account);
  json_decref(run->contact);
  json_decref(run->record);
  json_decref(run->ctx);
  json_decref(run->actions);
  json_decref(run->event);
  json_decref(run->answer);
  json_decref(run->candidates);
  json_decref(run->skipped);
  json_decref(run->held);
  if (run->token) {
    memset(run->token, 0, strlen(run->token));
    free(run->token);
  }
  free(run);
}

static int call(run_t *run, enum store_op op, json_t *params, store_cb cb) {
  int rc = store_call(run->r->app->store, op, params, cb, run);
  if (rc != 0) log_warn("flows: store refused %s; run stopped", store_op_name(op));
  return rc;
}

/* ---- counting (flow analytics) ---- */

/* One flow version's counters on their way to the store, and the reached
 * pairs that become known once they are stored. */
typedef struct count_s {
  flow_runner_t *r;
  json_t *known; /* keys of r->known */
} count_t;

static void counted(void *ctx, int status, json_t *result) {
  count_t *c = ctx;
  flow_runner_t *r = c->r;
  assert(r->counts > 0);
  r->counts--;
  if (status != STORE_OK) {
    log_warn("flows: a run's counters could not be stored (%d)", status);
  } else {
    size_t i;
    json_t *k;
    json_array_foreach(c->known, i, k) {
      if (json_object_size(r->known) >= REACHED_KNOWN_MAX) json_object_clear(r->known);
      json_object_set(r->known, json_string_value(k), json_true());
    }
  }
  json_decref(c->known);
  free(c);
  json_decref(result);
}

/* inc with the runs' ends last: a store writes the keys in order (MongoDB's
 * not in one transaction), so a reader that sees a run completed sees
 * everything it counted. */
static json_t *runs_last(json_t *inc) {
  static const char *const ends[] = {"completed", "failed", "step_limit", "output_limit"};
  json_t *out = json_object(), *v;
  const char *k;
  json_object_foreach(inc, k, v) {
    size_t i = 0;
    while (i < sizeof(ends) / sizeof(ends[0]) && strcmp(k, ends[i]) != 0) i++;
    if (i == sizeof(ends) / sizeof(ends[0])) json_object_set(out, k, v);
  }
  for (size_t i = 0; i < sizeof(ends) / sizeof(ends[0]); i++)
    if ((v = json_object_get(inc, ends[i]))) json_object_set(out, ends[i], v);
  return out;
}

/* Stores every counter waiting: one FLOW_STATS_INC a flow version. */
static void stats_flush(flow_runner_t *r) {
  const char *k;
  json_t *e;
  if (r->stats_timer_open) uv_timer_stop(&r->stats_timer);
  json_object_foreach(r->stats, k, e) {
    count_t *c = calloc(1, sizeof(*c));
    json_t *reached = json_object(), *known = json_array(), *set;
    const char *node;
    json_object_foreach(json_object_get(e, "reached"), node, set) {
      json_t *list = json_array();
      const char *contact;
      json_t *v;
      json_object_foreach(set, contact, v) {
        json_array_append_new(list, json_string(contact));
        json_array_append_new(known, json_pack("s++++++", sget(e, "flow_id"), " ",
                                               json_string_value(json_object_get(e, "vkey")), " ",
                                               node, " ", contact));
      }
      json_object_set_new(reached, node, list);
    }
    if (!c || !reached || !known) {
      free(c);
      json_decref(reached);
      json_decref(known);
      log_warn("flows: out of memory; a run's counters are lost");
      continue;
    }
    c->r = r;
    c->known = known;
    json_t *p = json_pack("{s:O, s:O, s:o, s:o}", "flow_id", json_object_get(e, "flow_id"),
                          "version", json_object_get(e, "version"), "inc",
                          runs_last(json_object_get(e, "inc")), "reached", reached);
    if (store_call(r->app->store, FLOW_STATS_INC, p, counted, c) == 0) {
      r->counts++;
    } else {
      log_warn("flows: store refused a run's counters");
      json_decref(c->known);
      free(c);
    }
  }
  json_object_clear(r->stats);
  r->pending = 0;
}

static void on_stats_timer(uv_timer_t *t) { stats_flush(t->data); }

void flow_runner_flush_stats(flow_runner_t *r) {
  if (r) stats_flush(r);
}

/* a, b, c and d (any may be NULL, then left out) joined by spaces into out
 * (size bytes, cut to fit), without snprintf's format parsing: a run names a
 * dozen counters as it ends. */
static void join(char *out, size_t size, const char *a, const char *b, const char *c,
                 const char *d) {
  const char *parts[4] = {a, b, c, d};
  size_t at = 0;
  for (int i = 0; i < 4; i++) {
    if (!parts[i]) continue;
    size_t n = strlen(parts[i]);
    if (at && at < size - 1) out[at++] = ' ';
    if (n > size - 1 - at) n = size - 1 - at;
    memcpy(out + at, parts[i], n);
    at += n;
  }
  out[at] = '\0';
}

/* Adds inc (taken) to the counters of the flow's version, the nodes reached
 * by contact (or NULL) counted once per contact; never holds up the run. The
 * counters wait in memory (STATS_FLUSH_MS) to be stored with others. */
static void count_inc(flow_runner_t *r, const json_t *flow, json_t *inc, const json_t *contact) {
  const char *id = json_string_value(json_object_get(flow, "id"));
  if (!id || json_object_size(inc) == 0) {
    json_decref(inc);
    return;
  }
  json_int_t version = json_integer_value(json_object_get(flow, "version"));
  char vkey[24], key[512];
  snprintf(vkey, sizeof(vkey), "%lld", (long long)version);
  join(key, sizeof(key), vkey, id, NULL, NULL);
  json_t *e = json_object_get(r->stats, key);
  if (!e) {
    e = json_pack("{s:s, s:I, s:s, s:{}, s:{}}", "flow_id", id, "version", version, "vkey", vkey,
                  "inc", "reached");
    if (!e || json_object_set_new(r->stats, key, e) != 0) {
      json_decref(inc);
      return;
    }
  }
  json_t *sum = json_object_get(e, "inc"), *reached = json_object_get(e, "reached"), *v;
  const char *k, *cid = json_string_value(json_object_get(contact, "id"));
  json_object_foreach(inc, k, v) {
    json_t *was = json_object_get(sum, k);
    if (!was) {
      r->pending++;
      json_object_set_new(sum, k, json_integer(json_integer_value(v)));
    } else {
      json_integer_set(was, json_integer_value(was) + json_integer_value(v));
    }
    if (!cid || strncmp(k, "node:", 5) != 0) continue;
    /* The contact reached the node: sent unless the store already has it. */
    char known[512];
    join(known, sizeof(known), id, vkey, k + 5, cid);
    if (json_object_get(r->known, known)) continue;
    json_t *set = json_object_get(reached, k + 5);
    if (!set) json_object_set_new(reached, k + 5, set = json_object());
    if (set && !json_object_get(set, cid)) {
      json_object_set_new(set, cid, json_true());
      r->pending++;
    }
  }
  json_decref(inc);
  if (r->stopped || r->pending >= STATS_PENDING_MAX)
    stats_flush(r);
  else if (!uv_is_active((uv_handle_t *)&r->stats_timer))
    uv_timer_start(&r->stats_timer, on_stats_timer, STATS_FLUSH_MS, 0);
}

/* What this piece of the run adds: the nodes it reached, its sends, its start
 * and its end. Called once per piece, as it is saved. */
static void count_piece(run_t *run) {
  json_t *st = state_of(run), *trace = json_object_get(st, "trace");
  char day[32];
  util_iso8601(util_now_ms(), day);
  day[10] = '\0';
  json_t *inc = flow_stats_delta(trace, run->counted, run->started, day, sget(st, "status"));
  run->counted = json_array_size(trace);
  run->started = 0;
  count_inc(run->r, run->flow, inc, run->contact);
}

void flow_runner_count_click(flow_runner_t *r, const json_t *flow, const char *payload) {
  const char *node = flow_stats_click_node(flow, payload);
  if (!node) return;
  char key[128];
  snprintf(key, sizeof(key), "click:%s", node);
  count_inc(r, flow, json_pack("{s:i}", key, 1), NULL);
}

/* ---- saving ---- */

static void saved_final(void *ctx, int status, json_t *result) {
  run_t *run = ctx;
  if (status != STORE_OK)
    log_warn("flows: cannot save run of flow %s (%d)", sget(run->flow, "id"), status);
  json_decref(result);
  run_free(run);
}

static int store_held(run_t *run);

/* Saves the run (its status mirrors the engine's) and ends this piece of it,
 * after the contact changes it holds. */
static void save_and_end(run_t *run) {
  if (run->held) {
    run->ending = 1;
    if (store_held(run) == 0) return;
  }
  json_t *st = state_of(run);
  json_object_set(run->record, "status", json_object_get(st, "status"));
  json_object_set(run->record, "trace", json_object_get(st, "trace"));
  count_piece(run);
  if (call(run, FLOW_RUN_SAVE, json_pack("{s:O, s:b}", "run", run->record, "brief", 1),
           saved_final) != 0)
    run_free(run);
}

static void fail_run(run_t *run, const char *why) {
  json_t *st = state_of(run);
  json_object_set_new(st, "status", json_string("failed"));
  json_object_set_new(st, "error", json_string(why)); /* kept with the run's state */
  json_object_set_new(run->record, "error", json_string(why));
  json_array_clear(run->actions);
  save_and_end(run);
}

/* ---- actions ---- */

static void action_done(run_t *run) {
  json_array_remove(run->actions, 0);
  advance(run);
}

/* A stored contact becomes the run's copy (templates read it); 0 when the
 * store refused the change (result released). */
static int take_contact(run_t *run, int status, json_t *result) {
  if (status != STORE_OK) {
    json_decref(result);
    return 0;
  }
  json_decref(run->contact);
  run->contact = result;
  json_object_set(run->ctx, "contact", result);
  return 1;
}

static void contact_updated(void *ctx, int status, json_t *result) {
  run_t *run = ctx;
  take_contact(run, status, result);
  action_done(run);
}

/* ---- the contact's tags and variables: held, stored together ---- */

/* The engine reads tags and variables from the run's state, so a run's tag
 * and set_variable actions in a row are held and stored in one CONTACT_UPDATE
 * before its next action of another kind, or its save; the run's copy of the
 * contact (templates read it) takes each at once, as the store does. A change
 * the store's bounds would refuse is not held: it is refused alone, as it was. */
static int hold(run_t *run, const json_t *a) {
  const char *type = sget(a, "type");
  int tag = strcmp(type, "tag") == 0;
  if (!tag && strcmp(type, "set_variable") != 0) return 0;
  json_t *contact = run->contact;
  const char *name = tag ? NULL : sget(a, "name");
  const json_t *t = json_object_get(a, "tag"), *value = json_object_get(a, "value");
  if (!json_is_object(contact) || (tag ? !json_is_string(t) : !name || !value)) return 0;
  json_t *tags = json_object_get(contact, "tags"), *vars = json_object_get(contact, "variables");
  if (tag) {
    json_t *have;
    size_t i;
    if (tags && !json_is_array(tags)) return 0;
    json_array_foreach(tags, i, have) if (json_equal(have, t)) return 1; /* a set: no change */
    if (json_array_size(tags) + 1 > CONTACT_TAGS_MAX) return 0;
  } else {
    if (vars && !json_is_object(vars)) return 0;
    if (!json_is_null(value) && !json_object_get(vars, name) &&
        json_object_size(vars) + 1 > CONTACT_VARS_MAX)
      return 0;
  }
  if (!run->held && !(run->held = json_pack("{s:[], s:{}}", "add_tags", "set_variables"))) return 0;
  if (tag) {
    if (!tags) json_object_set_new(contact, "tags", tags = json_array());
    json_array_append(tags, (json_t *)t);
    json_array_append(json_object_get(run->held, "add_tags"), (json_t *)t);
  } else {
    if (!vars) json_object_set_new(contact, "variables", vars = json_object());
    if (json_is_null(value))
      json_object_del(vars, name);
    else
      json_object_set(vars, name, (json_t *)value);
    json_object_set(json_object_get(run->held, "set_variables"), name, (json_t *)value);
  }
  return 1;
}

static void held_stored(void *ctx, int status, json_t *result) {
  run_t *run = ctx;
  if (!take_contact(run, status, result))
    log_warn("flows: a run's changes of the contact could not be stored (%d)", status);
  if (run->ending) {
    run->ending = 0;
    save_and_end(run);
  } else {
    advance(run);
  }
}

/* Stores the held changes; 0 when the store took the call (held_stored goes
 * on), -1 when it refused it (the changes are dropped, as one refused alone). */
static int store_held(run_t *run) {
  json_t *held = run->held;
  run->held = NULL;
  json_t *p = json_pack("{s:O, s:O}", "id", json_object_get(run->contact, "id"), "owner_id",
                        json_object_get(run->record, "owner_id"));
  /* The store's cached contact is found by it (no read before the write). */
  if (p && json_is_string(json_object_get(run->contact, "ig_user_id")))
    json_object_set(p, "ig_user_id", json_object_get(run->contact, "ig_user_id"));
  if (p && json_array_size(json_object_get(held, "add_tags")))
    json_object_set(p, "add_tags", json_object_get(held, "add_tags"));
  if (p && json_object_size(json_object_get(held, "set_variables")))
    json_object_set(p, "set_variables", json_object_get(held, "set_variables"));
  json_decref(held);
  return call(run, CONTACT_UPDATE, p, held_stored);
}

static void sent(void *ctx, const ig_sent_t *res) {
  run_t *run = ctx;
  if (!res->sent) {
    /* reconnect_needed, outside_messaging_window, unknown_outcome, Graph's code:
     * the run ends with it, nothing is retried. */
    fail_run(run, res->code ? res->code : "send failed");
    return;
  }
  if (res->status != STORE_OK)
    log_warn("flows: a sent reply could not be stored (%d)", res->status);
  action_done(run);
}

static int inside_window(const json_t *contact) {
  int64_t last = 0;
  const char *at = sget(contact, "last_inbound_at");
  return at && util_parse_iso8601(at, &last) == 0 && util_now_ms() - last <= WINDOW_MS;
}

static void perform_send(run_t *run, const json_t *a) {
  const char *comment = sget(a, "comment_id");
  /* A private reply to a comment needs no window (Meta allows one per comment). */
  if (!comment && !inside_window(run->contact)) {
    fail_run(run, "outside_messaging_window");
    return;
  }
  /* A client_id of its own: a person can retry it (the same client_id) if
   * Meta refuses it, and the outbox resends it whole. */
  char id[25], client_id[32];
  util_new_id(id);
  snprintf(client_id, sizeof(client_id), "flow-%s", id);
  if (ig_outbox_send_message(run->r->app, run->account, run->contact, run->token, sget(a, "text"),
                             json_object_get(a, "message"), comment, client_id, "flow", 0, NULL,
                             sent, run) != 0)
    fail_run(run, "cannot reach the Graph API");
}

/* The public reply to the comment that started the run: its outcome goes into
 * the trace of the run's start, and the run goes on either way. */
static void comment_replied(void *ctx, const graph_result_t *res) {
  run_t *run = ctx;
  json_t *start = json_object_get(state_of(run), "start");
  if (json_is_object(start))
    json_object_set_new(
        start, "public_reply",
        json_pack("{s:b, s:s?}", "ok", res->ok, "error", res->ok ? NULL : res->error));
  action_done(run);
}

static void perform_comment_reply(run_t *run, const json_t *a) {
  if (!run->r->app->graph ||
      graph_reply_comment(run->r->app->graph, sget(run->account, "ig_user_id"), run->token,
                          sget(a, "comment_id"), sget(a, "text"), comment_replied, run) != 0) {
    graph_result_t res = {0, NULL, 0, "cannot start the Graph API request", 0, NULL, 0};
    comment_replied(run, &res);
  }
}

static void api_answered(void *ctx, const httpc_response_t *res) {
  run_t *run = ctx;
  json_t *result = NULL;
  if (res->status >= 200 && res->status < 300) {
    result = json_loadb(res->body, res->len, JSON_DECODE_ANY, NULL);
    if (!result) result = json_stringn(res->body, res->len);
  } else {
    log_info("flows: api_call answered %d%s%s", res->status, res->error ? ": " : "",
             res->error ? res->error : "");
  }
  json_t *st = state_of(run);
  json_t *tr = json_object_get(st, "trace");
  json_t *last = json_object_get(json_array_get(tr, json_array_size(tr) - 1), "result");
  if (json_is_object(last)) {
    json_object_set_new(last, "status", json_integer(res->status));
    if (res->error) json_object_set_new(last, "error", json_string(res->error));
  }
  /* Mapped values become set_variable actions, performed after this one. */
  resume(run, result);
  json_decref(result);
  action_done(run);
}

static void perform_api_call(run_t *run, const json_t *a) {
  char *body = NULL;
  const json_t *b = json_object_get(a, "body");
  if (b) body = json_dumps(b, JSON_COMPACT | JSON_ENCODE_ANY);
  /* The fixed headers, then the node's own (checked by the model). */
  const json_t *extra = json_object_get(a, "headers");
  const char *headers[16] = {"Content-Type: application/json", "Accept: application/json"};
  size_t nh = 2;
  for (size_t i = 0; i < json_array_size(extra) && nh < 15; i++)
    headers[nh++] = json_string_value(json_array_get(extra, i));
  headers[nh] = NULL;
  httpc_request_t req = {.method = sget(a, "method"),
                         .url = sget(a, "url"),
                         .headers = headers,
                         .body = body,
                         .body_len = body ? strlen(body) : 0,
                         .timeout_ms = API_CALL_TIMEOUT_MS,
                         .max_response = API_CALL_MAX_RESPONSE,
                         .check = addrguard_check,
                         .check_ctx = (void *)run->r->app->cfg.api_call_allow};
  int rc = httpc_request(run->r->app->http, &req, api_answered, run);
  free(body);
  if (rc != 0) fail_run(run, "cannot start the api_call");
}

/* An ask now waits for the contact: every instance (this one too, again)
 * drops its "no ask waits" for them, at once here, on the others as the bus
 * brings it. After the wait is stored, so that no instance learns "none" from
 * a read that may have predated it. */
static void announce_wait(run_t *run) {
  flow_runner_t *r = run->r;
  const char *contact = sget(run->contact, "id");
  if (!contact) return;
  absent_forget(&r->nowait, contact);
  if (r->app->bus && bus_publish(r->app->bus, FLOWS_WAITING_CHANNEL, contact, strlen(contact)) != 0)
    log_warn("flows: the bus is down; other instances find the ask within %d s",
             NOWAIT_TTL_MS / 1000);
}

static void scheduled(void *ctx, int status, json_t *result) {
  run_t *run = ctx;
  json_decref(result);
  if (run->asks) announce_wait(run); /* stored, or perhaps stored (a lost answer) */
  run->asks = 0;
  if (status != STORE_OK) {
    fail_run(run, "cannot schedule the delay");
    return;
  }
  json_array_clear(run->actions);
  save_and_end(run); /* status "waiting": resumed by the timer */
}

/* A delay, or an ask's wait: a scheduled step due when it ends (the wait's
 * timeout), which the contact's answer claims first when it comes. */
static void perform_delay(run_t *run, const json_t *a) {
  int64_t due = util_now_ms() + json_integer_value(json_object_get(a, "seconds")) * 1000;
  int wait = strcmp(sget(a, "type"), "wait") == 0;
  json_t *p = json_pack("{s:O, s:I}", "run_id", json_object_get(run->record, "id"), "due_at_ms",
                        (json_int_t)due);
  if (p && wait) json_object_set(p, "wait_for", json_object_get(run->contact, "id"));
  run->asks = wait;
  if (call(run, SCHED_INSERT, p, scheduled) != 0) fail_run(run, "cannot schedule the delay");
}

/* ---- notify an agent, hand over to a human ---- */

static void agents_listed(void *ctx, int status, json_t *result) {
  run_t *run = ctx;
  json_t *a = json_array_get(run->actions, 0);
  json_t *to = json_pack("[O]", json_object_get(run->record, "owner_id")), *ag;
  size_t i;
  if (status == STORE_OK)
    json_array_foreach(json_object_get(result, "agents"), i, ag)
        json_array_append(to, json_object_get(ag, "id"));
  json_t *frame =
      json_pack("{s:s, s:O, s:O?, s:O, s:O, s:O}", "type", "flow.notify", "flow_id",
                json_object_get(run->flow, "id"), "run_id", json_object_get(run->record, "id"),
                "contact_id", json_object_get(run->contact, "id"), "contact", run->contact, "text",
                json_object_get(a, "text"));
  if (frame && to) fanout_event(run->r->app, frame, to, NULL);
  json_decref(frame);
  json_decref(to);
  json_decref(result);
  action_done(run);
}

static void handed_over(void *ctx, int status, json_t *result) {
  run_t *run = ctx;
  if (status == STORE_OK) {
    ig_takeover_announce(run->r->app, json_object_get(result, "conversation_ids"));
    json_decref(run->contact);
    run->contact = json_incref(result);
  } else {
    log_warn("flows: cannot hand the contact over (%d)", status);
  }
  json_decref(result);
  action_done(run);
}

static void perform_handover(run_t *run, const json_t *a) {
  json_int_t secs = json_integer_value(json_object_get(a, "seconds"));
  int64_t until = secs > 0 ? util_now_ms() + secs * 1000 : ig_takeover_until_ms(run->r->app);
  if (call(run, CONTACT_PAUSE,
           json_pack("{s:O, s:O, s:I}", "id", json_object_get(run->contact, "id"), "user_id",
                     json_object_get(run->record, "owner_id"), "until_ms", (json_int_t)until),
           handed_over) != 0)
    fail_run(run, "store unavailable");
}

/* remove_tag: the contact's tags without it. */
static json_t *tags_without(const json_t *contact, const char *tag) {
  json_t *out = json_array(), *t;
  size_t i;
  json_array_foreach(json_object_get(contact, "tags"), i, t) if (strcmp(json_string_value(t), tag))
      json_array_append(out, t);
  return out;
}

static void perform(run_t *run, const json_t *a) {
  const char *type = sget(a, "type");
  const json_t *contact_id = json_object_get(run->contact, "id");
  const json_t *owner = json_object_get(run->record, "owner_id");
  if (strcmp(type, "send") == 0) {
    perform_send(run, a);
  } else if (strcmp(type, "tag") == 0) {
    if (call(run, CONTACT_UPDATE,
             json_pack("{s:O, s:O, s:[O]}", "id", contact_id, "owner_id", owner, "add_tags",
                       json_object_get(a, "tag")),
             contact_updated) != 0)
      fail_run(run, "store unavailable");
  } else if (strcmp(type, "set_variable") == 0) {
    if (call(run, CONTACT_UPDATE,
             json_pack("{s:O, s:O, s:{s:O}}", "id", contact_id, "owner_id", owner, "set_variables",
                       sget(a, "name"), json_object_get(a, "value")),
             contact_updated) != 0)
      fail_run(run, "store unavailable");
  } else if (strcmp(type, "untag") == 0) {
    if (call(run, CONTACT_UPDATE,
             json_pack("{s:O, s:O, s:o}", "id", contact_id, "owner_id", owner, "tags",
                       tags_without(run->contact, sget(a, "tag"))),
             contact_updated) != 0)
      fail_run(run, "store unavailable");
  } else if (strcmp(type, "api_call") == 0) {
    perform_api_call(run, a);
  } else if (strcmp(type, "comment_reply") == 0) {
    perform_comment_reply(run, a);
  } else if (strcmp(type, "notify") == 0) {
    if (call(run, AGENT_LIST, json_pack("{s:O}", "owner_id", owner), agents_listed) != 0)
      fail_run(run, "store unavailable");
  } else if (strcmp(type, "handover") == 0) {
    perform_handover(run, a);
  } else {
    perform_delay(run, a); /* delay, wait */
  }
}

/* Performs pending actions, else steps the engine, until the run waits on
 * something asynchronous or ends. */
static void advance(run_t *run) {
  json_t *st = state_of(run);
  for (;;) {
    if (json_array_size(run->actions) > 0) {
      json_t *a = json_array_get(run->actions, 0);
      if (hold(run, a)) {
        json_array_remove(run->actions, 0);
        continue;
      }
      /* Another kind of action: what is held is stored first. */
      if (run->held && store_held(run) == 0) return;
      perform(run, a);
      return;
    }
    const char *status = sget(st, "status");
    if (strcmp(status, "running") != 0) {
      save_and_end(run);
      return;
    }
    step(run, st);
  }
}

/* ---- starting a run ---- */

/* ctx.local: the time of day and weekday in the account's time zone (its
 * IANA "timezone", UTC when unset or unknown), for time conditions. */
static void set_local_time(run_t *run) {
  int weekday = 0, minute = 0;
  flow_tz_local(run->r->tz, sget(run->account, "timezone"), util_now_ms() / 1000, &weekday,
                &minute);
  json_object_set_new(run->ctx, "local",
                      json_pack("{s:i, s:i}", "weekday", weekday, "minute", minute));
}

static void zone_loaded(void *arg) {
  run_t *run = arg;
  set_local_time(run);
  run->then(run);
}

/* Sets ctx.local, then continues with then: at once when the account's zone
 * is loaded (or UTC), else once the thread pool has read it (flows/tz.h). */
static void with_local_time(run_t *run, void (*then)(run_t *run)) {
  run->then = then;
  if (flow_tz_load(run->r->tz, run->r->app->loop, sget(run->account, "timezone"), zone_loaded,
                   run) != 0)
    zone_loaded(run);
}

/* An entry emptied, its token zeroed first. */
static void token_entry_clear(token_entry_t *e) {
  if (e->token) {
    sodium_memzero(e->token, strlen(e->token));
    free(e->token);
  }
  free(e->cipher);
  e->cipher = e->token = NULL;
}

/* The account's token, opened once for the runs that follow (TOKENS_MAX);
 * NULL when it cannot be opened. */
static const char *token_of(flow_runner_t *r, const char *cipher) {
  if (!cipher) return NULL;
  token_entry_t *e = strmap_get(&r->tokens, cipher);
  if (e) return e->token;
  char *token = ig_token_open(r->app->secret_key, cipher);
  if (!token) return NULL;
  e = &r->ring[r->ring_next];
  if (e->cipher) strmap_del(&r->tokens, e->cipher);
  token_entry_clear(e);
  e->token = token;
  e->cipher = strdup(cipher);
  if (!e->cipher || strmap_put(&r->tokens, cipher, e) != 0) {
    token_entry_clear(e);
    return NULL;
  }
  r->ring_next = (r->ring_next + 1) % TOKENS_MAX;
  return token;
}

static int open_token(run_t *run) {
  const char *token = token_of(run->r, sget(run->account, "token_cipher"));
  run->token = token ? strdup(token) : NULL;
  return run->token ? 0 : -1;
}

static void try_candidate(run_t *run);

/* The candidate lost its run-once or cooldown claim (another message from the
 * contact started it first, here or on another instance): the next one is
 * tried. */
static void claim_lost(run_t *run) {
  const json_t *settings = json_object_get(run->flow, "settings");
  json_array_append_new(
      run->skipped,
      json_pack("{s:O, s:s}", "flow_id", json_object_get(run->flow, "id"), "reason",
                json_is_true(json_object_get(settings, "run_once")) ? "run_once" : "cooldown"));
  flow_graph_free(run->graph);
  run->graph = NULL;
  json_decref(run->flow);
  json_decref(run->record);
  run->flow = run->record = NULL;
  if (run->token) {
    memset(run->token, 0, strlen(run->token));
    free(run->token);
    run->token = NULL;
  }
  run->started = 0;
  run->cand++;
  try_candidate(run);
}

static void run_created(void *ctx, int status, json_t *result) {
  run_t *run = ctx;
  if (status == STORE_ECONFLICT) {
    json_decref(result);
    claim_lost(run);
    return;
  }
  if (status != STORE_OK) {
    json_decref(result);
    run_free(run);
    return;
  }
  /* Its id and stored columns; the state and trace stay the run's own. */
  json_object_update(run->record, result);
  json_decref(result);
  advance(run);
}

/* The run's own copy of a contact: the object, its tags and its variables are
 * the run's (hold() changes those in place); the values in them are shared,
 * and nothing changes a value in place. */
static json_t *contact_own(const json_t *contact) {
  json_t *c = json_copy((json_t *)contact);
  json_t *tags = json_object_get(contact, "tags"), *vars = json_object_get(contact, "variables");
  if (c && tags && json_object_set_new(c, "tags", json_copy(tags)) != 0) goto fail;
  if (c && vars && json_object_set_new(c, "variables", json_copy(vars)) != 0) goto fail;
  return c;
fail:
  json_decref(c);
  return NULL;
}

/* Starts the chosen flow: the run's own copy of the contact, its
 * state (seeded for the randomizer, with what started it and why this flow)
 * saved before the first step. */
static void first_step(run_t *run);
static void start_flow(run_t *run, json_t *flow) {
  run->flow = json_incref(flow);
  /* The contact is the run's own (its tags and variables change as it
   * goes); the account is only read, and held as given. */
  json_t *contact = contact_own(run->contact);
  json_decref(run->contact);
  run->contact = contact;
  if (!contact || json_object_set(run->ctx, "contact", contact) != 0) {
    run_free(run);
    return;
  }
  if (open_token(run) != 0) {
    log_error("flows: the stored token of account %s cannot be opened",
              sget(run->account, "ig_user_id"));
    run_free(run);
    return;
  }
  with_local_time(run, first_step);
}

/* The run's state, saved before its first step. */
static void first_step(run_t *run) {
  json_t *flow = run->flow;
  json_t *state = flow_state_new(run->flow, run->contact);
  uint32_t seed = 0;
  util_random(&seed, sizeof(seed));
  json_object_set_new(state, "seed", json_integer(seed ? seed : 1));
  json_t *ids = json_array(), *f;
  size_t i;
  json_array_foreach(run->candidates, i, f) json_array_append(ids, json_object_get(f, "id"));
  /* The choice, recorded: what fired, which flows matched (by priority, ties
   * oldest first), which were kept out, and the priority that won. */
  json_object_set_new(state, "start",
                      json_pack("{s:O, s:o, s:O, s:i}", "event", run->event, "matched", ids,
                                "skipped", run->skipped, "priority", flow_priority(flow)));
  char now[32];
  util_iso8601(util_now_ms(), now);
  json_decref(run->record);
  run->record = json_pack(
      "{s:O, s:O, s:O, s:s, s:O, s:o, s:s, s:s, s:O}", "flow_id", json_object_get(run->flow, "id"),
      "owner_id", json_object_get(run->account, "user_id"), "contact_id",
      json_object_get(run->contact, "id"), "status", "running", "trace",
      json_object_get(state, "trace"), "state", state, "created_at", now, "updated_at", now,
      "message_text", json_object_get(json_object_get(run->ctx, "message"), "text"));
  /* The version it started on: it finishes on that graph, whatever is
   * published meanwhile. */
  if (json_is_integer(json_object_get(run->flow, "version")))
    json_object_set(run->record, "version", json_object_get(run->flow, "version"));
  run->started = 1;
  /* Run once and a cooldown are claimed in the store as the run is stored: the check of the
   * contact's last run (try_candidate) cannot see a run that another message
   * is starting at the same moment. */
  json_t *p = json_pack("{s:O, s:b}", "run", run->record, "brief", 1);
  const json_t *settings = json_object_get(flow, "settings");
  json_int_t cooldown = json_integer_value(json_object_get(settings, "cooldown_seconds"));
  if (p && json_is_true(json_object_get(settings, "run_once"))) {
    json_object_set_new(p, "claim_once", json_true());
  } else if (p && cooldown > 0) {
    /* So is a cooldown, until it ends. */
    int64_t now_ms = util_now_ms();
    json_object_set_new(p, "claim_until_ms", json_integer(now_ms + cooldown * 1000));
    json_object_set_new(p, "now_ms", json_integer(now_ms));
  }
  if (call(run, FLOW_RUN_SAVE, p, run_created) != 0) run_free(run);
}

/* The contact's newest run of the candidate: run once and cooldown decide. */
static void last_run_listed(void *ctx, int status, json_t *result) {
  run_t *run = ctx;
  json_t *f = json_array_get(run->candidates, run->cand);
  const char *why = NULL;
  if (status != STORE_OK) {
    why = "unavailable"; /* unknown: never risk a second "run once" */
  } else {
    json_t *last = json_array_get(json_object_get(result, "runs"), 0);
    if (flow_settings_allow(f, last, util_now_ms(), &why)) {
      json_decref(result);
      start_flow(run, f);
      return;
    }
  }
  json_decref(result);
  json_array_append_new(
      run->skipped, json_pack("{s:O, s:s}", "flow_id", json_object_get(f, "id"), "reason", why));
  run->cand++;
  try_candidate(run);
}

/* The first candidate whose settings let it run for this contact. */
static void try_candidate(run_t *run) {
  json_t *f = json_array_get(run->candidates, run->cand);
  if (!f) {
    run_free(run);
    return;
  }
  const json_t *st = json_object_get(f, "settings");
  if (!json_is_true(json_object_get(st, "run_once")) &&
      json_integer_value(json_object_get(st, "cooldown_seconds")) <= 0) {
    start_flow(run, f);
    return;
  }
  if (call(run, FLOW_RUN_LIST,
           json_pack("{s:O, s:O, s:i, s:O}", "flow_id", json_object_get(f, "id"), "owner_id",
                     json_object_get(run->account, "user_id"), "limit", 1, "contact_id",
                     json_object_get(run->contact, "id")),
           last_run_listed) != 0)
    run_free(run);
}

/* The account's active flows (borrowed) decide: the candidates by priority. */
static void choose(run_t *run, const json_t *flows) {
  json_t *f;
  size_t i;
  run->candidates = json_array();
  run->skipped = json_array();
  /* A button or quick-reply tap counts as a click of the message (of the
   * live version) whose button carries its payload. */
  const char *kind = sget(run->event, "kind");
  if (kind && strcmp(kind, "postback") == 0)
    json_array_foreach(flows, i, f) flow_runner_count_click(run->r, f, sget(run->event, "payload"));
  /* The store lists oldest first; an insertion by priority that keeps that
   * order among equals: the highest priority first, ties to the oldest. */
  json_array_foreach(flows, i, f) {
    if (!flow_trigger_matches(json_object_get(f, "trigger"), run->event)) continue;
    size_t at = json_array_size(run->candidates);
    while (at > 0 && flow_priority(json_array_get(run->candidates, at - 1)) < flow_priority(f))
      at--;
    json_array_insert(run->candidates, at, f);
  }
  try_candidate(run);
}

static void flows_listed(void *ctx, int status, json_t *result) {
  run_t *run = ctx;
  flow_runner_t *r = run->r;
  if (status != STORE_OK) {
    json_decref(result);
    run_free(run);
    return;
  }
  json_t *flows = json_object_get(result, "flows");
  /* Kept unless the owner's flows changed since it was asked (the answer may
   * predate the change), or changes from other instances may go unheard. */
  const char *owner = sget(run->account, "user_id");
  if (owner && json_is_array(flows) && run->list_gen == r->active_gen && bus_is_up(r->app->bus)) {
    if (json_object_size(r->active) >= ACTIVE_MAX) json_object_clear(r->active);
    json_object_set_new(
        r->active, owner,
        json_pack("{s:O, s:I}", "flows", flows, "at_ms", (json_int_t)util_now_ms()));
  }
  choose(run, flows);
  json_decref(result);
}

/* The owner's active flows as held (fresh), or NULL: ask the store. */
static json_t *held_flows(flow_runner_t *r, const json_t *account) {
  const char *owner = sget(account, "user_id");
  json_t *held = owner ? json_object_get(r->active, owner) : NULL;
  if (held && util_now_ms() - json_integer_value(json_object_get(held, "at_ms")) < ACTIVE_TTL_MS)
    return json_object_get(held, "flows");
  return NULL;
}

static void list_flows(run_t *run) {
  flow_runner_t *r = run->r;
  json_t *flows = held_flows(r, run->account);
  if (flows) {
    json_incref(flows);
    choose(run, flows);
    json_decref(flows);
    return;
  }
  run->list_gen = r->active_gen;
  if (call(run, FLOW_LIST,
           json_pack("{s:O, s:s, s:b}", "owner_id", json_object_get(run->account, "user_id"),
                     "status", "active", "live", 1),
           flows_listed) != 0)
    run_free(run);
}

void flow_runner_forget_flows(flow_runner_t *r, const char *owner_id) {
  if (!r) return;
  r->active_gen++;
  if (owner_id)
    json_object_del(r->active, owner_id);
  else
    json_object_clear(r->active);
}

void flow_runner_forget_waits(flow_runner_t *r, const char *contact_id) {
  if (r) absent_forget(&r->nowait, contact_id);
}

void flow_runner_flows_changed(flow_runner_t *r, const char *owner_id) {
  if (!r || !owner_id) return;
  flow_runner_forget_flows(r, owner_id);
  /* Every instance (this one too, again) forgets them: at once here, on the
   * others as the bus brings it. */
  if (r->app->bus &&
      bus_publish(r->app->bus, FLOWS_CHANGED_CHANNEL, owner_id, strlen(owner_id)) != 0)
    log_warn("flows: the bus is down; other instances see the change of flows within %d s",
             ACTIVE_TTL_MS / 1000);
}

static void resume_run(void *ctx, int status, json_t *result);

/* An ask waiting for this contact took the message as its answer (the step
 * claimed), or none waits and the message may start a flow. */
static void wait_taken(void *ctx, int status, json_t *result) {
  run_t *run = ctx;
  if (status == STORE_ENOTFOUND) {
    /* Held unless an ask came to wait since (its generation) or another
     * instance's may go unheard (the bus is down). */
    flow_runner_t *r = run->r;
    if (bus_is_up(r->app->bus))
      absent_learn(&r->nowait, sget(run->contact, "id"), run->wait_gen,
                   (int64_t)uv_now(r->app->loop));
    json_decref(result);
    list_flows(run);
    return;
  }
  if (status != STORE_OK) {
    json_decref(result);
    run_free(run);
    return;
  }
  /* The resume chain loads the run's flow, contact and account itself. */
  json_t *ev = run->event;
  const char *answer = sget(ev, "text");
  if (!answer) answer = sget(ev, "payload");
  run->answer = json_string(answer ? answer : "");
  json_decref(run->account);
  json_decref(run->contact);
  json_decref(run->ctx);
  run->account = run->contact = run->ctx = NULL;
  if (call(run, FLOW_RUN_GET, json_pack("{s:O}", "id", json_object_get(result, "run_id")),
           resume_run) != 0)
    run_free(run);
  json_decref(result);
}

void flow_runner_on_message(flow_runner_t *r, const json_t *account, const json_t *contact,
                            const json_t *event) {
  if (paused_until(contact)) return; /* a person is answering: no flow starts */
  /* A direct message (a quick reply or button too) first answers an ask that
   * waits for this contact; comments, mentions and referrals never do. */
  const char *kind = sget(event, "kind");
  int answers = kind && (strcmp(kind, "message") == 0 || strcmp(kind, "story_reply") == 0 ||
                         strcmp(kind, "postback") == 0);
  int no_ask =
      !answers || absent_known(&r->nowait, sget(contact, "id"), (int64_t)uv_now(r->app->loop));
  /* No ask waits and the owner has no active flow (as held): nothing starts,
   * and no run is set up to find that out. */
  json_t *held = no_ask ? held_flows(r, account) : NULL;
  if (held && json_array_size(held) == 0) return;
  run_t *run = run_new(r);
  if (!run) return;
  /* Held as given until a flow matches (most messages start none); the run's
   * own copies are made then. Nobody changes them in between: the loop thread
   * only replaces a contact or account, never edits one in place. */
  run->account = json_incref((json_t *)account);
  run->contact = json_incref((json_t *)contact);
  run->event = json_deep_copy(event);
  const char *text = sget(event, "text");
  run->ctx = json_pack("{s:{s:s}, s:O}", "message", "text", text ? text : "", "event", run->event);
  if (!run->event || !run->ctx || !kind) {
    run_free(run);
    return;
  }
  if (no_ask) {
    list_flows(run);
    return;
  }
  run->wait_gen = absent_gen(&r->nowait);
  if (call(run, SCHED_TAKE_WAIT, json_pack("{s:O}", "wait_for", json_object_get(contact, "id")),
           wait_taken) != 0)
    run_free(run);
}

/* ---- resuming after a delay ---- */

/* A delay ends; an ask gets its answer (run->answer) or times out (NULL). */
static void resume_step(run_t *run) {
  resume(run, run->answer);
  advance(run);
}

static void resume_account(void *ctx, int status, json_t *result) {
  run_t *run = ctx;
  if (status != STORE_OK) {
    json_decref(result);
    fail_run(run, "the Instagram account is no longer connected");
    return;
  }
  run->account = result;
  if (open_token(run) != 0) {
    fail_run(run, "the stored token cannot be opened");
    return;
  }
  with_local_time(run, resume_step);
}

static void held(void *ctx, int status, json_t *result) {
  run_t *run = ctx;
  json_decref(result);
  if (status != STORE_OK)
    fail_run(run, "cannot hold the delayed step while automation is paused");
  else
    run_free(run); /* still "waiting": the held step resumes it */
}

static void resume_contact(void *ctx, int status, json_t *result) {
  run_t *run = ctx;
  if (status != STORE_OK) {
    json_decref(result);
    fail_run(run, "the contact is gone");
    return;
  }
  run->contact = result;
  int64_t until = paused_until(result);
  if (until) {
    /* A person took over: the step waits for the pause's end (or its
     * release when an agent resumes automation), then runs. */
    if (call(run, SCHED_INSERT,
             json_pack("{s:O, s:I, s:O}", "run_id", json_object_get(run->record, "id"), "due_at_ms",
                       (json_int_t)until, "held_for", json_object_get(result, "id")),
             held) != 0)
      fail_run(run, "cannot hold the delayed step while automation is paused");
    return;
  }
  const char *text =
      run->answer ? json_string_value(run->answer) : sget(run->record, "message_text");
  json_t *start = json_object_get(state_of(run), "start");
  run->ctx = json_pack("{s:O, s:{s:s}, s:O?}", "contact", result, "message", "text",
                       text ? text : "", "event", json_object_get(start, "event"));
  if (call(run, IG_ACCOUNT_GET,
           json_pack("{s:O, s:b}", "user_id", json_object_get(run->record, "owner_id"),
                     "with_token", 1),
           resume_account) != 0)
    run_free(run);
}

static void resume_flow(void *ctx, int status, json_t *result) {
  run_t *run = ctx;
  if (status != STORE_OK) {
    json_decref(result);
    run->flow = json_object();
    fail_run(run, "the flow was deleted");
    return;
  }
  run->flow = result;
  run->counted = json_array_size(json_object_get(state_of(run), "trace"));
  /* A tap that answers the ask is a click too: of the run's version (its
   * graph is the one whose question carried the button). */
  const char *kind = sget(run->event, "kind");
  if (run->answer && kind && strcmp(kind, "postback") == 0)
    flow_runner_count_click(run->r, run->flow, sget(run->event, "payload"));
  if (call(run, CONTACT_GET,
           json_pack("{s:O, s:O}", "id", json_object_get(run->record, "contact_id"), "owner_id",
                     json_object_get(run->record, "owner_id")),
           resume_contact) != 0)
    run_free(run);
}

static void resume_run(void *ctx, int status, json_t *result) {
  run_t *run = ctx;
  if (status != STORE_OK) {
    json_decref(result);
    run_free(run);
    return;
  }
  run->record = result;
  json_t *p = json_pack("{s:O, s:O}", "id", json_object_get(result, "flow_id"), "owner_id",
                        json_object_get(result, "owner_id"));
  /* A run resumes on the version it started on (runs from before versions
   * resume on the flow as it is). */
  if (json_is_integer(json_object_get(result, "version")))
    json_object_set(p, "version", json_object_get(result, "version"));
  if (call(run, FLOW_GET, p, resume_flow) != 0) run_free(run);
}

typedef struct claim_s {
  flow_runner_t *r;
  json_t *step;
} claim_t;

static void claimed(void *ctx, int status, json_t *result) {
  claim_t *c = ctx;
  assert(c->r->claims > 0);
  c->r->claims--;
  json_decref(result);
  /* ENOTFOUND: another instance claimed it first. */
  if (status == STORE_OK) {
    run_t *run = run_new(c->r);
    if (run && call(run, FLOW_RUN_GET, json_pack("{s:O}", "id", json_object_get(c->step, "run_id")),
                    resume_run) != 0)
      run_free(run);
  }
  json_decref(c->step);
  free(c);
}

static void due_listed(void *ctx, int status, json_t *result) {
  flow_runner_t *r = ctx;
  r->polling = 0;
  json_t *s;
  size_t i;
  json_array_foreach(json_object_get(result, "steps"), i, s) {
    claim_t *c = malloc(sizeof(*c));
    if (!c) break;
    c->r = r;
    c->step = json_incref(s);
    if (store_call(r->app->store, SCHED_DELETE, json_pack("{s:O}", "id", json_object_get(s, "id")),
                   claimed, c) != 0) {
      json_decref(c->step);
      free(c);
    } else {
      r->claims++;
    }
  }
  json_decref(result);
}

static void on_poll(uv_timer_t *t) {
  flow_runner_t *r = t->data;
  if (r->polling || r->app->shutting_down) return;
  r->polling = 1;
  if (store_call(r->app->store, SCHED_DUE,
                 json_pack("{s:I, s:i}", "now_ms", (json_int_t)util_now_ms(), "limit", 100),
                 due_listed, r) != 0)
    r->polling = 0;
}

flow_runner_t *flow_runner_new(app_t *app) {
  flow_runner_t *r = calloc(1, sizeof(*r));
  if (!r) return NULL;
  r->app = app;
  r->tz = flow_tz_new(NULL);
  r->active = json_object();
  absent_init(&r->nowait, NOWAIT_MAX, NOWAIT_TTL_MS);
  r->stats = json_object();
  r->known = json_object();
  strmap_init(&r->tokens);
  if (!r->tz || !r->active || !r->stats || !r->known) {
    flow_runner_free(r);
    return NULL;
  }
  uv_timer_init(app->loop, &r->timer);
  r->timer.data = r;
  r->timer_open = 1;
  uv_timer_start(&r->timer, on_poll, POLL_MS, POLL_MS);
  uv_timer_init(app->loop, &r->stats_timer);
  r->stats_timer.data = r;
  r->stats_timer_open = 1;
  return r;
}

static void timer_closed(uv_handle_t *h) { (void)h; }

void flow_runner_stop(flow_runner_t *r) {
  if (!r || !r->timer_open) return;
  r->timer_open = 0;
  assert(!uv_is_closing((uv_handle_t *)&r->timer)); /* timer_open guards it: closed once */
  uv_close((uv_handle_t *)&r->timer, timer_closed);
  /* The counters waiting are stored now, and from now on each run's at once:
   * shutdown waits for them (flow_runner_busy). */
  r->stopped = 1;
  stats_flush(r);
  r->stats_timer_open = 0;
  uv_close((uv_handle_t *)&r->stats_timer, timer_closed);
}

void flow_runner_free(flow_runner_t *r) {
  if (!r) return;
  flow_tz_free(r->tz);
  json_decref(r->active);
  absent_free(&r->nowait);
  json_decref(r->stats);
  json_decref(r->known);
  strmap_free(&r->tokens);
  for (size_t i = 0; i < TOKENS_MAX; i++) token_entry_clear(&r->ring[i]);
  free(r);
}

/* A claim in flight counts: its step is deleted once it completes, so a
 * shutdown that did not wait for it would lose the run it resumes. */
int flow_runner_busy(const flow_runner_t *r) {
  return r->runs + r->polling + r->claims + r->counts + (r->pending > 0);
}
