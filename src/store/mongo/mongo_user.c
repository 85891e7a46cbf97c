/* Users in the "users" collection: create, read, search, update, anonymise.
 * Worker thread. A deleted user keeps its id and loses its email (the field is
 * removed, so the sparse unique index frees it). */
#include <ctype.h>
#include <string.h>

#include "parley/util.h"
#include "store/mongo/mongo_internal.h"

json_t *mongo_user_json(mongo_ctx_t *c, const bson_t *doc) {
  json_t *u = json_object();
  json_object_set_new(u, "id", mongo_bson_json(doc, "_id"));
  json_object_set_new(u, "email", mongo_bson_json(doc, "email"));
  json_object_set_new(u, "name", mongo_bson_json(doc, "name"));
  json_object_set_new(u, "avatar_url", mongo_bson_json(doc, "avatar_url"));
  json_object_set_new(u, "status", mongo_bson_json(doc, "status"));
  json_object_set_new(u, "last_seen", mongo_bson_iso(doc, "last_seen"));
  json_object_set_new(u, "created_at", mongo_bson_iso(doc, "created_at"));
  /* Absent on users stored before verification existed: they count as verified. */
  bson_iter_t it;
  json_object_set_new(u, "email_verified",
                      json_boolean(!bson_iter_init_find(&it, doc, "email_verified") ||
                                   mongo_bson_bool(doc, "email_verified")));
  if (mongo_bson_bool(doc, "deleted")) json_object_set_new(u, "deleted", json_true());
  json_t *avatar = mongo_bson_json(doc, "avatar_id");
  if (json_is_string(avatar))
    json_object_set_new(u, "avatar_id", avatar);
  else
    json_decref(avatar);
  const char *kind = mongo_bson_str(doc, "kind"); /* a bot: "bot" */
  if (kind) json_object_set_new(u, "kind", json_string(kind));
  return u;
}

int mongo_user_create(mongo_ctx_t *c, json_t *p, json_t **r) {
  const char *email = mongo_param_str(p, "email"), *name = mongo_param_str(p, "name");
  const char *hash = mongo_param_str(p, "password_hash");
  if (!email || !name || !hash) return STORE_EINVAL;
  char id[25];
  util_new_id(id);
  bson_t *doc =
      BCON_NEW("_id", BCON_UTF8(id), "email", BCON_UTF8(email), "name", BCON_UTF8(name),
               "avatar_url", BCON_NULL, "status", BCON_UTF8("online"), "password_hash",
               BCON_UTF8(hash), "created_at", BCON_DATE_TIME(util_now_ms()), "email_verified",
               BCON_BOOL(json_is_true(json_object_get(p, "email_verified"))));
  int rc = mongo_query_insert(c, MC_USERS, doc);
  if (rc == 1) *r = mongo_user_json(c, doc);
  bson_destroy(doc);
  return rc == 1 ? STORE_OK : rc;
}

static int get_by(mongo_ctx_t *c, const char *field, const char *value, int with_hash, json_t **r) {
  bson_t *filter = BCON_NEW(field, BCON_UTF8(value));
  bson_t doc;
  int rc = mongo_query_one(c, MC_USERS, filter, NULL, &doc);
  bson_destroy(filter);
  if (rc <= 0) return rc == 0 ? STORE_ENOTFOUND : rc;
  *r = mongo_user_json(c, &doc);
  if (with_hash) json_object_set_new(*r, "password_hash", mongo_bson_json(&doc, "password_hash"));
  bson_destroy(&doc);
  return STORE_OK;
}

int mongo_user_get_by_email(mongo_ctx_t *c, json_t *p, json_t **r) {
  const char *email = mongo_param_str(p, "email");
  if (!email) return STORE_EINVAL;
  return get_by(c, "email", email, 1, r);
}

