/* Flow analytics in "flow_stats": one document per flow, version and key
 * (_id "<flow id>:<version>:<key>"), its n incremented with $inc and upsert,
 * so concurrent runs and instances add up. The key is a value, never a field
 * name (node ids are the user's). The contacts that reached each node are in
 * "flow_reached", one document each, so a contact counts once. Worker thread. */
#include <stdio.h>
#include <string.h>

#include "store/mongo/mongo_internal.h"

#define STATS_KEY_MAX 100 /* "node:" and a node id of at most 64 bytes */

static int add(mongo_ctx_t *c, const char *flow, int64_t version, const char *key, int64_t n) {
  char id[256];
  snprintf(id, sizeof(id), "%s:%lld:%s", flow, (long long)version, key);
  bson_t *q = BCON_NEW("_id", BCON_UTF8(id));
  bson_t *u =
      BCON_NEW("$setOnInsert", "{", "flow_id", BCON_UTF8(flow), "version", BCON_INT64(version),
               "key", BCON_UTF8(key), "}", "$inc", "{", "n", BCON_INT64(n), "}");
  int rc = mongo_query_modify(c, MC_FLOW_STATS, q, u, 1, 1, NULL);
  /* Two first increments upserting at once: one inserts, the other's
   * duplicate key means the document now exists, so it increments. */
  if (rc == STORE_ECONFLICT) rc = mongo_query_modify(c, MC_FLOW_STATS, q, u, 1, 1, NULL);
  bson_destroy(q);
  bson_destroy(u);
  return rc < 0 ? rc : STORE_OK;
}

/* The contact reached the node: inserted in the version's set and in the
 * flow's (any version, -1); the insert that is new (not a duplicate _id,
 * whatever the instances racing) adds one to added[0] (the version's set) or
 * added[1] (the flow's), which count_reached adds to the counters. The
 * inserts and the increment are separate writes: a store failure between them
 * loses those counts, never counts twice. */
static int reached(mongo_ctx_t *c, const char *flow, int64_t version, const char *node,
                   const char *contact, int64_t added[2]) {
  if (strlen(contact) > 64) return STORE_EINVAL;
  for (int i = 0; i < 2; i++) {
    int64_t in = i ? -1 : version;
    char id[512];
    snprintf(id, sizeof(id), "%s:%lld:%s:%s", flow, (long long)in, node, contact);
    bson_t *doc =
        BCON_NEW("_id", BCON_UTF8(id), "flow_id", BCON_UTF8(flow), "version", BCON_INT64(in));
    int rc = mongo_query_insert(c, MC_FLOW_REACHED, doc);
    bson_destroy(doc);
    if (rc == STORE_ECONFLICT) continue;
    if (rc < 0) return rc;
    added[i]++;
  }
  return STORE_OK;
}

/* "contacts:<id>" of the version, "contacts_all:<id>": the contacts new to
 * the node's sets. */
static int count_reached(mongo_ctx_t *c, const char *flow, int64_t version, const char *node,
                         const int64_t added[2]) {
  static const char *const prefix[2] = {"contacts:", "contacts_all:"};
  for (int i = 0; i < 2; i++) {
    if (added[i] == 0) continue;
    char key[STATS_KEY_MAX + 16];
    snprintf(key, sizeof(key), "%s%s", prefix[i], node);
    int rc = add(c, flow, version, key, added[i]);
    if (rc != STORE_OK) return rc;
  }
  return STORE_OK;
}

/* A batch is checked whole before anything is written. */
static int batch_valid(const json_t *batch) {
  const char *node;
  json_t *list, *v;
  size_t i;
  if (!batch) return 1;
  if (!json_is_object(batch)) return 0;
  json_object_foreach((json_t *)batch, node, list) {
    if (!json_is_array(list) || strlen(node) > STATS_KEY_MAX - 5) return 0;
    json_array_foreach(list, i,
                       v) if (!json_is_string(v) || strlen(json_string_value(v)) > 64) return 0;
  }
  return 1;
}

/* reached: {node_id: [contact_id]}, the runner's batch (flows/runner.c). */
static int reached_batch(mongo_ctx_t *c, const char *flow, int64_t version, json_t *batch) {
  const char *node;
  json_t *list, *v;
  size_t i;
  json_object_foreach(batch, node, list) {
    if (!json_is_array(list) || strlen(node) > STATS_KEY_MAX - 5) return STORE_EINVAL;
    int64_t added[2] = {0, 0};
    int rc = STORE_OK;
    json_array_foreach(list, i, v) {
      if (!json_is_string(v)) return STORE_EINVAL;
      if ((rc = reached(c, flow, version, node, json_string_value(v), added)) != STORE_OK) break;
    }
    /* What was inserted is counted, also when a later insert failed. */
    int crc = count_reached(c, flow, version, node, added);
    if (rc != STORE_OK) return rc;
    if (crc != STORE_OK) return crc;
  }
  return STORE_OK;
}

int mongo_flow_stats_inc(mongo_ctx_t *c, json_t *p, json_t **r) {
  const char *flow = mongo_param_str(p, "flow_id"), *contact = mongo_param_str(p, "contact_id");
  int64_t version = 0;
  mongo_param_int(p, "version", &version);
  json_t *inc = json_object_get(p, "inc"), *batch = json_object_get(p, "reached"), *v;
  const char *key;
  if (!flow || !json_is_object(inc) || version < 0 || !batch_valid(batch)) return STORE_EINVAL;
  if (contact && strlen(contact) > 64) return STORE_EINVAL;
  json_object_foreach(inc, key, v) {
    if (!json_is_integer(v) || strlen(key) > STATS_KEY_MAX) return STORE_EINVAL;
  }
  /* The sets first, the counters after: a reader that sees a run counted
   * sees the contacts it reached (MongoDB's writes are not one transaction). */
  int rc = batch ? reached_batch(c, flow, version, batch) : STORE_OK;
  if (rc < 0) return rc;
  json_object_foreach(inc, key, v) {
    rc = add(c, flow, version, key, json_integer_value(v));
    if (rc == STORE_OK && contact && strncmp(key, "node:", 5) == 0) {
      int64_t added[2] = {0, 0};
      rc = reached(c, flow, version, key + 5, contact, added);
      int crc = count_reached(c, flow, version, key + 5, added);
      if (rc == STORE_OK) rc = crc;
    }
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
