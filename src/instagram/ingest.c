/* The Instagram event processor: fetches pending webhook events in batches and
 * runs each through a short chain of store calls (account, contact,
 * conversation, message; or account, target message, change), then delivers
 * the result live and marks the event processed. Every kind is kept: an unsend
 * or edit whose original has not arrived stores the message as it now is (the
 * original, arriving later, is then a duplicate), and shapes Parley does not
 * handle become "unsupported" messages. Events of one contact are processed
 * one at a time, in order; different contacts proceed side by side. A writing
 * contact's profile is refreshed beside (instagram/profile.c). Loop thread. */
#include "instagram/ingest.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chat/attach_release.h"
#include "chat/fanout.h"
#include "instagram/media.h"
#include "instagram/profile.h"
#include "parley/instagram.h"
#include "parley/log.h"
#include "parley/store.h"
#include "parley/strmap.h"
#include "parley/util.h"

#define BATCH 256
#define MAX_JOBS 32
/* Accounts are cached briefly (a disconnect elsewhere is seen within this
 * time); conversations forever (they are never deleted), both bounded. */
#define ACCOUNT_TTL_MS 10000
#define CACHE_MAX 50000
/* Payloads of events stored here, kept until they are processed (an event
 * processed by another instance leaves its payload until the bound clears). */
#define HELD_MAX 4096

typedef struct job_s job_t;
struct ig_ingest_s {
  app_t *app;
  json_t *queue; /* events fetched, not yet started */
  job_t *jobs;   /* in flight */
  int njobs;
  int fetching;
  int again; /* a kick arrived while busy */
  int closing;
  ig_ingest_message_fn on_message; /* the flow runner, wired by app.c */
  void *on_message_ctx;
  strmap_t accounts;      /* ig_user_id -> cached_account_t */
  strmap_t conversations; /* owner:contact id -> conversation id (malloc'd) */
  strmap_t held;          /* event id -> payload (json_t *) this instance parsed */
  ig_profiles_t *profiles;
};

typedef struct cached_account_s {
  json_t *account; /* with token_cipher */
  int64_t expires_ms;
} cached_account_t;

struct job_s {
  ig_ingest_t *ig;
  json_t *event; /* {id, payload, ...} */
  json_t *payload;
  json_t *account;
  json_t *contact;
  json_t *insert; /* an echo's MSG_INSERT, held while it is matched to its send */
  char key[160];  /* account:contact, serialises a contact's events */
  enum ig_event_kind kind;
  /* for outgoing messages */
  ig_stored_fn out_cb;
  void *out_ctx;
  char *text;
  char *graph_mid;
  char *client_id;
  json_t *graph;      /* {meta_message, comment_id?}: the message's payload, or NULL */
  const char *status; /* static: NULL or "pending" */
  const char *source; /* static: "instagram" or "flow" */
  job_t *prev, *next;
};

static void fetch(ig_ingest_t *ig);
static void start_jobs(ig_ingest_t *ig);

static const char *pstr(json_t *o, const char *k) {
  return json_string_value(json_object_get(o, k));
}

/* Sets a member under a key of the code's own (ASCII, no check needed); the
 * hot path's objects are built so, since json_pack parses its format each time. */
static void put(json_t *o, const char *key, json_t *value) {
  json_object_set_new_nocheck(o, key, value);
}

ig_ingest_t *ig_ingest_new(app_t *app) {
  ig_ingest_t *ig = calloc(1, sizeof(*ig));
  if (!ig) return NULL;
  ig->app = app;
  ig->queue = json_array();
  ig->profiles = ig_profiles_new(app);
  strmap_init(&ig->accounts);
  strmap_init(&ig->conversations);
  strmap_init(&ig->held);
  if (!ig->queue || !ig->profiles) {
    ig_ingest_free(ig);
    return NULL;
  }
  return ig;
}

static int drop_account(const char *key, void *value, void *arg) {
  cached_account_t *c = value;
  const char *user_id = arg;
  if (user_id && strcmp(pstr(c->account, "user_id"), user_id) != 0) return 0;
  json_decref(c->account);
  free(c);
  return 1;
}

static int drop_string(const char *key, void *value, void *arg) {
  free(value);
  return 1;
}

static int drop_payload(const char *key, void *value, void *arg) {
  json_decref(value);
  return 1;
}

