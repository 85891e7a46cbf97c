/* Channels: their members in "channel_members" ({_id: "<conversation>:<user>",
 * conversation_id, user_id, role, last_read_seq}), never in the conversation's
 * document, which keeps member_count (moved with each join and leave), public
 * and invite_token. Joining by token or public id, invite tokens, roles, the
 * public directory and a user's channel ids. Worker thread. */
#include <string.h>

#include "parley/util.h"
#include "store/mongo/mongo_internal.h"

static void member_key(char *out, size_t n, const char *cid, const char *user) {
  snprintf(out, n, "%s:%s", cid, user);
}

int mongo_channel_is(const bson_t *doc) {
  const char *type = mongo_bson_str(doc, "type");
  return type && !strcmp(type, "channel");
}

/* The member's document, 1 found (out initialised), 0 not, or a status. */
static int member_doc(mongo_ctx_t *c, const char *cid, const char *user, bson_t *out) {
  char key[160];
  member_key(key, sizeof(key), cid, user);
  bson_t *filter = BCON_NEW("_id", BCON_UTF8(key));
  int rc = mongo_query_one(c, MC_CHANNEL_MEMBERS, filter, NULL, out);
  bson_destroy(filter);
  return rc;
}

int mongo_channel_role(mongo_ctx_t *c, const char *cid, const char *user, const char **role) {
  bson_t doc;
  int rc = member_doc(c, cid, user, &doc);
  if (rc != 1) return rc;
  const char *r = mongo_bson_str(&doc, "role");
  *role = r && !strcmp(r, "admin") ? "admin" : "member";
  bson_destroy(&doc);
  return 1;
}

json_t *mongo_channel_me(mongo_ctx_t *c, const char *cid, const char *user) {
  bson_t doc;
  int rc = member_doc(c, cid, user, &doc);
  if (rc < 0) return NULL;
  if (rc == 0) return json_null();
  /* muted_until only while in the future (ISO strings compare in time order). */
  char now[32];
  util_iso8601(util_now_ms(), now);
  const char *muted = mongo_bson_str(&doc, "muted_until");
  json_t *me =
      json_pack("{s:s, s:o, s:I, s:I, s:o}", "id", user, "role", mongo_bson_json(&doc, "role"),
                "last_read_seq", (json_int_t)mongo_bson_int(&doc, "last_read_seq", 0),
                "mention_count", (json_int_t)mongo_bson_int(&doc, "mention_count", 0),
                "muted_until", muted && strcmp(muted, now) > 0 ? json_string(muted) : json_null());
  bson_destroy(&doc);
  return me;
}

int mongo_channel_mute(mongo_ctx_t *c, const char *cid, const char *user, json_t *until) {
  char key[160];
  member_key(key, sizeof(key), cid, user);
  bson_t *q = BCON_NEW("_id", BCON_UTF8(key)), *u = bson_new(), set;
  bson_append_document_begin(u, "$set", -1, &set);
  mongo_bson_append_json(&set, "muted_until", until);
  bson_append_document_end(u, &set);
  int rc = mongo_query_update(c, MC_CHANNEL_MEMBERS, q, u, 0);
  bson_destroy(q);
  bson_destroy(u);
  return rc;
}

int mongo_channel_mark(mongo_ctx_t *c, const char *cid, const char *user, int64_t seq,
                       int64_t *now) {
  char key[160];
  member_key(key, sizeof(key), cid, user);
  bson_t *q = BCON_NEW("_id", BCON_UTF8(key));
  bson_t *update = BCON_NEW("$max", "{", "last_read_seq", BCON_INT64(seq), "}");
  bson_t doc;
  int rc = mongo_query_modify(c, MC_CHANNEL_MEMBERS, q, update, 0, 1, now ? &doc : NULL);
  bson_destroy(q);
  bson_destroy(update);
  if (rc == 1 && now) {
    *now = mongo_bson_int(&doc, "last_read_seq", seq);
    bson_destroy(&doc);
  }
  return rc;
}

static json_t *skip(mongo_ctx_t *c, const bson_t *doc) { return NULL; }

