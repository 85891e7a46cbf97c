/* Bots over REST (API.md, Bots): the owner's calls. What a bot is and does
 * lives in src/bots/; this file reads and checks the request and answers.
 * Every route here is the user's own: a bot's token is refused (401). Loop
 * thread. */
#include <stdlib.h>
#include <string.h>

#include "chat/fanout.h"
#include "chat/fields.h"
#include "handlers/common.h"
#include "handlers/handlers.h"
#include "parley/bots.h"

static const char *bot_id(http_req_t *req) {
  const char *id = http_req_param(req, "id");
  if (!id || !*id || strlen(id) > FIELDS_ID_MAX) {
    http_reply_error(req, 404, "not_found", "no such bot", NULL);
    return NULL;
  }
  return id;
}

static void answered(void *ctx, const bots_res_t *r) {
  http_req_t *req = ctx;
  if (r->code)
    http_reply_error(req, r->http, r->code, r->message, r->field);
  else
    http_reply_json(req, r->http, json_incref(r->body));
  http_req_unref(req);
}

/* The body's webhook_url: a string when present (required: must be). 0, or
 * -1 after replying. */
static int url_field(http_req_t *req, json_t *body, int required) {
  int failed = 0;
  const char *url = handlers_string_field(req, body, "webhook_url", required, 1, 2048, &failed);
  (void)url;
  return failed ? -1 : 0;
}

/* The body's name, trimmed, set back into body. 0, or -1 after replying. */
static int name_field(http_req_t *req, json_t *body, int required) {
  if (!required && !json_object_get(body, "name")) return 0;
  char *name = handlers_name_field(req, body, required);
  if (!name) return -1;
  json_object_set_new(body, "name", json_string(name));
  free(name);
  return 0;
}

static void create(http_req_t *req) {
  json_t *body = http_req_json(req);
  if (!body) return;
  if (name_field(req, body, 1) == 0 && url_field(req, body, 1) == 0) {
    http_req_ref(req);
    bots_create(req->app, req->user_id, body, answered, req);
  }
  json_decref(body);
}

static void update(http_req_t *req) {
  const char *id = bot_id(req);
  if (!id) return;
  json_t *body = http_req_json(req);
  if (!body) return;
  json_t *enabled = json_object_get(body, "enabled");
  if (enabled && !json_is_true(enabled)) {
    http_reply_error(req, 400, "validation_failed",
                     "enabled can only be true (a webhook is disabled by its failures)", "enabled");
  } else if (name_field(req, body, 0) == 0 && url_field(req, body, 0) == 0) {
    http_req_ref(req);
    bots_update(req->app, req->user_id, id, body, answered, req);
  }
  json_decref(body);
}

static void rotate(http_req_t *req) {
  const char *id = bot_id(req);
  if (!id) return;
  http_req_ref(req);
  bots_rotate(req->app, req->user_id, id, answered, req);
}

static void wrap_bot(void *ctx, int status, json_t *result) {
  http_req_t *req = ctx;
  if (status != STORE_OK)
    handlers_reply_store_error(req, status);
  else
    http_reply_json(req, 200, json_pack("{s:O}", "bot", result));
  json_decref(result);
  http_req_unref(req);
}

static void list_done(void *ctx, int status, json_t *result) {
  http_req_t *req = ctx;
  if (status != STORE_OK)
    handlers_reply_store_error(req, status);
  else
    http_reply_json(req, 200, json_incref(result));
  json_decref(result);
  http_req_unref(req);
}

static void list(http_req_t *req) {
  handlers_store_call(req, BOT_LIST, json_pack("{s:s}", "owner_id", req->user_id), list_done);
}

static void get(http_req_t *req) {
  const char *id = bot_id(req);
  if (id)
    handlers_store_call(req, BOT_GET, json_pack("{s:s, s:s}", "id", id, "owner_id", req->user_id),
                        wrap_bot);
}

/* Deleted: it has left every conversation it was in, and each one's members
 * hear it as a member leaving (conversation.updated without it, on every
 * instance through the bus); a channel's leave reaches no one (API.md,
 * Channels), its count moved. */
static void deleted(void *ctx, int status, json_t *result) {
  http_req_t *req = ctx;
  if (status != STORE_OK) {
    handlers_reply_store_error(req, status);
  } else {
    http_reply_empty(req, 204);
    const char *id = http_req_param(req, "id");
    size_t i;
    json_t *conv;
    json_array_foreach(json_object_get(result, "conversations"), i, conv)
        fanout_conversation(req->app, conv, id);
  }
  json_decref(result);
  http_req_unref(req);
}

static void delete_bot(http_req_t *req) {
  const char *id = bot_id(req);
  if (id)
    handlers_store_call(req, BOT_DELETE,
                        json_pack("{s:s, s:s}", "id", id, "owner_id", req->user_id), deleted);
}

static const route_t routes[] = {
    {"POST", "/api/bots", ROUTE_AUTH, create},
    {"GET", "/api/bots", ROUTE_AUTH, list},
    {"GET", "/api/bots/:id", ROUTE_AUTH, get},
    {"PATCH", "/api/bots/:id", ROUTE_AUTH, update},
    {"DELETE", "/api/bots/:id", ROUTE_AUTH, delete_bot},
    {"POST", "/api/bots/:id/token", ROUTE_AUTH, rotate},
};

const route_table_t bots_routes = ROUTE_TABLE(routes);
