/* SQLite operations on automation flows and their recorded runs. A flow's graph,
 * a run's trace and state are JSON text. Store thread. */
#include <string.h>

#include "parley/util.h"
#include "store/sqlite/sqlite_internal.h"

#define FLOW_COLS "id, owner_id, name, status, def, created_at, updated_at, version, live"

/* flow = def ({trigger, nodes, edges, start, settings?}) plus the columns. */
static json_t *flow_row(sqlite3_stmt *st) {
  json_t *f = sqlite_db_col_json(st, 4, json_object);
  json_object_set_new(f, "id", sqlite_db_col_str(st, 0));
  json_object_set_new(f, "owner_id", sqlite_db_col_str(st, 1));
  json_object_set_new(f, "name", sqlite_db_col_str(st, 2));
  json_object_set_new(f, "status", sqlite_db_col_str(st, 3));
  json_object_set_new(f, "created_at", sqlite_db_col_str(st, 5));
  json_object_set_new(f, "updated_at", sqlite_db_col_str(st, 6));
  json_object_set_new(f, "version",
                      sqlite3_column_type(st, 7) == SQLITE_NULL
                          ? json_null()
                          : json_integer(sqlite3_column_int64(st, 7)));
  if (sqlite3_column_type(st, 8) != SQLITE_NULL)
    json_object_set_new(f, "live", sqlite_db_col_json(st, 8, json_object));
  return f;
}

/* The flow with the graph keys of def in place of its draft's. */
static void overlay(json_t *flow, const json_t *def) {
  const char *keys[] = {"trigger", "nodes", "edges", "start"};
  for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
    json_t *v = json_object_get(def, keys[i]);
    if (v) json_object_set(flow, keys[i], v);
  }
}

static int flow_one(sqlite_db_t *d, sqlite3_stmt *st, json_t **result) {
  if (!st) return STORE_EUNAVAILABLE;
  int rc = sqlite_db_step(d, st);
  if (rc <= 0) return rc < 0 ? rc : STORE_ENOTFOUND;
  *result = flow_row(st);
  return STORE_OK;
}

int sqlite_flow_by_id(sqlite_db_t *d, const char *id, const char *owner, json_t **result) {
  return flow_one(
      d,
      sqlite_db_query(d, "SELECT " FLOW_COLS " FROM flows WHERE id = ? AND owner_id = ?", "ss", id,
                      owner),
      result);
}

json_t *sqlite_flow_def(const json_t *flow) {
  json_t *def = json_object();
  const char *keys[] = {"trigger", "nodes", "edges", "start", "settings"};
  for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
    json_t *v = json_object_get(flow, keys[i]);
    if (v) json_object_set_new(def, keys[i], json_deep_copy(v));
  }
  return def;
}

int sqlite_flow_create(sqlite_db_t *d, json_t *p, json_t **result) {
  const char *owner = sqlite_db_pstr(p, "owner_id");
  json_t *flow = json_object_get(p, "flow");
  const char *name = sqlite_db_pstr(flow, "name"), *status = sqlite_db_pstr(flow, "status");
  if (!owner || !json_is_object(flow) || !name) return STORE_EINVAL;
  char id[25], now[32];
  util_new_id(id);
  sqlite_db_now(now);
  json_t *def = sqlite_flow_def(flow);
  int rc =
      sqlite_db_exec(d,
                     "INSERT INTO flows (id, owner_id, name, status, def, created_at, updated_at)"
                     " VALUES (?, ?, ?, ?, ?, ?, ?)",
                     "ssssjss", id, owner, name, status ? status : "draft", def, now, now);
  json_decref(def);
  if (rc != STORE_OK) return rc;
  if (json_is_true(json_object_get(p, "publish"))) return sqlite_flow_publish(d, id, owner, result);
  return sqlite_flow_by_id(d, id, owner, result);
}

