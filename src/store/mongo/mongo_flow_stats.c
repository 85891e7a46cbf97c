/* Flow analytics in "flow_stats": one document per flow, version and key
 * (_id "<flow id>:<version>:<key>"), its n incremented with $inc and upsert,
 * so concurrent runs and instances add up. The key is a value, never a field
 * name (node ids are the user's). Worker thread. */
#include <stdio.h>
#include <string.h>

#include "store/mongo/mongo_internal.h"

#define STATS_KEY_MAX 100 /* "node:" and a node id of at most 64 bytes */

int mongo_flow_stats_inc(mongo_ctx_t *c, json_t *p, json_t **r) {
  const char *flow = mongo_param_str(p, "flow_id");
  int64_t version = 0;
  mongo_param_int(p, "version", &version);
  json_t *inc = json_object_get(p, "inc"), *v;
  const char *key;
  if (!flow || !json_is_object(inc)) return STORE_EINVAL;
  json_object_foreach(inc, key, v) {
    if (!json_is_integer(v) || strlen(key) > STATS_KEY_MAX) return STORE_EINVAL;
    char id[256];
    snprintf(id, sizeof(id), "%s:%lld:%s", flow, (long long)version, key);
    bson_t *q = BCON_NEW("_id", BCON_UTF8(id));
    bson_t *u = BCON_NEW("$setOnInsert", "{", "flow_id", BCON_UTF8(flow), "version",
                         BCON_INT64(version), "key", BCON_UTF8(key), "}", "$inc", "{", "n",
                         BCON_INT64(json_integer_value(v)), "}");
    int rc = mongo_query_modify(c, MC_FLOW_STATS, q, u, 1, 1, NULL);
    /* Two first increments upserting at once: one inserts, the other's
     * duplicate key means the document now exists, so it increments. */
    if (rc == STORE_ECONFLICT) rc = mongo_query_modify(c, MC_FLOW_STATS, q, u, 1, 1, NULL);
    bson_destroy(q);
    bson_destroy(u);
    if (rc < 0) return rc;
  }
  *r = json_object();
  return STORE_OK;
}

static void add_counter(void *arg, const bson_t *doc) {
  const char *key = mongo_bson_str(doc, "key");
  if (!key) return;
  json_t *counters = arg;
  int64_t n = mongo_bson_int(doc, "n", 0) + json_integer_value(json_object_get(counters, key));
  json_object_set_new(counters, key, json_integer(n));
}

int mongo_flow_stats_get(mongo_ctx_t *c, json_t *p, json_t **r) {
  const char *flow = mongo_param_str(p, "flow_id");
  int64_t version = 0;
  if (!flow) return STORE_EINVAL;
  bson_t *q = BCON_NEW("flow_id", BCON_UTF8(flow));
  if (mongo_param_int(p, "version", &version) == 0) BSON_APPEND_INT64(q, "version", version);
  json_t *counters = json_object();
  int rc = mongo_query_each(c, MC_FLOW_STATS, q, NULL, add_counter, counters);
  bson_destroy(q);
  if (rc < 0) {
    json_decref(counters);
    return rc;
  }
  *r = json_pack("{s:o}", "counters", counters);
  return STORE_OK;
}
