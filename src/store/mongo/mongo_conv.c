/* Conversations in "conversations": participants (id, role, last_read_seq) are
 * an array in the document with last_seq and a copy of the last message, so a
 * list is one query. Creation, reads, the read marker and membership: each
 * membership change is one conditional update on the participants array, so
 * concurrent changes never duplicate a member. Worker thread. */
#include <string.h>

#include "parley/util.h"
#include "store/mongo/mongo_internal.h"

const char *mongo_conv_role(const bson_t *doc, const char *user_id) {
  bson_iter_t it, arr;
  if (!bson_iter_init_find(&it, doc, "participants") || !bson_iter_recurse(&it, &arr)) return NULL;
  while (bson_iter_next(&arr)) {
    bson_iter_t f;
    const char *id = NULL, *role = "member";
    if (!bson_iter_recurse(&arr, &f)) continue;
    while (bson_iter_next(&f)) {
      if (!strcmp(bson_iter_key(&f), "id") && BSON_ITER_HOLDS_UTF8(&f))
        id = bson_iter_utf8(&f, NULL);
      if (!strcmp(bson_iter_key(&f), "role") && BSON_ITER_HOLDS_UTF8(&f))
        role = bson_iter_utf8(&f, NULL);
    }
    if (id && !strcmp(id, user_id)) return role;
  }
  return NULL;
}

json_t *mongo_conv_participant_ids(const bson_t *doc) {
  json_t *ids = json_array(), *parts = mongo_bson_json(doc, "participants");
  size_t i;
  json_t *pt;
  json_array_foreach(parts, i, pt) json_array_append(ids, json_object_get(pt, "id"));
  json_decref(parts);
  return ids;
}

/* {user id: name} for every participant of the given conversations. */
static int names_of(mongo_ctx_t *c, json_t *convs, json_t *names) {
  bson_t filter = BSON_INITIALIZER, in, arr;
  bson_append_document_begin(&filter, "_id", -1, &in);
  bson_append_array_begin(&in, "$in", -1, &arr);
  size_t i, j, n = 0;
  json_t *cv, *pt;
  json_array_foreach(convs, i, cv) json_array_foreach(json_object_get(cv, "participants"), j, pt) {
    char key[24];
    snprintf(key, sizeof(key), "%zu", n++);
    mongo_bson_append_json(&arr, key, json_object_get(pt, "id"));
  }
  bson_append_array_end(&in, &arr);
  bson_append_document_end(&filter, &in);
  bson_t *opts = BCON_NEW("projection", "{", "name", BCON_INT32(1), "}");
  json_t *users = json_array();
  int rc = n ? mongo_query_map(c, MC_USERS, &filter, opts, mongo_user_json, users) : 0;
  json_array_foreach(users, i, pt) json_object_set(
      names, json_string_value(json_object_get(pt, "id")), json_object_get(pt, "name"));
  json_decref(users);
  bson_destroy(opts);
  bson_destroy(&filter);
  return rc < 0 ? rc : 0;
}

static json_t *raw_conv(mongo_ctx_t *c, const bson_t *doc) {
  json_t *cv = json_object();
  json_object_set_new(cv, "id", mongo_bson_json(doc, "_id"));
  json_object_set_new(cv, "type", mongo_bson_json(doc, "type"));
  json_object_set_new(cv, "name", mongo_bson_json(doc, "name"));
  json_object_set_new(cv, "participants", mongo_bson_json(doc, "participants"));
  json_object_set_new(cv, "last_seq", json_integer(mongo_bson_int(doc, "last_seq", 0)));
  bson_iter_t it;
  json_t *last = json_null();
  if (bson_iter_init_find(&it, doc, "last_message") && BSON_ITER_HOLDS_DOCUMENT(&it)) {
    uint32_t len;
    const uint8_t *data;
    bson_t m;
    bson_iter_document(&it, &len, &data);
    if (bson_init_static(&m, data, len)) last = mongo_msg_json(c, &m);
  }
  json_object_set_new(cv, "last_message", last);
  json_object_set_new(cv, "created_at", mongo_bson_iso(doc, "created_at"));
  json_object_set_new(cv, "updated_at", mongo_bson_iso(doc, "updated_at"));
  /* Only for the list's cursor; finish() removes it. */
  json_object_set_new(cv, "_activity", json_integer(mongo_bson_int(doc, "activity", 0)));
  if (mongo_bson_str(doc, "contact_id"))
    json_object_set_new(cv, "contact_id", mongo_bson_json(doc, "contact_id"));
  return cv;
}

