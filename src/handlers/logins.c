/* API.md's sessions and devices: the caller's logins (refresh families) with
 * their device, address and last use, and ending one of them or all but the
 * caller's own. Ending a login revokes its refresh tokens in the store, then
 * its access tokens and WebSocket sessions on every instance (close code 4003,
 * chat/revocations.h). Loop thread. */
#include <stdlib.h>
#include <string.h>

#include "chat/revocations.h"
#include "handlers/common.h"
#include "handlers/handlers.h"
#include "parley/auth.h"
#include "parley/util.h"

static void on_listed(void *ctx, int status, json_t *result) {
  http_req_t *req = ctx;
  json_t *logins = json_object_get(result, "logins");
  if (status != STORE_OK || !json_is_array(logins)) {
    handlers_reply_store_error(req, status != STORE_OK ? status : STORE_EUNAVAILABLE);
  } else {
    size_t i;
    json_t *l;
    json_array_foreach(logins, i, l) {
      const char *id = json_string_value(json_object_get(l, "id"));
      json_object_set_new(l, "current", json_boolean(id && strcmp(id, req->login_id) == 0));
    }
    http_reply_json(req, 200, json_pack("{s:O}", "sessions", logins));
  }
  json_decref(result);
  http_req_unref(req);
}

static void list(http_req_t *req) {
  handlers_store_call(
      req, LOGIN_LIST,
      json_pack("{s:s, s:I}", "user_id", req->user_id, "now_ms", (json_int_t)util_now_ms()),
      on_listed);
}

/* ---- ending ---- */

typedef struct ending_s {
  http_req_t *req; /* referenced */
  int others;      /* DELETE ?others=true answers {ended: n}, one login 204 */
  size_t n;
} ending_t;

static void on_revoked(void *ctx, int status) {
  ending_t *e = ctx;
  if (status != STORE_OK)
    handlers_reply_store_error(e->req, status);
  else if (e->others)
    http_reply_json(e->req, 200, json_pack("{s:I}", "ended", (json_int_t)e->n));
  else
    http_reply_empty(e->req, 204);
  http_req_unref(e->req);
  free(e);
}

/* The store revoked the families; their access tokens and sessions follow. */
static void on_ended(void *ctx, int status, json_t *result) {
  ending_t *e = ctx;
  const json_t *ended = json_object_get(result, "ended");
  if (status == STORE_OK && !json_is_array(ended)) status = STORE_EUNAVAILABLE;
  if (status == STORE_OK) {
    e->n = json_array_size(ended);
    if (revocations_end_logins(e->req->app, e->req->user_id, ended, on_revoked, e) != 0)
      on_revoked(e, STORE_EUNAVAILABLE);
  } else {
    on_revoked(e, status);
  }
  json_decref(result);
}

static void end(http_req_t *req, int others, json_t *params) {
  ending_t *e = calloc(1, sizeof(*e));
  if (!e) {
    json_decref(params);
    http_reply_error(req, 503, "unavailable", "try again", NULL);
    return;
  }
  e->req = req;
  e->others = others;
  http_req_ref(req);
  if (store_call(req->app->store, LOGIN_END, params, on_ended, e) != 0) {
    http_reply_error(req, 503, "unavailable", "try again", NULL);
    http_req_unref(req);
    free(e);
  }
}

static void end_one(http_req_t *req) {
  const char *id = http_req_param(req, "id");
  if (!id || !id[0] || strlen(id) >= AUTH_LOGIN_ID_MAX) {
    http_reply_error(req, 404, "not_found", "no such session", NULL);
    return;
  }
  end(req, 0,
      json_pack("{s:s, s:s, s:I}", "user_id", req->user_id, "id", id, "now_ms",
                (json_int_t)util_now_ms()));
}

/* Only ?others=true: a bare DELETE that ended every login, the caller's too,
 * would be an easy mistake; logout ends the caller's own. */
static void end_others(http_req_t *req) {
  char v[8];
  if (http_req_query(req, "others", v, sizeof(v)) < 0 || strcmp(v, "true") != 0) {
    http_reply_error(req, 400, "validation_failed", "others must be true", "others");
    return;
  }
  if (!req->login_id[0]) {
    http_reply_error(req, 400, "validation_failed",
                     "this access token names no login; refresh it or log in again", NULL);
    return;
  }
  end(req, 1,
      json_pack("{s:s, s:s, s:I}", "user_id", req->user_id, "except_id", req->login_id, "now_ms",
                (json_int_t)util_now_ms()));
}

static const route_t routes[] = {
    {"GET", "/api/auth/sessions", 1, list},
    {"DELETE", "/api/auth/sessions", 1, end_others},
    {"DELETE", "/api/auth/sessions/:id", 1, end_one},
};

const route_table_t logins_routes = ROUTE_TABLE(routes);
