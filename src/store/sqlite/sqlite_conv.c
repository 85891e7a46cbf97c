/* SQLite operations on conversations, their participants, roles and read markers,
 * and the team inbox's side of instagram conversations: the owner's agents see
 * them (role "agent"), keep read markers of their own (agent_reads) and one of
 * them may be the assignee. Store thread. */
#include <stdio.h>
#include <string.h>

#include "parley/util.h"
#include "store/sqlite/sqlite_internal.h"

sqlite_now_t sqlite_now_iso(void) {
  sqlite_now_t n;
  util_iso8601(util_now_ms(), n.iso);
  return n;
}

/* A participant's id, name, avatar_url (the profile's, or null) and
 * avatar_id (an uploaded avatar's, or null) as new references, from columns
 * 0, 1, 7 and 8; shared when sh is given. */
typedef struct user_cols_s {
  json_t *id, *name, *avatar_url, *avatar_id;
} user_cols_t;

static void user_values(sqlite_conv_shared_t *sh, sqlite3_stmt *st, user_cols_t *u) {
  json_t *known = sh ? json_object_get(sh->users, (const char *)sqlite3_column_text(st, 0)) : NULL;
  if (known) {
    u->id = json_incref(json_array_get(known, 0));
    u->name = json_incref(json_array_get(known, 1));
    u->avatar_url = json_incref(json_array_get(known, 2));
    u->avatar_id = json_incref(json_array_get(known, 3));
    return;
  }
  u->id = sqlite_db_col_str(st, 0);
  u->name = sqlite_db_col_str(st, 1);
  u->avatar_url = sqlite_db_col_str(st, 7);
  u->avatar_id = sqlite_db_col_str(st, 8);
  if (sh && json_is_string(u->id))
    json_object_set_new(sh->users, json_string_value(u->id),
                        json_pack("[OOOO]", u->id, u->name, u->avatar_url, u->avatar_id));
}

static json_t *role_value(sqlite_conv_shared_t *sh, sqlite3_stmt *st) {
  const char *role = (const char *)sqlite3_column_text(st, 2);
  if (sh && role && strcmp(role, "admin") == 0) return json_incref(sh->admin);
  if (sh && role && strcmp(role, "member") == 0) return json_incref(sh->member);
  return sqlite_db_col_str(st, 2);
}

/* [{id, name, avatar_url, avatar_id (only when the user has an uploaded
 * avatar), role, last_read_seq, last_delivered_seq, mention_count,
 * muted_until (while in the future, else null)}] in the order they joined; participants_conv
 * serves the ORDER BY without a sort. sh may be NULL. */
static json_t *participants(sqlite_db_t *d, const char *conv_id, sqlite_conv_shared_t *sh,
                            const sqlite_now_t *now) {
  sqlite3_stmt *st =
      sqlite_db_query(d,
                      "SELECT p.user_id, u.name, p.role, p.last_read_seq, p.last_delivered_seq,"
                      " p.mention_count, CASE WHEN p.muted_until > ?2 THEN p.muted_until END,"
                      " u.avatar_url, u.avatar_id"
                      " FROM participants p"
                      " LEFT JOIN users u ON u.id = p.user_id WHERE p.conversation_id = ?1"
                      " ORDER BY p.rowid",
                      "ss", conv_id, now->iso);
  if (!st) return NULL;
  json_t *list = json_array();
  int rc;
  while ((rc = sqlite_db_step(d, st)) == 1) {
    json_t *one = json_object();
    user_cols_t u;
    user_values(sh, st, &u);
    json_object_set_new_nocheck(one, "id", u.id);
    json_object_set_new_nocheck(one, "name", u.name);
    json_object_set_new_nocheck(one, "avatar_url", u.avatar_url);
    if (json_is_string(u.avatar_id))
      json_object_set_new_nocheck(one, "avatar_id", u.avatar_id);
    else
      json_decref(u.avatar_id);
    json_object_set_new_nocheck(one, "role", role_value(sh, st));
    json_object_set_new_nocheck(one, "last_read_seq", json_integer(sqlite3_column_int64(st, 3)));
    json_object_set_new_nocheck(one, "last_delivered_seq",
                                json_integer(sqlite3_column_int64(st, 4)));
    json_object_set_new_nocheck(one, "mention_count", json_integer(sqlite3_column_int64(st, 5)));
    json_object_set_new_nocheck(one, "muted_until", sqlite_db_col_str(st, 6));
    json_array_append_new(list, one);
  }
  if (rc < 0) {
    json_decref(list);
    return NULL;
  }
  return list;
}