/* The flow with the graph of its version n (a run resuming on it). */
static int flow_at_version(sqlite_db_t *d, const char *id, const char *owner, int64_t n,
                           json_t **result) {
  json_t *flow = NULL;
  int rc = sqlite_flow_by_id(d, id, owner, &flow);
  if (rc != STORE_OK) return rc;
  sqlite3_stmt *st =
      sqlite_db_query(d, "SELECT def FROM flow_versions WHERE flow_id = ? AND n = ?", "si", id, n);
  rc = st ? sqlite_db_step(d, st) : STORE_EUNAVAILABLE;
  if (rc <= 0) {
    json_decref(flow);
    return rc < 0 ? rc : STORE_ENOTFOUND;
  }
  json_t *def = sqlite_db_col_json(st, 0, json_object);
  sqlite3_reset(st);
  overlay(flow, def);
  json_decref(def);
  json_object_set_new(flow, "version", json_integer(n));
  *result = flow;
  return STORE_OK;
}

int sqlite_flow_get(sqlite_db_t *d, json_t *p, json_t **result) {
  const char *owner = sqlite_db_pstr(p, "owner_id"), *id = sqlite_db_pstr(p, "id");
  const char *name = sqlite_db_pstr(p, "name");
  if (!owner || (!id && !name)) return STORE_EINVAL;
  if (id && json_is_integer(json_object_get(p, "version")))
    return flow_at_version(d, id, owner, json_integer_value(json_object_get(p, "version")), result);
  if (id) return sqlite_flow_by_id(d, id, owner, result);
  return flow_one(d,
                  sqlite_db_query(d,
                                  "SELECT " FLOW_COLS " FROM flows WHERE name = ? AND owner_id = ?"
                                  " ORDER BY created_at, rowid LIMIT 1",
                                  "ss", name, owner),
                  result);
}

int sqlite_flow_list(sqlite_db_t *d, json_t *p, json_t **result) {
  const char *owner = sqlite_db_pstr(p, "owner_id");
  if (!owner) return STORE_EINVAL;
  sqlite3_stmt *st = sqlite_db_query(d,
                                     "SELECT " FLOW_COLS
                                     " FROM flows WHERE owner_id = ?"
                                     " AND (?2 IS NULL OR status = ?2) ORDER BY created_at, rowid",
                                     "ss", owner, sqlite_db_pstr(p, "status"));
  if (!st) return STORE_EUNAVAILABLE;
  json_t *list = json_array();
  int live = json_is_true(json_object_get(p, "live")), rc;
  while ((rc = sqlite_db_step(d, st)) == 1) {
    json_t *f = flow_row(st);
    /* The runner's view: an active flow runs its published graph. */
    if (live && json_is_object(json_object_get(f, "live"))) overlay(f, json_object_get(f, "live"));
    json_array_append_new(list, f);
  }
  if (rc < 0) {
    json_decref(list);
    return rc;
  }
  *result = json_pack("{s:o}", "flows", list);
  return STORE_OK;
}

/* Replaces what the new flow gives; id, owner and created_at stay. */
int sqlite_flow_update(sqlite_db_t *d, json_t *p, json_t **result) {
  const char *owner = sqlite_db_pstr(p, "owner_id"), *id = sqlite_db_pstr(p, "id");
  json_t *flow = json_object_get(p, "flow"), *old = NULL;
  if (!owner || !id || !json_is_object(flow)) return STORE_EINVAL;
  int rc = sqlite_flow_by_id(d, id, owner, &old);
  if (rc != STORE_OK) return rc;
  json_t *def = sqlite_flow_def(old), *fresh = sqlite_flow_def(flow);
  json_object_update(def, fresh);
  json_decref(fresh);
  const char *name = sqlite_db_pstr(flow, "name"), *status = sqlite_db_pstr(flow, "status");
  char now[32];
  sqlite_db_now(now);
  rc = sqlite_db_exec(d,
                      "UPDATE flows SET name = ?, status = ?, def = ?, updated_at = ? WHERE id = ?",
                      "ssjss", name ? name : sqlite_db_pstr(old, "name"),
                      status ? status : sqlite_db_pstr(old, "status"), def, now, id);
  json_decref(def);
  json_decref(old);
  if (rc != STORE_OK) return rc;
  if (json_is_true(json_object_get(p, "publish"))) return sqlite_flow_publish(d, id, owner, result);
  return sqlite_flow_by_id(d, id, owner, result);
}

