/* read: read and delivered positions (see read.h): the conversation is read
 * for the position before the move and the participants, the store moves the
 * position, and a move is announced through fan-out. Loop thread. */
#include "chat/read.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chat/conv_view.h"
#include "chat/fanout.h"
#include "chat/fields.h"
#include "parley/store.h"

typedef struct read_job_s {
  app_t *app;
  char conv[FIELDS_ID_MAX + 1];
  char user[64];
  json_int_t seq;
  int delivered;    /* 1: the delivered position, 0: the read marker */
  long long before; /* the position before the move */
  json_t *participants;
  read_mark_cb cb;
  void *ctx;
} read_job_t;

static void read_done(read_job_t *j, int status) {
  j->cb(j->ctx, status);
  json_decref(j->participants);
  free(j);
}

/* The marker moved: the other participants get a read frame. */
static void on_marked(void *ctx, int status, json_t *result) {
  read_job_t *j = ctx;
  json_int_t now = json_integer_value(
      json_object_get(result, j->delivered ? "last_delivered_seq" : "last_read_seq"));
  if (status == STORE_OK && now > j->before) {
    json_t *frame = json_pack("{s:s, s:s, s:s, s:I}", "type", j->delivered ? "delivered" : "read",
                              "conversation_id", j->conv, "user_id", j->user, "seq", now);
    if (frame) fanout_event(j->app, frame, j->participants, j->user);
    json_decref(frame);
  }
  json_decref(result);
  read_done(j, status);
}

static void on_read_conv(void *ctx, int status, json_t *result) {
  read_job_t *j = ctx;
  if (status != STORE_OK || !j->app->store) goto fail;
  if (j->delivered && json_object_get(result, "member_count")) {
    /* A channel keeps no delivered positions: nothing shows them, and each
     * post would cost a write per member. Accepted, nothing changes. */
    json_decref(result);
    read_done(j, STORE_OK);
    return;
  }
  j->before =
      j->delivered ? conv_view_delivered_seq(result, j->user) : conv_view_read_seq(result, j->user);
  j->participants = conv_view_participant_ids(result);
  json_decref(result);
  json_t *params = json_pack("{s:s, s:s, s:I}", "id", j->conv, "user_id", j->user, "seq", j->seq);
  status = store_call(j->app->store, j->delivered ? CONV_MARK_DELIVERED : CONV_MARK_READ, params,
                      on_marked, j);
  if (status != 0) read_done(j, status);
  return;
fail:
  json_decref(result);
  read_done(j, status != STORE_OK ? status : STORE_EUNAVAILABLE);
}

static int mark(app_t *app, int delivered, const char *conv, const char *user_id, long long seq,
                read_mark_cb cb, void *ctx) {
  if (strlen(conv) > FIELDS_ID_MAX) return STORE_ENOTFOUND;
  read_job_t *j = calloc(1, sizeof(*j));
  if (!j) return STORE_EUNAVAILABLE;
  j->app = app;
  snprintf(j->conv, sizeof(j->conv), "%s", conv);
  snprintf(j->user, sizeof(j->user), "%s", user_id);
  j->seq = (json_int_t)seq;
  j->delivered = delivered;
  j->cb = cb;
  j->ctx = ctx;
  int rc = store_call(app->store, CONV_GET, json_pack("{s:s, s:s}", "id", conv, "user_id", user_id),
                      on_read_conv, j);
  if (rc != 0) free(j);
  return rc;
}

int read_mark(app_t *app, const char *conv, const char *user_id, long long seq, read_mark_cb cb,
              void *ctx) {
  return mark(app, 0, conv, user_id, seq, cb, ctx);
}

int read_mark_delivered(app_t *app, const char *conv, const char *user_id, long long seq,
                        read_mark_cb cb, void *ctx) {
  return mark(app, 1, conv, user_id, seq, cb, ctx);
}