void ig_ingest_free(ig_ingest_t *ig) {
  if (!ig) return;
  strmap_sweep(&ig->accounts, drop_account, NULL);
  strmap_sweep(&ig->conversations, drop_string, NULL);
  strmap_sweep(&ig->held, drop_payload, NULL);
  strmap_free(&ig->accounts);
  strmap_free(&ig->conversations);
  strmap_free(&ig->held);
  ig_profiles_free(ig->profiles);
  json_decref(ig->queue);
  free(ig);
}

void ig_ingest_forget_user(ig_ingest_t *ig, const char *user_id) {
  if (ig) strmap_sweep(&ig->accounts, drop_account, (void *)user_id);
}

static json_t *cached_account(ig_ingest_t *ig, const char *ig_user_id) {
  cached_account_t *c = strmap_get(&ig->accounts, ig_user_id);
  if (!c) return NULL;
  if (c->expires_ms > util_now_ms()) return json_incref(c->account);
  strmap_del(&ig->accounts, ig_user_id);
  drop_account(ig_user_id, c, NULL);
  return NULL;
}

static void remember_account(ig_ingest_t *ig, const char *ig_user_id, json_t *account) {
  if (!ig_user_id || strmap_get(&ig->accounts, ig_user_id)) return;
  if (strmap_count(&ig->accounts) >= CACHE_MAX) strmap_sweep(&ig->accounts, drop_account, NULL);
  cached_account_t *c = malloc(sizeof(*c));
  if (!c) return;
  c->account = json_incref(account);
  c->expires_ms = util_now_ms() + ACCOUNT_TTL_MS;
  if (strmap_put(&ig->accounts, ig_user_id, c) != 0) drop_account(ig_user_id, c, NULL);
}

static void conv_key(job_t *j, char *key, size_t len) {
  snprintf(key, len, "%s:%s", pstr(j->account, "user_id"), pstr(j->contact, "id"));
}

static void remember_conversation(job_t *j, const char *conv_id) {
  ig_ingest_t *ig = j->ig;
  char key[160];
  conv_key(j, key, sizeof(key));
  if (!conv_id || strmap_get(&ig->conversations, key)) return;
  if (strmap_count(&ig->conversations) >= CACHE_MAX)
    strmap_sweep(&ig->conversations, drop_string, NULL);
  char *id = strdup(conv_id);
  if (id && strmap_put(&ig->conversations, key, id) != 0) free(id);
}

int ig_ingest_busy(const ig_ingest_t *ig) {
  return ig->njobs + ig->fetching + ig_profiles_busy(ig->profiles);
}

void ig_ingest_on_message(ig_ingest_t *ig, ig_ingest_message_fn fn, void *ctx) {
  ig->on_message = fn;
  ig->on_message_ctx = ctx;
}

static void job_free(job_t *j) {
  ig_ingest_t *ig = j->ig;
  if (j->prev)
    j->prev->next = j->next;
  else
    ig->jobs = j->next;
  if (j->next) j->next->prev = j->prev;
  assert(ig->njobs > 0);
  ig->njobs--;
  json_decref(j->event);
  json_decref(j->account);
  json_decref(j->contact);
  json_decref(j->insert);
  free(j->text);
  free(j->graph_mid);
  json_decref(j->graph);
  free(j->client_id);
  free(j);
}

/* A job is over: the next events can start, and a new batch when idle. */
static void job_end(job_t *j) {
  ig_ingest_t *ig = j->ig;
  job_free(j);
  start_jobs(ig);
  if (ig->njobs == 0 && json_array_size(ig->queue) == 0 && ig->again) fetch(ig);
}

static int call(job_t *j, enum store_op op, json_t *params, store_cb cb) {
  if (store_call(j->ig->app->store, op, params, cb, j) == 0) return 0;
  log_warn("instagram: store refused %s; the event stays pending", store_op_name(op));
  return -1;
}

static void marked(void *ctx, int status, json_t *result) {
  json_decref(result);
  job_end(ctx);
}

static void finish(job_t *j) {
  json_t *id = json_object_get(j->event, "id");
  if (!id || call(j, EVENT_MARK_PROCESSED, json_pack("{s:O}", "id", id), marked) != 0) job_end(j);
}

/* A store failure leaves the event pending; the next kick retries it. An
 * answer that retrying cannot change (no such record, not allowed, unusable)
 * ends the event. */
static int failed(job_t *j, int status, json_t *result) {
  if (status == STORE_OK) return 0;
  json_decref(result);
  if (status == STORE_ENOTFOUND || status == STORE_EFORBIDDEN || status == STORE_EINVAL) {
    if (status != STORE_ENOTFOUND)
      log_info("instagram: a %s event changed nothing (%d)", pstr(j->payload, "kind"), status);
    finish(j);
  } else {
    log_warn("instagram: event processing stopped at a store error (%d); it stays pending", status);
    j->ig->again = 1;
    job_end(j);
  }
  return 1;
}

