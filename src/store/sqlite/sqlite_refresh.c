/* SQLite operations on refresh tokens: only their hashes are stored; a token
 * rotates once, and one presented again revokes its whole family. Store thread. */
#include "store/sqlite/sqlite_internal.h"

/* A new login's row; past LOGINS_MAX live ones, the least recently used end. */
static int record_login(sqlite_db_t *d, json_t *p, const char *user, const char *family,
                        int64_t expires, json_t *ended) {
  int64_t now = sqlite_db_pint(p, "now_ms", 0);
  const char *ip = sqlite_db_pstr(p, "ip");
  int status = sqlite_db_exec(d,
                              "INSERT INTO logins (family_id, user_id, device_name, ip,"
                              " created_at_ms, last_used_at_ms, expires_at_ms)"
                              " VALUES (?, ?, ?, ?, ?, ?, ?)",
                              "ssssiii", family, user, sqlite_db_pstr(p, "device_name"),
                              ip ? ip : "", now, now, expires);
  if (status != STORE_OK) return status;
  sqlite3_stmt *st = sqlite_db_query(d,
                                     "SELECT family_id FROM logins WHERE user_id = ? AND ended = 0"
                                     " AND expires_at_ms > ?"
                                     " ORDER BY last_used_at_ms DESC, family_id LIMIT -1 OFFSET ?",
                                     "sii", user, now, (int64_t)LOGINS_MAX);
  if (!st) return STORE_EUNAVAILABLE;
  int rc;
  while ((rc = sqlite_db_step(d, st)) == 1) json_array_append_new(ended, sqlite_db_col_str(st, 0));
  sqlite3_reset(st);
  if (rc < 0) return rc;
  return sqlite_login_end_families(d, ended);
}

/* Rows that can no longer matter are dropped on the way, so that the tables stay
 * bounded by the logins and rotations of one token lifetime: a new login drops
 * the user's expired tokens and ended or expired logins, a rotation its family's
 * expired tokens. An expired token presented is refused whether or not its row
 * is still there. */
static int drop_expired_of_user(sqlite_db_t *d, const char *user, int64_t now) {
  int status = sqlite_db_exec(
      d, "DELETE FROM refresh_tokens WHERE user_id = ? AND expires_at_ms <= ?", "si", user, now);
  if (status == STORE_OK)
    status = sqlite_db_exec(
        d, "DELETE FROM logins WHERE user_id = ? AND (ended = 1 OR expires_at_ms <= ?)", "si", user,
        now);
  return status;
}

int sqlite_refresh_create(sqlite_db_t *d, json_t *p, json_t **result) {
  const char *hash = sqlite_db_pstr(p, "token_hash"), *user = sqlite_db_pstr(p, "user_id");
  const char *family = sqlite_db_pstr(p, "family_id");
  if (!hash || !user || !family) return STORE_EINVAL;
  int64_t expires = sqlite_db_pint(p, "expires_at_ms", 0);
  int64_t now = sqlite_db_pint(p, "now_ms", 0);
  if (now > 0 && drop_expired_of_user(d, user, now) != STORE_OK) return STORE_EUNAVAILABLE;
  int status =
      sqlite_db_exec(d,
                     "INSERT INTO refresh_tokens (token_hash, user_id, family_id, expires_at_ms)"
                     " VALUES (?, ?, ?, ?)",
                     "sssi", hash, user, family, expires);
  json_t *ended = json_array();
  if (status == STORE_OK && sqlite_db_pstr(p, "device_name"))
    status = record_login(d, p, user, family, expires, ended);
  if (status != STORE_OK) {
    json_decref(ended);
    return status;
  }
  *result = json_pack("{s:o}", "ended", ended);
  return STORE_OK;
}

static int revoke_family(sqlite_db_t *d, const char *family) {
  int status =
      sqlite_db_exec(d, "UPDATE refresh_tokens SET revoked = 1 WHERE family_id = ?", "s", family);
  if (status == STORE_OK)
    status = sqlite_db_exec(d, "UPDATE logins SET ended = 1 WHERE family_id = ?", "s", family);
  return status;
}

/* A token presented a second time means it leaked: the whole family goes, and
 * that revocation must commit even though the answer is an error. */
