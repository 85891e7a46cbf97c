/* SQLite-only store tests: what the contract suite cannot see from one fresh
 * database. Upgrading a database made by schema version 1 keeps its messages,
 * their reactions and their idempotency keys; a retried insert finds its original
 * even once the sender left; thousands of inserts in flight (group commits, the
 * checkpoint thread) all survive a reopen with gapless seqs, and the page cache
 * they filled is reported; a list page keeps participants in the order they
 * joined and reactions in the order first used. */
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
#include "../store_sync.h"

#include "parley/store.h"
#include "parley/util.h"
#include "store/sqlite/sqlite_internal.h"

typedef struct fx_s {
  uv_loop_t loop;
  store_t *store;
  store_t *other; /* a second connection to the same file, or NULL */
  char path[512];
} fx_t;

static int call(fx_t *f, enum store_op op, json_t *params, json_t **out) {
  return store_sync_call(&f->loop, f->store, op, params, out, NULL);
}

static void on_closed(void *arg) { *(int *)arg = 1; }

static void close_store(fx_t *f) {
  int closed = 0;
  store_close(f->store, on_closed, &closed);
  while (!closed) uv_run(&f->loop, UV_RUN_ONCE);
  f->store = NULL;
}

static int setup(void **state) {
  fx_t *f = calloc(1, sizeof(*f));
  assert_int_equal(uv_loop_init(&f->loop), 0);
  char id[25];
  util_new_id(id);
  snprintf(f->path, sizeof(f->path), "%s/parley-sqlite-test-%s.db",
           getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp", id);
  *state = f;
  return 0;
}

static int teardown(void **state) {
  fx_t *f = *state;
  if (f->other) {
    int closed = 0;
    store_close(f->other, on_closed, &closed);
    while (!closed) uv_run(&f->loop, UV_RUN_ONCE);
  }
  if (f->store) close_store(f);
  uv_run(&f->loop, UV_RUN_DEFAULT);
  assert_int_equal(uv_loop_close(&f->loop), 0);
  char side[600];
  unlink(f->path);
  snprintf(side, sizeof(side), "%s-wal", f->path);
  unlink(side);
  snprintf(side, sizeof(side), "%s-shm", f->path);
  unlink(side);
  free(f);
  return 0;
}

static const char *str(json_t *obj, const char *key) {
  return json_string_value(json_object_get(obj, key));
}
static json_int_t num(json_t *obj, const char *key) {
  return json_integer_value(json_object_get(obj, key));
}

/* Schema version 1 as it shipped (src/store/sqlite/sqlite_schema.c, migration 1),
 * frozen here: the upgrade must work from exactly this. */
static const char v1_schema[] =
    "CREATE TABLE users ("
    " id TEXT PRIMARY KEY, email TEXT UNIQUE, name TEXT NOT NULL, avatar_url TEXT,"
    " status TEXT NOT NULL DEFAULT 'offline', password_hash TEXT, deleted INTEGER NOT NULL DEFAULT "
    "0,"
    " created_at TEXT NOT NULL);"
    "CREATE INDEX users_name ON users(lower(name), id);"
    "CREATE TABLE refresh_tokens ("
    " token_hash TEXT PRIMARY KEY, user_id TEXT NOT NULL, family_id TEXT NOT NULL,"
    " expires_at_ms INTEGER NOT NULL, rotated INTEGER NOT NULL DEFAULT 0,"
    " revoked INTEGER NOT NULL DEFAULT 0);"
    "CREATE INDEX refresh_family ON refresh_tokens(family_id);"
    "CREATE INDEX refresh_user ON refresh_tokens(user_id);"
    "CREATE TABLE conversations ("
    " id TEXT PRIMARY KEY, type TEXT NOT NULL, name TEXT, creator_id TEXT NOT NULL, contact_id "
    "TEXT,"
    " pair_key TEXT UNIQUE, last_seq INTEGER NOT NULL DEFAULT 0,"
    " created_at TEXT NOT NULL, updated_at TEXT NOT NULL);"
    "CREATE TABLE participants ("
    " conversation_id TEXT NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,"
    " user_id TEXT NOT NULL REFERENCES users(id), role TEXT NOT NULL,"
    " last_read_seq INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (conversation_id, user_id));"
    "CREATE INDEX participants_user ON participants(user_id);"
    "CREATE TABLE messages ("
    " id TEXT PRIMARY KEY, conversation_id TEXT NOT NULL REFERENCES conversations(id) ON DELETE "
    "CASCADE,"
    " seq INTEGER NOT NULL, sender_id TEXT NOT NULL, text TEXT, client_id TEXT,"
    " source TEXT NOT NULL, attachments TEXT, external_id TEXT, created_at TEXT NOT NULL,"
    " edited_at TEXT, deleted INTEGER NOT NULL DEFAULT 0, UNIQUE (conversation_id, seq));"
    "CREATE UNIQUE INDEX messages_client ON messages(conversation_id, sender_id, client_id)"
    " WHERE client_id IS NOT NULL;"
    "CREATE UNIQUE INDEX messages_external ON messages(external_id) WHERE external_id IS NOT NULL;"
    "CREATE TABLE reactions ("
    " message_id TEXT NOT NULL REFERENCES messages(id) ON DELETE CASCADE, emoji TEXT NOT NULL,"
    " user_id TEXT NOT NULL, PRIMARY KEY (message_id, emoji, user_id));"
    "CREATE TABLE instagram_accounts ("
    " id TEXT PRIMARY KEY, user_id TEXT NOT NULL UNIQUE, ig_user_id TEXT NOT NULL UNIQUE,"
    " username TEXT, token_cipher TEXT, connected_at TEXT NOT NULL);"
    "CREATE TABLE contacts ("
    " id TEXT PRIMARY KEY, owner_id TEXT NOT NULL, ig_user_id TEXT NOT NULL, username TEXT,"
    " tags TEXT NOT NULL DEFAULT '[]', variables TEXT NOT NULL DEFAULT '{}', last_inbound_at TEXT,"
    " UNIQUE (owner_id, ig_user_id));"
    "CREATE TABLE webhook_events ("
    " id TEXT PRIMARY KEY, mid TEXT UNIQUE, payload TEXT NOT NULL,"
    " processed INTEGER NOT NULL DEFAULT 0, created_at TEXT NOT NULL);"
    "CREATE INDEX webhook_pending ON webhook_events(processed);"
    "CREATE TABLE flows ("
    " id TEXT PRIMARY KEY, owner_id TEXT NOT NULL, name TEXT NOT NULL, status TEXT NOT NULL,"
    " def TEXT NOT NULL, created_at TEXT NOT NULL, updated_at TEXT NOT NULL);"
    "CREATE INDEX flows_owner ON flows(owner_id, name);"
    "CREATE TABLE flow_runs ("
    " id TEXT PRIMARY KEY, flow_id TEXT NOT NULL, owner_id TEXT NOT NULL, contact_id TEXT,"
    " status TEXT NOT NULL, trace TEXT, state TEXT, created_at TEXT NOT NULL, updated_at TEXT NOT "
    "NULL);"
    "CREATE INDEX flow_runs_flow ON flow_runs(flow_id, created_at);"
    "CREATE TABLE scheduled_steps ("
    " id TEXT PRIMARY KEY, run_id TEXT NOT NULL, due_at_ms INTEGER NOT NULL);"
    "CREATE INDEX scheduled_due ON scheduled_steps(due_at_ms);";

/* A version 1 database: Ann and Bob in a direct conversation with two messages,
 * the first sent with client_id "c-1" and reacted to by Bob. */
static const char v1_data[] =
    "CREATE TABLE schema_version (version INTEGER NOT NULL); INSERT INTO schema_version VALUES (1);"
    "INSERT INTO users (id, email, name, created_at) VALUES"
    " ('aaaaaaaaaaaaaaaaaaaaaaaa', 'ann@x.io', 'Ann', '2026-01-01T00:00:00.000Z'),"
    " ('bbbbbbbbbbbbbbbbbbbbbbbb', 'bob@x.io', 'Bob', '2026-01-01T00:00:00.000Z');"
    "INSERT INTO conversations (id, type, creator_id, pair_key, last_seq, created_at, updated_at) "
    "VALUES"
    " ('cccccccccccccccccccccccc', 'direct', 'aaaaaaaaaaaaaaaaaaaaaaaa',"
    " 'direct:aaaaaaaaaaaaaaaaaaaaaaaa:bbbbbbbbbbbbbbbbbbbbbbbb', 2,"
    " '2026-01-01T00:00:00.000Z', '2026-01-01T00:00:02.000Z');"
    "INSERT INTO participants (conversation_id, user_id, role) VALUES"
    " ('cccccccccccccccccccccccc', 'aaaaaaaaaaaaaaaaaaaaaaaa', 'member'),"
    " ('cccccccccccccccccccccccc', 'bbbbbbbbbbbbbbbbbbbbbbbb', 'member');"
    "INSERT INTO messages (id, conversation_id, seq, sender_id, text, client_id, source, "
    "created_at) VALUES"
    " ('111111111111111111111111', 'cccccccccccccccccccccccc', 1, 'aaaaaaaaaaaaaaaaaaaaaaaa', "
    "'first', 'c-1',"
    " 'web', '2026-01-01T00:00:01.000Z'),"
    " ('222222222222222222222222', 'cccccccccccccccccccccccc', 2, 'bbbbbbbbbbbbbbbbbbbbbbbb', "
    "'second', NULL,"
    " 'web', '2026-01-01T00:00:02.000Z');"
    "INSERT INTO reactions (message_id, emoji, user_id) VALUES"
    " ('111111111111111111111111', '👍', 'bbbbbbbbbbbbbbbbbbbbbbbb');";

static void make_v1(const char *path) {
  sqlite3 *db = NULL;
  assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
  char *err = NULL;
  int rc = sqlite3_exec(db, v1_schema, NULL, NULL, &err);
  if (rc == SQLITE_OK) rc = sqlite3_exec(db, v1_data, NULL, NULL, &err);
  if (rc != SQLITE_OK) fail_msg("v1 fixture: %s", err);
  sqlite3_close(db);
}

static void test_upgrade_from_v1(void **state) {
  fx_t *f = *state;
  make_v1(f->path);
  f->store = store_open_sqlite(&f->loop, f->path, 100);
  assert_non_null(f->store);
  json_t *r = NULL;
  /* The old messages, with their reaction. */
  assert_int_equal(call(f, MSG_GET, json_pack("{s:s}", "id", "111111111111111111111111"), &r),
                   STORE_OK);
  json_t *m = json_object_get(r, "message");
  assert_string_equal(str(m, "text"), "first");
  assert_int_equal(num(m, "seq"), 1);
  json_t *reaction = json_array_get(json_object_get(m, "reactions"), 0);
  assert_string_equal(str(reaction, "emoji"), "👍");
  assert_string_equal(json_string_value(json_array_get(json_object_get(reaction, "user_ids"), 0)),
                      "bbbbbbbbbbbbbbbbbbbbbbbb");
  json_decref(r);
  /* The old client_id still identifies a retry. */
  assert_int_equal(
      call(f, MSG_INSERT,
           json_pack("{s:s,s:s,s:s,s:s,s:s}", "conversation_id", "cccccccccccccccccccccccc",
                     "sender_id", "aaaaaaaaaaaaaaaaaaaaaaaa", "text", "first again", "client_id",
                     "c-1", "source", "web"),
           &r),
      STORE_OK);
  assert_true(json_is_false(json_object_get(r, "created")));
  assert_string_equal(str(json_object_get(r, "message"), "id"), "111111111111111111111111");
  json_decref(r);
  /* New messages continue the conversation's seq. */
  assert_int_equal(
      call(f, MSG_INSERT,
           json_pack("{s:s,s:s,s:s,s:s}", "conversation_id", "cccccccccccccccccccccccc",
                     "sender_id", "bbbbbbbbbbbbbbbbbbbbbbbb", "text", "third", "source", "web"),
           &r),
      STORE_OK);
  assert_int_equal(num(json_object_get(r, "message"), "seq"), 3);
  json_decref(r);
  assert_int_equal(call(f, MSG_LIST,
                        json_pack("{s:s,s:s,s:i}", "conversation_id", "cccccccccccccccccccccccc",
                                  "user_id", "aaaaaaaaaaaaaaaaaaaaaaaa", "limit", 10),
                        &r),
                   STORE_OK);
  json_t *msgs = json_object_get(r, "messages");
  assert_int_equal(json_array_size(msgs), 3);
  assert_string_equal(str(json_array_get(msgs, 1), "text"), "second");
  json_decref(r);
  /* Reopening does not migrate again. */
  close_store(f);
  f->store = store_open_sqlite(&f->loop, f->path, 100);
  assert_non_null(f->store);
  assert_int_equal(call(f, MSG_GET, json_pack("{s:s}", "id", "222222222222222222222222"), NULL),
                   STORE_OK);
}

static void new_user(fx_t *f, const char *email, char id[25]) {
  json_t *u = NULL;
  assert_int_equal(
      call(f, USER_CREATE,
           json_pack("{s:s,s:s,s:s}", "email", email, "name", email, "password_hash", "x"), &u),
      STORE_OK);
  strcpy(id, str(u, "id"));
  json_decref(u);
}

/* The store opened, with users a@x.io and b@x.io (their ids to a and b). */
static void open_with_two_users(fx_t *f, char a[25], char b[25]) {
  f->store = store_open_sqlite(&f->loop, f->path, 100);
  assert_non_null(f->store);
  new_user(f, "a@x.io", a);
  new_user(f, "b@x.io", b);
}

static json_t *insert(fx_t *f, const char *conv, const char *sender, const char *text,
                      int *status) {
  json_t *r = NULL;
  *status =
      call(f, MSG_INSERT,
           json_pack("{s:s,s:s,s:s,s:s,s:s,s:b}", "conversation_id", conv, "sender_id", sender,
                     "text", text, "client_id", "retry-me", "source", "web", "check_member", 1),
           &r);
  return r;
}

/* The original wins over the membership check: a client that retries after its
 * user left learns that its message was stored. */
static void test_retry_after_leaving(void **state) {
  fx_t *f = *state;
  char a[25], b[25], conv[25];
  open_with_two_users(f, a, b);
  json_t *r = NULL;
  assert_int_equal(call(f, CONV_CREATE,
                        json_pack("{s:s,s:s,s:s,s:[s,s]}", "type", "group", "name", "g",
                                  "creator_id", a, "participant_ids", a, b),
                        &r),
                   STORE_OK);
  strcpy(conv, str(json_object_get(r, "conversation"), "id"));
  json_decref(r);
  int status;
  r = insert(f, conv, b, "bye", &status);
  assert_int_equal(status, STORE_OK);
  char id[25];
  strcpy(id, str(json_object_get(r, "message"), "id"));
  json_decref(r);
  assert_int_equal(call(f, CONV_REMOVE_MEMBER,
                        json_pack("{s:s,s:s,s:s}", "id", conv, "user_id", b, "member_id", b), NULL),
                   STORE_OK);
  r = insert(f, conv, b, "bye", &status);
  assert_int_equal(status, STORE_OK);
  assert_true(json_is_false(json_object_get(r, "created")));
  assert_string_equal(str(json_object_get(r, "message"), "id"), id);
  json_decref(r);
  /* A new message from them is refused. */
  json_decref(insert(f, conv, b, "again", &status));
  json_t *p = json_pack("{s:s,s:s,s:s,s:s,s:b}", "conversation_id", conv, "sender_id", b, "text",
                        "new", "source", "web", "check_member", 1);
  assert_int_equal(call(f, MSG_INSERT, p, NULL), STORE_ENOTFOUND);
}

static void react(fx_t *f, const char *msg, const char *user, const char *emoji) {
  assert_int_equal(
      call(f, MSG_REACT,
           json_pack("{s:s,s:s,s:s,s:b}", "id", msg, "user_id", user, "emoji", emoji, "add", 1),
           NULL),
      STORE_OK);
}

static json_t *list_page(fx_t *f, const char *user, int limit, const char *cursor) {
  json_t *p = json_pack("{s:s,s:i}", "user_id", user, "limit", limit), *r = NULL;
  if (cursor) json_object_set_new(p, "cursor", json_string(cursor));
  assert_int_equal(call(f, CONV_LIST, p, &r), STORE_OK);
  return r;
}

/* A list page as the inbox shows it: most recent activity first, across pages;
 * each conversation's participants in the order they joined (not by id, which
 * the index on participants would give), its last message with the reactions in
 * the order each emoji was first used, and the caller's read markers. */
static void test_list_page(void **state) {
  fx_t *f = *state;
  f->store = store_open_sqlite(&f->loop, f->path, 100);
  assert_non_null(f->store);
  char u[4][25], conv[3][25];
  new_user(f, "a@x.io", u[0]);
  new_user(f, "b@x.io", u[1]);
  new_user(f, "c@x.io", u[2]);
  new_user(f, "d@x.io", u[3]);
  /* Joined as 0 (creator), 3, 1, then 2 is added, whatever the order of their ids. */
  for (int i = 0; i < 3; i++) {
    json_t *r = NULL;
    assert_int_equal(call(f, CONV_CREATE,
                          json_pack("{s:s,s:s,s:s,s:[s,s,s]}", "type", "group", "name", "g",
                                    "creator_id", u[0], "participant_ids", u[0], u[3], u[1]),
                          &r),
                     STORE_OK);
    strcpy(conv[i], str(json_object_get(r, "conversation"), "id"));
    json_decref(r);
  }
  assert_int_equal(
      call(f, CONV_ADD_MEMBERS,
           json_pack("{s:s,s:s,s:[s]}", "id", conv[0], "user_id", u[0], "user_ids", u[2]), NULL),
      STORE_OK);
  usleep(3000); /* updated_at has milliseconds: the message makes conv[0] strictly the newest */
  int status;
  json_t *r = insert(f, conv[0], u[3], "latest", &status);
  assert_int_equal(status, STORE_OK);
  char msg[25];
  strcpy(msg, str(json_object_get(r, "message"), "id"));
  json_decref(r);
  react(f, msg, u[1], "z");
  react(f, msg, u[0], "a");
  react(f, msg, u[0], "z");

  json_t *page = list_page(f, u[0], 2, NULL);
  json_t *convs = json_object_get(page, "conversations");
  assert_int_equal(json_array_size(convs), 2);
  json_t *c = json_array_get(convs, 0);
  assert_string_equal(str(c, "id"), conv[0]);
  assert_int_equal(num(c, "last_seq"), 1);
  const int joined[] = {0, 3, 1, 2};
  json_t *parts = json_object_get(c, "participants");
  assert_int_equal(json_array_size(parts), 4);
  for (int i = 0; i < 4; i++) {
    json_t *p = json_array_get(parts, (size_t)i);
    assert_string_equal(str(p, "id"), u[joined[i]]);
    assert_string_equal(str(p, "role"), i == 0 ? "admin" : "member");
    assert_int_equal(num(p, "last_read_seq"), joined[i] == 3 ? 1 : 0);
  }
  assert_string_equal(str(json_array_get(parts, 1), "name"), "d@x.io");
  json_t *last = json_object_get(c, "last_message");
  assert_string_equal(str(last, "text"), "latest");
  json_t *reactions = json_object_get(last, "reactions");
  assert_int_equal(json_array_size(reactions), 2);
  assert_string_equal(str(json_array_get(reactions, 0), "emoji"), "z");
  json_t *zs = json_object_get(json_array_get(reactions, 0), "user_ids");
  assert_int_equal(json_array_size(zs), 2);
  assert_string_equal(json_string_value(json_array_get(zs, 0)), u[1]);
  assert_string_equal(json_string_value(json_array_get(zs, 1)), u[0]);
  assert_string_equal(str(json_array_get(reactions, 1), "emoji"), "a");
  /* The other two (created in the same millisecond or not) share the next places. */
  const char *second = str(json_array_get(convs, 1), "id");
  assert_true(strcmp(second, conv[1]) == 0 || strcmp(second, conv[2]) == 0);
  assert_true(json_is_null(json_object_get(json_array_get(convs, 1), "last_message")));
  assert_true(json_is_string(json_object_get(page, "next_cursor")));

  json_t *rest = list_page(f, u[0], 2, str(page, "next_cursor"));
  assert_int_equal(json_array_size(json_object_get(rest, "conversations")), 1);
  assert_string_equal(str(json_array_get(json_object_get(rest, "conversations"), 0), "id"),
                      strcmp(second, conv[1]) == 0 ? conv[2] : conv[1]);
  assert_true(json_is_null(json_object_get(rest, "next_cursor")));
  json_decref(rest);
  json_decref(page);
  /* Someone in none of them has an empty page. */
  char e[25];
  new_user(f, "e@x.io", e);
  page = list_page(f, e, 2, NULL);
  assert_int_equal(json_array_size(json_object_get(page, "conversations")), 0);
  assert_true(json_is_null(json_object_get(page, "next_cursor")));
  json_decref(page);
}

/* EXPLAIN QUERY PLAN of sql on the file, one line per step. */
static void query_plan(const char *path, const char *sql, char *out, size_t n) {
  sqlite3 *db = NULL;
  sqlite3_stmt *st = NULL;
  char explain[4096];
  snprintf(explain, sizeof(explain), "EXPLAIN QUERY PLAN %s", sql);
  assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
  assert_int_equal(sqlite3_prepare_v2(db, explain, -1, &st, NULL), SQLITE_OK);
  size_t len = 0;
  out[0] = '\0';
  while (sqlite3_step(st) == SQLITE_ROW && len < n)
    len += (size_t)snprintf(out + len, n - len, "%s\n", sqlite3_column_text(st, 3));
  sqlite3_finalize(st);
  sqlite3_close(db);
}

/* A conversation of type created by a with a and b; its id into id. */
static void new_conv(fx_t *f, const char *type, const char *a, const char *b, char id[25]) {
  json_t *r = NULL;
  assert_int_equal(call(f, CONV_CREATE,
                        json_pack("{s:s,s:s,s:s,s:[s,s]}", "type", type, "name", "g", "creator_id",
                                  a, "participant_ids", a, b),
                        &r),
                   STORE_OK);
  strcpy(id, str(json_object_get(r, "conversation"), "id"));
  json_decref(r);
}

/* Issue 21: the inbox's first page costs the page, not the user's every
 * conversation. Its read of a user's own conversations walks
 * participants_activity in order (no scan of the user's rows, no sort of them
 * before the LIMIT) and the user's channels by participants_unsorted. A
 * database of the release before migration 37 gets the activity of every
 * member (but a channel's) from the migration. */
static void test_inbox_reads_in_activity_order(void **state) {
  fx_t *f = *state;
  char a[25], b[25], conv[4][25];
  open_with_two_users(f, a, b);
  for (int i = 0; i < 4; i++) new_conv(f, i == 2 ? "channel" : "group", a, b, conv[i]);
  /* Activity: 1, 3, 2 (the channel), 0. */
  const int order[4] = {1, 3, 2, 0};
  for (int i = 0; i < 4; i++) {
    usleep(3000);
    int status;
    json_decref(insert(f, conv[order[i]], a, "m", &status));
    assert_int_equal(status, STORE_OK);
  }
  close_store(f);
  char plan[4096];
  for (int after = 0; after < 2; after++) {
    query_plan(f->path, after ? sqlite_conv_list_own_after : sqlite_conv_list_own_first, plan,
               sizeof(plan));
    assert_non_null(strstr(plan, "participants_activity"));
    assert_non_null(strstr(plan, "participants_unsorted"));
    assert_null(strstr(plan, "SCAN p"));
    assert_null(strstr(plan, "SCAN q"));
    /* A row writer's: the conversations in participants_activity's order, each
     * with its last message by messages' (conversation_id, seq) key, and no
     * sort by SQLite; the channels by participants_unsorted. */
    query_plan(f->path, after ? sqlite_conv_list_active_after : sqlite_conv_list_active_first, plan,
               sizeof(plan));
    assert_non_null(strstr(plan, "SEARCH p USING COVERING INDEX participants_activity"));
    assert_non_null(strstr(plan, "SEARCH m USING INDEX sqlite_autoindex_messages_2"));
    assert_null(strstr(plan, "TEMP B-TREE"));
    assert_null(strstr(plan, "SCAN"));
    query_plan(f->path, after ? sqlite_conv_list_channels_after : sqlite_conv_list_channels_first,
               plan, sizeof(plan));
    assert_non_null(strstr(plan, "SEARCH q USING INDEX participants_unsorted"));
    assert_null(strstr(plan, "SCAN"));
    /* An agent's: the owners' instagram conversations by conversations_instagram,
     * in its order (no scan, no sort of them: the only sort is the page's). */
    query_plan(f->path, after ? sqlite_conv_list_team_after : sqlite_conv_list_team_first, plan,
               sizeof(plan));
    assert_non_null(strstr(plan, "SEARCH i USING INDEX conversations_instagram (creator_id=?"));
    assert_non_null(strstr(plan, "participants_activity"));
    for (const char *scan = plan; (scan = strstr(scan, "SCAN ")); scan++)
      assert_true(strncmp(scan, "SCAN x", 6) == 0 || strncmp(scan, "SCAN (subquery", 14) == 0);
    const char *sort = strstr(plan, "TEMP B-TREE FOR ORDER BY");
    assert_non_null(sort);
    assert_null(strstr(sort + 1, "TEMP B-TREE FOR ORDER BY"));
  }
  /* As a database of the release before: no activity, no triggers. */
  sqlite3 *db = NULL;
  assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
  assert_int_equal(
      sqlite3_exec(db,
                   "DROP TRIGGER participants_activity_conv; DROP TRIGGER "
                   "participants_activity_new;"
                   " DROP INDEX participants_activity; DROP INDEX participants_unsorted;"
                   " ALTER TABLE participants DROP COLUMN activity;"
                   " DROP INDEX messages_flow_client; DROP INDEX users_avatar; DROP INDEX "
                   "conversations_avatar; DROP INDEX conversations_instagram;"
                   " DELETE FROM schema_version WHERE version >= 37;",
                   NULL, NULL, NULL),
      SQLITE_OK);
  sqlite3_close(db);
  f->store = store_open_sqlite(&f->loop, f->path, 100);
  assert_non_null(f->store);
  for (int limit = 1; limit <= 4; limit += 3) {
    json_t *page = list_page(f, a, limit, NULL);
    json_t *convs = json_object_get(page, "conversations");
    json_t *rest = limit == 1 ? list_page(f, a, 4, str(page, "next_cursor")) : NULL;
    for (int i = 0; i < 4; i++) {
      json_t *c = i < limit
                      ? json_array_get(convs, (size_t)i)
                      : json_array_get(json_object_get(rest, "conversations"), (size_t)(i - limit));
      assert_string_equal(str(c, "id"), conv[order[3 - i]]);
    }
    json_decref(rest);
    json_decref(page);
  }
}

/* The count of rows of sql's single-value answer (an int), on the file. */
static int sql_int(const char *path, const char *sql) {
  sqlite3 *db = NULL;
  sqlite3_stmt *q = NULL;
  assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
  assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &q, NULL), SQLITE_OK);
  assert_int_equal(sqlite3_step(q), SQLITE_ROW);
  int v = sqlite3_column_int(q, 0);
  sqlite3_finalize(q);
  sqlite3_close(db);
  return v;
}

