/* SQLite operations on a flow's published versions (flow_versions, migration
 * 20): publishing the draft, listing, reading and restoring versions. A
 * version's graph is JSON text and never changes once written. Store thread. */
#include <stdio.h>
#include <string.h>

#include "parley/util.h"
#include "store/sqlite/sqlite_internal.h"

/* Drops versions older than the FLOW_VERSIONS_KEPT most recent, except those
 * a running or waiting run started on (it finishes on its version). */
static int prune(sqlite_db_t *d, const char *id, int64_t latest) {
  int rc = sqlite_db_exec(d,
                          "DELETE FROM flow_versions WHERE flow_id = ?1 AND n <= ?2"
                          " AND n NOT IN (SELECT version FROM flow_runs WHERE flow_id = ?1"
                          " AND status IN ('running', 'waiting') AND version IS NOT NULL)",
                          "si", id, latest - FLOW_VERSIONS_KEPT);
  /* The contacts that reached a dropped version's nodes go with it. */
  if (rc == STORE_OK)
    rc = sqlite_db_exec(d,
                        "DELETE FROM flow_reached WHERE flow_id = ?1 AND version BETWEEN 1 AND ?2"
                        " AND version NOT IN (SELECT n FROM flow_versions WHERE flow_id = ?1)",
                        "si", id, latest - FLOW_VERSIONS_KEPT);
  return rc;
}

int sqlite_flow_publish(sqlite_db_t *d, const char *id, const char *owner, json_t **result) {
  json_t *flow = NULL;
  int rc = sqlite_flow_by_id(d, id, owner, &flow);
  if (rc != STORE_OK) return rc;
  json_t *def = sqlite_flow_def(flow), *live = json_object_get(flow, "live");
  int64_t n = json_integer_value(json_object_get(flow, "version"));
  char now[32];
  sqlite_db_now(now);
  if (json_is_object(live) && json_equal(live, def)) {
    /* The live graph again: no new version, the flow is active. */
    rc = sqlite_db_exec(d, "UPDATE flows SET status = 'active' WHERE id = ?", "s", id);
  } else {
    n++;
    rc = sqlite_db_exec(d,
                        "INSERT INTO flow_versions (flow_id, n, owner_id, def, created_at)"
                        " VALUES (?, ?, ?, ?, ?)",
                        "sisjs", id, n, owner, def, now);
    if (rc == STORE_OK)
      rc = sqlite_db_exec(d,
                          "UPDATE flows SET status = 'active', version = ?, live = ? WHERE id = ?",
                          "ijs", n, def, id);
    if (rc == STORE_OK) rc = prune(d, id, n);
  }
  json_decref(def);
  json_decref(flow);
  if (rc != STORE_OK) return rc;
  return sqlite_flow_by_id(d, id, owner, result);
}

int sqlite_flow_version_publish(sqlite_db_t *d, json_t *p, json_t **result) {
  const char *owner = sqlite_db_pstr(p, "owner_id"), *id = sqlite_db_pstr(p, "id");
  if (!owner || !id) return STORE_EINVAL;
  return sqlite_flow_publish(d, id, owner, result);
}

int sqlite_flow_version_list(sqlite_db_t *d, json_t *p, json_t **result) {
  const char *owner = sqlite_db_pstr(p, "owner_id"), *id = sqlite_db_pstr(p, "id");
  if (!owner || !id) return STORE_EINVAL;
  sqlite3_stmt *st = sqlite_db_query(d,
                                     "SELECT n, created_at FROM flow_versions"
                                     " WHERE flow_id = ? AND owner_id = ? ORDER BY n DESC",
                                     "ss", id, owner);
  if (!st) return STORE_EUNAVAILABLE;
  json_t *list = json_array();
  int rc;
  while ((rc = sqlite_db_step(d, st)) == 1)
    json_array_append_new(list, json_pack("{s:I, s:o}", "version", sqlite3_column_int64(st, 0),
                                          "created_at", sqlite_db_col_str(st, 1)));
  if (rc < 0) {
    json_decref(list);
    return rc;
  }
  *result = json_pack("{s:o}", "versions", list);
  return STORE_OK;
}

/* The version's graph (a new reference) and its creation time into at. */
static int version_def(sqlite_db_t *d, const char *id, const char *owner, int64_t n, json_t **def,
                       char at[32]) {
  sqlite3_stmt *st = sqlite_db_query(d,
                                     "SELECT def, created_at FROM flow_versions"
                                     " WHERE flow_id = ? AND owner_id = ? AND n = ?",
                                     "ssi", id, owner, n);
  if (!st) return STORE_EUNAVAILABLE;
  int rc = sqlite_db_step(d, st);
  if (rc <= 0) return rc < 0 ? rc : STORE_ENOTFOUND;
  *def = sqlite_db_col_json(st, 0, json_object);
  const unsigned char *c = sqlite3_column_text(st, 1);
  snprintf(at, 32, "%s", c ? (const char *)c : "");
  sqlite3_reset(st);
  return STORE_OK;
}

int sqlite_flow_version_get(sqlite_db_t *d, json_t *p, json_t **result) {
  const char *owner = sqlite_db_pstr(p, "owner_id"), *id = sqlite_db_pstr(p, "id");
  int64_t n = sqlite_db_pint(p, "version", 0);
  if (!owner || !id || n < 1) return STORE_EINVAL;
  json_t *def = NULL;
  char at[32];
  int rc = version_def(d, id, owner, n, &def, at);
  if (rc != STORE_OK) return rc;
  json_object_set_new(def, "version", json_integer(n));
  json_object_set_new(def, "created_at", json_string(at));
  *result = def;
  return STORE_OK;
}

int sqlite_flow_version_restore(sqlite_db_t *d, json_t *p, json_t **result) {
  const char *owner = sqlite_db_pstr(p, "owner_id"), *id = sqlite_db_pstr(p, "id");
  int64_t n = sqlite_db_pint(p, "version", 0);
  if (!owner || !id || n < 1) return STORE_EINVAL;
  json_t *def = NULL;
  char at[32], now[32];
  int rc = version_def(d, id, owner, n, &def, at);
  if (rc != STORE_OK) return rc;
  sqlite_db_now(now);
  /* Only the draft changes: live runs and new ones keep the published graph. */
  rc = sqlite_db_exec(d, "UPDATE flows SET def = ?, updated_at = ? WHERE id = ?", "jss", def, now,
                      id);
  json_decref(def);
  if (rc != STORE_OK) return rc;
  return sqlite_flow_by_id(d, id, owner, result);
}
