/* SQLite's MSG_SEARCH over the FTS5 index messages_fts (schema migration 5:
 * unicode61 with remove_diacritics 2; migration 12: new messages are indexed off
 * the insert path, and here first, before the index is read). The caller's conversations and the
 * sender filter are columns of the index, so the scan reads only what the caller may see; it walks
 * the matches newest first up to the window and a work budget, ranks them by bm25 here, and loads
 * only the page's messages. Store thread. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "parley/buf.h"
#include "store/sqlite/sqlite_internal.h"

/* The scan's budget in SQLite progress ticks (one per 1000 virtual machine
 * instructions): the store thread serves every other job too, so a query over
 * a huge conversation ranks the newest matches it reached within this budget
 * rather than holding the thread. */
#define SEARCH_TICKS_MAX 8000
#define SEARCH_WINDOW_MAX 1000

typedef struct {
  int64_t rowid;
  double score; /* higher is better */
} hit_t;

static int budget_spent(void *arg) { return ++*(int *)arg > SEARCH_TICKS_MAX; }

/* Appends `"s"` to b with the double quotes inside s doubled (FTS5's string
 * syntax); the result is one phrase, never query syntax. */
static void quoted(buf_t *b, const char *s) {
  buf_append(b, "\"", 1);
  for (const char *p = s; *p; p++) buf_append(b, *p == '"' ? "\"\"" : p, *p == '"' ? 2 : 1);
  buf_append(b, "\"", 1);
}

static void or_list(buf_t *b, const char *column, json_t *values) {
  size_t i;
  json_t *v;
  buf_append_str(b, column);
  buf_append_str(b, " : (");
  json_array_foreach(values, i, v) {
    if (i) buf_append_str(b, " OR ");
    quoted(b, json_string_value(v));
  }
  buf_append_str(b, ")");
}

static int type_excluded(json_t *excluded, const char *type) {
  size_t i;
  json_t *v;
  json_array_foreach(excluded, i, v) if (type && json_is_string(v) &&
                                         strcmp(json_string_value(v), type) == 0) return 1;
  return 0;
}

/* The conversations to search: the one asked for (ENOTFOUND unless the user is
 * in it) or every one the user is in, less the excluded types. */
static int searchable(sqlite_db_t *d, json_t *p, json_t **out) {
  const char *user = sqlite_db_pstr(p, "user_id"), *only = sqlite_db_pstr(p, "conversation_id");
  json_t *excluded = json_object_get(p, "exclude_types");
  sqlite3_stmt *st = sqlite_db_query(d,
                                     "SELECT p.conversation_id, c.type FROM participants p"
                                     " JOIN conversations c ON c.id = p.conversation_id"
                                     " WHERE p.user_id = ?",
                                     "s", user);
  if (!st) return STORE_EUNAVAILABLE;
  json_t *ids = json_array();
  int rc, found = 0;
  while ((rc = sqlite_db_step(d, st)) == 1) {
    const char *id = (const char *)sqlite3_column_text(st, 0);
    if (type_excluded(excluded, (const char *)sqlite3_column_text(st, 1))) continue;
    if (only && strcmp(only, id) != 0) continue;
    found = 1;
    json_array_append_new(ids, json_string(id));
  }
  if (rc < 0 || (only && !found)) {
    json_decref(ids);
    return rc < 0 ? rc : STORE_ENOTFOUND;
  }
  *out = ids;
  return STORE_OK;
}

/* The FTS5 query: any term in the text, in one of the conversations, from the
 * sender when one is asked for. */
static void match_expr(buf_t *b, json_t *terms, json_t *convs, const char *sender) {
  or_list(b, "text", terms);
  buf_append_str(b, " AND ");
  or_list(b, "conversation_id", convs);
  if (sender) {
    buf_append_str(b, " AND sender_id : ");
    quoted(b, sender);
  }
  buf_append(b, "", 1); /* NUL */
}

