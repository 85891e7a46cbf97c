/* Channels over REST (API.md, Channels): joining by invite token or a public
 * channel's id, the public directory, invite links and members' roles. A
 * channel is a conversation (created, read, left and paged through
 * conversations.c); a join reaches the member's sessions and every instance's
 * connected members (channel_subs.h), never the whole channel. Loop thread. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chat/attach_url.h"
#include "chat/channel_subs.h"
#include "chat/conv_view.h"
#include "chat/fanout.h"
#include "chat/fields.h"
#include "handlers/common.h"
#include "handlers/handlers.h"

#define ID_MAX_CHARS FIELDS_ID_MAX
#define TOKEN_MAX_CHARS 64
#define LIST_LIMIT_DEFAULT 50
#define LIST_LIMIT_MAX 200

static void reply_invalid(http_req_t *req, const char *field, const char *message) {
  http_reply_error(req, 400, "validation_failed", message, field);
}

static const char *conv_id(http_req_t *req) {
  const char *id = http_req_param(req, "id");
  if (!id || !*id || strlen(id) > ID_MAX_CHARS) {
    http_reply_error(req, 404, "not_found", "no such conversation", NULL);
    return NULL;
  }
  return id;
}

/* A channel operation's errors: a conversation that is not a channel is a 400
 * naming the id; the limits are a 409. */
static void reply_channel_error(http_req_t *req, int status) {
  if (status == STORE_EINVAL)
    reply_invalid(req, "id", "the conversation is not a channel");
  else if (status == STORE_ECONFLICT)
    http_reply_error(req, 409, "conflict",
                     "the channel, or the user's channels, are at their limit", NULL);
  else
    handlers_reply_store_error(req, status);
}

/* ---- POST /api/channels/join ---- */

static void joined(void *ctx, int status, json_t *result) {
  http_req_t *req = ctx;
  if (status != STORE_OK) {
    reply_channel_error(req, status);
  } else {
    json_t *conv = json_object_get(result, "conversation");
    int is_new = json_is_true(json_object_get(result, "joined"));
    http_reply_json(
        req, is_new ? 201 : 200,
        json_pack("{s:o}", "conversation", attach_url_conv_view(req->app, conv, req->user_id)));
    if (is_new) {
      channel_subs_announce(req->app, json_string_value(json_object_get(conv, "id")), req->user_id,
                            1);
      json_t *frame = json_pack("{s:s, s:o}", "type", "conversation.updated", "conversation",
                                attach_url_conv_view(req->app, conv, req->user_id));
      json_t *to = json_pack("[s]", req->user_id);
      if (frame && to) fanout_event(req->app, frame, to, NULL);
      json_decref(frame);
      json_decref(to);
    }
  }
  json_decref(result);
  http_req_unref(req);
}

static void join(http_req_t *req) {
  json_t *body = http_req_json(req);
  if (!body) return;
  int failed = 0;
  const char *token = handlers_string_field(req, body, "token", 0, 1, TOKEN_MAX_CHARS, &failed);
  const char *id =
      failed ? NULL
             : handlers_string_field(req, body, "conversation_id", 0, 1, ID_MAX_CHARS, &failed);
  if (!failed && !token == !id)
    reply_invalid(req, token ? "conversation_id" : "token",
                  "give either token (an invite link's) or conversation_id (a public channel's)");
  else if (!failed)
    handlers_store_call(req, CHANNEL_JOIN,
                        token ? json_pack("{s:s, s:s}", "token", token, "user_id", req->user_id)
                              : json_pack("{s:s, s:s}", "id", id, "user_id", req->user_id),
                        joined);
  json_decref(body);
}

/* ---- GET /api/channels ---- */

static void listed(void *ctx, int status, json_t *result) {
  http_req_t *req = ctx;
  if (status != STORE_OK) {
    handlers_reply_store_error(req, status);
  } else {
    json_t *views = json_array(), *c;
    size_t i;
    json_array_foreach(json_object_get(result, "channels"), i, c)
        json_array_append_new(views, attach_url_conv_view(req->app, c, req->user_id));
    http_reply_json(req, 200,
                    json_pack("{s:o, s:O}", "channels", views, "next_cursor",
                              json_object_get(result, "next_cursor")));
  }
  json_decref(result);
  http_req_unref(req);
}

