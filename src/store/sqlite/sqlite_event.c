/* SQLite operations on webhook events: stored raw, deduplicated by mid, listed
 * until processed. Store thread. */
#include <string.h>

#include "parley/util.h"
#include "store/sqlite/sqlite_internal.h"

/* The id the caller gave the event (so it can keep the payload it parsed and
 * skip reading it back), else a new one. */
static void event_id(json_t *e, char id[25]) {
  const char *given = sqlite_db_pstr(e, "id");
  if (given && strlen(given) == 24)
    memcpy(id, given, 25);
  else
    util_new_ordered_id(id);
}

int sqlite_event_insert(sqlite_db_t *d, json_t *p, json_t **result) {
  json_t *events = json_object_get(p, "events"), *e;
  if (!json_is_array(events)) return STORE_EINVAL;
  json_t *inserted = json_array();
  int dups = 0, status = STORE_OK;
  size_t i;
  char now[32];
  sqlite_db_clock(d, now);
  json_array_foreach(events, i, e) {
    json_t *payload = json_object_get(e, "payload");
    char id[25];
    event_id(e, id);
    status = sqlite_db_exec(
        d,
        "INSERT INTO webhook_events (id, mid, payload, created_at) VALUES (?, ?, ?, ?)"
        " ON CONFLICT (mid) DO NOTHING",
        "ssjs", id, sqlite_db_pstr(e, "mid"), payload ? payload : json_null(), now);
    if (status != STORE_OK) break;
    if (sqlite3_changes(d->db) == 0)
      dups++;
    else
      json_array_append_new(inserted, json_string(id));
  }
  if (status != STORE_OK) {
    json_decref(inserted);
    return status;
  }
  *result = json_object();
  json_object_set_new_nocheck(*result, "inserted", inserted);
  json_object_set_new_nocheck(*result, "duplicates", json_integer(dups));
  return STORE_OK;
}

int sqlite_event_list_pending(sqlite_db_t *d, json_t *p, json_t **result) {
  int64_t limit = sqlite_db_pint(p, "limit", 100);
  /* payload_text: the payload as stored, for a caller that parses only the
   * events it does not hold already. */
  int as_text = json_is_true(json_object_get(p, "payload_text"));
  sqlite3_stmt *st =
      sqlite_db_query(d,
                      "SELECT id, mid, payload, processed, created_at FROM webhook_events"
                      " WHERE processed = 0 ORDER BY rowid LIMIT ?",
                      "i", limit > 0 ? limit : 100);
  if (!st) return STORE_EUNAVAILABLE;
  json_t *list = json_array();
  int rc;
  /* Built member by member (json_pack parses its format for every row). The
   * payload's text goes unchecked: it is only ever parsed (json_loads checks
   * it then), or dropped when the caller holds the payload. */
  while ((rc = sqlite_db_step(d, st)) == 1) {
    json_t *e = json_object();
    json_object_set_new_nocheck(e, "id", sqlite_db_col_str(st, 0));
    json_object_set_new_nocheck(e, "mid", sqlite_db_col_str(st, 1));
    if (as_text)
      json_object_set_new_nocheck(e, "payload_text",
                                  json_stringn_nocheck((const char *)sqlite3_column_text(st, 2),
                                                       (size_t)sqlite3_column_bytes(st, 2)));
    else
      json_object_set_new_nocheck(e, "payload", sqlite_db_col_json(st, 2, json_object));
    json_object_set_new_nocheck(e, "processed", json_boolean(sqlite3_column_int(st, 3)));
    json_object_set_new_nocheck(e, "created_at", sqlite_db_col_str(st, 4));
    json_array_append_new(list, e);
  }
  if (rc < 0) {
    json_decref(list);
    return rc;
  }
  *result = json_pack("{s:o}", "events", list);
  return STORE_OK;
}

int sqlite_event_mark_processed(sqlite_db_t *d, json_t *p, json_t **result) {
  const char *id = sqlite_db_pstr(p, "id");
  if (!id) return STORE_EINVAL;
  int status = sqlite_db_exec(d, "UPDATE webhook_events SET processed = 1 WHERE id = ?", "s", id);
  if (status != STORE_OK) return status;
  if (sqlite3_changes(d->db) == 0) return STORE_ENOTFOUND;
  *result = json_object();
  return STORE_OK;
}
