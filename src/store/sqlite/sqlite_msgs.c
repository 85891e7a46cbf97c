/* SQLite operations on messages: insert with per-conversation seq and idempotent
 * client_id / external_id, history pages by seq, edit, delete, reactions.
 * Store thread. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "parley/util.h"
#include "store/sqlite/sqlite_internal.h"

#define MSG_COLS                                                                                  \
  "id, conversation_id, seq, sender_id, text, client_id, source, created_at, edited_at, deleted," \
  " attachments, external_id"

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

/* message from MSG_COLS, with its reactions still to be filled in. */
static json_t *msg_row(sqlite3_stmt *st) {
  json_t *m = json_object();
  json_object_set_new(m, "id", sqlite_db_col_str(st, 0));
  json_object_set_new(m, "conversation_id", sqlite_db_col_str(st, 1));
  json_object_set_new(m, "seq", json_integer(sqlite3_column_int64(st, 2)));
  json_object_set_new(m, "sender_id", sqlite_db_col_str(st, 3));
  json_object_set_new(m, "text", sqlite_db_col_str(st, 4));
  json_object_set_new(m, "client_id", sqlite_db_col_str(st, 5));
  json_object_set_new(m, "source", sqlite_db_col_str(st, 6));
  json_object_set_new(m, "created_at", sqlite_db_col_str(st, 7));
  json_object_set_new(m, "edited_at", sqlite_db_col_str(st, 8));
  json_object_set_new(m, "deleted", json_boolean(sqlite3_column_int(st, 9)));
  json_object_set_new(m, "attachments", sqlite_db_col_json(st, 10, json_array));
  if (sqlite3_column_type(st, 11) != SQLITE_NULL)
    json_object_set_new(m, "external_id", sqlite_db_col_str(st, 11));
  json_object_set_new(m, "reactions", json_array());
  return m;
}

/* Steps st once and builds the message, or NULL. */
static json_t *one(sqlite_db_t *d, sqlite3_stmt *st) {
  if (!st || sqlite_db_step(d, st) != 1) return NULL;
  json_t *m = msg_row(st);
  sqlite3_reset(st);
  json_object_set_new(m, "reactions", reactions(d, json_string_value(json_object_get(m, "id"))));
  return m;
}

json_t *sqlite_msgs_load(sqlite_db_t *d, const char *id) {
  return one(d, sqlite_db_query(d, "SELECT " MSG_COLS " FROM messages WHERE id = ?", "s", id));
}

json_t *sqlite_msgs_by_seq(sqlite_db_t *d, const char *conv_id, int64_t seq) {
  return one(d, sqlite_db_query(
                    d, "SELECT " MSG_COLS " FROM messages WHERE conversation_id = ? AND seq = ?",
                    "si", conv_id, seq));
}

/* {message, participant_ids[, created]}; takes the message. */
static int with_participants(sqlite_db_t *d, json_t *msg, int created, json_t **result) {
  json_t *ids =
      sqlite_convs_participant_ids(d, json_string_value(json_object_get(msg, "conversation_id")));
  if (!ids) {
    json_decref(msg);
    return STORE_EUNAVAILABLE;
  }
  *result = json_pack("{s:o,s:o}", "message", msg, "participant_ids", ids);
  if (created >= 0) json_object_set_new(*result, "created", json_boolean(created));
  return STORE_OK;
}

/* The message a retried insert already stored, or NULL. */
static json_t *original(sqlite_db_t *d, const char *conv, const char *sender, const char *client_id,
                        const char *external_id) {
  if (external_id) {
    json_t *m = one(d, sqlite_db_query(d, "SELECT " MSG_COLS " FROM messages WHERE external_id = ?",
                                       "s", external_id));
    if (m) return m;
  }
  if (!client_id) return NULL;
  return one(d, sqlite_db_query(d,
                                "SELECT " MSG_COLS
                                " FROM messages WHERE conversation_id = ? AND sender_id = ?"
                                " AND client_id = ?",
                                "sss", conv, sender, client_id));
}

/* Within one transaction, inserts advance a conversation's counters in memory
 * and write them back once (sqlite_msgs_flush): one UPDATE per conversation and
 * sender per batch instead of two per message. The store thread is the only
 * writer and BEGIN IMMEDIATE locks out other connections, so seq = last_seq + 1
 * has no gaps and no repeats. */
#define PENDING_SLOTS 256
#define PENDING_MAX 192

