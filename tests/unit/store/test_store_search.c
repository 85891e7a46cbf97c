/* The store contract of MSG_SEARCH on both backends: only the caller's
 * conversations, case and diacritics folded, whole words, any term with more
 * terms ranked first, filters by conversation, sender and date, paging without
 * repeats, edits and deletions reflected at once, excluded conversation types,
 * a message found as soon as it is stored (SQLite indexes off the insert
 * path); on SQLite, the migrations that built the index (5) and moved it off
 * the insert path (12) over the messages stored before them. SQLite
 * always (a temp file), MongoDB when PARLEY_TEST_MONGO_URI is set (a fresh
 * database per test). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "store_sync.h"

#include "parley/store.h"
#include "parley/util.h"

typedef struct fx_s {
  uv_loop_t loop;
  store_t *store;
  int mongo;
  char where[512];
  char ann[25], bob[25], cat[25];
  char group[25], direct[25]; /* ann+bob+cat group; bob+cat direct */
} fx_t;

static int call(fx_t *f, enum store_op op, json_t *params, json_t **out) {
  return store_sync_call(&f->loop, f->store, op, params, out, NULL);
}

static void mongo_uri_with_db(const char *uri, const char *db, char *out, size_t n) {
  const char *hosts = strstr(uri, "://");
  hosts = hosts ? hosts + 3 : uri;
  size_t host_len = strcspn(hosts, "/?");
  const char *opts = strchr(hosts + host_len, '?');
  snprintf(out, n, "%.*s/%s%s", (int)(hosts - uri + host_len), uri, db, opts ? opts : "");
}

static store_t *open_store(fx_t *f) {
  if (f->mongo) return store_open_mongo(&f->loop, f->where, 1000, 3000);
  return store_open_sqlite(&f->loop, f->where, 1000);
}

static void on_closed(void *arg) { *(int *)arg = 1; }

static void close_store(fx_t *f) {
  int closed = 0;
  store_close(f->store, on_closed, &closed);
  while (!closed) uv_run(&f->loop, UV_RUN_ONCE);
  f->store = NULL;
}

static void new_user(fx_t *f, const char *email, char id[25]) {
  json_t *u = NULL;
  assert_int_equal(call(f, USER_CREATE,
                        json_pack("{s:s,s:s,s:s}", "email", email, "name", email, "password_hash",
                                  "$argon2id$x"),
                        &u),
                   STORE_OK);
  strcpy(id, json_string_value(json_object_get(u, "id")));
  json_decref(u);
}

static void new_conv(fx_t *f, const char *type, json_t *ids, char id[25]) {
  json_t *r = NULL;
  assert_int_equal(
      call(f, CONV_CREATE,
           json_pack("{s:s,s:s,s:s,s:o}", "type", type, "name", "room", "creator_id",
                     json_string_value(json_array_get(ids, 0)), "participant_ids", ids),
           &r),
      STORE_OK);
  strcpy(id, json_string_value(json_object_get(json_object_get(r, "conversation"), "id")));
  json_decref(r);
}

