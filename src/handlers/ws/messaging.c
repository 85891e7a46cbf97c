/* The messaging frames of the WebSocket protocol (API.md): message.send,
 * typing, read, delivered and sync from clients, and presence as sessions come and go.
 * protocol.c authenticates and dispatches here. A store job never holds a
 * session pointer, only its user and id: the session is looked up in the hub
 * when the job completes, since it may have closed meanwhile. Loop thread.
 *
 * Who gets what for a message.send: the sending session gets message.ack (and
 * not message.new for the same message); every other session of every
 * participant, the sender's other sessions included, gets message.new. */
#include "handlers/ws/messaging.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chat/attach_url.h"
#include "chat/channel_subs.h"
#include "chat/conv_view.h"
#include "chat/fanout.h"
#include "chat/fields.h"
#include "chat/presence.h"
#include "chat/presence_snapshot.h"
#include "chat/read.h"
#include "handlers/ws/reply.h"
#include "instagram/reply.h"
#include "parley/bots.h"
#include "parley/store.h"

#define ID_MAX_CHARS FIELDS_ID_MAX
/* A sync.result is trimmed (has_more set) to stay well under the output limit
 * that drops slow sessions. */
#define SYNC_MAX_BYTES (256 * 1024)

typedef struct frame_job_s {
  app_t *app;
  uint64_t session;
  char user[64];
  char conv[ID_MAX_CHARS + 1];
  char ref[FIELDS_CLIENT_ID_MAX * 4 + 1]; /* client_id, as bytes */
  int has_ref;
  const char *state;      /* typing: "start" or "stop" (static) */
  char *text;             /* message.send to an Instagram conversation: the text */
  json_t *reply;          /* message.send: {reply_to, mentions} as sent, or NULL */
  json_t *attachment_ids; /* message.send with files */
  json_t *ciphertexts;    /* message.send to a secret conversation */
} frame_job_t;

static void job_free(frame_job_t *j) {
  free(j->text);
  json_decref(j->reply);
  json_decref(j->attachment_ids);
  json_decref(j->ciphertexts);
  free(j);
}

/* ---- replies to the session that sent the frame ---- */

typedef struct find_s {
  uint64_t id;
  ws_session_t *s;
} find_t;

static void find_one(ws_session_t *s, void *arg) {
  find_t *f = arg;
  if (s->id == f->id) f->s = s;
}

/* The job's session if it is still open. */
static ws_session_t *job_session(frame_job_t *j) {
  find_t f = {j->session, NULL};
  if (j->app->hub) hub_foreach(j->app->hub, j->user, find_one, &f);
  return f.s;
}

static const char *job_ref(frame_job_t *j) { return j->has_ref ? j->ref : NULL; }

static void job_error(frame_job_t *j, int status) {
  ws_session_t *s = job_session(j);
  if (!s) return;
  if (status == STORE_ENOTFOUND)
    ws_reply_error(s, "not_found", "no such conversation", job_ref(j), "conversation_id");
  else if (status == STORE_EFORBIDDEN)
    ws_reply_error(s, "forbidden", "not allowed", job_ref(j), NULL);
  else if (status == STORE_EINVAL)
    ws_reply_error(s, "validation_failed", "invalid parameters", job_ref(j), NULL);
  else
    ws_reply_error(s, "unavailable", "the store is unavailable, try again", job_ref(j), NULL);
}

/* src into dst of cap bytes, cut as snprintf("%s") cuts it: three snprintf
 * calls a frame were 1,700 instructions of every message.send. */
static void copy_cut(char *dst, size_t cap, const char *src) {
  size_t n = strnlen(src, cap - 1);
  memcpy(dst, src, n);
  dst[n] = '\0';
}

