/* Messages over REST (API.md, Messages): history pages, idempotent sends,
 * edits, deletes and reactions. A send is answered only after the store has it;
 * then fanout delivers it everywhere. The store answers 404 for anything in a
 * conversation the caller is not in, so ids cannot be probed. Loop thread. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "chat/attach_release.h"
#include "chat/attach_url.h"
#include "chat/fanout.h"
#include "chat/fields.h"
#include "handlers/common.h"
#include "handlers/handlers.h"
#include "instagram/reply.h"
#include "parley/bots.h"
#include "parley/util.h"

#define ID_MAX_CHARS FIELDS_ID_MAX
#define EMOJI_MAX_CHARS 32

static const char *path_id(http_req_t *req, const char *name, const char *what) {
  const char *id = http_req_param(req, name);
  if (!id || !*id || strlen(id) > ID_MAX_CHARS) {
    http_reply_error(req, 404, "not_found", what, NULL);
    return NULL;
  }
  return id;
}

/* ---- GET /api/conversations/:id/messages ---- */

static void listed(void *ctx, int status, json_t *result) {
  http_req_t *req = ctx;
  if (status != STORE_OK)
    handlers_reply_store_error(req, status);
  else {
    attach_url_messages(req->app, json_object_get(result, "messages"));
    http_reply_json(req, 200, json_incref(result));
  }
  json_decref(result);
  http_req_unref(req);
}

static void list(http_req_t *req) {
  const char *conv = path_id(req, "id", "no such conversation");
  if (!conv) return;
  long long limit, before, after;
  if (handlers_query_int(req, "limit", 1, FIELDS_LIMIT_MAX, FIELDS_LIMIT_DEFAULT, &limit) < 0)
    return;
  int has_before = handlers_query_int(req, "before_seq", 1, INT64_MAX / 2, 0, &before);
  if (has_before < 0) return;
  int has_after = handlers_query_int(req, "after_seq", 0, INT64_MAX / 2, 0, &after);
  if (has_after < 0) return;
  if (has_before && has_after) {
    http_reply_error(req, 400, "validation_failed", "give before_seq or after_seq, not both",
                     "after_seq");
    return;
  }
  json_t *params = json_pack("{s:s, s:s, s:I}", "conversation_id", conv, "user_id", req->user_id,
                             "limit", (json_int_t)limit);
  if (has_before) json_object_set_new(params, "before_seq", json_integer(before));
  if (has_after) json_object_set_new(params, "after_seq", json_integer(after));
  handlers_store_call(req, MSG_LIST, params, listed);
}

/* ---- POST /api/conversations/:id/messages ---- */

static void sent(void *ctx, int status, json_t *result) {
  http_req_t *req = ctx;
  json_t *body = status == STORE_EINVAL ? http_req_json(req) : NULL;
  if (body && (fields_has_ciphertexts(body) || !fields_has_reply(body))) {
    /* The store's payload rule (the conversation's type decides). */
    const char *field = fields_has_ciphertexts(body) ? "ciphertexts" : "text";
    http_reply_error(req, 400, "validation_failed", fields_secret_refused(field), field);
  } else if (body && fields_has_reply(body)) {
    /* The one check left to the store: what reply_to and mentions name. */
    const char *field = NULL, *msg = fields_reply_refused(body, &field);
    http_reply_error(req, 400, "validation_failed", msg, field);
  } else if (status != STORE_OK) {
    handlers_reply_store_error(req, status);
  } else {
    json_t *msg = json_object_get(result, "message");
    int created = json_is_true(json_object_get(result, "created"));
    /* Answer first: the sender's 201 should not wait behind the fan-out. */
    http_reply_json(req, created ? 201 : 200,
                    json_pack("{s:o}", "message", attach_url_message_copy(req->app, msg)));
    if (created) {
      fanout_message_new(req->app, msg, json_object_get(result, "participant_ids"), NULL, 0, NULL);
      bots_on_message(req->app, msg, json_object_get(result, "participant_ids"));
    }
  }
  json_decref(body);
  json_decref(result);
  http_req_unref(req);
}

