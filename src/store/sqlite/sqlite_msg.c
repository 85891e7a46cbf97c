/* SQLite operations on messages: history pages by seq (with the page's reactions
 * in one query), reads, edits, deletes and reactions. Inserts, the hot path, are
 * in sqlite_msg_insert.c. Store thread. */
#include <stdint.h>
#include <string.h>

#include "store/sqlite/sqlite_internal.h"

/* Adds user to emoji's entry of list ([{emoji, user_ids}]), making the entry at
 * the end when the emoji is new: entries stay in the order each emoji was first
 * used when rows come in the order they were made. */
static void add_reaction(json_t *list, const char *emoji, json_t *user) {
  json_t *entry = NULL, *v;
  size_t i;
  json_array_foreach(list, i, v) {
    if (strcmp(json_string_value(json_object_get(v, "emoji")), emoji) == 0) {
      entry = v;
      break;
    }
  }
  if (!entry) {
    entry = json_pack("{s:s,s:[]}", "emoji", emoji, "user_ids");
    json_array_append_new(list, entry);
  }
  json_array_append_new(json_object_get(entry, "user_ids"), user);
}

/* One message's reactions. */
static json_t *reactions(sqlite_db_t *d, const char *msg_id) {
  sqlite3_stmt *st = sqlite_db_query(
      d, "SELECT emoji, user_id FROM reactions WHERE message_id = ? ORDER BY rowid", "s", msg_id);
  json_t *list = json_array();
  if (!st) return list;
  while (sqlite_db_step(d, st) == 1)
    add_reaction(list, (const char *)sqlite3_column_text(st, 0), sqlite_db_col_str(st, 1));
  return list;
}

/* The reactions of a page (msgs: ascending seq, each with an empty "reactions")
 * in one query: a page holds every message of its conversation between its
 * first and last seq, so the range finds them, and the rows come message by
 * message in the page's order. Returns a store status. */
static int page_reactions(sqlite_db_t *d, const char *conv, json_t *msgs) {
  size_t n = json_array_size(msgs), i = 0;
  if (n == 0) return STORE_OK;
  json_int_t first = json_integer_value(json_object_get(json_array_get(msgs, 0), "seq"));
  json_int_t last = json_integer_value(json_object_get(json_array_get(msgs, n - 1), "seq"));
  sqlite3_stmt *st = sqlite_db_query(
      d,
      "SELECT m.seq, r.emoji, r.user_id FROM messages m JOIN reactions r ON r.message_id = m.id"
      " WHERE m.conversation_id = ? AND m.seq BETWEEN ? AND ? ORDER BY m.seq, r.rowid",
      "sii", conv, (int64_t)first, (int64_t)last);
  if (!st) return STORE_EUNAVAILABLE;
  int rc;
  while ((rc = sqlite_db_step(d, st)) == 1) {
    json_int_t seq = sqlite3_column_int64(st, 0);
    json_t *m = NULL;
    for (; i < n; i++) {
      m = json_array_get(msgs, i);
      if (json_integer_value(json_object_get(m, "seq")) >= seq) break;
    }
    if (i == n || json_integer_value(json_object_get(m, "seq")) != seq) continue;
    add_reaction(json_object_get(m, "reactions"), (const char *)sqlite3_column_text(st, 1),
                 sqlite_db_col_str(st, 2));
  }
  return rc < 0 ? rc : STORE_OK;
}

/* message from SQLITE_MSG_COLS at st's columns from b on, with its reactions
 * still to be filled in. */
