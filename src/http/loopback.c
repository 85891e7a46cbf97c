/* Loopback requests (see http.h): made in memory, with no connection, handled
 * through the same dispatch as requests that arrive, replied to a sink. As
 * h2o's loopback connection, for in-process callers and socket-free tests.
 * Loop thread only. */
#include <stdlib.h>
#include <string.h>

#include "http/http_internal.h"

/* The methods a loopback request may use, as static strings (req->method is
 * borrowed, as llhttp's names are for requests that arrive). */
static const char *method_name(const char *method) {
  static const char *const known[] = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"};
  for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
    if (strcmp(known[i], method) == 0) return known[i];
  return NULL;
}

http_req_t *http_loopback_new(const http_server_t *server, const char *method, const char *target,
                              http_sink_fn sink, void *ctx) {
  const char *name = method_name(method);
  if (!server || !name || !sink || !target || target[0] != '/') return NULL;
  http_req_t *req = http_req_new(server, NULL);
  if (!req) return NULL;
  req->method = name;
  req->sink = sink;
  req->sink_ctx = ctx;
  req->keep_alive = 1;
  if (http_req_set_target(req, target, strlen(target)) != 0) {
    http_req_unref(req);
    return NULL;
  }
  return req;
}

int http_loopback_header(http_req_t *req, const char *name, const char *value) {
  if (req->nheaders == HTTP_MAX_HEADERS) return -1;
  /* One allocation, as a connection's headers (http_req_unref releases the name). */
  size_t nlen = strlen(name), vlen = strlen(value);
  char *n = http_req_alloc(req, nlen + vlen + 2);
  if (!n) return -1;
  memcpy(n, name, nlen + 1);
  char *v = n + nlen + 1;
  memcpy(v, value, vlen + 1);
  for (char *c = n; *c; c++)
    if (*c >= 'A' && *c <= 'Z') *c = (char)(*c - 'A' + 'a');
  req->headers[req->nheaders].name = n;
  req->headers[req->nheaders].value = v;
  req->nheaders++;
  return 0;
}

int http_loopback_body(http_req_t *req, const char *data, size_t len) {
  /* The limit of a connection's requests holds here too. */
  if ((int64_t)(req->body.len + len) > req->server->cfg->max_body_bytes) return -1;
  return buf_append(&req->body, data, len);
}

void http_loopback_dispatch(http_req_t *req) { http_dispatch(req); }