/* A conversation's own columns (SQLITE_CONV_COLS), without participants and last message. */
json_t *sqlite_conv_row(sqlite3_stmt *st) {
  json_t *c = json_object();
  json_object_set_new_nocheck(c, "id", sqlite_db_col_str(st, 0));
  json_object_set_new_nocheck(c, "type", sqlite_db_col_str(st, 1));
  json_object_set_new_nocheck(c, "name", sqlite_db_col_str(st, 2));
  json_object_set_new_nocheck(c, "last_seq", json_integer(sqlite3_column_int64(st, 3)));
  json_object_set_new_nocheck(c, "created_at", sqlite_db_col_str(st, 4));
  json_object_set_new_nocheck(c, "updated_at", sqlite_db_col_str(st, 5));
  if (sqlite3_column_type(st, 6) != SQLITE_NULL)
    json_object_set_new_nocheck(c, "contact_id", sqlite_db_col_str(st, 6));
  const char *type = (const char *)sqlite3_column_text(st, 1);
  if (type && strcmp(type, "instagram") == 0) {
    int64_t until = sqlite3_column_int64(st, 9);
    char iso[32];
    util_iso8601(until, iso);
    json_object_set_new_nocheck(c, "owner_id", sqlite_db_col_str(st, 7));
    json_object_set_new_nocheck(c, "assignee_id", sqlite_db_col_str(st, 8));
    json_object_set_new_nocheck(c, "automation_paused_until",
                                until > util_now_ms() ? json_string(iso) : json_null());
  }
  if (type && strcmp(type, "channel") == 0) {
    json_object_set_new_nocheck(c, "public", json_boolean(sqlite3_column_int(st, 10)));
    json_object_set_new_nocheck(c, "member_count", json_integer(sqlite3_column_int64(st, 11)));
    json_object_set_new_nocheck(c, "invite_token", sqlite_db_col_str(st, 12));
  }
  if (sqlite3_column_type(st, 13) == SQLITE_TEXT)
    json_object_set_new_nocheck(c, "avatar_id", sqlite_db_col_str(st, 13));
  return c;
}

json_t *sqlite_conv_me(sqlite_db_t *d, const char *conv_id, const char *user_id) {
  sqlite3_stmt *st = sqlite_db_query(d,
                                     "SELECT role, last_read_seq, mention_count, CASE WHEN"
                                     " muted_until > strftime('%Y-%m-%dT%H:%M:%fZ', 'now')"
                                     " THEN muted_until END FROM participants"
                                     " WHERE conversation_id = ? AND user_id = ?",
                                     "ss", conv_id, user_id);
  if (!st) return NULL;
  int rc = sqlite_db_step(d, st);
  if (rc < 0) return NULL;
  if (rc == 0) return json_null();
  json_t *me =
      json_pack("{s:s, s:o, s:I, s:I, s:o}", "id", user_id, "role", sqlite_db_col_str(st, 0),
                "last_read_seq", (json_int_t)sqlite3_column_int64(st, 1), "mention_count",
                (json_int_t)sqlite3_column_int64(st, 2), "muted_until", sqlite_db_col_str(st, 3));
  sqlite3_reset(st);
  return me;
}

/* [{id, name, last_read_seq}]: the agents of owner, in the order they were
 * added, with their read markers in conv_id. */
static json_t *agents(sqlite_db_t *d, const char *conv_id, const char *owner) {
  sqlite3_stmt *st = sqlite_db_query(
      d,
      "SELECT a.user_id, u.name, coalesce(r.last_read_seq, 0) FROM ig_agents a"
      " LEFT JOIN users u ON u.id = a.user_id LEFT JOIN agent_reads r"
      " ON r.conversation_id = ?1 AND r.user_id = a.user_id WHERE a.owner_id = ?2 ORDER BY a.rowid",
      "ss", conv_id, owner);
  if (!st) return NULL;
  json_t *list = json_array();
  int rc;
  while ((rc = sqlite_db_step(d, st)) == 1)
    json_array_append_new(list, json_pack("{s:o, s:o, s:I}", "id", sqlite_db_col_str(st, 0), "name",
                                          sqlite_db_col_str(st, 1), "last_read_seq",
                                          (json_int_t)sqlite3_column_int64(st, 2)));
  if (rc < 0) {
    json_decref(list);
    return NULL;
  }
  return list;
}

/* Adds participants, last_message and an instagram conversation's contact to a
 * conversation from sqlite_conv_row(); sh may be NULL. A channel gets no participants
 * (it may have 100,000) but the member user's own entry, "me", when user is
 * given. Returns 0, or -1 when a read failed (c is then left as it was). */