static json_t *msg_row(sqlite3_stmt *st, int b) {
  json_t *m = json_object();
  json_object_set_new(m, "id", sqlite_db_col_str(st, b));
  json_object_set_new(m, "conversation_id", sqlite_db_col_str(st, b + 1));
  json_object_set_new(m, "seq", json_integer(sqlite3_column_int64(st, b + 2)));
  json_object_set_new(m, "sender_id", sqlite_db_col_str(st, b + 3));
  json_object_set_new(m, "text", sqlite_db_col_str(st, b + 4));
  json_object_set_new(m, "client_id", sqlite_db_col_str(st, b + 5));
  json_object_set_new(m, "source", sqlite_db_col_str(st, b + 6));
  json_object_set_new(m, "created_at", sqlite_db_col_str(st, b + 7));
  json_object_set_new(m, "edited_at", sqlite_db_col_str(st, b + 8));
  json_object_set_new(m, "deleted", json_boolean(sqlite3_column_int(st, b + 9)));
  json_object_set_new(m, "attachments", sqlite_db_col_json(st, b + 10, json_array));
  if (sqlite3_column_type(st, b + 11) != SQLITE_NULL)
    json_object_set_new(m, "external_id", sqlite_db_col_str(st, b + 11));
  if (sqlite3_column_type(st, b + 12) != SQLITE_NULL) {
    json_object_set_new(m, "status", sqlite_db_col_str(st, b + 12));
    json_object_set_new(m, "error", sqlite_db_col_json(st, b + 13, json_null));
  }
  if (sqlite3_column_type(st, b + 14) != SQLITE_NULL)
    json_object_set_new(m, "reply_to", sqlite_db_col_json(st, b + 14, json_null));
  if (sqlite3_column_type(st, b + 15) != SQLITE_NULL)
    json_object_set_new(m, "mentions", sqlite_db_col_json(st, b + 15, json_array));
  if (sqlite3_column_type(st, b + 16) != SQLITE_NULL) {
    json_t *extra = sqlite_db_col_json(st, b + 16, json_object);
    if (json_is_object(extra)) json_object_update(m, extra); /* ciphertexts, call */
    json_decref(extra);
  }
  json_object_set_new(m, "reactions", json_array());
  return m;
}

json_t *sqlite_msg_one(sqlite_db_t *d, sqlite3_stmt *st) {
  if (!st || sqlite_db_step(d, st) != 1) return NULL;
  json_t *m = msg_row(st, 0);
  sqlite3_reset(st);
  json_object_set_new(m, "reactions", reactions(d, json_string_value(json_object_get(m, "id"))));
  return m;
}

json_t *sqlite_msg_load(sqlite_db_t *d, const char *id) {
  return sqlite_msg_one(
      d, sqlite_db_query(d, "SELECT " SQLITE_MSG_COLS " FROM messages WHERE id = ?", "s", id));
}

static const char by_seq_sql[] =
    "SELECT " SQLITE_MSG_COLS " FROM messages WHERE conversation_id = ? AND seq = ?";

json_t *sqlite_msg_by_seq(sqlite_db_t *d, const char *conv_id, int64_t seq) {
  return sqlite_msg_one(d, sqlite_db_query(d, by_seq_sql, "si", conv_id, seq));
}

/* A message at st's row (from column b) that msg_row() would make of its
 * columns, its attachments and a list of reactions alone: none of
 * external_id, status, error, reply_to, mentions and payload. */
static int plain(sqlite3_stmt *st, int b) {
  for (int col = b + 11; col <= b + 16; col++)
    if (sqlite3_column_type(st, col) != SQLITE_NULL) return 0;
  return 1;
}

int sqlite_msg_rows_at(sqlite_db_t *d, sqlite3_stmt *st, int b, const store_conv_rows_t *rows,
                       void *w, json_t **tree) {
  *tree = NULL;
  if (!plain(st, b)) {
    *tree = msg_row(st, b);
    json_object_set_new(*tree, "reactions",
                        reactions(d, json_string_value(json_object_get(*tree, "id"))));
    return 0;
  }
  store_msg_row_t m;
  m.id = sqlite_db_col_text(st, b);
  m.conversation_id = sqlite_db_col_text(st, b + 1);
  m.seq = sqlite3_column_int64(st, b + 2);
  m.sender_id = sqlite_db_col_text(st, b + 3);
  m.text = sqlite_db_col_text(st, b + 4);
  m.client_id = sqlite_db_col_text(st, b + 5);
  m.source = sqlite_db_col_text(st, b + 6);
  m.created_at = sqlite_db_col_text(st, b + 7);
  m.edited_at = sqlite_db_col_text(st, b + 8);
  m.deleted = sqlite3_column_int(st, b + 9) != 0;
  /* Most messages have none, stored as "[]": no parse for those. */
  const char *att = (const char *)sqlite3_column_text(st, b + 10);
  int none = !att || (sqlite3_column_bytes(st, b + 10) == 2 && memcmp(att, "[]", 2) == 0);
  m.attachments = none ? NULL : sqlite_db_col_json(st, b + 10, json_array);
  m.reactions = sqlite3_column_int(st, b + 17) ? reactions(d, m.id.p) : json_array();
  int rc = (none || m.attachments) && m.reactions ? rows->message(w, &m) : -1;
  json_decref(m.attachments);
  json_decref(m.reactions);
  return rc;
}

