/* Conversations over REST (API.md, Conversations): create (direct is one per
 * pair), list by activity, get, rename, add and remove members, read markers.
 * Changes are announced with conversation.updated and read frames through
 * fanout. A conversation the caller is not in is a 404. Loop thread. */
#include <stdlib.h>
#include <string.h>

#include "handlers/conversations.h"
#include "handlers/fanout.h"
#include "handlers/handlers.h"
#include "handlers/messages.h"
#include "parley/buf.h"
#include "parley/util.h"

#define NAME_MAX_CHARS 100
#define ID_MAX_CHARS 64
#define MEMBERS_MAX 256
#define LIST_LIMIT_DEFAULT 50
#define LIST_LIMIT_MAX 200

/* ---- the caller's view ---- */

long long conversations_read_seq(const json_t *conv, const char *user_id) {
  size_t i;
  json_t *p;
  json_array_foreach(json_object_get(conv, "participants"), i, p) {
    const char *id = json_string_value(json_object_get(p, "id"));
    if (id && user_id && strcmp(id, user_id) == 0)
      return (long long)json_integer_value(json_object_get(p, "last_read_seq"));
  }
  return -1;
}

static long long unread_count(const json_t *conv, const char *user_id) {
  long long last = (long long)json_integer_value(json_object_get(conv, "last_seq"));
  long long read = conversations_read_seq(conv, user_id);
  long long unread = read < 0 ? 0 : last - read;
  return unread > 0 ? unread : 0;
}

/* The view shares every value but the participants' objects with conv (nothing
 * here or downstream modifies them): a deep copy was most of the cost of a list. */
json_t *conversations_view(const json_t *conv, const char *user_id) {
  json_t *v = json_object();
  if (!v) return NULL;
  const char *key;
  json_t *val;
  json_object_foreach((json_t *)conv, key, val) {
    if (strcmp(key, "participants") != 0) {
      json_object_set_nocheck(v, key, val);
      continue;
    }
    json_t *parts = json_array(), *p;
    size_t i;
    json_array_foreach(val, i, p) {
      json_t *one = json_object();
      const char *k;
      json_t *x;
      json_object_foreach(p, k, x) if (strcmp(k, "last_read_seq") != 0)
          json_object_set_nocheck(one, k, x);
      json_array_append_new(parts, one);
    }
    json_object_set_new_nocheck(v, key, parts);
  }
  json_object_set_new_nocheck(v, "unread_count", json_integer(unread_count(conv, user_id)));
  return v;
}

json_t *conversations_participant_ids(const json_t *conv) {
  json_t *ids = json_array();
  size_t i;
  json_t *p;
  json_array_foreach(json_object_get(conv, "participants"), i, p) {
    json_t *id = json_object_get(p, "id");
    if (json_is_string(id)) json_array_append(ids, id);
  }
  return ids;
}

static void reply_conversation(http_req_t *req, int status, const json_t *conv) {
  http_reply_json(req, status,
                  json_pack("{s:o}", "conversation", conversations_view(conv, req->user_id)));
}

/* A conversation id from the path: anything longer than an id cannot exist. */
static const char *conv_id(http_req_t *req) {
  const char *id = http_req_param(req, "id");
  if (!id || !*id || strlen(id) > ID_MAX_CHARS) {
    http_reply_error(req, 404, "not_found", "no such conversation", NULL);
    return NULL;
  }
  return id;
}

static void reply_invalid(http_req_t *req, const char *field, const char *message) {
  http_reply_error(req, 400, "validation_failed", message, field);
}

/* A JSON array of 1..max user ids (strings of 1..64 characters), deduplicated,
 * without `skip`. Returns a new array, or NULL after replying 400. */
static json_t *user_ids_field(http_req_t *req, json_t *body, const char *field, size_t min,
                              const char *skip) {
  json_t *v = json_object_get(body, field);
  char msg[128];
  snprintf(msg, sizeof(msg), "%s must be an array of %zu to %d user ids", field, min, MEMBERS_MAX);
  if (!json_is_array(v) || json_array_size(v) < min || json_array_size(v) > MEMBERS_MAX) {
    reply_invalid(req, field, msg);
    return NULL;
  }
  json_t *out = json_array(), *seen = json_object();
  size_t i;
  json_t *id;
  json_array_foreach(v, i, id) {
    if (!messages_string_ok(id, 1, ID_MAX_CHARS)) {
      reply_invalid(req, field, msg);
      json_decref(out);
      json_decref(seen);
      return NULL;
    }
    const char *s = json_string_value(id);
    if ((skip && strcmp(s, skip) == 0) || json_object_get(seen, s)) continue;
    json_object_set_new(seen, s, json_true());
    json_array_append(out, id);
  }
  json_decref(seen);
  return out;
}

