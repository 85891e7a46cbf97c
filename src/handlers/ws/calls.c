/* call.* frames (calls.h): each is checked against the call as the store
 * has it (CALL_GET, or CONV_GET for an invite), so a frame for a call the
 * sender is not part of gets an error frame and reaches no one; state changes
 * go through CALL_SET_STATE, which lets each happen once whatever instance
 * the users are on. Loop thread. */
#include "handlers/ws/calls.h"

#include <stdlib.h>
#include <string.h>

#include "chat/calls.h"
#include "chat/fanout.h"
#include "chat/fields.h"
#include "handlers/ws/reply.h"
#include "parley/store.h"
#include "parley/util.h"

/* The largest seq of call.media: what a JavaScript number holds exactly. */
#define CALL_MEDIA_SEQ_MAX 9007199254740991LL

typedef struct call_job_s {
  app_t *app;
  uint64_t session;
  char session_id[64];
  char user[64];
  char ref[FIELDS_CLIENT_ID_MAX * 4 + 1];
  int has_ref;
  char type[24];
  const char *reason; /* a hang-up's reason ("disconnected"), or NULL */
  json_t *frame;      /* the client's frame (a reference) */
  json_t *call;       /* the call, once read */
} call_job_t;

static void job_free(call_job_t *j) {
  json_decref(j->frame);
  json_decref(j->call);
  free(j);
}

typedef struct find_s {
  uint64_t id;
  ws_session_t *s;
} find_t;

static void find_one(ws_session_t *s, void *arg) {
  find_t *f = arg;
  if (s->id == f->id) f->s = s;
}

static ws_session_t *job_session(call_job_t *j) {
  find_t f = {j->session, NULL};
  if (j->app->hub) hub_foreach(j->app->hub, j->user, find_one, &f);
  return f.s;
}

static void job_error(call_job_t *j, const char *code, const char *msg, const char *field) {
  ws_session_t *s = job_session(j);
  if (s) ws_reply_error(s, code, msg, j->has_ref ? j->ref : NULL, field);
}

static void store_error(call_job_t *j, int status) {
  if (status == STORE_ENOTFOUND)
    job_error(j, "not_found", "no such call", "call_id");
  else if (status == STORE_ECONFLICT)
    job_error(j, "conflict", "the call is not in a state for this", "call_id");
  else
    job_error(j, "unavailable", "the store is unavailable, try again", NULL);
}

static int job_call(call_job_t *j, enum store_op op, json_t *params, store_cb cb) {
  if (!j->app->store || store_call(j->app->store, op, params, cb, j) != 0) {
    if (!j->app->store) json_decref(params);
    store_error(j, STORE_EUNAVAILABLE);
    job_free(j);
    return -1;
  }
  return 0;
}

static const char *str(const json_t *o, const char *k) {
  return json_string_value(json_object_get(o, k));
}

static int is_caller(call_job_t *j) { return strcmp(str(j->call, "caller_id"), j->user) == 0; }

/* The frame as the other side gets it: type, call and conversation, the
 * sender (user and session), and extra (borrowed, may be NULL). */
static json_t *relayed(call_job_t *j, const json_t *extra) {
  json_t *f = json_pack("{s:s, s:O, s:O, s:s, s:s}", "type", j->type, "call_id",
                        json_object_get(j->call, "id"), "conversation_id",
                        json_object_get(j->call, "conversation_id"), "from", j->user, "session_id",
                        j->session_id);
  if (f && extra) json_object_update(f, (json_t *)extra);
  return f;
}

static void to_peer(call_job_t *j, const json_t *extra) {
  const char *peer = str(j->call, is_caller(j) ? "callee_id" : "caller_id");
  json_t *f = relayed(j, extra), *to = json_pack("[s]", peer);
  if (f && to) fanout_event(j->app, f, to, NULL);
  json_decref(f);
  json_decref(to);
}

/* ---- state changes: accept, reject, busy, hangup ---- */

static void on_changed(void *ctx, int status, json_t *result);

/* Ends call id for user's session session_id, which is gone: call.hangup with
 * reason "disconnected" to both users, and the history message. A call that
 * has ended already answers conflict, and nobody hears of it. */