static int setup(void **state) {
  fx_t *f = calloc(1, sizeof(*f));
  f->mongo = *state != NULL;
  assert_int_equal(uv_loop_init(&f->loop), 0);
  char id[25];
  util_new_id(id);
  if (f->mongo) {
    char db[40];
    snprintf(db, sizeof(db), "parley_search_%s", id);
    mongo_uri_with_db(*state, db, f->where, sizeof(f->where));
  } else {
    snprintf(f->where, sizeof(f->where), "%s/parley-search-test-%s.db",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp", id);
  }
  f->store = open_store(f);
  assert_non_null(f->store);
  new_user(f, "ann@example.com", f->ann);
  new_user(f, "bob@example.com", f->bob);
  new_user(f, "cat@example.com", f->cat);
  new_conv(f, "group", json_pack("[s,s,s]", f->ann, f->bob, f->cat), f->group);
  new_conv(f, "direct", json_pack("[s,s]", f->bob, f->cat), f->direct);
  *state = f;
  return 0;
}

static int teardown(void **state) {
  fx_t *f = *state;
  if (f->store) close_store(f);
  uv_run(&f->loop, UV_RUN_DEFAULT);
  assert_int_equal(uv_loop_close(&f->loop), 0);
  if (!f->mongo) {
    char side[600];
    unlink(f->where);
    snprintf(side, sizeof(side), "%s-wal", f->where);
    unlink(side);
    snprintf(side, sizeof(side), "%s-shm", f->where);
    unlink(side);
  }
  free(f);
  return 0;
}

/* Stores a message; returns its id in id (when given). */
static void send_text(fx_t *f, const char *conv, const char *sender, const char *text, char *id) {
  json_t *r = NULL;
  assert_int_equal(call(f, MSG_INSERT,
                        json_pack("{s:s,s:s,s:s,s:s,s:b}", "conversation_id", conv, "sender_id",
                                  sender, "text", text, "source", "web", "check_member", 1),
                        &r),
                   STORE_OK);
  if (id) strcpy(id, json_string_value(json_object_get(json_object_get(r, "message"), "id")));
  json_decref(r);
}

/* MSG_SEARCH for user with terms (a JSON array literal) and extra params
 * (stolen, may be NULL); returns the status, *out the result. */
static int search(fx_t *f, const char *user, const char *terms, json_t *extra, json_t **out) {
  json_t *p = json_pack("{s:s, s:o, s:[], s:i, s:i, s:i}", "user_id", user, "terms",
                        json_loads(terms, 0, NULL), "exclude_types", "offset", 0, "limit", 20,
                        "window", 1000);
  if (extra) {
    json_object_update(p, extra);
    json_decref(extra);
  }
  return call(f, MSG_SEARCH, p, out);
}

/* The texts of a result, in order, joined by '|'. */
static void texts(json_t *r, char *out, size_t n) {
  out[0] = '\0';
  size_t i;
  json_t *hit;
  json_array_foreach(json_object_get(r, "results"), i, hit) {
    json_t *m = json_object_get(hit, "message");
    assert_true(json_is_number(json_object_get(hit, "score")));
    assert_false(json_is_true(json_object_get(m, "deleted")));
    if (i) strncat(out, "|", n - strlen(out) - 1);
    strncat(out, json_string_value(json_object_get(m, "text")), n - strlen(out) - 1);
  }
}

static void assert_found(fx_t *f, const char *user, const char *terms, json_t *extra,
                         const char *expected) {
  json_t *r = NULL;
  assert_int_equal(search(f, user, terms, extra, &r), STORE_OK);
  char got[4096];
  texts(r, got, sizeof(got));
  assert_string_equal(got, expected);
  json_decref(r);
}

static void test_search_folds_and_ranks(void **state) {
  fx_t *f = *state;
  send_text(f, f->group, f->ann, "Un CAFÉ crème, s'il vous plaît", NULL);
  send_text(f, f->group, f->bob, "nothing to see", NULL);
  send_text(f, f->group, f->bob, "cafeteria is not a whole word match", NULL);
  send_text(f, f->group, f->cat, "cafe au lait", NULL);
  send_text(f, f->direct, f->bob, "café between bob and cat only", NULL);
  /* Ann is not in the direct conversation: its café is not hers to find. The
   * message with both terms ranks first; then the newest of the rest. */
  assert_found(f, f->ann, "[\"lait\", \"cafe\"]", NULL,
               "cafe au lait|Un CAFÉ crème, s'il vous plaît");
  assert_found(f, f->ann, "[\"creme\"]", NULL, "Un CAFÉ crème, s'il vous plaît");
  assert_found(f, f->ann, "[\"absent\"]", NULL, "");
  /* Bob sees both conversations. */
  json_t *r = NULL;
  assert_int_equal(search(f, f->bob, "[\"cafe\"]", NULL, &r), STORE_OK);
  assert_int_equal(json_array_size(json_object_get(r, "results")), 3);
  assert_false(json_is_true(json_object_get(r, "has_more")));
  json_t *m = json_object_get(json_array_get(json_object_get(r, "results"), 0), "message");
  assert_non_null(json_object_get(m, "seq"));
  assert_non_null(json_object_get(m, "conversation_id"));
  assert_true(json_is_array(json_object_get(m, "reactions")));
  json_decref(r);
  /* Bad params. */
  assert_int_equal(search(f, f->ann, "[]", NULL, NULL), STORE_EINVAL);
  assert_int_equal(search(f, f->ann, "[\"x\"]", json_pack("{s:i}", "window", 5000), NULL),
                   STORE_EINVAL);
}

static void test_search_filters(void **state) {
  fx_t *f = *state;
  send_text(f, f->group, f->ann, "plan one from ann", NULL);
  send_text(f, f->group, f->bob, "plan two from bob", NULL);
  send_text(f, f->direct, f->bob, "plan three in direct", NULL);
  assert_found(f, f->bob, "[\"plan\"]", json_pack("{s:s}", "conversation_id", f->group),
               "plan two from bob|plan one from ann");
  assert_found(f, f->bob, "[\"plan\"]", json_pack("{s:s}", "sender_id", f->ann),
               "plan one from ann");
  assert_found(f, f->bob, "[\"plan\"]",
               json_pack("{s:s, s:s}", "sender_id", f->bob, "conversation_id", f->direct),
               "plan three in direct");
  /* A conversation the caller is not in, or that does not exist: ENOTFOUND. */
  assert_int_equal(
      search(f, f->ann, "[\"plan\"]", json_pack("{s:s}", "conversation_id", f->direct), NULL),
      STORE_ENOTFOUND);
  assert_int_equal(search(f, f->ann, "[\"plan\"]",
                          json_pack("{s:s}", "conversation_id", "000000000000000000000000"), NULL),
                   STORE_ENOTFOUND);
  /* Dates: every message is before tomorrow and after yesterday; none after
   * tomorrow. */
  char past[32], future[32];
  util_iso8601(util_now_ms() - 86400000, past);
  util_iso8601(util_now_ms() + 86400000, future);
  assert_found(f, f->ann, "[\"plan\"]", json_pack("{s:s, s:s}", "before", future, "after", past),
               "plan two from bob|plan one from ann");
  assert_found(f, f->ann, "[\"plan\"]", json_pack("{s:s}", "after", future), "");
  assert_found(f, f->ann, "[\"plan\"]", json_pack("{s:s}", "before", past), "");
  /* Excluded conversation types are never searched. */
  assert_found(f, f->bob, "[\"plan\"]", json_pack("{s:[s]}", "exclude_types", "group"),
               "plan three in direct");
  assert_int_equal(
      search(f, f->bob, "[\"plan\"]",
             json_pack("{s:[s], s:s}", "exclude_types", "group", "conversation_id", f->group),
             NULL),
      STORE_ENOTFOUND);
}

static void test_search_pages(void **state) {
  fx_t *f = *state;
  char text[64];
  for (int i = 0; i < 7; i++) {
    snprintf(text, sizeof(text), "report number %d", i);
    send_text(f, f->group, f->ann, text, NULL);
  }
  char seen[7] = {0};
  int total = 0;
  for (int offset = 0; offset < 8; offset += 3) {
    json_t *r = NULL;
    assert_int_equal(search(f, f->cat, "[\"report\"]",
                            json_pack("{s:i, s:i}", "offset", offset, "limit", 3), &r),
                     STORE_OK);
    json_t *results = json_object_get(r, "results");
    assert_int_equal(json_array_size(results), offset < 6 ? 3 : 1);
    assert_int_equal(json_is_true(json_object_get(r, "has_more")), offset + 3 < 7);
    size_t i;
    json_t *hit;
    json_array_foreach(results, i, hit) {
      const char *t = json_string_value(json_object_get(json_object_get(hit, "message"), "text"));
      int k = t[strlen(t) - 1] - '0';
      assert_int_equal(seen[k], 0);
      seen[k] = 1;
      total++;
    }
    json_decref(r);
  }
  assert_int_equal(total, 7);
  /* The window bounds what is ranked: with a window of 4, only the newest 4. */
  json_t *r = NULL;
  assert_int_equal(search(f, f->cat, "[\"report\"]", json_pack("{s:i}", "window", 4), &r),
                   STORE_OK);
  assert_int_equal(json_array_size(json_object_get(r, "results")), 4);
  json_t *hit;
  size_t i;
  json_array_foreach(json_object_get(r, "results"), i, hit) {
    const char *t = json_string_value(json_object_get(json_object_get(hit, "message"), "text"));
    assert_true(t[strlen(t) - 1] >= '3');
  }
  json_decref(r);
}

static void test_search_follows_edits_and_deletes(void **state) {
  fx_t *f = *state;
  char a[25], b[25];
  send_text(f, f->group, f->ann, "the old wording", a);
  send_text(f, f->group, f->bob, "keep this pineapple", b);
  assert_found(f, f->cat, "[\"wording\"]", NULL, "the old wording");
  assert_int_equal(
      call(f, MSG_EDIT,
           json_pack("{s:s,s:s,s:s}", "id", a, "user_id", f->ann, "text", "a brand new phrasing"),
           NULL),
      STORE_OK);
  assert_found(f, f->cat, "[\"wording\"]", NULL, "");
  assert_found(f, f->cat, "[\"phrasing\"]", NULL, "a brand new phrasing");
  assert_found(f, f->cat, "[\"pineapple\"]", NULL, "keep this pineapple");
  assert_int_equal(call(f, MSG_DELETE, json_pack("{s:s,s:s}", "id", b, "user_id", f->bob), NULL),
                   STORE_OK);
  assert_found(f, f->cat, "[\"pineapple\"]", NULL, "");
  assert_found(f, f->cat, "[\"phrasing\", \"pineapple\"]", NULL, "a brand new phrasing");
}

static void count_reply(void *ctx, int status, json_t *result) {
  int *left = ctx;
  assert_int_equal(status, STORE_OK);
  json_decref(result);
  (*left)--;
}

/* What was stored is found by the next search, however little time passed:
 * 120 messages stored at once, the search asked as the last is acknowledged
 * (on SQLite, before the store thread has been idle long enough to index). */
static void test_search_finds_what_was_just_stored(void **state) {
  fx_t *f = *state;
  char text[64];
  int left = 120;
  for (int i = 0; i < 120; i++) {
    snprintf(text, sizeof(text), "needle %d in the haystack", i);
    assert_int_equal(
        store_call(f->store, MSG_INSERT,
                   json_pack("{s:s,s:s,s:s,s:s}", "conversation_id", f->group, "sender_id",
                             i % 2 ? f->ann : f->bob, "text", text, "source", "web"),
                   count_reply, &left),
        0);
  }
  while (left > 0) uv_run(&f->loop, UV_RUN_ONCE);
  json_t *r = NULL;
  assert_int_equal(search(f, f->cat, "[\"needle\"]", json_pack("{s:i}", "limit", 200), &r),
                   STORE_OK);
  assert_int_equal(json_array_size(json_object_get(r, "results")), 120);
  json_decref(r);
  send_text(f, f->direct, f->bob, "one more straw", NULL);
  assert_found(f, f->cat, "[\"straw\"]", NULL, "one more straw");
}

/* Edits and deletions right after the store, with no search in between (on
 * SQLite, of messages not yet indexed: the indexer reads them as they are
 * then), are reflected as they are for indexed ones. */
static void test_search_follows_edits_and_deletes_when_fresh(void **state) {
  fx_t *f = *state;
  char a[25], b[25];
  send_text(f, f->group, f->ann, "a first draft", a);
  send_text(f, f->group, f->bob, "a doomed kumquat", b);
  assert_int_equal(
      call(f, MSG_EDIT,
           json_pack("{s:s,s:s,s:s}", "id", a, "user_id", f->ann, "text", "the final version"),
           NULL),
      STORE_OK);
  assert_int_equal(call(f, MSG_DELETE, json_pack("{s:s,s:s}", "id", b, "user_id", f->bob), NULL),
                   STORE_OK);
  assert_found(f, f->cat, "[\"draft\"]", NULL, "");
  assert_found(f, f->cat, "[\"kumquat\"]", NULL, "");
  assert_found(f, f->cat, "[\"final\"]", NULL, "the final version");
  /* Indexed now: a second edit goes through the index's own update. */
  assert_int_equal(
      call(f, MSG_EDIT,
           json_pack("{s:s,s:s,s:s}", "id", a, "user_id", f->ann, "text", "the real final cut"),
           NULL),
      STORE_OK);
  assert_found(f, f->cat, "[\"version\"]", NULL, "");
  assert_found(f, f->cat, "[\"cut\"]", NULL, "the real final cut");
}

static void sql(fx_t *f, const char *statements) {
  sqlite3 *db = NULL;
  assert_int_equal(sqlite3_open(f->where, &db), SQLITE_OK);
  char *err = NULL;
  int rc = sqlite3_exec(db, statements, NULL, NULL, &err);
  if (rc != SQLITE_OK) fprintf(stderr, "sql: %s\n", err ? err : "?");
  sqlite3_free(err);
  sqlite3_close(db);
  assert_int_equal(rc, SQLITE_OK);
}

static int64_t sql_int(fx_t *f, const char *query) {
  sqlite3 *db = NULL;
  sqlite3_stmt *st = NULL;
  assert_int_equal(sqlite3_open(f->where, &db), SQLITE_OK);
  assert_int_equal(sqlite3_prepare_v2(db, query, -1, &st, NULL), SQLITE_OK);
  assert_int_equal(sqlite3_step(st), SQLITE_ROW);
  int64_t v = sqlite3_column_int64(st, 0);
  sqlite3_finalize(st);
  sqlite3_close(db);
  return v;
}

/* SQLite: a database of the previous release (version 11, the index kept by
 * migration 5's triggers) keeps its index through migration 12: what it held
 * is found once, its edits and deletions still reach the index, and what is
 * stored after is indexed off the insert path. Migration 12 (and 13 to 33 after it)
 * is undone as that release's database would be, with migration 5's triggers
 * put back. */
static void test_search_migration_moves_indexing_off_inserts(void **state) {
  fx_t *f = *state;
  if (f->mongo) return;
  char a[25], b[25];
  send_text(f, f->group, f->ann, "an older apricot", a);
  send_text(f, f->group, f->bob, "an older quince", b);
  assert_found(f, f->cat, "[\"older\"]", NULL, "an older quince|an older apricot");
  close_store(f);
  sql(f,
      /* migrations 37 to 39 first: their indexes name columns dropped below */
      "DROP TRIGGER participants_activity_conv; DROP TRIGGER participants_activity_new;"
      " DROP INDEX participants_activity; DROP INDEX participants_unsorted;"
      " ALTER TABLE participants DROP COLUMN activity; DROP INDEX messages_flow_client;"
      " DROP INDEX users_avatar; DROP INDEX conversations_avatar;"
      " DROP INDEX conversations_instagram;"
      "DROP TRIGGER messages_fts_delete; DROP TRIGGER messages_fts_update;"
      " DROP TABLE messages_fts_state;"
      "CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages"
      " WHEN new.text IS NOT NULL AND new.deleted = 0 BEGIN"
      " INSERT INTO messages_fts (rowid, text, conversation_id, sender_id)"
      " VALUES (new.rowid, new.text, new.conversation_id, new.sender_id); END;"
      "CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages"
      " WHEN old.text IS NOT NULL AND old.deleted = 0 BEGIN"
      " INSERT INTO messages_fts (messages_fts, rowid, text, conversation_id, sender_id)"
      " VALUES ('delete', old.rowid, old.text, old.conversation_id, old.sender_id); END;"
      "CREATE TRIGGER messages_fts_update AFTER UPDATE OF text, deleted ON messages BEGIN"
      " INSERT INTO messages_fts (messages_fts, rowid, text, conversation_id, sender_id)"
      " SELECT 'delete', old.rowid, old.text, old.conversation_id, old.sender_id"
      " WHERE old.text IS NOT NULL AND old.deleted = 0;"
      " INSERT INTO messages_fts (rowid, text, conversation_id, sender_id)"
      " SELECT new.rowid, new.text, new.conversation_id, new.sender_id"
      " WHERE new.text IS NOT NULL AND new.deleted = 0; END;"
      /* and migration 13 (send leases and token-refresh claims) */
      "ALTER TABLE messages DROP COLUMN pending_until_ms;"
      "ALTER TABLE instagram_accounts DROP COLUMN refresh_until_ms;"
      /* and migration 14 (conversations by contact) */
      "DROP INDEX conversations_contact;"
      /* and migration 15 (e-mail codes) */
      "DROP TABLE email_codes; ALTER TABLE users DROP COLUMN email_verified;"
      /* and migration 16 (channels) */
      "DROP INDEX conversations_invite; DROP INDEX conversations_public;"
      " ALTER TABLE conversations DROP COLUMN public;"
      " ALTER TABLE conversations DROP COLUMN member_count;"
      " ALTER TABLE conversations DROP COLUMN invite_token;"
      /* and migration 17 (replies, mentions and mute) */
      "ALTER TABLE messages DROP COLUMN reply_to; ALTER TABLE messages DROP COLUMN mentions;"
      " ALTER TABLE participants DROP COLUMN mention_count;"
      " ALTER TABLE participants DROP COLUMN muted_until;"
      /* and migrations 18, 23, 31 and 32 (attachments, images, Instagram media, refs) */
      "DROP TABLE attachments;"
      /* and migration 35 (bots in channels) */
      "DROP TRIGGER participants_bot; DROP INDEX participants_bot;"
      " ALTER TABLE participants DROP COLUMN bot;"
      /* and migration 30 (bots) */
      "DROP TABLE bots; DROP TABLE bot_deliveries; ALTER TABLE users DROP COLUMN kind;"
      /* and migration 26 (avatars) */
      "ALTER TABLE users DROP COLUMN avatar_id;"
      " ALTER TABLE conversations DROP COLUMN avatar_id;"
      /* and migration 19 (the key directory) */
      "DROP TABLE devices; DROP TABLE device_prekeys;"
      /* and migration 20 (flow versions and analytics) */
      "DROP TABLE flow_versions; DROP TABLE flow_stats; DROP INDEX flow_runs_live;"
      " ALTER TABLE flows DROP COLUMN version; ALTER TABLE flows DROP COLUMN live;"
      " ALTER TABLE flow_runs DROP COLUMN version;"
      /* and migration 21 (secret chats and calls: messages' payload) */
      "ALTER TABLE messages DROP COLUMN payload;"
      /* and migration 22 (unsent uploads): went with the attachments table */
      /* and migration 24 (flow runs by contact, asks' waits) */
      "DROP INDEX flow_runs_contact; DROP INDEX scheduled_wait;"
      " ALTER TABLE scheduled_steps DROP COLUMN wait_for;"
      " ALTER TABLE instagram_accounts DROP COLUMN timezone;"
      /* and migration 25 (calls) */
      "DROP TABLE calls;"
      /* and migrations 27 to 29 (claims, 34's column too; reached sets; OAuth states) */
      "DROP TABLE flow_claims; DROP TABLE flow_reached; DROP TABLE oauth_states;"
      /* and migration 33 (push subscriptions) */
      "DROP TABLE push_subscriptions;"
      /* and migration 36 (key fingerprints) */
      "DROP TABLE key_checks;"
      "DELETE FROM schema_version WHERE version >= 12;");
  f->store = open_store(f);
  assert_non_null(f->store);
  /* Indexed once (a second copy would rank and page twice), and kept in step. */
  assert_int_equal(sql_int(f,
                           "SELECT indexed = (SELECT max(rowid) FROM messages)"
                           " FROM messages_fts_state"),
                   1);
  assert_found(f, f->cat, "[\"older\"]", NULL, "an older quince|an older apricot");
  assert_int_equal(
      call(f, MSG_EDIT,
           json_pack("{s:s,s:s,s:s}", "id", a, "user_id", f->ann, "text", "a newer plum"), NULL),
      STORE_OK);
  assert_int_equal(call(f, MSG_DELETE, json_pack("{s:s,s:s}", "id", b, "user_id", f->bob), NULL),
                   STORE_OK);
  assert_found(f, f->cat, "[\"older\"]", NULL, "");
  assert_found(f, f->cat, "[\"plum\"]", NULL, "a newer plum");
  send_text(f, f->group, f->cat, "a plum after", NULL);
  assert_found(f, f->cat, "[\"plum\"]", NULL, "a plum after|a newer plum");
  /* Deleting the largest rowids lowers the mark, so SQLite's reuse of them
   * leaves nothing unindexed. */
  close_store(f);
  sql(f, "DELETE FROM messages WHERE rowid = (SELECT max(rowid) FROM messages)");
  assert_int_equal(sql_int(f,
                           "SELECT indexed = (SELECT max(rowid) FROM messages)"
                           " FROM messages_fts_state"),
                   1);
  f->store = open_store(f);
  assert_non_null(f->store);
  send_text(f, f->group, f->cat, "a plum again", NULL);
  assert_found(f, f->cat, "[\"plum\"]", NULL, "a plum again|a newer plum");
}

/* SQLite: messages stored before migration 5 are indexed by it. The index is
 * dropped (and what later migrations added) and the version put back to 4, as
 * a database of the previous release would be; reopening migrates it. */
static void test_search_migration_indexes_old_messages(void **state) {
  fx_t *f = *state;
  if (f->mongo) return; /* MongoDB builds a new text index over existing documents itself */
  send_text(f, f->group, f->ann, "stored before the index existed", NULL);
  close_store(f);
  sqlite3 *db = NULL;
  assert_int_equal(sqlite3_open(f->where, &db), SQLITE_OK);
  assert_int_equal(
      sqlite3_exec(
          db,
          /* migrations 37 to 39 first: their indexes name columns dropped below */
          "DROP TRIGGER participants_activity_conv; DROP TRIGGER participants_activity_new;"
          " DROP INDEX participants_activity; DROP INDEX participants_unsorted;"
          " ALTER TABLE participants DROP COLUMN activity; DROP INDEX messages_flow_client;"
          " DROP INDEX users_avatar; DROP INDEX conversations_avatar;"
          " DROP INDEX conversations_instagram;"
          /* migration 12 (indexing off the insert path) replaced 5's triggers */
          "DROP TRIGGER messages_fts_delete; DROP TRIGGER messages_fts_update;"
          " DROP TABLE messages_fts_state; DROP TABLE messages_fts;"
          /* and migration 6 (Instagram delivery and account health) */
          " DROP INDEX messages_pending; ALTER TABLE messages DROP COLUMN status;"
          " ALTER TABLE messages DROP COLUMN error;"
          " ALTER TABLE instagram_accounts DROP COLUMN status;"
          " ALTER TABLE instagram_accounts DROP COLUMN status_error;"
          " ALTER TABLE instagram_accounts DROP COLUMN token_expires_at;"
          /* and migration 7 (the team inbox and human takeover) */
          " DROP TABLE ig_agents; DROP TABLE agent_reads; DROP INDEX conversations_creator;"
          " ALTER TABLE conversations DROP COLUMN assignee_id;"
          " ALTER TABLE contacts DROP COLUMN automation_paused_until_ms;"
          " DROP INDEX scheduled_held; ALTER TABLE scheduled_steps DROP COLUMN held_for;"
          /* and migration 8 (contact profiles) */
          " DROP INDEX contacts_owner; ALTER TABLE contacts DROP COLUMN name;"
          " ALTER TABLE contacts DROP COLUMN profile_pic;"
          " ALTER TABLE contacts DROP COLUMN profile_fetched_at;"
          " ALTER TABLE contacts DROP COLUMN last_read_seq;"
          /* and migration 9 (logins) */
          " DROP TABLE logins;"
          /* and migration 10 (delivery receipts) */
          " ALTER TABLE participants DROP COLUMN last_delivered_seq;"
          /* and migration 11 (presence: last_seen) */
          " ALTER TABLE users DROP COLUMN last_seen;"
          /* and migration 13 (send leases and token-refresh claims) */
          " ALTER TABLE messages DROP COLUMN pending_until_ms;"
          " ALTER TABLE instagram_accounts DROP COLUMN refresh_until_ms;"
          /* and migration 14 (conversations by contact) */
          " DROP INDEX conversations_contact;"
          /* and migration 15 (e-mail codes) */
          " DROP TABLE email_codes; ALTER TABLE users DROP COLUMN email_verified;"
          /* and migration 16 (channels) */
          " DROP INDEX conversations_invite; DROP INDEX conversations_public;"
          " ALTER TABLE conversations DROP COLUMN public;"
          " ALTER TABLE conversations DROP COLUMN member_count;"
          " ALTER TABLE conversations DROP COLUMN invite_token;"
          /* and migration 17 (replies, mentions and mute) */
          " ALTER TABLE messages DROP COLUMN reply_to; ALTER TABLE messages DROP COLUMN mentions;"
          " ALTER TABLE participants DROP COLUMN mention_count;"
          " ALTER TABLE participants DROP COLUMN muted_until;"
          /* and migrations 18, 23, 31 and 32 (attachments, images, Instagram media, refs) */
          " DROP TABLE attachments;"
          /* and migration 35 (bots in channels) */
          " DROP TRIGGER participants_bot; DROP INDEX participants_bot;"
          " ALTER TABLE participants DROP COLUMN bot;"
          /* and migration 30 (bots) */
          " DROP TABLE bots; DROP TABLE bot_deliveries; ALTER TABLE users DROP COLUMN kind;"
          /* and migration 26 (avatars) */
          " ALTER TABLE users DROP COLUMN avatar_id;"
          " ALTER TABLE conversations DROP COLUMN avatar_id;"
          /* and migration 19 (the key directory) */
          " DROP TABLE devices; DROP TABLE device_prekeys;"
          /* and migration 20 (flow versions and analytics) */
          " DROP TABLE flow_versions; DROP TABLE flow_stats; DROP INDEX flow_runs_live;"
          " ALTER TABLE flows DROP COLUMN version; ALTER TABLE flows DROP COLUMN live;"
          " ALTER TABLE flow_runs DROP COLUMN version;"
          /* and migration 21 (secret chats and calls: messages' payload) */
          " ALTER TABLE messages DROP COLUMN payload;"
          /* and migration 22 (flow runs by contact, asks' waits) */
          " DROP INDEX flow_runs_contact; DROP INDEX scheduled_wait;"
          " ALTER TABLE scheduled_steps DROP COLUMN wait_for;"
          " ALTER TABLE instagram_accounts DROP COLUMN timezone;"
          /* and migration 25 (calls) */
          " DROP TABLE calls;"
          /* and migrations 27 to 29 (claims, 34's column too; reached sets; OAuth states) */
          " DROP TABLE flow_claims; DROP TABLE flow_reached; DROP TABLE oauth_states;"
          /* and migration 33 (push subscriptions) */
          " DROP TABLE push_subscriptions;"
          /* and migration 36 (key fingerprints) */
          " DROP TABLE key_checks;"
          " DELETE FROM schema_version WHERE version >= 5;",
          NULL, NULL, NULL),
      SQLITE_OK);
  sqlite3_close(db);
  f->store = open_store(f);
  assert_non_null(f->store);
  assert_found(f, f->bob, "[\"existed\"]", NULL, "stored before the index existed");
  send_text(f, f->group, f->bob, "stored after the index existed", NULL);
  assert_found(f, f->bob, "[\"existed\"]", NULL,
               "stored after the index existed|stored before the index existed");
}

#define T(name) cmocka_unit_test_prestate_setup_teardown(name, setup, teardown, backend)

static int run_suite(const char *group, void *backend) {
  const struct CMUnitTest tests[] = {
      T(test_search_folds_and_ranks),
      T(test_search_filters),
      T(test_search_pages),
      T(test_search_follows_edits_and_deletes),
      T(test_search_finds_what_was_just_stored),
      T(test_search_follows_edits_and_deletes_when_fresh),
      T(test_search_migration_indexes_old_messages),
      T(test_search_migration_moves_indexing_off_inserts),
  };
  return _cmocka_run_group_tests(group, tests, sizeof(tests) / sizeof(tests[0]), NULL, NULL);
}

int main(void) {
  int failed = run_suite("store_search_sqlite", NULL);
  const char *mongo = getenv("PARLEY_TEST_MONGO_URI");
  if (mongo && *mongo) failed += run_suite("store_search_mongo", (void *)mongo);
  return failed;
}