int sqlite_conv_complete(sqlite_db_t *d, json_t *c, sqlite_conv_shared_t *sh,
                         const sqlite_now_t *now, const char *user) {
  const char *id = json_string_value(json_object_get(c, "id"));
  int64_t last_seq = json_integer_value(json_object_get(c, "last_seq"));
  json_t *parts;
  if (json_object_get(c, "member_count")) {
    json_t *me = user ? sqlite_conv_me(d, id, user) : json_null();
    if (!me) return -1;
    if (!json_is_null(me)) json_object_set_new_nocheck(c, "me", me);
    json_t *last = last_seq > 0 ? sqlite_msg_by_seq(d, id, last_seq) : NULL;
    json_object_set_new_nocheck(c, "last_message", last ? last : json_null());
    return 0;
  }
  parts = participants(d, id, sh, now);
  if (!parts) return -1;
  const char *owner = json_string_value(json_object_get(c, "owner_id"));
  if (owner) {
    json_t *team = agents(d, id, owner);
    if (!team) {
      json_decref(parts);
      return -1;
    }
    json_object_set_new_nocheck(c, "agents", team);
  }
  json_t *last = last_seq > 0 ? sqlite_msg_by_seq(d, id, last_seq) : NULL;
  json_object_set_new_nocheck(c, "participants", parts);
  json_object_set_new_nocheck(c, "last_message", last ? last : json_null());
  const char *contact_id = json_string_value(json_object_get(c, "contact_id"));
  json_t *contact = contact_id ? sqlite_contact_load(d, contact_id) : NULL;
  if (contact) {
    json_object_del(contact, "owner_id");
    json_object_set_new_nocheck(c, "contact", contact);
  }
  return 0;
}

json_t *sqlite_conv_participant_ids(sqlite_db_t *d, const char *conv_id) {
  sqlite3_stmt *st =
      sqlite_db_query(d, "SELECT type, creator_id FROM conversations WHERE id = ?", "s", conv_id);
  if (!st) return NULL;
  int rc = sqlite_db_step(d, st);
  if (rc < 0) return NULL;
  char type[16] = "", creator[64] = "";
  if (rc == 1) {
    const char *t = (const char *)sqlite3_column_text(st, 0);
    const char *c = (const char *)sqlite3_column_text(st, 1);
    snprintf(type, sizeof(type), "%s", t ? t : "");
    snprintf(creator, sizeof(creator), "%s", c ? c : "");
  }
  sqlite3_reset(st);
  return sqlite_conv_member_ids(d, conv_id, type, creator, 0);
}

/* An owner has at most 50 agents (AGENT_ADD); room to spare. */
#define AGENTS_SORTED_MAX 64

typedef struct agent_row_s {
  sqlite3_int64 rowid;
  json_t *id;
} agent_row_t;

static int by_rowid(const void *a, const void *b) {
  sqlite3_int64 x = ((const agent_row_t *)a)->rowid, y = ((const agent_row_t *)b)->rowid;
  return x < y ? -1 : x > y;
}

json_t *sqlite_conv_member_ids(sqlite_db_t *d, const char *conv_id, const char *type,
                               const char *creator_id, int any_order) {
  /* A channel's members are reached by each instance's connected members. */
  if (strcmp(type, "channel") == 0) return json_array();
  /* In join order SQLite walks participants_conv and reads each row from the
   * table; in any order the primary key's index holds all it needs (about
   * 1,000 instructions less a member). */
  sqlite3_stmt *st =
      any_order
          ? sqlite_db_query(d, "SELECT user_id FROM participants WHERE conversation_id = ?", "s",
                            conv_id)
          : sqlite_db_query(
                d, "SELECT user_id FROM participants WHERE conversation_id = ? ORDER BY rowid", "s",
                conv_id);
  if (!st) return NULL;
  json_t *ids = json_array();
  int rc;
  while ((rc = sqlite_db_step(d, st)) == 1) json_array_append_new(ids, sqlite_db_col_str(st, 0));
  /* An instagram conversation's agents (of its creator, the account's owner)
   * hear of it too; other conversations have none to look up. In the order
   * they were added (rowid), sorted here: ORDER BY rowid on the owner's index
   * made SQLite open a sorter for every message, most often for no row. */
  if (rc == 0 && strcmp(type, "instagram") == 0 && creator_id) {
    st = sqlite_db_query(d, "SELECT user_id, rowid FROM ig_agents WHERE owner_id = ?", "s",
                         creator_id);
    agent_row_t rows[AGENTS_SORTED_MAX];
    size_t n = 0;
    while (st && (rc = sqlite_db_step(d, st)) == 1) {
      if (n == AGENTS_SORTED_MAX) { /* more than an owner may have: as they come */
        json_array_append_new(ids, sqlite_db_col_str(st, 0));
        continue;
      }
      rows[n].rowid = sqlite3_column_int64(st, 1);
      rows[n++].id = sqlite_db_col_str(st, 0);
    }
    qsort(rows, n, sizeof(rows[0]), by_rowid);
    for (size_t i = 0; i < n; i++) json_array_append_new(ids, rows[i].id);
  }
  if (rc < 0 || !st) {
    json_decref(ids);
    return NULL;
  }
  return ids;
}

