/* What the handler files share: store calls tied to a request, store statuses
 * as error envelopes, and strict readers for body fields and query
 * parameters that reply 400 themselves. Loop thread only. */
#ifndef PARLEY_HANDLERS_COMMON_H
#define PARLEY_HANDLERS_COMMON_H

#include <jansson.h>

#include "parley/app.h"
#include "parley/http.h"
#include "parley/store.h"

/* Replies with the error envelope that matches a store status: ENOTFOUND 404
 * not_found, ECONFLICT 409 conflict, EFORBIDDEN 403 forbidden, EINVAL 400
 * validation_failed, EBUSY/EUNAVAILABLE/ECLOSED 503 unavailable. */
void handlers_reply_store_error(http_req_t *req, int status);
/* A store callback for calls that answer nothing: 204, or the store's error;
 * drops the request's reference. */
void handlers_reply_204(void *ctx, int status, json_t *result);

/* store_call() for a request: takes a reference on req that the callback must
 * drop with http_req_unref(). When the store refuses the job, replies 503 and
 * returns -1 (no reference kept, cb not called). Takes ownership of params. */
int handlers_store_call(http_req_t *req, enum store_op op, json_t *params, store_cb cb);
/* The same with then run on the store's worker thread (store_call_then), given
 * the app (read only) as its arg. */
int handlers_store_call_then(http_req_t *req, enum store_op op, json_t *params, store_then_fn then,
                             store_cb cb);
/* The same with CONV_LIST's row writer (store_call_rows), given the app too. */
int handlers_store_call_rows(http_req_t *req, enum store_op op, json_t *params,
                             const store_conv_rows_t *rows, store_then_fn then, store_cb cb);

/* Strict field readers for request bodies. Each returns the value (borrowed) or
 * NULL; when the field is present but wrong (type, length in code points, UTF-8)
 * or required and missing, it replies 400 validation_failed naming the field and
 * sets *failed = 1. A NULL result with *failed == 0 means optional and absent. */
const char *handlers_string_field(http_req_t *req, json_t *body, const char *name, int required,
                                  size_t min_chars, size_t max_chars, int *failed);
/* A display name field (trimmed, 1..100 visible characters): malloc'd, or
 * NULL after replying 400 (or when optional and absent). */
char *handlers_name_field(http_req_t *req, json_t *body, int required);

/* An integer query parameter in min..max: returns 1 and sets *out, 0 when
 * absent (*out = def), or -1 after replying 400 validation_failed naming it. */
int handlers_query_int(http_req_t *req, const char *name, long long min, long long max,
                       long long def, long long *out);

#endif
