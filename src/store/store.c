/* The backend-independent part of the store: the cap on jobs in flight, op names
 * and kinds, health, and an orderly close. Loop thread only. */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "parley/log.h"
#include "store/store_internal.h"

/* Every slot is filled: the table is made from the same list as the enum. */
static const struct {
  const char *name;
  enum store_op_kind kind;
} ops[STORE_OP_COUNT] = {
#define STORE_OP(op, name, kind) [op] = {#name, STORE_KIND_##kind},
#include "parley/store_ops.h"
#undef STORE_OP
};

const char *store_op_name(enum store_op op) {
  if ((unsigned)op >= STORE_OP_COUNT) return "unknown";
  assert(ops[op].name);
  return ops[op].name;
}

enum store_op_kind store_op_kind(enum store_op op) {
  assert((unsigned)op < STORE_OP_COUNT);
  return ops[op].kind;
}

store_t *store_new(uv_loop_t *loop, const store_backend_t *backend, int max_jobs) {
  store_t *s = calloc(1, sizeof(*s));
  if (!s) return NULL;
  s->backend = backend;
  s->loop = loop;
  s->max_jobs = max_jobs > 0 ? max_jobs : 10000;
  s->healthy = 1;
  return s;
}

int store_call(store_t *s, enum store_op op, json_t *params, store_cb cb, void *ctx) {
  return store_call_then(s, op, params, NULL, NULL, cb, ctx);
}

int store_call_then(store_t *s, enum store_op op, json_t *params, store_then_fn then,
                    void *then_arg, store_cb cb, void *ctx) {
  return store_call_rows(s, op, params, NULL, NULL, then, then_arg, cb, ctx);
}

int store_call_rows(store_t *s, enum store_op op, json_t *params, const store_conv_rows_t *rows,
                    void *rows_arg, store_then_fn then, void *then_arg, store_cb cb, void *ctx) {
  if ((unsigned)op >= STORE_OP_COUNT || !cb) {
    json_decref(params);
    return STORE_EINVAL;
  }
  if (s->closing) {
    json_decref(params);
    return STORE_ECLOSED;
  }
  if (s->in_flight >= s->max_jobs) {
    json_decref(params);
    return STORE_EBUSY;
  }
  store_job_t *job = calloc(1, sizeof(*job));
  if (!job) {
    json_decref(params);
    return STORE_EBUSY;
  }
  job->store = s;
  job->op = op;
  job->params = params ? params : json_object();
  job->cb = cb;
  job->ctx = ctx;
  job->then = then;
  job->then_arg = then_arg;
  job->rows = op == CONV_LIST ? rows : NULL;
  job->rows_arg = rows_arg;
  s->in_flight++;
  s->backend->submit(s, job);
  return 0;
}

void store_job_done(store_job_t *job) {
  store_t *s = job->store;
  if (job->status == STORE_EUNAVAILABLE) {
    if (s->healthy)
      log_warn("store: %s backend unavailable (%s)", s->backend->name, store_op_name(job->op));
    s->healthy = 0;
  } else if (job->status != STORE_ECLOSED) {
    if (!s->healthy) log_info("store: %s backend answers again", s->backend->name);
    s->healthy = 1;
  }
  json_t *result = job->status == STORE_OK ? job->result : NULL;
  if (job->status != STORE_OK) json_decref(job->result);
  if (job->status == STORE_OK && !result) result = json_object();
  job->cb(job->ctx, job->status, result);
  json_decref(job->params);
  free(job);
  assert(s->in_flight > 0);
  s->in_flight--;
  if (s->closing && s->in_flight == 0) s->backend->close(s);
}

void store_job_then(store_job_t *job) {
  if (!job->then || job->status != STORE_OK || !job->result) return;
  job->result = job->then(job->then_arg, job->params, job->result);
}

void store_close(store_t *s, void (*done)(void *arg), void *arg) {
  if (s->closing) return;
  s->closing = 1;
  s->close_done = done;
  s->close_arg = arg;
  if (s->in_flight == 0) s->backend->close(s);
}

void store_closed(store_t *s) {
  void (*done)(void *) = s->close_done;
  void *arg = s->close_arg;
  free(s);
  if (done) done(arg);
}

int store_jobs_in_flight(const store_t *s) { return s->in_flight; }
const char *store_backend(const store_t *s) { return s->backend->name; }
int store_healthy(const store_t *s) { return s->healthy; }
long long store_cache_bytes(const store_t *s) { return s->cache_bytes; }

json_t *store_reply_preview(const json_t *quoted) {
  json_t *text = json_object_get(quoted, "text");
  json_t *cut = json_null();
  if (json_is_string(text)) {
    const char *t = json_string_value(text);
    size_t len = json_string_length(text), at = 0;
    /* Whole code points: stop before the lead byte of the one past the limit. */
    for (size_t n = 0; at < len; at++)
      if (((unsigned char)t[at] & 0xC0) != 0x80 && n++ == MSG_REPLY_PREVIEW_MAX) break;
    cut = json_stringn(t, at);
  }
  return json_pack("{s:O, s:O, s:O, s:o}", "id", json_object_get(quoted, "id"), "seq",
                   json_object_get(quoted, "seq"), "sender_id",
                   json_object_get(quoted, "sender_id"), "text", cut ? cut : json_null());
}

int store_mentions_ok(const json_t *params) {
  json_t *m = json_object_get(params, "mentions");
  if (!m || json_is_null(m)) return 1;
  if (!json_is_array(m) || json_array_size(m) > MSG_MENTIONS_MAX) return 0;
  for (size_t i = 0; i < json_array_size(m); i++) {
    if (!json_is_string(json_array_get(m, i))) return 0;
    for (size_t j = 0; j < i; j++)
      if (strcmp(json_string_value(json_array_get(m, i)),
                 json_string_value(json_array_get(m, j))) == 0)
        return 0;
  }
  return 1;
}

int store_has_reply_or_mentions(const json_t *params) {
  json_t *r = json_object_get(params, "reply_to"), *m = json_object_get(params, "mentions");
  return (r && !json_is_null(r)) || json_array_size(m) > 0;
}

int store_payload_fits(const json_t *params, int secret) {
  const json_t *payload = json_object_get(params, "payload");
  if (payload && !json_is_object(payload)) return 0;
  int sealed = json_object_get(payload, "ciphertexts") != NULL;
  if (sealed != secret) return 0;
  if (!secret) return 1;
  const json_t *text = json_object_get(params, "text");
  return (!text || json_is_null(text)) && !json_object_get(params, "attachment_ids") &&
         json_array_size(json_object_get(params, "attachments")) == 0 &&
         !store_has_reply_or_mentions(params);
}