/* The number of documents filter matches, counted up to max; or a status. */
static int count_upto(mongo_ctx_t *c, bson_t *filter, int64_t max) {
  bson_t *opts = BCON_NEW("projection", "{", "_id", BCON_INT32(1), "}", "limit", BCON_INT64(max));
  json_t *none = json_array();
  int rc = mongo_query_map(c, MC_CHANNEL_MEMBERS, filter, opts, skip, none);
  json_decref(none);
  bson_destroy(opts);
  return rc;
}

static int room(mongo_ctx_t *c, const char *cid, const char *user) {
  bson_t *filter = BCON_NEW("user_id", BCON_UTF8(user));
  int n = count_upto(c, filter, CHANNELS_PER_USER_MAX);
  bson_destroy(filter);
  if (n < 0) return n;
  if (n >= CHANNELS_PER_USER_MAX) return STORE_ECONFLICT;
  if (!cid) return STORE_OK;
  bson_t doc;
  bson_t *q = BCON_NEW("_id", BCON_UTF8(cid));
  int rc = mongo_query_one(c, MC_CONVS, q, NULL, &doc);
  bson_destroy(q);
  if (rc <= 0) return rc == 0 ? STORE_ENOTFOUND : rc;
  int full = mongo_bson_int(&doc, "member_count", 0) >= CHANNEL_MEMBERS_MAX;
  bson_destroy(&doc);
  return full ? STORE_ECONFLICT : STORE_OK;
}

static int bump(mongo_ctx_t *c, const char *cid, int by) {
  bson_t *q = BCON_NEW("_id", BCON_UTF8(cid));
  bson_t *u = BCON_NEW("$inc", "{", "member_count", BCON_INT32(by), "}");
  int rc = mongo_query_update(c, MC_CONVS, q, u, 0);
  bson_destroy(q);
  bson_destroy(u);
  return rc < 0 ? rc : STORE_OK;
}

int mongo_channel_add(mongo_ctx_t *c, const char *cid, const char *user, const char *role,
                      int *added, int new_channel) {
  if (added) *added = 0;
  const char *was;
  int rc = new_channel ? 0 : mongo_channel_role(c, cid, user, &was);
  if (rc != 0) return rc < 0 ? rc : STORE_OK;
  if ((rc = room(c, new_channel ? NULL : cid, user)) != STORE_OK) return rc;
  char key[160];
  member_key(key, sizeof(key), cid, user);
  bson_t *doc = BCON_NEW("_id", BCON_UTF8(key), "conversation_id", BCON_UTF8(cid), "user_id",
                         BCON_UTF8(user), "role", BCON_UTF8(role), "last_read_seq", BCON_INT64(0));
  rc = mongo_query_insert(c, MC_CHANNEL_MEMBERS, doc);
  bson_destroy(doc);
  if (rc == STORE_ECONFLICT) return STORE_OK; /* a concurrent join of the same user won */
  if (rc < 0) return rc;
  if (!new_channel && (rc = bump(c, cid, 1)) != STORE_OK) return rc;
  if (added) *added = 1;
  return STORE_OK;
}

int mongo_channel_mark_bot(mongo_ctx_t *c, const char *cid, const char *user) {
  bson_t *f = BCON_NEW("_id", BCON_UTF8(user), "kind", BCON_UTF8("bot"));
  int rc = mongo_query_one(c, MC_USERS, f, NULL, NULL);
  bson_destroy(f);
  if (rc <= 0) return rc < 0 ? rc : STORE_OK;
  char key[160];
  member_key(key, sizeof(key), cid, user);
  bson_t *q = BCON_NEW("_id", BCON_UTF8(key));
  bson_t *u = BCON_NEW("$set", "{", "bot", BCON_BOOL(true), "}");
  rc = mongo_query_update(c, MC_CHANNEL_MEMBERS, q, u, 0);
  bson_destroy(q);
  bson_destroy(u);
  return rc < 0 ? rc : STORE_OK;
}

/* Admins of cid counted up to 2, or a status. */
static int admins(mongo_ctx_t *c, const char *cid) {
  bson_t *filter = BCON_NEW("conversation_id", BCON_UTF8(cid), "role", BCON_UTF8("admin"));
  int n = count_upto(c, filter, 2);
  bson_destroy(filter);
  return n;
}

