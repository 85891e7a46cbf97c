/* Conversations over REST (API.md, Conversations): create (direct is one per
 * pair; channels too), list by activity, get, rename, add, page and remove
 * members, read markers. Changes are announced with conversation.updated and
 * read frames through fanout; a channel's joins and leaves reach only the
 * member concerned (and every instance's connected members, channel_subs.h).
 * A conversation the caller is not in is a 404. Loop thread. */
#include <stdlib.h>
#include <string.h>

#include "chat/attach_url.h"
#include "chat/channel_subs.h"
#include "chat/conv_page.h"
#include "chat/conv_view.h"
#include "chat/fanout.h"
#include "chat/fields.h"
#include "handlers/common.h"
#include "handlers/handlers.h"
#include "parley/util.h"

#define NAME_MAX_CHARS 100
#define ID_MAX_CHARS FIELDS_ID_MAX
#define MEMBERS_MAX 256
#define LIST_LIMIT_DEFAULT 50
#define LIST_LIMIT_MAX 200

static void reply_conversation(http_req_t *req, int status, const json_t *conv) {
  http_reply_json(
      req, status,
      json_pack("{s:o}", "conversation", attach_url_conv_view(req->app, conv, req->user_id)));
}

/* A conversation id from the path: anything longer than an id cannot exist. */
static const char *conv_id(http_req_t *req) {
  const char *id = http_req_param(req, "id");
  if (!id || !*id || strlen(id) > ID_MAX_CHARS) {
    http_reply_error(req, 404, "not_found", "no such conversation", NULL);
    return NULL;
  }
  return id;
}

static void reply_invalid(http_req_t *req, const char *field, const char *message) {
  http_reply_error(req, 400, "validation_failed", message, field);
}

static int is_channel(const json_t *conv) {
  const char *type = json_string_value(json_object_get(conv, "type"));
  return type && strcmp(type, "channel") == 0;
}

/* A channel's joins and leaves: every instance follows the member, and the
 * member's own sessions hear conversation.updated (the others do not: a
 * channel of 100,000 would hear of every one). */
static void channel_member_changed(app_t *app, const json_t *conv, const char *user, int joined) {
  const char *id = json_string_value(json_object_get(conv, "id"));
  if (!id || !user) return;
  channel_subs_announce(app, id, user, joined);
  json_t *view = attach_url_conv_view(app, conv, user);
  /* role null: this member is out (a rename's frame has no role at all). */
  if (view && !joined) json_object_set_new(view, "role", json_null());
  json_t *frame = json_pack("{s:s, s:o}", "type", "conversation.updated", "conversation", view);
  json_t *to = json_pack("[s]", user);
  if (frame && to) fanout_event(app, frame, to, NULL);
  json_decref(frame);
  json_decref(to);
}

/* A JSON array of 1..max user ids (strings of 1..64 characters), deduplicated,
 * without `skip`. Returns a new array, or NULL after replying 400. */
static json_t *user_ids_field(http_req_t *req, json_t *body, const char *field, size_t min,
                              const char *skip) {
  json_t *v = json_object_get(body, field);
  char msg[128];
  snprintf(msg, sizeof(msg), "%s must be an array of %zu to %d user ids", field, min, MEMBERS_MAX);
  if (!json_is_array(v) || json_array_size(v) < min || json_array_size(v) > MEMBERS_MAX) {
    reply_invalid(req, field, msg);
    return NULL;
  }
  json_t *out = json_array(), *seen = json_object();
  size_t i;
  json_t *id;
  json_array_foreach(v, i, id) {
    if (!fields_string_ok(id, 1, ID_MAX_CHARS)) {
      reply_invalid(req, field, msg);
      json_decref(out);
      json_decref(seen);
      return NULL;
    }
    const char *s = json_string_value(id);
    if ((skip && strcmp(s, skip) == 0) || json_object_get(seen, s)) continue;
    json_object_set_new(seen, s, json_true());
    json_array_append(out, id);
  }
  json_decref(seen);
  return out;
}

/* ---- POST /api/conversations ---- */

