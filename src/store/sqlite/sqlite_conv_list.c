/* CONV_LIST on SQLite: a user's conversations by activity, a page at a
 * time, as a tree (the store's result) or written through the caller's row
 * writer (store_call_rows: the rows go to the writer as they are read, with
 * each user read once a page). Store thread. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "parley/strmap.h"
#include "store/sqlite/sqlite_internal.h"

/* CONV_LIST for a user who is nobody's agent, without an assignee filter:
 * the newest `limit` + 1 of the user's conversations that are not channels,
 * read in order from participants_activity (migrations 37 and 40) and stopped there,
 * with the user's channels (participants_unsorted, at most
 * CHANNELS_PER_USER_MAX), sorted together. ?1 user, ?2 type, ?3 ?4 cursor,
 * ?5 limit + 1. */
#define LIST_OWN(after_member, after_conv)                                                   \
  "SELECT " SQLITE_CONV_COLS                                                                 \
  " FROM (SELECT cid FROM (SELECT p.conversation_id AS cid FROM participants p"              \
  " WHERE p.user_id = ?1 AND p.activity IS NOT NULL" after_member                            \
  " AND (?2 IS NULL OR EXISTS (SELECT 1 FROM conversations t WHERE t.id = p.conversation_id" \
  " AND t.type = ?2)) ORDER BY p.activity DESC, p.conversation_id DESC LIMIT ?5)"            \
  " UNION ALL SELECT q.conversation_id FROM participants q JOIN conversations k"             \
  " ON k.id = q.conversation_id WHERE q.user_id = ?1 AND q.activity IS NULL"                 \
  " AND (?2 IS NULL OR k.type = ?2)" after_conv                                              \
  ") x JOIN conversations c ON c.id = x.cid"                                                 \
  " ORDER BY c.updated_at DESC, c.id DESC"
#define FIRST_OWN " AND ?3 IS NULL AND ?4 IS NULL"
#define AFTER_MEMBER " AND (p.activity, p.conversation_id) < (?3, ?4)"
#define AFTER_CONV " AND (c.updated_at, c.id) < (?3, ?4)"
const char sqlite_conv_list_own_first[] = LIST_OWN("", FIRST_OWN);
const char sqlite_conv_list_own_after[] =
    LIST_OWN(AFTER_MEMBER, " AND (k.updated_at, k.id) < (?3, ?4)");

/* The same page for a row writer, as two reads merged by the writer's loop
 * (list_rows), neither of them sorted by SQLite: the conversations that are
 * not channels in participants_activity's order, which is the page's (after
 * sqlite_activity_flush a member's activity is its conversation's updated_at)
 * and stopped at limit + 1, each with its last message (SQLITE_MSG_COLS, then
 * whether it has reactions, from column LIST_MSG_COL on: NULLs when there is
 * none) read in the same step instead of by a statement of its own; and the
 * user's channels, sorted (at most CHANNELS_PER_USER_MAX). The single read
 * above sorts every row of the page with its columns in a temporary b-tree.
 * Parameters as LIST_OWN's (the channels' read has no ?5). */
#define LIST_MSG_COL 14
#define LIST_ACTIVE(after)                                                                      \
  "SELECT " SQLITE_CONV_COLS                                                                    \
  ", m.id, m.conversation_id, m.seq, m.sender_id, m.text, m.client_id, m.source, m.created_at," \
  " m.edited_at, m.deleted, m.attachments, m.external_id, m.status, m.error, m.reply_to,"       \
  " m.mentions, m.payload, EXISTS (SELECT 1 FROM reactions r WHERE r.message_id = m.id)"        \
  " FROM participants p JOIN conversations c ON c.id = p.conversation_id"                       \
  " LEFT JOIN messages m ON c.last_seq > 0 AND m.conversation_id = c.id AND m.seq = c.last_seq" \
  " WHERE p.user_id = ?1 AND p.activity IS NOT NULL AND (?2 IS NULL OR c.type = ?2)" after      \
  " ORDER BY p.activity DESC, p.conversation_id DESC LIMIT ?5"
#define LIST_CHANNELS(after)                                                 \
  "SELECT " SQLITE_CONV_COLS                                                 \
  " FROM participants q JOIN conversations c"                                \
  " ON c.id = q.conversation_id WHERE q.user_id = ?1 AND q.activity IS NULL" \
  " AND (?2 IS NULL OR c.type = ?2)" after " ORDER BY c.updated_at DESC, c.id DESC"
