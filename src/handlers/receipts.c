/* Receipts over REST (API.md, Receipts): acknowledging reads and delivery, and who has
 * read (or only received) one message, worked out from the participants'
 * positions in the conversation: nothing is stored per message. A
 * conversation the caller is not in, or a message of another conversation, is
 * a 404. Loop thread. */
#include <stdlib.h>
#include <string.h>

#include "chat/fields.h"
#include "chat/read.h"
#include "handlers/common.h"
#include "handlers/handlers.h"

static const char *path_id(http_req_t *req, const char *name, const char *what) {
  const char *id = http_req_param(req, name);
  if (!id || !*id || strlen(id) > FIELDS_ID_MAX) {
    http_reply_error(req, 404, "not_found", what, NULL);
    return NULL;
  }
  return id;
}

/* ---- POST /api/conversations/:id/read and .../delivered ---- */

static void marked(void *ctx, int status) {
  http_req_t *req = ctx;
  if (status != STORE_OK)
    handlers_reply_store_error(req, status);
  else
    http_reply_empty(req, 204);
  http_req_unref(req);
}

typedef int (*mark_fn)(app_t *app, const char *conv, const char *user_id, long long seq,
                       read_mark_cb cb, void *ctx);

/* Moves the caller's position named by fn to the body's seq. */
static void mark(http_req_t *req, mark_fn fn) {
  const char *id = path_id(req, "id", "no such conversation");
  if (!id) return;
  json_t *body = http_req_json(req);
  if (!body) return;
  json_t *seq = json_object_get(body, "seq");
  if (!json_is_integer(seq) || json_integer_value(seq) < 0) {
    http_reply_error(req, 400, "validation_failed", "seq must be a non-negative integer", "seq");
    json_decref(body);
    return;
  }
  long long s = (long long)json_integer_value(seq);
  json_decref(body);
  http_req_ref(req);
  int rc = fn(req->app, id, req->user_id, s, marked, req);
  if (rc != 0) {
    handlers_reply_store_error(req, rc);
    http_req_unref(req);
  }
}

static void mark_read(http_req_t *req) { mark(req, read_mark); }

static void mark_delivered(http_req_t *req) { mark(req, read_mark_delivered); }

/* ---- GET /api/conversations/:id/messages/:mid/reads ---- */

typedef struct reads_s {
  http_req_t *req;
  json_t *conv; /* the store conversation, with every position */
} reads_t;

static void reads_free(reads_t *r) {
  http_req_unref(r->req);
  json_decref(r->conv);
  free(r);
}

/* {id, name, seq} of a participant, seq being the position that counts. */
static json_t *who(json_t *p, const char *key) {
  return json_pack("{s:O, s:O, s:I}", "user_id", json_object_get(p, "id"), "name",
                   json_object_get(p, "name") ? json_object_get(p, "name") : json_null(), "seq",
                   json_integer_value(json_object_get(p, key)));
}

static void on_message(void *ctx, int status, json_t *result) {
  reads_t *r = ctx;
  json_t *msg = json_object_get(result, "message");
  const char *conv = json_string_value(json_object_get(r->conv, "id"));
  const char *in = json_string_value(json_object_get(msg, "conversation_id"));
  if (status == STORE_OK && (!in || !conv || strcmp(in, conv) != 0)) status = STORE_ENOTFOUND;
  if (status != STORE_OK) {
    if (status == STORE_ENOTFOUND)
      http_reply_error(r->req, 404, "not_found", "no such message", NULL);
    else
      handlers_reply_store_error(r->req, status);
    json_decref(result);
    reads_free(r);
    return;
  }
  json_int_t seq = json_integer_value(json_object_get(msg, "seq"));
  const char *sender = json_string_value(json_object_get(msg, "sender_id"));
  json_t *read_by = json_array(), *delivered_to = json_array(), *p;
  size_t i;
  /* Participants only: an instagram conversation's agents keep no delivered
   * position, and its contact's read position is in its contact. */
  json_array_foreach(json_object_get(r->conv, "participants"), i, p) {
    const char *id = json_string_value(json_object_get(p, "id"));
    if (!id || (sender && strcmp(id, sender) == 0)) continue;
    if (json_integer_value(json_object_get(p, "last_read_seq")) >= seq)
      json_array_append_new(read_by, who(p, "last_read_seq"));
    else if (json_integer_value(json_object_get(p, "last_delivered_seq")) >= seq)
      json_array_append_new(delivered_to, who(p, "last_delivered_seq"));
  }
  http_reply_json(r->req, 200,
                  json_pack("{s:O, s:I, s:o, s:o}", "message_id", json_object_get(msg, "id"), "seq",
                            seq, "read_by", read_by, "delivered_to", delivered_to));
  json_decref(result);
  reads_free(r);
}

static void on_conv(void *ctx, int status, json_t *result) {
  reads_t *r = ctx;
  if (status != STORE_OK) {
    handlers_reply_store_error(r->req, status);
    reads_free(r);
    return;
  }
  r->conv = result;
  const char *mid = http_req_param(r->req, "mid");
  int rc = store_call(r->req->app->store, MSG_GET, json_pack("{s:s}", "id", mid), on_message, r);
  if (rc != 0) {
    handlers_reply_store_error(r->req, rc);
    reads_free(r);
  }
}

static void reads(http_req_t *req) {
  const char *id = path_id(req, "id", "no such conversation");
  if (!id || !path_id(req, "mid", "no such message")) return;
  reads_t *r = calloc(1, sizeof(*r));
  if (!r) {
    http_reply_error(req, 503, "unavailable", "out of memory", NULL);
    return;
  }
  r->req = req;
  http_req_ref(req);
  int rc = store_call(req->app->store, CONV_GET,
                      json_pack("{s:s, s:s}", "id", id, "user_id", req->user_id), on_conv, r);
  if (rc != 0) {
    handlers_reply_store_error(req, rc);
    reads_free(r);
  }
}

static const route_t routes[] = {
    {"POST", "/api/conversations/:id/read", 1, mark_read},
    {"POST", "/api/conversations/:id/delivered", 1, mark_delivered},
    {"GET", "/api/conversations/:id/messages/:mid/reads", 1, reads},
};

const route_table_t receipts_routes = ROUTE_TABLE(routes);