/* Fills in participant names and the contract's participant shape. */
static int finish(mongo_ctx_t *c, json_t *convs) {
  json_t *names = json_object(), *cv, *pt;
  int rc = names_of(c, convs, names);
  size_t i, j;
  json_array_foreach(convs, i, cv) {
    json_t *parts = json_array();
    json_array_foreach(json_object_get(cv, "participants"), j, pt) {
      const char *id = json_string_value(json_object_get(pt, "id"));
      json_t *name = id ? json_object_get(names, id) : NULL;
      json_t *role = json_object_get(pt, "role"), *read = json_object_get(pt, "last_read_seq");
      json_array_append_new(
          parts, json_pack("{s:O, s:O, s:O, s:I}", "id", json_object_get(pt, "id"), "name",
                           name ? name : json_null(), "role", role ? role : json_null(),
                           "last_read_seq", (json_int_t)json_integer_value(read)));
    }
    json_object_set_new(cv, "participants", parts);
    json_object_del(cv, "_activity");
  }
  json_decref(names);
  return rc;
}

int mongo_conv_render(mongo_ctx_t *c, const bson_t *doc, json_t **out) {
  json_t *one = json_array();
  json_array_append_new(one, raw_conv(c, doc));
  int rc = finish(c, one);
  if (rc == 0) *out = json_incref(json_array_get(one, 0));
  json_decref(one);
  return rc;
}

/* Loads a conversation, visible to user_id when given. */
int mongo_conv_load(mongo_ctx_t *c, const char *id, const char *user_id, bson_t *doc) {
  bson_t *filter = user_id ? BCON_NEW("_id", BCON_UTF8(id), "participants.id", BCON_UTF8(user_id))
                           : BCON_NEW("_id", BCON_UTF8(id));
  int rc = mongo_query_one(c, MC_CONVS, filter, NULL, doc);
  bson_destroy(filter);
  return rc == 1 ? STORE_OK : rc == 0 ? STORE_ENOTFOUND : rc;
}

int mongo_conv_get(mongo_ctx_t *c, json_t *p, json_t **r) {
  const char *id = mongo_param_str(p, "id"), *user = mongo_param_str(p, "user_id");
  if (!id) return STORE_EINVAL;
  bson_t doc;
  int rc = mongo_conv_load(c, id, user, &doc);
  if (rc != STORE_OK) return rc;
  rc = mongo_conv_render(c, &doc, r);
  bson_destroy(&doc);
  return rc;
}

/* The opaque cursor: "<activity>.<id>" of the last conversation returned.
 * activity is the order clock's value at the last change (mongo_ctx_order), so
 * conversations touched in the same millisecond still have one order. */
static int cursor_parse(const char *s, int64_t *ms, const char **id) {
  char *end;
  long long v = strtoll(s, &end, 10);
  if (end == s || *end != '.' || strlen(end + 1) != 24) return -1;
  *ms = v;
  *id = end + 1;
  return 0;
}