/* Migrations 40 and 41: a write of a conversation's updated_at notes the
 * conversation once (its members' rows are not rewritten at each message), and a read of
 * the inbox brings the members' activity up to date first, so its order is
 * exact. */
static void test_activity_noted_then_brought_up_to_date(void **state) {
  fx_t *f = *state;
  char a[25], b[25], conv[3][25];
  open_with_two_users(f, a, b);
  for (int i = 0; i < 3; i++) new_conv(f, "group", a, b, conv[i]);
  json_t *page = list_page(f, a, 10, NULL); /* nothing left noted */
  json_decref(page);
  close_store(f);
  assert_int_equal(sql_int(f->path, "SELECT count(*) FROM activity_pending"), 0);
  sqlite3 *db = NULL;
  sqlite3_stmt *q = NULL;
  assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
  assert_int_equal(
      sqlite3_prepare_v2(db, "UPDATE conversations SET updated_at = ? WHERE id = ?", -1, &q, NULL),
      SQLITE_OK);
  /* conv[0] written twice: noted at the first (the conversation and the note),
   * the second is the conversation's row alone; the members' rows neither. */
  const char *at[2] = {"2030-01-01T00:00:01.500Z", "2030-01-01T00:00:02.500Z"};
  for (int i = 0; i < 2; i++) {
    int before = sqlite3_total_changes(db);
    sqlite3_bind_text(q, 1, at[i], -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 2, conv[0], -1, SQLITE_STATIC);
    assert_int_equal(sqlite3_step(q), SQLITE_DONE);
    assert_int_equal(sqlite3_total_changes(db) - before, i == 0 ? 2 : 1);
    sqlite3_reset(q);
  }
  sqlite3_finalize(q);
  sqlite3_close(db);
  assert_int_equal(sql_int(f->path, "SELECT count(*) FROM activity_pending"), 1);
  assert_int_equal(sql_int(f->path, "SELECT count(*) FROM participants WHERE activity >= '2030'"),
                   0);
  /* Migration 41: the note is a plain insert whose conflict leaves the row,
   * not an INSERT ... SELECT reading the table it writes (a temporary table
   * built at every message). */
  assert_int_equal(sql_int(f->path,
                           "SELECT count(*) FROM sqlite_master WHERE name = "
                           "'participants_activity_conv' AND sql LIKE '%SELECT%'"),
                   0);
  /* The inbox reads conv[0] first, and leaves its members up to date. */
  f->store = store_open_sqlite(&f->loop, f->path, 100);
  assert_non_null(f->store);
  page = list_page(f, a, 1, NULL);
  assert_string_equal(str(json_array_get(json_object_get(page, "conversations"), 0), "id"),
                      conv[0]);
  json_decref(page);
  close_store(f);
  assert_int_equal(sql_int(f->path, "SELECT count(*) FROM activity_pending"), 0);
  assert_int_equal(
      sql_int(f->path,
              "SELECT count(*) FROM participants WHERE activity = '2030-01-01T00:00:02.500Z'"),
      2);
}