static void end_for_gone_session(app_t *app, const char *user, const char *session_id,
                                 const char *id) {
  call_job_t *j = calloc(1, sizeof(*j));
  if (!j) return;
  j->app = app;
  snprintf(j->session_id, sizeof(j->session_id), "%s", session_id);
  snprintf(j->user, sizeof(j->user), "%s", user);
  snprintf(j->type, sizeof(j->type), "call.hangup");
  j->reason = "disconnected";
  j->call = json_pack("{s:s}", "id", id);
  if (!j->call) {
    job_free(j);
    return;
  }
  job_call(j, CALL_SET_STATE,
           json_pack("{s:s, s:[s, s], s:s, s:I}", "id", id, "from", "ringing", "active", "state",
                     "ended", "now_ms", (json_int_t)util_now_ms()),
           on_changed);
}

/* The session that placed or took j->call holds it: its close ends the call.
 * Gone already (closed while the store answered): the call ends now. */
static void hold(call_job_t *j) {
  ws_session_t *s = job_session(j);
  const char *id = str(j->call, "id");
  if (s)
    snprintf(s->call_id, sizeof(s->call_id), "%s", id);
  else
    end_for_gone_session(j->app, j->user, j->session_id, id);
}

void ws_calls_session_closed(ws_session_t *s) {
  end_for_gone_session(s->app, s->user_id, s->session_id, s->call_id);
  s->call_id[0] = 0;
}

static void on_changed(void *ctx, int status, json_t *result) {
  call_job_t *j = ctx;
  if (status != STORE_OK) {
    store_error(j, status);
  } else {
    json_decref(j->call);
    j->call = result;
    result = NULL;
    /* To both users: the other side, and this user's other sessions (which
     * stop ringing). */
    json_t *extra = json_pack("{s:s, s:s, s:s?}", "from", j->user, "session_id", j->session_id,
                              "reason", j->reason);
    calls_tell_both(j->app, j->call, j->type, extra);
    json_decref(extra);
    if (!strcmp(j->type, "call.accept")) hold(j);
    if (strcmp(str(j->call, "state"), "ended") == 0)
      calls_record(j->app, j->call,
                   !strcmp(j->type, "call.reject") ? "declined"
                   : !strcmp(j->type, "call.busy") ? "busy"
                                                   : "missed");
  }
  json_decref(result);
  job_free(j);
}

static void change(call_job_t *j, const char *to, json_t *from) {
  job_call(j, CALL_SET_STATE,
           json_pack("{s:O, s:o, s:s, s:I}", "id", json_object_get(j->call, "id"), "from", from,
                     "state", to, "now_ms", (json_int_t)util_now_ms()),
           on_changed);
}

/* ---- relays: ringing, offer, answer, ice, media ---- */

static int sdp_ok(const json_t *v) {
  return json_is_string(v) && json_string_length(v) >= 1 && json_string_length(v) <= CALL_SDP_MAX;
}

/* {candidate, sdpMid?, sdpMLineIndex?, usernameFragment?} or null (the end of
 * candidates): a copy of what is relayed, or NULL when malformed. */
static json_t *candidate(const json_t *v) {
  if (json_is_null(v)) return json_null();
  if (!json_is_object(v) || json_object_size(v) > 4) return NULL;
  json_t *line = json_object_get(v, "candidate"), *mid = json_object_get(v, "sdpMid");
  json_t *idx = json_object_get(v, "sdpMLineIndex"), *frag = json_object_get(v, "usernameFragment");
  if (!json_is_string(line) || json_string_length(line) > CALL_CANDIDATE_MAX) return NULL;
  if (mid && !json_is_null(mid) && !fields_string_ok(mid, 0, 64)) return NULL;
  if (idx && !json_is_null(idx) &&
      (!json_is_integer(idx) || json_integer_value(idx) < 0 || json_integer_value(idx) > 1024))
    return NULL;
  if (frag && !json_is_null(frag) && !fields_string_ok(frag, 0, 256)) return NULL;
  return json_pack("{s:O, s:O*, s:O*, s:O*}", "candidate", line, "sdpMid", mid, "sdpMLineIndex",
                   idx, "usernameFragment", frag);
}

/* call.media's {audio, video, seq?} as relayed: the sender's microphone and
 * camera as they now are, so the other side shows a muted microphone, or the
 * avatar instead of a black or frozen frame. seq orders them for the
 * receiver: two frames of one call may leave the store in either order.
 * NULL, with the error sent, when malformed. */
