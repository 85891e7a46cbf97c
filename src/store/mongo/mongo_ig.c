/* Connected Instagram accounts in "instagram_accounts": one per user, and an
 * Instagram account belongs to one user (both unique indexes). The token is
 * stored as the caller's ciphertext and returned only on request. Worker thread. */
#include <string.h>

#include "parley/util.h"
#include "store/mongo/mongo_internal.h"

static json_t *account_json(const bson_t *doc, int with_token) {
  json_t *a = json_object();
  json_object_set_new(a, "id", mongo_bson_json(doc, "_id"));
  json_object_set_new(a, "user_id", mongo_bson_json(doc, "user_id"));
  json_object_set_new(a, "ig_user_id", mongo_bson_json(doc, "ig_user_id"));
  json_object_set_new(a, "username", mongo_bson_json(doc, "username"));
  json_object_set_new(a, "connected_at", mongo_bson_iso(doc, "connected_at"));
  const char *status = mongo_bson_str(doc, "status");
  json_t *error = mongo_bson_json(doc, "status_error");
  json_object_set_new(a, "status", json_string(status ? status : "connected"));
  json_object_set_new(a, "status_error", json_is_object(error) ? error : json_null());
  if (!json_is_object(error)) json_decref(error);
  json_object_set_new(a, "token_expires_at", mongo_bson_iso(doc, "token_expires_at"));
  json_object_set_new(a, "timezone", mongo_bson_json(doc, "timezone"));
  if (with_token) json_object_set_new(a, "token_cipher", mongo_bson_json(doc, "token_cipher"));
  return a;
}

static int find_one(mongo_ctx_t *c, const char *field, const char *value, bson_t *doc) {
  bson_t *filter = BCON_NEW(field, BCON_UTF8(value));
  int rc = mongo_query_one(c, MC_IG, filter, NULL, doc);
  bson_destroy(filter);
  return rc;
}

int mongo_ig_account_upsert(mongo_ctx_t *c, json_t *p, json_t **r) {
  const char *user = mongo_param_str(p, "user_id"), *ig = mongo_param_str(p, "ig_user_id");
  const char *token = mongo_param_str(p, "token_cipher");
  json_t *username = json_object_get(p, "username");
  if (!user || !ig || !token || (username && !json_is_string(username) && !json_is_null(username)))
    return STORE_EINVAL;
  bson_t doc;
  int rc = find_one(c, "ig_user_id", ig, &doc);
  if (rc < 0) return rc;
  if (rc == 1) {
    const char *owner = mongo_bson_str(&doc, "user_id");
    int other = !owner || strcmp(owner, user);
    bson_destroy(&doc);
    if (other) return STORE_ECONFLICT;
  }
  char id[25];
  util_new_id(id);
  bson_t *q = BCON_NEW("user_id", BCON_UTF8(user));
  bson_t *update = BCON_NEW("$setOnInsert", "{", "_id", BCON_UTF8(id), "}");
  bson_t set;
  bson_append_document_begin(update, "$set", -1, &set);
  BSON_APPEND_UTF8(&set, "ig_user_id", ig);
  BSON_APPEND_UTF8(&set, "token_cipher", token);
  BSON_APPEND_DATE_TIME(&set, "connected_at", util_now_ms());
  mongo_bson_append_json(&set, "username", json_is_string(username) ? username : NULL);
  BSON_APPEND_UTF8(&set, "status", "connected");
  BSON_APPEND_NULL(&set, "status_error");
  int64_t expires = mongo_bson_time_param(json_object_get(p, "token_expires_at"));
  if (expires >= 0)
    BSON_APPEND_DATE_TIME(&set, "token_expires_at", expires);
  else
    BSON_APPEND_NULL(&set, "token_expires_at");
  bson_append_document_end(update, &set);
  rc = mongo_query_modify(c, MC_IG, q, update, 1, 1, &doc);
  bson_destroy(q);
  bson_destroy(update);
  if (rc <= 0) return rc == 0 ? STORE_EUNAVAILABLE : rc; /* a duplicate ig_user_id: ECONFLICT */
  *r = account_json(&doc, 0);
  bson_destroy(&doc);
  return STORE_OK;
}

int mongo_ig_account_get(mongo_ctx_t *c, json_t *p, json_t **r) {
  const char *user = mongo_param_str(p, "user_id"), *ig = mongo_param_str(p, "ig_user_id");
  if (!user && !ig) return STORE_EINVAL;
  bson_t doc;
  int rc = find_one(c, user ? "user_id" : "ig_user_id", user ? user : ig, &doc);
  if (rc <= 0) return rc == 0 ? STORE_ENOTFOUND : rc;
  *r = account_json(&doc, json_is_true(json_object_get(p, "with_token")));
  bson_destroy(&doc);
  return STORE_OK;
}