/* messages_fts_state's mark against the last message: what waits to be indexed. */
static int unindexed(const char *path) {
  return sql_int(path,
                 "SELECT (SELECT coalesce(max(rowid), 0) FROM messages) - indexed"
                 " FROM messages_fts_state");
}

/* The store thread indexes new messages for search when its queue stays empty,
 * but not one message at a time: an idle step waits for a chunk to wait, or
 * for the first message to have waited a second (a step of one message was a
 * transaction and an FTS5 segment of its own). */
static void test_idle_index_waits_for_a_chunk_or_a_second(void **state) {
  fx_t *f = *state;
  char a[25], b[25], conv[25];
  open_with_two_users(f, a, b);
  new_conv(f, "group", a, b, conv);
  int status;
  json_decref(insert(f, conv, a, "one", &status));
  assert_int_equal(status, STORE_OK);
  usleep(200 * 1000); /* the queue stayed empty 10 ms many times over */
  assert_int_equal(unindexed(f->path), 1);
  int waited = 0;
  while (unindexed(f->path) > 0 && waited++ < 100) usleep(50 * 1000);
  assert_int_equal(unindexed(f->path), 0);
  close_store(f);
}

/* A run's trace that is its state's is written once: the trace column stays
 * NULL and the trace is read from the state. A row written before, with both,
 * reads its own column. */