/* 1 when user_id is an agent of the owner of the instagram conversation conv_id,
 * 0 when not, or a negative status. */
static int agent_of(sqlite_db_t *d, const char *conv_id, const char *user_id) {
  sqlite3_stmt *st = sqlite_db_query(d,
                                     "SELECT 1 FROM conversations c JOIN ig_agents a"
                                     " ON a.owner_id = c.creator_id WHERE c.id = ?"
                                     " AND c.type = 'instagram' AND a.user_id = ?",
                                     "ss", conv_id, user_id);
  if (!st) return STORE_EUNAVAILABLE;
  int rc = sqlite_db_step(d, st);
  if (rc >= 0) sqlite3_reset(st);
  return rc;
}

int sqlite_conv_role(sqlite_db_t *d, const char *conv_id, const char *user_id, const char **role) {
  sqlite3_stmt *st =
      sqlite_db_query(d, "SELECT role FROM participants WHERE conversation_id = ? AND user_id = ?",
                      "ss", conv_id, user_id);
  if (!st) return STORE_EUNAVAILABLE;
  int rc = sqlite_db_step(d, st);
  if (rc == 1 && role)
    *role = strcmp((const char *)sqlite3_column_text(st, 0), "admin") == 0 ? "admin" : "member";
  if (rc != 0) return rc;
  rc = agent_of(d, conv_id, user_id);
  if (rc == 1 && role) *role = "agent";
  return rc;
}

json_t *sqlite_conv_load(sqlite_db_t *d, const char *id) {
  return sqlite_conv_load_for(d, id, NULL);
}

json_t *sqlite_conv_load_for(sqlite_db_t *d, const char *id, const char *user) {
  sqlite3_stmt *st = sqlite_db_query(
      d, "SELECT " SQLITE_CONV_COLS " FROM conversations c WHERE c.id = ?", "s", id);
  if (!st || sqlite_db_step(d, st) != 1) return NULL;
  json_t *c = sqlite_conv_row(st);
  sqlite3_reset(st);
  sqlite_now_t now = sqlite_now_iso();
  if (sqlite_conv_complete(d, c, NULL, &now, user) != 0) {
    json_decref(c);
    return NULL;
  }
  return c;
}

/* Loads a conversation the user takes part in: STORE_OK with *conv set, or ENOTFOUND. */
static int load_visible(sqlite_db_t *d, const char *id, const char *user_id, const char **role,
                        json_t **conv) {
  if (!id || !user_id) return STORE_EINVAL;
  int rc = sqlite_conv_role(d, id, user_id, role);
  if (rc <= 0) return rc < 0 ? rc : STORE_ENOTFOUND;
  *conv = sqlite_conv_load_for(d, id, user_id);
  return *conv ? STORE_OK : STORE_EUNAVAILABLE;
}

static int users_exist(sqlite_db_t *d, json_t *ids) {
  size_t i;
  json_t *v;
  json_array_foreach(ids, i, v) {
    if (!json_is_string(v)) return STORE_EINVAL;
    sqlite3_stmt *st = sqlite_db_query(d, "SELECT 1 FROM users WHERE id = ? AND deleted = 0", "s",
                                       json_string_value(v));
    if (!st) return STORE_EUNAVAILABLE;
    int rc = sqlite_db_step(d, st);
    if (rc <= 0) return rc < 0 ? rc : STORE_EINVAL;
  }
  return STORE_OK;
}

/* A secret conversation's ciphertext is for people's devices: no bot is in
 * one (EINVAL). */
static int no_bots(sqlite_db_t *d, const char *creator, json_t *ids) {
  json_t *all = json_copy(ids);
  if (!all) return STORE_EUNAVAILABLE;
  json_array_append_new(all, json_string(creator));
  size_t i;
  json_t *v;
  int rc = STORE_OK;
  json_array_foreach(all, i, v) {
    sqlite3_stmt *st =
        sqlite_db_query(d, "SELECT 1 FROM bots WHERE id = ?", "s", json_string_value(v));
    int found = st ? sqlite_db_step(d, st) : STORE_EUNAVAILABLE;
    if (found == 1) sqlite3_reset(st);
    if (found != 0) {
      rc = found < 0 ? found : STORE_EINVAL;
      break;
    }
  }
  json_decref(all);
  return rc;
}

static int add_member(sqlite_db_t *d, const char *conv_id, const char *user_id, const char *role) {
  return sqlite_db_exec(d,
                        "INSERT INTO participants (conversation_id, user_id, role) VALUES (?, ?, ?)"
                        " ON CONFLICT DO NOTHING",
                        "sss", conv_id, user_id, role);
}

/* The key that makes a direct conversation unique per pair, and an instagram one
 * per (owner, contact). */