int sqlite_msg_by_seq_rows(sqlite_db_t *d, const char *conv_id, int64_t seq,
                           const store_conv_rows_t *rows, void *w, json_t **tree) {
  /* Column 17: whether the message has reactions, so that most messages
   * (none) need no second read. */
  static const char sql[] = "SELECT " SQLITE_MSG_COLS
                            ", EXISTS (SELECT 1 FROM reactions r WHERE r.message_id = messages.id)"
                            " FROM messages WHERE conversation_id = ? AND seq = ?";
  *tree = NULL;
  sqlite3_stmt *st = sqlite_db_query(d, sql, "si", conv_id, seq);
  if (!st || sqlite_db_step(d, st) != 1) return 0;
  int rc = sqlite_msg_rows_at(d, st, 0, rows, w, tree);
  sqlite3_reset(st);
  return rc;
}

int sqlite_msg_answer(sqlite_db_t *d, json_t *msg, int created, json_t **result) {
  json_t *ids =
      sqlite_conv_participant_ids(d, json_string_value(json_object_get(msg, "conversation_id")));
  if (!ids) {
    json_decref(msg);
    return STORE_EUNAVAILABLE;
  }
  *result = json_pack("{s:o,s:o}", "message", msg, "participant_ids", ids);
  if (created >= 0) json_object_set_new(*result, "created", json_boolean(created));
  return STORE_OK;
}

/* Pages are ascending by seq. No cursor: the newest `limit`; before_seq: the newest
 * below it; after_seq: the oldest above it. One row past the limit says has_more. */
int sqlite_msg_list(sqlite_db_t *d, json_t *p, json_t **result) {
  const char *conv = sqlite_db_pstr(p, "conversation_id"), *user = sqlite_db_pstr(p, "user_id");
  int64_t limit = sqlite_db_pint(p, "limit", 50);
  int64_t before = sqlite_db_pint(p, "before_seq", INT64_MAX),
          after = sqlite_db_pint(p, "after_seq", -1);
  if (!conv || !user) return STORE_EINVAL;
  if (limit <= 0 || limit > 1000) limit = 50;
  int rc = sqlite_conv_role(d, conv, user, NULL);
  if (rc <= 0) return rc < 0 ? rc : STORE_ENOTFOUND;
  int ascending = after >= 0;
  sqlite3_stmt *st = ascending
                         ? sqlite_db_query(d,
                                           "SELECT " SQLITE_MSG_COLS
                                           " FROM messages WHERE conversation_id = ? AND seq > ?"
                                           " AND seq < ? ORDER BY seq LIMIT ?",
                                           "siii", conv, after, before, limit + 1)
                         : sqlite_db_query(d,
                                           "SELECT " SQLITE_MSG_COLS
                                           " FROM messages WHERE conversation_id = ? AND seq < ?"
                                           " ORDER BY seq DESC LIMIT ?",
                                           "sii", conv, before, limit + 1);
  if (!st) return STORE_EUNAVAILABLE;
  json_t *msgs = json_array();
  int n = 0;
  while ((rc = sqlite_db_step(d, st)) == 1 && n < limit) {
    json_t *m = msg_row(st, 0);
    if (ascending)
      json_array_append_new(msgs, m);
    else
      json_array_insert_new(msgs, 0, m);
    n++;
  }
  int more = rc == 1;
  if (rc >= 0) {
    sqlite3_reset(st);
    rc = page_reactions(d, conv, msgs);
  }
  if (rc < 0) {
    json_decref(msgs);
    return rc;
  }
  *result = json_pack("{s:o,s:b}", "messages", msgs, "has_more", more);
  return STORE_OK;
}

int sqlite_msg_get(sqlite_db_t *d, json_t *p, json_t **result) {
  const char *id = sqlite_db_pstr(p, "id"), *ext = sqlite_db_pstr(p, "external_id");
  json_t *m = NULL;
  if (id)
    m = sqlite_msg_load(d, id);
  else if (ext)
    m = sqlite_msg_one(
        d, sqlite_db_query(d, "SELECT " SQLITE_MSG_COLS " FROM messages WHERE external_id = ?", "s",
                           ext));
  else
    return STORE_EINVAL;
  if (!m) return STORE_ENOTFOUND;
  return sqlite_msg_answer(d, m, -1, result);
}

/* Loads the message a participant acts on: ENOTFOUND for anyone outside the
 * conversation, so ids cannot be probed. check_member false: an Instagram
 * contact ("ig:<id>") acting on its own message, as a member. */
