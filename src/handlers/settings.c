/* A participant's own settings of a conversation over REST (API.md,
 * Conversations): muting it until a time. The change reaches the caller's
 * other sessions as conversation.updated; nobody else sees it. Loop thread. */
#include <string.h>

#include "chat/attach_url.h"
#include "chat/conv_view.h"
#include "chat/fanout.h"
#include "chat/fields.h"
#include "handlers/common.h"
#include "handlers/handlers.h"
#include "parley/util.h"

static void set(void *ctx, int status, json_t *result) {
  http_req_t *req = ctx;
  if (status != STORE_OK) {
    handlers_reply_store_error(req, status);
  } else {
    json_t *view = attach_url_conv_view(req->app, result, req->user_id);
    http_reply_json(req, 200, json_pack("{s:O}", "conversation", view));
    json_t *frame = json_pack("{s:s, s:O}", "type", "conversation.updated", "conversation", view);
    json_t *me = json_pack("[s]", req->user_id);
    if (frame && me) fanout_event(req->app, frame, me, NULL);
    json_decref(frame);
    json_decref(me);
    json_decref(view);
  }
  json_decref(result);
  http_req_unref(req);
}

static void update(http_req_t *req) {
  const char *id = http_req_param(req, "id");
  if (!id || !*id || strlen(id) > FIELDS_ID_MAX) {
    http_reply_error(req, 404, "not_found", "no such conversation", NULL);
    return;
  }
  json_t *body = http_req_json(req);
  if (!body) return;
  json_t *until = json_object_get(body, "muted_until");
  int64_t ms = 0;
  char iso[32];
  /* Stored in the one form the API writes, so that stores compare it as text. */
  if (!until || (!json_is_null(until) &&
                 (!json_is_string(until) ||
                  util_parse_iso8601(json_string_value(until), &ms) != 0 || ms < 0))) {
    http_reply_error(req, 400, "validation_failed",
                     "muted_until must be an ISO-8601 UTC time with milliseconds"
                     " (2026-01-31T18:00:00.000Z), or null to unmute",
                     "muted_until");
    json_decref(body);
    return;
  }
  if (json_object_size(body) != 1) {
    http_reply_error(req, 400, "validation_failed", "the only setting is muted_until", NULL);
    json_decref(body);
    return;
  }
  util_iso8601(ms, iso);
  json_t *params = json_pack("{s:s, s:s, s:s?}", "id", id, "user_id", req->user_id, "muted_until",
                             json_is_null(until) ? NULL : iso);
  handlers_store_call(req, CONV_SETTINGS, params, set);
  json_decref(body);
}

static const route_t routes[] = {
    {"PATCH", "/api/conversations/:id/settings", 1, update},
};

const route_table_t settings_routes = ROUTE_TABLE(routes);