static bson_t *list_filter(const char *user, const char *type, const char *cursor) {
  bson_t *f = BCON_NEW("participants.id", BCON_UTF8(user));
  if (type) BSON_APPEND_UTF8(f, "type", type);
  int64_t ms;
  const char *id;
  if (cursor && cursor_parse(cursor, &ms, &id) == 0) {
    bson_t *after =
        BCON_NEW("$or", "[", "{", "activity", "{", "$lt", BCON_INT64(ms), "}", "}", "{", "activity",
                 BCON_INT64(ms), "_id", "{", "$lt", BCON_UTF8(id), "}", "}", "]");
    bson_concat(f, after);
    bson_destroy(after);
  }
  return f;
}

int mongo_conv_list(mongo_ctx_t *c, json_t *p, json_t **r) {
  const char *user = mongo_param_str(p, "user_id"), *type = mongo_param_str(p, "type");
  const char *cursor = mongo_param_str(p, "cursor");
  int64_t limit = 50, ms;
  const char *cid;
  mongo_param_int(p, "limit", &limit);
  if (!user || limit < 1 || (cursor && cursor_parse(cursor, &ms, &cid) < 0)) return STORE_EINVAL;
  bson_t *filter = list_filter(user, type, cursor);
  bson_t *opts = BCON_NEW("sort", "{", "activity", BCON_INT32(-1), "_id", BCON_INT32(-1), "}",
                          "limit", BCON_INT64(limit + 1));
  json_t *convs = json_array();
  int rc = mongo_query_map(c, MC_CONVS, filter, opts, raw_conv, convs);
  bson_destroy(filter);
  bson_destroy(opts);
  json_t *next = json_null();
  if (rc >= 0 && json_array_size(convs) > (size_t)limit) {
    json_array_remove(convs, (size_t)limit);
    json_t *last = json_array_get(convs, (size_t)limit - 1);
    char buf[64];
    snprintf(buf, sizeof(buf), "%lld.%s",
             (long long)json_integer_value(json_object_get(last, "_activity")),
             json_string_value(json_object_get(last, "id")));
    next = json_string(buf);
  }
  if (rc >= 0) rc = finish(c, convs);
  if (rc < 0) {
    json_decref(convs);
    json_decref(next);
    return rc;
  }
  *r = json_pack("{s:o, s:o}", "conversations", convs, "next_cursor", next);
  return STORE_OK;
}

int mongo_conv_mark_read(mongo_ctx_t *c, json_t *p, json_t **r) {
  const char *id = mongo_param_str(p, "id"), *user = mongo_param_str(p, "user_id");
  int64_t seq;
  if (!id || !user || mongo_param_int(p, "seq", &seq) < 0) return STORE_EINVAL;
  bson_t doc;
  int rc = mongo_conv_load(c, id, user, &doc);
  if (rc != STORE_OK) return rc;
  /* last_seq only grows, so clamping to the value just read is safe. */
  int64_t last = mongo_bson_int(&doc, "last_seq", 0);
  bson_destroy(&doc);
  if (seq > last) seq = last;
  if (seq < 0) seq = 0;
  /* $elemMatch names the element the positional $ updates. */
  bson_t *q = BCON_NEW("_id", BCON_UTF8(id), "participants", "{", "$elemMatch", "{", "id",
                       BCON_UTF8(user), "}", "}");
  bson_t *update = BCON_NEW("$max", "{", "participants.$.last_read_seq", BCON_INT64(seq), "}");
  rc = mongo_query_modify(c, MC_CONVS, q, update, 0, 1, &doc);
  bson_destroy(q);
  bson_destroy(update);
  if (rc <= 0) return rc == 0 ? STORE_ENOTFOUND : rc;
  json_t *parts = mongo_bson_json(&doc, "participants"), *pt;
  size_t i;
  json_array_foreach(parts, i, pt) {
    const char *pid = json_string_value(json_object_get(pt, "id"));
    if (pid && !strcmp(pid, user)) seq = json_integer_value(json_object_get(pt, "last_read_seq"));
  }
  json_decref(parts);
  bson_destroy(&doc);
  *r = json_pack("{s:I}", "last_read_seq", (json_int_t)seq);
  return STORE_OK;
}

