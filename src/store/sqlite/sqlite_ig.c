/* SQLite operations for Instagram: connected accounts (token kept encrypted, as
 * given), contacts with their tags and variables, and webhook events deduplicated
 * by mid. Store thread. */
#include <string.h>

#include "parley/util.h"
#include "store/sqlite/sqlite_internal.h"

static json_t *account_row(sqlite3_stmt *st, int with_token) {
  json_t *a =
      json_pack("{s:o,s:o,s:o,s:o,s:o}", "id", sqlite_db_col_str(st, 0), "user_id",
                sqlite_db_col_str(st, 1), "ig_user_id", sqlite_db_col_str(st, 2), "username",
                sqlite_db_col_str(st, 3), "connected_at", sqlite_db_col_str(st, 5));
  if (with_token) json_object_set_new(a, "token_cipher", sqlite_db_col_str(st, 4));
  return a;
}

#define ACCOUNT_COLS "id, user_id, ig_user_id, username, token_cipher, connected_at"

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
      " connected_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (user_id) DO UPDATE SET"
      " ig_user_id = excluded.ig_user_id, username = excluded.username,"
      " token_cipher = excluded.token_cipher, connected_at = excluded.connected_at",
      "ssssss", id, user, ig, sqlite_db_pstr(p, "username"), token, now);
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

#define CONTACT_COLS "id, owner_id, ig_user_id, username, tags, variables, last_inbound_at"

static json_t *contact_row(sqlite3_stmt *st) {
  return json_pack("{s:o,s:o,s:o,s:o,s:o,s:o,s:o}", "id", sqlite_db_col_str(st, 0), "owner_id",
                   sqlite_db_col_str(st, 1), "ig_user_id", sqlite_db_col_str(st, 2), "username",
                   sqlite_db_col_str(st, 3), "tags", sqlite_db_col_json(st, 4, json_array),
                   "variables", sqlite_db_col_json(st, 5, json_object), "last_inbound_at",
                   sqlite_db_col_str(st, 6));
}

static int contact_by(sqlite_db_t *d, const char *owner, const char *id, const char *ig,
                      json_t **result) {
  sqlite3_stmt *st =
      id ? sqlite_db_query(d, "SELECT " CONTACT_COLS " FROM contacts WHERE id = ? AND owner_id = ?",
                           "ss", id, owner)
         : sqlite_db_query(
               d, "SELECT " CONTACT_COLS " FROM contacts WHERE ig_user_id = ? AND owner_id = ?",
               "ss", ig, owner);
  if (!st) return STORE_EUNAVAILABLE;
  int rc = sqlite_db_step(d, st);
  if (rc <= 0) return rc < 0 ? rc : STORE_ENOTFOUND;
  *result = contact_row(st);
  return STORE_OK;
}

int sqlite_contact_upsert(sqlite_db_t *d, json_t *p, json_t **result) {
  const char *owner = sqlite_db_pstr(p, "owner_id"), *ig = sqlite_db_pstr(p, "ig_user_id");
  if (!owner || !ig) return STORE_EINVAL;
  char id[25];
  util_new_id(id);
  int status = sqlite_db_exec(
      d,
      "INSERT INTO contacts (id, owner_id, ig_user_id, username, last_inbound_at)"
      " VALUES (?, ?, ?, ?, ?) ON CONFLICT (owner_id, ig_user_id) DO UPDATE SET"
      " username = coalesce(excluded.username, username),"
      " last_inbound_at = coalesce(excluded.last_inbound_at, last_inbound_at)",
      "sssss", id, owner, ig, sqlite_db_pstr(p, "username"), sqlite_db_pstr(p, "last_inbound_at"));
  if (status != STORE_OK) return status;
  return contact_by(d, owner, NULL, ig, result);
}