int sqlite_refresh_rotate(sqlite_db_t *d, json_t *p, json_t **result) {
  const char *hash = sqlite_db_pstr(p, "token_hash"), *next = sqlite_db_pstr(p, "new_token_hash");
  if (!hash || !next) return STORE_EINVAL;
  sqlite3_stmt *st = sqlite_db_query(d,
                                     "SELECT user_id, family_id, expires_at_ms, rotated, revoked "
                                     "FROM refresh_tokens WHERE token_hash = ?",
                                     "s", hash);
  if (!st) return STORE_EUNAVAILABLE;
  int rc = sqlite_db_step(d, st);
  if (rc <= 0) return rc < 0 ? rc : STORE_ENOTFOUND;
  json_t *out = json_pack("{s:o,s:o}", "user_id", sqlite_db_col_str(st, 0), "family_id",
                          sqlite_db_col_str(st, 1));
  int64_t expires = sqlite3_column_int64(st, 2);
  int rotated = sqlite3_column_int(st, 3), revoked = sqlite3_column_int(st, 4);
  const char *user = json_string_value(json_object_get(out, "user_id"));
  const char *family = json_string_value(json_object_get(out, "family_id"));
  int status = STORE_OK;
  if (rotated) {
    status = revoke_family(d, family);
    d->keep_on_error = 1;
    if (status == STORE_OK) status = STORE_EREVOKED;
  } else if (revoked || expires <= sqlite_db_pint(p, "now_ms", 0)) {
    status = STORE_ENOTFOUND;
  } else {
    status =
        sqlite_db_exec(d, "DELETE FROM refresh_tokens WHERE family_id = ? AND expires_at_ms <= ?",
                       "si", family, sqlite_db_pint(p, "now_ms", 0));
    if (status == STORE_OK)
      status = sqlite_db_exec(d, "UPDATE refresh_tokens SET rotated = 1 WHERE token_hash = ?", "s",
                              hash);
    if (status == STORE_OK)
      status = sqlite_db_exec(
          d,
          "INSERT INTO refresh_tokens (token_hash, user_id, family_id, expires_at_ms)"
          " VALUES (?, ?, ?, ?)",
          "sssi", next, user, family, sqlite_db_pint(p, "new_expires_at_ms", 0));
    if (status == STORE_OK)
      status = sqlite_db_exec(d,
                              "UPDATE logins SET last_used_at_ms = ?, expires_at_ms = ?,"
                              " ip = coalesce(?, ip) WHERE family_id = ?",
                              "iiss", sqlite_db_pint(p, "now_ms", 0),
                              sqlite_db_pint(p, "new_expires_at_ms", 0), sqlite_db_pstr(p, "ip"),
                              family);
  }
  if (status != STORE_OK) {
    json_decref(out);
    return status;
  }
  *result = out;
  return STORE_OK;
}

/* Answers whose login it ended, so that its access tokens and sessions can end
 * too. */
int sqlite_refresh_revoke(sqlite_db_t *d, json_t *p, json_t **result) {
  const char *hash = sqlite_db_pstr(p, "token_hash");
  if (!hash) return STORE_EINVAL;
  sqlite3_stmt *st = sqlite_db_query(
      d, "SELECT user_id, family_id FROM refresh_tokens WHERE token_hash = ?", "s", hash);
  if (!st) return STORE_EUNAVAILABLE;
  int rc = sqlite_db_step(d, st);
  if (rc < 0) return rc;
  if (rc == 0) {
    *result = json_object();
    return STORE_OK;
  }
  json_t *out = json_pack("{s:o, s:o}", "user_id", sqlite_db_col_str(st, 0), "family_id",
                          sqlite_db_col_str(st, 1));
  int status = revoke_family(d, json_string_value(json_object_get(out, "family_id")));
  if (status != STORE_OK) {
    json_decref(out);
    return status;
  }
  *result = out;
  return STORE_OK;
}

int sqlite_refresh_revoke_user(sqlite_db_t *d, json_t *p, json_t **result) {
  const char *user = sqlite_db_pstr(p, "user_id");
  if (!user) return STORE_EINVAL;
  int status =
      sqlite_db_exec(d, "UPDATE refresh_tokens SET revoked = 1 WHERE user_id = ?", "s", user);
  if (status == STORE_OK)
    status = sqlite_db_exec(d, "UPDATE logins SET ended = 1 WHERE user_id = ?", "s", user);
  if (status == STORE_OK) *result = json_object();
  return status;
}
