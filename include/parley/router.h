/* The route table: method, path pattern with :params, whether a bearer token is
 * required, and the handler. Tables are static arrays, one per handler file,
 * listed in src/handlers/routes.c. Matching is pure (no I/O). */
#ifndef PARLEY_ROUTER_H
#define PARLEY_ROUTER_H

#include "parley/http.h"

typedef void (*http_handler_fn)(http_req_t *req);

typedef struct route_s {
  const char *method;  /* "GET", "POST", ... */
  const char *pattern; /* "/api/conversations/:id/messages" */
  int auth;            /* ROUTE_AUTH: a valid access token is required (401 otherwise);
                          with ROUTE_STREAM the handler runs when the headers arrive and
                          streams the body (http_req_stream_body): max_body_bytes does not
                          apply */
  http_handler_fn handler;
} route_t;

#define ROUTE_AUTH 1
#define ROUTE_STREAM 2
/* With ROUTE_AUTH: "Authorization: Bot <token>" is taken too, checked by the
 * server's authenticate_bot (a bot's token reaches no other route). */
#define ROUTE_BOT 4

typedef struct route_table_s {
  const route_t *routes;
  size_t count;
} route_table_t;

enum router_result { ROUTER_FOUND = 0, ROUTER_NOT_FOUND = -1, ROUTER_BAD_METHOD = -2 };

/* Matches method and decoded path against the tables. On ROUTER_FOUND sets
 * *out and fills the request's params (values are copies owned by the request).
 * On ROUTER_BAD_METHOD writes the allowed methods ("GET, POST") into allow. */
int router_match(const route_table_t *const *tables, size_t ntables, http_req_t *req,
                 const route_t **out, char *allow, size_t allowlen);

/* 1 when method and decoded path match a ROUTE_STREAM route. Keeps an index of
 * the streaming routes of the tables last given (static tables; loop thread). */
int router_streams(const route_table_t *const *tables, size_t ntables, const char *method,
                   const char *path);

#define ROUTE_TABLE(arr) \
  { (arr), sizeof(arr) / sizeof((arr)[0]) }

#endif