/* ---- POST /api/conversations ---- */

static void created(void *ctx, int status, json_t *result) {
  http_req_t *req = ctx;
  if (status == STORE_EINVAL) {
    /* The body was valid when sent; only its type decides the field named. */
    json_t *body = json_loadb(req->body.data, req->body.len, 0, NULL);
    const char *type = json_string_value(json_object_get(body, "type"));
    int direct = type && strcmp(type, "direct") == 0;
    reply_invalid(req, direct ? "participant_id" : "participant_ids", "unknown user");
    json_decref(body);
  } else if (status != STORE_OK) {
    handlers_reply_store_error(req, status);
  } else {
    json_t *conv = json_object_get(result, "conversation");
    int is_new = json_is_true(json_object_get(result, "created"));
    reply_conversation(req, is_new ? 201 : 200, conv);
    if (is_new) fanout_conversation(req->app, conv, NULL);
  }
  json_decref(result);
  http_req_unref(req);
}

static json_t *direct_params(http_req_t *req, json_t *body) {
  int failed = 0;
  const char *other =
      handlers_string_field(req, body, "participant_id", 1, 1, ID_MAX_CHARS, &failed);
  if (failed) return NULL;
  if (strcmp(other, req->user_id) == 0) {
    reply_invalid(req, "participant_id", "a direct conversation needs another user");
    return NULL;
  }
  return json_pack("{s:s, s:n, s:s, s:[s,s]}", "type", "direct", "name", "creator_id", req->user_id,
                   "participant_ids", req->user_id, other);
}

static json_t *group_params(http_req_t *req, json_t *body) {
  int failed = 0;
  const char *name = handlers_string_field(req, body, "name", 1, 1, NAME_MAX_CHARS, &failed);
  if (failed) return NULL;
  json_t *ids = user_ids_field(req, body, "participant_ids", 0, req->user_id);
  if (!ids) return NULL;
  json_array_insert_new(ids, 0, json_string(req->user_id));
  return json_pack("{s:s, s:s, s:s, s:o}", "type", "group", "name", name, "creator_id",
                   req->user_id, "participant_ids", ids);
}

static void create(http_req_t *req) {
  json_t *body = http_req_json(req);
  if (!body) return;
  json_t *type = json_object_get(body, "type"), *params = NULL;
  const char *t = json_string_value(type);
  if (t && strcmp(t, "direct") == 0)
    params = direct_params(req, body);
  else if (t && strcmp(t, "group") == 0)
    params = group_params(req, body);
  else
    reply_invalid(req, "type", "type must be \"direct\" or \"group\"");
  json_decref(body);
  if (params) handlers_store_call(req, CONV_CREATE, params, created);
}

/* ---- GET /api/conversations ---- */

/* The answer is written as text straight from the store's result, byte for byte
 * what json_dumps(JSON_COMPACT) gives for the views (keys in insertion order):
 * building the views and encoding them was most of the loop's time per list. */
static int write_value(buf_t *b, json_t *v);

/* A JSON string as jansson escapes it without JSON_ENSURE_ASCII. */
static int write_string(buf_t *b, const char *s, size_t len) {
  static const char hex[] = "0123456789ABCDEF";
  if (buf_reserve(b, len + 2) != 0 || buf_append(b, "\"", 1) != 0) return -1;
  size_t start = 0;
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c >= 0x20 && c != '"' && c != '\\') continue;
    if (buf_append(b, s + start, i - start) != 0) return -1;
    start = i + 1;
    char esc[7] = {'\\', (char)c, 0};
    size_t n = 2;
    switch (c) {
      case '"':
      case '\\':
        break;
      case '\b':
        esc[1] = 'b';
        break;
      case '\f':
        esc[1] = 'f';
        break;
      case '\n':
        esc[1] = 'n';
        break;
      case '\r':
        esc[1] = 'r';
        break;
      case '\t':
        esc[1] = 't';
        break;
      default:
        memcpy(esc + 1, "u00", 3);
        esc[4] = hex[c >> 4];
        esc[5] = hex[c & 15];
        n = 6;
    }
    if (buf_append(b, esc, n) != 0) return -1;
  }
  if (buf_append(b, s + start, len - start) != 0) return -1;
  return buf_append(b, "\"", 1);
}

