/* API.md's Flows: versions and analytics. Publishing a flow, its versions
 * (list, one, restore into the draft) and its counters per version. A flow is
 * visible only to its owner. Loop thread. */
#include <stdlib.h>
#include <string.h>

#include "flows/runner.h"
#include "handlers/common.h"
#include "handlers/handlers.h"
#include "parley/flows_stats.h"

static json_t *view(const json_t *flow) {
  json_t *f = json_deep_copy(flow);
  json_object_del(f, "owner_id");
  json_object_del(f, "live");
  return f;
}

/* Publish and restore: the change is stored; every instance's runner drops
 * the owner's active flows it holds, before the reply. */
static void flow_done(void *ctx, int status, json_t *result) {
  http_req_t *req = ctx;
  if (status == STORE_OK) flow_runner_flows_changed(req->app->runner, req->user_id);
  if (status != STORE_OK)
    handlers_reply_store_error(req, status);
  else
    http_reply_json(req, 200, json_pack("{s:o}", "flow", view(result)));
  json_decref(result);
  http_req_unref(req);
}

static void publish(http_req_t *req) {
  handlers_store_call(
      req, FLOW_PUBLISH,
      json_pack("{s:s, s:s}", "id", http_req_param(req, "id"), "owner_id", req->user_id),
      flow_done);
}

/* The :n of the path: a version number, or -1 after replying 400. */
static long long version_param(http_req_t *req) {
  const char *s = http_req_param(req, "n");
  char *end = NULL;
  long long n = s && s[0] >= '1' && s[0] <= '9' ? strtoll(s, &end, 10) : -1;
  if (n < 1 || !end || *end || n > 1000000000LL) {
    http_reply_error(req, 400, "validation_failed", "version must be a positive integer",
                     "version");
    return -1;
  }
  return n;
}

static void versions_done(void *ctx, int status, json_t *result) {
  http_req_t *req = ctx;
  if (status != STORE_OK)
    handlers_reply_store_error(req, status);
  else
    http_reply_json(req, 200, json_incref(result));
  json_decref(result);
  http_req_unref(req);
}

/* The flow is looked up first, so another user's flow answers 404. */
static void versions_flow_found(void *ctx, int status, json_t *result) {
  http_req_t *req = ctx;
  if (status != STORE_OK) {
    handlers_reply_store_error(req, status);
  } else {
    handlers_store_call(
        req, FLOW_VERSION_LIST,
        json_pack("{s:s, s:s}", "id", http_req_param(req, "id"), "owner_id", req->user_id),
        versions_done);
  }
  json_decref(result);
  http_req_unref(req);
}

static void versions(http_req_t *req) {
  handlers_store_call(
      req, FLOW_GET,
      json_pack("{s:s, s:s}", "id", http_req_param(req, "id"), "owner_id", req->user_id),
      versions_flow_found);
}

static void version_done(void *ctx, int status, json_t *result) {
  http_req_t *req = ctx;
  if (status != STORE_OK)
    handlers_reply_store_error(req, status);
  else
    http_reply_json(req, 200, json_pack("{s:O}", "version", result));
  json_decref(result);
  http_req_unref(req);
}

static void version_get(http_req_t *req) {
  long long n = version_param(req);
  if (n < 0) return;
  handlers_store_call(req, FLOW_VERSION_GET,
                      json_pack("{s:s, s:s, s:I}", "id", http_req_param(req, "id"), "owner_id",
                                req->user_id, "version", (json_int_t)n),
                      version_done);
}

static void restore(http_req_t *req) {
  long long n = version_param(req);
  if (n < 0) return;
  handlers_store_call(req, FLOW_VERSION_RESTORE,
                      json_pack("{s:s, s:s, s:I}", "id", http_req_param(req, "id"), "owner_id",
                                req->user_id, "version", (json_int_t)n),
                      flow_done);
}

/* ---- stats ---- */

typedef struct stats_s {
  http_req_t *req;
  json_t *flow;    /* the graph the numbers are drawn on */
  json_t *version; /* the ?version asked for, or null: all versions */
} stats_t;

static void stats_free(stats_t *s) {
  json_decref(s->flow);
  json_decref(s->version);
  http_req_unref(s->req);
  free(s);
}

static void counters_read(void *ctx, int status, json_t *result) {
  stats_t *s = ctx;
  if (status != STORE_OK)
    handlers_reply_store_error(s->req, status);
  else
    http_reply_json(
        s->req, 200,
        json_pack("{s:o}", "stats",
                  flow_stats_view(s->flow, json_object_get(result, "counters"), s->version)));
  json_decref(result);
  stats_free(s);
}

static void stats_flow_found(void *ctx, int status, json_t *result) {
  stats_t *s = ctx;
  if (status != STORE_OK) {
    handlers_reply_store_error(s->req, status);
    json_decref(result);
    stats_free(s);
    return;
  }
  s->flow = result;
  json_t *p = json_pack("{s:s}", "flow_id", http_req_param(s->req, "id"));
  if (json_is_integer(s->version)) json_object_set(p, "version", s->version);
  /* This instance's runs are in the numbers: their counters waiting in
   * memory go to the store ahead of the read. */
  flow_runner_flush_stats(s->req->app->runner);
  if (store_call(s->req->app->store, FLOW_STATS_GET, p, counters_read, s) != 0) {
    handlers_reply_store_error(s->req, STORE_EBUSY);
    stats_free(s);
  }
}

static void stats(http_req_t *req) {
  long long version = 0;
  if (handlers_query_int(req, "version", 1, 1000000000LL, 0, &version) < 0) return;
  stats_t *s = calloc(1, sizeof(*s));
  if (!s) {
    http_reply_error(req, 503, "unavailable", "out of memory", NULL);
    return;
  }
  s->req = req;
  s->version = version ? json_integer(version) : json_null();
  http_req_ref(req);
  /* With ?version the nodes are that version's (404 when it is gone); without,
   * the draft's, and the counters are summed over every version. */
  json_t *p = json_pack("{s:s, s:s}", "id", http_req_param(req, "id"), "owner_id", req->user_id);
  if (version) json_object_set_new(p, "version", json_integer(version));
  if (store_call(req->app->store, FLOW_GET, p, stats_flow_found, s) != 0) {
    handlers_reply_store_error(req, STORE_EBUSY);
    stats_free(s);
  }
}

static const route_t routes[] = {
    {"POST", "/api/flows/:id/publish", 1, publish},
    {"GET", "/api/flows/:id/versions", 1, versions},
    {"GET", "/api/flows/:id/versions/:n", 1, version_get},
    {"POST", "/api/flows/:id/versions/:n/restore", 1, restore},
    {"GET", "/api/flows/:id/stats", 1, stats},
};

const route_table_t flow_versions_routes = ROUTE_TABLE(routes);