int mongo_channel_remove(mongo_ctx_t *c, const bson_t *conv, const char *user, int is_admin) {
  const char *cid = mongo_bson_str(conv, "_id");
  if (is_admin) {
    int n = admins(c, cid);
    if (n < 0) return n;
    if (n < 2 && mongo_bson_int(conv, "member_count", 0) > 1) return STORE_ECONFLICT;
  }
  char key[160];
  member_key(key, sizeof(key), cid, user);
  bson_t *filter = BCON_NEW("_id", BCON_UTF8(key));
  int rc = mongo_query_delete(c, MC_CHANNEL_MEMBERS, filter, 0);
  bson_destroy(filter);
  if (rc < 0) return rc;
  return rc > 0 ? bump(c, cid, -1) : STORE_OK;
}

/* Loads the channel cid and renders it for user (with "me"). */
static int render_id(mongo_ctx_t *c, const char *cid, const char *user, json_t **out) {
  bson_t doc;
  int rc = mongo_conv_load(c, cid, NULL, &doc);
  if (rc != STORE_OK) return rc;
  rc = mongo_conv_render_for(c, &doc, user, out);
  bson_destroy(&doc);
  return rc;
}

int mongo_channel_join(mongo_ctx_t *c, json_t *p, json_t **r) {
  const char *user = mongo_param_str(p, "user_id"), *token = mongo_param_str(p, "token");
  const char *id = mongo_param_str(p, "id");
  if (!user || (!token && !id)) return STORE_EINVAL;
  bson_t *q = token ? BCON_NEW("invite_token", BCON_UTF8(token), "type", BCON_UTF8("channel"))
                    : BCON_NEW("_id", BCON_UTF8(id), "type", BCON_UTF8("channel"));
  bson_t doc;
  int rc = mongo_query_one(c, MC_CONVS, q, NULL, &doc);
  bson_destroy(q);
  if (rc <= 0) return rc == 0 ? STORE_ENOTFOUND : rc;
  char cid[64];
  snprintf(cid, sizeof(cid), "%s", mongo_bson_str(&doc, "_id"));
  int public = mongo_bson_bool(&doc, "public"), added = 0;
  bson_destroy(&doc);
  const char *role;
  if (!token && !public) {
    /* A private channel is found by id only by its members. */
    rc = mongo_channel_role(c, cid, user, &role);
    if (rc <= 0) return rc == 0 ? STORE_ENOTFOUND : rc;
  }
  if ((rc = mongo_channel_add(c, cid, user, "member", &added, 0)) != STORE_OK) return rc;
  json_t *conv;
  if ((rc = render_id(c, cid, user, &conv)) != STORE_OK) return rc;
  *r = json_pack("{s:o, s:b}", "conversation", conv, "joined", added);
  return STORE_OK;
}

/* STORE_OK when user is an admin of the channel id; EINVAL when it is not a
 * channel, EFORBIDDEN for a member, ENOTFOUND for anyone else. */
static int channel_admin(mongo_ctx_t *c, const char *id, const char *user) {
  if (!id || !user) return STORE_EINVAL;
  bson_t doc;
  int rc = mongo_conv_load(c, id, user, &doc);
  if (rc != STORE_OK) return rc;
  int channel = mongo_channel_is(&doc);
  bson_destroy(&doc);
  if (!channel) return STORE_EINVAL;
  const char *role = NULL;
  rc = mongo_channel_role(c, id, user, &role);
  if (rc <= 0) return rc == 0 ? STORE_ENOTFOUND : rc;
  return !strcmp(role, "admin") ? STORE_OK : STORE_EFORBIDDEN;
}

int mongo_channel_invite(mongo_ctx_t *c, json_t *p, json_t **r) {
  const char *id = mongo_param_str(p, "id"), *user = mongo_param_str(p, "user_id");
  int rc = channel_admin(c, id, user);
  if (rc != STORE_OK) return rc;
  bson_t *q = BCON_NEW("_id", BCON_UTF8(id)), *u;
  if (json_is_true(json_object_get(p, "revoke"))) {
    u = BCON_NEW("$unset", "{", "invite_token", BCON_UTF8(""), "}");
  } else {
    unsigned char raw[16];
    char token[33];
    util_random(raw, sizeof(raw));
    for (size_t i = 0; i < sizeof(raw); i++) snprintf(token + 2 * i, 3, "%02x", raw[i]);
    u = BCON_NEW("$set", "{", "invite_token", BCON_UTF8(token), "}");
  }
  rc = mongo_query_update(c, MC_CONVS, q, u, 0);
  bson_destroy(q);
  bson_destroy(u);
  if (rc < 0) return rc;
  return render_id(c, id, user, r);
}

