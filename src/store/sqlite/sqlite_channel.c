/* SQLite operations on channels: joining by invite token or by id when public,
 * invite tokens, roles, the public directory and a user's channel ids. A
 * channel's members are rows of participants like any conversation's, but no
 * operation reads them all: the row keeps member_count, moved in the same
 * transaction as each join and leave. Store thread. */
#include <stdio.h>
#include <string.h>

#include "parley/util.h"
#include "store/sqlite/sqlite_internal.h"

/* 1 when the query's first column, an integer, reaches max; 0 when not, or a
 * negative status. */
static int at_least(sqlite_db_t *d, sqlite3_stmt *st, int64_t max) {
  if (!st) return STORE_EUNAVAILABLE;
  int rc = sqlite_db_step(d, st);
  if (rc < 0) return rc;
  int full = rc == 1 && sqlite3_column_int64(st, 0) >= max;
  if (rc == 1) sqlite3_reset(st);
  return full;
}

int sqlite_channel_room(sqlite_db_t *d, const char *conv_id, const char *user_id) {
  /* The user's channels through the participants_user index; bounded by the
   * limit itself. */
  int rc = at_least(d,
                    sqlite_db_query(d,
                                    "SELECT count(*) FROM (SELECT 1 FROM participants p"
                                    " JOIN conversations c ON c.id = p.conversation_id"
                                    " WHERE p.user_id = ? AND c.type = 'channel' LIMIT ?)",
                                    "si", user_id, (int64_t)CHANNELS_PER_USER_MAX),
                    CHANNELS_PER_USER_MAX);
  if (rc == 0 && conv_id)
    rc = at_least(
        d, sqlite_db_query(d, "SELECT member_count FROM conversations WHERE id = ?", "s", conv_id),
        CHANNEL_MEMBERS_MAX);
  return rc < 0 ? rc : rc ? STORE_ECONFLICT : STORE_OK;
}

int sqlite_channel_add(sqlite_db_t *d, const char *conv_id, const char *user_id, const char *role,
                       int *added) {
  if (added) *added = 0;
  int rc = sqlite_conv_role(d, conv_id, user_id, NULL);
  if (rc != 0) return rc < 0 ? rc : STORE_OK; /* a member already */
  int status = sqlite_channel_room(d, conv_id, user_id);
  if (status == STORE_OK)
    status = sqlite_db_exec(d,
                            "INSERT INTO participants (conversation_id, user_id, role)"
                            " VALUES (?, ?, ?)",
                            "sss", conv_id, user_id, role);
  if (status == STORE_OK)
    status = sqlite_db_exec(
        d, "UPDATE conversations SET member_count = member_count + 1 WHERE id = ?", "s", conv_id);
  if (status == STORE_OK && added) *added = 1;
  return status;
}

/* The number of admins of conv_id, or a negative status. */
static int admins(sqlite_db_t *d, const char *conv_id) {
  sqlite3_stmt *st =
      sqlite_db_query(d,
                      "SELECT count(*) FROM (SELECT 1 FROM participants WHERE conversation_id = ?"
                      " AND role = 'admin' LIMIT 2)",
                      "s", conv_id);
  if (!st) return STORE_EUNAVAILABLE;
  int rc = sqlite_db_step(d, st);
  if (rc <= 0) return rc < 0 ? rc : 0;
  int n = sqlite3_column_int(st, 0);
  sqlite3_reset(st);
  return n;
}

int sqlite_channel_remove(sqlite_db_t *d, const char *conv_id, const char *user_id, int is_admin) {
  if (is_admin) {
    int n = admins(d, conv_id);
    if (n < 0) return n;
    sqlite3_stmt *st =
        sqlite_db_query(d, "SELECT member_count FROM conversations WHERE id = ?", "s", conv_id);
    if (!st || sqlite_db_step(d, st) != 1) return STORE_EUNAVAILABLE;
    int64_t members = sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    if (n < 2 && members > 1) return STORE_ECONFLICT; /* someone must still post */
  }
  int status =
      sqlite_db_exec(d, "DELETE FROM participants WHERE conversation_id = ? AND user_id = ?", "ss",
                     conv_id, user_id);
  if (status == STORE_OK && sqlite3_changes(d->db) > 0)
    status = sqlite_db_exec(
        d, "UPDATE conversations SET member_count = max(member_count - 1, 0) WHERE id = ?", "s",
        conv_id);
  return status;
}

/* The channel's id and whether it is public, found by token or id; 1 found,
 * 0 not, or a negative status. */
