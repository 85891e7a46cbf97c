/* SQLite operations on access-token revocations: one row per deleted user or
 * ended login, kept until the tokens it covers have expired. Store thread. */
#include <stdio.h>

#include "store/sqlite/sqlite_internal.h"

/* The row's key: "user:<id>" for a deletion, "login:<id>" for an ended login. */
static int subject_of(char *out, size_t n, const char *user, const char *login) {
  int w = login ? snprintf(out, n, "login:%s", login) : snprintf(out, n, "user:%s", user);
  return w > 0 && (size_t)w < n ? 0 : -1;
}

int sqlite_revoke_save(sqlite_db_t *d, json_t *p, json_t **result) {
  const char *user = sqlite_db_pstr(p, "user_id"), *login = sqlite_db_pstr(p, "login_id");
  int64_t before = sqlite_db_pint(p, "before_ms", -1);
  int64_t expires = sqlite_db_pint(p, "expires_at_ms", -1);
  char subject[160];
  if (!user || before < 0 || expires < 0 || subject_of(subject, sizeof(subject), user, login) != 0)
    return STORE_EINVAL;
  int rc = sqlite_db_exec(d, "DELETE FROM revocations WHERE expires_at_ms <= ?", "i", before);
  if (rc == STORE_OK)
    rc = sqlite_db_exec(d,
                        "INSERT INTO revocations (subject, user_id, login_id, before_ms,"
                        " expires_at_ms) VALUES (?, ?, ?, ?, ?) ON CONFLICT(subject) DO UPDATE"
                        " SET before_ms = max(before_ms, excluded.before_ms),"
                        " expires_at_ms = max(expires_at_ms, excluded.expires_at_ms)",
                        "sssii", subject, user, login, before, expires);
  if (rc == STORE_OK) *result = json_object();
  return rc;
}

int sqlite_revoke_list(sqlite_db_t *d, json_t *p, json_t **result) {
  int64_t limit = sqlite_db_pint(p, "limit", 1000);
  sqlite3_stmt *st =
      sqlite_db_query(d,
                      "SELECT user_id, login_id, before_ms FROM revocations"
                      " WHERE expires_at_ms > ? AND before_ms >= ? ORDER BY before_ms DESC LIMIT ?",
                      "iii", sqlite_db_pint(p, "now_ms", 0), sqlite_db_pint(p, "since_ms", 0),
                      limit > 0 ? limit : 1000);
  if (!st) return STORE_EUNAVAILABLE;
  json_t *list = json_array();
  int rc;
  while ((rc = sqlite_db_step(d, st)) == 1)
    json_array_append_new(list, json_pack("{s:o, s:o, s:I}", "user_id", sqlite_db_col_str(st, 0),
                                          "login_id", sqlite_db_col_str(st, 1), "before_ms",
                                          (json_int_t)sqlite3_column_int64(st, 2)));
  if (rc < 0) {
    json_decref(list);
    return rc;
  }
  *result = json_pack("{s:o}", "revocations", list);
  return STORE_OK;
}