static json_t *media(call_job_t *j) {
  json_t *audio = json_object_get(j->frame, "audio"), *video = json_object_get(j->frame, "video");
  json_t *seq = json_object_get(j->frame, "seq");
  const char *bad = !json_is_boolean(audio) ? "audio" : !json_is_boolean(video) ? "video" : NULL;
  if (!bad && seq &&
      (!json_is_integer(seq) || json_integer_value(seq) < 0 ||
       json_integer_value(seq) > CALL_MEDIA_SEQ_MAX))
    bad = "seq";
  if (bad) {
    job_error(j, "validation_failed",
              "audio and video must be true or false, seq an integer from 0 to 2^53 - 1", bad);
    return NULL;
  }
  return json_pack("{s:O, s:O, s:O*}", "audio", audio, "video", video, "seq", seq);
}

static void on_call(void *ctx, int status, json_t *result) {
  call_job_t *j = ctx;
  if (status != STORE_OK) {
    store_error(j, status);
    json_decref(result);
    job_free(j);
    return;
  }
  j->call = result;
  const char *state = str(result, "state");
  int caller = is_caller(j), callee = !caller && !strcmp(str(result, "callee_id"), j->user);
  int ringing = !strcmp(state, "ringing"), ended = !strcmp(state, "ended");
  const char *t = j->type;
  if (!caller && !callee) {
    /* Not theirs: as if it did not exist, and nobody hears of it. */
    store_error(j, STORE_ENOTFOUND);
  } else if (!strcmp(t, "call.hangup")) {
    change(j, "ended", json_pack("[s, s]", "ringing", "active"));
    return;
  } else if (!strcmp(t, "call.accept") || !strcmp(t, "call.reject") || !strcmp(t, "call.busy") ||
             !strcmp(t, "call.ringing")) {
    if (!callee) {
      job_error(j, "forbidden", "only the callee answers a call", "call_id");
    } else if (!ringing) {
      store_error(j, STORE_ECONFLICT);
    } else if (!strcmp(t, "call.ringing")) {
      to_peer(j, NULL);
    } else {
      change(j, !strcmp(t, "call.accept") ? "active" : "ended", json_pack("[s]", "ringing"));
      return;
    }
  } else if (ended) {
    store_error(j, STORE_ECONFLICT);
  } else if (!strcmp(t, "call.ice")) {
    json_t *c = candidate(json_object_get(j->frame, "candidate"));
    json_t *extra = c ? json_pack("{s:o}", "candidate", c) : NULL;
    if (extra)
      to_peer(j, extra);
    else
      job_error(j, "validation_failed",
                "candidate must be null or {candidate, sdpMid?, sdpMLineIndex?,"
                " usernameFragment?} of bounded size",
                "candidate");
    json_decref(extra);
  } else if (!strcmp(t, "call.media")) {
    json_t *extra = media(j);
    if (extra) to_peer(j, extra);
    json_decref(extra);
  } else { /* offer, answer */
    json_t *sdp = json_object_get(j->frame, "sdp");
    if (!sdp_ok(sdp)) {
      job_error(j, "validation_failed", "sdp must be a string of 1 to 16384 bytes", "sdp");
    } else {
      json_t *extra = json_pack("{s:O}", "sdp", sdp);
      to_peer(j, extra);
      json_decref(extra);
    }
  }
  job_free(j);
}

/* ---- call.invite ---- */

static void ignored(void *ctx, int status, json_t *result) {
  (void)ctx;
  (void)status;
  json_decref(result);
}

/* The callee (or the caller) is in another call: call.busy to the caller's
 * session, and a history message of a call that never rang. */
static void busy(call_job_t *j, const char *callee, const char *media) {
  char id[25];
  util_new_id(id);
  json_t *call = json_pack("{s:s, s:O, s:s, s:s, s:s, s:n}", "id", id, "conversation_id",
                           json_object_get(j->frame, "conversation_id"), "caller_id", j->user,
                           "callee_id", callee, "media", media, "answered_at_ms");
  ws_session_t *s = job_session(j);
  if (s)
    ws_reply_json(s, json_pack("{s:s, s:s, s:O, s:s?}", "type", "call.busy", "call_id", id,
                               "conversation_id", json_object_get(j->frame, "conversation_id"),
                               "ref", j->has_ref ? j->ref : NULL));
  if (call) calls_record(j->app, call, "busy");
  json_decref(call);
}