static frame_job_t *job_new(ws_session_t *s, const char *conv, const char *ref) {
  frame_job_t *j = calloc(1, sizeof(*j));
  if (!j) return NULL;
  j->app = s->app;
  j->session = s->id;
  copy_cut(j->user, sizeof(j->user), s->user_id);
  copy_cut(j->conv, sizeof(j->conv), conv);
  if (ref) {
    copy_cut(j->ref, sizeof(j->ref), ref);
    j->has_ref = 1;
  }
  return j;
}

/* Submits a store job for the frame; on refusal answers unavailable. */
static int job_call(ws_session_t *s, frame_job_t *j, enum store_op op, json_t *params,
                    store_cb cb) {
  int rc = s->app->store ? store_call(s->app->store, op, params, cb, j) : STORE_ECLOSED;
  if (rc != 0) {
    if (!s->app->store) json_decref(params);
    job_error(j, STORE_EUNAVAILABLE);
    job_free(j);
  }
  return rc;
}

/* The conversation_id of a frame, or NULL after an error frame. */
static const char *frame_conv(ws_session_t *s, json_t *frame, const char *ref) {
  json_t *v = json_object_get(frame, "conversation_id");
  if (!fields_string_ok(v, 1, ID_MAX_CHARS)) {
    ws_reply_error(s, "validation_failed", "conversation_id must be a conversation id", ref,
                   "conversation_id");
    return NULL;
  }
  return json_string_value(v);
}

/* An integer field in min..max; returns 1, 0 when absent (*out = def), -1
 * after an error frame. */
static int frame_int(ws_session_t *s, json_t *frame, const char *name, long long min, long long max,
                     long long def, const char *ref, long long *out) {
  json_t *v = json_object_get(frame, name);
  *out = def;
  if (!v) return 0;
  if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max) {
    char msg[128];
    snprintf(msg, sizeof(msg), "%s must be an integer from %lld to %lld", name, min, max);
    ws_reply_error(s, "validation_failed", msg, ref, name);
    return -1;
  }
  *out = (long long)json_integer_value(v);
  return 1;
}

/* ---- message.send ---- */

static void on_sent(void *ctx, int status, json_t *result) {
  frame_job_t *j = ctx;
  ws_session_t *s;
  if (status == STORE_EINVAL && !j->reply && (s = job_session(j))) {
    /* The store's payload rule (the conversation's type decides). */
    const char *field = j->ciphertexts ? "ciphertexts" : "text";
    ws_reply_error(s, "validation_failed", fields_secret_refused(field), job_ref(j), field);
  } else if (status == STORE_EINVAL && j->reply && (s = job_session(j))) {
    const char *field = NULL, *msg = fields_reply_refused(j->reply, &field);
    ws_reply_error(s, "validation_failed", msg, job_ref(j), field);
  } else if (status != STORE_OK) {
    job_error(j, status);
  } else if (json_is_true(json_object_get(result, "created"))) {
    json_t *msg = json_object_get(result, "message"),
           *ids = json_object_get(result, "participant_ids");
    fanout_message_new(j->app, msg, ids, j->user, j->session, job_ref(j));
    bots_on_message(j->app, msg, ids);
  } else {
    /* A retried client_id: the original, to this session only. */
    s = job_session(j);
    if (s)
      ws_reply_json(
          s,
          json_pack("{s:s, s:s?, s:o}", "type", "message.ack", "client_id", job_ref(j), "message",
                    attach_url_message_copy(j->app, json_object_get(result, "message"))));
  }
  json_decref(result);
  job_free(j);
}

/* Sets key to v (stolen); 1 when v is NULL or the set failed. */
static int put(json_t *obj, const char *key, json_t *v) {
  return !v || json_object_set_new_nocheck(obj, key, v) != 0;
}

/* A string, json null for NULL; NULL when not valid UTF-8 (as json_pack's "s?"). */
static json_t *str_or_null(const char *v) { return v ? json_string(v) : json_null(); }

