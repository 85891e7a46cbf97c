/* Attachment records in "attachments" (the files' bytes live in files
 * storage). Worker thread. */
#include <string.h>

#include "parley/util.h"
#include "store/mongo/mongo_internal.h"

/* An image's size (both, or neither) and its thumbnail (storage key; with
 * its size and type on the record, not on a message's copy), when it has
 * them. */
static void add_image(json_t *a, const bson_t *doc, int record) {
  int64_t w = mongo_bson_int(doc, "width", 0), h = mongo_bson_int(doc, "height", 0);
  if (w > 0 && h > 0) {
    json_object_set_new(a, "width", json_integer(w));
    json_object_set_new(a, "height", json_integer(h));
  }
  json_t *tkey = mongo_bson_json(doc, "thumbnail_key");
  if (json_is_string(tkey)) {
    json_object_set(a, "thumbnail_key", tkey);
    if (record) {
      json_object_set_new(a, "thumbnail_size",
                          json_integer(mongo_bson_int(doc, "thumbnail_size", 0)));
      json_object_set_new(a, "thumbnail_content_type",
                          mongo_bson_json(doc, "thumbnail_content_type"));
    }
  }
  json_decref(tkey);
}

static json_t *attach_json(mongo_ctx_t *c, const bson_t *doc, int record) {
  (void)c;
  json_t *a = json_pack(
      "{s:o, s:o, s:o, s:o, s:I, s:o, s:o}", "id", mongo_bson_json(doc, "_id"), "user_id",
      mongo_bson_json(doc, "user_id"), "type", mongo_bson_json(doc, "type"), "content_type",
      mongo_bson_json(doc, "content_type"), "size", (json_int_t)mongo_bson_int(doc, "size", 0),
      "name", mongo_bson_json(doc, "name"), "created_at", mongo_bson_iso(doc, "created_at"));
  add_image(a, doc, record);
  return a;
}

int mongo_attach_create(mongo_ctx_t *c, json_t *p, json_t **r) {
  const char *id = mongo_param_str(p, "id"), *user = mongo_param_str(p, "user_id");
  const char *type = mongo_param_str(p, "type"), *ctype = mongo_param_str(p, "content_type");
  const char *name = mongo_param_str(p, "name");
  const char *tkey = mongo_param_str(p, "thumbnail_key");
  const char *tctype = mongo_param_str(p, "thumbnail_content_type");
  int64_t size, w = 0, h = 0, tsize = 0;
  if (!id || !user || !type || !ctype || !name || mongo_param_int(p, "size", &size) < 0 || size < 0)
    return STORE_EINVAL;
  if ((json_object_get(p, "width") && mongo_param_int(p, "width", &w) < 0) ||
      (json_object_get(p, "height") && mongo_param_int(p, "height", &h) < 0) || w < 0 || h < 0 ||
      (tkey && (!tctype || mongo_param_int(p, "thumbnail_size", &tsize) < 0 || tsize < 0)))
    return STORE_EINVAL;
  bson_t *doc =
      BCON_NEW("_id", BCON_UTF8(id), "user_id", BCON_UTF8(user), "type", BCON_UTF8(type),
               "content_type", BCON_UTF8(ctype), "size", BCON_INT64(size), "name", BCON_UTF8(name),
               "created_at", BCON_DATE_TIME(util_now_ms()), "sent", BCON_BOOL(false));
  if (w > 0 && h > 0) {
    BSON_APPEND_INT64(doc, "width", w);
    BSON_APPEND_INT64(doc, "height", h);
  }
  if (tkey) {
    BSON_APPEND_UTF8(doc, "thumbnail_key", tkey);
    BSON_APPEND_INT64(doc, "thumbnail_size", tsize);
    BSON_APPEND_UTF8(doc, "thumbnail_content_type", tctype);
  }
  int rc = mongo_query_insert(c, MC_ATTACH, doc);
  if (rc == 1) *r = attach_json(c, doc, 1);
  bson_destroy(doc);
  return rc == 1 ? STORE_OK : rc;
}

