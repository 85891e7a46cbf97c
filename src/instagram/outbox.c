/* outbox: the stored-first send of a message to an Instagram contact (see
 * outbox.h): store pending, claim a failed retry once, Graph API send, store the
 * outcome, message.updated. Each send owns copies of what it needs until its
 * last callback. Owner: the Instagram module. Loop thread. */
#include "instagram/outbox.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chat/fanout.h"
#include "instagram/health.h"
#include "instagram/ingest.h"
#include "instagram/sweep.h"
#include "instagram/takeover.h"
#include "instagram/window.h"
#include "parley/log.h"
#include "parley/store.h"
#include "parley/util.h"

/* One send, from the stored message to its stored outcome. */
typedef struct send_s {
  app_t *app;
  json_t *account;
  json_t *contact;
  json_t *message;      /* as stored pending */
  json_t *participants; /* the conversation's, as the insert answered them, or NULL */
  int want_message;     /* done gets the message as it ends (else it may be NULL) */
  char *token;
  char *text;            /* ig_outbox_send: the text to store */
  char *client_id;       /* ig_outbox_send */
  const char *tag;       /* static */
  json_t *graph_message; /* Meta's message object, or NULL: the stored text */
  char *comment_id;      /* a private reply to this comment, or NULL */
  ig_accepted_fn accepted;
  ig_sent_fn done;
  void *ctx;
  /* the Graph outcome, kept while it is stored */
  int sent;
  char code[32];
  char error[256];
} send_t;

static void send_free(send_t *s) {
  json_decref(s->account);
  json_decref(s->contact);
  json_decref(s->message);
  json_decref(s->participants);
  if (s->token) sodium_memzero(s->token, strlen(s->token));
  free(s->token);
  free(s->text);
  free(s->client_id);
  json_decref(s->graph_message);
  free(s->comment_id);
  free(s);
}

static send_t *send_new(app_t *app, json_t *account, json_t *contact, const char *token,
                        ig_accepted_fn accepted, ig_sent_fn done, void *ctx) {
  send_t *s = calloc(1, sizeof(*s));
  if (!s) return NULL;
  s->app = app;
  s->account = json_incref(account);
  s->contact = json_incref(contact);
  s->token = strdup(token ? token : "");
  s->accepted = accepted;
  s->done = done;
  s->ctx = ctx;
  if (!s->token) {
    send_free(s);
    return NULL;
  }
  return s;
}

/* The end: done with the outcome, and the send is freed. */
static void end(send_t *s, int status, json_t *message) {
  ig_sent_t out = {s->sent, s->sent ? NULL : s->code, s->sent ? NULL : s->error, status, message};
  if (s->done) s->done(s->ctx, &out);
  send_free(s);
}

static void end_error(send_t *s, const char *code, const char *error) {
  s->sent = 0;
  snprintf(s->code, sizeof(s->code), "%s", code);
  snprintf(s->error, sizeof(s->error), "%s", error);
  end(s, STORE_OK, NULL);
}

/* ---- the outcome, stored ---- */

static void reread(void *ctx, int status, json_t *result) {
  send_t *s = ctx;
  json_t *msg = status == STORE_OK ? json_object_get(result, "message") : NULL;
  if (msg) fanout_message_updated(s->app, msg, json_object_get(result, "participant_ids"));
  end(s, STORE_OK, msg);
  json_decref(result);
}

static void outcome_stored(void *ctx, int status, json_t *result) {
  send_t *s = ctx;
  json_t *msg = json_object_get(result, "message");
  if (status == STORE_OK && !msg) {
    /* A brief answer: the outcome is stored, the message not read back. A
     * session that connected since it was asked for gets it read now. */
    json_t *ids = json_object_get(result, "participant_ids");
    json_t *id = json_object_get(s->message, "id");
    if (fanout_wanted(s->app, ids,
                      json_string_value(json_object_get(s->message, "conversation_id"))) &&
        store_call(s->app->store, MSG_GET, json_pack("{s:O}", "id", id), reread, s) == 0) {
      json_decref(result);
      return;
    }
    end(s, STORE_OK, NULL);
    json_decref(result);
    return;
  }
  if (status != STORE_OK)
    log_warn("instagram: the outcome of message %s could not be stored (%d)",
             json_string_value(json_object_get(s->message, "id")), status);
  else if (json_is_true(json_object_get(result, "changed")))
    fanout_message_updated(s->app, msg, json_object_get(result, "participant_ids"));
  end(s, status, msg);
  json_decref(result);
}

