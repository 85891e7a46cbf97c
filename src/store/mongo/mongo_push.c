/* Web Push subscriptions in "push_subscriptions": one document per endpoint
 * (a unique index), found by user. A save is one findAndModify upsert on the
 * endpoint, so two instances saving one endpoint at once leave one document.
 * Worker thread. */
#include "parley/util.h"
#include "store/mongo/mongo_internal.h"

static json_t *sub_json(mongo_ctx_t *c, const bson_t *doc) {
  (void)c;
  return json_pack("{s:o, s:o, s:o, s:o, s:o, s:b, s:o}", "id", mongo_bson_json(doc, "_id"),
                   "user_id", mongo_bson_json(doc, "user_id"), "endpoint",
                   mongo_bson_json(doc, "endpoint"), "p256dh", mongo_bson_json(doc, "p256dh"),
                   "auth", mongo_bson_json(doc, "auth"), "preview", mongo_bson_bool(doc, "preview"),
                   "created_at", mongo_bson_iso(doc, "created_at"));
}

int mongo_push_sub_save(mongo_ctx_t *c, json_t *p, json_t **r) {
  const char *id = mongo_param_str(p, "id"), *user = mongo_param_str(p, "user_id");
  const char *endpoint = mongo_param_str(p, "endpoint"), *p256dh = mongo_param_str(p, "p256dh");
  const char *auth = mongo_param_str(p, "auth");
  bool preview = !json_is_false(json_object_get(p, "preview"));
  if (!id || !user || !endpoint || !p256dh || !auth) return STORE_EINVAL;
  bson_t *filter =
      BCON_NEW("user_id", BCON_UTF8(user), "endpoint", "{", "$ne", BCON_UTF8(endpoint), "}");
  bson_error_t e;
  int64_t n = mongoc_collection_count_documents(mongo_ctx_coll(c, MC_PUSH_SUBS), filter, NULL, NULL,
                                                NULL, &e);
  bson_destroy(filter);
  if (n < 0) return mongo_ctx_error(c, &e);
  if (n >= PUSH_SUBS_MAX) return STORE_ECONFLICT;
  bson_t *q = BCON_NEW("endpoint", BCON_UTF8(endpoint));
  bson_t *u = BCON_NEW("$set", "{", "user_id", BCON_UTF8(user), "p256dh", BCON_UTF8(p256dh), "auth",
                       BCON_UTF8(auth), "preview", BCON_BOOL(preview), "}", "$setOnInsert", "{",
                       "_id", BCON_UTF8(id), "created_at", BCON_DATE_TIME(util_now_ms()), "}");
  bson_t doc;
  int rc = mongo_query_modify(c, MC_PUSH_SUBS, q, u, 1, 1, &doc);
  /* Another instance inserted the endpoint between our find and insert: the
   * unique index refused ours, and the document is there to update now. */
  if (rc == STORE_ECONFLICT) rc = mongo_query_modify(c, MC_PUSH_SUBS, q, u, 1, 1, &doc);
  bson_destroy(q);
  bson_destroy(u);
  if (rc < 0) return rc;
  if (rc == 0) return STORE_EUNAVAILABLE;
  const char *got = mongo_bson_str(&doc, "_id");
  int created = got && strcmp(got, id) == 0;
  *r = json_pack("{s:o, s:b}", "subscription", sub_json(c, &doc), "created", created);
  bson_destroy(&doc);
  return *r ? STORE_OK : STORE_EUNAVAILABLE;
}

int mongo_push_sub_list(mongo_ctx_t *c, json_t *p, json_t **r) {
  json_t *ids = json_object_get(p, "user_ids");
  if (!json_is_array(ids) || json_array_size(ids) > PUSH_SUB_LIST_MAX) return STORE_EINVAL;
  bson_t *filter = bson_new(), in;
  bson_t *opts = bson_new();
  BSON_APPEND_DOCUMENT_BEGIN(filter, "user_id", &in);
  mongo_bson_append_json(&in, "$in", ids);
  bson_append_document_end(filter, &in);
  return mongo_query_list(c, MC_PUSH_SUBS, filter, opts, sub_json, "subscriptions", r);
}

int mongo_push_sub_delete(mongo_ctx_t *c, json_t *p, json_t **r) {
  const char *id = mongo_param_str(p, "id"), *user = mongo_param_str(p, "user_id");
  const char *endpoint = mongo_param_str(p, "endpoint");
  bson_t *filter = id && user ? BCON_NEW("_id", BCON_UTF8(id), "user_id", BCON_UTF8(user))
                   : endpoint ? BCON_NEW("endpoint", BCON_UTF8(endpoint))
                              : NULL;
  if (!filter) return STORE_EINVAL;
  int rc = mongo_query_delete(c, MC_PUSH_SUBS, filter, 0);
  bson_destroy(filter);
  if (rc < 0) return rc;
  if (rc == 0) return STORE_ENOTFOUND;
  *r = json_object();
  return STORE_OK;
}