static json_t *skip(mongo_ctx_t *c, const bson_t *doc) { return NULL; }

/* 1 when every id of the (distinct, string) ids is a user that is not deleted,
 * Instagram contacts ("ig:...") aside; 0 when one is not; a negative status on
 * failure. */
int mongo_conv_users_exist(mongo_ctx_t *c, json_t *ids) {
  bson_t filter = BSON_INITIALIZER, in, arr;
  bson_append_document_begin(&filter, "_id", -1, &in);
  bson_append_array_begin(&in, "$in", -1, &arr);
  size_t i;
  int n = 0;
  json_t *v;
  json_array_foreach(ids, i, v) {
    if (!strncmp(json_string_value(v), "ig:", 3)) continue;
    char key[24];
    snprintf(key, sizeof(key), "%d", n++);
    mongo_bson_append_json(&arr, key, v);
  }
  bson_append_array_end(&in, &arr);
  bson_append_document_end(&filter, &in);
  bson_append_document_begin(&filter, "deleted", -1, &in);
  BSON_APPEND_BOOL(&in, "$ne", true);
  bson_append_document_end(&filter, &in);
  json_t *none = json_array();
  int rc = n ? mongo_query_map(c, MC_USERS, &filter, NULL, skip, none) : 0;
  json_decref(none);
  bson_destroy(&filter);
  return rc < 0 ? rc : rc == n;
}

/* The distinct participant ids, creator first; NULL when one is not a string. */
static json_t *participant_ids(json_t *p, const char *creator) {
  json_t *ids = json_array(), *v;
  size_t i, j;
  json_array_append_new(ids, json_string(creator));
  json_array_foreach(json_object_get(p, "participant_ids"), i, v) {
    if (!json_is_string(v)) {
      json_decref(ids);
      return NULL;
    }
    int seen = 0;
    json_t *w;
    json_array_foreach(ids, j, w) seen |= json_equal(v, w);
    if (!seen) json_array_append(ids, v);
  }
  return ids;
}

/* Direct conversations are unique per pair, Instagram ones per (owner, contact):
 * a unique sparse index on pair_key makes that hold under concurrency. */
static int pair_key(const char *type, const char *creator, json_t *ids, const char *contact,
                    char *out, size_t n) {
  if (!strcmp(type, "direct")) {
    if (json_array_size(ids) != 2) return -1;
    const char *a = json_string_value(json_array_get(ids, 0)),
               *b = json_string_value(json_array_get(ids, 1));
    if (strcmp(a, b) > 0) {
      const char *t = a;
      a = b;
      b = t;
    }
    snprintf(out, n, "d:%s:%s", a, b);
  } else if (!strcmp(type, "instagram")) {
    if (!contact) return -1;
    snprintf(out, n, "i:%s:%s", creator, contact);
  } else if (strcmp(type, "group")) {
    return -1;
  } else {
    *out = 0;
  }
  return 0;
}

static bson_t *new_conv(const char *id, int64_t activity, json_t *p, const char *creator,
                        json_t *ids, const char *key) {
  const char *type = mongo_param_str(p, "type"), *contact = mongo_param_str(p, "contact_id");
  int64_t now = util_now_ms();
  bson_t *doc =
      BCON_NEW("_id", BCON_UTF8(id), "type", BCON_UTF8(type), "creator_id", BCON_UTF8(creator));
  json_t *name = json_object_get(p, "name");
  mongo_bson_append_json(doc, "name", json_is_string(name) ? name : NULL);
  bson_t arr, pt;
  size_t i;
  json_t *v;
  bson_append_array_begin(doc, "participants", -1, &arr);
  json_array_foreach(ids, i, v) {
    char k[24];
    snprintf(k, sizeof(k), "%zu", i);
    int admin = i == 0 && !strcmp(type, "group");
    bson_append_document_begin(&arr, k, -1, &pt);
    BSON_APPEND_UTF8(&pt, "id", json_string_value(v));
    BSON_APPEND_UTF8(&pt, "role", admin ? "admin" : "member");
    BSON_APPEND_INT64(&pt, "last_read_seq", 0);
    bson_append_document_end(&arr, &pt);
  }
  bson_append_array_end(doc, &arr);
  BSON_APPEND_INT64(doc, "last_seq", 0);
  BSON_APPEND_NULL(doc, "last_message");
  BSON_APPEND_DATE_TIME(doc, "created_at", now);
  BSON_APPEND_DATE_TIME(doc, "updated_at", now);
  BSON_APPEND_INT64(doc, "activity", activity);
  if (contact) BSON_APPEND_UTF8(doc, "contact_id", contact);
  if (*key) BSON_APPEND_UTF8(doc, "pair_key", key);
  return doc;
}