/* An object's members, without `skip`; the caller writes the braces. */
static int write_members(buf_t *b, json_t *obj, const char *skip, int *first) {
  const char *key;
  json_t *val;
  json_object_foreach(obj, key, val) {
    if (skip && strcmp(key, skip) == 0) continue;
    if ((!*first && buf_append(b, ",", 1) != 0) || write_string(b, key, strlen(key)) != 0 ||
        buf_append(b, ":", 1) != 0 || write_value(b, val) != 0)
      return -1;
    *first = 0;
  }
  return 0;
}

static int write_value(buf_t *b, json_t *v) {
  switch (json_typeof(v)) {
    case JSON_STRING:
      return write_string(b, json_string_value(v), json_string_length(v));
    case JSON_INTEGER:
      return buf_printf(b, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
    case JSON_TRUE:
      return buf_append(b, "true", 4);
    case JSON_FALSE:
      return buf_append(b, "false", 5);
    case JSON_NULL:
      return buf_append(b, "null", 4);
    case JSON_OBJECT: {
      int first = 1;
      if (buf_append(b, "{", 1) != 0 || write_members(b, v, NULL, &first) != 0) return -1;
      return buf_append(b, "}", 1);
    }
    case JSON_ARRAY: {
      size_t i;
      json_t *x;
      if (buf_append(b, "[", 1) != 0) return -1;
      json_array_foreach(
          v, i, x) if ((i && buf_append(b, ",", 1) != 0) || write_value(b, x) != 0) return -1;
      return buf_append(b, "]", 1);
    }
    default: { /* a real: rare enough to leave its formatting to jansson */
      char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
      int rc = s ? buf_append_str(b, s) : -1;
      free(s);
      return rc;
    }
  }
}

/* conversations_view(conv, user_id) as text. */
static int write_view(buf_t *b, json_t *conv, const char *user_id) {
  const char *key;
  json_t *val;
  int first = 1;
  if (buf_append(b, "{", 1) != 0) return -1;
  json_object_foreach(conv, key, val) {
    if ((!first && buf_append(b, ",", 1) != 0) || write_string(b, key, strlen(key)) != 0 ||
        buf_append(b, ":", 1) != 0)
      return -1;
    first = 0;
    if (strcmp(key, "participants") != 0 || !json_is_array(val)) {
      if (write_value(b, val) != 0) return -1;
      continue;
    }
    size_t i;
    json_t *p;
    if (buf_append(b, "[", 1) != 0) return -1;
    json_array_foreach(val, i, p) {
      int pfirst = 1;
      if ((i && buf_append(b, ",", 1) != 0) || buf_append(b, "{", 1) != 0 ||
          (json_is_object(p) && write_members(b, p, "last_read_seq", &pfirst) != 0) ||
          buf_append(b, "}", 1) != 0)
        return -1;
    }
    if (buf_append(b, "]", 1) != 0) return -1;
  }
  return buf_printf(b, "%s\"unread_count\":%lld}", first ? "" : ",", unread_count(conv, user_id));
}

static int write_list(buf_t *b, json_t *result, const char *user_id) {
  size_t i;
  json_t *c, *next = json_object_get(result, "next_cursor");
  if (buf_reserve(b, 16384) != 0 || buf_append_str(b, "{\"conversations\":[") != 0) return -1;
  json_array_foreach(json_object_get(result, "conversations"), i, c) {
    if ((i && buf_append(b, ",", 1) != 0) || write_view(b, c, user_id) != 0) return -1;
  }
  if (buf_append_str(b, "],\"next_cursor\":") != 0 ||
      write_value(b, next ? next : json_null()) != 0)
    return -1;
  return buf_append(b, "}", 1);
}

static void listed(void *ctx, int status, json_t *result) {
  http_req_t *req = ctx;
  if (status == STORE_EINVAL) {
    reply_invalid(req, "cursor", "cursor is not one this server gave");
  } else if (status != STORE_OK) {
    handlers_reply_store_error(req, status);
  } else {
    buf_t b;
    buf_init(&b);
    if (write_list(&b, result, req->user_id) == 0)
      http_reply_raw(req, 200, "application/json", b.data, b.len);
    else
      http_reply_error(req, 500, "internal", "could not encode the response", NULL);
    buf_free(&b);
  }
  json_decref(result);
  http_req_unref(req);
}

static void list(http_req_t *req) {
  long long limit;
  if (messages_query_int(req, "limit", 1, LIST_LIMIT_MAX, LIST_LIMIT_DEFAULT, &limit) < 0) return;
  char cursor[256];
  long n = http_req_query(req, "cursor", cursor, sizeof(cursor));
  if (n == -2 || (n >= 0 && n > 200)) {
    reply_invalid(req, "cursor", "cursor is not one this server gave");
    return;
  }
  json_t *params = json_pack("{s:s, s:I}", "user_id", req->user_id, "limit", (json_int_t)limit);
  if (n > 0) json_object_set_new(params, "cursor", json_string(cursor));
  /* The seed SPA's inbox alias lists only Instagram conversations. */
  if (strcmp(req->route, "/api/messages/instagram") == 0)
    json_object_set_new(params, "type", json_string("instagram"));
  handlers_store_call(req, CONV_LIST, params, listed);
}

/* ---- GET, PATCH /api/conversations/:id and POST .../members ---- */

static void got(void *ctx, int status, json_t *result) {
  http_req_t *req = ctx;
  if (status != STORE_OK)
    handlers_reply_store_error(req, status);
  else
    reply_conversation(req, 200, result);
  json_decref(result);
  http_req_unref(req);
}

static void get(http_req_t *req) {
  const char *id = conv_id(req);
  if (!id) return;
  handlers_store_call(req, CONV_GET, json_pack("{s:s, s:s}", "id", id, "user_id", req->user_id),
                      got);
}

/* Rename and add: 200 with the conversation, which every participant hears of. */
static void changed(void *ctx, int status, json_t *result) {
  http_req_t *req = ctx;
  if (status == STORE_EINVAL) {
    reply_invalid(req, "user_ids", "unknown user in user_ids");
  } else if (status != STORE_OK) {
    handlers_reply_store_error(req, status);
  } else {
    reply_conversation(req, 200, result);
    fanout_conversation(req->app, result, NULL);
  }
  json_decref(result);
  http_req_unref(req);
}

static void rename_conv(http_req_t *req) {
  const char *id = conv_id(req);
  if (!id) return;
  json_t *body = http_req_json(req);
  if (!body) return;
  int failed = 0;
  const char *name = handlers_string_field(req, body, "name", 1, 1, NAME_MAX_CHARS, &failed);
  if (!failed)
    handlers_store_call(
        req, CONV_RENAME,
        json_pack("{s:s, s:s, s:s}", "id", id, "user_id", req->user_id, "name", name), changed);
  json_decref(body);
}

static void add_members(http_req_t *req) {
  const char *id = conv_id(req);
  if (!id) return;
  json_t *body = http_req_json(req);
  if (!body) return;
  json_t *ids = user_ids_field(req, body, "user_ids", 1, NULL);
  json_decref(body);
  if (!ids) return;
  handlers_store_call(
      req, CONV_ADD_MEMBERS,
      json_pack("{s:s, s:s, s:o}", "id", id, "user_id", req->user_id, "user_ids", ids), changed);
}

/* ---- DELETE /api/conversations/:id/members/:user_id ---- */

static void removed(void *ctx, int status, json_t *result) {
  http_req_t *req = ctx;
  if (status != STORE_OK) {
    handlers_reply_store_error(req, status);
  } else {
    http_reply_empty(req, 204);
    fanout_conversation(req->app, json_object_get(result, "conversation"),
                        json_string_value(json_object_get(result, "removed_id")));
  }
  json_decref(result);
  http_req_unref(req);
}

static void remove_member(http_req_t *req) {
  const char *id = conv_id(req);
  if (!id) return;
  const char *member = http_req_param(req, "user_id");
  if (!member || !*member || strlen(member) > ID_MAX_CHARS) {
    http_reply_error(req, 404, "not_found", "no such member", NULL);
    return;
  }
  handlers_store_call(
      req, CONV_REMOVE_MEMBER,
      json_pack("{s:s, s:s, s:s}", "id", id, "user_id", req->user_id, "member_id", member),
      removed);
}

/* ---- read markers: POST .../read and the WebSocket read frame ---- */

typedef struct read_job_s {
  app_t *app;
  char conv[ID_MAX_CHARS + 1];
  char user[64];
  json_int_t seq;
  long long before; /* the marker before the move */
  json_t *participants;
  conversations_read_cb cb;
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
  json_int_t now = json_integer_value(json_object_get(result, "last_read_seq"));
  if (status == STORE_OK && now > j->before) {
    json_t *frame = json_pack("{s:s, s:s, s:s, s:I}", "type", "read", "conversation_id", j->conv,
                              "user_id", j->user, "seq", now);
    if (frame) fanout_event(j->app, frame, j->participants, j->user);
    json_decref(frame);
  }
  json_decref(result);
  read_done(j, status);
}

static void on_read_conv(void *ctx, int status, json_t *result) {
  read_job_t *j = ctx;
  if (status != STORE_OK || !j->app->store) goto fail;
  j->before = conversations_read_seq(result, j->user);
  j->participants = conversations_participant_ids(result);
  json_decref(result);
  json_t *params = json_pack("{s:s, s:s, s:I}", "id", j->conv, "user_id", j->user, "seq", j->seq);
  status = store_call(j->app->store, CONV_MARK_READ, params, on_marked, j);
  if (status != 0) read_done(j, status);
  return;
fail:
  json_decref(result);
  read_done(j, status != STORE_OK ? status : STORE_EUNAVAILABLE);
}

int conversations_mark_read(app_t *app, const char *conv, const char *user_id, long long seq,
                            conversations_read_cb cb, void *ctx) {
  if (strlen(conv) > ID_MAX_CHARS) return STORE_ENOTFOUND;
  read_job_t *j = calloc(1, sizeof(*j));
  if (!j) return STORE_EUNAVAILABLE;
  j->app = app;
  snprintf(j->conv, sizeof(j->conv), "%s", conv);
  snprintf(j->user, sizeof(j->user), "%s", user_id);
  j->seq = (json_int_t)seq;
  j->cb = cb;
  j->ctx = ctx;
  int rc = store_call(app->store, CONV_GET, json_pack("{s:s, s:s}", "id", conv, "user_id", user_id),
                      on_read_conv, j);
  if (rc != 0) free(j);
  return rc;
}

static void read_replied(void *ctx, int status) {
  http_req_t *req = ctx;
  if (status != STORE_OK)
    handlers_reply_store_error(req, status);
  else
    http_reply_empty(req, 204);
  http_req_unref(req);
}

static void mark_read(http_req_t *req) {
  const char *id = conv_id(req);
  if (!id) return;
  json_t *body = http_req_json(req);
  if (!body) return;
  json_t *seq = json_object_get(body, "seq");
  if (!json_is_integer(seq) || json_integer_value(seq) < 0) {
    reply_invalid(req, "seq", "seq must be a non-negative integer");
    json_decref(body);
    return;
  }
  long long s = (long long)json_integer_value(seq);
  json_decref(body);
  http_req_ref(req);
  int rc = conversations_mark_read(req->app, id, req->user_id, s, read_replied, req);
  if (rc != 0) {
    handlers_reply_store_error(req, rc);
    http_req_unref(req);
  }
}

static const route_t routes[] = {
    {"POST", "/api/conversations", 1, create},
    {"GET", "/api/conversations", 1, list},
    {"GET", "/api/messages/instagram", 1, list},
    {"GET", "/api/conversations/:id", 1, get},
    {"PATCH", "/api/conversations/:id", 1, rename_conv},
    {"POST", "/api/conversations/:id/members", 1, add_members},
    {"DELETE", "/api/conversations/:id/members/:user_id", 1, remove_member},
    {"POST", "/api/conversations/:id/read", 1, mark_read},
};

const route_table_t conversations_routes = ROUTE_TABLE(routes);