static int pair_key(const char *type, const char *creator, json_t *ids, const char *contact,
                    char *out, size_t n) {
  if (strcmp(type, "instagram") == 0) {
    if (!contact) return -1;
    snprintf(out, n, "ig|%s|%s", creator, contact);
    return 0;
  }
  const char *other = creator;
  size_t i;
  json_t *v;
  json_array_foreach(ids, i, v) if (strcmp(json_string_value(v), creator) != 0) other =
      json_string_value(v);
  const char *a = strcmp(creator, other) < 0 ? creator : other, *b = a == creator ? other : creator;
  /* A pair has one direct and one secret conversation, apart. */
  snprintf(out, n, "%s|%s|%s", strcmp(type, "secret") == 0 ? "sc" : "dm", a, b);
  return 0;
}

static int existing_by_key(sqlite_db_t *d, const char *key, json_t **result) {
  sqlite3_stmt *st =
      sqlite_db_query(d, "SELECT id FROM conversations WHERE pair_key = ?", "s", key);
  if (!st) return STORE_EUNAVAILABLE;
  int rc = sqlite_db_step(d, st);
  if (rc <= 0) return rc;
  char id[64];
  snprintf(id, sizeof(id), "%s", (const char *)sqlite3_column_text(st, 0));
  json_t *c = sqlite_conv_load(d, id);
  if (!c) return STORE_EUNAVAILABLE;
  *result = json_pack("{s:o,s:b}", "conversation", c, "created", 0);
  return 1;
}

int sqlite_conv_create(sqlite_db_t *d, json_t *p, json_t **result) {
  const char *type = sqlite_db_pstr(p, "type"), *creator = sqlite_db_pstr(p, "creator_id");
  const char *contact = sqlite_db_pstr(p, "contact_id");
  json_t *ids = json_object_get(p, "participant_ids");
  if (!type || !creator || !json_is_array(ids)) return STORE_EINVAL;
  int channel = strcmp(type, "channel") == 0;
  int group = strcmp(type, "group") == 0 || channel;
  if (!group && strcmp(type, "direct") != 0 && strcmp(type, "secret") != 0 &&
      strcmp(type, "instagram") != 0)
    return STORE_EINVAL;
  json_t *creator_only = json_pack("[s]", creator);
  int status = users_exist(d, creator_only);
  json_decref(creator_only);
  if (status == STORE_OK) status = users_exist(d, ids);
  if (status == STORE_OK && strcmp(type, "secret") == 0) status = no_bots(d, creator, ids);
  if (status != STORE_OK) return status;
  char key[160];
  int keyed = !group && pair_key(type, creator, ids, contact, key, sizeof(key)) == 0;
  if (!group && !keyed) return STORE_EINVAL;
  if (keyed) {
    int rc = existing_by_key(d, key, result);
    if (rc != 0) return rc < 0 ? rc : STORE_OK;
  }
  char id[25], now[32];
  util_new_id(id);
  sqlite_db_now(now);
  if (channel && (status = sqlite_channel_room(d, NULL, creator)) != STORE_OK) return status;
  /* An instagram conversation is named after its contact as stored now: the
   * caller's copy may predate a profile that renamed no conversation yet. */
  json_t *named = contact ? sqlite_contact_load(d, contact) : NULL;
  const char *name = named ? json_string_value(json_object_get(named, "name")) : NULL;
  if ((!name || !*name) && named) name = json_string_value(json_object_get(named, "username"));
  if (!name || !*name) name = sqlite_db_pstr(p, "name");
  status =
      sqlite_db_exec(d,
                     "INSERT INTO conversations (id, type, name, creator_id, contact_id, pair_key,"
                     " created_at, updated_at, public, member_count)"
                     " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                     "ssssssssdd", id, type, name, creator, contact, keyed ? key : NULL, now, now,
                     json_is_true(json_object_get(p, "public")), channel);
  json_decref(named);
  if (status == STORE_OK) status = add_member(d, id, creator, group ? "admin" : "member");
  size_t i;
  json_t *v;
  json_array_foreach(ids, i, v) {
    if (status == STORE_OK && !channel) status = add_member(d, id, json_string_value(v), "member");
  }
  if (status != STORE_OK) return status;
  json_t *c = sqlite_conv_load_for(d, id, creator);
  if (!c) return STORE_EUNAVAILABLE;
  *result = json_pack("{s:o,s:b}", "conversation", c, "created", 1);
  return STORE_OK;
}

int sqlite_conv_get(sqlite_db_t *d, json_t *p, json_t **result) {
  const char *id = sqlite_db_pstr(p, "id"), *user = sqlite_db_pstr(p, "user_id");
  if (!id) return STORE_EINVAL;
  if (user) return load_visible(d, id, user, NULL, result);
  *result = sqlite_conv_load(d, id);
  return *result ? STORE_OK : STORE_ENOTFOUND;
}