static void created(void *ctx, int status, json_t *result) {
  http_req_t *req = ctx;
  if (status == STORE_EINVAL) {
    /* The body was valid when sent; only its type decides the field named. */
    json_t *body = json_loadb(req->body.data, req->body.len, 0, NULL);
    const char *type = json_string_value(json_object_get(body, "type"));
    int direct = type && (strcmp(type, "direct") == 0 || strcmp(type, "secret") == 0);
    reply_invalid(req, direct ? "participant_id" : "participant_ids", "unknown user");
    json_decref(body);
  } else if (status != STORE_OK) {
    handlers_reply_store_error(req, status);
  } else {
    json_t *conv = json_object_get(result, "conversation");
    int is_new = json_is_true(json_object_get(result, "created"));
    reply_conversation(req, is_new ? 201 : 200, conv);
    if (is_new && is_channel(conv))
      channel_member_changed(req->app, conv, req->user_id, 1);
    else if (is_new)
      fanout_conversation(req->app, conv, NULL);
  }
  json_decref(result);
  http_req_unref(req);
}

/* direct, or secret (end-to-end encrypted: one per pair too, apart from the
 * direct one). */
static json_t *direct_params(http_req_t *req, json_t *body, const char *type) {
  int failed = 0;
  const char *other =
      handlers_string_field(req, body, "participant_id", 1, 1, ID_MAX_CHARS, &failed);
  if (failed) return NULL;
  if (strcmp(other, req->user_id) == 0) {
    reply_invalid(req, "participant_id", "a direct conversation needs another user");
    return NULL;
  }
  return json_pack("{s:s, s:n, s:s, s:[s,s]}", "type", type, "name", "creator_id", req->user_id,
                   "participant_ids", req->user_id, other);
}

static json_t *group_params(http_req_t *req, json_t *body) {
  int failed = 0;
  const char *name = handlers_string_field(req, body, "name", 1, 1, NAME_MAX_CHARS, &failed);
  if (failed) return NULL;
  json_t *ids = user_ids_field(req, body, "participant_ids", 0, req->user_id);
  if (!ids) return NULL;
  json_array_insert_new(ids, 0, json_string(req->user_id));
  return json_pack("{s:s, s:s, s:s, s:o}", "type", "group", "name", name, "creator_id",
                   req->user_id, "participant_ids", ids);
}

static json_t *channel_params(http_req_t *req, json_t *body) {
  int failed = 0;
  const char *name = handlers_string_field(req, body, "name", 1, 1, NAME_MAX_CHARS, &failed);
  if (failed) return NULL;
  json_t *pub = json_object_get(body, "public");
  if (pub && !json_is_boolean(pub)) {
    reply_invalid(req, "public", "public must be true or false");
    return NULL;
  }
  return json_pack("{s:s, s:s, s:s, s:[s], s:b}", "type", "channel", "name", name, "creator_id",
                   req->user_id, "participant_ids", req->user_id, "public", json_is_true(pub));
}

static void create(http_req_t *req) {
  json_t *body = http_req_json(req);
  if (!body) return;
  json_t *type = json_object_get(body, "type"), *params = NULL;
  const char *t = json_string_value(type);
  if (t && (strcmp(t, "direct") == 0 || strcmp(t, "secret") == 0))
    params = direct_params(req, body, t);
  else if (t && strcmp(t, "group") == 0)
    params = group_params(req, body);
  else if (t && strcmp(t, "channel") == 0)
    params = channel_params(req, body);
  else
    reply_invalid(req, "type", "type must be \"direct\", \"secret\", \"group\" or \"channel\"");
  json_decref(body);
  if (params) handlers_store_call(req, CONV_CREATE, params, created);
}

/* ---- GET /api/conversations ---- */

static void listed(void *ctx, int status, json_t *result) {
  http_req_t *req = ctx;
  if (status == STORE_EINVAL) {
    reply_invalid(req, "cursor", "cursor is not one this server gave");
  } else if (status != STORE_OK) {
    handlers_reply_store_error(req, status);
  } else if (json_is_string(result)) {
    http_reply_raw(req, 200, "application/json", json_string_value(result),
                   json_string_length(result));
  } else {
    http_reply_error(req, 500, "internal", "could not encode the response", NULL);
  }
  json_decref(result);
  http_req_unref(req);
}