static void send_chat(http_req_t *req, const char *conv, json_t *body) {
  json_t *text = json_object_get(body, "text");
  json_t *params =
      json_pack("{s:s, s:s, s:O, s:O?, s:s, s:b, s:O?, s:O?}", "conversation_id", conv, "sender_id",
                req->user_id, "text", text ? text : json_null(), "client_id",
                json_object_get(body, "client_id"), "source", "web", "check_member", 1, "reply_to",
                json_object_get(body, "reply_to"), "mentions", json_object_get(body, "mentions"));
  if (fields_has_attachments(body))
    json_object_set(params, "attachment_ids", json_object_get(body, "attachment_ids"));
  if (fields_has_ciphertexts(body))
    json_object_set_new(params, "payload",
                        json_pack("{s:O}", "ciphertexts", json_object_get(body, "ciphertexts")));
  handlers_store_call(req, MSG_INSERT, params, sent);
}

/* An Instagram conversation's answer: the message stored pending (the Graph
 * API send goes on), an earlier send of the client_id, or why not. */
static void ig_answered(void *ctx, const ig_reply_res_t *r) {
  http_req_t *req = ctx;
  if (r->chat) {
    json_t *body = http_req_json(req);
    if (body) send_chat(req, http_req_param(req, "id"), body);
    json_decref(body);
  } else if (r->code) {
    http_reply_error(req, r->http, r->code, r->message, r->field);
  } else if (!r->msg) {
    handlers_reply_store_error(req, r->store_status);
  } else {
    http_reply_json(req, r->http,
                    json_pack("{s:o}", "message", attach_url_message_copy(req->app, r->msg)));
  }
  http_req_unref(req);
}

static void send_message(http_req_t *req) {
  const char *conv = path_id(req, "id", "no such conversation");
  if (!conv) return;
  json_t *body = http_req_json(req);
  if (!body) return;
  const char *bad = fields_check_send(body);
  if (bad) {
    http_reply_error(req, 400, "validation_failed", fields_send_error(bad), bad);
    json_decref(body);
    return;
  }
  /* A quote or a mention goes to the store, which refuses both in an
   * instagram conversation: nothing reaches the Graph API. */
  if (ig_reply_is_chat(req->app, conv) || fields_has_reply(body) || fields_has_ciphertexts(body)) {
    send_chat(req, conv, body);
    json_decref(body);
    return;
  }

  /* Not known as chat: an Instagram conversation goes out through the Graph API. */
  ig_reply_req_t ig = {
      conv,
      req->user_id,
      json_string_value(json_object_get(body, "text")),
      fields_has_attachments(body) ? json_object_get(body, "attachment_ids") : NULL,
      json_string_value(json_object_get(body, "client_id")),
      NULL,
      0};
  http_req_ref(req);
  if (ig_reply_send(req->app, &ig, ig_answered, req) != 0) {
    http_req_unref(req);
    http_reply_error(req, 503, "unavailable", "out of memory", NULL);
  }
  json_decref(body);
}

/* ---- PATCH, DELETE /api/messages/:id and reactions ---- */

/* The message changed: 200 with it (or 204), message.updated to every
 * participant, and the event (kind) to the conversation's bots. */
static void updated(http_req_t *req, int status, json_t *result, int empty, const char *kind,
                    const json_t *reaction) {
  if (status != STORE_OK) {
    handlers_reply_store_error(req, status);
  } else {
    json_t *msg = json_object_get(result, "message");
    json_t *ids = json_object_get(result, "participant_ids");
    if (empty)
      http_reply_empty(req, 204);
    else
      http_reply_json(req, 200,
                      json_pack("{s:o}", "message", attach_url_message_copy(req->app, msg)));
    fanout_message_updated(req->app, msg, ids);
    bots_on_change(req->app, kind, msg, ids, req->user_id, reaction);
    attach_release_files(req->app, result); /* a deletion's files no one uses */
  }
  json_decref(result);
  http_req_unref(req);
}

