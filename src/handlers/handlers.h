/* What the handler files share: their route tables (listed in routes.c) and the
 * helpers that turn store results into replies. Loop thread only. */
#ifndef PARLEY_HANDLERS_H
#define PARLEY_HANDLERS_H

#include <jansson.h>

#include "parley/app.h"
#include "parley/http.h"
#include "parley/router.h"
#include "parley/store.h"

/* One table per handler file, each defined in that file as
 *   const route_table_t <name>_routes = ROUTE_TABLE(<static route_t array>); */
extern const route_table_t ops_routes;

/* Every table, in match order (routes.c). */
extern const route_table_t *const handlers_route_tables[];
extern const size_t handlers_route_table_count;

/* Replies with the error envelope that matches a store status: ENOTFOUND 404
 * not_found, ECONFLICT 409 conflict, EFORBIDDEN 403 forbidden, EINVAL 400
 * validation_failed, EBUSY/EUNAVAILABLE/ECLOSED 503 unavailable. */
void handlers_reply_store_error(http_req_t *req, int status);

/* store_call() for a request: takes a reference on req that the callback must
 * drop with http_req_unref(). When the store refuses the job, replies 503 and
 * returns -1 (no reference kept, cb not called). Takes ownership of params. */
int handlers_store_call(http_req_t *req, enum store_op op, json_t *params, store_cb cb);

/* Strict field readers for request bodies. Each returns the value (borrowed) or
 * NULL; when the field is present but wrong (type, length in code points, UTF-8)
 * or required and missing, it replies 400 validation_failed naming the field and
 * sets *failed = 1. A NULL result with *failed == 0 means optional and absent. */
const char *handlers_string_field(http_req_t *req, json_t *body, const char *name, int required,
                                  size_t min_chars, size_t max_chars, int *failed);

#endif