static void list(http_req_t *req) {
  long long limit;
  if (handlers_query_int(req, "limit", 1, LIST_LIMIT_MAX, LIST_LIMIT_DEFAULT, &limit) < 0) return;
  char cursor[256];
  long n = http_req_query(req, "cursor", cursor, sizeof(cursor));
  if (n == -2 || (n >= 0 && n > 200)) {
    reply_invalid(req, "cursor", "cursor is not one this server gave");
    return;
  }
  json_t *params = json_pack("{s:s, s:I}", "user_id", req->user_id, "limit", (json_int_t)limit);
  if (n > 0) json_object_set_new(params, "cursor", json_string(cursor));
  /* The seed SPA's inbox alias lists only Instagram conversations, filtered
   * by assignee on request (the team inbox's tabs). */
  if (strcmp(req->route, "/api/messages/instagram") == 0) {
    char assigned[8];
    long an = http_req_query(req, "assigned", assigned, sizeof(assigned));
    if (an == -2 || (an >= 0 && strcmp(assigned, "me") != 0 && strcmp(assigned, "none") != 0 &&
                     strcmp(assigned, "all") != 0)) {
      json_decref(params);
      reply_invalid(req, "assigned", "assigned must be me, none or all");
      return;
    }
    json_object_set_new(params, "type", json_string("instagram"));
    if (an >= 0 && strcmp(assigned, "all") != 0)
      json_object_set_new(params, "assigned", json_string(assigned));
  }
  /* The page's text is made on the store's thread: from the rows where the
   * backend can (SQLite), else from its tree (conv_page.h). */
  handlers_store_call_rows(req, CONV_LIST, params, &conv_page_rows, conv_page_text, listed);
}

/* ---- GET, PATCH /api/conversations/:id and POST .../members ---- */

static void got(void *ctx, int status, json_t *result) {
  http_req_t *req = ctx;
  if (status != STORE_OK) {
    handlers_reply_store_error(req, status);
  } else {
    attach_url_message(req->app, json_object_get(result, "last_message"));
    reply_conversation(req, 200, result);
  }
  json_decref(result);
  http_req_unref(req);
}

static void get(http_req_t *req) {
  const char *id = conv_id(req);
  if (!id) return;
  handlers_store_call(req, CONV_GET, json_pack("{s:s, s:s}", "id", id, "user_id", req->user_id),
                      got);
}

/* Rename and add: 200 with the conversation, which every participant hears
 * of; a channel's new members are followed and hear of it themselves. */
static void changed(void *ctx, int status, json_t *result) {
  http_req_t *req = ctx;
  if (status == STORE_EINVAL) {
    reply_invalid(req, "user_ids", "unknown user in user_ids");
  } else if (status == STORE_ECONFLICT) {
    http_reply_error(req, 409, "conflict", "the channel, or a user's channels, would be too many",
                     "user_ids");
  } else if (status != STORE_OK) {
    handlers_reply_store_error(req, status);
  } else {
    reply_conversation(req, 200, result);
    /* The body was checked when the request came. */
    json_t *body = is_channel(result) ? json_loadb(req->body.data, req->body.len, 0, NULL) : NULL;
    json_t *v;
    size_t i;
    if (strcmp(req->method, "POST") == 0 && body) {
      json_array_foreach(json_object_get(body, "user_ids"), i, v)
          channel_member_changed(req->app, result, json_string_value(v), 1);
    } else {
      fanout_conversation(req->app, result, NULL);
    }
    json_decref(body);
  }
  json_decref(result);
  http_req_unref(req);
}

static void rename_conv(http_req_t *req) {
  const char *id = conv_id(req);
  if (!id) return;
  json_t *body = http_req_json(req);
  if (!body) return;
  int failed = 0;
  const char *name = handlers_string_field(req, body, "name", 1, 1, NAME_MAX_CHARS, &failed);
  if (!failed)
    handlers_store_call(
        req, CONV_RENAME,
        json_pack("{s:s, s:s, s:s}", "id", id, "user_id", req->user_id, "name", name), changed);
  json_decref(body);
}

/* A group's avatar set or removed: as a rename, every participant hears of it. */
static void avatar_changed(void *ctx, int status, json_t *result) {
  http_req_t *req = ctx;
  if (status == STORE_EINVAL) {
    http_reply_error(req, 404, "not_found", "no such image of yours", "attachment_id");
  } else if (status != STORE_OK) {
    handlers_reply_store_error(req, status);
  } else {
    reply_conversation(req, 200, result);
    fanout_conversation(req->app, result, NULL);
  }
  json_decref(result);
  http_req_unref(req);
}

/* PUT /api/conversations/:id/avatar {attachment_id}: a group admin's image
 * (one with a thumbnail) as the group's avatar, or null to remove it. */