static void test_run_trace_written_once(void **state) {
  fx_t *f = *state;
  f->store = store_open_sqlite(&f->loop, f->path, 100);
  assert_non_null(f->store);
  json_t *st = json_pack("{s:s,s:[{s:s}]}", "status", "completed", "trace", "node_id", "n1");
  json_t *r = NULL;
  assert_int_equal(call(f, FLOW_RUN_SAVE,
                        json_pack("{s:{s:s,s:s,s:s,s:s,s:O,s:O},s:b}", "run", "flow_id", "f1",
                                  "owner_id", "o1", "contact_id", "c1", "status", "completed",
                                  "trace", json_object_get(st, "trace"), "state", st, "brief", 1),
                        &r),
                   STORE_OK);
  char id[25];
  snprintf(id, sizeof(id), "%s", str(r, "id"));
  json_decref(r);
  close_store(f);
  sqlite3 *db = NULL;
  sqlite3_stmt *q = NULL;
  assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
  assert_int_equal(
      sqlite3_prepare_v2(db, "SELECT trace IS NULL FROM flow_runs WHERE id = ?", -1, &q, NULL),
      SQLITE_OK);
  sqlite3_bind_text(q, 1, id, -1, SQLITE_TRANSIENT);
  assert_int_equal(sqlite3_step(q), SQLITE_ROW);
  assert_int_equal(sqlite3_column_int(q, 0), 1);
  sqlite3_finalize(q);
  /* As written before: the trace in its column (here not the state's). */
  char sql[256];
  snprintf(sql, sizeof(sql),
           "UPDATE flow_runs SET trace = '[{\"node_id\":\"old\"}]' WHERE id = '%s'", id);
  assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
  sqlite3_close(db);
  f->store = store_open_sqlite(&f->loop, f->path, 100);
  assert_non_null(f->store);
  assert_int_equal(call(f, FLOW_RUN_GET, json_pack("{s:s}", "id", id), &r), STORE_OK);
  assert_string_equal(str(json_array_get(json_object_get(r, "trace"), 0), "node_id"), "old");
  assert_string_equal(
      str(json_array_get(json_object_get(json_object_get(r, "state"), "trace"), 0), "node_id"),
      "n1");
  json_decref(r);
  json_decref(st);
}

