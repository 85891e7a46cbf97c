/* The shared team inbox and human takeover over REST (API.md, Instagram): the
 * owner of a connected Instagram account adds, lists and removes agents;
 * anyone who sees an instagram conversation (owner or agent) assigns it and
 * pauses or resumes its contact's automation. Loop thread. */
#include <stdlib.h>
#include <string.h>

#include "chat/attach_url.h"
#include "chat/conv_view.h"
#include "chat/fanout.h"
#include "chat/fields.h"
#include "handlers/common.h"
#include "handlers/handlers.h"
#include "instagram/takeover.h"
#include "parley/util.h"

#define ID_MAX_CHARS FIELDS_ID_MAX

/* ---- agents ---- */

static void agent_added(void *ctx, int status, json_t *result) {
  http_req_t *req = ctx;
  if (status == STORE_EINVAL)
    http_reply_error(req, 400, "validation_failed", "user_id must name another Parley user",
                     "user_id");
  else if (status == STORE_EFORBIDDEN)
    http_reply_error(req, 400, "validation_failed", "an account has at most 50 agents", "user_id");
  else if (status != STORE_OK)
    handlers_reply_store_error(req, status);
  else
    http_reply_json(req, json_is_true(json_object_get(result, "created")) ? 201 : 200,
                    json_pack("{s:O}", "agent", json_object_get(result, "agent")));
  json_decref(result);
  http_req_unref(req);
}

/* The caller owns a connected account: the agent is added. */
static void owner_checked(void *ctx, int status, json_t *result) {
  http_req_t *req = ctx;
  json_decref(result);
  if (status == STORE_ENOTFOUND) {
    http_reply_error(req, 403, "forbidden",
                     "only the owner of a connected Instagram account manages its agents", NULL);
  } else if (status != STORE_OK) {
    handlers_reply_store_error(req, status);
  } else {
    json_t *body = json_loadb(req->body.data, req->body.len, 0, NULL);
    handlers_store_call(req, AGENT_ADD,
                        json_pack("{s:s, s:O}", "owner_id", req->user_id, "user_id",
                                  json_object_get(body, "user_id")),
                        agent_added);
    json_decref(body);
  }
  http_req_unref(req);
}

static void agent_add(http_req_t *req) {
  json_t *body = http_req_json(req);
  if (!body) return;
  int failed = 0;
  handlers_string_field(req, body, "user_id", 1, 1, ID_MAX_CHARS, &failed);
  json_decref(body);
  if (!failed)
    handlers_store_call(req, IG_ACCOUNT_GET, json_pack("{s:s}", "user_id", req->user_id),
                        owner_checked);
}

static void agents_listed(void *ctx, int status, json_t *result) {
  http_req_t *req = ctx;
  if (status != STORE_OK)
    handlers_reply_store_error(req, status);
  else
    http_reply_json(req, 200, json_incref(result));
  json_decref(result);
  http_req_unref(req);
}

static void agent_list(http_req_t *req) {
  handlers_store_call(req, AGENT_LIST, json_pack("{s:s}", "owner_id", req->user_id), agents_listed);
}

/* The store no longer lets the agent in; its open sessions hear it in one
 * frame (however many conversations the account has) and drop them. */
static void agent_removed(void *ctx, int status, json_t *result) {
  http_req_t *req = ctx;
  if (status != STORE_OK) {
    handlers_reply_store_error(req, status);
  } else {
    const char *agent = http_req_param(req, "user_id");
    json_t *frame =
        json_pack("{s:s, s:s}", "type", "instagram.access_removed", "owner_id", req->user_id);
    json_t *to = json_pack("[s]", agent);
    if (frame && to) fanout_event(req->app, frame, to, NULL);
    json_decref(frame);
    json_decref(to);
    http_reply_empty(req, 204);
  }
  json_decref(result);
  http_req_unref(req);
}