const char sqlite_conv_list_active_first[] = LIST_ACTIVE(FIRST_OWN);
const char sqlite_conv_list_active_after[] = LIST_ACTIVE(AFTER_MEMBER);
const char sqlite_conv_list_channels_first[] = LIST_CHANNELS(FIRST_OWN);
const char sqlite_conv_list_channels_after[] = LIST_CHANNELS(AFTER_CONV);

/* CONV_LIST for an agent (or with an assignee filter): the user's own
 * conversations as LIST_OWN reads them, merged with, for each owner the user
 * is an agent of, the newest `limit` + 1 of the owner's instagram
 * conversations, read in order from conversations_instagram (migration 39:
 * creator_id, updated_at, id, for type 'instagram') and stopped there: the
 * correlated IN subquery runs once per owner, with its LIMIT. What the page
 * sorts is at most (owners + 1) x (limit + 1) rows and the user's channels,
 * not every conversation of the owners. ?1 user, ?2 type, ?3 ?4 cursor,
 * ?5 assigned ("me" | "none" | NULL), ?6 limit + 1. An assignee filter is a
 * condition on the rows read in order: the scan goes on past those it drops. */
#define ASSIGNED(t)                       \
  " AND (?5 IS NULL OR (?5 = 'me' AND " t \
  ".assignee_id = ?1) OR"                 \
  " (?5 = 'none' AND " t ".assignee_id IS NULL))"
#define LIST_TEAM(after_member, after_conv, after_ig) \
  "SELECT " SQLITE_CONV_COLS                                                                          \
  " FROM (SELECT cid FROM (SELECT p.conversation_id AS cid FROM participants p"                \
  " WHERE p.user_id = ?1 AND p.activity IS NOT NULL" after_member                              \
  " AND (?2 IS NULL OR EXISTS (SELECT 1 FROM conversations t WHERE t.id = p.conversation_id"   \
  " AND t.type = ?2)) AND (?5 IS NULL OR EXISTS (SELECT 1 FROM conversations t"                \
  " WHERE t.id = p.conversation_id" ASSIGNED("t") "))"                                         \
  " ORDER BY p.activity DESC, p.conversation_id DESC LIMIT ?6)"                                \
  " UNION SELECT q.conversation_id FROM participants q JOIN conversations k"                   \
  " ON k.id = q.conversation_id WHERE q.user_id = ?1 AND q.activity IS NULL"                   \
  " AND (?2 IS NULL OR k.type = ?2)" after_conv ASSIGNED("k")                                  \
  " UNION SELECT j.id FROM ig_agents a JOIN conversations j ON j.id IN (SELECT i.id"           \
  " FROM conversations i WHERE i.creator_id = a.owner_id AND i.type = 'instagram'" after_ig    \
  ASSIGNED("i") " ORDER BY i.updated_at DESC, i.id DESC LIMIT ?6)"                             \
  " WHERE a.user_id = ?1 AND (?2 IS NULL OR ?2 = 'instagram')"                                 \
  ") x JOIN conversations c ON c.id = x.cid"                                                   \
  " ORDER BY c.updated_at DESC, c.id DESC"
const char sqlite_conv_list_team_first[] = LIST_TEAM("", " AND ?3 IS NULL AND ?4 IS NULL", "");
const char sqlite_conv_list_team_after[] =
    LIST_TEAM(" AND (p.activity, p.conversation_id) < (?3, ?4)",
              " AND (k.updated_at, k.id) < (?3, ?4)", " AND (i.updated_at, i.id) < (?3, ?4)");

int sqlite_activity_flush(sqlite_db_t *d) {
  sqlite3_stmt *q = sqlite_db_query(d, "SELECT 1 FROM activity_pending LIMIT 1", "");
  if (!q) return STORE_EUNAVAILABLE;
  int any = sqlite_db_step(d, q);
  sqlite3_reset(q);
  if (any <= 0) return any < 0 ? STORE_EUNAVAILABLE : STORE_OK;
  int rc =
      sqlite_db_exec(d,
                     "UPDATE participants SET activity = (SELECT c.updated_at FROM conversations c"
                     " WHERE c.id = participants.conversation_id AND c.type != 'channel')"
                     " WHERE conversation_id IN (SELECT conversation_id FROM activity_pending)",
                     "");
  return rc == STORE_OK ? sqlite_db_exec(d, "DELETE FROM activity_pending", "") : rc;
}

/* ---- CONV_LIST written from its rows (store_call_rows) ---- */

/* A user as a page's participants show them: name, avatar_url and
 * avatar_id (p NULL for null; all three for a user without a row, as
 * participants()'s LEFT JOIN gives), with the texts after the struct. */
typedef struct page_user_s {
  store_str_t name, avatar_url, avatar_id;
} page_user_t;