#define BURST 20000
#define BURST_CONVS 7

typedef struct burst_s {
  int done, failed;
  json_int_t max_seq[BURST_CONVS];
  char convs[BURST_CONVS][25];
} burst_t;

static void on_burst(void *ctx, int status, json_t *result) {
  burst_t *b = ctx;
  b->done++;
  json_t *m = json_object_get(result, "message");
  if (status != STORE_OK || !json_is_true(json_object_get(result, "created"))) b->failed++;
  for (int c = 0; c < BURST_CONVS && m; c++)
    if (strcmp(b->convs[c], str(m, "conversation_id")) == 0 && num(m, "seq") > b->max_seq[c])
      b->max_seq[c] = num(m, "seq");
  json_decref(result);
}

/* Enough in flight for large group commits and several checkpoints: every
 * message is answered once, created, and after a reopen each conversation holds
 * seqs 1..n with the last one its last_seq. */
static void test_burst_survives_reopen(void **state) {
  fx_t *f = *state;
  f->store = store_open_sqlite(&f->loop, f->path, BURST + 10);
  assert_non_null(f->store);
  char a[25];
  new_user(f, "a@x.io", a);
  /* The page cache is measured after each batch: it holds the schema's pages now,
   * and every page the burst wrote later (the soak judges RSS beyond it). */
  long long cache_before = store_cache_bytes(f->store);
  assert_true(cache_before > 0);
  burst_t b = {0};
  for (int c = 0; c < BURST_CONVS; c++) {
    json_t *r = NULL;
    assert_int_equal(call(f, CONV_CREATE,
                          json_pack("{s:s,s:s,s:s,s:[s]}", "type", "group", "name", "g",
                                    "creator_id", a, "participant_ids", a),
                          &r),
                     STORE_OK);
    strcpy(b.convs[c], str(json_object_get(r, "conversation"), "id"));
    json_decref(r);
  }
  for (int i = 0; i < BURST; i++) {
    char cid[32];
    snprintf(cid, sizeof(cid), "burst-%d", i);
    json_t *p =
        json_pack("{s:s,s:s,s:s,s:s,s:s}", "conversation_id", b.convs[i % BURST_CONVS], "sender_id",
                  a, "text", "a message of about the length people write in a chat, more or less",
                  "client_id", cid, "source", "web");
    assert_int_equal(store_call(f->store, MSG_INSERT, p, on_burst, &b), 0);
  }
  while (b.done < BURST) uv_run(&f->loop, UV_RUN_ONCE);
  assert_int_equal(b.failed, 0);
  long long cache_after = store_cache_bytes(f->store);
  assert_true(cache_after > cache_before + (long long)BURST * 100);
  assert_true(cache_after < 80ll << 20); /* cache_size is 64 MiB */
  close_store(f);
  f->store = store_open_sqlite(&f->loop, f->path, 100);
  assert_non_null(f->store);
  int total = 0;
  for (int c = 0; c < BURST_CONVS; c++) {
    json_t *r = NULL;
    assert_int_equal(call(f, CONV_GET, json_pack("{s:s}", "id", b.convs[c]), &r), STORE_OK);
    json_int_t last = num(r, "last_seq");
    json_decref(r);
    assert_int_equal(last, b.max_seq[c]);
    total += (int)last;
    /* The oldest page starts at 1 and the newest ends at last_seq: no gaps. */
    assert_int_equal(call(f, MSG_LIST,
                          json_pack("{s:s,s:s,s:i,s:i}", "conversation_id", b.convs[c], "user_id",
                                    a, "limit", 5, "after_seq", 0),
                          &r),
                     STORE_OK);
    assert_int_equal(num(json_array_get(json_object_get(r, "messages"), 0), "seq"), 1);
    json_decref(r);
    assert_int_equal(call(f, MSG_LIST,
                          json_pack("{s:s,s:s,s:i,s:I}", "conversation_id", b.convs[c], "user_id",
                                    a, "limit", 1000, "after_seq", (json_int_t)(last - 1000)),
                          &r),
                     STORE_OK);
    json_t *msgs = json_object_get(r, "messages");
    assert_int_equal(json_array_size(msgs), 1000);
    for (size_t i = 0; i < 1000; i++)
      assert_int_equal(num(json_array_get(msgs, i), "seq"), last - 999 + (json_int_t)i);
    json_decref(r);
  }
  assert_int_equal(total, BURST);
}

