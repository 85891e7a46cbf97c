/* mongo_msg.c without the thread pool: the operations called directly with one
 * client whose commands are counted (libmongoc's command monitoring). A page of
 * 50 messages that all carry reactions costs one query of the messages, which
 * holds their reactions, and shows each message's reactions exactly as reading
 * that message alone does. Needs PARLEY_TEST_MONGO_URI (skipped when unset). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "parley/util.h"
#include "store/mongo/mongo_internal.h"

typedef struct fx_s {
  mongo_ctx_t c;
  _Atomic long long clock;
  char dbname[40];
  int commands;      /* every command sent */
  int message_reads; /* find or getMore on "messages" */
} fx_t;

static void on_started(const mongoc_apm_command_started_t *event) {
  fx_t *f = mongoc_apm_command_started_get_context(event);
  const char *name = mongoc_apm_command_started_get_command_name(event);
  const bson_t *cmd = mongoc_apm_command_started_get_command(event);
  f->commands++;
  bson_iter_t it;
  if (!strcmp(name, "find") && bson_iter_init_find(&it, cmd, "find") && BSON_ITER_HOLDS_UTF8(&it) &&
      !strcmp(bson_iter_utf8(&it, NULL), "messages"))
    f->message_reads++;
  if (!strcmp(name, "getMore") && bson_iter_init_find(&it, cmd, "collection") &&
      BSON_ITER_HOLDS_UTF8(&it) && !strcmp(bson_iter_utf8(&it, NULL), "messages"))
    f->message_reads++;
}

static int setup(void **state) {
  const char *uri = getenv("PARLEY_TEST_MONGO_URI");
  if (!uri || !*uri) {
    *state = NULL;
    return 0;
  }
  mongoc_init();
  fx_t *f = calloc(1, sizeof(*f));
  char id[25];
  util_new_id(id);
  snprintf(f->dbname, sizeof(f->dbname), "parley_msg_%s", id);
  f->c.client = mongoc_client_new(uri);
  assert_non_null(f->c.client);
  mongoc_client_set_error_api(f->c.client, MONGOC_ERROR_API_VERSION_2);
  mongoc_apm_callbacks_t *cbs = mongoc_apm_callbacks_new();
  mongoc_apm_set_command_started_cb(cbs, on_started);
  mongoc_client_set_apm_callbacks(f->c.client, cbs, f);
  mongoc_apm_callbacks_destroy(cbs);
  f->c.dbname = f->dbname;
  f->c.op = "test";
  f->c.clock = &f->clock;
  *state = f;
  return 0;
}

static int teardown(void **state) {
  fx_t *f = *state;
  if (!f) return 0;
  mongo_ctx_release(&f->c);
  mongoc_database_t *db = mongoc_client_get_database(f->c.client, f->dbname);
  mongoc_database_drop(db, NULL);
  mongoc_database_destroy(db);
  mongoc_client_destroy(f->c.client);
  free(f);
  mongoc_cleanup();
  return 0;
}

/* Runs op with the fixture's client and returns its result, failing the test
 * unless it succeeded. */
static json_t *run(fx_t *f, enum store_op op, json_t *params) {
  json_t *result = NULL;
  int status = mongo_op(op)(&f->c, params, &result);
  json_decref(params);
  if (status != STORE_OK) fail_msg("%s: status %d", store_op_name(op), status);
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
  if (!f) skip();
  static const char *const emojis[] = {"👍", "🎉", "❤️"};
  char *ann = new_user(f, "ann@x.io"), *bob = new_user(f, "bob@x.io");
  json_t *c = run(f, CONV_CREATE,
                  json_pack("{s:s,s:n,s:s,s:[s,s]}", "type", "group", "name", "creator_id", ann,
                            "participant_ids", ann, bob));
  char *conv = strdup(str(json_object_get(c, "conversation"), "id"));
  json_decref(c);
  char ids[60][25];
  for (int i = 0; i < 60; i++) {
    json_t *m = run(f, MSG_INSERT,
                    json_pack("{s:s,s:s,s:s,s:s}", "conversation_id", conv, "sender_id",
                              i % 2 ? bob : ann, "text", "hello", "source", "web"));
    snprintf(ids[i], sizeof(ids[i]), "%s", str(json_object_get(m, "message"), "id"));
    json_decref(m);
  }
  for (int i = 10; i < 60; i++) {
    react(f, ids[i], bob, emojis[i % 3]);
    react(f, ids[i], ann, emojis[(i + 1) % 3]);
    if (i % 2) react(f, ids[i], ann, emojis[i % 3]);
  }

  f->commands = f->message_reads = 0;
  json_t *page =
      run(f, MSG_LIST,
          json_pack("{s:s,s:s,s:i}", "conversation_id", conv, "user_id", ann, "limit", 50));
  assert_int_equal(f->message_reads, 1);
  /* The conversation (membership), the page with its reactions. */
  assert_int_equal(f->commands, 2);

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
