/* SQLite operations on the one-time codes mailed to users (verification,
 * password reset): one live code per user and purpose, used once, dead after
 * max_attempts wrong tries. Store thread. */
#include <string.h>

#include "store/sqlite/sqlite_internal.h"

static int purpose_ok(const char *purpose) {
  return purpose && (strcmp(purpose, "verify") == 0 || strcmp(purpose, "reset") == 0);
}

int sqlite_code_create(sqlite_db_t *d, json_t *p, json_t **result) {
  const char *id = sqlite_db_pstr(p, "id"), *user = sqlite_db_pstr(p, "user_id");
  const char *purpose = sqlite_db_pstr(p, "purpose"), *hash = sqlite_db_pstr(p, "code_hash");
  if (!id || !user || !purpose_ok(purpose) || !hash) return STORE_EINVAL;
  int status = sqlite_db_exec(d, "DELETE FROM email_codes WHERE user_id = ? AND purpose = ?", "ss",
                              user, purpose);
  if (status == STORE_OK)
    status =
        sqlite_db_exec(d,
                       "INSERT INTO email_codes (id, user_id, purpose, code_hash,"
                       " expires_at_ms) VALUES (?, ?, ?, ?, ?)",
                       "ssssi", id, user, purpose, hash, sqlite_db_pint(p, "expires_at_ms", 0));
  if (status == STORE_OK) *result = json_object();
  return status;
}

/* The live code by id or by (user, purpose): 1 and its id, hash and user, 0
 * when none, or a negative status. */
static int find_live(sqlite_db_t *d, json_t *p, const char *purpose, char id[64], char hash[80],
                     char user[64]) {
  const char *by_id = sqlite_db_pstr(p, "id"), *by_user = sqlite_db_pstr(p, "user_id");
  sqlite3_stmt *st = sqlite_db_query(
      d,
      "SELECT c.id, c.code_hash, c.user_id FROM email_codes c JOIN users u ON u.id = c.user_id"
      " WHERE c.purpose = ?1 AND (c.id = ?2 OR (?2 IS NULL AND c.user_id = ?3))"
      " AND c.used = 0 AND c.expires_at_ms > ?4 AND c.attempts < ?5 AND u.deleted = 0"
      " LIMIT 1",
      "sssii", purpose, by_id, by_user, sqlite_db_pint(p, "now_ms", 0),
      sqlite_db_pint(p, "max_attempts", 5));
  if (!st) return STORE_EUNAVAILABLE;
  int rc = sqlite_db_step(d, st);
  if (rc == 1) {
    snprintf(id, 64, "%s", (const char *)sqlite3_column_text(st, 0));
    snprintf(hash, 80, "%s", (const char *)sqlite3_column_text(st, 1));
    snprintf(user, 64, "%s", (const char *)sqlite3_column_text(st, 2));
  }
  sqlite3_reset(st);
  return rc;
}

int sqlite_code_use(sqlite_db_t *d, json_t *p, json_t **result) {
  const char *purpose = sqlite_db_pstr(p, "purpose"), *given = sqlite_db_pstr(p, "code_hash");
  const char *password = sqlite_db_pstr(p, "password_hash");
  char id[64], hash[80], user[64];
  if (!purpose_ok(purpose) || !given || (!sqlite_db_pstr(p, "id") && !sqlite_db_pstr(p, "user_id")))
    return STORE_EINVAL;
  int rc = find_live(d, p, purpose, id, hash, user);
  if (rc <= 0) return rc < 0 ? rc : STORE_ENOTFOUND;
  if (strcmp(hash, given) != 0) {
    /* The attempt must count although the answer is an error. */
    rc = sqlite_db_exec(d, "UPDATE email_codes SET attempts = attempts + 1 WHERE id = ?", "s", id);
    d->keep_on_error = 1;
    return rc == STORE_OK ? STORE_ENOTFOUND : rc;
  }
  rc = sqlite_db_exec(d, "UPDATE email_codes SET used = 1 WHERE id = ?", "s", id);
  if (rc == STORE_OK)
    rc = sqlite_db_exec(d,
                        "UPDATE users SET email_verified = 1,"
                        " password_hash = coalesce(?2, password_hash) WHERE id = ?1",
                        "ss", user, password);
  if (rc != STORE_OK) return rc;
  return sqlite_user_load(d, user, result);
}