static int existing(mongo_ctx_t *c, const char *key, json_t **r) {
  bson_t *filter = BCON_NEW("pair_key", BCON_UTF8(key));
  bson_t doc;
  int rc = mongo_query_one(c, MC_CONVS, filter, NULL, &doc);
  bson_destroy(filter);
  if (rc <= 0) return rc;
  json_t *cv;
  rc = mongo_conv_render(c, &doc, &cv);
  bson_destroy(&doc);
  if (rc < 0) return rc;
  *r = json_pack("{s:o, s:b}", "conversation", cv, "created", 0);
  return 1;
}

int mongo_conv_create(mongo_ctx_t *c, json_t *p, json_t **r) {
  const char *type = mongo_param_str(p, "type"), *creator = mongo_param_str(p, "creator_id");
  if (!type || !creator || !json_is_array(json_object_get(p, "participant_ids")))
    return STORE_EINVAL;
  json_t *ids = participant_ids(p, creator);
  char key[160], id[25];
  int rc = STORE_EINVAL;
  if (!ids || pair_key(type, creator, ids, mongo_param_str(p, "contact_id"), key, sizeof(key)) < 0)
    goto done;
  if (*key && (rc = existing(c, key, r)) != 0) goto done; /* 1: it exists */
  if ((rc = mongo_conv_users_exist(c, ids)) <= 0) {
    rc = rc == 0 ? STORE_EINVAL : rc;
    goto done;
  }
  util_new_id(id);
  bson_t *doc = new_conv(id, mongo_ctx_order(c), p, creator, ids, key);
  rc = mongo_query_insert(c, MC_CONVS, doc);
  if (rc == STORE_ECONFLICT && *key) {
    /* A concurrent create of the same pair won: answer with its conversation. */
    rc = existing(c, key, r);
    if (rc == 0) rc = STORE_EUNAVAILABLE;
  } else if (rc == 1) {
    json_t *cv;
    rc = mongo_conv_render(c, doc, &cv);
    if (rc == 0) *r = json_pack("{s:o, s:b}", "conversation", cv, "created", 1);
  }
  bson_destroy(doc);
done:
  json_decref(ids);
  return rc == 1 ? STORE_OK : rc;
}

int mongo_conv_rename(mongo_ctx_t *c, json_t *p, json_t **r) {
  const char *id = mongo_param_str(p, "id"), *user = mongo_param_str(p, "user_id");
  const char *name = mongo_param_str(p, "name");
  if (!id || !user || !name) return STORE_EINVAL;
  bson_t doc;
  int rc = mongo_conv_load(c, id, user, &doc);
  if (rc != STORE_OK) return rc;
  const char *role = mongo_conv_role(&doc, user), *type = mongo_bson_str(&doc, "type");
  int allowed = type && !strcmp(type, "group") && role && !strcmp(role, "admin");
  bson_destroy(&doc);
  if (!allowed) return STORE_EFORBIDDEN;
  bson_t *q = BCON_NEW("_id", BCON_UTF8(id));
  bson_t *update = BCON_NEW("$set", "{", "name", BCON_UTF8(name), "}");
  rc = mongo_query_modify(c, MC_CONVS, q, update, 0, 1, &doc);
  bson_destroy(q);
  bson_destroy(update);
  if (rc <= 0) return rc == 0 ? STORE_ENOTFOUND : rc;
  rc = mongo_conv_render(c, &doc, r);
  bson_destroy(&doc);
  return rc;
}