static int load_for(sqlite_db_t *d, json_t *p, json_t **msg, const char **role) {
  const char *id = sqlite_db_pstr(p, "id"), *user = sqlite_db_pstr(p, "user_id");
  if (!id || !user) return STORE_EINVAL;
  *msg = sqlite_msg_load(d, id);
  if (!*msg) return STORE_ENOTFOUND;
  if (json_is_false(json_object_get(p, "check_member"))) {
    if (role) *role = "member";
    return STORE_OK;
  }
  int rc =
      sqlite_conv_role(d, json_string_value(json_object_get(*msg, "conversation_id")), user, role);
  if (rc > 0) return STORE_OK;
  json_decref(*msg);
  *msg = NULL;
  return rc < 0 ? rc : STORE_ENOTFOUND;
}

static int is_sender(json_t *msg, json_t *p) {
  return strcmp(json_string_value(json_object_get(msg, "sender_id")),
                sqlite_db_pstr(p, "user_id")) == 0;
}

static int reload(sqlite_db_t *d, json_t *msg, json_t **result) {
  json_t *m = sqlite_msg_load(d, json_string_value(json_object_get(msg, "id")));
  json_decref(msg);
  if (!m) return STORE_EUNAVAILABLE;
  return sqlite_msg_answer(d, m, -1, result);
}

int sqlite_msg_edit(sqlite_db_t *d, json_t *p, json_t **result) {
  const char *text = sqlite_db_pstr(p, "text");
  json_t *msg = NULL;
  if (!text) return STORE_EINVAL;
  int status = load_for(d, p, &msg, NULL);
  if (status != STORE_OK) return status;
  /* An end-to-end encrypted message (ciphertexts) is not the server's to edit. */
  if (!is_sender(msg, p) || json_is_true(json_object_get(msg, "deleted")) ||
      json_object_get(msg, "ciphertexts")) {
    json_decref(msg);
    return STORE_EFORBIDDEN;
  }
  char now[32];
  sqlite_db_now(now);
  status = sqlite_db_exec(d, "UPDATE messages SET text = ?, edited_at = ? WHERE id = ?", "sss",
                          text, now, json_string_value(json_object_get(msg, "id")));
  if (status != STORE_OK) {
    json_decref(msg);
    return status;
  }
  return reload(d, msg, result);
}

/* The sender, or an admin of a group conversation. */
int sqlite_msg_delete(sqlite_db_t *d, json_t *p, json_t **result) {
  json_t *msg = NULL;
  const char *role = NULL;
  int status = load_for(d, p, &msg, &role);
  if (status != STORE_OK) return status;
  if (!is_sender(msg, p) && strcmp(role, "admin") != 0) {
    json_decref(msg);
    return STORE_EFORBIDDEN;
  }
  json_t *removed = json_array();
  if (!json_is_true(json_object_get(msg, "deleted")))
    status = sqlite_attach_release(d, json_object_get(msg, "attachments"), removed);
  if (status == STORE_OK)
    status = sqlite_db_exec(d,
                            "UPDATE messages SET deleted = 1, text = NULL, payload = NULL,"
                            " attachments = '[]' WHERE id = ?",
                            "s", json_string_value(json_object_get(msg, "id")));
  if (status == STORE_OK)
    status = reload(d, msg, result);
  else
    json_decref(msg);
  if (status == STORE_OK) json_object_set(*result, "removed_files", removed);
  json_decref(removed);
  return status;
}

int sqlite_msg_react(sqlite_db_t *d, json_t *p, json_t **result) {
  const char *emoji = sqlite_db_pstr(p, "emoji"), *user = sqlite_db_pstr(p, "user_id");
  json_t *msg = NULL;
  if (!emoji || !user) return STORE_EINVAL;
  int status;
  if (json_is_false(json_object_get(p, "check_member"))) {
    /* A reaction from an Instagram contact ("ig:<id>"), not a participant. */
    msg = sqlite_msg_load(d, sqlite_db_pstr(p, "id") ? sqlite_db_pstr(p, "id") : "");
    status = msg ? STORE_OK : STORE_ENOTFOUND;
  } else {
    status = load_for(d, p, &msg, NULL);
  }
  if (status != STORE_OK) return status;
  const char *id = json_string_value(json_object_get(msg, "id"));
  if (json_is_false(json_object_get(p, "add")))
    status = sqlite_db_exec(
        d, "DELETE FROM reactions WHERE message_id = ? AND emoji = ? AND user_id = ?", "sss", id,
        emoji, user);
  else
    status = sqlite_db_exec(d,
                            "INSERT INTO reactions (message_id, emoji, user_id) VALUES (?, ?, ?)"
                            " ON CONFLICT DO NOTHING",
                            "sss", id, emoji, user);
  if (status != STORE_OK) {
    json_decref(msg);
    return status;
  }
  return reload(d, msg, result);
}

