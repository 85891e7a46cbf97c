/* SQLite operations on users; deleting one anonymises it and revokes its
 * refresh tokens. Store thread. */
#include <stdlib.h>
#include <string.h>

#include "parley/util.h"
#include "store/sqlite/sqlite_internal.h"

#define USER_COLS                                                                        \
  "id, email, name, avatar_url, status, created_at, deleted, password_hash, last_seen, " \
  "email_verified, avatar_id, kind"

/* user = {id, email, name, avatar_url, status, last_seen, created_at,
 * email_verified, deleted?}, from USER_COLS. */
static json_t *user_row(sqlite3_stmt *st, int with_hash) {
  json_t *u = json_object();
  json_object_set_new(u, "id", sqlite_db_col_str(st, 0));
  json_object_set_new(u, "email", sqlite_db_col_str(st, 1));
  json_object_set_new(u, "name", sqlite_db_col_str(st, 2));
  json_object_set_new(u, "avatar_url", sqlite_db_col_str(st, 3));
  json_object_set_new(u, "status", sqlite_db_col_str(st, 4));
  json_object_set_new(u, "last_seen", sqlite_db_col_str(st, 8));
  json_object_set_new(u, "created_at", sqlite_db_col_str(st, 5));
  json_object_set_new(u, "email_verified", json_boolean(sqlite3_column_int(st, 9)));
  if (sqlite3_column_int(st, 6)) json_object_set_new(u, "deleted", json_true());
  if (sqlite3_column_type(st, 10) == SQLITE_TEXT)
    json_object_set_new(u, "avatar_id", sqlite_db_col_str(st, 10));
  if (sqlite3_column_type(st, 11) == SQLITE_TEXT) /* a bot: "bot" */
    json_object_set_new(u, "kind", sqlite_db_col_str(st, 11));
  if (with_hash) json_object_set_new(u, "password_hash", sqlite_db_col_str(st, 7));
  return u;
}

int sqlite_user_load(sqlite_db_t *d, const char *id, json_t **result) {
  sqlite3_stmt *st = sqlite_db_query(d, "SELECT " USER_COLS " FROM users WHERE id = ?", "s", id);
  if (!st) return STORE_EUNAVAILABLE;
  int rc = sqlite_db_step(d, st);
  if (rc < 0) return rc;
  if (rc == 0) return STORE_ENOTFOUND;
  *result = user_row(st, 0);
  return STORE_OK;
}

int sqlite_user_create(sqlite_db_t *d, json_t *p, json_t **result) {
  const char *email = sqlite_db_pstr(p, "email"), *name = sqlite_db_pstr(p, "name");
  const char *hash = sqlite_db_pstr(p, "password_hash");
  if (!email || !name) return STORE_EINVAL;
  char id[25], now[32];
  util_new_id(id);
  sqlite_db_now(now);
  int status = sqlite_db_exec(
      d,
      "INSERT INTO users (id, email, name, password_hash, created_at, status, email_verified)"
      " VALUES (?, ?, ?, ?, ?, 'online', ?)",
      "sssssd", id, email, name, hash, now, json_is_true(json_object_get(p, "email_verified")));
  if (status != STORE_OK) return status;
  return sqlite_user_load(d, id, result);
}

int sqlite_user_get_by_email(sqlite_db_t *d, json_t *p, json_t **result) {
  const char *email = sqlite_db_pstr(p, "email");
  if (!email) return STORE_EINVAL;
  sqlite3_stmt *st = sqlite_db_query(
      d, "SELECT " USER_COLS " FROM users WHERE email = ? AND deleted = 0", "s", email);
  if (!st) return STORE_EUNAVAILABLE;
  int rc = sqlite_db_step(d, st);
  if (rc <= 0) return rc < 0 ? rc : STORE_ENOTFOUND;
  *result = user_row(st, 1);
  return STORE_OK;
}

int sqlite_user_get(sqlite_db_t *d, json_t *p, json_t **result) {
  const char *id = sqlite_db_pstr(p, "id");
  if (!id) return STORE_EINVAL;
  return sqlite_user_load(d, id, result);
}

int sqlite_user_search(sqlite_db_t *d, json_t *p, json_t **result) {
  const char *q = sqlite_db_pstr(p, "q");
  int64_t limit = sqlite_db_pint(p, "limit", 20);
  if (!q) return STORE_EINVAL;
  if (limit <= 0 || limit > 1000) limit = 20;
  sqlite3_stmt *st =
      sqlite_db_query(d,
                      "SELECT " USER_COLS
                      " FROM users WHERE deleted = 0 AND"
                      " (substr(lower(name), 1, length(?1)) = lower(?1) OR email = lower(?1))"
                      " ORDER BY name, id LIMIT ?2",
                      "si", q, limit);
  if (!st) return STORE_EUNAVAILABLE;
  json_t *users = json_array();
  int rc;
  while ((rc = sqlite_db_step(d, st)) == 1) json_array_append_new(users, user_row(st, 0));
  if (rc < 0) {
    json_decref(users);
    return rc;
  }
  *result = json_pack("{s:o}", "users", users);
  return STORE_OK;
}

