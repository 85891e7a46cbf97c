/* The end-to-end key directory in "devices" and "device_prekeys" (public keys
 * only, as the handler checked them). A claim takes a prekey with one
 * findAndModify that removes it, so two instances claiming at once never get
 * the same one. Worker thread. */
#include "parley/util.h"
#include "store/mongo/mongo_internal.h"

/* How many one-time prekeys the device holds, or a negative status. */
static int64_t prekey_count(mongo_ctx_t *c, const char *id) {
  bson_t *filter = BCON_NEW("device_id", BCON_UTF8(id));
  bson_error_t e;
  int64_t n = mongoc_collection_count_documents(mongo_ctx_coll(c, MC_PREKEYS), filter, NULL, NULL,
                                                NULL, &e);
  bson_destroy(filter);
  return n < 0 ? mongo_ctx_error(c, &e) : n;
}

static json_t *device_json(const bson_t *doc) {
  return json_pack(
      "{s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o}", "id", mongo_bson_json(doc, "_id"), "user_id",
      mongo_bson_json(doc, "user_id"), "name", mongo_bson_json(doc, "name"), "identity_key",
      mongo_bson_json(doc, "identity_key"), "signed_prekey", mongo_bson_json(doc, "signed_prekey"),
      "signed_prekey_signature", mongo_bson_json(doc, "signed_prekey_signature"), "created_at",
      mongo_bson_iso(doc, "created_at"), "updated_at", mongo_bson_iso(doc, "updated_at"));
}

/* The user's device id with its prekey count into *out; ENOTFOUND. */
static int device_load(mongo_ctx_t *c, const char *id, const char *user, json_t **out) {
  bson_t *filter = BCON_NEW("_id", BCON_UTF8(id), "user_id", BCON_UTF8(user));
  bson_t doc;
  int rc = mongo_query_one(c, MC_DEVICES, filter, NULL, &doc);
  bson_destroy(filter);
  if (rc < 0) return rc;
  if (rc == 0) return STORE_ENOTFOUND;
  json_t *dev = device_json(&doc);
  bson_destroy(&doc);
  int64_t n = prekey_count(c, id);
  if (!dev || n < 0) {
    json_decref(dev);
    return n < 0 ? (int)n : STORE_EUNAVAILABLE;
  }
  json_object_set_new(dev, "one_time_prekeys", json_integer(n));
  *out = dev;
  return STORE_OK;
}

/* Adds keys (strings); a key the device holds already stays once (its unique
 * index refuses the copy). More than DEVICE_PREKEYS_MAX held after: the keys
 * just added are taken back and ECONFLICT. */
static int add_prekeys(mongo_ctx_t *c, const char *id, json_t *keys) {
  size_t i;
  json_t *k;
  int64_t held = prekey_count(c, id);
  if (held < 0) return (int)held;
  if (held + (int64_t)json_array_size(keys) > DEVICE_PREKEYS_MAX) return STORE_ECONFLICT;
  json_array_foreach(keys, i, k) {
    if (!json_is_string(k)) return STORE_EINVAL;
    bson_t *doc = BCON_NEW("device_id", BCON_UTF8(id), "key", BCON_UTF8(json_string_value(k)),
                           "ord", BCON_INT64(mongo_ctx_order(c)));
    bson_error_t e;
    bool ok = mongoc_collection_insert_one(mongo_ctx_coll(c, MC_PREKEYS), doc, NULL, NULL, &e);
    bson_destroy(doc);
    if (!ok && !mongo_ctx_is_dup(&e)) return mongo_ctx_error(c, &e);
  }
  return STORE_OK;
}

int mongo_device_create(mongo_ctx_t *c, json_t *p, json_t **r) {
  const char *id = mongo_param_str(p, "id"), *user = mongo_param_str(p, "user_id");
  const char *ik = mongo_param_str(p, "identity_key"), *spk = mongo_param_str(p, "signed_prekey");
  const char *sig = mongo_param_str(p, "signed_prekey_signature");
  const char *name = mongo_param_str(p, "name");
  json_t *keys = json_object_get(p, "one_time_prekeys");
  if (!id || !user || !ik || !spk || !sig || (keys && !json_is_array(keys))) return STORE_EINVAL;
  if (keys && json_array_size(keys) > DEVICE_PREKEYS_MAX) return STORE_ECONFLICT;
  bson_t *filter = BCON_NEW("user_id", BCON_UTF8(user));
  bson_error_t e;
  int64_t n = mongoc_collection_count_documents(mongo_ctx_coll(c, MC_DEVICES), filter, NULL, NULL,
                                                NULL, &e);
  bson_destroy(filter);
  if (n < 0) return mongo_ctx_error(c, &e);
  if (n >= DEVICES_MAX) return STORE_ECONFLICT;
  int64_t now = util_now_ms();
  bson_t *doc = BCON_NEW("_id", BCON_UTF8(id), "user_id", BCON_UTF8(user), "identity_key",
                         BCON_UTF8(ik), "signed_prekey", BCON_UTF8(spk), "signed_prekey_signature",
                         BCON_UTF8(sig), "created_at", BCON_DATE_TIME(now), "updated_at",
                         BCON_DATE_TIME(now), "ord", BCON_INT64(mongo_ctx_order(c)));
  if (name)
    BSON_APPEND_UTF8(doc, "name", name);
  else
    BSON_APPEND_NULL(doc, "name");
  int rc = mongo_query_insert(c, MC_DEVICES, doc);
  bson_destroy(doc);
  if (rc < 0) return rc;
  if (keys && (rc = add_prekeys(c, id, keys)) != STORE_OK) return rc;
  return device_load(c, id, user, r);
}

