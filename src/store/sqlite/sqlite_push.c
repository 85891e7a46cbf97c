/* SQLite operations of Web Push subscriptions: one row per endpoint (unique),
 * found by user. Store thread. */
#include "store/sqlite/sqlite_internal.h"

#define SUB_COLS "id, user_id, endpoint, p256dh, auth, preview, created_at"

static json_t *sub_row(sqlite3_stmt *st) {
  return json_pack("{s:o, s:o, s:o, s:o, s:o, s:b, s:o}", "id", sqlite_db_col_str(st, 0), "user_id",
                   sqlite_db_col_str(st, 1), "endpoint", sqlite_db_col_str(st, 2), "p256dh",
                   sqlite_db_col_str(st, 3), "auth", sqlite_db_col_str(st, 4), "preview",
                   sqlite3_column_int(st, 5) != 0, "created_at", sqlite_db_col_str(st, 6));
}

/* The row of endpoint into *out (may be NULL): 1 found, 0 none, or a status. */
static int sub_by_endpoint(sqlite_db_t *d, const char *endpoint, json_t **out) {
  sqlite3_stmt *st = sqlite_db_query(
      d, "SELECT " SUB_COLS " FROM push_subscriptions WHERE endpoint = ?", "s", endpoint);
  int rc = st ? sqlite_db_step(d, st) : STORE_EUNAVAILABLE;
  if (rc == 1 && out && !(*out = sub_row(st))) return STORE_EUNAVAILABLE;
  return rc;
}

int sqlite_push_sub_save(sqlite_db_t *d, json_t *p, json_t **result) {
  const char *id = sqlite_db_pstr(p, "id"), *user = sqlite_db_pstr(p, "user_id");
  const char *endpoint = sqlite_db_pstr(p, "endpoint"), *p256dh = sqlite_db_pstr(p, "p256dh");
  const char *auth = sqlite_db_pstr(p, "auth");
  int preview = json_is_false(json_object_get(p, "preview")) ? 0 : 1;
  if (!id || !user || !endpoint || !p256dh || !auth) return STORE_EINVAL;
  /* The user's other subscriptions (the endpoint itself may be theirs already). */
  sqlite3_stmt *st = sqlite_db_query(
      d, "SELECT count(*) FROM push_subscriptions WHERE user_id = ? AND endpoint != ?", "ss", user,
      endpoint);
  int rc = st ? sqlite_db_step(d, st) : STORE_EUNAVAILABLE;
  if (rc < 0) return rc;
  if (rc == 1 && sqlite3_column_int64(st, 0) >= PUSH_SUBS_MAX) return STORE_ECONFLICT;
  int held = sub_by_endpoint(d, endpoint, NULL);
  if (held < 0) return held;
  char now[32];
  sqlite_db_clock(d, now);
  rc = held ? sqlite_db_exec(d,
                             "UPDATE push_subscriptions SET user_id = ?, p256dh = ?, auth = ?,"
                             " preview = ? WHERE endpoint = ?",
                             "sssds", user, p256dh, auth, preview, endpoint)
            : sqlite_db_exec(
                  d, "INSERT INTO push_subscriptions (" SUB_COLS ") VALUES (?, ?, ?, ?, ?, ?, ?)",
                  "sssssds", id, user, endpoint, p256dh, auth, preview, now);
  if (rc != STORE_OK) return rc;
  json_t *sub = NULL;
  rc = sub_by_endpoint(d, endpoint, &sub);
  if (rc < 0) return rc;
  if (rc == 0) return STORE_EUNAVAILABLE;
  *result = json_pack("{s:o, s:b}", "subscription", sub, "created", !held);
  return *result ? STORE_OK : STORE_EUNAVAILABLE;
}

int sqlite_push_sub_list(sqlite_db_t *d, json_t *p, json_t **result) {
  json_t *ids = json_object_get(p, "user_ids");
  if (!json_is_array(ids) || json_array_size(ids) > PUSH_SUB_LIST_MAX) return STORE_EINVAL;
  sqlite3_stmt *st = sqlite_db_query(d,
                                     "SELECT " SUB_COLS
                                     " FROM push_subscriptions WHERE user_id IN"
                                     " (SELECT value FROM json_each(?))",
                                     "j", ids);
  if (!st) return STORE_EUNAVAILABLE;
  json_t *list = json_array();
  int rc;
  while ((rc = sqlite_db_step(d, st)) == 1) json_array_append_new(list, sub_row(st));
  if (rc < 0) {
    json_decref(list);
    return rc;
  }
  *result = json_pack("{s:o}", "subscriptions", list);
  return STORE_OK;
}

int sqlite_push_sub_delete(sqlite_db_t *d, json_t *p, json_t **result) {
  const char *id = sqlite_db_pstr(p, "id"), *user = sqlite_db_pstr(p, "user_id");
  const char *endpoint = sqlite_db_pstr(p, "endpoint");
  int rc;
  if (id && user)
    rc = sqlite_db_exec(d, "DELETE FROM push_subscriptions WHERE id = ? AND user_id = ?", "ss", id,
                        user);
  else if (endpoint)
    rc = sqlite_db_exec(d, "DELETE FROM push_subscriptions WHERE endpoint = ?", "s", endpoint);
  else
    return STORE_EINVAL;
  if (rc != STORE_OK) return rc;
  if (sqlite3_changes(d->db) == 0) return STORE_ENOTFOUND;
  *result = json_object();
  return STORE_OK;
}