/* ---- messages and echoes ---- */

static void acted(void *ctx, int status, json_t *result);

/* 1 for the kinds where the contact writes: they open the messaging window,
 * refresh the profile and (messages, postbacks) run flows. */
static int inbound(enum ig_event_kind kind) {
  return kind == IG_EV_MESSAGE || kind == IG_EV_POSTBACK || kind == IG_EV_REFERRAL;
}

/* A flow run waiting for the contact's profile (its first message). */
typedef struct flow_call_s {
  ig_ingest_t *ig;
  json_t *account;
  json_t *event;
} flow_call_t;

static void flow_ready(void *ctx, const json_t *contact) {
  flow_call_t *fc = ctx;
  if (contact && fc->ig->on_message) /* NULL: shutting down */
    fc->ig->on_message(fc->ig->on_message_ctx, fc->account, contact, fc->event);
  json_decref(fc->account);
  json_decref(fc->event);
  free(fc);
}

/* The attachment of the given type in a message's payload, or NULL. */
static json_t *attachment_of(job_t *j, const char *type) {
  json_t *a;
  size_t i;
  json_array_foreach(json_object_get(j->payload, "attachments"), i, a) {
    const char *t = pstr(a, "type");
    if (t && strcmp(t, type) == 0) return a;
  }
  return NULL;
}

/* What flows see of a new inbound event (ig_ingest_message_fn): its trigger
 * kind and what triggers filter on. A quick-reply tap is a postback. */
static json_t *flow_event(job_t *j) {
  const char *text = pstr(j->payload, "text");
  switch (j->kind) {
    case IG_EV_POSTBACK:
      return json_pack("{s:s, s:s?, s:s}", "kind", "postback", "text", pstr(j->payload, "title"),
                       "payload", pstr(j->payload, "payload") ? pstr(j->payload, "payload") : "");
    case IG_EV_REFERRAL:
      return json_pack("{s:s, s:s?}", "kind", "referral", "ref",
                       pstr(json_object_get(j->payload, "referral"), "ref"));
    case IG_EV_COMMENT:
      return json_pack("{s:s, s:s?, s:s?, s:s?}", "kind", "comment", "text", text, "comment_id",
                       pstr(j->payload, "comment_id"), "media_id", pstr(j->payload, "media_id"));
    default:
      break;
  }
  if (pstr(j->payload, "quick_reply"))
    return json_pack("{s:s, s:s?, s:s}", "kind", "postback", "text", text, "payload",
                     pstr(j->payload, "quick_reply"));
  json_t *story = attachment_of(j, "story_reply");
  if (story)
    return json_pack("{s:s, s:s?, s:s?}", "kind", "story_reply", "text", text, "story_id",
                     pstr(story, "story_id"));
  if (attachment_of(j, "story_mention"))
    return json_pack("{s:s, s:s?}", "kind", "story_mention", "text", text);
  json_t *e = json_object();
  put(e, "kind", json_string_nocheck("message"));
  if (text) put(e, "text", json_string(text));
  return e;
}

static void run_flows(job_t *j) {
  flow_call_t *fc = calloc(1, sizeof(*fc));
  if (!fc) return;
  fc->ig = j->ig;
  fc->account = json_incref(j->account);
  fc->event = flow_event(j);
  if (!fc->event) {
    json_decref(fc->account);
    free(fc);
    return;
  }
  ig_profiles_refresh(j->ig->profiles, j->account, j->contact, flow_ready, fc);
}

static void media_added(void *ctx, int status, json_t *result) {
  job_t *j = ctx;
  if (failed(j, status, result)) return;
  json_decref(result);
  ig_media_kick(j->ig->app->ig_media);
  finish(j);
}