/* The frame's own string value v, shared, when it holds exactly want; else a
 * copy of want (json null for NULL). The frame's strings were checked (UTF-8,
 * no NUL: fields_string_ok), so the copy json_string made was the same text;
 * jansson counts references atomically and nobody changes a string in place,
 * so the store thread and the result may hold it after the frame is gone. */
static json_t *same_or_copy(json_t *v, const char *want) {
  if (want && json_is_string(v) && strcmp(json_string_value(v), want) == 0) return json_incref(v);
  return str_or_null(want);
}

/* "web", made once and shared by every message.send's params (and, through
 * them, by the store's row and the result). Loop thread. */
static json_t *web_source(void) {
  static json_t *web;
  if (!web) web = json_string_nocheck("web");
  return web ? json_incref(web) : NULL;
}

/* What message.send's frame held, for its params (NULL members when the frame
 * is gone: an Instagram conversation's send that turned out to be chat). */
typedef struct sent_vals_s {
  json_t *conv, *text, *client_id;
} sent_vals_t;

/* MSG_INSERT's params, member by member: json_pack parsed its format at every
 * message (10,800 instructions). The same members and values as the format
 * "{s:s, s:s, s:s?, s:s?, s:s, s:b, s:O?, s:O?}" made, NULL where it failed,
 * except that reply_to and mentions are left out rather than null when the
 * frame has neither (both stores read an absent one as null: store.c's
 * store_mentions_ok and store_has_reply_or_mentions, and check_reply); the
 * frame's strings are shared rather than copied (same_or_copy). */
static json_t *send_params(ws_session_t *s, frame_job_t *j, const char *text,
                           const sent_vals_t *v) {
  json_t *p = json_object(), *reply = json_object_get(j->reply, "reply_to"),
         *mentions = json_object_get(j->reply, "mentions");
  if (!p) return NULL;
  int bad = put(p, "conversation_id", same_or_copy(v->conv, j->conv));
  bad |= put(p, "sender_id", json_string(s->user_id));
  bad |= put(p, "text", same_or_copy(v->text, text));
  bad |= put(p, "client_id", same_or_copy(v->client_id, job_ref(j)));
  bad |= put(p, "source", web_source());
  bad |= put(p, "check_member", json_true());
  if (j->reply) {
    bad |= put(p, "reply_to", reply ? json_incref(reply) : json_null());
    bad |= put(p, "mentions", mentions ? json_incref(mentions) : json_null());
  }
  if (bad) {
    json_decref(p);
    return NULL;
  }
  return p;
}

static void send_chat(ws_session_t *s, frame_job_t *j, const char *text, const sent_vals_t *v) {
  json_t *params = send_params(s, j, text, v);
  if (j->attachment_ids) json_object_set(params, "attachment_ids", j->attachment_ids);
  if (j->ciphertexts)
    json_object_set_new(params, "payload", json_pack("{s:O}", "ciphertexts", j->ciphertexts));
  job_call(s, j, MSG_INSERT, params, on_sent);
}

/* An Instagram conversation's answer: a new message was acknowledged by the
 * fan-out; an earlier send of the client_id is acknowledged here; errors are
 * error frames. */
static void on_ig_answered(void *ctx, const ig_reply_res_t *r) {
  frame_job_t *j = ctx;
  ws_session_t *s = job_session(j);
  if (r->chat) {
    if (s) {
      sent_vals_t none = {NULL, NULL, NULL};
      send_chat(s, j, j->text, &none);
      return;
    }
  } else if (r->code) {
    if (s) ws_reply_error(s, r->code, r->message, job_ref(j), r->field);
  } else if (!r->msg) {
    job_error(j, r->store_status);
  } else if (!r->created && s) {
    ws_reply_json(s, json_pack("{s:s, s:s?, s:o}", "type", "message.ack", "client_id", job_ref(j),
                               "message", attach_url_message_copy(j->app, r->msg)));
  }
  job_free(j);
}