/* users (a page's, by id) holds each user read once: the same users recur
 * across a page's conversations, and a row read once costs less than the
 * join's two seeks per participant. NULL when a read or memory failed. */
static const page_user_t *page_user(sqlite_db_t *d, strmap_t *users, const char *id) {
  page_user_t *u = strmap_get(users, id);
  if (u) return u;
  sqlite3_stmt *st = sqlite_db_query_static(
      d, "SELECT name, avatar_url, avatar_id FROM users WHERE id = ?", "s", id);
  int rc = st ? sqlite_db_step(d, st) : -1;
  if (rc < 0) return NULL;
  store_str_t col[3] = {{NULL, 0}, {NULL, 0}, {NULL, 0}};
  size_t len = 0;
  for (int i = 0; rc == 1 && i < 3; i++) {
    col[i] = sqlite_db_col_text(st, i);
    len += col[i].n + 1;
  }
  u = malloc(sizeof(*u) + len);
  if (u) {
    char *at = (char *)(u + 1);
    store_str_t *field[3] = {&u->name, &u->avatar_url, &u->avatar_id};
    for (int i = 0; i < 3; i++) {
      *field[i] = (store_str_t){NULL, 0};
      if (!col[i].p) continue;
      memcpy(at, col[i].p, col[i].n);
      at[col[i].n] = '\0';
      *field[i] = (store_str_t){at, col[i].n};
      at += col[i].n + 1;
    }
  }
  sqlite3_reset(st);
  if (u && strmap_put(users, id, u) != 0) {
    free(u);
    u = NULL;
  }
  return u;
}

static int free_user(const char *key, void *value, void *arg) {
  (void)key;
  (void)arg;
  free(value);
  return 1;
}

/* The participants of conv_id to the writer, as participants() reads them,
 * their users from users. */
static int member_rows(sqlite_db_t *d, const char *conv_id, const sqlite_now_t *now,
                       strmap_t *users, const store_conv_rows_t *rows, void *w) {
  sqlite3_stmt *st = sqlite_db_query_static(
      d,
      "SELECT user_id, role, last_read_seq, last_delivered_seq, mention_count,"
      " CASE WHEN muted_until > ?2 THEN muted_until END FROM participants"
      " WHERE conversation_id = ?1 ORDER BY rowid",
      "ss", conv_id, now->iso);
  if (!st) return -1;
  int rc;
  while ((rc = sqlite_db_step(d, st)) == 1) {
    static const page_user_t nobody;
    store_member_row_t m;
    m.id = sqlite_db_col_text(st, 0);
    const page_user_t *u = m.id.p ? page_user(d, users, m.id.p) : &nobody;
    if (!u) {
      sqlite3_reset(st);
      return -1;
    }
    m.name = u->name;
    m.avatar_url = u->avatar_url;
    m.avatar_id = u->avatar_id;
    m.role = sqlite_db_col_text(st, 1);
    m.last_read_seq = sqlite3_column_int64(st, 2);
    m.last_delivered_seq = sqlite3_column_int64(st, 3);
    m.mention_count = sqlite3_column_int64(st, 4);
    m.muted_until = sqlite_db_col_text(st, 5);
    if (rows->member(w, &m) != 0) {
      sqlite3_reset(st);
      return -1;
    }
  }
  return rc < 0 ? -1 : 0;
}

/* The page's conversation at st's row (SQLITE_CONV_COLS) to the writer: a chat
 * without a contact as rows, anything else (a channel, an Instagram
 * conversation) as the record sqlite_conv_row() and sqlite_conv_complete() make.
 * with_msg: st carries the last message (LIST_ACTIVE), else it is read by seq. */