static void message_inserted(void *ctx, int status, json_t *result) {
  job_t *j = ctx;
  json_t *message = json_object_get(result, "message");
  int created = status == STORE_OK && json_is_true(json_object_get(result, "created"));
  if (created)
    fanout_message_new(j->ig->app, message, json_object_get(result, "participant_ids"), NULL, 0,
                       NULL);
  /* A new incoming message (not an echo, not a retry) runs the owner's flows. */
  if (created && !j->out_cb &&
      (j->kind == IG_EV_MESSAGE || j->kind == IG_EV_POSTBACK || j->kind == IG_EV_REFERRAL ||
       j->kind == IG_EV_COMMENT))
    run_flows(j);
  if (j->out_cb) {
    /* An outgoing message: its caller answers; there is no event to mark. */
    ig_stored_t st = {status, status == STORE_OK ? message : NULL, result};
    j->out_cb(j->out_ctx, &st);
    json_decref(result);
    job_end(j);
    return;
  }
  if (failed(j, status, result)) return;
  if (j->kind == IG_EV_UNSEND && !json_is_true(json_object_get(message, "deleted"))) {
    /* The unsent message, stored now: it is deleted at once. */
    json_t *p = json_pack("{s:O, s:O, s:b}", "id", json_object_get(message, "id"), "user_id",
                          json_object_get(message, "sender_id"), "check_member", 0);
    json_decref(result);
    if (call(j, MSG_DELETE, p, acted) != 0) job_end(j);
    return;
  }
  json_t *items =
      json_is_true(json_object_get(message, "deleted")) ? NULL : ig_media_items(message);
  if (json_array_size(items) > 0) {
    /* Its media are recorded (again, for a retried event: nothing changes)
     * before the event counts as processed, so none is left unfetched. */
    json_t *p = json_pack("{s:O, s:O, s:o}", "message_id", json_object_get(message, "id"),
                          "user_id", json_object_get(message, "sender_id"), "items", items);
    json_decref(result);
    if (call(j, ATTACH_MEDIA_ADD, p, media_added) != 0) job_end(j);
    return;
  }
  json_decref(items);
  /* Marked processed by the insert itself (ingest: event_id), or now. */
  int processed = json_is_true(json_object_get(result, "event_processed"));
  json_decref(result);
  if (processed)
    job_end(j);
  else
    finish(j);
}

/* A message's attachments as stored: each with Meta's URL becomes a medium
 * of its own (an id, fetched into storage in the background: media.h), the
 * URL kept as source_url; the others stay as they are. */
static json_t *media_of(json_t *list) {
  json_t *out = json_array(), *a;
  size_t i;
  json_array_foreach(list, i, a) {
    const char *url = pstr(a, "url"), *type = pstr(a, "type");
    if (!url || !type || (strncmp(url, "https://", 8) != 0 && strncmp(url, "http://", 7) != 0)) {
      json_array_append(out, a);
      continue;
    }
    char id[25], name[64];
    util_new_id(id);
    snprintf(name, sizeof(name), "instagram-%.40s", type);
    json_t *m = json_deep_copy(a);
    json_object_del(m, "url");
    json_object_set_new(m, "id", json_string(id));
    json_object_set_new(m, "name", json_string(name));
    json_object_set_new(m, "source_url", json_string(url));
    json_object_set_new(m, "fetch", json_string("pending"));
    json_array_append_new(out, m);
  }
  return out;
}

/* 1 when one of the attachments is a medium to fetch (media_of). */
static int fetches_media(json_t *attachments) {
  json_t *a;
  size_t i;
  json_array_foreach(attachments, i, a) if (json_object_get(a, "fetch")) return 1;
  return 0;
}

/* The stored form of an inbound event that is not a plain message: text and
 * attachments by kind. */
static json_t *attachments_for(job_t *j, const char **text) {
  json_t *att = media_of(json_object_get(j->payload, "attachments"));
  const char *title = pstr(j->payload, "title");
  json_t *ref = json_object_get(j->payload, "referral");
  switch (j->kind) {
    case IG_EV_POSTBACK:
      *text = title && *title ? title : NULL;
      json_array_append_new(att, json_pack("{s:s, s:s?, s:s?}", "type", "postback", "title", title,
                                           "payload", pstr(j->payload, "payload")));
      break;
    case IG_EV_REFERRAL:
      *text = NULL;
      json_array_append_new(
          att, json_pack("{s:s, s:s?, s:s?, s:s?}", "type", "referral", "ref", pstr(ref, "ref"),
                         "source", pstr(ref, "source"), "referral_type", pstr(ref, "type")));
      break;
    case IG_EV_COMMENT:
      *text = pstr(j->payload, "text");
      json_array_append_new(
          att, json_pack("{s:s, s:s?, s:s?}", "type", "comment", "comment_id",
                         pstr(j->payload, "comment_id"), "media_id", pstr(j->payload, "media_id")));
      break;
    case IG_EV_OTHER:
      *text = NULL;
      json_array_append_new(att, json_pack("{s:s, s:s?}", "type", "unsupported", "raw_type",
                                           pstr(j->payload, "raw_type")));
      break;
    case IG_EV_UNSEND:
      *text = NULL;
      break;
    default:
      *text = pstr(j->payload, "text");
      if (pstr(j->payload, "quick_reply"))
        json_array_append_new(att, json_pack("{s:s, s:s}", "type", "quick_reply", "payload",
                                             pstr(j->payload, "quick_reply")));
  }
  return att;
}