static json_t *device_id_of(mongo_ctx_t *c, const bson_t *doc) {
  (void)c;
  return mongo_bson_json(doc, "_id");
}

/* The user's device ids, oldest first, into *ids. */
static int device_ids(mongo_ctx_t *c, const char *user, json_t **ids) {
  bson_t *filter = BCON_NEW("user_id", BCON_UTF8(user));
  bson_t *opts = BCON_NEW("sort", "{", "ord", BCON_INT32(1), "}", "limit", BCON_INT64(DEVICES_MAX),
                          "projection", "{", "_id", BCON_INT32(1), "}");
  json_t *r = NULL;
  int rc = mongo_query_list(c, MC_DEVICES, filter, opts, device_id_of, "ids", &r);
  if (rc != STORE_OK) return rc;
  *ids = json_incref(json_object_get(r, "ids"));
  json_decref(r);
  return STORE_OK;
}

int mongo_device_list(mongo_ctx_t *c, json_t *p, json_t **r) {
  const char *user = mongo_param_str(p, "user_id");
  if (!user) return STORE_EINVAL;
  json_t *ids = NULL;
  int rc = device_ids(c, user, &ids);
  if (rc != STORE_OK) return rc;
  json_t *list = json_array();
  size_t i;
  json_t *v;
  json_array_foreach(ids, i, v) {
    json_t *dev = NULL;
    rc = device_load(c, json_string_value(v), user, &dev);
    if (rc == STORE_OK)
      json_array_append_new(list, dev);
    else if (rc != STORE_ENOTFOUND) /* deleted meanwhile: left out */
      break;
    rc = STORE_OK;
  }
  json_decref(ids);
  if (rc != STORE_OK) {
    json_decref(list);
    return rc;
  }
  *r = json_pack("{s:o}", "devices", list);
  return STORE_OK;
}

int mongo_device_get(mongo_ctx_t *c, json_t *p, json_t **r) {
  const char *id = mongo_param_str(p, "id"), *user = mongo_param_str(p, "user_id");
  if (!id || !user) return STORE_EINVAL;
  return device_load(c, id, user, r);
}

int mongo_device_update(mongo_ctx_t *c, json_t *p, json_t **r) {
  const char *id = mongo_param_str(p, "id"), *user = mongo_param_str(p, "user_id");
  const char *spk = mongo_param_str(p, "signed_prekey");
  const char *sig = mongo_param_str(p, "signed_prekey_signature");
  json_t *keys = json_object_get(p, "add_prekeys");
  if (!id || !user || (!spk != !sig) || (keys && !json_is_array(keys))) return STORE_EINVAL;
  bson_t *filter = BCON_NEW("_id", BCON_UTF8(id), "user_id", BCON_UTF8(user));
  bson_t *set =
      spk ? BCON_NEW("$set", "{", "signed_prekey", BCON_UTF8(spk), "signed_prekey_signature",
                     BCON_UTF8(sig), "updated_at", BCON_DATE_TIME(util_now_ms()), "}")
          : BCON_NEW("$set", "{", "updated_at", BCON_DATE_TIME(util_now_ms()), "}");
  int rc;
  json_t *dev = NULL;
  /* The prekeys first: a batch past the bound changes nothing, the signed
   * prekey included. */
  if ((rc = device_load(c, id, user, &dev)) == STORE_OK &&
      (!keys || (rc = add_prekeys(c, id, keys)) == STORE_OK)) {
    rc = mongo_query_update(c, MC_DEVICES, filter, set, 0);
    rc = rc < 0 ? rc : rc == 0 ? STORE_ENOTFOUND : STORE_OK;
  }
  json_decref(dev);
  bson_destroy(filter);
  bson_destroy(set);
  if (rc != STORE_OK) return rc;
  return device_load(c, id, user, r);
}