/* The page cache keeps what it read and wrote only up to its size: a database
 * several times larger than a 1 MiB cache leaves the cache at about 1 MiB (the
 * memory a long-running instance holds for SQLite stops growing there). */
static void test_cache_stops_at_its_size(void **state) {
  fx_t *f = *state;
  f->store = store_open_sqlite_cache(&f->loop, f->path, BURST + 10, 1);
  assert_non_null(f->store);
  char a[25], conv[25];
  new_user(f, "a@x.io", a);
  json_t *r = NULL;
  assert_int_equal(call(f, CONV_CREATE,
                        json_pack("{s:s,s:s,s:s,s:[s]}", "type", "group", "name", "g", "creator_id",
                                  a, "participant_ids", a),
                        &r),
                   STORE_OK);
  strcpy(conv, str(json_object_get(r, "conversation"), "id"));
  json_decref(r);
  char text[401];
  memset(text, 'x', sizeof(text) - 1);
  text[sizeof(text) - 1] = 0;
  burst_t b = {0};
  strcpy(b.convs[0], conv);
  for (int round = 0; round < 4; round++) {
    int sent = b.done;
    for (int i = 0; i < 2000; i++) {
      char cid[32];
      snprintf(cid, sizeof(cid), "cache-%d-%d", round, i);
      text[i % 400] = (char)('a' + round); /* every text differs */
      assert_int_equal(
          store_call(f->store, MSG_INSERT,
                     json_pack("{s:s,s:s,s:s,s:s,s:s}", "conversation_id", conv, "sender_id", a,
                               "text", text, "client_id", cid, "source", "web"),
                     on_burst, &b),
          0);
    }
    while (b.done < sent + 2000) uv_run(&f->loop, UV_RUN_ONCE);
    assert_int_equal(b.failed, 0);
    /* 8,000 messages of 400 bytes, indexed for search, are far beyond 1 MiB. */
    long long cache = store_cache_bytes(f->store);
    assert_true(cache <= (1 << 20) + (64 << 10));
    if (round == 3) assert_true(cache > (1 << 20) / 2);
  }
}

/* Anonymous memory of this process, in KiB (0 when unknown). */
static long rss_anon_kb(void) {
  FILE *fp = fopen("/proc/self/status", "r");
  long kb = 0;
  char line[256];
  while (fp && fgets(line, sizeof(line), fp))
    if (sscanf(line, "RssAnon: %ld", &kb) == 1) break;
  if (fp) fclose(fp);
  return kb;
}

/* Another instance's write empties the page cache (the next read drops every
 * page): the memory those pages held goes back to the system instead of
 * staying with the allocator, so an instance sharing its database does not
 * keep a dropped cache's worth of free memory. */
static void test_dropped_cache_is_given_back(void **state) {
  fx_t *f = *state;
  f->store = store_open_sqlite_cache(&f->loop, f->path, 3010, 4);
  assert_non_null(f->store);
  char a[25], conv[25];
  new_user(f, "a@x.io", a);
  json_t *r = NULL;
  assert_int_equal(call(f, CONV_CREATE,
                        json_pack("{s:s,s:s,s:s,s:[s]}", "type", "group", "name", "g", "creator_id",
                                  a, "participant_ids", a),
                        &r),
                   STORE_OK);
  strcpy(conv, str(json_object_get(r, "conversation"), "id"));
  json_decref(r);
  char text[1001];
  memset(text, 'x', sizeof(text) - 1);
  text[sizeof(text) - 1] = 0;
  burst_t b = {0};
  strcpy(b.convs[0], conv);
  for (int i = 0; i < 3000; i++) {
    char cid[32];
    snprintf(cid, sizeof(cid), "drop-%d", i);
    snprintf(text, sizeof(text), "%d", i);
    text[strlen(text)] = 'x';
    assert_int_equal(
        store_call(f->store, MSG_INSERT,
                   json_pack("{s:s,s:s,s:s,s:s,s:s}", "conversation_id", conv, "sender_id", a,
                             "text", text, "client_id", cid, "source", "web"),
                   on_burst, &b),
        0);
  }
  while (b.done < 3000) uv_run(&f->loop, UV_RUN_ONCE);
  assert_int_equal(b.failed, 0);
  /* A read of the newest page: the statements it prepares stay above the pages. */
  assert_int_equal(
      call(f, MSG_LIST,
           json_pack("{s:s,s:s,s:i}", "conversation_id", conv, "user_id", a, "limit", 50), &r),
      STORE_OK);
  json_decref(r);
  /* A search indexes every waiting message first: no idle index step is left
   * to read the index's pages back into the cache after it is dropped. */
  assert_int_equal(
      call(f, MSG_SEARCH,
           json_pack("{s:s, s:[s], s:[], s:i, s:i, s:i}", "user_id", a, "terms", "2999x",
                     "exclude_types", "offset", 0, "limit", 1, "window", 1000),
           &r),
      STORE_OK);
  json_decref(r);
  long long full = store_cache_bytes(f->store);
  assert_true(full > 3ll << 20); /* 3,000 messages of 1 KB fill most of the 4 MiB */

  /* The other instance writes. (Resident memory is read before it does: the
   * next read of this instance's connection drops the cache, whichever it is.) */
  long before = rss_anon_kb();
  store_t *other = store_open_sqlite_cache(&f->loop, f->path, 10, 4);
  assert_non_null(other);
  json_t *u = NULL;
  assert_int_equal(store_sync_call(&f->loop, other, USER_CREATE,
                                   json_pack("{s:s,s:s,s:s}", "email", "b@x.io", "name", "b",
                                             "password_hash", "x"),
                                   &u, NULL),
                   STORE_OK);
  json_decref(u);
  int closed = 0;
  store_close(other, on_closed, &closed);
  while (!closed) uv_run(&f->loop, UV_RUN_ONCE);

  assert_int_equal(call(f, CONV_GET, json_pack("{s:s}", "id", conv), &r), STORE_OK);
  json_decref(r);
  assert_true(store_cache_bytes(f->store) < 1 << 20); /* dropped */
#if !defined(__SANITIZE_ADDRESS__)
  /* (AddressSanitizer's allocator is not glibc's.) Most of the 3 MiB and more
   * of pages is back with the system. The store thread gives them back after
   * it has passed the batch's results to the loop, so the reply may come first:
   * wait for it a while (a second at most). */
  assert_true(before > 0);
  long after = rss_anon_kb();
  for (int i = 0; i < 100 && after >= before - 2048; i++) {
    usleep(10 * 1000);
    after = rss_anon_kb();
  }
  assert_true(after < before - 2048);
#else
  (void)before;
#endif
}

/* Two instances sharing the file: what one writes to a contact is in the
 * other's next upsert, although the other answers repeated upserts from the
 * rows it cached. */