static int find_channel(sqlite_db_t *d, json_t *p, char id[32], int *public) {
  const char *token = sqlite_db_pstr(p, "token"), *by_id = sqlite_db_pstr(p, "id");
  sqlite3_stmt *st =
      token ? sqlite_db_query(d,
                              "SELECT id, public FROM conversations WHERE invite_token = ?"
                              " AND type = 'channel'",
                              "s", token)
            : sqlite_db_query(
                  d, "SELECT id, public FROM conversations WHERE id = ? AND type = 'channel'", "s",
                  by_id);
  if (!st) return STORE_EUNAVAILABLE;
  int rc = sqlite_db_step(d, st);
  if (rc != 1) return rc;
  snprintf(id, 32, "%s", (const char *)sqlite3_column_text(st, 0));
  *public = sqlite3_column_int(st, 1);
  sqlite3_reset(st);
  return 1;
}

int sqlite_channel_join(sqlite_db_t *d, json_t *p, json_t **result) {
  const char *user = sqlite_db_pstr(p, "user_id");
  if (!user || (!sqlite_db_pstr(p, "token") && !sqlite_db_pstr(p, "id"))) return STORE_EINVAL;
  char id[32];
  int public = 0, added = 0;
  int rc = find_channel(d, p, id, &public);
  if (rc <= 0) return rc < 0 ? rc : STORE_ENOTFOUND;
  if (!sqlite_db_pstr(p, "token") && !public) {
    /* A private channel is found by id only by its members. */
    rc = sqlite_conv_role(d, id, user, NULL);
    if (rc <= 0) return rc < 0 ? rc : STORE_ENOTFOUND;
  }
  int status = sqlite_channel_add(d, id, user, "member", &added);
  if (status != STORE_OK) return status;
  json_t *conv = sqlite_conv_load_for(d, id, user);
  if (!conv) return STORE_EUNAVAILABLE;
  *result = json_pack("{s:o, s:b}", "conversation", conv, "joined", added);
  return STORE_OK;
}

/* STORE_OK when user is an admin of the channel id; EINVAL when it is not a
 * channel, EFORBIDDEN for a member, ENOTFOUND for anyone else. */
static int channel_admin(sqlite_db_t *d, const char *id, const char *user) {
  const char *role = NULL;
  if (!id || !user) return STORE_EINVAL;
  int rc = sqlite_conv_role(d, id, user, &role);
  if (rc <= 0) return rc < 0 ? rc : STORE_ENOTFOUND;
  sqlite3_stmt *st = sqlite_db_query(d, "SELECT type FROM conversations WHERE id = ?", "s", id);
  if (!st || sqlite_db_step(d, st) != 1) return STORE_EUNAVAILABLE;
  int channel = strcmp((const char *)sqlite3_column_text(st, 0), "channel") == 0;
  sqlite3_reset(st);
  if (!channel) return STORE_EINVAL;
  return strcmp(role, "admin") == 0 ? STORE_OK : STORE_EFORBIDDEN;
}

int sqlite_channel_invite(sqlite_db_t *d, json_t *p, json_t **result) {
  const char *id = sqlite_db_pstr(p, "id"), *user = sqlite_db_pstr(p, "user_id");
  int status = channel_admin(d, id, user);
  if (status != STORE_OK) return status;
  char token[33] = "";
  if (!json_is_true(json_object_get(p, "revoke"))) {
    unsigned char raw[16];
    util_random(raw, sizeof(raw));
    for (size_t i = 0; i < sizeof(raw); i++) snprintf(token + 2 * i, 3, "%02x", raw[i]);
  }
  status = sqlite_db_exec(d, "UPDATE conversations SET invite_token = ? WHERE id = ?", "ss",
                          token[0] ? token : NULL, id);
  if (status != STORE_OK) return status;
  *result = sqlite_conv_load_for(d, id, user);
  return *result ? STORE_OK : STORE_EUNAVAILABLE;
}

int sqlite_channel_set_role(sqlite_db_t *d, json_t *p, json_t **result) {
  const char *id = sqlite_db_pstr(p, "id"), *user = sqlite_db_pstr(p, "user_id");
  const char *member = sqlite_db_pstr(p, "member_id"), *role = sqlite_db_pstr(p, "role");
  if (!member || !role || (strcmp(role, "admin") != 0 && strcmp(role, "member") != 0))
    return STORE_EINVAL;
  int status = channel_admin(d, id, user);
  if (status != STORE_OK) return status;
  const char *was = NULL;
  int rc = sqlite_conv_role(d, id, member, &was);
  if (rc <= 0) return rc < 0 ? rc : STORE_ENOTFOUND;
  if (strcmp(was, "admin") == 0 && strcmp(role, "member") == 0) {
    int n = admins(d, id);
    if (n < 0) return n;
    if (n < 2) return STORE_ECONFLICT; /* the last admin stays one */
  }
  status = sqlite_db_exec(
      d, "UPDATE participants SET role = ? WHERE conversation_id = ? AND user_id = ?", "sss", role,
      id, member);
  if (status != STORE_OK) return status;
  sqlite3_stmt *st = sqlite_db_query(d, "SELECT name FROM users WHERE id = ?", "s", member);
  json_t *name = st && sqlite_db_step(d, st) == 1 ? sqlite_db_col_str(st, 0) : json_null();
  if (st) sqlite3_reset(st);
  *result = json_pack("{s:{s:s, s:o, s:s}}", "member", "id", member, "name", name, "role", role);
  return STORE_OK;
}