int sqlite_flow_delete(sqlite_db_t *d, json_t *p, json_t **result) {
  const char *owner = sqlite_db_pstr(p, "owner_id"), *id = sqlite_db_pstr(p, "id");
  if (!owner || !id) return STORE_EINVAL;
  int rc = sqlite_db_exec(d, "DELETE FROM flows WHERE id = ? AND owner_id = ?", "ss", id, owner);
  if (rc != STORE_OK) return rc;
  if (sqlite3_changes(d->db) == 0) return STORE_ENOTFOUND;
  /* Its versions, counters, reached sets and run-once claims go with it; a run waiting on it fails
   * on resuming.
   */
  rc = sqlite_db_exec(d, "DELETE FROM flow_versions WHERE flow_id = ?", "s", id);
  if (rc == STORE_OK) rc = sqlite_db_exec(d, "DELETE FROM flow_stats WHERE flow_id = ?", "s", id);
  if (rc == STORE_OK) rc = sqlite_db_exec(d, "DELETE FROM flow_claims WHERE flow_id = ?", "s", id);
  if (rc == STORE_OK) rc = sqlite_db_exec(d, "DELETE FROM flow_reached WHERE flow_id = ?", "s", id);
  if (rc != STORE_OK) return rc;
  *result = json_object();
  return STORE_OK;
}

#define RUN_COLS \
  "id, flow_id, owner_id, contact_id, status, trace, state, created_at, updated_at, version"

static json_t *run_version(sqlite3_stmt *st, int col) {
  return sqlite3_column_type(st, col) == SQLITE_NULL ? json_null()
                                                     : json_integer(sqlite3_column_int64(st, col));
}

/* A run's trace is most often its state's own (the runner keeps it there):
 * it is then written once, inside the state, and the trace column is NULL
 * (rows written before hold both). */
static const json_t *trace_to_store(const json_t *run) {
  const json_t *trace = json_object_get(run, "trace");
  const json_t *in_state = json_object_get(json_object_get(run, "state"), "trace");
  if (!trace || (in_state && (trace == in_state || json_equal(trace, in_state)))) return NULL;
  return trace;
}

static json_t *run_row(sqlite3_stmt *st) {
  json_t *state = sqlite_db_col_json(st, 6, json_object);
  json_t *trace =
      sqlite3_column_type(st, 5) == SQLITE_NULL && json_is_array(json_object_get(state, "trace"))
          ? json_incref(json_object_get(state, "trace"))
          : sqlite_db_col_json(st, 5, json_array);
  json_t *r = json_pack("{s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o}", "id", sqlite_db_col_str(st, 0),
                        "flow_id", sqlite_db_col_str(st, 1), "owner_id", sqlite_db_col_str(st, 2),
                        "contact_id", sqlite_db_col_str(st, 3), "status", sqlite_db_col_str(st, 4),
                        "trace", trace, "state", state, "created_at", sqlite_db_col_str(st, 7),
                        "updated_at", sqlite_db_col_str(st, 8));
  json_object_set_new(r, "version", run_version(st, 9));
  return r;
}

static int run_by_id(sqlite_db_t *d, const char *id, json_t **result) {
  sqlite3_stmt *st = sqlite_db_query(d, "SELECT " RUN_COLS " FROM flow_runs WHERE id = ?", "s", id);
  if (!st) return STORE_EUNAVAILABLE;
  int rc = sqlite_db_step(d, st);
  if (rc <= 0) return rc < 0 ? rc : STORE_ENOTFOUND;
  *result = run_row(st);
  return STORE_OK;
}

/* The run as just saved: its plain columns read back, its trace and state
 * copied from what was written (a run's grow with each step, and parsing them
 * back cost more than the save itself). */