int mongo_user_get(mongo_ctx_t *c, json_t *p, json_t **r) {
  const char *id = mongo_param_str(p, "id");
  if (!id) return STORE_EINVAL;
  return get_by(c, "_id", id, 0, r);
}

/* ^ and the query with every regex metacharacter escaped: a prefix match. */
static char *prefix_regex(const char *q) {
  size_t n = strlen(q);
  char *out = malloc(2 * n + 2), *o = out;
  if (!out) return NULL;
  *o++ = '^';
  for (const char *s = q; *s; s++) {
    if (strchr("\\^$.|?*+()[]{}-/#", *s)) *o++ = '\\';
    *o++ = *s;
  }
  *o = 0;
  return out;
}

int mongo_user_search(mongo_ctx_t *c, json_t *p, json_t **r) {
  const char *q = mongo_param_str(p, "q");
  int64_t limit = 20;
  if (!q) return STORE_EINVAL;
  mongo_param_int(p, "limit", &limit);
  if (limit < 1 || limit > 1000) limit = 20;
  char *re = prefix_regex(q), *lower = strdup(q);
  if (!re || !lower) {
    free(re);
    free(lower);
    return STORE_EUNAVAILABLE;
  }
  for (char *s = lower; *s; s++) *s = (char)tolower((unsigned char)*s);
  bson_t *filter = BCON_NEW("deleted", "{", "$ne", BCON_BOOL(true), "}", "$or", "[", "{", "name",
                            "{", "$regex", BCON_UTF8(re), "$options", BCON_UTF8("i"), "}", "}", "{",
                            "email", BCON_UTF8(lower), "}", "]");
  bson_t *opts = BCON_NEW("sort", "{", "name", BCON_INT32(1), "_id", BCON_INT32(1), "}", "limit",
                          BCON_INT64(limit));
  int rc = mongo_query_list(c, MC_USERS, filter, opts, mongo_user_json, "users", r);
  free(re);
  free(lower);
  return rc;
}

static int modify(mongo_ctx_t *c, const char *id, const bson_t *update, json_t **r) {
  bson_t *q = BCON_NEW("_id", BCON_UTF8(id));
  bson_t doc;
  int rc = mongo_query_modify(c, MC_USERS, q, update, 0, 1, &doc);
  bson_destroy(q);
  if (rc <= 0) return rc == 0 ? STORE_ENOTFOUND : rc;
  if (r) *r = mongo_user_json(c, &doc);
  bson_destroy(&doc);
  return STORE_OK;
}

int mongo_user_update(mongo_ctx_t *c, json_t *p, json_t **r) {
  const char *id = mongo_param_str(p, "id");
  json_t *name = json_object_get(p, "name"), *avatar = json_object_get(p, "avatar_url");
  json_t *status = json_object_get(p, "status");
  if (!id || (name && !json_is_string(name)) || (status && !json_is_string(status)) ||
      (avatar && !json_is_string(avatar) && !json_is_null(avatar)))
    return STORE_EINVAL;
  if (!name && !avatar && !status) return get_by(c, "_id", id, 0, r);
  bson_t update = BSON_INITIALIZER, set;
  bson_append_document_begin(&update, "$set", -1, &set);
  if (name) mongo_bson_append_json(&set, "name", name);
  if (avatar) mongo_bson_append_json(&set, "avatar_url", avatar);
  if (status) mongo_bson_append_json(&set, "status", status);
  bson_append_document_end(&update, &set);
  int rc = modify(c, id, &update, r);
  bson_destroy(&update);
  return rc;
}

int mongo_user_delete(mongo_ctx_t *c, json_t *p, json_t **r) {
  const char *id = mongo_param_str(p, "id");
  if (!id) return STORE_EINVAL;
  bson_t *update =
      BCON_NEW("$set", "{", "name", BCON_UTF8("Deleted user"), "avatar_url", BCON_NULL, "status",
               BCON_UTF8("offline"), "deleted", BCON_BOOL(true), "}", "$unset", "{", "email",
               BCON_UTF8(""), "password_hash", BCON_UTF8(""), "}");
  int rc = modify(c, id, update, NULL);
  bson_destroy(update);
  if (rc != STORE_OK) return rc;
  json_t *who = json_pack("{s:s}", "user_id", id);
  rc = mongo_refresh_revoke_user(c, who, r);
  json_decref(who);
  return rc;
}

