/* SQLite operations on logins (refresh families with the device, address and
 * last use they were recorded with): listing the live ones and ending them.
 * Store thread. */
#include "store/sqlite/sqlite_internal.h"

#include "parley/util.h"

static json_t *iso(int64_t ms) {
  char out[32];
  util_iso8601(ms, out);
  return json_string(out);
}

int sqlite_login_list(sqlite_db_t *d, json_t *p, json_t **result) {
  const char *user = sqlite_db_pstr(p, "user_id");
  if (!user) return STORE_EINVAL;
  sqlite3_stmt *st = sqlite_db_query(
      d,
      "SELECT family_id, device_name, ip, created_at_ms, last_used_at_ms FROM logins"
      " WHERE user_id = ? AND ended = 0 AND expires_at_ms > ?"
      " ORDER BY last_used_at_ms DESC, family_id LIMIT ?",
      "sii", user, sqlite_db_pint(p, "now_ms", 0), (int64_t)LOGINS_MAX);
  if (!st) return STORE_EUNAVAILABLE;
  json_t *list = json_array();
  int rc;
  while ((rc = sqlite_db_step(d, st)) == 1)
    json_array_append_new(
        list, json_pack("{s:o, s:o, s:o, s:o, s:o}", "id", sqlite_db_col_str(st, 0), "device_name",
                        sqlite_db_col_str(st, 1), "ip", sqlite_db_col_str(st, 2), "created_at",
                        iso(sqlite3_column_int64(st, 3)), "last_used_at",
                        iso(sqlite3_column_int64(st, 4))));
  sqlite3_reset(st);
  if (rc < 0) {
    json_decref(list);
    return rc;
  }
  *result = json_pack("{s:o}", "logins", list);
  return STORE_OK;
}

int sqlite_login_end_families(sqlite_db_t *d, json_t *ended) {
  size_t i;
  json_t *v;
  json_array_foreach(ended, i, v) {
    const char *family = json_string_value(v);
    int status =
        sqlite_db_exec(d, "UPDATE refresh_tokens SET revoked = 1 WHERE family_id = ?", "s", family);
    if (status == STORE_OK)
      status = sqlite_db_exec(d, "UPDATE logins SET ended = 1 WHERE family_id = ?", "s", family);
    if (status != STORE_OK) return status;
  }
  return STORE_OK;
}

/* The live families to end (their token not rotated, revoked or expired):
 * read first, written after, so that no statement is
 * reset under a walk. */
static int families_of(sqlite_db_t *d, const char *user, const char *except, int64_t now,
                       json_t *out) {
  sqlite3_stmt *st = sqlite_db_query(d,
                                     "SELECT DISTINCT family_id FROM refresh_tokens"
                                     " WHERE user_id = ? AND revoked = 0 AND rotated = 0"
                                     " AND expires_at_ms > ? AND family_id <> ?",
                                     "sis", user, now, except ? except : "");
  if (!st) return STORE_EUNAVAILABLE;
  int rc;
  while ((rc = sqlite_db_step(d, st)) == 1) json_array_append_new(out, sqlite_db_col_str(st, 0));
  sqlite3_reset(st);
  return rc < 0 ? rc : STORE_OK;
}

int sqlite_login_end(sqlite_db_t *d, json_t *p, json_t **result) {
  const char *user = sqlite_db_pstr(p, "user_id"), *id = sqlite_db_pstr(p, "id");
  int64_t now = sqlite_db_pint(p, "now_ms", 0);
  if (!user) return STORE_EINVAL;
  json_t *ended = json_array();
  int status = STORE_OK;
  if (id) {
    sqlite3_stmt *st = sqlite_db_query(d,
                                       "SELECT 1 FROM refresh_tokens WHERE family_id = ?"
                                       " AND user_id = ? AND revoked = 0 AND rotated = 0"
                                       " AND expires_at_ms > ? LIMIT 1",
                                       "ssi", id, user, now);
    int rc = st ? sqlite_db_step(d, st) : STORE_EUNAVAILABLE;
    if (st) sqlite3_reset(st);
    if (rc == 1)
      json_array_append_new(ended, json_string(id));
    else
      status = rc < 0 ? rc : STORE_ENOTFOUND;
  } else {
    status = families_of(d, user, sqlite_db_pstr(p, "except_id"), now, ended);
  }
  if (status == STORE_OK) status = sqlite_login_end_families(d, ended);
  if (status != STORE_OK) {
    json_decref(ended);
    return status;
  }
  *result = json_pack("{s:o}", "ended", ended);
  return STORE_OK;
}