int sqlite_user_update(sqlite_db_t *d, json_t *p, json_t **result) {
  const char *id = sqlite_db_pstr(p, "id");
  json_t *avatar = json_object_get(p, "avatar_url");
  if (!id || (avatar && !json_is_string(avatar) && !json_is_null(avatar))) return STORE_EINVAL;
  /* ?5 says whether avatar_url was given at all: absent keeps it, null clears it. */
  int status =
      sqlite_db_exec(d,
                     "UPDATE users SET name = coalesce(?2, name), status = coalesce(?3, status),"
                     " avatar_url = CASE WHEN ?5 THEN ?4 ELSE avatar_url END"
                     " WHERE id = ?1 AND deleted = 0",
                     "ssssd", id, sqlite_db_pstr(p, "name"), sqlite_db_pstr(p, "status"),
                     json_string_value(avatar), avatar != NULL);
  if (status != STORE_OK) return status;
  if (sqlite3_changes(d->db) == 0) return STORE_ENOTFOUND;
  return sqlite_user_load(d, id, result);
}

int sqlite_user_delete(sqlite_db_t *d, json_t *p, json_t **result) {
  const char *id = sqlite_db_pstr(p, "id");
  if (!id) return STORE_EINVAL;
  int status =
      sqlite_db_exec(d,
                     "UPDATE users SET name = 'Deleted user', email = NULL, avatar_url = NULL,"
                     " status = 'offline', deleted = 1, password_hash = NULL WHERE id = ?",
                     "s", id);
  if (status != STORE_OK) return status;
  if (sqlite3_changes(d->db) == 0) return STORE_ENOTFOUND;
  status = sqlite_db_exec(d, "UPDATE refresh_tokens SET revoked = 1 WHERE user_id = ?", "s", id);
  if (status == STORE_OK)
    status = sqlite_db_exec(d, "UPDATE logins SET ended = 1 WHERE user_id = ?", "s", id);
  if (status == STORE_OK) *result = json_object();
  return status;
}

int sqlite_user_get_many(sqlite_db_t *d, json_t *p, json_t **result) {
  json_t *ids = json_object_get(p, "ids");
  if (!json_is_array(ids) || json_array_size(ids) > 1000) return STORE_EINVAL;
  char *list = json_dumps(ids, JSON_COMPACT);
  if (!list) return STORE_EUNAVAILABLE;
  sqlite3_stmt *st = sqlite_db_query(d,
                                     "SELECT " USER_COLS
                                     " FROM users WHERE deleted = 0 AND id IN"
                                     " (SELECT value FROM json_each(?))",
                                     "s", list);
  free(list);
  if (!st) return STORE_EUNAVAILABLE;
  json_t *users = json_array();
  int rc;
  while ((rc = sqlite_db_step(d, st)) == 1) json_array_append_new(users, user_row(st, 0));
  if (rc < 0) {
    json_decref(users);
    return rc;
  }
  *result = json_pack("{s:o}", "users", users);
  return STORE_OK;
}

int sqlite_user_seen(sqlite_db_t *d, json_t *p, json_t **result) {
  const char *id = sqlite_db_pstr(p, "id");
  int64_t at = sqlite_db_pint(p, "at_ms", -1);
  if (!id || at < 0) return STORE_EINVAL;
  char iso[32];
  util_iso8601(at, iso);
  /* ISO-8601 with milliseconds in UTC compares as text in time order. */
  int status = sqlite_db_exec(d,
                              "UPDATE users SET last_seen = ?2 WHERE id = ?1 AND deleted = 0"
                              " AND (last_seen IS NULL OR last_seen < ?2)",
                              "ss", id, iso);
  if (status != STORE_OK) return status;
  if (sqlite3_changes(d->db) == 0) {
    sqlite3_stmt *st =
        sqlite_db_query(d, "SELECT 1 FROM users WHERE id = ? AND deleted = 0", "s", id);
    if (!st) return STORE_EUNAVAILABLE;
    int rc = sqlite_db_step(d, st);
    if (rc <= 0) return rc < 0 ? rc : STORE_ENOTFOUND;
  }
  *result = json_object();
  return STORE_OK;
}

int sqlite_user_avatar(sqlite_db_t *d, json_t *p, json_t **result) {
  const char *id = sqlite_db_pstr(p, "id");
  json_t *att = json_object_get(p, "attachment_id");
  if (!id || !att || (!json_is_string(att) && !json_is_null(att))) return STORE_EINVAL;
  const char *aid = json_string_value(att);
  if (aid) {
    sqlite3_stmt *st = sqlite_db_query(d,
                                       "SELECT 1 FROM attachments WHERE id = ? AND user_id = ?"
                                       " AND thumbnail_key IS NOT NULL",
                                       "ss", aid, id);
    int rc = st ? sqlite_db_step(d, st) : STORE_EUNAVAILABLE;
    if (rc < 0) return rc;
    if (rc == 0) return STORE_ENOTFOUND;
    rc = sqlite_db_exec(d, "UPDATE attachments SET sent = 1 WHERE id = ?", "s", aid);
    if (rc != STORE_OK) return rc;
  }
  int rc = sqlite_db_exec(d, "UPDATE users SET avatar_id = ? WHERE id = ? AND deleted = 0", "ss",
                          aid, id);
  if (rc != STORE_OK) return rc;
  return sqlite_user_load(d, id, result);
}
