/* SQLite operations on connected Instagram accounts (the token kept encrypted, as
 * given). Store thread. */
#include <string.h>

#include "parley/util.h"
#include "store/sqlite/sqlite_internal.h"

static json_t *account_row(sqlite3_stmt *st, int with_token) {
  json_t *a =
      json_pack("{s:o,s:o,s:o,s:o,s:o}", "id", sqlite_db_col_str(st, 0), "user_id",
                sqlite_db_col_str(st, 1), "ig_user_id", sqlite_db_col_str(st, 2), "username",
                sqlite_db_col_str(st, 3), "connected_at", sqlite_db_col_str(st, 5));
  json_object_set_new(a, "status", sqlite_db_col_str(st, 6));
  json_object_set_new(a, "status_error", sqlite_db_col_json(st, 7, json_null));
  json_object_set_new(a, "token_expires_at", sqlite_db_col_str(st, 8));
  json_object_set_new(a, "timezone", sqlite_db_col_str(st, 9));
  if (with_token) json_object_set_new(a, "token_cipher", sqlite_db_col_str(st, 4));
  return a;
}

#define ACCOUNT_COLS                                                                     \
  "id, user_id, ig_user_id, username, token_cipher, connected_at, status, status_error," \
  " token_expires_at, timezone"

static int account_by(sqlite_db_t *d, const char *user_id, const char *ig_user_id, int with_token,
                      json_t **result) {
  sqlite3_stmt *st =
      user_id
          ? sqlite_db_query(d, "SELECT " ACCOUNT_COLS " FROM instagram_accounts WHERE user_id = ?",
                            "s", user_id)
          : sqlite_db_query(d,
                            "SELECT " ACCOUNT_COLS " FROM instagram_accounts WHERE ig_user_id = ?",
                            "s", ig_user_id);
  if (!st) return STORE_EUNAVAILABLE;
  int rc = sqlite_db_step(d, st);
  if (rc <= 0) return rc < 0 ? rc : STORE_ENOTFOUND;
  *result = account_row(st, with_token);
  return STORE_OK;
}

/* One account per user and per Instagram account: reconnecting replaces the
 * user's own row; an Instagram account held by another user is a conflict. */
int sqlite_ig_account_upsert(sqlite_db_t *d, json_t *p, json_t **result) {
  const char *user = sqlite_db_pstr(p, "user_id"), *ig = sqlite_db_pstr(p, "ig_user_id");
  const char *token = sqlite_db_pstr(p, "token_cipher");
  if (!user || !ig || !token) return STORE_EINVAL;
  json_t *held = NULL;
  int status = account_by(d, NULL, ig, 0, &held);
  if (status == STORE_OK) {
    int other = strcmp(json_string_value(json_object_get(held, "user_id")), user) != 0;
    json_decref(held);
    if (other) return STORE_ECONFLICT;
  } else if (status != STORE_ENOTFOUND) {
    return status;
  }
  char id[25], now[32];
  util_new_id(id);
  sqlite_db_now(now);
  status = sqlite_db_exec(
      d,
      "INSERT INTO instagram_accounts (id, user_id, ig_user_id, username, token_cipher,"
      " connected_at, token_expires_at) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (user_id) DO"
      " UPDATE SET ig_user_id = excluded.ig_user_id, username = excluded.username,"
      " token_cipher = excluded.token_cipher, connected_at = excluded.connected_at,"
      " token_expires_at = excluded.token_expires_at, status = 'connected', status_error = NULL",
      "sssssss", id, user, ig, sqlite_db_pstr(p, "username"), token, now,
      sqlite_db_pstr(p, "token_expires_at"));
  if (status != STORE_OK) return status;
  return account_by(d, user, NULL, 0, result);
}

int sqlite_ig_account_get(sqlite_db_t *d, json_t *p, json_t **result) {
  const char *user = sqlite_db_pstr(p, "user_id"), *ig = sqlite_db_pstr(p, "ig_user_id");
  if (!user && !ig) return STORE_EINVAL;
  return account_by(d, user, ig, json_is_true(json_object_get(p, "with_token")), result);
}