/* The delivery of a message sent through the Graph API. With expect, only a
 * message in that status ("pending" or "failed") changes (a retry claims a
 * failed send once); otherwise any pending or failed one. changed says whether
 * it did. Meta's id is kept unless an echo gave it to another message first. */
int sqlite_msg_set_delivery(sqlite_db_t *d, json_t *p, json_t **result) {
  const char *id = sqlite_db_pstr(p, "id"), *status = sqlite_db_pstr(p, "status");
  const char *expect = sqlite_db_pstr(p, "expect"), *ext = sqlite_db_pstr(p, "external_id");
  const char *conv_id = sqlite_db_pstr(p, "conversation_id");
  json_t *error = json_object_get(p, "error");
  json_t *until = json_object_get(p, "pending_until_ms");
  json_t *conv_param = json_object_get(p, "conversation_id");
  if (!id || !status || (error && !json_is_object(error) && !json_is_null(error)) ||
      (until && !json_is_integer(until)) || (conv_param && !conv_id) ||
      (expect && strcmp(expect, "pending") != 0 && strcmp(expect, "failed") != 0))
    return STORE_EINVAL;
  int rc = sqlite_db_exec(
      d,
      "UPDATE messages SET status = ?1, error = ?2,"
      " external_id = CASE WHEN ?3 IS NOT NULL AND NOT EXISTS (SELECT 1 FROM messages m"
      " WHERE m.external_id = ?3 AND m.id <> ?4) THEN ?3 ELSE external_id END,"
      " pending_until_ms = CASE WHEN ?1 = 'pending' THEN ?6 ELSE NULL END WHERE id = ?4"
      " AND status IS NOT NULL AND status <> 'sent' AND (?5 IS NULL OR status = ?5)"
      " AND (?7 IS NULL OR conversation_id = ?7)",
      "sjsssis", status, json_is_object(error) ? error : NULL, ext, id, expect,
      (int64_t)json_integer_value(until), conv_id);
  if (rc != STORE_OK) return rc;
  int changed = sqlite3_changes(d->db) > 0;
  if (changed && conv_id && json_is_true(json_object_get(p, "brief"))) {
    /* The caller named the message's conversation (the UPDATE checked it).
     * Its members as MSG_INSERT keeps them (sqlite_members.c: forgotten by
     * every op that may change them, a rollback and another connection's
     * commit), when kept: the same ids in another order, and the caller only
     * asks whether someone may hear of the change. */
    const sqlite_kept_conv_t *k = sqlite_members_kept(d, conv_id);
    json_t *ids = k ? json_incref(k->ids) : sqlite_conv_participant_ids(d, conv_id);
    if (!ids) return STORE_EUNAVAILABLE;
    *result = json_pack("{s:o, s:b}", "participant_ids", ids, "changed", 1);
    return STORE_OK;
  }
  if (changed && json_is_true(json_object_get(p, "brief"))) {
    /* The caller holds the message it sent: only its conversation's
     * participants are read (RETURNING cost more than this). */
    sqlite3_stmt *st =
        sqlite_db_query(d, "SELECT conversation_id FROM messages WHERE id = ?", "s", id);
    rc = st ? sqlite_db_step(d, st) : STORE_EUNAVAILABLE;
    /* Changed, so it is there (a CHECKS_FIRST op fails after its write only
     * as unavailable: the batch is then run again under savepoints). */
    if (rc <= 0) return rc < 0 ? rc : STORE_EUNAVAILABLE;
    json_t *conv = sqlite_db_col_str(st, 0);
    sqlite3_reset(st);
    json_t *ids = json_is_string(conv) ? sqlite_conv_participant_ids(d, json_string_value(conv))
                                       : json_array();
    json_decref(conv);
    if (!ids) return STORE_EUNAVAILABLE;
    *result = json_pack("{s:o, s:b}", "participant_ids", ids, "changed", 1);
    return STORE_OK;
  }
  json_t *m = sqlite_msg_load(d, id);
  if (!m) return changed ? STORE_EUNAVAILABLE : STORE_ENOTFOUND;
  rc = sqlite_msg_answer(d, m, -1, result);
  if (rc == STORE_OK) json_object_set_new(*result, "changed", json_boolean(changed));
  return rc;
}