/* Group and channel admin check shared by rename and add: ENOTFOUND for
 * outsiders, EFORBIDDEN for members who are not admins or conversations that
 * are neither. */
static int require_admin(sqlite_db_t *d, const char *id, const char *user, json_t **conv) {
  const char *role = NULL;
  int status = load_visible(d, id, user, &role, conv);
  if (status != STORE_OK) return status;
  const char *type = json_string_value(json_object_get(*conv, "type"));
  if ((strcmp(type, "group") != 0 && strcmp(type, "channel") != 0) || strcmp(role, "admin") != 0) {
    json_decref(*conv);
    *conv = NULL;
    return STORE_EFORBIDDEN;
  }
  return STORE_OK;
}

int sqlite_conv_rename(sqlite_db_t *d, json_t *p, json_t **result) {
  const char *id = sqlite_db_pstr(p, "id"), *name = sqlite_db_pstr(p, "name");
  json_t *conv = NULL;
  if (!name) return STORE_EINVAL;
  int status = require_admin(d, id, sqlite_db_pstr(p, "user_id"), &conv);
  if (status != STORE_OK) return status;
  json_decref(conv);
  status = sqlite_db_exec(d, "UPDATE conversations SET name = ? WHERE id = ?", "ss", name, id);
  if (status != STORE_OK) return status;
  *result = sqlite_conv_load_for(d, id, sqlite_db_pstr(p, "user_id"));
  return *result ? STORE_OK : STORE_EUNAVAILABLE;
}

int sqlite_conv_avatar(sqlite_db_t *d, json_t *p, json_t **result) {
  const char *id = sqlite_db_pstr(p, "id"), *user = sqlite_db_pstr(p, "user_id");
  json_t *att = json_object_get(p, "attachment_id"), *conv = NULL;
  if (!user || !att || (!json_is_string(att) && !json_is_null(att))) return STORE_EINVAL;
  int status = require_admin(d, id, user, &conv);
  if (status != STORE_OK) return status;
  int group = strcmp(json_string_value(json_object_get(conv, "type")), "group") == 0;
  json_decref(conv);
  if (!group) return STORE_EFORBIDDEN;
  const char *aid = json_string_value(att);
  if (aid) {
    sqlite3_stmt *st = sqlite_db_query(d,
                                       "SELECT 1 FROM attachments WHERE id = ? AND user_id = ?"
                                       " AND thumbnail_key IS NOT NULL",
                                       "ss", aid, user);
    status = st ? sqlite_db_step(d, st) : STORE_EUNAVAILABLE;
    if (status < 0) return status;
    if (status == 0) return STORE_EINVAL;
    status = sqlite_db_exec(d, "UPDATE attachments SET sent = 1 WHERE id = ?", "s", aid);
    if (status != STORE_OK) return status;
  }
  status = sqlite_db_exec(d, "UPDATE conversations SET avatar_id = ? WHERE id = ?", "ss", aid, id);
  if (status != STORE_OK) return status;
  *result = sqlite_conv_load_for(d, id, user);
  return *result ? STORE_OK : STORE_EUNAVAILABLE;
}

int sqlite_conv_add_members(sqlite_db_t *d, json_t *p, json_t **result) {
  const char *id = sqlite_db_pstr(p, "id");
  json_t *ids = json_object_get(p, "user_ids"), *conv = NULL;
  if (!json_is_array(ids)) return STORE_EINVAL;
  int status = require_admin(d, id, sqlite_db_pstr(p, "user_id"), &conv);
  if (status != STORE_OK) return status;
  int channel = json_object_get(conv, "member_count") != NULL;
  json_decref(conv);
  status = users_exist(d, ids);
  size_t i;
  json_t *v;
  json_array_foreach(ids, i, v) {
    if (status == STORE_OK && channel)
      status = sqlite_channel_add(d, id, json_string_value(v), "member", NULL);
    else if (status == STORE_OK)
      status = add_member(d, id, json_string_value(v), "member");
  }
  if (status != STORE_OK) return status;
  *result = sqlite_conv_load_for(d, id, sqlite_db_pstr(p, "user_id"));
  return *result ? STORE_OK : STORE_EUNAVAILABLE;
}