/* An echo matched to its send (which is now sent, with Meta's id), or to
 * none: then it is stored as a message of its own (sent from elsewhere). */
static void echo_matched(void *ctx, int status, json_t *result) {
  job_t *j = ctx;
  if (status == STORE_ENOTFOUND) {
    json_t *p = j->insert;
    j->insert = NULL;
    json_decref(result);
    if (call(j, MSG_INSERT, p, message_inserted) != 0) job_end(j);
    return;
  }
  if (failed(j, status, result)) return;
  fanout_message_updated(j->ig->app, json_object_get(result, "message"),
                         json_object_get(result, "participant_ids"));
  json_decref(result);
  finish(j);
}

static void store_message(job_t *j, json_t *conv_id);

static void conversation_ready(void *ctx, int status, json_t *result) {
  job_t *j = ctx;
  if (status != STORE_OK && j->out_cb) {
    ig_stored_t st = {status, NULL, NULL};
    j->out_cb(j->out_ctx, &st);
    json_decref(result);
    job_end(j);
    return;
  }
  if (failed(j, status, result)) return;
  json_t *conv = json_object_get(result, "conversation");
  if (json_is_true(json_object_get(result, "created"))) fanout_conversation(j->ig->app, conv, NULL);
  remember_conversation(j, pstr(conv, "id"));
  json_t *conv_id = json_incref(json_object_get(conv, "id"));
  json_decref(result);
  store_message(j, conv_id);
}

/* The message of the event (or the outgoing one) into its conversation:
 * MSG_INSERT, or an echo's match first. Takes conv_id. */
static void store_message(job_t *j, json_t *conv_id) {
  const char *owner = pstr(j->account, "user_id");
  char sender[96];
  const char *text, *mid;
  json_t *attachments = NULL;
  if (j->out_cb) {
    snprintf(sender, sizeof(sender), "%s", owner);
    text = j->text;
    mid = j->graph_mid;
  } else {
    int ours = j->kind == IG_EV_ECHO ||
               (j->kind == IG_EV_UNSEND && json_is_true(json_object_get(j->payload, "echo")));
    if (ours)
      snprintf(sender, sizeof(sender), "%s", owner);
    else
      snprintf(sender, sizeof(sender), "ig:%s", pstr(j->payload, "contact_id"));
    attachments = attachments_for(j, &text);
    /* Shapes without a message id are keyed by their event, so a retried
     * event stores nothing twice. */
    mid = pstr(j->payload, "mid");
    if (!mid) mid = pstr(j->event, "mid");
  }
  json_t *p = json_object();
  put(p, "conversation_id", conv_id ? conv_id : json_null());
  put(p, "sender_id", json_string(sender));
  if (text) put(p, "text", json_string(text));
  put(p, "source", json_string_nocheck(j->source ? j->source : "instagram"));
  if (mid) put(p, "external_id", json_string(mid));
  put(p, "check_member", json_false());
  if (json_array_size(attachments)) json_object_set(p, "attachments", attachments);
  /* An event whose message is all there is to it is marked processed by the
   * insert, in its transaction: not an unsend (deleted next), nor media still
   * to record (ATTACH_MEDIA_ADD comes first). */
  json_t *event_id = json_object_get(j->event, "id");
  if (!j->out_cb && j->kind != IG_EV_UNSEND && json_is_string(event_id) &&
      !fetches_media(attachments))
    json_object_set(p, "event_id", event_id);
  json_decref(attachments);
  if (j->out_cb && j->status) json_object_set_new(p, "status", json_string(j->status));
  if (j->out_cb && j->client_id) json_object_set_new(p, "client_id", json_string(j->client_id));
  if (j->out_cb && j->graph) json_object_set(p, "payload", j->graph);
  if (j->kind == IG_EV_ECHO && text && mid) {
    /* The echo of Parley's own send can overtake Graph's answer: it then
     * completes that send instead of being stored a second time. */
    j->insert = p;
    if (call(j, MSG_MATCH_ECHO,
             json_pack("{s:O, s:s, s:s}", "conversation_id", json_object_get(p, "conversation_id"),
                       "external_id", mid, "text", text),
             echo_matched) != 0)
      job_end(j);
    return;
  }
  if (call(j, MSG_INSERT, p, message_inserted) != 0) job_end(j);
}

