/* SQLite operations on scheduled steps, which resume delayed flow runs.
 * Store thread. */
#include "parley/util.h"
#include "store/sqlite/sqlite_internal.h"

int sqlite_sched_insert(sqlite_db_t *d, json_t *p, json_t **result) {
  const char *run = sqlite_db_pstr(p, "run_id");
  int64_t due = sqlite_db_pint(p, "due_at_ms", -1);
  if (!run || due < 0) return STORE_EINVAL;
  char id[25];
  util_new_id(id);
  const char *held = sqlite_db_pstr(p, "held_for"), *wait = sqlite_db_pstr(p, "wait_for");
  int rc = sqlite_db_exec(d,
                          "INSERT INTO scheduled_steps (id, run_id, due_at_ms, held_for, wait_for)"
                          " VALUES (?, ?, ?, ?, ?)",
                          "ssiss", id, run, due, held, wait);
  if (rc != STORE_OK) return rc;
  *result = json_pack("{s:s,s:s,s:I}", "id", id, "run_id", run, "due_at_ms", (json_int_t)due);
  return STORE_OK;
}

int sqlite_sched_due(sqlite_db_t *d, json_t *p, json_t **result) {
  int64_t limit = sqlite_db_pint(p, "limit", 100);
  sqlite3_stmt *st =
      sqlite_db_query(d,
                      "SELECT id, run_id, due_at_ms FROM scheduled_steps WHERE due_at_ms <= ?"
                      " ORDER BY due_at_ms, rowid LIMIT ?",
                      "ii", sqlite_db_pint(p, "now_ms", 0), limit > 0 ? limit : 100);
  if (!st) return STORE_EUNAVAILABLE;
  json_t *list = json_array();
  int rc;
  while ((rc = sqlite_db_step(d, st)) == 1)
    json_array_append_new(list, json_pack("{s:o,s:o,s:I}", "id", sqlite_db_col_str(st, 0), "run_id",
                                          sqlite_db_col_str(st, 1), "due_at_ms",
                                          (json_int_t)sqlite3_column_int64(st, 2)));
  if (rc < 0) {
    json_decref(list);
    return rc;
  }
  *result = json_pack("{s:o}", "steps", list);
  return STORE_OK;
}

int sqlite_sched_delete(sqlite_db_t *d, json_t *p, json_t **result) {
  const char *id = sqlite_db_pstr(p, "id");
  if (!id) return STORE_EINVAL;
  int rc = sqlite_db_exec(d, "DELETE FROM scheduled_steps WHERE id = ?", "s", id);
  if (rc != STORE_OK) return rc;
  if (sqlite3_changes(d->db) == 0) return STORE_ENOTFOUND;
  *result = json_object();
  return STORE_OK;
}

int sqlite_sched_take_wait(sqlite_db_t *d, json_t *p, json_t **result) {
  const char *contact = sqlite_db_pstr(p, "wait_for");
  if (!contact) return STORE_EINVAL;
  sqlite3_stmt *st = sqlite_db_query(d,
                                     "SELECT id, run_id, due_at_ms FROM scheduled_steps"
                                     " WHERE wait_for = ? ORDER BY rowid DESC LIMIT 1",
                                     "s", contact);
  if (!st) return STORE_EUNAVAILABLE;
  int rc = sqlite_db_step(d, st);
  if (rc <= 0) return rc < 0 ? rc : STORE_ENOTFOUND;
  json_t *step =
      json_pack("{s:o,s:o,s:I}", "id", sqlite_db_col_str(st, 0), "run_id", sqlite_db_col_str(st, 1),
                "due_at_ms", (json_int_t)sqlite3_column_int64(st, 2));
  sqlite3_reset(st);
  /* One writer (the store thread): the step read is the step deleted. */
  rc = sqlite_db_exec(d, "DELETE FROM scheduled_steps WHERE id = ?", "s",
                      json_string_value(json_object_get(step, "id")));
  if (rc != STORE_OK) {
    json_decref(step);
    return rc;
  }
  *result = step;
  return STORE_OK;
}