typedef struct pending_conv_s {
  char id[32]; /* empty: free slot */
  int64_t last_seq;
  char updated_at[32];
  json_t *members; /* participant ids, as loaded */
  json_t *readers; /* sender -> seq of their newest message */
} pending_conv_t;

struct sqlite_msgs_pending {
  int used;
  pending_conv_t slot[PENDING_SLOTS];
};

static size_t pending_hash(const char *id) {
  size_t h = 5381;
  for (; *id; id++) h = h * 33 + (unsigned char)*id;
  return h;
}

void sqlite_msgs_discard(sqlite_db_t *d) {
  struct sqlite_msgs_pending *p = d->pending;
  if (!p) return;
  for (int i = 0; i < PENDING_SLOTS; i++) {
    json_decref(p->slot[i].members);
    json_decref(p->slot[i].readers);
  }
  free(p);
  d->pending = NULL;
}

static int flush_one(sqlite_db_t *d, pending_conv_t *c) {
  int status =
      sqlite_db_exec(d, "UPDATE conversations SET last_seq = ?, updated_at = ? WHERE id = ?", "iss",
                     c->last_seq, c->updated_at, c->id);
  const char *user;
  json_t *seq;
  json_object_foreach(c->readers, user, seq) {
    if (status == STORE_OK)
      status = sqlite_db_exec(d,
                              "UPDATE participants SET last_read_seq = max(last_read_seq, ?)"
                              " WHERE conversation_id = ? AND user_id = ?",
                              "iss", (int64_t)json_integer_value(seq), c->id, user);
  }
  return status;
}

int sqlite_msgs_flush(sqlite_db_t *d) {
  int status = STORE_OK;
  for (int i = 0; d->pending && i < PENDING_SLOTS && status == STORE_OK; i++)
    if (d->pending->slot[i].id[0]) status = flush_one(d, &d->pending->slot[i]);
  sqlite_msgs_discard(d);
  return status;
}

/* The conversation's pending counters, loaded on first use: STORE_OK with *out,
 * or ENOTFOUND. */
static int pending_get(sqlite_db_t *d, const char *conv, pending_conv_t **out) {
  if (strlen(conv) >= sizeof(d->pending->slot[0].id))
    return STORE_ENOTFOUND; /* not an id we made */
  if (d->pending && d->pending->used >= PENDING_MAX) {
    int status = sqlite_msgs_flush(d);
    if (status != STORE_OK) return status;
  }
  if (!d->pending && !(d->pending = calloc(1, sizeof(*d->pending)))) return STORE_EUNAVAILABLE;
  pending_conv_t *c = NULL;
  for (size_t h = pending_hash(conv), n = 0; n < PENDING_SLOTS; n++) {
    c = &d->pending->slot[(h + n) & (PENDING_SLOTS - 1)];
    if (!c->id[0] || strcmp(c->id, conv) == 0) break;
  }
  if (c->id[0]) {
    *out = c;
    return STORE_OK;
  }
  sqlite3_stmt *st =
      sqlite_db_query(d, "SELECT last_seq FROM conversations WHERE id = ?", "s", conv);
  if (!st) return STORE_EUNAVAILABLE;
  int rc = sqlite_db_step(d, st);
  if (rc <= 0) return rc < 0 ? rc : STORE_ENOTFOUND;
  c->last_seq = sqlite3_column_int64(st, 0);
  sqlite3_reset(st);
  if (!(c->members = sqlite_convs_participant_ids(d, conv))) return STORE_EUNAVAILABLE;
  c->readers = json_object();
  snprintf(c->id, sizeof(c->id), "%s", conv);
  d->pending->used++;
  *out = c;
  return STORE_OK;
}

/* Moves the sender's read marker in memory; reuses the integer once it exists. */
static void read_marker(pending_conv_t *c, const char *sender, int64_t seq) {
  json_t *v = json_object_get(c->readers, sender);
  if (json_is_integer(v))
    json_integer_set(v, (json_int_t)seq);
  else
    json_object_set_new(c->readers, sender, json_integer((json_int_t)seq));
}

static int is_member(json_t *members, const char *user) {
  size_t i;
  json_t *v;
  json_array_foreach(members, i, v) if (strcmp(json_string_value(v), user) == 0) return 1;
  return 0;
}

/* A params member shared with the result: strings nobody changes. */
static json_t *shared(json_t *v) { return json_is_string(v) ? json_incref(v) : json_null(); }