static void agent_remove(http_req_t *req) {
  const char *user = http_req_param(req, "user_id");
  if (!user || !*user || strlen(user) > ID_MAX_CHARS) {
    http_reply_error(req, 404, "not_found", "no such agent", NULL);
    return;
  }
  handlers_store_call(req, AGENT_REMOVE,
                      json_pack("{s:s, s:s}", "owner_id", req->user_id, "user_id", user),
                      agent_removed);
}

/* ---- POST /api/conversations/:id/assign ---- */

static void assigned(void *ctx, int status, json_t *result) {
  http_req_t *req = ctx;
  if (status == STORE_EINVAL) {
    http_reply_error(req, 400, "validation_failed",
                     "user_id must be the account's owner or one of its agents", "user_id");
  } else if (status == STORE_EFORBIDDEN) {
    http_reply_error(req, 400, "validation_failed", "only instagram conversations are assigned",
                     NULL);
  } else if (status != STORE_OK) {
    handlers_reply_store_error(req, status);
  } else {
    http_reply_json(
        req, 200,
        json_pack("{s:o}", "conversation", attach_url_conv_view(req->app, result, req->user_id)));
    fanout_conversation(req->app, result, NULL);
  }
  json_decref(result);
  http_req_unref(req);
}

static void assign(http_req_t *req) {
  const char *id = http_req_param(req, "id");
  if (!id || !*id || strlen(id) > ID_MAX_CHARS) {
    http_reply_error(req, 404, "not_found", "no such conversation", NULL);
    return;
  }
  json_t *body = http_req_json(req);
  if (!body) return;
  json_t *who = json_object_get(body, "user_id");
  if (!who || !(json_is_null(who) || fields_string_ok(who, 1, ID_MAX_CHARS))) {
    http_reply_error(req, 400, "validation_failed", "user_id must be a user id or null", "user_id");
  } else {
    handlers_store_call(
        req, CONV_ASSIGN,
        json_pack("{s:s, s:s, s:O}", "id", id, "user_id", req->user_id, "assignee_id", who),
        assigned);
  }
  json_decref(body);
}

/* ---- POST /api/contacts/:id/automation ---- */

static void automation_set(void *ctx, int status, json_t *result) {
  http_req_t *req = ctx;
  if (status != STORE_OK) {
    handlers_reply_store_error(req, status);
  } else {
    json_object_del(result, "owner_id");
    /* Everyone who sees the contact's conversations sees the change live. */
    ig_takeover_announce(req->app, json_object_get(result, "conversation_ids"));
    json_object_del(result, "conversation_ids");
    http_reply_json(req, 200, json_pack("{s:O}", "contact", result));
  }
  json_decref(result);
  http_req_unref(req);
}

static void automation(http_req_t *req) {
  const char *id = http_req_param(req, "id");
  if (!id || !*id || strlen(id) > ID_MAX_CHARS) {
    http_reply_error(req, 404, "not_found", "no such contact", NULL);
    return;
  }
  json_t *body = http_req_json(req);
  if (!body) return;
  json_t *paused = json_object_get(body, "paused");
  if (!json_is_boolean(paused)) {
    http_reply_error(req, 400, "validation_failed", "paused must be true or false", "paused");
  } else {
    json_t *until = json_is_true(paused) ? json_integer((json_int_t)ig_takeover_until_ms(req->app))
                                         : json_null();
    handlers_store_call(
        req, CONTACT_PAUSE,
        json_pack("{s:s, s:s, s:o}", "id", id, "user_id", req->user_id, "until_ms", until),
        automation_set);
  }
  json_decref(body);
}

static const route_t routes[] = {
    {"POST", "/api/instagram/agents", 1, agent_add},
    {"GET", "/api/instagram/agents", 1, agent_list},
    {"DELETE", "/api/instagram/agents/:user_id", 1, agent_remove},
    {"POST", "/api/conversations/:id/assign", 1, assign},
    {"POST", "/api/contacts/:id/automation", 1, automation},
};

const route_table_t team_routes = ROUTE_TABLE(routes);