static int conv_to_rows(sqlite_db_t *d, sqlite3_stmt *st, int with_msg, sqlite_conv_shared_t *sh,
                        const sqlite_now_t *now, strmap_t *users, const char *user,
                        const store_conv_rows_t *rows, void *w) {
  const char *type = (const char *)sqlite3_column_text(st, 1);
  if (!type || strcmp(type, "channel") == 0 || strcmp(type, "instagram") == 0 ||
      sqlite3_column_type(st, 6) != SQLITE_NULL) {
    json_t *c = sqlite_conv_row(st);
    int rc = sqlite_conv_complete(d, c, sh, now, user) == 0 ? rows->record(w, c) : -1;
    json_decref(c);
    return rc;
  }
  store_conv_row_t r;
  r.id = sqlite_db_col_text(st, 0);
  r.type = sqlite_db_col_text(st, 1);
  r.name = sqlite_db_col_text(st, 2);
  r.last_seq = sqlite3_column_int64(st, 3);
  r.created_at = sqlite_db_col_text(st, 4);
  r.updated_at = sqlite_db_col_text(st, 5);
  r.avatar_id =
      sqlite3_column_type(st, 13) == SQLITE_TEXT ? sqlite_db_col_text(st, 13) : (store_str_t){0};
  /* The reads that follow bind a copy of the id (an id is 24 characters). */
  char id[64];
  if (!r.id.p || r.id.n >= sizeof(id)) return -1;
  memcpy(id, r.id.p, r.id.n + 1);
  if (rows->conv(w, &r) != 0 || member_rows(d, id, now, users, rows, w) != 0) return -1;
  json_t *last = NULL;
  if (with_msg) {
    if (sqlite3_column_type(st, LIST_MSG_COL) != SQLITE_NULL &&
        sqlite_msg_rows_at(d, st, LIST_MSG_COL, rows, w, &last) != 0)
      return -1;
  } else if (r.last_seq > 0 && sqlite_msg_by_seq_rows(d, id, r.last_seq, rows, w, &last) != 0) {
    return -1;
  }
  int rc = rows->conv_end(w, last);
  json_decref(last);
  return rc;
}

static void shared_free(sqlite_conv_shared_t *sh) {
  json_decref(sh->users);
  json_decref(sh->admin);
  json_decref(sh->member);
}

/* The cursor of the conversation at st's row, as the tree's snprintf
 * writes it ("<updated_at>|<id>", cut to fit), without printf: it is made
 * for every conversation of a page. */
static void cursor_of(sqlite3_stmt *st, char *out, size_t size) {
  const char *at = (const char *)sqlite3_column_text(st, 5);
  const char *id = (const char *)sqlite3_column_text(st, 0);
  const char *part[3] = {at ? at : "(null)", "|", id ? id : "(null)"};
  size_t len[3] = {strlen(part[0]), 1, strlen(part[2])}, o = 0;
  for (int i = 0; i < 3; i++) {
    size_t n = len[i] < size - 1 - o ? len[i] : size - 1 - o;
    memcpy(out + o, part[i], n);
    o += n;
  }
  out[o] = '\0';
}

/* Two texts compared as SQLite compares them (BINARY: bytes, then length). */
static int text_cmp(store_str_t x, store_str_t y) {
  int c = memcmp(x.p ? x.p : "", y.p ? y.p : "", x.n < y.n ? x.n : y.n);
  return c ? c : (x.n > y.n) - (x.n < y.n);
}

/* Whether a's row comes before b's in the page's order: (updated_at, id)
 * descending. */
static int comes_first(sqlite3_stmt *a, sqlite3_stmt *b) {
  int c = text_cmp(sqlite_db_col_text(a, 5), sqlite_db_col_text(b, 5));
  return c ? c > 0 : text_cmp(sqlite_db_col_text(a, 0), sqlite_db_col_text(b, 0)) > 0;
}

/* The page through d->rows from a, the list's read, bound, in the page's
 * order, and b when given (the channels of LIST_CHANNELS, beside a's
 * LIST_ACTIVE, which carries the last messages): the two are merged here.
 * Each conversation is written while its read stands on its row. */
static int list_rows(sqlite_db_t *d, sqlite3_stmt *a, sqlite3_stmt *b, sqlite_conv_shared_t *sh,
                     const sqlite_now_t *now, json_t *p, int64_t limit, json_t **result) {
  const store_conv_rows_t *rows = d->rows;
  const char *user = sqlite_db_pstr(p, "user_id");
  void *w = rows->begin(d->rows_arg, p);
  char next[96] = "";
  int rc = w ? 0 : -1, n = 0, more = 0;
  int ra = w ? sqlite_db_step(d, a) : 0, rb = w && b ? sqlite_db_step(d, b) : 0;
  strmap_t users;
  strmap_init(&users);
  while (rc == 0 && ra >= 0 && rb >= 0 && (ra == 1 || rb == 1)) {
    if (n == limit) {
      more = 1;
      break;
    }
    int from_a = ra == 1 && (rb != 1 || comes_first(a, b));
    sqlite3_stmt *st = from_a ? a : b;
    cursor_of(st, next, sizeof(next));
    if (conv_to_rows(d, st, from_a && b, sh, now, &users, user, rows, w) != 0) {
      rc = -1;
      break;
    }
    n++;
    if (from_a)
      ra = sqlite_db_step(d, a);
    else
      rb = sqlite_db_step(d, b);
  }
  if (ra < 0 || rb < 0) rc = -1;
  sqlite3_reset(a);
  if (b) sqlite3_reset(b);
  shared_free(sh);
  strmap_sweep(&users, free_user, NULL);
  strmap_free(&users);
  if (rc < 0) {
    if (w) rows->abort(w);
    return STORE_EUNAVAILABLE;
  }
  *result = rows->end(w, more ? next : NULL);
  return *result ? STORE_OK : STORE_EUNAVAILABLE;
}