static void test_contact_written_by_another_connection(void **state) {
  fx_t *f = *state;
  f->store = store_open_sqlite(&f->loop, f->path, 100);
  assert_non_null(f->store);
  store_t *other = f->other = store_open_sqlite(&f->loop, f->path, 100);
  assert_non_null(other);
  char a[25], cid[25];
  new_user(f, "two@x.io", a);
  json_t *r = NULL, *up = json_pack("{s:s,s:s}", "owner_id", a, "ig_user_id", "42");
  for (int i = 0; i < 2; i++) { /* the second one is answered from the cache */
    assert_int_equal(call(f, CONTACT_UPSERT, json_incref(up), &r), STORE_OK);
    assert_int_equal(json_array_size(json_object_get(r, "tags")), 0);
    strcpy(cid, str(r, "id"));
    json_decref(r);
  }
  assert_int_equal(
      store_sync_call(&f->loop, other, CONTACT_UPDATE,
                      json_pack("{s:s,s:s,s:[s]}", "id", cid, "owner_id", a, "add_tags", "vip"),
                      NULL, NULL),
      STORE_OK);
  assert_int_equal(call(f, CONTACT_UPSERT, json_incref(up), &r), STORE_OK);
  assert_string_equal(json_string_value(json_array_get(json_object_get(r, "tags"), 0)), "vip");
  json_decref(r);
  json_decref(up);
}

/* MSG_INSERT keeps a conversation's members from one batch to the next
 * (sqlite_members.c): members added or removed in the same batch as messages,
 * in a later batch, or by another connection to the file are each message's
 * recipients all the same. */
static int has_id(json_t *ids, const char *id) {
  size_t i;
  json_t *v;
  json_array_foreach(ids, i, v) if (strcmp(json_string_value(v), id) == 0) return 1;
  return 0;
}

static void on_member_job(void *ctx, int status, json_t *result) {
  json_t **slot = ctx;
  *slot = status == STORE_OK ? result : json_string("failed");
  if (status != STORE_OK) json_decref(result);
}

static json_t *send_params(const char *conv, const char *sender, const char *text) {
  return json_pack("{s:s,s:s,s:s,s:s,s:b}", "conversation_id", conv, "sender_id", sender, "text",
                   text, "source", "web", "check_member", 1);
}

static void expect_recipients(json_t *r, const char *in1, const char *in2, const char *out) {
  json_t *ids = json_object_get(r, "participant_ids");
  assert_int_equal(json_array_size(ids), 2);
  assert_true(has_id(ids, in1));
  assert_true(has_id(ids, in2));
  assert_false(has_id(ids, out));
}

static void test_members_kept_across_batches(void **state) {
  fx_t *f = *state;
  f->store = store_open_sqlite(&f->loop, f->path, 100);
  assert_non_null(f->store);
  char a[25], b[25], c[25], conv[25];
  new_user(f, "ma@x.io", a);
  new_user(f, "mb@x.io", b);
  new_user(f, "mc@x.io", c);
  new_conv(f, "group", a, b, conv);
  json_t *r = NULL;
  assert_int_equal(call(f, MSG_INSERT, send_params(conv, a, "0"), &r), STORE_OK);
  expect_recipients(r, a, b, c); /* read, and kept */
  json_decref(r);

  /* One turn's jobs are one batch: c joins, a message, b leaves, a message. */
  json_t *res[4] = {NULL, NULL, NULL, NULL};
  assert_int_equal(store_call(f->store, CONV_ADD_MEMBERS,
                              json_pack("{s:s,s:s,s:[s]}", "id", conv, "user_id", a, "user_ids", c),
                              on_member_job, &res[0]),
                   0);
  assert_int_equal(
      store_call(f->store, MSG_INSERT, send_params(conv, a, "1"), on_member_job, &res[1]), 0);
  assert_int_equal(store_call(f->store, CONV_REMOVE_MEMBER,
                              json_pack("{s:s,s:s,s:s}", "id", conv, "user_id", a, "member_id", b),
                              on_member_job, &res[2]),
                   0);
  assert_int_equal(
      store_call(f->store, MSG_INSERT, send_params(conv, a, "2"), on_member_job, &res[3]), 0);
  while (!res[0] || !res[1] || !res[2] || !res[3]) uv_run(&f->loop, UV_RUN_ONCE);
  for (int i = 0; i < 4; i++) assert_true(json_is_object(res[i]));
  assert_int_equal(json_array_size(json_object_get(res[1], "participant_ids")), 3);
  expect_recipients(res[3], a, c, b);
  for (int i = 0; i < 4; i++) json_decref(res[i]);

  /* A later batch: b is back, c leaves, each in its own batch. */
  assert_int_equal(
      call(f, CONV_ADD_MEMBERS,
           json_pack("{s:s,s:s,s:[s]}", "id", conv, "user_id", a, "user_ids", b), NULL),
      STORE_OK);
  assert_int_equal(call(f, MSG_INSERT, send_params(conv, a, "3"), &r), STORE_OK);
  assert_int_equal(json_array_size(json_object_get(r, "participant_ids")), 3);
  json_decref(r);
  assert_int_equal(call(f, CONV_REMOVE_MEMBER,
                        json_pack("{s:s,s:s,s:s}", "id", conv, "user_id", a, "member_id", c), NULL),
                   STORE_OK);
  assert_int_equal(call(f, MSG_INSERT, send_params(conv, a, "4"), &r), STORE_OK);
  expect_recipients(r, a, b, c);
  json_decref(r);

  /* Another connection (another instance) removes b: this one's next message
   * does not go to b. */
  store_t *other = f->other = store_open_sqlite(&f->loop, f->path, 100);
  assert_non_null(other);
  assert_int_equal(
      store_sync_call(&f->loop, other, CONV_REMOVE_MEMBER,
                      json_pack("{s:s,s:s,s:s}", "id", conv, "user_id", a, "member_id", b), NULL,
                      NULL),
      STORE_OK);
  assert_int_equal(call(f, MSG_INSERT, send_params(conv, a, "5"), &r), STORE_OK);
  json_t *ids = json_object_get(r, "participant_ids");
  assert_int_equal(json_array_size(ids), 1);
  assert_true(has_id(ids, a));
  json_decref(r);

  /* last_seq is kept with the members: the next batches of this connection
   * count on from it, and a message the other connection stored is seen (the
   * next seq is after it, not a conflict with it). */
  json_int_t seq = 0;
  for (int i = 0; i < 3; i++) {
    store_t *by = i == 1 ? other : f->store;
    assert_int_equal(store_sync_call(&f->loop, by, MSG_INSERT, send_params(conv, a, "6"), &r, NULL),
                     STORE_OK);
    json_int_t got = json_integer_value(json_object_get(json_object_get(r, "message"), "seq"));
    if (i > 0) assert_int_equal(got, seq + 1);
    seq = got;
    json_decref(r);
  }
  assert_int_equal(call(f, MSG_INSERT, send_params(conv, a, "7"), &r), STORE_OK);
  assert_int_equal(json_integer_value(json_object_get(json_object_get(r, "message"), "seq")),
                   seq + 1);
  json_decref(r);
}

/* The read markers of a batch's senders: the first sender of a conversation
 * is held apart from the others (sqlite_msg_insert.c), and every one's marker
 * moves to their newest message, in this batch and the next. */