static void graph_done(void *ctx, const graph_result_t *res) {
  send_t *s = ctx;
  json_t *p;
  const char *id = json_string_value(json_object_get(s->message, "id"));
  s->sent = res->ok;
  if (res->ok) {
    p = json_pack("{s:s, s:s, s:n}", "id", id, "status", "sent", "error");
    if (res->message_id && *res->message_id)
      json_object_set_new(p, "external_id", json_string(res->message_id));
  } else {
    if (res->unknown)
      snprintf(s->code, sizeof(s->code), "unknown_outcome");
    else if (res->error && strcmp(res->error, "rate_limited") == 0)
      snprintf(s->code, sizeof(s->code), "rate_limited");
    else if (res->code)
      snprintf(s->code, sizeof(s->code), "%d", res->code);
    else
      snprintf(s->code, sizeof(s->code), "upstream_error");
    snprintf(s->error, sizeof(s->error), "%s", res->error ? res->error : "Graph API error");
    p = json_pack("{s:s, s:s, s:{s:s, s:s}}", "id", id, "status", "failed", "error", "code",
                  s->code, "message", s->error);
    if (res->code == 190)
      ig_health_token_refused(s->app, json_string_value(json_object_get(s->account, "user_id")),
                              s->code, s->error);
  }
  /* Nobody to tell (no session here, no other instance) and a caller that
   * does not want the message back: the store does not read it back. */
  if (p && !s->want_message && json_is_array(s->participants) &&
      !fanout_wanted(s->app, s->participants,
                     json_string_value(json_object_get(s->message, "conversation_id"))))
    json_object_set_new(p, "brief", json_true());
  /* The store reads the participants without looking the message up. */
  if (p && json_is_string(json_object_get(s->message, "conversation_id")))
    json_object_set(p, "conversation_id", json_object_get(s->message, "conversation_id"));
  if (!p || store_call(s->app->store, MSG_SET_DELIVERY, p, outcome_stored, s) != 0) {
    log_warn("instagram: the outcome of message %s could not be stored (store busy)", id);
    end(s, STORE_EBUSY, s->message);
  }
}

/* The message (stored pending) goes out: as Meta's message object when it was
 * sent as one (kept on the stored message, so a retry sends it whole), else as
 * its text. */
static void deliver(send_t *s) {
  if (!s->graph_message && !s->comment_id) {
    json_t *meta = json_object_get(s->message, "meta_message");
    const char *comment = json_string_value(json_object_get(s->message, "comment_id"));
    if (json_is_object(meta)) s->graph_message = json_incref(meta);
    if (comment && *comment) s->comment_id = strdup(comment);
  }
  const char *text = json_string_value(json_object_get(s->message, "text"));
  const char *from = json_string_value(json_object_get(s->account, "ig_user_id"));
  int rc = -1;
  if (s->app->graph && (s->graph_message || s->comment_id)) {
    json_t *to = s->comment_id
                     ? json_pack("{s:s}", "comment_id", s->comment_id)
                     : json_pack("{s:O}", "id", json_object_get(s->contact, "ig_user_id"));
    json_t *msg = s->graph_message ? json_incref(s->graph_message)
                                   : json_pack("{s:s}", "text", text ? text : "");
    if (to && msg)
      rc = graph_send_message(s->app->graph, from, s->token, to, msg, s->tag, graph_done, s);
    json_decref(to);
    json_decref(msg);
  } else if (s->app->graph) {
    rc = graph_send_text(s->app->graph, from, s->token,
                         json_string_value(json_object_get(s->contact, "ig_user_id")),
                         text ? text : "", s->tag, graph_done, s);
  }
  if (rc != 0) {
    graph_result_t r = {0, NULL, 0, "cannot start the Graph API request", 0, NULL, 0};
    graph_done(s, &r);
  }
}

/* ---- from the stored message ---- */

static void claimed(void *ctx, int status, json_t *result) {
  send_t *s = ctx;
  json_t *msg = json_object_get(result, "message");
  if (status != STORE_OK) {
    /* The failed message stays failed; the caller hears the original. */
    if (s->accepted) s->accepted(s->ctx, s->message, 0, 0);
    send_free(s);
  } else if (!json_is_true(json_object_get(result, "changed"))) {
    /* Someone else claimed it first, or it is no longer failed. */
    if (s->accepted) s->accepted(s->ctx, msg, 0, 0);
    send_free(s);
  } else {
    fanout_message_updated(s->app, msg, json_object_get(result, "participant_ids"));
    json_decref(s->message);
    s->message = json_incref(msg);
    if (s->accepted) s->accepted(s->ctx, msg, 0, 1);
    deliver(s);
  }
  json_decref(result);
}