/* Newest first by id (ids are time-prefixed); the cursor is the last id. */
int sqlite_channel_list_public(sqlite_db_t *d, json_t *p, json_t **result) {
  const char *user = sqlite_db_pstr(p, "user_id"), *cursor = sqlite_db_pstr(p, "cursor");
  int64_t limit = sqlite_db_pint(p, "limit", 50);
  if (!user || limit < 1 || limit > 1000) return STORE_EINVAL;
  sqlite3_stmt *st = sqlite_db_query(d,
                                     "SELECT id FROM conversations WHERE type = 'channel'"
                                     " AND public = 1 AND (?1 IS NULL OR id < ?1)"
                                     " ORDER BY id DESC LIMIT ?2",
                                     "si", cursor, limit + 1);
  if (!st) return STORE_EUNAVAILABLE;
  json_t *ids = json_array(), *channels = json_array();
  int rc;
  while ((rc = sqlite_db_step(d, st)) == 1) json_array_append_new(ids, sqlite_db_col_str(st, 0));
  int more = json_array_size(ids) > (size_t)limit;
  size_t i;
  json_t *v;
  json_array_foreach(ids, i, v) {
    if (rc < 0 || i >= (size_t)limit) break;
    json_t *c = sqlite_conv_load_for(d, json_string_value(v), user);
    if (!c) {
      rc = STORE_EUNAVAILABLE;
      break;
    }
    json_array_append_new(channels, c);
  }
  json_decref(ids);
  if (rc < 0) {
    json_decref(channels);
    return rc;
  }
  json_t *last = json_array_get(channels, json_array_size(channels) - 1);
  *result = json_pack("{s:o, s:o}", "channels", channels, "next_cursor",
                      more && last ? json_incref(json_object_get(last, "id")) : json_null());
  return STORE_OK;
}

static int channel_ids(sqlite_db_t *d, const char *user, json_t **out) {
  sqlite3_stmt *st = sqlite_db_query(d,
                                     "SELECT p.conversation_id FROM participants p"
                                     " JOIN conversations c ON c.id = p.conversation_id"
                                     " WHERE p.user_id = ? AND c.type = 'channel' LIMIT ?",
                                     "si", user, (int64_t)CHANNELS_PER_USER_MAX);
  if (!st) return STORE_EUNAVAILABLE;
  json_t *ids = json_array();
  int rc;
  while ((rc = sqlite_db_step(d, st)) == 1) json_array_append_new(ids, sqlite_db_col_str(st, 0));
  if (rc < 0) {
    json_decref(ids);
    return rc;
  }
  *out = ids;
  return STORE_OK;
}

int sqlite_channel_ids_of_user(sqlite_db_t *d, json_t *p, json_t **result) {
  const char *user = sqlite_db_pstr(p, "user_id");
  if (!user) return STORE_EINVAL;
  json_t *ids = NULL;
  int rc = channel_ids(d, user, &ids);
  if (rc == STORE_OK) *result = json_pack("{s:o}", "ids", ids);
  return rc;
}

int sqlite_channel_ids_of_users(sqlite_db_t *d, json_t *p, json_t **result) {
  json_t *users = json_object_get(p, "user_ids");
  size_t n = json_array_size(users), i;
  if (n == 0 || n > CHANNEL_IDS_BATCH_MAX) return STORE_EINVAL;
  json_t *v;
  json_array_foreach(users, i, v) if (!json_is_string(v)) return STORE_EINVAL;
  /* One indexed read per user (participants by user_id), in one job. */
  json_t *out = json_object();
  json_array_foreach(users, i, v) {
    json_t *ids = NULL;
    int rc = channel_ids(d, json_string_value(v), &ids);
    if (rc != STORE_OK) {
      json_decref(out);
      return rc;
    }
    json_object_set_new(out, json_string_value(v), ids);
  }
  *result = json_pack("{s:o}", "ids", out);
  return STORE_OK;
}