static void set_avatar(http_req_t *req) {
  const char *id = conv_id(req);
  if (!id) return;
  json_t *body = http_req_json(req);
  if (!body) return;
  json_t *att = json_object_get(body, "attachment_id");
  const char *aid = json_string_value(att);
  if (!att || (!json_is_null(att) && (!aid || !*aid || strlen(aid) > ID_MAX_CHARS)))
    reply_invalid(req, "attachment_id",
                  "attachment_id must be the id of an image you uploaded, or null");
  else
    handlers_store_call(
        req, CONV_AVATAR,
        json_pack("{s:s, s:s, s:O}", "id", id, "user_id", req->user_id, "attachment_id", att),
        avatar_changed);
  json_decref(body);
}

static void add_members(http_req_t *req) {
  const char *id = conv_id(req);
  if (!id) return;
  json_t *body = http_req_json(req);
  if (!body) return;
  json_t *ids = user_ids_field(req, body, "user_ids", 1, NULL);
  json_decref(body);
  if (!ids) return;
  handlers_store_call(
      req, CONV_ADD_MEMBERS,
      json_pack("{s:s, s:s, s:o}", "id", id, "user_id", req->user_id, "user_ids", ids), changed);
}

/* ---- DELETE /api/conversations/:id/members/:user_id ---- */

static void removed(void *ctx, int status, json_t *result) {
  http_req_t *req = ctx;
  json_t *conv = json_object_get(result, "conversation");
  const char *gone = json_string_value(json_object_get(result, "removed_id"));
  if (status == STORE_ECONFLICT) {
    http_reply_error(req, 409, "conflict",
                     "the channel's last admin cannot leave while others remain: promote one",
                     NULL);
  } else if (status != STORE_OK) {
    handlers_reply_store_error(req, status);
  } else if (is_channel(conv)) {
    http_reply_empty(req, 204);
    channel_member_changed(req->app, conv, gone, 0);
  } else {
    http_reply_empty(req, 204);
    fanout_conversation(req->app, conv, gone);
  }
  json_decref(result);
  http_req_unref(req);
}

static void remove_member(http_req_t *req) {
  const char *id = conv_id(req);
  if (!id) return;
  const char *member = http_req_param(req, "user_id");
  if (!member || !*member || strlen(member) > ID_MAX_CHARS) {
    http_reply_error(req, 404, "not_found", "no such member", NULL);
    return;
  }
  handlers_store_call(
      req, CONV_REMOVE_MEMBER,
      json_pack("{s:s, s:s, s:s}", "id", id, "user_id", req->user_id, "member_id", member),
      removed);
}

/* ---- GET /api/conversations/:id/members ---- */

static void members_listed(void *ctx, int status, json_t *result) {
  http_req_t *req = ctx;
  if (status == STORE_EINVAL)
    reply_invalid(req, "cursor", "cursor is not one this server gave");
  else if (status != STORE_OK)
    handlers_reply_store_error(req, status);
  else {
    attach_url_members(req->app, json_object_get(result, "members"));
    http_reply_json(req, 200, json_incref(result));
  }
  json_decref(result);
  http_req_unref(req);
}

static void list_members(http_req_t *req) {
  const char *id = conv_id(req);
  if (!id) return;
  long long limit;
  if (handlers_query_int(req, "limit", 1, LIST_LIMIT_MAX, LIST_LIMIT_DEFAULT, &limit) < 0) return;
  char cursor[ID_MAX_CHARS + 2];
  long n = http_req_query(req, "cursor", cursor, sizeof(cursor));
  if (n == -2 || n == 0 || n > ID_MAX_CHARS) {
    reply_invalid(req, "cursor", "cursor is not one this server gave");
    return;
  }
  json_t *params =
      json_pack("{s:s, s:s, s:I}", "id", id, "user_id", req->user_id, "limit", (json_int_t)limit);
  if (n > 0) json_object_set_new(params, "cursor", json_string(cursor));
  handlers_store_call(req, CONV_MEMBERS, params, members_listed);
}

static const route_t routes[] = {
    {"POST", "/api/conversations", 1, create},
    {"GET", "/api/conversations", 1, list},
    {"GET", "/api/messages/instagram", 1, list},
    {"GET", "/api/conversations/:id", 1, get},
    {"PATCH", "/api/conversations/:id", 1, rename_conv},
    {"PUT", "/api/conversations/:id/avatar", 1, set_avatar},
    {"POST", "/api/conversations/:id/members", 1, add_members},
    {"GET", "/api/conversations/:id/members", 1, list_members},
    {"DELETE", "/api/conversations/:id/members/:user_id", 1, remove_member},
};

const route_table_t conversations_routes = ROUTE_TABLE(routes);
