/* The backend-independent part of the store: the cap on jobs in flight, op names,
 * health, and an orderly close. Loop thread only. */
#include <stdlib.h>

#include "parley/log.h"
#include "store/store_internal.h"

static const char *const op_names[STORE_OP_COUNT] = {
    [STORE_PING] = "ping",
    [USER_CREATE] = "user_create",
    [USER_GET_BY_EMAIL] = "user_get_by_email",
    [USER_GET] = "user_get",
    [USER_SEARCH] = "user_search",
    [USER_UPDATE] = "user_update",
    [USER_DELETE] = "user_delete",
    [REFRESH_CREATE] = "refresh_create",
    [REFRESH_ROTATE] = "refresh_rotate",
    [REFRESH_REVOKE] = "refresh_revoke",
    [REFRESH_REVOKE_USER] = "refresh_revoke_user",
    [CONV_CREATE] = "conv_create",
    [CONV_GET] = "conv_get",
    [CONV_LIST] = "conv_list",
    [CONV_RENAME] = "conv_rename",
    [CONV_ADD_MEMBERS] = "conv_add_members",
    [CONV_REMOVE_MEMBER] = "conv_remove_member",
    [CONV_MARK_READ] = "conv_mark_read",
    [MSG_INSERT] = "msg_insert",
    [MSG_LIST] = "msg_list",
    [MSG_GET] = "msg_get",
    [MSG_EDIT] = "msg_edit",
    [MSG_DELETE] = "msg_delete",
    [MSG_REACT] = "msg_react",
    [IG_ACCOUNT_UPSERT] = "ig_account_upsert",
    [IG_ACCOUNT_GET] = "ig_account_get",
    [IG_ACCOUNT_DELETE] = "ig_account_delete",
    [CONTACT_UPSERT] = "contact_upsert",
    [CONTACT_GET] = "contact_get",
    [CONTACT_LIST] = "contact_list",
    [CONTACT_UPDATE] = "contact_update",
    [EVENT_INSERT] = "event_insert",
    [EVENT_LIST_PENDING] = "event_list_pending",
    [EVENT_MARK_PROCESSED] = "event_mark_processed",
    [FLOW_CREATE] = "flow_create",
    [FLOW_GET] = "flow_get",
    [FLOW_LIST] = "flow_list",
    [FLOW_UPDATE] = "flow_update",
    [FLOW_DELETE] = "flow_delete",
    [FLOW_RUN_SAVE] = "flow_run_save",
    [FLOW_RUN_LIST] = "flow_run_list",
    [FLOW_RUN_GET] = "flow_run_get",
    [SCHED_INSERT] = "sched_insert",
    [SCHED_DUE] = "sched_due",
    [SCHED_DELETE] = "sched_delete",
};

const char *store_op_name(enum store_op op) {
  if ((unsigned)op >= STORE_OP_COUNT || !op_names[op]) return "unknown";
  return op_names[op];
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
  s->in_flight--;
  if (s->closing && s->in_flight == 0) s->backend->close(s);
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
