/* SQLite operations on flow analytics (flow_stats, migration 20): counters
 * per flow, version and key, incremented in place so that concurrent runs and
 * instances add up; the contacts that reached each node (flow_reached,
 * migration 28), so that a contact counts once per node. Store thread. */
#include <stdio.h>
#include <string.h>

#include "store/sqlite/sqlite_internal.h"

#define STATS_KEY_MAX 100 /* "node:" and a node id of at most 64 bytes */

static int add(sqlite_db_t *d, const char *flow, int64_t version, const char *key, int64_t n) {
  return sqlite_db_exec(d,
                        "INSERT INTO flow_stats (flow_id, version, key, n) VALUES (?, ?, ?, ?)"
                        " ON CONFLICT (flow_id, version, key) DO UPDATE SET n = n + excluded.n",
                        "sisi", flow, version, key, n);
}

/* The contact reached the node: in the version's set and in the flow's (any
 * version, -1); each set that did not hold the contact yet adds one to
 * added[0] (the version's set) or added[1] (the flow's), in this transaction. */
static int reached(sqlite_db_t *d, const char *flow, int64_t version, const char *node,
                   const char *contact, int64_t added[2]) {
  for (int i = 0; i < 2; i++) {
    int rc = sqlite_db_exec(d,
                            "INSERT INTO flow_reached (flow_id, version, node_id, contact_id)"
                            " VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
                            "siss", flow, i ? (int64_t)-1 : version, node, contact);
    if (rc != STORE_OK) return rc;
    added[i] += sqlite3_changes(d->db);
  }
  return STORE_OK;
}

/* The contacts new to the node's sets bump its counters: "contacts:<id>" of
 * the version, "contacts_all:<id>". */
static int count_reached(sqlite_db_t *d, const char *flow, int64_t version, const char *node,
                         const int64_t added[2]) {
  static const char *const prefix[2] = {"contacts:", "contacts_all:"};
  for (int i = 0; i < 2; i++) {
    if (added[i] == 0) continue;
    char key[STATS_KEY_MAX + 16];
    snprintf(key, sizeof(key), "%s%s", prefix[i], node);
    int rc = add(d, flow, version, key, added[i]);
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
static int reached_batch(sqlite_db_t *d, const char *flow, int64_t version, const json_t *batch) {
  const char *node;
  json_t *list, *c;
  size_t i;
  json_object_foreach((json_t *)batch, node, list) {
    if (!json_is_array(list) || strlen(node) > STATS_KEY_MAX - 5) return STORE_EINVAL;
    int64_t added[2] = {0, 0};
    json_array_foreach(list, i, c) {
      if (!json_is_string(c)) return STORE_EINVAL;
      int rc = reached(d, flow, version, node, json_string_value(c), added);
      if (rc != STORE_OK) return rc;
    }
    int rc = count_reached(d, flow, version, node, added);
    if (rc != STORE_OK) return rc;
  }
  return STORE_OK;
}

int sqlite_flow_stats_inc(sqlite_db_t *d, json_t *p, json_t **result) {
  const char *flow = sqlite_db_pstr(p, "flow_id"), *contact = sqlite_db_pstr(p, "contact_id");
  int64_t version = sqlite_db_pint(p, "version", 0);
  json_t *inc = json_object_get(p, "inc"), *batch = json_object_get(p, "reached"), *v;
  const char *key;
  if (!flow || !json_is_object(inc) || version < 0 || !batch_valid(batch)) return STORE_EINVAL;
  json_object_foreach(inc, key, v) {
    if (!json_is_integer(v) || strlen(key) > STATS_KEY_MAX) return STORE_EINVAL;
  }
  /* The sets first, the counters after: a reader that sees a run counted
   * sees the contacts it reached (MongoDB's writes are not one transaction). */
  int rc = batch ? reached_batch(d, flow, version, batch) : STORE_OK;
  if (rc != STORE_OK) return rc;
  json_object_foreach(inc, key, v) {
    rc = add(d, flow, version, key, (int64_t)json_integer_value(v));
    if (rc == STORE_OK && contact && strncmp(key, "node:", 5) == 0) {
      int64_t added[2] = {0, 0};
      rc = reached(d, flow, version, key + 5, contact, added);
      if (rc == STORE_OK) rc = count_reached(d, flow, version, key + 5, added);
    }
    if (rc != STORE_OK) return rc;
  }
  *result = json_object();
  return STORE_OK;
}

int sqlite_flow_stats_get(sqlite_db_t *d, json_t *p, json_t **result) {
  const char *flow = sqlite_db_pstr(p, "flow_id");
  json_t *ver = json_object_get(p, "version");
  if (!flow) return STORE_EINVAL;
  sqlite3_stmt *st = sqlite_db_query(
      d,
      "SELECT key, sum(n) FROM flow_stats WHERE flow_id = ?"
      " AND (?2 < 0 OR version = ?2) GROUP BY key",
      "si", flow, json_is_integer(ver) ? (int64_t)json_integer_value(ver) : (int64_t)-1);
  if (!st) return STORE_EUNAVAILABLE;
  json_t *counters = json_object();
  int rc;
  while ((rc = sqlite_db_step(d, st)) == 1)
    json_object_set_new(counters, (const char *)sqlite3_column_text(st, 0),
                        json_integer(sqlite3_column_int64(st, 1)));
  if (rc < 0) {
    json_decref(counters);
    return rc;
  }
  *result = json_pack("{s:o}", "counters", counters);
  return STORE_OK;
}