static void test_read_markers_of_a_batchs_senders(void **state) {
  fx_t *f = *state;
  f->store = store_open_sqlite(&f->loop, f->path, 100);
  assert_non_null(f->store);
  char a[25], b[25], conv[25];
  new_user(f, "ra@x.io", a);
  new_user(f, "rb@x.io", b);
  new_conv(f, "group", a, b, conv);
  for (int round = 0; round < 2; round++) {
    const char *senders[] = {a, b, a, b, a};
    json_t *res[5] = {NULL, NULL, NULL, NULL, NULL};
    for (int i = 0; i < 5; i++) /* one turn's jobs: one batch */
      assert_int_equal(store_call(f->store, MSG_INSERT, send_params(conv, senders[i], "m"),
                                  on_member_job, &res[i]),
                       0);
    while (!res[0] || !res[1] || !res[2] || !res[3] || !res[4]) uv_run(&f->loop, UV_RUN_ONCE);
    json_int_t newest_b = num(json_object_get(res[3], "message"), "seq");
    json_int_t newest_a = num(json_object_get(res[4], "message"), "seq");
    assert_int_equal(newest_a, 5 * round + 5);
    for (int i = 0; i < 5; i++) json_decref(res[i]);
    json_t *r = NULL;
    assert_int_equal(call(f, CONV_GET, json_pack("{s:s}", "id", conv), &r), STORE_OK);
    json_t *parts = json_object_get(r, "participants");
    assert_int_equal(json_array_size(parts), 2);
    for (size_t i = 0; i < 2; i++) {
      json_t *p = json_array_get(parts, i);
      int is_a = strcmp(json_string_value(json_object_get(p, "id")), a) == 0;
      assert_int_equal(num(p, "last_read_seq"), is_a ? newest_a : newest_b);
    }
    json_decref(r);
  }
}

/* The loop hands the jobs of a turn to the store thread together (sqlite.c's
 * hand_over): they run in the order they were made, each sees what the ones
 * before it wrote, and a job made in any phase of the turn (a timer, a
 * prepare callback started after the store opened, a completion) is handed
 * over before the loop waits for I/O again, so none waits for an unrelated
 * wake-up. The watchdog fails the test instead of hanging it. */
typedef struct turn_s {
  fx_t *f;
  int order[100];
  int done, next;
  int timer_done, prepare_done, chained_done;
  int timed_out;
} turn_t;

typedef struct turn_call_s {
  turn_t *t;
  int index;
} turn_call_t;

static void turn_ping_done(void *ctx, int status, json_t *result) {
  turn_call_t *c = ctx;
  assert_int_equal(status, STORE_OK);
  json_decref(result);
  c->t->order[c->t->next++] = c->index;
  c->t->done++;
}

static void turn_flag(void *ctx, int status, json_t *result) {
  assert_int_equal(status, STORE_OK);
  json_decref(result);
  (*(int *)ctx)++;
}

/* A completion that makes the next call: handed over in the same turn. */
static void turn_chain(void *ctx, int status, json_t *result) {
  turn_t *t = ctx;
  assert_int_equal(status, STORE_OK);
  json_decref(result);
  assert_int_equal(store_call(t->f->store, STORE_PING, NULL, turn_flag, &t->chained_done), 0);
}

static void turn_on_timer(uv_timer_t *h) {
  turn_t *t = h->data;
  assert_int_equal(store_call(t->f->store, STORE_PING, NULL, turn_flag, &t->timer_done), 0);
}

static void turn_on_prepare(uv_prepare_t *h) {
  turn_t *t = h->data;
  uv_prepare_stop(h);
  assert_int_equal(store_call(t->f->store, STORE_PING, NULL, turn_flag, &t->prepare_done), 0);
}

static void turn_on_watchdog(uv_timer_t *h) {
  turn_t *t = h->data;
  t->timed_out = 1;
}

static void test_jobs_of_a_turn(void **state) {
  fx_t *f = *state;
  f->store = store_open_sqlite(&f->loop, f->path, 1000);
  assert_non_null(f->store);
  turn_t t = {.f = f};
  turn_call_t calls[100];
  json_t *created = NULL, *found = NULL;
  int created_status = -1, found_status = -1;
  store_reply_t r1 = {0, 0, NULL}, r2 = {0, 0, NULL};
  assert_int_equal(store_call(f->store, USER_CREATE,
                              json_pack("{s:s,s:s,s:s}", "email", "turn@x.io", "name", "T",
                                        "password_hash", "h"),
                              store_sync_on_reply, &r1),
                   0);
  assert_int_equal(store_call(f->store, USER_GET_BY_EMAIL, json_pack("{s:s}", "email", "turn@x.io"),
                              store_sync_on_reply, &r2),
                   0);
  for (int i = 0; i < 100; i++) {
    calls[i] = (turn_call_t){&t, i};
    assert_int_equal(store_call(f->store, STORE_PING, NULL, turn_ping_done, &calls[i]), 0);
  }
  assert_int_equal(store_call(f->store, STORE_PING, NULL, turn_chain, &t), 0);
  uv_timer_t timer, watchdog;
  uv_prepare_t prepare;
  uv_timer_init(&f->loop, &timer);
  uv_timer_init(&f->loop, &watchdog);
  uv_prepare_init(&f->loop, &prepare);
  timer.data = watchdog.data = prepare.data = &t;
  uv_timer_start(&timer, turn_on_timer, 1, 0);
  uv_prepare_start(&prepare, turn_on_prepare);
  uv_timer_start(&watchdog, turn_on_watchdog, 10000, 0);
  while (!t.timed_out && (t.done < 100 || !r1.done || !r2.done || !t.timer_done ||
                          !t.prepare_done || !t.chained_done))
    uv_run(&f->loop, UV_RUN_ONCE);
  assert_false(t.timed_out);
  for (int i = 0; i < 100; i++) assert_int_equal(t.order[i], i);
  created = r1.result;
  found = r2.result;
  created_status = r1.status;
  found_status = r2.status;
  assert_int_equal(created_status, STORE_OK);
  assert_int_equal(found_status, STORE_OK);
  assert_string_equal(str(found, "id"), str(created, "id"));
  json_decref(created);
  json_decref(found);
  uv_close((uv_handle_t *)&timer, NULL);
  uv_close((uv_handle_t *)&watchdog, NULL);
  uv_close((uv_handle_t *)&prepare, NULL);
  uv_run(&f->loop, UV_RUN_NOWAIT);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_upgrade_from_v1, setup, teardown),
      cmocka_unit_test_setup_teardown(test_retry_after_leaving, setup, teardown),
      cmocka_unit_test_setup_teardown(test_list_page, setup, teardown),
      cmocka_unit_test_setup_teardown(test_inbox_reads_in_activity_order, setup, teardown),
      cmocka_unit_test_setup_teardown(test_activity_noted_then_brought_up_to_date, setup, teardown),
      cmocka_unit_test_setup_teardown(test_run_trace_written_once, setup, teardown),
      cmocka_unit_test_setup_teardown(test_burst_survives_reopen, setup, teardown),
      cmocka_unit_test_setup_teardown(test_cache_stops_at_its_size, setup, teardown),
      cmocka_unit_test_setup_teardown(test_dropped_cache_is_given_back, setup, teardown),
      cmocka_unit_test_setup_teardown(test_contact_written_by_another_connection, setup, teardown),
      cmocka_unit_test_setup_teardown(test_jobs_of_a_turn, setup, teardown),
      cmocka_unit_test_setup_teardown(test_members_kept_across_batches, setup, teardown),
      cmocka_unit_test_setup_teardown(test_read_markers_of_a_batchs_senders, setup, teardown),
      cmocka_unit_test_setup_teardown(test_idle_index_waits_for_a_chunk_or_a_second, setup,
                                      teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