int mongo_attach_get(mongo_ctx_t *c, json_t *p, json_t **r) {
  const char *id = mongo_param_str(p, "id");
  if (!id) return STORE_EINVAL;
  bson_t *filter = BCON_NEW("_id", BCON_UTF8(id));
  bson_t doc;
  int rc = mongo_query_one(c, MC_ATTACH, filter, NULL, &doc);
  bson_destroy(filter);
  if (rc < 0) return rc;
  if (rc == 0) return STORE_ENOTFOUND;
  *r = attach_json(c, &doc, 1);
  bson_destroy(&doc);
  return STORE_OK;
}

int mongo_attach_resolve(mongo_ctx_t *c, const char *user_id, json_t *ids, json_t **out) {
  json_t *list = json_array();
  size_t i;
  json_t *v;
  json_array_foreach(ids, i, v) {
    /* Taken by a message: marked sent in the same findAndModify, so a sweep
     * (which removes only unsent records) either ran before (not found) or
     * leaves it. */
    bson_t *filter =
        BCON_NEW("_id", BCON_UTF8(json_string_value(v)), "user_id", BCON_UTF8(user_id));
    bson_t *update = BCON_NEW("$set", "{", "sent", BCON_BOOL(true), "}");
    bson_t doc;
    int rc = mongo_query_modify(c, MC_ATTACH, filter, update, 0, 1, &doc);
    bson_destroy(filter);
    bson_destroy(update);
    if (rc <= 0) {
      json_decref(list);
      return rc < 0 ? rc : STORE_ENOTFOUND;
    }
    json_t *a = attach_json(c, &doc, 0); /* the message's copy */
    bson_destroy(&doc);
    json_object_del(a, "user_id");
    json_object_del(a, "created_at");
    json_array_append_new(list, a);
  }
  *out = list;
  return STORE_OK;
}

typedef struct usage_s {
  int64_t bytes, count;
} usage_t;

static void add_usage(void *arg, const bson_t *doc) {
  usage_t *u = arg;
  u->bytes += mongo_bson_int(doc, "size", 0);
  u->count++;
}

/* Summed here rather than by $group: one indexed scan of the user's records,
 * projected to their sizes. */
int mongo_attach_usage(mongo_ctx_t *c, json_t *p, json_t **r) {
  const char *user = mongo_param_str(p, "user_id");
  if (!user) return STORE_EINVAL;
  usage_t u = {0, 0};
  bson_t *filter = BCON_NEW("user_id", BCON_UTF8(user));
  bson_t *opts = BCON_NEW("projection", "{", "size", BCON_INT32(1), "}");
  int rc = mongo_query_each(c, MC_ATTACH, filter, opts, add_usage, &u);
  bson_destroy(filter);
  bson_destroy(opts);
  if (rc < 0) return rc;
  *r = json_pack("{s:I, s:I}", "bytes", (json_int_t)u.bytes, "count", (json_int_t)u.count);
  return STORE_OK;
}

/* [id, thumbnail_key or null] of a record to sweep. */
static void add_id(void *arg, const bson_t *doc) {
  const char *id = mongo_bson_str(doc, "_id");
  if (id)
    json_array_append_new(arg, json_pack("[s, o]", id, mongo_bson_json(doc, "thumbnail_key")));
}