static void on_created(void *ctx, int status, json_t *result) {
  call_job_t *j = ctx;
  const char *media = str(j->frame, "media") ? str(j->frame, "media") : "audio";
  if (status == STORE_ECONFLICT) {
    busy(j, str(j->call, "callee_id"), media);
  } else if (status != STORE_OK) {
    store_error(j, status);
  } else {
    if (calls_track(j->app->calls, str(result, "id")) != 0) {
      /* Nobody would time it out here: end it now. */
      store_call(j->app->store, CALL_SET_STATE,
                 json_pack("{s:O, s:[s], s:s, s:I}", "id", json_object_get(result, "id"), "from",
                           "ringing", "state", "ended", "now_ms", (json_int_t)util_now_ms()),
                 ignored, NULL);
      job_error(j, "unavailable", "too many calls on this server, try again", NULL);
    } else {
      ws_session_t *s = job_session(j);
      if (s)
        ws_reply_json(
            s, json_pack("{s:s, s:O, s:O, s:O, s:s?}", "type", "call.created", "call_id",
                         json_object_get(result, "id"), "conversation_id",
                         json_object_get(result, "conversation_id"), "media",
                         json_object_get(result, "media"), "ref", j->has_ref ? j->ref : NULL));
      json_decref(j->call);
      j->call = json_incref(result);
      hold(j);
      json_t *extra = json_pack("{s:O}", "media", json_object_get(result, "media"));
      snprintf(j->type, sizeof(j->type), "call.invite");
      to_peer(j, extra);
      json_decref(extra);
    }
  }
  json_decref(result);
  job_free(j);
}

static void on_conversation(void *ctx, int status, json_t *result) {
  call_job_t *j = ctx;
  json_t *parts = json_object_get(result, "participants"), *p;
  const char *callee = NULL;
  size_t i;
  if (status == STORE_OK && strcmp(str(result, "type"), "direct") != 0) {
    job_error(j, "validation_failed", "calls are made in direct conversations", "conversation_id");
    json_decref(result);
    job_free(j);
    return;
  }
  json_array_foreach(parts, i, p) if (strcmp(str(p, "id"), j->user) != 0) callee = str(p, "id");
  if (status != STORE_OK || !callee) {
    if (status == STORE_OK || status == STORE_ENOTFOUND)
      job_error(j, "not_found", "no such conversation", "conversation_id");
    else
      store_error(j, status);
    json_decref(result);
    job_free(j);
    return;
  }
  const char *media = str(j->frame, "media") ? str(j->frame, "media") : "audio";
  char id[25];
  util_new_id(id);
  int64_t now = util_now_ms();
  /* Kept for a busy answer, which names the callee. */
  j->call = json_pack("{s:s}", "callee_id", callee);
  job_call(j, CALL_CREATE,
           json_pack("{s:s, s:O, s:s, s:s, s:s, s:I, s:I}", "id", id, "conversation_id",
                     json_object_get(result, "id"), "caller_id", j->user, "callee_id", callee,
                     "media", media, "now_ms", (json_int_t)now, "lease_until_ms",
                     (json_int_t)(now + CALLS_LEASE_MS)),
           on_created);
  json_decref(result);
}

/* ---- the frame ---- */

void ws_calls_frame(ws_session_t *s, json_t *frame, const char *ref) {
  const char *type = json_string_value(json_object_get(frame, "type"));
  int invite = strcmp(type, "call.invite") == 0;
  const char *key = invite ? "conversation_id" : "call_id";
  json_t *id = json_object_get(frame, key);
  if (!fields_string_ok(id, 1, FIELDS_ID_MAX)) {
    ws_reply_error(
        s, "validation_failed",
        invite ? "conversation_id must be a conversation id" : "call_id must be a call id", ref,
        key);
    return;
  }
  json_t *media = json_object_get(frame, "media");
  if (invite && media &&
      (!json_is_string(media) ||
       (strcmp(json_string_value(media), "audio") && strcmp(json_string_value(media), "video")))) {
    ws_reply_error(s, "validation_failed", "media must be audio or video", ref, "media");
    return;
  }
  call_job_t *j = calloc(1, sizeof(*j));
  if (!j) return;
  j->app = s->app;
  j->session = s->id;
  snprintf(j->session_id, sizeof(j->session_id), "%s", s->session_id);
  snprintf(j->user, sizeof(j->user), "%s", s->user_id);
  snprintf(j->type, sizeof(j->type), "%s", type);
  if (ref) {
    snprintf(j->ref, sizeof(j->ref), "%s", ref);
    j->has_ref = 1;
  }
  j->frame = json_incref(frame);
  if (invite)
    job_call(j, CONV_GET, json_pack("{s:O, s:s}", "id", id, "user_id", s->user_id),
             on_conversation);
  else
    job_call(j, CALL_GET, json_pack("{s:O}", "id", id), on_call);
}
