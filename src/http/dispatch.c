/* From a parsed request to its handler: CORS preflight, routing (404 and 405
 * with Allow), the bearer-token check of authenticated routes. Loop thread. */
#include <string.h>

#include "http/http_internal.h"
#include "parley/router.h"
#include "parley/web.h"

static void preflight(http_req_t *req, const char *origin) {
  if (!http_origin_allowed(req->server, origin)) {
    http_reply_error(req, 403, "forbidden", "origin not allowed", NULL);
    return;
  }
  http_reply_header(req, "Access-Control-Allow-Methods", "GET, POST, PUT, PATCH, DELETE, OPTIONS");
  http_reply_header(req, "Access-Control-Allow-Headers",
                    "Authorization, Content-Type, X-Request-Id");
  http_reply_header(req, "Access-Control-Max-Age", "600");
  http_reply_empty(req, 204);
}

/* With metrics_listen set, /metrics moves to its own listener, which serves
 * nothing else but /healthz (a probe of that listener). */
static int served_here(const http_req_t *req) {
  int metrics =
      req->path && req->path[0] == '/' && req->path[1] == 'm' && strcmp(req->path, "/metrics") == 0;
  if (req->conn && req->conn->metrics_only)
    return metrics || (req->path && strcmp(req->path, "/healthz") == 0);
  return !metrics || !req->server->cfg->metrics_listen;
}

static int is_bot_token(const http_req_t *req) {
  const char *h = http_req_header(req, "authorization");
  return h && strncmp(h, "Bot ", 4) == 0;
}

void http_req_authenticated(http_req_t *req, int status) {
  const route_t *route = req->route_entry;
  if (status == -2) {
    http_reply_header(req, "Retry-After", "1");
    http_reply_error(req, 503, "unavailable", "try again shortly", NULL);
  } else if (status != 0) {
    http_reply_error(req, 401, "unauthorized", "a valid bot token is required", NULL);
  } else if (!http_req_gone(req)) {
    req->bot = 1;
    route->handler(req);
  }
  http_req_unref(req);
}

void http_dispatch(http_req_t *req) {
  const http_server_t *srv = req->server;
  http_req_ref(req); /* a handler may reply and drop the last other reference */
  if (!served_here(req)) {
    http_reply_error(req, 404, "not_found", "no such route", NULL);
    goto done;
  }
  /* The method's first letter before strcmp, here and below: every request
   * passes these tests and few are OPTIONS or HEAD. */
  const char *origin = req->method[0] == 'O' && strcmp(req->method, "OPTIONS") == 0
                           ? http_req_header(req, "origin")
                           : NULL;
  if (origin && http_req_header(req, "access-control-request-method")) {
    req->route = "preflight";
    preflight(req, origin);
    goto done;
  }
  const route_t *route = NULL;
  char allow[128];
  int rc = router_match(srv->routes, srv->nroutes, req, &route, allow, sizeof(allow));
  if (rc == ROUTER_NOT_FOUND && web_serve(srv->web, req)) goto done;
  if (rc == ROUTER_NOT_FOUND) {
    http_reply_error(req, 404, "not_found", "no such route", NULL);
    goto done;
  }
  if (rc == ROUTER_BAD_METHOD) {
    http_reply_header(req, "Allow", allow);
    http_reply_error(req, 405, "method_not_allowed", "method not allowed on this route", NULL);
    goto done;
  }
  if ((route->auth & ROUTE_BOT) && is_bot_token(req)) {
    req->route_entry = route;
    http_req_ref(req); /* dropped by http_req_authenticated */
    if (!srv->authenticate_bot || srv->authenticate_bot(srv->bot_ctx, req) != 0)
      http_req_authenticated(req, srv->authenticate_bot ? -2 : -1);
    goto done;
  }
  int authed = (route->auth & ROUTE_AUTH)
                   ? (srv->authenticate ? srv->authenticate(srv->auth_ctx, req) : -1)
                   : 0;
  if (authed == -2) {
    http_reply_header(req, "Retry-After", "1");
    http_reply_error(req, 503, "unavailable", "starting up: try again shortly", NULL);
    goto done;
  }
  if (authed != 0) {
    http_reply_error(req, 401, "unauthorized", "a valid access token is required", NULL);
    goto done;
  }
  route->handler(req);
done:
  http_req_unref(req);
}
