/* SQLite operations on contacts: the Instagram users an owner talks with, with
 * their tags and variables (JSON text). Store thread. */
#include <stdio.h>
#include <string.h>

#include "parley/util.h"
#include "store/sqlite/sqlite_internal.h"

#define CONTACT_COLS                                                      \
  "id, owner_id, ig_user_id, username, tags, variables, last_inbound_at," \
  " automation_paused_until_ms"

/* automation_paused_until: the pause's end while it lasts, else null. */
static json_t *paused_until(sqlite3_stmt *st, int col) {
  int64_t until = sqlite3_column_int64(st, col);
  char iso[32];
  if (until <= util_now_ms()) return json_null();
  util_iso8601(until, iso);
  return json_string(iso);
}

static json_t *contact_row(sqlite3_stmt *st) {
  return json_pack("{s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o}", "id", sqlite_db_col_str(st, 0), "owner_id",
                   sqlite_db_col_str(st, 1), "ig_user_id", sqlite_db_col_str(st, 2), "username",
                   sqlite_db_col_str(st, 3), "tags", sqlite_db_col_json(st, 4, json_array),
                   "variables", sqlite_db_col_json(st, 5, json_object), "last_inbound_at",
                   sqlite_db_col_str(st, 6), "automation_paused_until", paused_until(st, 7));
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

/* The owner of the contact a pause is about: the contact of an instagram
 * conversation, or a contact of the user's own or of an owner the user is an
 * agent of. Sets *id and *owner (copies); STORE_OK or ENOTFOUND. */
static int pause_target(sqlite_db_t *d, json_t *p, char id[32], char owner[32]) {
  const char *conv = sqlite_db_pstr(p, "conversation_id"), *user = sqlite_db_pstr(p, "user_id");
  const char *contact = sqlite_db_pstr(p, "id");
  sqlite3_stmt *st =
      conv ? sqlite_db_query(d,
                             "SELECT contact_id, creator_id FROM conversations WHERE id = ?"
                             " AND type = 'instagram' AND contact_id IS NOT NULL",
                             "s", conv)
           : sqlite_db_query(d,
                             "SELECT id, owner_id FROM contacts WHERE id = ?1 AND (owner_id = ?2"
                             " OR owner_id IN (SELECT owner_id FROM ig_agents WHERE user_id = ?2))",
                             "ss", contact, user);
  if (!st) return STORE_EUNAVAILABLE;
  int rc = sqlite_db_step(d, st);
  if (rc <= 0) return rc < 0 ? rc : STORE_ENOTFOUND;
  snprintf(id, 32, "%s", (const char *)sqlite3_column_text(st, 0));
  snprintf(owner, 32, "%s", (const char *)sqlite3_column_text(st, 1));
  sqlite3_reset(st);
  return STORE_OK;
}

int sqlite_contact_pause(sqlite_db_t *d, json_t *p, json_t **result) {
  json_t *until = json_object_get(p, "until_ms");
  char id[32], owner[32];
  if ((!until || (!json_is_integer(until) && !json_is_null(until))) ||
      (!sqlite_db_pstr(p, "conversation_id") &&
       (!sqlite_db_pstr(p, "id") || !sqlite_db_pstr(p, "user_id"))))
    return STORE_EINVAL;
  int status = pause_target(d, p, id, owner);
  if (status != STORE_OK) return status;
  int64_t ms = json_is_integer(until) ? (int64_t)json_integer_value(until) : 0;
  status =
      json_is_integer(until)
          ? sqlite_db_exec(d, "UPDATE contacts SET automation_paused_until_ms = ? WHERE id = ?",
                           "is", ms, id)
          : sqlite_db_exec(d, "UPDATE contacts SET automation_paused_until_ms = NULL WHERE id = ?",
                           "s", id);
  /* Resumed: the steps the pause held are due now. */
  if (status == STORE_OK && !json_is_integer(until))
    status = sqlite_db_exec(
        d, "UPDATE scheduled_steps SET due_at_ms = ?, held_for = NULL WHERE held_for = ?", "is",
        util_now_ms(), id);
  if (status != STORE_OK) return status;
  return contact_by(d, owner, id, NULL, result);
}
