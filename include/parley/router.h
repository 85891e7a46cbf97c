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
  int auth;            /* 1: a valid access token is required (401 otherwise) */
  http_handler_fn handler;
} route_t;

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

#define ROUTE_TABLE(arr) \
  { (arr), sizeof(arr) / sizeof((arr)[0]) }

#endif