/* The new message, built directly: json_pack would parse its format per message. */
static json_t *new_message(json_t *p, const sqlite_insert_t *ins) {
  json_t *m = json_object(), *att = json_object_get(p, "attachments"),
         *ext = json_object_get(p, "external_id");
  json_t *source = json_object_get(p, "source");
  json_object_set_new_nocheck(m, "id", json_stringn_nocheck(ins->id, 24));
  json_object_set_new_nocheck(m, "conversation_id", shared(json_object_get(p, "conversation_id")));
  json_object_set_new_nocheck(m, "seq", json_integer((json_int_t)ins->seq));
  json_object_set_new_nocheck(m, "sender_id", shared(json_object_get(p, "sender_id")));
  json_object_set_new_nocheck(m, "text", shared(json_object_get(p, "text")));
  json_object_set_new_nocheck(m, "client_id", shared(json_object_get(p, "client_id")));
  json_object_set_new_nocheck(m, "source",
                              json_is_string(source) ? json_incref(source) : json_string("web"));
  json_object_set_new_nocheck(m, "created_at", json_string_nocheck(ins->created_at));
  json_object_set_new_nocheck(m, "edited_at", json_null());
  json_object_set_new_nocheck(m, "deleted", json_false());
  json_object_set_new_nocheck(m, "reactions", json_array());
  json_object_set_new_nocheck(m, "attachments",
                              json_is_array(att) ? json_deep_copy(att) : json_array());
  if (json_is_string(ext)) json_object_set_new_nocheck(m, "external_id", json_incref(ext));
  return m;
}

json_t *sqlite_msgs_inserted(json_t *params, const sqlite_insert_t *ins) {
  json_t *r = json_object();
  json_object_set_new_nocheck(r, "message", new_message(params, ins));
  json_object_set_new_nocheck(r, "participant_ids", json_deep_copy(ins->members));
  json_object_set_new_nocheck(r, "created", json_true());
  return r;
}

/* The insert found nothing to do (a retry) or cannot go on (status): the original
 * of a retry wins over the status, as it did before the conversation's checks. */
static int retried(sqlite_db_t *d, json_t *p, int status, json_t **result) {
  json_t *orig = original(d, sqlite_db_pstr(p, "conversation_id"), sqlite_db_pstr(p, "sender_id"),
                          sqlite_db_pstr(p, "client_id"), sqlite_db_pstr(p, "external_id"));
  if (orig) return with_participants(d, orig, 0, result);
  return status;
}

/* The idempotency check rides on the unique indexes: INSERT ... ON CONFLICT DO
 * NOTHING and changes() find a retry without a SELECT per message; only a retry
 * (or a failed check) then looks for the original. */