void ws_messaging_send(ws_session_t *s, json_t *frame, const char *ref) {
  json_t *cid = json_object_get(frame, "client_id");
  if (cid && !json_is_null(cid) && !json_is_string(cid)) ref = NULL;
  const char *conv = frame_conv(s, frame, ref);
  if (!conv) return;
  const char *bad = fields_check_send(frame);
  if (bad) {
    ws_reply_error(s, "validation_failed", fields_send_error(bad),
                   strcmp(bad, "client_id") != 0 ? ref : NULL, bad);
    return;
  }
  frame_job_t *j = job_new(s, conv, ref);
  if (!j) return;
  sent_vals_t v = {json_object_get(frame, "conversation_id"), json_object_get(frame, "text"),
                   json_object_get(frame, "client_id")};
  const char *text = json_string_value(v.text);
  if (fields_has_attachments(frame))
    j->attachment_ids = json_incref(json_object_get(frame, "attachment_ids"));
  if (fields_has_ciphertexts(frame)) {
    j->ciphertexts = json_incref(json_object_get(frame, "ciphertexts"));
    send_chat(s, j, NULL, &v);
    return;
  }
  if (fields_has_reply(frame)) {
    /* The store checks what they name, and refuses both in an instagram
     * conversation: nothing reaches the Graph API. */
    j->reply = json_pack("{s:O?, s:O?}", "reply_to", json_object_get(frame, "reply_to"), "mentions",
                         json_object_get(frame, "mentions"));
    if (!j->reply) {
      job_error(j, STORE_EUNAVAILABLE);
      job_free(j);
      return;
    }
    send_chat(s, j, text, &v);
    return;
  }
  if (ig_reply_is_chat(s->app, conv)) {
    send_chat(s, j, text, &v);
    return;
  }
  /* Not known as chat: an Instagram conversation goes out through the Graph
   * API (text, or one file sent by URL). */
  j->text = text ? strdup(text) : NULL;
  ig_reply_req_t ig = {conv, s->user_id, text, j->attachment_ids, ref, s->user_id, s->id};
  if ((text && !j->text) || ig_reply_send(s->app, &ig, on_ig_answered, j) != 0) {
    job_error(j, STORE_EUNAVAILABLE);
    job_free(j);
  }
}

/* ---- typing ---- */

static void on_typing_conv(void *ctx, int status, json_t *result) {
  frame_job_t *j = ctx;
  if (status != STORE_OK) {
    job_error(j, status);
  } else {
    json_t *ids = conv_view_participant_ids(result);
    json_t *frame = json_pack("{s:s, s:s, s:s, s:s}", "type", "typing", "conversation_id", j->conv,
                              "user_id", j->user, "state", j->state);
    if (frame && ids) fanout_event(j->app, frame, ids, j->user);
    json_decref(frame);
    json_decref(ids);
  }
  json_decref(result);
  job_free(j);
}

void ws_messaging_typing(ws_session_t *s, json_t *frame, const char *ref) {
  const char *conv = frame_conv(s, frame, ref);
  if (!conv) return;
  const char *state = json_string_value(json_object_get(frame, "state"));
  if (!state || (strcmp(state, "start") != 0 && strcmp(state, "stop") != 0)) {
    ws_reply_error(s, "validation_failed", "state must be \"start\" or \"stop\"", ref, "state");
    return;
  }
  frame_job_t *j = job_new(s, conv, ref);
  if (!j) return;
  j->state = strcmp(state, "start") == 0 ? "start" : "stop";
  job_call(s, j, CONV_GET, json_pack("{s:s, s:s}", "id", conv, "user_id", s->user_id),
           on_typing_conv);
}

/* ---- read ---- */

static void on_read(void *ctx, int status) {
  frame_job_t *j = ctx;
  if (status != STORE_OK) job_error(j, status);
  job_free(j);
}