int sqlite_conv_remove_member(sqlite_db_t *d, json_t *p, json_t **result) {
  const char *id = sqlite_db_pstr(p, "id"), *user = sqlite_db_pstr(p, "user_id");
  const char *member = sqlite_db_pstr(p, "member_id"), *role = NULL;
  json_t *conv = NULL;
  if (!member) return STORE_EINVAL;
  int status = load_visible(d, id, user, &role, &conv);
  if (status != STORE_OK) return status;
  const char *member_role = NULL;
  int rc = sqlite_conv_role(d, id, member, &member_role);
  if (rc <= 0 || strcmp(member_role, "agent") == 0) { /* an agent is not a member */
    json_decref(conv);
    return rc < 0 ? rc : STORE_ENOTFOUND;
  }
  if (strcmp(user, member) != 0 && strcmp(role, "admin") != 0) {
    json_decref(conv);
    return STORE_EFORBIDDEN;
  }
  if (json_object_get(conv, "member_count"))
    status = sqlite_channel_remove(d, id, member, strcmp(member_role, "admin") == 0);
  else
    status = sqlite_db_exec(d, "DELETE FROM participants WHERE conversation_id = ? AND user_id = ?",
                            "ss", id, member);
  json_decref(conv);
  if (status != STORE_OK) return status;
  conv = sqlite_conv_load_for(d, id, user);
  if (!conv) return STORE_EUNAVAILABLE;
  *result = json_pack("{s:o,s:s}", "conversation", conv, "removed_id", member);
  return STORE_OK;
}

int sqlite_conv_mark_read(sqlite_db_t *d, json_t *p, json_t **result) {
  const char *id = sqlite_db_pstr(p, "id"), *user = sqlite_db_pstr(p, "user_id");
  if (!id || !user || !json_is_integer(json_object_get(p, "seq"))) return STORE_EINVAL;
  sqlite3_stmt *st =
      sqlite_db_query(d,
                      "UPDATE participants SET last_read_seq = max(last_read_seq,"
                      " min(?3, (SELECT last_seq FROM conversations WHERE id = ?1))),"
                      " last_delivered_seq = max(last_delivered_seq,"
                      " min(?3, (SELECT last_seq FROM conversations WHERE id = ?1)))"
                      " WHERE conversation_id = ?1 AND user_id = ?2 RETURNING last_read_seq",
                      "ssi", id, user, sqlite_db_pint(p, "seq", 0));
  if (!st) return STORE_EUNAVAILABLE;
  int rc = sqlite_db_step(d, st), participant = rc == 1;
  if (rc == 0) {
    /* Not a participant: an agent's own marker. */
    if ((rc = agent_of(d, id, user)) <= 0) return rc < 0 ? rc : STORE_ENOTFOUND;
    st = sqlite_db_query(d,
                         "INSERT INTO agent_reads (conversation_id, user_id, last_read_seq)"
                         " VALUES (?1, ?2, max(0, min(?3, (SELECT last_seq FROM conversations"
                         " WHERE id = ?1)))) ON CONFLICT DO UPDATE SET last_read_seq ="
                         " max(last_read_seq, excluded.last_read_seq) RETURNING last_read_seq",
                         "ssi", id, user, sqlite_db_pint(p, "seq", 0));
    if (!st) return STORE_EUNAVAILABLE;
    rc = sqlite_db_step(d, st);
  }
  if (rc <= 0) return rc < 0 ? rc : STORE_ENOTFOUND;
  json_int_t read = (json_int_t)sqlite3_column_int64(st, 0);
  sqlite3_reset(st);
  /* The mentions left unread: a count, scanned only when there were some. */
  int status = participant ? sqlite_db_exec(d,
                                            "UPDATE participants SET mention_count ="
                                            " " SQLITE_MENTIONS_AFTER("participants.last_read_seq")
                                            " WHERE conversation_id = ? AND user_id = ?"
                                            " AND mention_count > 0",
                                            "ss", id, user)
                           : STORE_OK;
  if (status != STORE_OK) return status;
  *result = json_pack("{s:I}", "last_read_seq", read);
  return STORE_OK;
}

int sqlite_conv_settings(sqlite_db_t *d, json_t *p, json_t **result) {
  const char *id = sqlite_db_pstr(p, "id"), *user = sqlite_db_pstr(p, "user_id");
  json_t *until = json_object_get(p, "muted_until");
  if (!id || !user || !until || (!json_is_string(until) && !json_is_null(until)))
    return STORE_EINVAL;
  int status = sqlite_db_exec(
      d, "UPDATE participants SET muted_until = ? WHERE conversation_id = ? AND user_id = ?", "sss",
      json_string_value(until), id, user);
  if (status != STORE_OK) return status;
  if (sqlite3_changes(d->db) == 0) return STORE_ENOTFOUND;
  *result = sqlite_conv_load_for(d, id, user); /* a channel's "me" */
  return *result ? STORE_OK : STORE_EUNAVAILABLE;
}