int sqlite_contact_get(sqlite_db_t *d, json_t *p, json_t **result) {
  const char *owner = sqlite_db_pstr(p, "owner_id"), *id = sqlite_db_pstr(p, "id");
  const char *ig = sqlite_db_pstr(p, "ig_user_id");
  if (!owner || (!id && !ig)) return STORE_EINVAL;
  return contact_by(d, owner, id, ig, result);
}

int sqlite_contact_list(sqlite_db_t *d, json_t *p, json_t **result) {
  const char *owner = sqlite_db_pstr(p, "owner_id");
  if (!owner) return STORE_EINVAL;
  sqlite3_stmt *st = sqlite_db_query(
      d, "SELECT " CONTACT_COLS " FROM contacts WHERE owner_id = ? ORDER BY rowid", "s", owner);
  if (!st) return STORE_EUNAVAILABLE;
  json_t *list = json_array();
  int rc;
  while ((rc = sqlite_db_step(d, st)) == 1) json_array_append_new(list, contact_row(st));
  if (rc < 0) {
    json_decref(list);
    return rc;
  }
  *result = json_pack("{s:o}", "contacts", list);
  return STORE_OK;
}

/* Tags are a set kept in first-added order; variables merge key by key. */
int sqlite_contact_update(sqlite_db_t *d, json_t *p, json_t **result) {
  const char *owner = sqlite_db_pstr(p, "owner_id"), *id = sqlite_db_pstr(p, "id");
  json_t *add = json_object_get(p, "add_tags"), *set = json_object_get(p, "set_variables"),
         *c = NULL;
  if (!owner || !id || (add && !json_is_array(add)) || (set && !json_is_object(set)))
    return STORE_EINVAL;
  int status = contact_by(d, owner, id, NULL, &c);
  if (status != STORE_OK) return status;
  json_t *tags = json_object_get(c, "tags"), *vars = json_object_get(c, "variables"), *t, *have;
  size_t i, k;
  json_array_foreach(add, i, t) {
    int dup = !json_is_string(t);
    json_array_foreach(tags, k, have) dup = dup || json_equal(have, t);
    if (!dup) json_array_append(tags, t);
  }
  if (set) json_object_update(vars, set);
  status = sqlite_db_exec(d, "UPDATE contacts SET tags = ?, variables = ? WHERE id = ?", "jjs",
                          tags, vars, id);
  json_decref(c);
  if (status != STORE_OK) return status;
  return contact_by(d, owner, id, NULL, result);
}

int sqlite_event_insert(sqlite_db_t *d, json_t *p, json_t **result) {
  json_t *events = json_object_get(p, "events"), *e;
  if (!json_is_array(events)) return STORE_EINVAL;
  json_t *inserted = json_array();
  int dups = 0, status = STORE_OK;
  size_t i;
  char now[32];
  sqlite_db_now(now);
  json_array_foreach(events, i, e) {
    json_t *payload = json_object_get(e, "payload");
    char id[25];
    util_new_id(id);
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
  *result = json_pack("{s:o,s:i}", "inserted", inserted, "duplicates", dups);
  return STORE_OK;
}

int sqlite_event_list_pending(sqlite_db_t *d, json_t *p, json_t **result) {
  int64_t limit = sqlite_db_pint(p, "limit", 100);
  sqlite3_stmt *st =
      sqlite_db_query(d,
                      "SELECT id, mid, payload, processed, created_at FROM webhook_events"
                      " WHERE processed = 0 ORDER BY rowid LIMIT ?",
                      "i", limit > 0 ? limit : 100);
  if (!st) return STORE_EUNAVAILABLE;
  json_t *list = json_array();
  int rc;
  while ((rc = sqlite_db_step(d, st)) == 1)
    json_array_append_new(
        list,
        json_pack("{s:o,s:o,s:o,s:b,s:o}", "id", sqlite_db_col_str(st, 0), "mid",
                  sqlite_db_col_str(st, 1), "payload", sqlite_db_col_json(st, 2, json_object),
                  "processed", sqlite3_column_int(st, 3), "created_at", sqlite_db_col_str(st, 4)));
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