static void edited(void *ctx, int status, json_t *result) {
  updated(ctx, status, result, 0, "message.edited", NULL);
}

static void deleted(void *ctx, int status, json_t *result) {
  updated(ctx, status, result, 1, "message.deleted", NULL);
}

/* A reaction added (200) or removed (204): the emoji is the request's. */
static void reacted(http_req_t *req, int status, json_t *result, int added) {
  json_t *body = added ? http_req_json(req) /* parsed once: an object */ : NULL;
  const char *emoji =
      added ? json_string_value(json_object_get(body, "emoji")) : http_req_param(req, "emoji");
  json_t *reaction = json_pack("{s:s?, s:b}", "emoji", emoji, "added", added);
  updated(req, status, result, !added, "message.reaction", reaction);
  json_decref(reaction);
  json_decref(body);
}

static void reaction_added(void *ctx, int status, json_t *result) {
  reacted(ctx, status, result, 1);
}

static void reaction_removed(void *ctx, int status, json_t *result) {
  reacted(ctx, status, result, 0);
}

static void edit(http_req_t *req) {
  const char *id = path_id(req, "id", "no such message");
  if (!id) return;
  json_t *body = http_req_json(req);
  if (!body) return;
  int failed = 0;
  const char *text = handlers_string_field(req, body, "text", 1, 1, FIELDS_TEXT_MAX, &failed);
  if (!failed)
    handlers_store_call(
        req, MSG_EDIT,
        json_pack("{s:s, s:s, s:s}", "id", id, "user_id", req->user_id, "text", text), edited);
  json_decref(body);
}

static void delete_message(http_req_t *req) {
  const char *id = path_id(req, "id", "no such message");
  if (!id) return;
  handlers_store_call(req, MSG_DELETE, json_pack("{s:s, s:s}", "id", id, "user_id", req->user_id),
                      deleted);
}

static void react(http_req_t *req) {
  const char *id = path_id(req, "id", "no such message");
  if (!id) return;
  json_t *body = http_req_json(req);
  if (!body) return;
  int failed = 0;
  const char *emoji = handlers_string_field(req, body, "emoji", 1, 1, EMOJI_MAX_CHARS, &failed);
  if (!failed)
    handlers_store_call(req, MSG_REACT,
                        json_pack("{s:s, s:s, s:s, s:b}", "id", id, "user_id", req->user_id,
                                  "emoji", emoji, "add", 1),
                        reaction_added);
  json_decref(body);
}

static void unreact(http_req_t *req) {
  const char *id = path_id(req, "id", "no such message");
  if (!id) return;
  const char *emoji = http_req_param(req, "emoji");
  json_t *e = emoji ? json_string(emoji) : NULL;
  int ok = fields_string_ok(e, 1, EMOJI_MAX_CHARS);
  json_decref(e);
  if (!ok) {
    http_reply_error(req, 400, "validation_failed", "emoji must be 1 to 32 characters", "emoji");
    return;
  }
  handlers_store_call(req, MSG_REACT,
                      json_pack("{s:s, s:s, s:s, s:b}", "id", id, "user_id", req->user_id, "emoji",
                                emoji, "add", 0),
                      reaction_removed);
}

static const route_t routes[] = {
    {"GET", "/api/conversations/:id/messages", ROUTE_AUTH | ROUTE_BOT, list},
    {"GET", "/api/messages/instagram/:id", 1, list},
    {"POST", "/api/conversations/:id/messages", ROUTE_AUTH | ROUTE_BOT, send_message},
    {"PATCH", "/api/messages/:id", ROUTE_AUTH | ROUTE_BOT, edit},
    {"DELETE", "/api/messages/:id", ROUTE_AUTH | ROUTE_BOT, delete_message},
    {"POST", "/api/messages/:id/reactions", 1, react},
    {"DELETE", "/api/messages/:id/reactions/:emoji", 1, unreact},
};

const route_table_t messages_routes = ROUTE_TABLE(routes);