static void start(send_t *s, json_t *insert) {
  json_t *msg = json_object_get(insert, "message");
  int created = json_is_true(json_object_get(insert, "created"));
  const char *status = json_string_value(json_object_get(msg, "status"));
  s->message = json_incref(msg);
  s->participants = json_incref(json_object_get(insert, "participant_ids"));
  if (created) {
    /* A person's reply (not a flow's) takes the conversation over. */
    const char *source = json_string_value(json_object_get(msg, "source"));
    if (!source || strcmp(source, "flow") != 0) ig_takeover_on_reply(s->app, msg);
    if (s->accepted) s->accepted(s->ctx, msg, 1, 1);
    deliver(s);
    return;
  }
  if (status && strcmp(status, "failed") == 0) {
    /* The retry is leased to this instance from now (see sweep.h). */
    json_t *p = json_pack("{s:O, s:s, s:n, s:s, s:I}", "id", json_object_get(msg, "id"), "status",
                          "pending", "error", "expect", "failed", "pending_until_ms",
                          (json_int_t)(util_now_ms() + ig_sweep_lease_ms(s->app)));
    if (store_call(s->app->store, MSG_SET_DELIVERY, p, claimed, s) == 0) return;
  }
  if (s->accepted) s->accepted(s->ctx, msg, 0, 0);
  send_free(s);
}

void ig_outbox_start(app_t *app, json_t *account, json_t *contact, const char *token,
                     json_t *insert, const char *tag, ig_accepted_fn accepted, ig_sent_fn done,
                     void *ctx) {
  send_t *s = send_new(app, account, contact, token, accepted, done, ctx);
  if (!s) {
    if (accepted) accepted(ctx, json_object_get(insert, "message"), 0, 0);
    return;
  }
  s->tag = tag;
  s->want_message = done != NULL;
  start(s, insert);
}

/* ---- ig_outbox_send: the send-message call and flows ---- */

static void stored(void *ctx, const ig_stored_t *st) {
  send_t *s = ctx;
  if (st->status != STORE_OK || !st->result) {
    s->sent = 0;
    snprintf(s->code, sizeof(s->code), "unavailable");
    snprintf(s->error, sizeof(s->error), "the message could not be stored");
    end(s, st->status != STORE_OK ? st->status : STORE_EUNAVAILABLE, NULL);
    return;
  }
  start(s, st->result);
}

static int send_message(app_t *app, json_t *account, json_t *contact, const char *token,
                        const char *text, const json_t *message, const char *comment_id,
                        const char *client_id, const char *source, int agent,
                        ig_accepted_fn accepted, ig_sent_fn done, void *ctx, int want_message) {
  if (!app->ingest || !app->graph) return -1;
  send_t *s = send_new(app, account, contact, token, accepted, done, ctx);
  if (!s) return -1;
  s->want_message = want_message;
  s->text = strdup(text);
  s->client_id = client_id ? strdup(client_id) : NULL;
  s->graph_message = message ? json_deep_copy(message) : NULL;
  s->comment_id = comment_id ? strdup(comment_id) : NULL;
  if (!s->text || (client_id && !s->client_id) || (message && !s->graph_message) ||
      (comment_id && !s->comment_id)) {
    send_free(s);
    return -1;
  }
  const char *health = json_string_value(json_object_get(account, "status"));
  if (health && strcmp(health, "connected") != 0) {
    end_error(s, "reconnect_needed",
              "the Instagram account needs to be reconnected (its token was refused or expired)");
    return 0;
  }
  /* A private reply answers a comment, not a message: Meta allows it (once)
   * within 7 days of the comment, whatever the messaging window. */
  if (!s->comment_id && !ig_window_open(app, contact, agent, &s->tag)) {
    end_error(s, "outside_messaging_window", "the contact has not written in the last 24 hours");
    return 0;
  }
  /* What goes to Meta is kept with the message: a retry sends it whole. */
  json_t *graph = NULL;
  if (s->graph_message || s->comment_id) {
    graph = json_object();
    if (s->graph_message) json_object_set(graph, "meta_message", s->graph_message);
    if (s->comment_id) json_object_set_new(graph, "comment_id", json_string(s->comment_id));
  }
  ig_ingest_store_outgoing(app->ingest, account, contact, s->text, NULL, s->client_id, "pending",
                           source, graph, stored, s);
  json_decref(graph);
  return 0;
}

int ig_outbox_send(app_t *app, json_t *account, json_t *contact, const char *token,
                   const char *text, const char *client_id, const char *source, int agent,
                   ig_accepted_fn accepted, ig_sent_fn done, void *ctx) {
  return send_message(app, account, contact, token, text, NULL, NULL, client_id, source, agent,
                      accepted, done, ctx, 1);
}

int ig_outbox_send_message(app_t *app, json_t *account, json_t *contact, const char *token,
                           const char *text, const json_t *message, const char *comment_id,
                           const char *client_id, const char *source, int agent,
                           ig_accepted_fn accepted, ig_sent_fn done, void *ctx) {
  return send_message(app, account, contact, token, text, message, comment_id, client_id, source,
                      agent, accepted, done, ctx, 0);
}