/* Sends whose lease ran out: their instance died or lost its store while the
 * request was out, so they may or may not have reached Meta. None is resent;
 * each becomes failed/unknown_outcome, once (the UPDATE re-checks "pending"). */
int sqlite_msg_fail_pending(sqlite_db_t *d, json_t *p, json_t **result) {
  const char *stale = sqlite_db_pstr(p, "stale_before");
  json_t *now = json_object_get(p, "now_ms");
  int64_t limit = sqlite_db_pint(p, "limit", 100);
  if (!stale || !json_is_integer(now) || limit <= 0 || limit > 1000) return STORE_EINVAL;
  sqlite3_stmt *st = sqlite_db_query(d,
                                     "SELECT id FROM messages WHERE status = 'pending' AND"
                                     " (CASE WHEN pending_until_ms IS NULL THEN created_at < ?"
                                     " ELSE pending_until_ms < ? END) ORDER BY created_at LIMIT ?",
                                     "sii", stale, (int64_t)json_integer_value(now), limit);
  if (!st) return STORE_EUNAVAILABLE;
  json_t *ids = json_array();
  int rc;
  while ((rc = sqlite_db_step(d, st)) == 1) json_array_append_new(ids, sqlite_db_col_str(st, 0));
  if (rc < 0) {
    json_decref(ids);
    return rc;
  }
  json_t *error = json_pack("{s:s, s:s}", "code", "unknown_outcome", "message",
                            "the server sending this message stopped before Instagram answered;"
                            " it may or may not have reached Instagram");
  json_t *out = json_array(), *id;
  size_t i;
  rc = STORE_OK;
  json_array_foreach(ids, i, id) {
    rc = sqlite_db_exec(d,
                        "UPDATE messages SET status = 'failed', error = ?, pending_until_ms = NULL"
                        " WHERE id = ? AND status = 'pending'",
                        "js", error, json_string_value(id));
    if (rc != STORE_OK) break;
    if (sqlite3_changes(d->db) == 0) continue;
    json_t *m = sqlite_msg_load(d, json_string_value(id)), *answer = NULL;
    if (m && sqlite_msg_answer(d, m, -1, &answer) == STORE_OK) json_array_append_new(out, answer);
  }
  json_decref(error);
  json_decref(ids);
  if (rc != STORE_OK) {
    json_decref(out);
    return rc;
  }
  *result = json_pack("{s:I, s:o}", "failed", (json_int_t)json_array_size(out), "messages", out);
  return STORE_OK;
}

/* Meta's echo of a send that Graph has not answered yet: the send takes Meta's
 * id, so the echo is not stored a second time. */
int sqlite_msg_match_echo(sqlite_db_t *d, json_t *p, json_t **result) {
  const char *conv = sqlite_db_pstr(p, "conversation_id"), *ext = sqlite_db_pstr(p, "external_id");
  const char *text = sqlite_db_pstr(p, "text");
  if (!conv || !ext || !text) return STORE_EINVAL;
  sqlite3_stmt *st = sqlite_db_query(d, "SELECT 1 FROM messages WHERE external_id = ?", "s", ext);
  if (!st) return STORE_EUNAVAILABLE;
  int rc = sqlite_db_step(d, st);
  if (rc != 0) return rc < 0 ? rc : STORE_ENOTFOUND;
  st = sqlite_db_query(d,
                       "SELECT id FROM messages WHERE conversation_id = ? AND external_id IS NULL"
                       " AND text = ? AND (status IN ('pending', 'sent') OR (status = 'failed'"
                       " AND json_extract(error, '$.code') = 'unknown_outcome'))"
                       " ORDER BY seq LIMIT 1",
                       "ss", conv, text);
  if (!st) return STORE_EUNAVAILABLE;
  if ((rc = sqlite_db_step(d, st)) != 1) return rc < 0 ? rc : STORE_ENOTFOUND;
  json_t *id = sqlite_db_col_str(st, 0);
  rc = sqlite_db_exec(d,
                      "UPDATE messages SET status = 'sent', error = NULL, pending_until_ms = NULL,"
                      " external_id = ? WHERE id = ?",
                      "ss", ext, json_string_value(id));
  json_t *m = rc == STORE_OK ? sqlite_msg_load(d, json_string_value(id)) : NULL;
  json_decref(id);
  if (rc != STORE_OK) return rc;
  if (!m) return STORE_ENOTFOUND;
  return sqlite_msg_answer(d, m, -1, result);
}