static void list_public(http_req_t *req) {
  long long limit;
  if (handlers_query_int(req, "limit", 1, LIST_LIMIT_MAX, LIST_LIMIT_DEFAULT, &limit) < 0) return;
  char cursor[ID_MAX_CHARS + 2];
  long n = http_req_query(req, "cursor", cursor, sizeof(cursor));
  if (n == -2 || n == 0 || n > ID_MAX_CHARS) {
    reply_invalid(req, "cursor", "cursor is not one this server gave");
    return;
  }
  json_t *params = json_pack("{s:s, s:I}", "user_id", req->user_id, "limit", (json_int_t)limit);
  if (n > 0) json_object_set_new(params, "cursor", json_string(cursor));
  handlers_store_call(req, CHANNEL_LIST_PUBLIC, params, listed);
}

/* ---- POST, DELETE /api/conversations/:id/invite ---- */

static void invited(void *ctx, int status, json_t *result) {
  http_req_t *req = ctx;
  if (status != STORE_OK)
    reply_channel_error(req, status);
  else if (strcmp(req->method, "DELETE") == 0)
    http_reply_empty(req, 204);
  else
    http_reply_json(
        req, 200,
        json_pack("{s:o}", "conversation", attach_url_conv_view(req->app, result, req->user_id)));
  json_decref(result);
  http_req_unref(req);
}

static void invite(http_req_t *req) {
  const char *id = conv_id(req);
  if (!id) return;
  handlers_store_call(req, CHANNEL_INVITE,
                      json_pack("{s:s, s:s, s:b}", "id", id, "user_id", req->user_id, "revoke",
                                strcmp(req->method, "DELETE") == 0),
                      invited);
}

/* ---- PATCH /api/conversations/:id/members/:user_id ---- */

typedef struct told_s {
  app_t *app;
  char user[ID_MAX_CHARS + 1];
} told_t;

/* The member whose role changed hears of it: their view, with the new role. */
static void tell_member(void *ctx, int status, json_t *result) {
  told_t *t = ctx;
  if (status == STORE_OK) {
    json_t *frame = json_pack("{s:s, s:o}", "type", "conversation.updated", "conversation",
                              attach_url_conv_view(t->app, result, t->user));
    json_t *to = json_pack("[s]", t->user);
    if (frame && to) fanout_event(t->app, frame, to, NULL);
    json_decref(frame);
    json_decref(to);
  }
  json_decref(result);
  free(t);
}

static void role_set(void *ctx, int status, json_t *result) {
  http_req_t *req = ctx;
  if (status == STORE_ECONFLICT) {
    http_reply_error(req, 409, "conflict", "a channel keeps at least one admin", "role");
  } else if (status != STORE_OK) {
    reply_channel_error(req, status);
  } else {
    http_reply_json(req, 200, json_incref(result));
    told_t *t = calloc(1, sizeof(*t));
    const char *id = http_req_param(req, "id");
    if (t && id) {
      t->app = req->app;
      snprintf(t->user, sizeof(t->user), "%s", http_req_param(req, "user_id"));
      if (store_call(req->app->store, CONV_GET,
                     json_pack("{s:s, s:s}", "id", id, "user_id", t->user), tell_member, t) != 0)
        free(t);
    } else {
      free(t);
    }
  }
  json_decref(result);
  http_req_unref(req);
}

static void set_role(http_req_t *req) {
  const char *id = conv_id(req);
  if (!id) return;
  const char *member = http_req_param(req, "user_id");
  if (!member || !*member || strlen(member) > ID_MAX_CHARS) {
    http_reply_error(req, 404, "not_found", "no such member", NULL);
    return;
  }
  json_t *body = http_req_json(req);
  if (!body) return;
  const char *role = json_string_value(json_object_get(body, "role"));
  if (!role || (strcmp(role, "admin") != 0 && strcmp(role, "member") != 0))
    reply_invalid(req, "role", "role must be \"admin\" or \"member\"");
  else
    handlers_store_call(req, CHANNEL_SET_ROLE,
                        json_pack("{s:s, s:s, s:s, s:s}", "id", id, "user_id", req->user_id,
                                  "member_id", member, "role", role),
                        role_set);
  json_decref(body);
}

static const route_t routes[] = {
    {"POST", "/api/channels/join", 1, join},
    {"GET", "/api/channels", 1, list_public},
    {"POST", "/api/conversations/:id/invite", 1, invite},
    {"DELETE", "/api/conversations/:id/invite", 1, invite},
    {"PATCH", "/api/conversations/:id/members/:user_id", 1, set_role},
};

const route_table_t channels_routes = ROUTE_TABLE(routes);