int mongo_attach_sweep(mongo_ctx_t *c, json_t *p, json_t **r) {
  int64_t before, limit = 100;
  if (mongo_param_int(p, "before_ms", &before) < 0 || before < 0) return STORE_EINVAL;
  if (json_object_get(p, "limit") &&
      (mongo_param_int(p, "limit", &limit) < 0 || limit < 1 || limit > 1000))
    return STORE_EINVAL;
  bson_t *filter =
      BCON_NEW("sent", BCON_BOOL(false), "created_at", "{", "$lt", BCON_DATE_TIME(before), "}");
  bson_t *opts = BCON_NEW("limit", BCON_INT64(limit), "projection", "{", "_id", BCON_INT32(1),
                          "thumbnail_key", BCON_INT32(1), "}");
  json_t *found = json_array();
  int rc = mongo_query_each(c, MC_ATTACH, filter, opts, add_id, found);
  bson_destroy(filter);
  bson_destroy(opts);
  if (rc < 0) {
    json_decref(found);
    return rc;
  }
  /* One at a time, still unsent: a message that took one meanwhile keeps it. */
  json_t *removed = json_array(), *thumbs = json_array();
  size_t i;
  json_t *v;
  json_array_foreach(found, i, v) {
    json_t *thumb = json_array_get(v, 1);
    v = json_array_get(v, 0);
    bson_t *one = BCON_NEW("_id", BCON_UTF8(json_string_value(v)), "sent", BCON_BOOL(false));
    int n = mongo_query_delete(c, MC_ATTACH, one, 0);
    bson_destroy(one);
    if (n < 0) {
      rc = n;
      break;
    }
    if (n == 1) json_array_append(removed, v);
    if (n == 1 && json_is_string(thumb)) json_array_append(thumbs, thumb);
  }
  json_decref(found);
  if (rc < 0) {
    json_decref(removed);
    json_decref(thumbs);
    return rc;
  }
  /* thumbnails: the storage keys of the removed records' thumbnails. */
  *r = json_pack("{s:o, s:o}", "removed", removed, "thumbnails", thumbs);
  return STORE_OK;
}

/* 1 when id is some user's or group's avatar (its bytes stay), or a status. */
static int is_avatar(mongo_ctx_t *c, const char *id) {
  bson_t *f = BCON_NEW("avatar_id", BCON_UTF8(id));
  bson_t doc;
  int rc = mongo_query_one(c, MC_USERS, f, NULL, &doc);
  if (rc == 1) bson_destroy(&doc);
  if (rc == 0) {
    rc = mongo_query_one(c, MC_CONVS, f, NULL, &doc);
    if (rc == 1) bson_destroy(&doc);
  }
  bson_destroy(f);
  return rc;
}

int mongo_attach_release(mongo_ctx_t *c, json_t *attachments, json_t *removed) {
  size_t i;
  json_t *a;
  json_array_foreach(attachments, i, a) {
    const char *id = json_string_value(json_object_get(a, "id"));
    if (!id || strlen(id) != 24) continue; /* Meta's {type, url} of old messages */
    /* Records from before the count (no refs) are never removed. */
    bson_t *f = BCON_NEW("_id", BCON_UTF8(id), "refs", "{", "$gt", BCON_INT64(0), "}");
    bson_t *u = BCON_NEW("$inc", "{", "refs", BCON_INT64(-1), "}");
    bson_t doc;
    int rc = mongo_query_modify(c, MC_ATTACH, f, u, 0, 1, &doc);
    bson_destroy(f);
    bson_destroy(u);
    if (rc < 0) return rc;
    if (rc == 0) continue;
    int64_t left = mongo_bson_int(&doc, "refs", 1);
    json_t *thumb = mongo_bson_json(&doc, "thumbnail_key");
    bson_destroy(&doc);
    if (left <= 0) rc = is_avatar(c, id);
    if (left <= 0 && rc == 0) {
      bson_t *one = BCON_NEW("_id", BCON_UTF8(id), "refs", BCON_INT64(0));
      rc = mongo_query_delete(c, MC_ATTACH, one, 0);
      bson_destroy(one);
      if (rc == 1) {
        json_array_append_new(removed, json_string(id));
        if (json_is_string(thumb)) json_array_append(removed, thumb);
      }
    }
    json_decref(thumb);
    if (rc < 0) return rc;
  }
  return STORE_OK;
}
