/* SQLite operations on the team inbox: the agents an owner of an Instagram
 * account adds, who then see and answer the owner's instagram conversations
 * (sqlite_conv.c reads ig_agents for that). Store thread. */
#include <string.h>

#include "parley/util.h"
#include "store/sqlite/sqlite_internal.h"

#define AGENTS_MAX 50

static json_t *agent_row(sqlite3_stmt *st) {
  return json_pack("{s:o, s:o, s:o}", "id", sqlite_db_col_str(st, 0), "name",
                   sqlite_db_col_str(st, 1), "added_at", sqlite_db_col_str(st, 2));
}

static int agent_by(sqlite_db_t *d, const char *owner, const char *user, json_t **agent) {
  sqlite3_stmt *st = sqlite_db_query(d,
                                     "SELECT a.user_id, u.name, a.added_at FROM ig_agents a"
                                     " LEFT JOIN users u ON u.id = a.user_id"
                                     " WHERE a.owner_id = ? AND a.user_id = ?",
                                     "ss", owner, user);
  if (!st) return STORE_EUNAVAILABLE;
  int rc = sqlite_db_step(d, st);
  if (rc == 1) *agent = agent_row(st);
  if (rc >= 0) sqlite3_reset(st);
  return rc;
}

/* One query answering an integer (a count or an existence test). */
static int count(sqlite_db_t *d, sqlite3_stmt *st, int64_t *n) {
  if (!st) return STORE_EUNAVAILABLE;
  int rc = sqlite_db_step(d, st);
  if (rc < 0) return rc;
  *n = rc == 1 ? sqlite3_column_int64(st, 0) : 0;
  sqlite3_reset(st);
  return STORE_OK;
}

int sqlite_agent_add(sqlite_db_t *d, json_t *p, json_t **result) {
  const char *owner = sqlite_db_pstr(p, "owner_id"), *user = sqlite_db_pstr(p, "user_id");
  json_t *agent = NULL;
  if (!owner || !user) return STORE_EINVAL;
  if (strcmp(owner, user) == 0) return STORE_EINVAL;
  int rc = agent_by(d, owner, user, &agent);
  if (rc < 0) return rc;
  if (rc == 1) {
    *result = json_pack("{s:o, s:b}", "agent", agent, "created", 0);
    return STORE_OK;
  }
  int64_t exists = 0, n = 0;
  rc = count(d, sqlite_db_query(d, "SELECT 1 FROM users WHERE id = ? AND deleted = 0", "s", user),
             &exists);
  if (rc == STORE_OK)
    rc = count(
        d, sqlite_db_query(d, "SELECT count(*) FROM ig_agents WHERE owner_id = ?", "s", owner), &n);
  if (rc != STORE_OK) return rc;
  if (!exists) return STORE_EINVAL;
  if (n >= AGENTS_MAX) return STORE_EFORBIDDEN;
  char now[32];
  sqlite_db_now(now);
  rc = sqlite_db_exec(d, "INSERT INTO ig_agents (owner_id, user_id, added_at) VALUES (?, ?, ?)",
                      "sss", owner, user, now);
  if (rc != STORE_OK) return rc;
  rc = agent_by(d, owner, user, &agent);
  if (rc <= 0) return rc < 0 ? rc : STORE_EUNAVAILABLE;
  *result = json_pack("{s:o, s:b}", "agent", agent, "created", 1);
  return STORE_OK;
}

/* The agent's read markers go with it; an assignment to it is cleared. */
int sqlite_agent_remove(sqlite_db_t *d, json_t *p, json_t **result) {
  const char *owner = sqlite_db_pstr(p, "owner_id"), *user = sqlite_db_pstr(p, "user_id");
  if (!owner || !user) return STORE_EINVAL;
  int rc = sqlite_db_exec(d, "DELETE FROM ig_agents WHERE owner_id = ? AND user_id = ?", "ss",
                          owner, user);
  if (rc != STORE_OK) return rc;
  if (sqlite3_changes(d->db) == 0) return STORE_ENOTFOUND;
  rc =
      sqlite_db_exec(d,
                     "DELETE FROM agent_reads WHERE user_id = ?2 AND conversation_id IN"
                     " (SELECT id FROM conversations WHERE creator_id = ?1 AND type = 'instagram')",
                     "ss", owner, user);
  if (rc == STORE_OK)
    rc = sqlite_db_exec(d,
                        "UPDATE conversations SET assignee_id = NULL WHERE creator_id = ?"
                        " AND type = 'instagram' AND assignee_id = ?",
                        "ss", owner, user);
  if (rc != STORE_OK) return rc;
  *result = json_object();
  return STORE_OK;
}

int sqlite_agent_list(sqlite_db_t *d, json_t *p, json_t **result) {
  const char *owner = sqlite_db_pstr(p, "owner_id");
  if (!owner) return STORE_EINVAL;
  sqlite3_stmt *st = sqlite_db_query(d,
                                     "SELECT a.user_id, u.name, a.added_at FROM ig_agents a"
                                     " LEFT JOIN users u ON u.id = a.user_id WHERE a.owner_id = ?"
                                     " ORDER BY a.rowid",
                                     "s", owner);
  if (!st) return STORE_EUNAVAILABLE;
  json_t *list = json_array();
  int rc;
  while ((rc = sqlite_db_step(d, st)) == 1) json_array_append_new(list, agent_row(st));
  if (rc < 0) {
    json_decref(list);
    return rc;
  }
  *result = json_pack("{s:o}", "agents", list);
  return STORE_OK;
}