static int run_saved(sqlite_db_t *d, const char *id, json_t *run, json_t **result) {
  sqlite3_stmt *st = sqlite_db_query(d,
                                     "SELECT id, flow_id, owner_id, contact_id, status,"
                                     " created_at, updated_at, version FROM flow_runs WHERE id = ?",
                                     "s", id);
  if (!st) return STORE_EUNAVAILABLE;
  int rc = sqlite_db_step(d, st);
  /* Just written (FLOW_RUN_SAVE is CHECKS_FIRST: unavailable, not ENOTFOUND). */
  if (rc <= 0) return rc < 0 ? rc : STORE_EUNAVAILABLE;
  json_t *trace = json_object_get(run, "trace"), *state = json_object_get(run, "state");
  json_t *r = json_object();
  json_object_set_new_nocheck(r, "id", sqlite_db_col_str(st, 0));
  json_object_set_new_nocheck(r, "flow_id", sqlite_db_col_str(st, 1));
  json_object_set_new_nocheck(r, "owner_id", sqlite_db_col_str(st, 2));
  json_object_set_new_nocheck(r, "contact_id", sqlite_db_col_str(st, 3));
  json_object_set_new_nocheck(r, "status", sqlite_db_col_str(st, 4));
  json_object_set_new_nocheck(r, "trace", trace ? json_deep_copy(trace) : json_array());
  json_object_set_new_nocheck(r, "state", state ? json_deep_copy(state) : json_object());
  json_object_set_new_nocheck(r, "created_at", sqlite_db_col_str(st, 5));
  json_object_set_new_nocheck(r, "updated_at", sqlite_db_col_str(st, 6));
  json_object_set_new_nocheck(r, "version", run_version(st, 7));
  sqlite3_reset(st);
  *result = r;
  return STORE_OK;
}