/* read and delivered: the same frame shape, a different position. */
static void mark_frame(ws_session_t *s, json_t *frame, const char *ref, int delivered) {
  const char *conv = frame_conv(s, frame, ref);
  if (!conv) return;
  long long seq;
  int has = frame_int(s, frame, "seq", 0, INT64_MAX / 2, 0, ref, &seq);
  if (has < 0) return;
  if (!has) {
    ws_reply_error(s, "validation_failed", "seq is required", ref, "seq");
    return;
  }
  frame_job_t *j = job_new(s, conv, ref);
  if (!j) return;
  int rc = delivered ? read_mark_delivered(s->app, conv, s->user_id, seq, on_read, j)
                     : read_mark(s->app, conv, s->user_id, seq, on_read, j);
  if (rc != 0) {
    job_error(j, rc);
    job_free(j);
  }
}

void ws_messaging_read(ws_session_t *s, json_t *frame, const char *ref) {
  mark_frame(s, frame, ref, 0);
}

void ws_messaging_delivered(ws_session_t *s, json_t *frame, const char *ref) {
  mark_frame(s, frame, ref, 1);
}

/* ---- sync ---- */

static void on_synced(void *ctx, int status, json_t *result) {
  frame_job_t *j = ctx;
  ws_session_t *s = status == STORE_OK ? job_session(j) : NULL;
  if (status != STORE_OK) {
    job_error(j, status);
  } else if (s) {
    json_t *msgs = json_object_get(result, "messages");
    attach_url_messages(j->app, msgs);
    json_t *frame =
        json_pack("{s:s, s:s, s:O, s:O}", "type", "sync.result", "conversation_id", j->conv,
                  "messages", msgs, "has_more", json_object_get(result, "has_more"));
    char *text = frame ? json_dumps(frame, JSON_COMPACT) : NULL;
    /* Too big for one frame: send the older half, the client asks again. */
    while (text && strlen(text) > SYNC_MAX_BYTES && json_array_size(msgs) > 1) {
      free(text);
      size_t keep = json_array_size(msgs) / 2;
      json_t *half = json_array();
      for (size_t i = 0; i < keep; i++) json_array_append(half, json_array_get(msgs, i));
      json_object_set_new(frame, "messages", half);
      json_object_set_new(frame, "has_more", json_true());
      msgs = half;
      text = json_dumps(frame, JSON_COMPACT);
    }
    if (text) ws_session_send(s, text, strlen(text));
    free(text);
    json_decref(frame);
  }
  json_decref(result);
  job_free(j);
}

void ws_messaging_sync(ws_session_t *s, json_t *frame, const char *ref) {
  const char *conv = frame_conv(s, frame, ref);
  if (!conv) return;
  long long after, limit;
  int has = frame_int(s, frame, "after_seq", 0, INT64_MAX / 2, 0, ref, &after);
  if (has < 0) return;
  if (!has) {
    ws_reply_error(s, "validation_failed", "after_seq is required", ref, "after_seq");
    return;
  }
  if (frame_int(s, frame, "limit", 1, FIELDS_LIMIT_MAX, FIELDS_LIMIT_DEFAULT, ref, &limit) < 0)
    return;
  frame_job_t *j = job_new(s, conv, ref);
  if (!j) return;
  job_call(s, j, MSG_LIST,
           json_pack("{s:s, s:s, s:I, s:I}", "conversation_id", conv, "user_id", s->user_id,
                     "limit", (json_int_t)limit, "after_seq", (json_int_t)after),
           on_synced);
}

/* ---- sessions coming and going ---- */

void ws_messaging_opened(ws_session_t *s, int sessions) {
  presence_session_opened(s->app, s->user_id, sessions);
  presence_snapshot(s->app, s->user_id, s->id);
  channel_subs_session_opened(s->app, s->user_id, sessions);
}

void ws_messaging_closed(ws_session_t *s, int sessions) {
  presence_session_closed(s->app, s->user_id, sessions);
  channel_subs_session_closed(s->app, s->user_id, sessions);
}
