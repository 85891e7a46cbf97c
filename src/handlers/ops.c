/* Operations endpoints: /healthz (the process serves), /readyz (the store and
 * the bus answer, the saved token revocations are loaded and the shared keys
 * checked), /metrics
 * (Prometheus text). Loop thread. */
#include <stdlib.h>

#include "handlers/common.h"
#include "handlers/handlers.h"
#include "parley/auth.h"
#include "parley/bus.h"
#include "parley/log.h"
#include "parley/metrics.h"
#include "parley/ws.h"

/* The same bytes every time: written as they are, not built and encoded. */
static void healthz(http_req_t *req) {
  static const char body[] = "{\"status\":\"ok\"}";
  http_reply_raw(req, 200, "application/json", body, sizeof(body) - 1);
}

static void readyz_done(void *ctx, int status, json_t *result) {
  http_req_t *req = ctx;
  app_t *app = req->app;
  json_decref(result);
  int store_up = status == STORE_OK;
  int bus_up = bus_is_up(app->bus);
  /* Tokens are judged only once the saved revocations are loaded. */
  int ready = store_up && bus_up && !app->shutting_down && app->auth && auth_ready(app->auth) &&
              app->keys_unchecked == 0;
  http_reply_json(
      req, ready ? 200 : 503,
      json_pack("{s:s, s:{s:s, s:s}, s:{s:s, s:s}}", "status", ready ? "ready" : "unavailable",
                "store", "backend", store_backend(app->store), "state", store_up ? "up" : "down",
                "bus", "backend", bus_backend(app->bus), "state", bus_up ? "up" : "down"));
  http_req_unref(req);
}

static void readyz(http_req_t *req) {
  http_req_ref(req);
  if (store_call(req->app->store, STORE_PING, json_object(), readyz_done, req) != 0)
    readyz_done(req, STORE_EUNAVAILABLE, NULL);
}

static void metrics(http_req_t *req) {
  app_t *app = req->app;
  buf_t out;
  buf_init(&out);
  metrics_render(app->metrics, &out);
  metrics_gauge(&out, "parley_connections_open", "open TCP connections", conn_count(app->listener));
  metrics_gauge(&out, "parley_ws_sessions_open", "open WebSocket sessions",
                app->hub ? hub_session_count(app->hub) : 0);
  metrics_gauge(&out, "parley_ws_users_online", "users with a session on this instance",
                app->hub ? hub_user_count(app->hub) : 0);
  metrics_gauge(&out, "parley_store_jobs_in_flight", "store jobs queued or running",
                store_jobs_in_flight(app->store));
  metrics_gauge(&out, "parley_store_cache_bytes",
                "bytes held by the store's page cache in this process (SQLite)",
                (double)store_cache_bytes(app->store));
  metrics_gauge(&out, "parley_store_up", "1 when the store answers", store_healthy(app->store));
  metrics_gauge(&out, "parley_bus_up", "1 when the bus is connected", bus_is_up(app->bus));
  metrics_counter(&out, "parley_access_log_dropped_total",
                  "access-log lines dropped because stderr was slower than the log",
                  log_buffer_dropped());
  http_reply_raw(req, 200, "text/plain; version=0.0.4", out.data ? out.data : "", out.len);
  buf_free(&out);
}

static const route_t routes[] = {
    {"GET", "/healthz", 0, healthz},
    {"GET", "/readyz", 0, readyz},
    {"GET", "/metrics", 0, metrics},
};

const route_table_t ops_routes = ROUTE_TABLE(routes);