int sqlite_conv_mark_delivered(sqlite_db_t *d, json_t *p, json_t **result) {
  const char *id = sqlite_db_pstr(p, "id"), *user = sqlite_db_pstr(p, "user_id");
  if (!id || !user || !json_is_integer(json_object_get(p, "seq"))) return STORE_EINVAL;
  sqlite3_stmt *st =
      sqlite_db_query(d,
                      "UPDATE participants SET last_delivered_seq = max(last_delivered_seq,"
                      " last_read_seq, min(?3, (SELECT last_seq FROM conversations WHERE id = ?1)))"
                      " WHERE conversation_id = ?1 AND user_id = ?2 RETURNING last_delivered_seq",
                      "ssi", id, user, sqlite_db_pint(p, "seq", 0));
  if (!st) return STORE_EUNAVAILABLE;
  int rc = sqlite_db_step(d, st);
  if (rc <= 0) return rc < 0 ? rc : STORE_ENOTFOUND;
  *result = json_pack("{s:I}", "last_delivered_seq", (json_int_t)sqlite3_column_int64(st, 0));
  sqlite3_reset(st);
  return STORE_OK;
}

/* 1 when user_id may be assigned conv's instagram conversation (its owner or
 * one of the owner's agents), 0 when not, or a negative status. */
static int assignable(sqlite_db_t *d, json_t *conv, const char *user_id) {
  const char *owner = json_string_value(json_object_get(conv, "owner_id"));
  if (owner && strcmp(owner, user_id) == 0) return 1;
  sqlite3_stmt *st = sqlite_db_query(
      d, "SELECT 1 FROM ig_agents WHERE owner_id = ? AND user_id = ?", "ss", owner, user_id);
  if (!st) return STORE_EUNAVAILABLE;
  int rc = sqlite_db_step(d, st);
  if (rc >= 0) sqlite3_reset(st);
  return rc;
}

int sqlite_conv_assign(sqlite_db_t *d, json_t *p, json_t **result) {
  const char *id = sqlite_db_pstr(p, "id"), *user = sqlite_db_pstr(p, "user_id");
  json_t *assignee = json_object_get(p, "assignee_id"), *conv = NULL;
  if (!assignee || (!json_is_string(assignee) && !json_is_null(assignee))) return STORE_EINVAL;
  int status = load_visible(d, id, user, NULL, &conv);
  if (status != STORE_OK) return status;
  const char *type = json_string_value(json_object_get(conv, "type"));
  int rc = strcmp(type, "instagram") != 0 ? STORE_EFORBIDDEN : 1;
  if (rc == 1 && json_is_string(assignee)) rc = assignable(d, conv, json_string_value(assignee));
  json_decref(conv);
  if (rc <= 0) return rc < 0 ? rc : STORE_EINVAL;
  status = sqlite_db_exec(d, "UPDATE conversations SET assignee_id = ? WHERE id = ?", "ss",
                          json_string_value(assignee), id);
  if (status != STORE_OK) return status;
  *result = sqlite_conv_load(d, id);
  return *result ? STORE_OK : STORE_EUNAVAILABLE;
}

/* Pages by user id, which the participants primary key orders. */
int sqlite_conv_members(sqlite_db_t *d, json_t *p, json_t **result) {
  const char *id = sqlite_db_pstr(p, "id"), *user = sqlite_db_pstr(p, "user_id");
  const char *cursor = sqlite_db_pstr(p, "cursor");
  int64_t limit = sqlite_db_pint(p, "limit", 50);
  if (!id || !user || limit < 1 || limit > 1000) return STORE_EINVAL;
  int rc = sqlite_conv_role(d, id, user, NULL);
  if (rc <= 0) return rc < 0 ? rc : STORE_ENOTFOUND;
  sqlite3_stmt *st = sqlite_db_query(d,
                                     "SELECT p.user_id, u.name, p.role, u.avatar_url,"
                                     " u.avatar_id FROM participants p"
                                     " LEFT JOIN users u ON u.id = p.user_id"
                                     " WHERE p.conversation_id = ? AND p.user_id > ?"
                                     " ORDER BY p.user_id LIMIT ?",
                                     "ssi", id, cursor ? cursor : "", limit + 1);
  if (!st) return STORE_EUNAVAILABLE;
  json_t *members = json_array();
  int64_t n = 0;
  while ((rc = sqlite_db_step(d, st)) == 1 && n++ < limit) {
    json_t *m = json_pack("{s:o, s:o, s:o, s:o}", "id", sqlite_db_col_str(st, 0), "name",
                          sqlite_db_col_str(st, 1), "role", sqlite_db_col_str(st, 2), "avatar_url",
                          sqlite_db_col_str(st, 3));
    if (m && sqlite3_column_type(st, 4) == SQLITE_TEXT)
      json_object_set_new_nocheck(m, "avatar_id", sqlite_db_col_str(st, 4));
    json_array_append_new(members, m);
  }
  if (rc == 1) sqlite3_reset(st);
  if (rc < 0) {
    json_decref(members);
    return rc;
  }
  json_t *last = json_array_get(members, json_array_size(members) - 1);
  *result = json_pack("{s:o, s:o}", "members", members, "next_cursor",
                      rc == 1 && last ? json_incref(json_object_get(last, "id")) : json_null());
  return STORE_OK;
}
