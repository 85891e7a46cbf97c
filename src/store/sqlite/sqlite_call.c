/* SQLite operations on calls: their signalling state and lease. The store
 * thread runs each in a transaction that BEGIN IMMEDIATE keeps other
 * processes out of, so the busy check and the insert of CALL_CREATE, and each
 * state change, happen once. Store thread. */
#include <string.h>

#include "store/sqlite/sqlite_internal.h"

#define CALL_COLS                                                                           \
  "id, conversation_id, caller_id, callee_id, media, state, created_at_ms, answered_at_ms," \
  " ended_at_ms, lease_until_ms"

static json_t *col_int_or_null(sqlite3_stmt *st, int col) {
  return sqlite3_column_type(st, col) == SQLITE_NULL ? json_null()
                                                     : json_integer(sqlite3_column_int64(st, col));
}

static json_t *call_row(sqlite3_stmt *st) {
  return json_pack("{s:o, s:o, s:o, s:o, s:o, s:o, s:I, s:o, s:o, s:I}", "id",
                   sqlite_db_col_str(st, 0), "conversation_id", sqlite_db_col_str(st, 1),
                   "caller_id", sqlite_db_col_str(st, 2), "callee_id", sqlite_db_col_str(st, 3),
                   "media", sqlite_db_col_str(st, 4), "state", sqlite_db_col_str(st, 5),
                   "created_at_ms", (json_int_t)sqlite3_column_int64(st, 6), "answered_at_ms",
                   col_int_or_null(st, 7), "ended_at_ms", col_int_or_null(st, 8), "lease_until_ms",
                   (json_int_t)sqlite3_column_int64(st, 9));
}

static int call_load(sqlite_db_t *d, const char *id, json_t **out) {
  sqlite3_stmt *st = sqlite_db_query(d, "SELECT " CALL_COLS " FROM calls WHERE id = ?", "s", id);
  if (!st) return STORE_EUNAVAILABLE;
  int rc = sqlite_db_step(d, st);
  if (rc < 0) return rc;
  if (rc == 0) return STORE_ENOTFOUND;
  *out = call_row(st);
  sqlite3_reset(st);
  return STORE_OK;
}

int sqlite_call_create(sqlite_db_t *d, json_t *p, json_t **result) {
  const char *id = sqlite_db_pstr(p, "id"), *conv = sqlite_db_pstr(p, "conversation_id");
  const char *caller = sqlite_db_pstr(p, "caller_id"), *callee = sqlite_db_pstr(p, "callee_id");
  const char *media = sqlite_db_pstr(p, "media");
  int64_t now = sqlite_db_pint(p, "now_ms", -1), lease = sqlite_db_pint(p, "lease_until_ms", -1);
  if (!id || !conv || !caller || !callee || !media || now < 0 || lease < 0) return STORE_EINVAL;
  sqlite3_stmt *st = sqlite_db_query(d,
                                     "SELECT count(*) FROM calls WHERE state != 'ended'"
                                     " AND lease_until_ms > ? AND (caller_id IN (?, ?)"
                                     " OR callee_id IN (?, ?))",
                                     "issss", now, caller, callee, caller, callee);
  int rc = st ? sqlite_db_step(d, st) : STORE_EUNAVAILABLE;
  if (rc < 0) return rc;
  int busy = rc == 1 && sqlite3_column_int64(st, 0) > 0;
  sqlite3_reset(st);
  if (busy) return STORE_ECONFLICT;
  rc = sqlite_db_exec(d,
                      "INSERT INTO calls (" CALL_COLS
                      ") VALUES (?, ?, ?, ?, ?, 'ringing', ?,"
                      " NULL, NULL, ?)",
                      "sssssii", id, conv, caller, callee, media, now, lease);
  if (rc != STORE_OK) return rc;
  return call_load(d, id, result);
}

int sqlite_call_get(sqlite_db_t *d, json_t *p, json_t **result) {
  const char *id = sqlite_db_pstr(p, "id");
  if (!id) return STORE_EINVAL;
  return call_load(d, id, result);
}

static int state_in(const char *state, json_t *from) {
  size_t i;
  json_t *v;
  json_array_foreach(from, i,
                     v) if (json_is_string(v) && strcmp(json_string_value(v), state) == 0) return 1;
  return 0;
}

int sqlite_call_set_state(sqlite_db_t *d, json_t *p, json_t **result) {
  const char *id = sqlite_db_pstr(p, "id"), *state = sqlite_db_pstr(p, "state");
  json_t *from = json_object_get(p, "from");
  int64_t now = sqlite_db_pint(p, "now_ms", -1);
  if (!id || !state || !json_is_array(from) || now < 0 ||
      (strcmp(state, "active") != 0 && strcmp(state, "ended") != 0))
    return STORE_EINVAL;
  json_t *call = NULL;
  int rc = call_load(d, id, &call);
  if (rc != STORE_OK) return rc;
  int ok = state_in(json_string_value(json_object_get(call, "state")), from);
  json_decref(call);
  if (!ok) return STORE_ECONFLICT;
  rc = strcmp(state, "active") == 0
           ? sqlite_db_exec(d, "UPDATE calls SET state = 'active', answered_at_ms = ? WHERE id = ?",
                            "is", now, id)
           : sqlite_db_exec(d, "UPDATE calls SET state = 'ended', ended_at_ms = ? WHERE id = ?",
                            "is", now, id);
  if (rc != STORE_OK) return rc;
  return call_load(d, id, result);
}

int sqlite_call_renew(sqlite_db_t *d, json_t *p, json_t **result) {
  json_t *ids = json_object_get(p, "ids");
  int64_t lease = sqlite_db_pint(p, "lease_until_ms", -1);
  if (!json_is_array(ids) || lease < 0) return STORE_EINVAL;
  json_t *live = json_array();
  size_t i;
  json_t *v;
  json_array_foreach(ids, i, v) {
    if (!json_is_string(v)) continue;
    int rc = sqlite_db_exec(d,
                            "UPDATE calls SET lease_until_ms = max(lease_until_ms, ?)"
                            " WHERE id = ? AND state != 'ended'",
                            "is", lease, json_string_value(v));
    if (rc != STORE_OK) {
      json_decref(live);
      return rc;
    }
    if (sqlite3_changes(d->db) > 0) json_array_append(live, v);
  }
  *result = json_pack("{s:o}", "live", live);
  return STORE_OK;
}

int sqlite_call_sweep(sqlite_db_t *d, json_t *p, json_t **result) {
  int64_t now = sqlite_db_pint(p, "now_ms", -1), limit = sqlite_db_pint(p, "limit", 100);
  if (now < 0 || limit < 1) return STORE_EINVAL;
  sqlite3_stmt *st =
      sqlite_db_query(d,
                      "UPDATE calls SET state = 'ended', ended_at_ms = lease_until_ms"
                      " WHERE id IN (SELECT id FROM calls WHERE state != 'ended'"
                      " AND lease_until_ms <= ? LIMIT ?) RETURNING " CALL_COLS,
                      "ii", now, limit);
  if (!st) return STORE_EUNAVAILABLE;
  json_t *calls = json_array();
  int rc;
  while ((rc = sqlite_db_step(d, st)) == 1) json_array_append_new(calls, call_row(st));
  if (rc < 0) {
    json_decref(calls);
    return rc;
  }
  *result = json_pack("{s:o}", "calls", calls);
  return STORE_OK;
}