static int is_admin(const bson_t *doc, const char *user) {
  const char *role = mongo_conv_role(doc, user), *type = mongo_bson_str(doc, "type");
  return role && !strcmp(role, "admin") && type && !strcmp(type, "group");
}

static int push_member(mongo_ctx_t *c, const char *id, const char *user) {
  bson_t *filter =
      BCON_NEW("_id", BCON_UTF8(id), "participants.id", "{", "$ne", BCON_UTF8(user), "}");
  bson_t *update = BCON_NEW("$push", "{", "participants", "{", "id", BCON_UTF8(user), "role",
                            BCON_UTF8("member"), "last_read_seq", BCON_INT64(0), "}", "}");
  int rc = mongo_query_update(c, MC_CONVS, filter, update, 0);
  bson_destroy(filter);
  bson_destroy(update);
  return rc < 0 ? rc : 0;
}

static int reload(mongo_ctx_t *c, const char *id, json_t **out) {
  bson_t doc;
  int rc = mongo_conv_load(c, id, NULL, &doc);
  if (rc != STORE_OK) return rc;
  rc = mongo_conv_render(c, &doc, out);
  bson_destroy(&doc);
  return rc;
}

int mongo_conv_add_members(mongo_ctx_t *c, json_t *p, json_t **r) {
  const char *id = mongo_param_str(p, "id"), *user = mongo_param_str(p, "user_id");
  json_t *ids = json_object_get(p, "user_ids"), *v;
  size_t i;
  if (!id || !user || !json_is_array(ids)) return STORE_EINVAL;
  json_array_foreach(ids, i, v) if (!json_is_string(v)) return STORE_EINVAL;
  bson_t doc;
  int rc = mongo_conv_load(c, id, user, &doc);
  if (rc != STORE_OK) return rc;
  int admin = is_admin(&doc, user);
  bson_destroy(&doc);
  if (!admin) return STORE_EFORBIDDEN;
  if ((rc = mongo_conv_users_exist(c, ids)) <= 0) return rc == 0 ? STORE_EINVAL : rc;
  json_array_foreach(ids, i, v) if ((rc = push_member(c, id, json_string_value(v))) < 0) return rc;
  return reload(c, id, r);
}

int mongo_conv_remove_member(mongo_ctx_t *c, json_t *p, json_t **r) {
  const char *id = mongo_param_str(p, "id"), *user = mongo_param_str(p, "user_id");
  const char *member = mongo_param_str(p, "member_id");
  if (!id || !user || !member) return STORE_EINVAL;
  bson_t doc;
  int rc = mongo_conv_load(c, id, user, &doc);
  if (rc != STORE_OK) return rc;
  int known = mongo_conv_role(&doc, member) != NULL;
  int allowed = !strcmp(user, member) || is_admin(&doc, user);
  bson_destroy(&doc);
  if (!known) return STORE_ENOTFOUND;
  if (!allowed) return STORE_EFORBIDDEN;
  bson_t *filter = BCON_NEW("_id", BCON_UTF8(id));
  bson_t *update = BCON_NEW("$pull", "{", "participants", "{", "id", BCON_UTF8(member), "}", "}");
  rc = mongo_query_update(c, MC_CONVS, filter, update, 0);
  bson_destroy(filter);
  bson_destroy(update);
  if (rc < 0) return rc;
  json_t *cv;
  if ((rc = reload(c, id, &cv)) != STORE_OK) return rc;
  *r = json_pack("{s:o, s:s}", "conversation", cv, "removed_id", member);
  return STORE_OK;
}
