/* Helpers shared by the handler files (see common.h). Loop thread. */
#include "handlers/common.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "parley/util.h"

#define NAME_MAX_CHARS 100

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

void handlers_reply_204(void *ctx, int status, json_t *result) {
  http_req_t *req = ctx;
  if (status != STORE_OK)
    handlers_reply_store_error(req, status);
  else
    http_reply_empty(req, 204);
  json_decref(result);
  http_req_unref(req);
}

int handlers_store_call(http_req_t *req, enum store_op op, json_t *params, store_cb cb) {
  return handlers_store_call_then(req, op, params, NULL, cb);
}

int handlers_store_call_then(http_req_t *req, enum store_op op, json_t *params, store_then_fn then,
                             store_cb cb) {
  return handlers_store_call_rows(req, op, params, NULL, then, cb);
}

int handlers_store_call_rows(http_req_t *req, enum store_op op, json_t *params,
                             const store_conv_rows_t *rows, store_then_fn then, store_cb cb) {
  http_req_ref(req);
  int rc = store_call_rows(req->app->store, op, params, rows, req->app, then, req->app, cb, req);
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

/* A display name: trimmed, 1..100 characters, no control characters. Returns a
 * malloc'd copy or NULL after replying. */
char *handlers_name_field(http_req_t *req, json_t *body, int required) {
  int failed = 0;
  const char *raw = handlers_string_field(req, body, "name", required, 1, NAME_MAX_CHARS, &failed);
  if (!raw) return NULL;
  size_t len = strlen(raw);
  while (len && (raw[0] == ' ' || raw[0] == '\t')) raw++, len--;
  while (len && (raw[len - 1] == ' ' || raw[len - 1] == '\t')) len--;
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)raw[i];
    if (c < 0x20 || c == 0x7f) len = 0;
  }
  if (len == 0) {
    http_reply_error(req, 400, "validation_failed", "name must be 1 to 100 visible characters",
                     "name");
    return NULL;
  }
  return strndup(raw, len);
}

int handlers_query_int(http_req_t *req, const char *name, long long min, long long max,
                       long long def, long long *out) {
  char buf[32], msg[128];
  long n = http_req_query(req, name, buf, sizeof(buf));
  *out = def;
  if (n == -1) return 0;
  char *end = NULL;
  errno = 0;
  long long v = n > 0 && buf[0] >= '0' && buf[0] <= '9' ? strtoll(buf, &end, 10) : -1;
  if (n <= 0 || errno || !end || *end || v < min || v > max) {
    snprintf(msg, sizeof(msg), "%s must be an integer from %lld to %lld", name, min, max);
    http_reply_error(req, 400, "validation_failed", msg, name);
    return -1;
  }
  *out = v;
  return 1;
}