int mongo_ig_account_delete(mongo_ctx_t *c, json_t *p, json_t **r) {
  const char *user = mongo_param_str(p, "user_id");
  if (!user) return STORE_EINVAL;
  bson_t *filter = BCON_NEW("user_id", BCON_UTF8(user));
  int rc = mongo_query_delete(c, MC_IG, filter, 0);
  bson_destroy(filter);
  if (rc <= 0) return rc == 0 ? STORE_ENOTFOUND : rc;
  *r = json_object();
  return STORE_OK;
}

/* Health and token refresh: each given field replaces the stored one. */
int mongo_ig_account_update(mongo_ctx_t *c, json_t *p, json_t **r) {
  const char *user = mongo_param_str(p, "user_id"), *status = mongo_param_str(p, "status");
  const char *token = mongo_param_str(p, "token_cipher"),
             *if_token = mongo_param_str(p, "if_token");
  json_t *error = json_object_get(p, "status_error");
  int64_t expires = mongo_bson_time_param(json_object_get(p, "token_expires_at"));
  if (!user || (error && !json_is_object(error) && !json_is_null(error))) return STORE_EINVAL;
  bson_t *q = if_token ? BCON_NEW("user_id", BCON_UTF8(user), "token_cipher", BCON_UTF8(if_token))
                       : BCON_NEW("user_id", BCON_UTF8(user));
  bson_t *update = bson_new(), set;
  bson_append_document_begin(update, "$set", -1, &set);
  if (status) BSON_APPEND_UTF8(&set, "status", status);
  if (error) mongo_bson_append_json(&set, "status_error", json_is_object(error) ? error : NULL);
  if (token) BSON_APPEND_UTF8(&set, "token_cipher", token);
  if (expires >= 0) BSON_APPEND_DATE_TIME(&set, "token_expires_at", expires);
  json_t *tz = json_object_get(p, "timezone");
  if (tz) /* "" or null: back to UTC */
    mongo_bson_append_json(&set, "timezone",
                           json_is_string(tz) && json_string_length(tz) ? tz : NULL);
  bson_append_document_end(update, &set);
  bson_t doc;
  int rc = mongo_query_modify(c, MC_IG, q, update, 0, 1, &doc);
  bson_destroy(q);
  bson_destroy(update);
  if (rc < 0) return rc;
  if (rc == 0) {
    if (!if_token) return STORE_ENOTFOUND;
    rc = find_one(c, "user_id", user, &doc);
    if (rc < 0) return rc;
    if (rc == 0) return STORE_ENOTFOUND;
    bson_destroy(&doc);
    return STORE_ECONFLICT;
  }
  *r = account_json(&doc, 0);
  bson_destroy(&doc);
  return STORE_OK;
}

static json_t *due_json(mongo_ctx_t *c, const bson_t *doc) {
  (void)c;
  return account_json(doc, 1);
}

int mongo_ig_account_list_due(mongo_ctx_t *c, json_t *p, json_t **r) {
  int64_t before = mongo_bson_time_param(json_object_get(p, "before")), limit = 100;
  if (before < 0) return STORE_EINVAL;
  mongo_param_int(p, "limit", &limit);
  if (limit <= 0 || limit > 1000) limit = 100;
  bson_t *filter = BCON_NEW("status", BCON_UTF8("connected"), "token_expires_at", "{", "$lt",
                            BCON_DATE_TIME(before), "}");
  bson_t *opts =
      BCON_NEW("sort", "{", "token_expires_at", BCON_INT32(1), "}", "limit", BCON_INT64(limit));
  return mongo_query_list(c, MC_IG, filter, opts, due_json, "accounts", r);
}

/* One instance refreshes a token: one conditional findAndModify takes the
 * claim while the token is the one the instance read and no claim is live. */
int mongo_ig_account_claim_refresh(mongo_ctx_t *c, json_t *p, json_t **r) {
  const char *user = mongo_param_str(p, "user_id"), *if_token = mongo_param_str(p, "if_token");
  json_t *now = json_object_get(p, "now_ms"), *until = json_object_get(p, "until_ms");
  if (!user || !if_token || !json_is_integer(now) || !json_is_integer(until)) return STORE_EINVAL;
  bson_t *q = BCON_NEW("user_id", BCON_UTF8(user), "token_cipher", BCON_UTF8(if_token), "$or", "[",
                       "{", "refresh_until_ms", BCON_NULL, "}", "{", "refresh_until_ms", "{", "$lt",
                       BCON_INT64((int64_t)json_integer_value(now)), "}", "}", "]");
  bson_t *update = BCON_NEW("$set", "{", "refresh_until_ms",
                            BCON_INT64((int64_t)json_integer_value(until)), "}");
  bson_t doc;
  int rc = mongo_query_modify(c, MC_IG, q, update, 0, 1, &doc);
  bson_destroy(q);
  bson_destroy(update);
  if (rc < 0) return rc;
  if (rc == 0) {
    rc = find_one(c, "user_id", user, &doc);
    if (rc < 0) return rc;
    if (rc == 0) return STORE_ENOTFOUND;
    bson_destroy(&doc);
    return STORE_ECONFLICT;
  }
  *r = account_json(&doc, 0);
  bson_destroy(&doc);
  return STORE_OK;
}