static void contact_ready(void *ctx, int status, json_t *result) {
  job_t *j = ctx;
  if (failed(j, status, result)) return;
  j->contact = result;
  /* The profile is fetched beside the event, never in its way. */
  if (!j->out_cb && inbound(j->kind))
    ig_profiles_refresh(j->ig->profiles, j->account, result, NULL, NULL);
  char key[160];
  conv_key(j, key, sizeof(key));
  const char *known = strmap_get(&j->ig->conversations, key);
  if (known) {
    store_message(j, json_string(known));
    return;
  }
  const char *owner = pstr(j->account, "user_id");
  const char *name = pstr(result, "name");
  if (!name || !*name) name = pstr(result, "username");
  if (!name || !*name) name = pstr(result, "ig_user_id");
  if (call(j, CONV_CREATE,
           json_pack("{s:s, s:s, s:s, s:[s], s:O}", "type", "instagram", "name", name, "creator_id",
                     owner, "participant_ids", owner, "contact_id", json_object_get(result, "id")),
           conversation_ready) != 0)
    job_end(j);
}

/* The contact of the event, then its conversation and the message. */
static int upsert_contact(job_t *j) {
  json_t *owner = json_object_get(j->account, "user_id"),
         *ig_user = json_object_get(j->payload, "contact_id");
  if (!owner || !ig_user) return call(j, CONTACT_UPSERT, NULL, contact_ready); /* EINVAL */
  json_t *p = json_object();
  put(p, "owner_id", json_incref(owner));
  put(p, "ig_user_id", json_incref(ig_user));
  if (inbound(j->kind)) {
    char iso[32];
    json_int_t ts = json_integer_value(json_object_get(j->payload, "timestamp_ms"));
    util_iso8601(ts > 0 ? ts : util_now_ms(), iso);
    json_object_set_new(p, "last_inbound_at", json_string(iso));
  }
  return call(j, CONTACT_UPSERT, p, contact_ready);
}

/* ---- changes to a stored message: reactions, reads, unsends, edits ---- */

/* A message changed (reaction, unsend, edit): delivered live. */
static void acted(void *ctx, int status, json_t *result) {
  job_t *j = ctx;
  if (failed(j, status, result)) return;
  fanout_message_updated(j->ig->app, json_object_get(result, "message"),
                         json_object_get(result, "participant_ids"));
  attach_release_files(j->ig->app, result); /* an unsent message's media */
  json_decref(result);
  finish(j);
}

static void read_marked(void *ctx, int status, json_t *result) {
  job_t *j = ctx;
  if (failed(j, status, result)) return;
  json_decref(result);
  finish(j);
}

/* The emoji an unreaction removes: the one named, else the contact's own
 * reaction on the message (Meta's unreact may name none). */
static const char *unreacted_emoji(job_t *j, json_t *m, const char *who) {
  const char *emoji = pstr(j->payload, "emoji");
  if (emoji) return emoji;
  json_t *r, *u;
  size_t i, k;
  json_array_foreach(json_object_get(m, "reactions"), i, r) {
    json_array_foreach(json_object_get(r, "user_ids"), k, u) {
      if (strcmp(json_string_value(u) ? json_string_value(u) : "", who) == 0)
        return pstr(r, "emoji");
    }
  }
  return NULL;
}

/* 1 when the message is in a conversation of the account's owner. */
static int owners_message(job_t *j, json_t *result) {
  const char *owner = pstr(j->account, "user_id");
  json_t *id;
  size_t i;
  json_array_foreach(json_object_get(result, "participant_ids"), i, id) {
    if (owner && json_string_value(id) && strcmp(json_string_value(id), owner) == 0) return 1;
  }
  return 0;
}

