/* MongoDB: the "Continue with Instagram" states used so far, in
 * "oauth_states" (_id the state's key), each once: the insert of a key used
 * before is a duplicate key, whatever the instances racing. A state's
 * record goes once the state expired. Worker thread. */
#include <stdio.h>
#include <string.h>

#include "store/mongo/mongo_internal.h"

#define SWEEP_MAX 100

/* Up to SWEEP_MAX expired records (a delete by _id of the ones found, since
 * a delete cannot take a limit). */
static void add_id(void *arg, const bson_t *doc) {
  bson_iter_t it;
  if (bson_iter_init_find(&it, doc, "_id") && BSON_ITER_HOLDS_UTF8(&it))
    json_array_append_new(arg, json_string(bson_iter_utf8(&it, NULL)));
}

static int sweep(mongo_ctx_t *c, int64_t now) {
  json_t *ids = json_array();
  bson_t *q = BCON_NEW("expires_at_ms", "{", "$lte", BCON_INT64(now), "}");
  bson_t *opts =
      BCON_NEW("limit", BCON_INT64(SWEEP_MAX), "projection", "{", "_id", BCON_INT32(1), "}");
  int rc = mongo_query_each(c, MC_OAUTH_STATES, q, opts, add_id, ids);
  bson_destroy(q);
  bson_destroy(opts);
  if (rc >= 0 && json_array_size(ids) > 0) {
    bson_t *f = bson_new(), in, arr;
    bson_append_document_begin(f, "_id", -1, &in);
    bson_append_array_begin(&in, "$in", -1, &arr);
    json_t *v;
    size_t i;
    json_array_foreach(ids, i, v) {
      char k[24];
      snprintf(k, sizeof(k), "%zu", i);
      BSON_APPEND_UTF8(&arr, k, json_string_value(v));
    }
    bson_append_array_end(&in, &arr);
    bson_append_document_end(f, &in);
    rc = mongo_query_delete(c, MC_OAUTH_STATES, f, 1);
    bson_destroy(f);
  }
  json_decref(ids);
  return rc < 0 ? rc : 0;
}

int mongo_oauth_state_use(mongo_ctx_t *c, json_t *p, json_t **r) {
  const char *key = mongo_param_str(p, "key");
  int64_t expires = 0, now = 0;
  mongo_param_int(p, "expires_at_ms", &expires);
  mongo_param_int(p, "now_ms", &now);
  if (!key || strlen(key) > 128 || expires <= 0) return STORE_EINVAL;
  int rc = sweep(c, now);
  if (rc < 0) return rc;
  bson_t *doc = BCON_NEW("_id", BCON_UTF8(key), "expires_at_ms", BCON_INT64(expires));
  rc = mongo_query_insert(c, MC_OAUTH_STATES, doc);
  bson_destroy(doc);
  if (rc < 0) return rc; /* ECONFLICT: used before */
  *r = json_object();
  return STORE_OK;
}