int mongo_user_get_many(mongo_ctx_t *c, json_t *p, json_t **r) {
  json_t *ids = json_object_get(p, "ids");
  if (!json_is_array(ids) || json_array_size(ids) > 1000) return STORE_EINVAL;
  bson_t *filter = bson_new(), in, arr;
  bson_append_document_begin(filter, "_id", -1, &in);
  bson_append_array_begin(&in, "$in", -1, &arr);
  size_t i;
  json_t *v;
  json_array_foreach(ids, i, v) {
    if (!json_is_string(v)) continue;
    char key[24];
    snprintf(key, sizeof(key), "%zu", i);
    mongo_bson_append_json(&arr, key, v);
  }
  bson_append_array_end(&in, &arr);
  bson_append_document_end(filter, &in);
  bson_append_document_begin(filter, "deleted", -1, &in);
  BSON_APPEND_BOOL(&in, "$ne", true);
  bson_append_document_end(filter, &in);
  return mongo_query_list(c, MC_USERS, filter, NULL, mongo_user_json, "users", r);
}

int mongo_user_seen(mongo_ctx_t *c, json_t *p, json_t **r) {
  const char *id = mongo_param_str(p, "id");
  int64_t at = -1;
  if (!id || mongo_param_int(p, "at_ms", &at) != 0 || at < 0) return STORE_EINVAL;
  /* $max keeps the later of two instances' records of one departure. */
  bson_t *q = BCON_NEW("_id", BCON_UTF8(id), "deleted", "{", "$ne", BCON_BOOL(true), "}");
  bson_t *update = BCON_NEW("$max", "{", "last_seen", BCON_DATE_TIME(at), "}");
  int rc = mongo_query_update(c, MC_USERS, q, update, 0);
  bson_destroy(q);
  bson_destroy(update);
  if (rc < 0) return rc;
  if (rc == 0) return STORE_ENOTFOUND;
  *r = json_object();
  return STORE_OK;
}

int mongo_user_avatar(mongo_ctx_t *c, json_t *p, json_t **r) {
  const char *id = mongo_param_str(p, "id");
  json_t *att = json_object_get(p, "attachment_id");
  if (!id || !att || (!json_is_string(att) && !json_is_null(att))) return STORE_EINVAL;
  const char *aid = json_string_value(att);
  if (aid) {
    /* The user's image with a thumbnail, marked sent so the sweep keeps it. */
    bson_t *f = BCON_NEW("_id", BCON_UTF8(aid), "user_id", BCON_UTF8(id), "thumbnail_key", "{",
                         "$type", BCON_UTF8("string"), "}");
    bson_t *u = BCON_NEW("$set", "{", "sent", BCON_BOOL(true), "}");
    int n = mongo_query_update(c, MC_ATTACH, f, u, 0);
    bson_destroy(f);
    bson_destroy(u);
    if (n < 0) return n;
    if (n == 0) return STORE_ENOTFOUND;
  }
  bson_t *f = BCON_NEW("_id", BCON_UTF8(id), "deleted", "{", "$ne", BCON_BOOL(true), "}");
  bson_t *u = aid ? BCON_NEW("$set", "{", "avatar_id", BCON_UTF8(aid), "}")
                  : BCON_NEW("$unset", "{", "avatar_id", BCON_UTF8(""), "}");
  int n = mongo_query_update(c, MC_USERS, f, u, 0);
  bson_destroy(f);
  bson_destroy(u);
  if (n < 0) return n;
  return get_by(c, "_id", id, 0, r);
}