static int change_target(job_t *j, json_t *m, json_t *participants, const char *who) {
  const json_t *id = json_object_get(m, "id");
  switch (j->kind) {
    case IG_EV_SEEN: {
      json_int_t seq = json_integer_value(json_object_get(m, "seq"));
      json_t *frame = json_pack("{s:s, s:O, s:s, s:I}", "type", "read", "conversation_id",
                                json_object_get(m, "conversation_id"), "user_id", who, "seq", seq);
      fanout_event(j->ig->app, frame, participants, NULL);
      json_decref(frame);
      return call(j, CONTACT_MARK_READ,
                  json_pack("{s:O, s:O, s:I}", "owner_id", json_object_get(j->account, "user_id"),
                            "ig_user_id", json_object_get(j->payload, "contact_id"), "seq", seq),
                  read_marked);
    }
    case IG_EV_UNSEND: {
      int echo = json_is_true(json_object_get(j->payload, "echo"));
      return call(j, MSG_DELETE,
                  json_pack("{s:O, s:s, s:b}", "id", id, "user_id",
                            echo ? pstr(j->account, "user_id") : who, "check_member", 0),
                  acted);
    }
    case IG_EV_EDIT:
      return call(j, MSG_EDIT,
                  json_pack("{s:O, s:s, s:O, s:b}", "id", id, "user_id", who, "text",
                            json_object_get(j->payload, "text"), "check_member", 0),
                  acted);
    default: {
      const char *emoji =
          j->kind == IG_EV_REACTION ? pstr(j->payload, "emoji") : unreacted_emoji(j, m, who);
      if (j->kind == IG_EV_UNREACTION && !emoji) {
        finish(j); /* nothing of the contact's to remove */
        return 0;
      }
      return call(j, MSG_REACT,
                  json_pack("{s:O, s:s, s:s, s:b, s:b}", "id", id, "user_id", who, "emoji",
                            emoji ? emoji : "\xe2\x9d\xa4", "add", j->kind == IG_EV_REACTION,
                            "check_member", 0),
                  acted);
    }
  }
}

static void target_found(void *ctx, int status, json_t *result) {
  job_t *j = ctx;
  if (status == STORE_ENOTFOUND && (j->kind == IG_EV_UNSEND || j->kind == IG_EV_EDIT)) {
    /* Out of order: the original is stored as it now is, deleted or edited. */
    json_decref(result);
    if (upsert_contact(j) != 0) job_end(j);
    return;
  }
  if (failed(j, status, result)) return;
  if (!owners_message(j, result)) {
    log_info("instagram: a %s event names a message of another account", pstr(j->payload, "kind"));
    json_decref(result);
    finish(j);
    return;
  }
  char who[96];
  snprintf(who, sizeof(who), "ig:%s", pstr(j->payload, "contact_id"));
  int rc = change_target(j, json_object_get(result, "message"),
                         json_object_get(result, "participant_ids"), who);
  json_decref(result);
  if (rc != 0) job_end(j);
}

static void account_found(void *ctx, int status, json_t *result) {
  job_t *j = ctx;
  if (status == STORE_ENOTFOUND)
    log_info("instagram: event for account %s, which nobody connected",
             pstr(j->payload, "account_id"));
  if (failed(j, status, result)) return;
  j->account = result;
  remember_account(j->ig, pstr(j->payload, "account_id"), result);
  int rc;
  switch (j->kind) {
    case IG_EV_UNSEND:
    case IG_EV_EDIT:
    case IG_EV_REACTION:
    case IG_EV_UNREACTION:
    case IG_EV_SEEN: {
      const char *mid = pstr(j->payload, j->kind == IG_EV_SEEN ? "watermark_mid" : "mid");
      rc = call(j, MSG_GET, json_pack("{s:s}", "external_id", mid ? mid : ""), target_found);
      break;
    }
    default:
      rc = upsert_contact(j);
  }
  if (rc != 0) job_end(j);
}

/* ---- scheduling ---- */

static int key_busy(ig_ingest_t *ig, const char *key) {
  for (job_t *j = ig->jobs; j; j = j->next)
    if (strcmp(j->key, key) == 0) return 1;
  return 0;
}

static job_t *job_new(ig_ingest_t *ig) {
  job_t *j = calloc(1, sizeof(*j));
  if (!j) return NULL;
  j->ig = ig;
  j->next = ig->jobs;
  if (ig->jobs) ig->jobs->prev = j;
  ig->jobs = j;
  ig->njobs++;
  return j;
}

static void start_jobs(ig_ingest_t *ig) {
  size_t i = 0;
  while (ig->njobs < MAX_JOBS && i < json_array_size(ig->queue)) {
    json_t *ev = json_array_get(ig->queue, i);
    json_t *payload = json_object_get(ev, "payload");
    char key[160];
    snprintf(key, sizeof(key), "%s:%s",
             pstr(payload, "account_id") ? pstr(payload, "account_id") : "",
             pstr(payload, "contact_id") ? pstr(payload, "contact_id") : "");
    if (key_busy(ig, key)) {
      i++;
      continue;
    }
    job_t *j = job_new(ig);
    if (!j) return;
    j->event = json_incref(ev);
    j->payload = payload;
    j->kind = ig_event_kind(payload);
    memcpy(j->key, key, strlen(key) + 1); /* the same size: it fits */
    json_array_remove(ig->queue, i);
    const char *account = pstr(payload, "account_id");
    /* An unknown shape that names nobody has no conversation to land in: it
     * stays in the event log, processed. */
    int nobody = !pstr(payload, "contact_id");
    if (nobody) log_info("instagram: an event of kind %s names no contact", pstr(payload, "kind"));
    json_t *known = account && !nobody ? cached_account(ig, account) : NULL;
    if (known) {
      account_found(j, STORE_OK, known);
      continue;
    }
    if (nobody || !account ||
        call(j, IG_ACCOUNT_GET, json_pack("{s:s, s:b}", "ig_user_id", account, "with_token", 1),
             account_found) != 0) {
      if (nobody)
        finish(j);
      else
        job_end(j);
    }
  }
}