int sqlite_flow_run_save(sqlite_db_t *d, json_t *p, json_t **result) {
  json_t *run = json_object_get(p, "run");
  const char *id = sqlite_db_pstr(run, "id"), *flow = sqlite_db_pstr(run, "flow_id");
  const char *owner = sqlite_db_pstr(run, "owner_id"), *status = sqlite_db_pstr(run, "status");
  if (!json_is_object(run) || !flow || !owner || !status) return STORE_EINVAL;
  char fresh[25], now[32];
  sqlite_db_now(now);
  int rc, inserted = !id;
  if (!id) {
    util_new_id(fresh);
    id = fresh;
    /* Run once or a cooldown: the claim first, in the same transaction as
     * the run. */
    if (json_is_true(json_object_get(p, "claim_once"))) {
      const char *contact = sqlite_db_pstr(run, "contact_id");
      if (!contact) return STORE_EINVAL;
      rc = sqlite_db_exec(d,
                          "INSERT INTO flow_claims (flow_id, contact_id, run_id) VALUES (?, ?, ?)"
                          " ON CONFLICT DO NOTHING",
                          "sss", flow, contact, id);
      if (rc != STORE_OK) return rc;
      if (sqlite3_changes(d->db) == 0) return STORE_ECONFLICT;
    } else if (json_is_integer(json_object_get(p, "claim_until_ms"))) {
      /* A cooldown: claimed until it ends; a claim whose cooldown is over is
       * taken again (one of run once, never). */
      const char *contact = sqlite_db_pstr(run, "contact_id");
      int64_t until = json_integer_value(json_object_get(p, "claim_until_ms"));
      int64_t now_ms = sqlite_db_pint(p, "now_ms", -1);
      if (!contact || now_ms < 0) return STORE_EINVAL;
      rc = sqlite_db_exec(d,
                          "INSERT INTO flow_claims (flow_id, contact_id, run_id, until_ms)"
                          " VALUES (?1, ?2, ?3, ?4) ON CONFLICT (flow_id, contact_id) DO UPDATE"
                          " SET run_id = excluded.run_id, until_ms = excluded.until_ms"
                          " WHERE flow_claims.until_ms IS NOT NULL AND flow_claims.until_ms <= ?5",
                          "sssii", flow, contact, id, until, now_ms);
      if (rc != STORE_OK) return rc;
      if (sqlite3_changes(d->db) == 0) return STORE_ECONFLICT;
    }
    rc = sqlite_db_exec(
        d,
        "INSERT INTO flow_runs (id, flow_id, owner_id, contact_id, status, trace, state,"
        " created_at, updated_at, version) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        "sssssjjssj", id, flow, owner, sqlite_db_pstr(run, "contact_id"), status,
        trace_to_store(run), json_object_get(run, "state"), now, now,
        json_integer_value(json_object_get(run, "version")) > 0 ? json_object_get(run, "version")
                                                                : NULL);
  } else {
    /* A run keeps its flow, owner and contact: then only what changes is
     * written, and the indexes on those are left alone. */
    rc = sqlite_db_exec(d,
                        "UPDATE flow_runs SET status = ?1, trace = ?2, state = ?3, updated_at = ?4"
                        " WHERE id = ?5 AND flow_id = ?6 AND owner_id = ?7 AND contact_id IS ?8",
                        "sjjsssss", status, trace_to_store(run), json_object_get(run, "state"), now,
                        id, flow, owner, sqlite_db_pstr(run, "contact_id"));
    if (rc == STORE_OK && sqlite3_changes(d->db) == 0)
      rc = sqlite_db_exec(
          d,
          "UPDATE flow_runs SET flow_id = ?, owner_id = ?, contact_id = ?, status = ?,"
          " trace = ?, state = ?, updated_at = ? WHERE id = ?",
          "ssssjjss", flow, owner, sqlite_db_pstr(run, "contact_id"), status, trace_to_store(run),
          json_object_get(run, "state"), now, id);
    if (rc == STORE_OK && sqlite3_changes(d->db) == 0) rc = STORE_ENOTFOUND;
  }
  if (rc != STORE_OK) return rc;
  if (json_is_true(json_object_get(p, "brief"))) {
    /* What was just written, not read back: the caller holds the rest. */
    json_t *r = json_object(), *contact = json_object_get(run, "contact_id");
    if (!r) return STORE_EUNAVAILABLE;
    json_object_set_new_nocheck(r, "id", json_string(id));
    json_object_set_new_nocheck(r, "flow_id", json_string(flow));
    json_object_set_new_nocheck(r, "owner_id", json_string(owner));
    json_object_set_new_nocheck(r, "contact_id", contact ? json_incref(contact) : json_null());
    json_object_set_new_nocheck(r, "status", json_string(status));
    json_object_set_new_nocheck(r, "updated_at", json_string(now));
    if (inserted) {
      json_t *v = json_object_get(run, "version");
      json_object_set_new(r, "created_at", json_string(now));
      json_object_set_new(r, "version", json_integer_value(v) > 0 ? json_incref(v) : json_null());
    }
    *result = r;
    return STORE_OK;
  }
  return run_saved(d, id, run, result);
}

int sqlite_flow_run_list(sqlite_db_t *d, json_t *p, json_t **result) {
  const char *flow = sqlite_db_pstr(p, "flow_id"), *owner = sqlite_db_pstr(p, "owner_id");
  int64_t limit = sqlite_db_pint(p, "limit", 50);
  if (!flow || !owner) return STORE_EINVAL;
  sqlite3_stmt *st = sqlite_db_query(
      d,
      "SELECT " RUN_COLS
      " FROM flow_runs WHERE flow_id = ?1 AND owner_id = ?2"
      " AND (?4 IS NULL OR contact_id = ?4) ORDER BY created_at DESC, rowid DESC LIMIT ?3",
      "ssis", flow, owner, limit > 0 ? limit : 50, sqlite_db_pstr(p, "contact_id"));
  if (!st) return STORE_EUNAVAILABLE;
  json_t *list = json_array();
  int rc;
  while ((rc = sqlite_db_step(d, st)) == 1) json_array_append_new(list, run_row(st));
  if (rc < 0) {
    json_decref(list);
    return rc;
  }
  *result = json_pack("{s:o}", "runs", list);
  return STORE_OK;
}

int sqlite_flow_run_get(sqlite_db_t *d, json_t *p, json_t **result) {
  const char *id = sqlite_db_pstr(p, "id");
  if (!id) return STORE_EINVAL;
  return run_by_id(d, id, result);
}
