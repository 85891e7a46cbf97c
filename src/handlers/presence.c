/* API.md's Presence call: GET /api/presence?user_ids=, how up to 1,000 users
 * stand right now (their status as others see it and last_seen), for the
 * users a presence.snapshot left out. Loop thread. */
#include <stdlib.h>

#include "chat/presence_query.h"
#include "chat/presence_view.h"
#include "handlers/common.h"
#include "handlers/handlers.h"

/* 1,000 ids of 24 characters with 999 commas, and one byte to spare so that a
 * longer value reads as too long rather than cut. */
#define IDS_MAX_BYTES (PRESENCE_VIEW_MAX_USERS * 25 + 1)

static void on_users(void *ctx, int status, json_t *users) {
  http_req_t *req = ctx;
  if (status != STORE_OK) {
    handlers_reply_store_error(req, status);
  } else {
    json_t *entries = json_array();
    size_t i;
    json_t *u;
    json_array_foreach(users, i, u) json_array_append_new(
        entries, presence_view_entry(u, json_is_true(json_object_get(u, "alive"))));
    http_reply_json(req, 200, json_pack("{s:o}", "users", entries));
  }
  json_decref(users);
  http_req_unref(req);
}

static void get_presence(http_req_t *req) {
  char *csv = malloc(IDS_MAX_BYTES);
  if (!csv) {
    http_reply_error(req, 503, "unavailable", "try again", NULL);
    return;
  }
  long n = http_req_query(req, "user_ids", csv, IDS_MAX_BYTES);
  const char *why = "user_ids is required";
  json_t *ids = NULL;
  if (n == -2)
    why = "user_ids may name at most 1000 users";
  else if (n >= 0)
    ids = presence_view_parse_ids(csv, &why);
  free(csv);
  if (!ids) {
    http_reply_error(req, 400, "validation_failed", why, "user_ids");
    return;
  }
  http_req_ref(req);
  if (presence_lookup(req->app, ids, on_users, req) != 0) {
    http_req_unref(req);
    http_reply_error(req, 503, "unavailable", "try again", NULL);
  }
  json_decref(ids);
}

static const route_t routes[] = {
    {"GET", "/api/presence", 1, get_presence},
};

const route_table_t presence_routes = ROUTE_TABLE(routes);