int sqlite_msg_insert(sqlite_db_t *d, json_t *p, json_t **result) {
  const char *conv = sqlite_db_pstr(p, "conversation_id"), *sender = sqlite_db_pstr(p, "sender_id");
  const char *client_id = sqlite_db_pstr(p, "client_id"),
             *external_id = sqlite_db_pstr(p, "external_id");
  const char *source = sqlite_db_pstr(p, "source");
  json_t *text = json_object_get(p, "text"), *att = json_object_get(p, "attachments");
  if (!conv || !sender || (text && !json_is_string(text) && !json_is_null(text)) ||
      (att && !json_is_array(att)))
    return STORE_EINVAL;
  /* Every check comes before the first write: this op runs without a savepoint. */
  pending_conv_t *c = NULL;
  int status = pending_get(d, conv, &c);
  if (status == STORE_ENOTFOUND) return retried(d, p, status, result);
  if (status != STORE_OK) return status;
  int member = is_member(c->members, sender);
  if (!member && json_is_true(json_object_get(p, "check_member")))
    return retried(d, p, STORE_ENOTFOUND, result);
  char id[25], now[32];
  util_new_id(id);
  sqlite_db_clock(d, now);
  int64_t seq = c->last_seq + 1;
  if (!source) source = "web";
  status = sqlite_db_exec(
      d,
      "INSERT INTO messages (id, conversation_id, seq, sender_id, text, client_id, source,"
      " attachments, external_id, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
      " ON CONFLICT DO NOTHING",
      "ssissssjss", id, conv, seq, sender, json_string_value(text), client_id, source, att,
      external_id, now);
  if (status != STORE_OK) return status;
  /* Nothing inserted: a retry, or (never seen) a random id that collided. */
  if (sqlite3_changes(d->db) == 0) return retried(d, p, STORE_ECONFLICT, result);
  c->last_seq = seq;
  memcpy(c->updated_at, now, sizeof(now));
  if (member) read_marker(c, sender, seq); /* the sender read what they wrote */
  sqlite_insert_t local = {0}, *ins = d->insert ? d->insert : &local;
  ins->seq = seq;
  memcpy(ins->id, id, sizeof(ins->id));
  memcpy(ins->created_at, now, sizeof(ins->created_at));
  ins->members = json_incref(c->members);
  if (ins != &local) return STORE_OK; /* the loop thread builds the result */
  *result = sqlite_msgs_inserted(p, ins);
  json_decref(local.members);
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
  int rc = sqlite_convs_role(d, conv, user, NULL);
  if (rc <= 0) return rc < 0 ? rc : STORE_ENOTFOUND;
  int ascending = after >= 0;
  sqlite3_stmt *st = ascending
                         ? sqlite_db_query(d,
                                           "SELECT " MSG_COLS
                                           " FROM messages WHERE conversation_id = ? AND seq > ?"
                                           " AND seq < ? ORDER BY seq LIMIT ?",
                                           "siii", conv, after, before, limit + 1)
                         : sqlite_db_query(d,
                                           "SELECT " MSG_COLS
                                           " FROM messages WHERE conversation_id = ? AND seq < ?"
                                           " ORDER BY seq DESC LIMIT ?",
                                           "sii", conv, before, limit + 1);
  if (!st) return STORE_EUNAVAILABLE;
  json_t *msgs = json_array();
  int n = 0;
  while ((rc = sqlite_db_step(d, st)) == 1 && n < limit) {
    json_t *m = msg_row(st);
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
    m = sqlite_msgs_load(d, id);
  else if (ext)
    m = one(
        d, sqlite_db_query(d, "SELECT " MSG_COLS " FROM messages WHERE external_id = ?", "s", ext));
  else
    return STORE_EINVAL;
  if (!m) return STORE_ENOTFOUND;
  return with_participants(d, m, -1, result);
}

/* Loads the message a participant acts on: ENOTFOUND for anyone outside the
 * conversation, so ids cannot be probed. */
static int load_for(sqlite_db_t *d, json_t *p, json_t **msg, const char **role) {
  const char *id = sqlite_db_pstr(p, "id"), *user = sqlite_db_pstr(p, "user_id");
  if (!id || !user) return STORE_EINVAL;
  *msg = sqlite_msgs_load(d, id);
  if (!*msg) return STORE_ENOTFOUND;
  int rc =
      sqlite_convs_role(d, json_string_value(json_object_get(*msg, "conversation_id")), user, role);
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
  json_t *m = sqlite_msgs_load(d, json_string_value(json_object_get(msg, "id")));
  json_decref(msg);
  if (!m) return STORE_EUNAVAILABLE;
  return with_participants(d, m, -1, result);
}

int sqlite_msg_edit(sqlite_db_t *d, json_t *p, json_t **result) {
  const char *text = sqlite_db_pstr(p, "text");
  json_t *msg = NULL;
  if (!text) return STORE_EINVAL;
  int status = load_for(d, p, &msg, NULL);
  if (status != STORE_OK) return status;
  if (!is_sender(msg, p) || json_is_true(json_object_get(msg, "deleted"))) {
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
  status = sqlite_db_exec(d, "UPDATE messages SET deleted = 1, text = NULL WHERE id = ?", "s",
                          json_string_value(json_object_get(msg, "id")));
  if (status != STORE_OK) {
    json_decref(msg);
    return status;
  }
  return reload(d, msg, result);
}

int sqlite_msg_react(sqlite_db_t *d, json_t *p, json_t **result) {
  const char *emoji = sqlite_db_pstr(p, "emoji"), *user = sqlite_db_pstr(p, "user_id");
  json_t *msg = NULL;
  if (!emoji || !user) return STORE_EINVAL;
  int status;
  if (json_is_false(json_object_get(p, "check_member"))) {
    /* A reaction from an Instagram contact ("ig:<id>"), not a participant. */
    msg = sqlite_msgs_load(d, sqlite_db_pstr(p, "id") ? sqlite_db_pstr(p, "id") : "");
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
