/* sqlite_msg.c without the store thread: the operations called directly on a
 * connection whose statements are counted (sqlite3_trace_v2). A page of 50
 * messages that all carry reactions costs one reactions query, and the page
 * shows each message's reactions exactly as reading that message alone does. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "parley/util.h"
#include "store/sqlite/sqlite_internal.h"

typedef struct fx_s {
  sqlite_db_t *d;
  char path[512];
  int statements; /* every statement run */
  int reactions;  /* those that read the reactions table */
} fx_t;

static int on_trace(unsigned type, void *ctx, void *stmt, void *sql) {
  fx_t *f = ctx;
  f->statements++;
  if (strstr(sqlite3_sql(stmt), "FROM reactions") || strstr(sqlite3_sql(stmt), "JOIN reactions"))
    f->reactions++;
  return 0;
}

static int setup(void **state) {
  fx_t *f = calloc(1, sizeof(*f));
  char id[25];
  util_new_id(id);
  snprintf(f->path, sizeof(f->path), "%s/parley-sqlite-msg-%s.db",
           getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp", id);
  f->d = sqlite_db_open(f->path);
  assert_non_null(f->d);
  assert_int_equal(sqlite_schema_migrate(f->d), 0);
  sqlite3_trace_v2(f->d->db, SQLITE_TRACE_STMT, on_trace, f);
  *state = f;
  return 0;
}

static int teardown(void **state) {
  fx_t *f = *state;
  sqlite_db_close(f->d);
  const char *suffixes[] = {"", "-wal", "-shm"};
  for (int i = 0; i < 3; i++) {
    char p[600];
    snprintf(p, sizeof(p), "%s%s", f->path, suffixes[i]);
    unlink(p);
  }
  free(f);
  return 0;
}

/* Runs op on the connection (autocommit: every statement its own transaction)
 * and returns its result, failing the test unless it succeeded. */
static json_t *run(fx_t *f, enum store_op op, json_t *params) {
  json_t *result = NULL;
  int status = sqlite_op(op)(f->d, params, &result);
  json_decref(params);
  if (status != STORE_OK) fail_msg("%s: status %d", store_op_name(op), status);
  assert_int_equal(sqlite_msg_insert_flush(f->d), STORE_OK);
  return result;
}

static const char *str(json_t *obj, const char *key) {
  return json_string_value(json_object_get(obj, key));
}

static char *new_user(fx_t *f, const char *email) {
  json_t *u = run(f, USER_CREATE,
                  json_pack("{s:s,s:s,s:s}", "email", email, "name", email, "password_hash", "h"));
  char *id = strdup(str(u, "id"));
  json_decref(u);
  return id;
}

static void react(fx_t *f, const char *msg, const char *user, const char *emoji) {
  json_decref(
      run(f, MSG_REACT,
          json_pack("{s:s,s:s,s:s,s:b}", "id", msg, "user_id", user, "emoji", emoji, "add", 1)));
}

static void test_page_reactions_one_query(void **state) {
  fx_t *f = *state;
  static const char *const emojis[] = {"👍", "🎉", "❤️"};
  char *ann = new_user(f, "ann@x.io"), *bob = new_user(f, "bob@x.io");
  json_t *c = run(f, CONV_CREATE,
                  json_pack("{s:s,s:n,s:s,s:[s,s]}", "type", "group", "name", "creator_id", ann,
                            "participant_ids", ann, bob));
  char *conv = strdup(str(json_object_get(c, "conversation"), "id"));
  json_decref(c);
  /* 60 messages; in the newest 50 each has reactions, in an order that differs
   * from message to message, and one message outside the page has some too. */
  char ids[60][25];
  for (int i = 0; i < 60; i++) {
    json_t *m = run(f, MSG_INSERT,
                    json_pack("{s:s,s:s,s:s,s:s}", "conversation_id", conv, "sender_id",
                              i % 2 ? bob : ann, "text", "hello", "source", "web"));
    snprintf(ids[i], sizeof(ids[i]), "%s", str(json_object_get(m, "message"), "id"));
    json_decref(m);
  }
  react(f, ids[3], ann, emojis[0]);
  for (int i = 10; i < 60; i++) {
    react(f, ids[i], bob, emojis[i % 3]);
    react(f, ids[i], ann, emojis[(i + 1) % 3]);
    if (i % 2) react(f, ids[i], ann, emojis[i % 3]);
  }

  f->statements = f->reactions = 0;
  json_t *page =
      run(f, MSG_LIST,
          json_pack("{s:s,s:s,s:i}", "conversation_id", conv, "user_id", ann, "limit", 50));
  assert_int_equal(f->reactions, 1);
  /* Membership, the page, its reactions: nothing per message. */
  assert_int_equal(f->statements, 3);

  json_t *msgs = json_object_get(page, "messages");
  assert_int_equal(json_array_size(msgs), 50);
  assert_true(json_is_true(json_object_get(page, "has_more")));
  for (int i = 0; i < 50; i++) {
    json_t *m = json_array_get(msgs, i);
    assert_string_equal(str(m, "id"), ids[10 + i]);
    json_t *alone = run(f, MSG_GET, json_pack("{s:s}", "id", ids[10 + i]));
    json_t *want = json_object_get(json_object_get(alone, "message"), "reactions");
    assert_true(json_equal(json_object_get(m, "reactions"), want));
    assert_int_equal(json_array_size(want), 2);
    json_decref(alone);
  }
  /* The older page: only the message that has reactions shows any. */
  json_t *older = run(f, MSG_LIST,
                      json_pack("{s:s,s:s,s:i,s:i}", "conversation_id", conv, "user_id", ann,
                                "limit", 50, "before_seq", 11));
  msgs = json_object_get(older, "messages");
  assert_int_equal(json_array_size(msgs), 10);
  for (int i = 0; i < 10; i++)
    assert_int_equal(json_array_size(json_object_get(json_array_get(msgs, i), "reactions")),
                     i == 3 ? 1 : 0);
  json_decref(older);
  json_decref(page);
  free(conv);
  free(ann);
  free(bob);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_page_reactions_one_query, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