/* Collects up to window matches, newest first, within the work budget. */
static int scan(sqlite_db_t *d, const char *match, json_t *p, hit_t *hits, int window, int *n) {
  const char *before = sqlite_db_pstr(p, "before"), *after = sqlite_db_pstr(p, "after");
  sqlite3_stmt *st = sqlite_db_query(
      d,
      "SELECT messages_fts.rowid, bm25(messages_fts, 1.0, 0.0, 0.0) FROM messages_fts"
      " JOIN messages m ON m.rowid = messages_fts.rowid"
      " WHERE messages_fts MATCH ? AND m.deleted = 0 AND m.created_at < ? AND m.created_at > ?"
      " ORDER BY messages_fts.rowid DESC LIMIT ?",
      "sssi", match, before ? before : "~", after ? after : "", (int64_t)window);
  if (!st) return STORE_EUNAVAILABLE;
  int ticks = 0, rc;
  sqlite3_progress_handler(d->db, 1000, budget_spent, &ticks);
  *n = 0;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW && *n < window) {
    hits[*n].rowid = sqlite3_column_int64(st, 0);
    hits[*n].score = -sqlite3_column_double(st, 1); /* bm25: lower is better */
    (*n)++;
  }
  sqlite3_progress_handler(d->db, 0, NULL, NULL);
  sqlite3_reset(st);
  if (rc == SQLITE_ROW || rc == SQLITE_DONE || rc == SQLITE_INTERRUPT) return STORE_OK;
  return sqlite_db_status(d, rc, "search");
}

static int by_rank(const void *a, const void *b) {
  const hit_t *x = a, *y = b;
  if (x->score != y->score) return x->score > y->score ? -1 : 1;
  return x->rowid > y->rowid ? -1 : x->rowid < y->rowid;
}

/* The page [offset, offset + limit) of the ranked hits, as {message, score}. */
static int page(sqlite_db_t *d, hit_t *hits, int n, int64_t offset, int64_t limit,
                json_t *results) {
  for (int64_t i = offset; i < n && i < offset + limit; i++) {
    json_t *m = sqlite_msg_one(
        d, sqlite_db_query(d, "SELECT " SQLITE_MSG_COLS " FROM messages WHERE rowid = ?", "i",
                           hits[i].rowid));
    if (!m) return STORE_EUNAVAILABLE;
    json_array_append_new(results, json_pack("{s:o, s:f}", "message", m, "score", hits[i].score));
  }
  return STORE_OK;
}

int sqlite_msg_search(sqlite_db_t *d, json_t *p, json_t **result) {
  json_t *terms = json_object_get(p, "terms");
  int64_t offset = sqlite_db_pint(p, "offset", 0), limit = sqlite_db_pint(p, "limit", 20);
  int64_t window = sqlite_db_pint(p, "window", SEARCH_WINDOW_MAX);
  if (!sqlite_db_pstr(p, "user_id") || !json_is_array(terms) || json_array_size(terms) == 0 ||
      offset < 0 || limit <= 0 || window <= 0 || window > SEARCH_WINDOW_MAX)
    return STORE_EINVAL;
  json_t *convs = NULL;
  int status = searchable(d, p, &convs);
  if (status != STORE_OK) return status;
  json_t *results = json_array();
  int n = 0;
  hit_t *hits = NULL;
  int64_t left = 0;
  if (json_array_size(convs) > 0 && offset < window) {
    status = sqlite_msg_index(d, INT64_MAX, &left); /* every message stored so far */
    /* Nothing is left for an idle step, whose write transaction would only
     * contend with the other instances (if this one rolls back, the next
     * insert or search indexes again). */
    if (status == STORE_OK) d->unindexed = left;
  }
  if (status == STORE_OK && json_array_size(convs) > 0 && offset < window) {
    buf_t match;
    buf_init(&match);
    match_expr(&match, terms, convs, sqlite_db_pstr(p, "sender_id"));
    hits = malloc((size_t)window * sizeof(*hits));
    status = hits ? scan(d, match.data, p, hits, (int)window, &n) : STORE_EUNAVAILABLE;
    buf_free(&match);
    if (status == STORE_OK) {
      qsort(hits, (size_t)n, sizeof(*hits), by_rank);
      status = page(d, hits, n, offset, limit, results);
    }
  }
  free(hits);
  json_decref(convs);
  if (status != STORE_OK) {
    json_decref(results);
    return status;
  }
  *result = json_pack("{s:o, s:b}", "results", results, "has_more", offset + limit < n);
  return STORE_OK;
}
