/* Running store operations to completion in tests: submit, then turn the loop
 * until the callback ran. Shared by the store test programs. */
#ifndef PARLEY_TESTS_STORE_SYNC_H
#define PARLEY_TESTS_STORE_SYNC_H

#include <jansson.h>
#include <uv.h>

#include "parley/store.h"

typedef struct store_reply_s {
  int done;
  int status;
  json_t *result;
} store_reply_t;

static inline void store_sync_on_reply(void *ctx, int status, json_t *result) {
  store_reply_t *r = ctx;
  r->done++;
  r->status = status;
  r->result = result;
}

/* Returns the operation's status (or store_call's refusal); *out gets the
 * result (a new reference), or it is released when out is NULL. done_count, if
 * given, receives how many times the callback ran (exactly once is the rule). */
static inline int store_sync_call(uv_loop_t *loop, store_t *s, enum store_op op, json_t *params,
                                  json_t **out, int *done_count) {
  store_reply_t r = {0, 0, NULL};
  int rc = store_call(s, op, params, store_sync_on_reply, &r);
  if (rc != 0) return rc;
  while (!r.done) uv_run(loop, UV_RUN_ONCE);
  if (done_count) *done_count = r.done;
  if (out)
    *out = r.result;
  else
    json_decref(r.result);
  return r.status;
}

#endif
