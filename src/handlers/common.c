/* Helpers shared by the handler files: store calls tied to a request, store
 * statuses as error envelopes, strict readers for body fields. Loop thread. */
#include <string.h>

#include "handlers/handlers.h"
#include "parley/util.h"

void handlers_reply_store_error(http_req_t *req, int status) {
  switch (status) {
    case STORE_ENOTFOUND:
      http_reply_error(req, 404, "not_found", "not found", NULL);
      break;
    case STORE_ECONFLICT:
      http_reply_error(req, 409, "conflict", "conflicts with an existing record", NULL);
      break;
    case STORE_EFORBIDDEN:
      http_reply_error(req, 403, "forbidden", "not allowed", NULL);
      break;
    case STORE_EINVAL:
      http_reply_error(req, 400, "validation_failed", "invalid parameters", NULL);
      break;
    case STORE_EREVOKED:
      http_reply_error(req, 401, "unauthorized", "token revoked", NULL);
      break;
    default:
      http_reply_header(req, "Retry-After", "1");
      http_reply_error(req, 503, "unavailable", "the store is unavailable, try again", NULL);
      break;
  }
}

int handlers_store_call(http_req_t *req, enum store_op op, json_t *params, store_cb cb) {
  http_req_ref(req);
  int rc = store_call(req->app->store, op, params, cb, req);
  if (rc != 0) {
    http_req_unref(req);
    handlers_reply_store_error(req, STORE_EUNAVAILABLE);
    return -1;
  }
  return 0;
}

const char *handlers_string_field(http_req_t *req, json_t *body, const char *name, int required,
                                  size_t min_chars, size_t max_chars, int *failed) {
  json_t *v = json_object_get(body, name);
  char msg[160];
  if (!v || json_is_null(v)) {
    if (!required) return NULL;
    snprintf(msg, sizeof(msg), "%s is required", name);
    http_reply_error(req, 400, "validation_failed", msg, name);
    *failed = 1;
    return NULL;
  }
  if (!json_is_string(v)) {
    snprintf(msg, sizeof(msg), "%s must be a string", name);
    http_reply_error(req, 400, "validation_failed", msg, name);
    *failed = 1;
    return NULL;
  }
  const char *s = json_string_value(v);
  size_t len = json_string_length(v);
  size_t chars = util_utf8_valid(s, len) ? util_utf8_len(s, len) : (size_t)-1;
  if (chars == (size_t)-1 || chars < min_chars || chars > max_chars) {
    snprintf(msg, sizeof(msg), "%s must be %zu to %zu characters of valid UTF-8", name, min_chars,
             max_chars);
    http_reply_error(req, 400, "validation_failed", msg, name);
    *failed = 1;
    return NULL;
  }
  return s;
}