/* The cursor is "<updated_at>|<id>" of the last conversation of the page: the
 * order is (updated_at, id) descending, so the next page starts strictly below.
 * One read gives the page's rows (two for a row writer, merged: list_rows); the
 * agents' read has no LIMIT because SQLite serves an ORDER BY ... LIMIT with a
 * temporary b-tree (a pager opened and freed per request), and without one with
 * its in-memory sorter: the rows past the page are never stepped to. */
int sqlite_conv_list(sqlite_db_t *d, json_t *p, json_t **result) {
  const char *user = sqlite_db_pstr(p, "user_id"), *cursor = sqlite_db_pstr(p, "cursor");
  int64_t limit = sqlite_db_pint(p, "limit", 50);
  if (!user) return STORE_EINVAL;
  if (limit <= 0 || limit > 1000) limit = 50;
  char at[64] = "", *cid = NULL;
  if (cursor) {
    snprintf(at, sizeof(at), "%s", cursor);
    cid = strchr(at, '|');
    if (!cid) return STORE_EINVAL;
    *cid++ = '\0';
  }
  /* The members' activity is what the page is read by: brought up to date. */
  if (sqlite_activity_flush(d) != STORE_OK) return STORE_EUNAVAILABLE;
  const char *assigned = sqlite_db_pstr(p, "assigned");
  int team = assigned != NULL;
  if (!team) {
    sqlite3_stmt *q =
        sqlite_db_query_static(d, "SELECT 1 FROM ig_agents WHERE user_id = ? LIMIT 1", "s", user);
    if (!q || (team = sqlite_db_step(d, q)) < 0) return STORE_EUNAVAILABLE;
    sqlite3_reset(q);
  }
  /* An agent's list (or a filtered one) reads the owners' conversations too
   * (LIST_TEAM); everyone else reads their own (LIST_OWN), or for a row
   * writer LIST_ACTIVE and LIST_CHANNELS; all in order. Their strings (params'
   * and at) are bound in place: the reads are reset before this returns. */
  const char *type = sqlite_db_pstr(p, "type");
  sqlite3_stmt *st, *channels = NULL;
  if (team)
    st = sqlite_db_query_static(d,
                                cursor ? sqlite_conv_list_team_after : sqlite_conv_list_team_first,
                                "sssssi", user, type, cursor ? at : NULL, cid, assigned, limit + 1);
  else if (!d->rows)
    st = sqlite_db_query_static(d, cursor ? sqlite_conv_list_own_after : sqlite_conv_list_own_first,
                                "ssssi", user, type, cursor ? at : NULL, cid, limit + 1);
  else if (!(channels = sqlite_db_query_static(
                 d, cursor ? sqlite_conv_list_channels_after : sqlite_conv_list_channels_first,
                 "ssss", user, type, cursor ? at : NULL, cid)))
    st = NULL;
  else if (!(st = sqlite_db_query_static(
                 d, cursor ? sqlite_conv_list_active_after : sqlite_conv_list_active_first, "ssssi",
                 user, type, cursor ? at : NULL, cid, limit + 1)))
    sqlite3_reset(channels);
  if (!st) return STORE_EUNAVAILABLE;
  sqlite_conv_shared_t sh = {json_object(), json_string("admin"), json_string("member")};
  sqlite_now_t now = sqlite_now_iso();
  if (d->rows) return list_rows(d, st, channels, &sh, &now, p, limit, result);
  json_t *convs = json_array();
  char next[96] = "";
  int rc, n = 0;
  while ((rc = sqlite_db_step(d, st)) == 1 && n < limit) {
    json_array_append_new(convs, sqlite_conv_row(st));
    snprintf(next, sizeof(next), "%s|%s", sqlite3_column_text(st, 5), sqlite3_column_text(st, 0));
    n++;
  }
  int more = rc == 1;
  sqlite3_reset(st);
  size_t i;
  json_t *c;
  json_array_foreach(convs, i, c) if (rc >= 0 && sqlite_conv_complete(d, c, &sh, &now, user) != 0)
      rc = STORE_EUNAVAILABLE;
  shared_free(&sh);
  if (rc < 0) {
    json_decref(convs);
    return rc;
  }
  *result = json_pack("{s:o,s:o}", "conversations", convs, "next_cursor",
                      more ? json_string(next) : json_null());
  return STORE_OK;
}