void ig_ingest_hold(ig_ingest_t *ig, json_t *events) {
  json_t *e;
  size_t i;
  json_array_foreach(events, i, e) {
    char id[25];
    util_new_ordered_id(id);
    json_object_set_new(e, "id", json_string(id));
    json_t *payload = json_object_get(e, "payload");
    if (!ig || !payload) continue;
    if (strmap_count(&ig->held) >= HELD_MAX) strmap_sweep(&ig->held, drop_payload, NULL);
    if (strmap_put(&ig->held, id, json_incref(payload)) != 0) json_decref(payload);
  }
}

/* An event's payload: the one held since its webhook, else parsed from the
 * stored text (an event stored by another instance, or before a restart). */
static void payload_of(ig_ingest_t *ig, json_t *ev) {
  if (json_object_get(ev, "payload")) return;
  const char *id = pstr(ev, "id");
  json_t *payload = id ? strmap_del(&ig->held, id) : NULL;
  if (!payload) {
    const char *text = pstr(ev, "payload_text");
    payload = text ? json_loads(text, 0, NULL) : NULL;
    if (!json_is_object(payload)) {
      json_decref(payload);
      payload = json_object();
    }
  }
  json_object_del(ev, "payload_text");
  json_object_set_new(ev, "payload", payload);
}

static void fetched(void *ctx, int status, json_t *result) {
  ig_ingest_t *ig = ctx;
  ig->fetching = 0;
  if (status != STORE_OK) {
    json_decref(result);
    return; /* the next webhook or restart retries */
  }
  json_t *events = json_object_get(result, "events"), *ev;
  size_t i;
  json_array_foreach(events, i, ev) payload_of(ig, ev);
  json_array_extend(ig->queue, events);
  /* A full batch means there may be more behind it. A kick that arrived while
   * the batch was read stays: its event may have been stored after the read
   * saw the table (MongoDB runs the two beside each other). */
  if (json_array_size(events) >= BATCH) ig->again = 1;
  json_decref(result);
  start_jobs(ig);
  if (ig->njobs == 0 && json_array_size(ig->queue) == 0 && ig->again) fetch(ig);
}

static void fetch(ig_ingest_t *ig) {
  if (ig->closing || ig->fetching) return;
  ig->again = 0;
  ig->fetching = 1;
  if (store_call(ig->app->store, EVENT_LIST_PENDING,
                 json_pack("{s:i, s:b}", "limit", BATCH, "payload_text", 1), fetched, ig) != 0)
    ig->fetching = 0;
}

void ig_ingest_kick(ig_ingest_t *ig) {
  if (!ig) return;
  /* Events in flight are still pending in the store: fetch only when idle, so
   * nothing is processed twice. */
  if (ig->fetching || ig->njobs > 0 || json_array_size(ig->queue) > 0) {
    ig->again = 1;
    return;
  }
  fetch(ig);
}

void ig_ingest_store_outgoing(ig_ingest_t *ig, json_t *account, json_t *contact, const char *text,
                              const char *graph_mid, const char *client_id, const char *status,
                              const char *source, const json_t *graph, ig_stored_fn cb, void *ctx) {
  job_t *j = job_new(ig);
  if (!j) {
    ig_stored_t st = {STORE_EBUSY, NULL, NULL};
    cb(ctx, &st);
    return;
  }
  j->account = json_incref(account);
  j->out_cb = cb;
  j->out_ctx = ctx;
  j->text = strdup(text);
  j->graph_mid = graph_mid && *graph_mid ? strdup(graph_mid) : NULL;
  j->client_id = client_id ? strdup(client_id) : NULL;
  j->graph = graph ? json_deep_copy(graph) : NULL;
  j->status = status;
  j->source = source;
  snprintf(j->key, sizeof(j->key), "out:%p", (void *)j);
  contact_ready(j, STORE_OK, json_incref(contact));
}