int sqlite_ig_account_delete(sqlite_db_t *d, json_t *p, json_t **result) {
  const char *user = sqlite_db_pstr(p, "user_id");
  if (!user) return STORE_EINVAL;
  int status = sqlite_db_exec(d, "DELETE FROM instagram_accounts WHERE user_id = ?", "s", user);
  if (status != STORE_OK) return status;
  if (sqlite3_changes(d->db) == 0) return STORE_ENOTFOUND;
  *result = json_object();
  return STORE_OK;
}

/* Health and token refresh: each given field replaces the stored one. */
int sqlite_ig_account_update(sqlite_db_t *d, json_t *p, json_t **result) {
  const char *user = sqlite_db_pstr(p, "user_id"), *status = sqlite_db_pstr(p, "status");
  const char *token = sqlite_db_pstr(p, "token_cipher"), *if_token = sqlite_db_pstr(p, "if_token");
  const char *expires = sqlite_db_pstr(p, "token_expires_at");
  const char *tz = sqlite_db_pstr(p, "timezone");
  json_t *error = json_object_get(p, "status_error");
  if (!user || (error && !json_is_object(error) && !json_is_null(error))) return STORE_EINVAL;
  int rc = sqlite_db_exec(d,
                          "UPDATE instagram_accounts SET status = coalesce(?, status),"
                          " status_error = CASE WHEN ? THEN ? ELSE status_error END,"
                          " token_cipher = coalesce(?, token_cipher),"
                          " token_expires_at = coalesce(?, token_expires_at),"
                          " timezone = CASE WHEN ? THEN nullif(?, '') ELSE timezone END"
                          " WHERE user_id = ? AND (? IS NULL OR token_cipher = ?)",
                          "sdjssdssss", status, error != NULL, json_is_object(error) ? error : NULL,
                          token, expires, json_object_get(p, "timezone") != NULL, tz ? tz : "",
                          user, if_token, if_token);
  if (rc != STORE_OK) return rc;
  if (sqlite3_changes(d->db) == 0) {
    rc = account_by(d, user, NULL, 0, result);
    if (rc != STORE_OK) return rc;
    json_decref(*result);
    *result = NULL;
    return STORE_ECONFLICT;
  }
  return account_by(d, user, NULL, 0, result);
}

int sqlite_ig_account_list_due(sqlite_db_t *d, json_t *p, json_t **result) {
  const char *before = sqlite_db_pstr(p, "before");
  int64_t limit = sqlite_db_pint(p, "limit", 100);
  if (!before) return STORE_EINVAL;
  sqlite3_stmt *st = sqlite_db_query(d,
                                     "SELECT " ACCOUNT_COLS
                                     " FROM instagram_accounts"
                                     " WHERE status = 'connected' AND token_expires_at < ?"
                                     " ORDER BY token_expires_at LIMIT ?",
                                     "si", before, limit);
  if (!st) return STORE_EUNAVAILABLE;
  json_t *list = json_array();
  int rc;
  while ((rc = sqlite_db_step(d, st)) == 1) json_array_append_new(list, account_row(st, 1));
  if (rc < 0) {
    json_decref(list);
    return rc;
  }
  *result = json_pack("{s:o}", "accounts", list);
  return STORE_OK;
}

/* One instance refreshes a token: the claim is taken while the token is the
 * one the instance read and no other claim is live. */
int sqlite_ig_account_claim_refresh(sqlite_db_t *d, json_t *p, json_t **result) {
  const char *user = sqlite_db_pstr(p, "user_id"), *if_token = sqlite_db_pstr(p, "if_token");
  json_t *now = json_object_get(p, "now_ms"), *until = json_object_get(p, "until_ms");
  if (!user || !if_token || !json_is_integer(now) || !json_is_integer(until)) return STORE_EINVAL;
  int rc = sqlite_db_exec(d,
                          "UPDATE instagram_accounts SET refresh_until_ms = ? WHERE user_id = ?"
                          " AND token_cipher = ? AND (refresh_until_ms IS NULL"
                          " OR refresh_until_ms < ?)",
                          "issi", (int64_t)json_integer_value(until), user, if_token,
                          (int64_t)json_integer_value(now));
  if (rc != STORE_OK) return rc;
  int claimed = sqlite3_changes(d->db) > 0;
  rc = account_by(d, user, NULL, 0, result);
  if (rc != STORE_OK || claimed) return rc;
  json_decref(*result);
  *result = NULL;
  return STORE_ECONFLICT;
}