int mongo_channel_set_role(mongo_ctx_t *c, json_t *p, json_t **r) {
  const char *id = mongo_param_str(p, "id"), *user = mongo_param_str(p, "user_id");
  const char *member = mongo_param_str(p, "member_id"), *role = mongo_param_str(p, "role");
  if (!member || !role || (strcmp(role, "admin") && strcmp(role, "member"))) return STORE_EINVAL;
  int rc = channel_admin(c, id, user);
  if (rc != STORE_OK) return rc;
  const char *was = NULL;
  rc = mongo_channel_role(c, id, member, &was);
  if (rc <= 0) return rc == 0 ? STORE_ENOTFOUND : rc;
  if (!strcmp(was, "admin") && !strcmp(role, "member")) {
    int n = admins(c, id);
    if (n < 0) return n;
    if (n < 2) return STORE_ECONFLICT; /* the last admin stays one */
  }
  char key[160];
  member_key(key, sizeof(key), id, member);
  bson_t *q = BCON_NEW("_id", BCON_UTF8(key));
  bson_t *u = BCON_NEW("$set", "{", "role", BCON_UTF8(role), "}");
  rc = mongo_query_update(c, MC_CHANNEL_MEMBERS, q, u, 0);
  bson_destroy(q);
  bson_destroy(u);
  if (rc < 0) return rc;
  bson_t udoc;
  q = BCON_NEW("_id", BCON_UTF8(member));
  rc = mongo_query_one(c, MC_USERS, q, NULL, &udoc);
  bson_destroy(q);
  if (rc < 0) return rc;
  json_t *name = rc == 1 ? mongo_bson_json(&udoc, "name") : json_null();
  if (rc == 1) bson_destroy(&udoc);
  *r = json_pack("{s:{s:s, s:o, s:s}}", "member", "id", member, "name", name, "role", role);
  return STORE_OK;
}

typedef struct {
  mongo_ctx_t *c;
  const char *user;
  json_t *out;
  int rc;
} render_ctx_t;

static void render_one(void *arg, const bson_t *doc) {
  render_ctx_t *rc = arg;
  json_t *cv;
  if (rc->rc < 0) return;
  int st = mongo_conv_render_for(rc->c, doc, rc->user, &cv);
  if (st < 0)
    rc->rc = st;
  else
    json_array_append_new(rc->out, cv);
}

int mongo_channel_list_public(mongo_ctx_t *c, json_t *p, json_t **r) {
  const char *user = mongo_param_str(p, "user_id"), *cursor = mongo_param_str(p, "cursor");
  int64_t limit = 50;
  mongo_param_int(p, "limit", &limit);
  if (!user || limit < 1 || limit > 1000) return STORE_EINVAL;
  bson_t *filter = BCON_NEW("type", BCON_UTF8("channel"), "public", BCON_BOOL(true));
  if (cursor) {
    bson_t lt;
    bson_append_document_begin(filter, "_id", -1, &lt);
    BSON_APPEND_UTF8(&lt, "$lt", cursor);
    bson_append_document_end(filter, &lt);
  }
  bson_t *opts = BCON_NEW("sort", "{", "_id", BCON_INT32(-1), "}", "limit", BCON_INT64(limit + 1));
  render_ctx_t rx = {c, user, json_array(), 0};
  int rc = mongo_query_each(c, MC_CONVS, filter, opts, render_one, &rx);
  bson_destroy(filter);
  bson_destroy(opts);
  if (rc >= 0) rc = rx.rc;
  if (rc < 0) {
    json_decref(rx.out);
    return rc;
  }
  json_t *next = json_null();
  if (json_array_size(rx.out) > (size_t)limit) {
    json_array_remove(rx.out, (size_t)limit);
    next = json_incref(json_object_get(json_array_get(rx.out, (size_t)limit - 1), "id"));
  }
  *r = json_pack("{s:o, s:o}", "channels", rx.out, "next_cursor", next);
  return STORE_OK;
}

static json_t *conv_of(mongo_ctx_t *c, const bson_t *doc) {
  return mongo_bson_json(doc, "conversation_id");
}