int mongo_device_delete(mongo_ctx_t *c, json_t *p, json_t **r) {
  const char *id = mongo_param_str(p, "id"), *user = mongo_param_str(p, "user_id");
  if (!id || !user) return STORE_EINVAL;
  bson_t *filter = BCON_NEW("_id", BCON_UTF8(id), "user_id", BCON_UTF8(user));
  int rc = mongo_query_delete(c, MC_DEVICES, filter, 0);
  bson_destroy(filter);
  if (rc < 0) return rc;
  if (rc == 0) return STORE_ENOTFOUND;
  filter = BCON_NEW("device_id", BCON_UTF8(id));
  rc = mongo_query_delete(c, MC_PREKEYS, filter, 1);
  bson_destroy(filter);
  if (rc < 0) return rc;
  *r = json_object();
  return STORE_OK;
}

/* Removes and returns the device's oldest prekey: 1 (*key set), 0 none left,
 * or a negative status. One findAndModify: atomic across instances. */
static int take_prekey(mongo_ctx_t *c, const char *id, json_t **key) {
  bson_t *query = BCON_NEW("device_id", BCON_UTF8(id));
  bson_t *sort = BCON_NEW("ord", BCON_INT32(1));
  mongoc_find_and_modify_opts_t *o = mongoc_find_and_modify_opts_new();
  mongoc_find_and_modify_opts_set_flags(o, MONGOC_FIND_AND_MODIFY_REMOVE);
  mongoc_find_and_modify_opts_set_sort(o, sort);
  bson_t reply;
  bson_error_t e;
  int rc = 0;
  if (!mongoc_collection_find_and_modify_with_opts(mongo_ctx_coll(c, MC_PREKEYS), query, o, &reply,
                                                   &e)) {
    rc = mongo_ctx_error(c, &e);
  } else {
    bson_iter_t it, k;
    if (bson_iter_init_find(&it, &reply, "value") && BSON_ITER_HOLDS_DOCUMENT(&it) &&
        bson_iter_recurse(&it, &k) && bson_iter_find(&k, "key") && BSON_ITER_HOLDS_UTF8(&k)) {
      *key = json_string(bson_iter_utf8(&k, NULL));
      rc = *key ? 1 : STORE_EUNAVAILABLE;
    }
  }
  bson_destroy(&reply);
  mongoc_find_and_modify_opts_destroy(o);
  bson_destroy(sort);
  bson_destroy(query);
  return rc;
}

static int claim_one(mongo_ctx_t *c, json_t *dev, json_t *bundles) {
  const char *id = json_string_value(json_object_get(dev, "id"));
  json_t *key = NULL;
  int rc = take_prekey(c, id, &key);
  if (rc < 0) return rc;
  int64_t left = prekey_count(c, id);
  if (left < 0) {
    json_decref(key);
    return (int)left;
  }
  json_array_append_new(
      bundles, json_pack("{s:O, s:O, s:O, s:O, s:O, s:o, s:I}", "device_id",
                         json_object_get(dev, "id"), "user_id", json_object_get(dev, "user_id"),
                         "identity_key", json_object_get(dev, "identity_key"), "signed_prekey",
                         json_object_get(dev, "signed_prekey"), "signed_prekey_signature",
                         json_object_get(dev, "signed_prekey_signature"), "one_time_prekey",
                         key ? key : json_null(), "remaining", (json_int_t)left));
  return STORE_OK;
}

int mongo_device_claim(mongo_ctx_t *c, json_t *p, json_t **r) {
  const char *user = mongo_param_str(p, "user_id"), *id = mongo_param_str(p, "id");
  if (!user) return STORE_EINVAL;
  json_t *devs = NULL;
  int rc;
  if (id) {
    json_t *dev = NULL;
    if ((rc = device_load(c, id, user, &dev)) != STORE_OK) return rc;
    devs = json_pack("{s:[o]}", "devices", dev);
  } else {
    json_t *q = json_pack("{s:s}", "user_id", user);
    rc = mongo_device_list(c, q, &devs);
    json_decref(q);
    if (rc != STORE_OK) return rc;
  }
  json_t *bundles = json_array();
  size_t i;
  json_t *dev;
  json_array_foreach(json_object_get(devs, "devices"), i, dev) {
    if ((rc = claim_one(c, dev, bundles)) != STORE_OK) break;
  }
  json_decref(devs);
  if (rc != STORE_OK) {
    json_decref(bundles);
    return rc;
  }
  *r = json_pack("{s:o}", "bundles", bundles);
  return STORE_OK;
}
