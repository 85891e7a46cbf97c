/* The query shapes the MongoDB operations are written with: find one, find and
 * map, findAndModify, update, insert, delete. Worker thread; each call borrows
 * its BSON arguments and reports errors through mongo_ctx_error(). */
#include "store/mongo/mongo_internal.h"

int mongo_query_one(mongo_ctx_t *c, enum mongo_coll coll, const bson_t *filter, const bson_t *opts,
                    bson_t *out) {
  bson_t lim = BSON_INITIALIZER;
  if (opts) bson_copy_to_excluding_noinit(opts, &lim, "limit", NULL);
  BSON_APPEND_INT64(&lim, "limit", 1);
  mongoc_cursor_t *cur =
      mongoc_collection_find_with_opts(mongo_ctx_coll(c, coll), filter, &lim, NULL);
  const bson_t *doc;
  int found = 0;
  if (mongoc_cursor_next(cur, &doc)) {
    if (out) bson_copy_to(doc, out);
    found = 1;
  }
  bson_error_t e;
  int rc = found;
  if (!found && mongoc_cursor_error(cur, &e)) rc = mongo_ctx_error(c, &e);
  mongoc_cursor_destroy(cur);
  bson_destroy(&lim);
  return rc;
}

int mongo_query_each(mongo_ctx_t *c, enum mongo_coll coll, const bson_t *filter, const bson_t *opts,
                     void (*fn)(void *arg, const bson_t *doc), void *arg) {
  mongoc_cursor_t *cur =
      mongoc_collection_find_with_opts(mongo_ctx_coll(c, coll), filter, opts, NULL);
  const bson_t *doc;
  int n = 0;
  while (mongoc_cursor_next(cur, &doc)) {
    fn(arg, doc);
    n++;
  }
  bson_error_t e;
  if (mongoc_cursor_error(cur, &e)) n = mongo_ctx_error(c, &e);
  mongoc_cursor_destroy(cur);
  return n;
}

typedef struct {
  mongo_ctx_t *c;
  json_t *(*map)(mongo_ctx_t *c, const bson_t *doc);
  json_t *out;
} map_t;

static void map_one(void *arg, const bson_t *doc) {
  map_t *m = arg;
  json_t *v = m->map(m->c, doc);
  if (v) json_array_append_new(m->out, v);
}

int mongo_query_map(mongo_ctx_t *c, enum mongo_coll coll, const bson_t *filter, const bson_t *opts,
                    json_t *(*map)(mongo_ctx_t *c, const bson_t *doc), json_t *out) {
  map_t m = {c, map, out};
  return mongo_query_each(c, coll, filter, opts, map_one, &m);
}

int mongo_query_list(mongo_ctx_t *c, enum mongo_coll coll, bson_t *filter, bson_t *opts,
                     json_t *(*map)(mongo_ctx_t *c, const bson_t *doc), const char *key,
                     json_t **r) {
  json_t *list = json_array();
  int rc = list ? mongo_query_map(c, coll, filter, opts, map, list) : STORE_EUNAVAILABLE;
  bson_destroy(filter);
  if (opts) bson_destroy(opts);
  if (rc < 0) {
    json_decref(list);
    return rc;
  }
  *r = json_pack("{s:o}", key, list);
  return STORE_OK;
}

int mongo_query_modify(mongo_ctx_t *c, enum mongo_coll coll, const bson_t *query,
                       const bson_t *update, int upsert, int return_new, bson_t *out) {
  mongoc_find_and_modify_opts_t *o = mongoc_find_and_modify_opts_new();
  mongoc_find_and_modify_opts_set_update(o, update);
  int flags = (upsert ? MONGOC_FIND_AND_MODIFY_UPSERT : 0) |
              (return_new ? MONGOC_FIND_AND_MODIFY_RETURN_NEW : 0);
  mongoc_find_and_modify_opts_set_flags(o, (mongoc_find_and_modify_flags_t)flags);
  bson_t reply;
  bson_error_t e;
  int rc;
  if (!mongoc_collection_find_and_modify_with_opts(mongo_ctx_coll(c, coll), query, o, &reply, &e)) {
    rc = mongo_ctx_error(c, &e);
  } else {
    bson_iter_t it;
    rc = 0;
    if (bson_iter_init_find(&it, &reply, "value") && BSON_ITER_HOLDS_DOCUMENT(&it)) {
      uint32_t len;
      const uint8_t *data;
      bson_iter_document(&it, &len, &data);
      bson_t v;
      if (bson_init_static(&v, data, len)) {
        if (out) bson_copy_to(&v, out);
        rc = 1;
      }
    }
  }
  bson_destroy(&reply);
  mongoc_find_and_modify_opts_destroy(o);
  return rc;
}

int mongo_query_update(mongo_ctx_t *c, enum mongo_coll coll, const bson_t *filter,
                       const bson_t *update, int many) {
  bson_t reply;
  bson_error_t e;
  mongoc_collection_t *col = mongo_ctx_coll(c, coll);
  bool ok = many ? mongoc_collection_update_many(col, filter, update, NULL, &reply, &e)
                 : mongoc_collection_update_one(col, filter, update, NULL, &reply, &e);
  int rc = ok ? (int)mongo_bson_int(&reply, "matchedCount", 0) : mongo_ctx_error(c, &e);
  bson_destroy(&reply);
  return rc;
}

int mongo_query_insert(mongo_ctx_t *c, enum mongo_coll coll, const bson_t *doc) {
  bson_error_t e;
  if (!mongoc_collection_insert_one(mongo_ctx_coll(c, coll), doc, NULL, NULL, &e))
    return mongo_ctx_error(c, &e);
  return 1;
}

int mongo_query_delete(mongo_ctx_t *c, enum mongo_coll coll, const bson_t *filter, int many) {
  bson_t reply;
  bson_error_t e;
  mongoc_collection_t *col = mongo_ctx_coll(c, coll);
  bool ok = many ? mongoc_collection_delete_many(col, filter, NULL, &reply, &e)
                 : mongoc_collection_delete_one(col, filter, NULL, &reply, &e);
  int rc = ok ? (int)mongo_bson_int(&reply, "deletedCount", 0) : mongo_ctx_error(c, &e);
  bson_destroy(&reply);
  return rc;
}