json_t *mongo_channel_ids(mongo_ctx_t *c, const char *user) {
  bson_t *filter = BCON_NEW("user_id", BCON_UTF8(user));
  bson_t *opts = BCON_NEW("limit", BCON_INT64(CHANNELS_PER_USER_MAX));
  json_t *ids = json_array();
  int rc = mongo_query_map(c, MC_CHANNEL_MEMBERS, filter, opts, conv_of, ids);
  bson_destroy(filter);
  bson_destroy(opts);
  if (rc < 0) {
    json_decref(ids);
    return NULL;
  }
  return ids;
}

int mongo_channel_ids_of_user(mongo_ctx_t *c, json_t *p, json_t **r) {
  const char *user = mongo_param_str(p, "user_id");
  if (!user) return STORE_EINVAL;
  json_t *ids = mongo_channel_ids(c, user);
  if (!ids) return STORE_EUNAVAILABLE;
  *r = json_pack("{s:o}", "ids", ids);
  return STORE_OK;
}

typedef struct ids_of_s {
  json_t *out; /* user id -> [channel id] */
} ids_of_t;

static void add_id_of(void *arg, const bson_t *doc) {
  ids_of_t *x = arg;
  json_t *ids = json_object_get(x->out, mongo_bson_str(doc, "user_id"));
  const char *conv = mongo_bson_str(doc, "conversation_id");
  if (ids && conv && json_array_size(ids) < CHANNELS_PER_USER_MAX)
    json_array_append_new(ids, json_string(conv));
}

/* One query for all of them, on user_id_1. */
int mongo_channel_ids_of_users(mongo_ctx_t *c, json_t *p, json_t **r) {
  json_t *users = json_object_get(p, "user_ids");
  size_t n = json_array_size(users), i;
  if (n == 0 || n > CHANNEL_IDS_BATCH_MAX) return STORE_EINVAL;
  json_t *v;
  json_array_foreach(users, i, v) if (!json_is_string(v)) return STORE_EINVAL;
  ids_of_t x = {json_object()};
  bson_t filter = BSON_INITIALIZER, in, arr;
  bson_append_document_begin(&filter, "user_id", -1, &in);
  bson_append_array_begin(&in, "$in", -1, &arr);
  json_array_foreach(users, i, v) {
    char key[24];
    snprintf(key, sizeof(key), "%zu", i);
    BSON_APPEND_UTF8(&arr, key, json_string_value(v));
    if (!json_object_get(x.out, json_string_value(v)))
      json_object_set_new(x.out, json_string_value(v), json_array());
  }
  bson_append_array_end(&in, &arr);
  bson_append_document_end(&filter, &in);
  bson_t *opts =
      BCON_NEW("projection", "{", "user_id", BCON_INT32(1), "conversation_id", BCON_INT32(1), "}",
               "limit", BCON_INT64((int64_t)n * CHANNELS_PER_USER_MAX));
  int rc = mongo_query_each(c, MC_CHANNEL_MEMBERS, &filter, opts, add_id_of, &x);
  bson_destroy(&filter);
  bson_destroy(opts);
  if (rc < 0) {
    json_decref(x.out);
    return rc;
  }
  *r = json_pack("{s:o}", "ids", x.out);
  return STORE_OK;
}

static json_t *member_json(mongo_ctx_t *c, const bson_t *doc) {
  return json_pack("{s:o, s:n, s:o}", "id", mongo_bson_json(doc, "user_id"), "name", "role",
                   mongo_bson_json(doc, "role"));
}

int mongo_channel_members_page(mongo_ctx_t *c, const char *cid, const char *cursor, int64_t limit,
                               json_t *out) {
  bson_t *filter = BCON_NEW("conversation_id", BCON_UTF8(cid));
  if (cursor) {
    bson_t gt;
    bson_append_document_begin(filter, "user_id", -1, &gt);
    BSON_APPEND_UTF8(&gt, "$gt", cursor);
    bson_append_document_end(filter, &gt);
  }
  bson_t *opts =
      BCON_NEW("sort", "{", "user_id", BCON_INT32(1), "}", "limit", BCON_INT64(limit + 1));
  int rc = mongo_query_map(c, MC_CHANNEL_MEMBERS, filter, opts, member_json, out);
  bson_destroy(filter);
  bson_destroy(opts);
  return rc < 0 ? rc : 0;
}
