/* The MongoDB backend's own tests: the operations against PARLEY_TEST_MONGO_URI
 * (skipped when unset), and an outage against a stand-in server this test starts,
 * stops and restarts on the same port (skipped without /usr/bin/python3).
 * One thread runs the loop; store calls are made synchronous by running it. */
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <mongoc/mongoc.h>

#include "parley/store.h"
#include "parley/util.h"

typedef struct {
  int done, status;
  json_t *result;
} reply_t;

typedef struct {
  uv_loop_t loop;
  store_t *store;
  char uri[512];
} fx_t;

static void on_reply(void *ctx, int status, json_t *result) {
  reply_t *r = ctx;
  r->done++;
  r->status = status;
  r->result = result;
}

static void run_until(uv_loop_t *loop, reply_t *r, int n) {
  for (int i = 0; i < n; i++)
    while (!r[i].done) uv_run(loop, UV_RUN_ONCE);
}

/* Calls op with params given as JSON text (printf format) and waits. */
static int call(fx_t *f, enum store_op op, json_t **out, const char *fmt, ...) {
  char buf[4096];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof(buf), fmt, ap);
  va_end(ap);
  json_t *params = json_loads(buf, 0, NULL);
  assert_non_null(params);
  reply_t r = {0};
  assert_int_equal(store_call(f->store, op, params, on_reply, &r), 0);
  run_until(&f->loop, &r, 1);
  assert_int_equal(r.done, 1);
  if (out)
    *out = r.result;
  else
    json_decref(r.result);
  return r.status;
}

static const char *sget(json_t *o, const char *path) {
  json_t *v = o;
  char key[64];
  while (*path && v) {
    size_t n = strcspn(path, ".");
    snprintf(key, sizeof(key), "%.*s", (int)n, path);
    v = json_object_get(v, key);
    path += n + (path[n] == '.');
  }
  return json_string_value(v);
}

static json_int_t iget(json_t *o, const char *key) {
  return json_integer_value(json_object_get(o, key));
}

static void closed(void *arg) { *(int *)arg = 1; }

static void close_store(fx_t *f) {
  int done = 0;
  store_close(f->store, closed, &done);
  while (!done) uv_run(&f->loop, UV_RUN_ONCE);
  uv_run(&f->loop, UV_RUN_DEFAULT);
  assert_int_equal(uv_loop_close(&f->loop), 0);
}

/* base with its database replaced by db (hosts kept, options kept). */
static void with_database(const char *base, const char *db, char *out, size_t n) {
  const char *hosts = strstr(base, "://");
  hosts = hosts ? hosts + 3 : base;
  size_t hl = strcspn(hosts, "/?");
  const char *rest = hosts + hl;
  if (*rest == '/') rest += strcspn(rest, "?");
  snprintf(out, n, "%.*s/%s%s", (int)(hosts + hl - base), base, db, rest);
}

/* A fresh database per test, so runs and tests never see each other's data. */
static int setup(void **state) {
  static int counter;
  const char *base = getenv("PARLEY_TEST_MONGO_URI");
  if (!base || !*base) return 0;
  fx_t *f = calloc(1, sizeof(*f));
  char db[64];
  snprintf(db, sizeof(db), "parley_test_%d_%ld_%d", (int)getpid(), (long)time(NULL), ++counter);
  with_database(base, db, f->uri, sizeof(f->uri));
  uv_loop_init(&f->loop);
  f->store = store_open_mongo(&f->loop, f->uri, 1000, 3000);
  assert_non_null(f->store);
  *state = f;
  return 0;
}

static int teardown(void **state) {
  fx_t *f = *state;
  if (!f) return 0;
  close_store(f);
  free(f);
  return 0;
}

#define NEED_MONGO(f)                                          \
  do {                                                         \
    if (!(f)) {                                                \
      print_message("PARLEY_TEST_MONGO_URI unset: skipped\n"); \
      skip();                                                  \
    }                                                          \
  } while (0)

static char *new_user(fx_t *f, const char *name, char *id_out) {
  json_t *u;
  char email[64], hex[25];
  util_new_id(hex);
  snprintf(email, sizeof(email), "%s-%s@example.com", name, hex);
  assert_int_equal(call(f, USER_CREATE, &u,
                        "{\"email\":\"%s\",\"name\":\"%s\",\"password_hash\":\"h\"}", email, name),
                   STORE_OK);
  snprintf(id_out, 25, "%s", sget(u, "id"));
  json_decref(u);
  return id_out;
}

static void test_users(void **state) {
  fx_t *f = *state;
  NEED_MONGO(f);
  json_t *u, *r;
  assert_int_equal(call(f, STORE_PING, NULL, "{}"), STORE_OK);
  assert_int_equal(call(f, USER_CREATE, &u,
                        "{\"email\":\"ann@x.io\",\"name\":\"Ann\",\"password_hash\":\"ph\"}"),
                   STORE_OK);
  char id[25];
  snprintf(id, sizeof(id), "%s", sget(u, "id"));
  assert_int_equal(strlen(id), 24);
  assert_string_equal(sget(u, "status"), "online"); /* the status a new user has chosen */
  assert_true(json_is_null(json_object_get(u, "avatar_url")));
  assert_null(json_object_get(u, "password_hash"));
  assert_null(json_object_get(u, "_id"));
  int64_t ms;
  assert_int_equal(util_parse_iso8601(sget(u, "created_at"), &ms), 0);
  json_decref(u);
  assert_int_equal(call(f, USER_CREATE, NULL,
                        "{\"email\":\"ann@x.io\",\"name\":\"A2\",\"password_hash\":\"p\"}"),
                   STORE_ECONFLICT);
  assert_int_equal(call(f, USER_GET_BY_EMAIL, &u, "{\"email\":\"ann@x.io\"}"), STORE_OK);
  assert_string_equal(sget(u, "password_hash"), "ph");
  json_decref(u);
  assert_int_equal(call(f, USER_CREATE, NULL,
                        "{\"email\":\"bob@x.io\",\"name\":\"anna b.\",\"password_hash\":\"p\"}"),
                   STORE_OK);
  assert_int_equal(call(f, USER_SEARCH, &r, "{\"q\":\"ANN\",\"limit\":20}"), STORE_OK);
  assert_int_equal(json_array_size(json_object_get(r, "users")), 2);
  assert_string_equal(sget(json_array_get(json_object_get(r, "users"), 0), "name"), "Ann");
  json_decref(r);
  assert_int_equal(call(f, USER_SEARCH, &r, "{\"q\":\"bob@x.io\",\"limit\":20}"), STORE_OK);
  assert_int_equal(json_array_size(json_object_get(r, "users")), 1);
  json_decref(r);
  assert_int_equal(call(f, USER_SEARCH, &r, "{\"q\":\".*\",\"limit\":20}"),
                   STORE_OK); /* no regex injection */
  assert_int_equal(json_array_size(json_object_get(r, "users")), 0);
  json_decref(r);
  assert_int_equal(call(f, USER_UPDATE, &u,
                        "{\"id\":\"%s\",\"name\":\"Annie\",\"avatar_url\":\"http://a/b\"}", id),
                   STORE_OK);
  assert_string_equal(sget(u, "name"), "Annie");
  assert_string_equal(sget(u, "avatar_url"), "http://a/b");
  json_decref(u);
  assert_int_equal(
      call(f, USER_UPDATE, NULL, "{\"id\":\"000000000000000000000000\",\"name\":\"x\"}"),
      STORE_ENOTFOUND);
  assert_int_equal(
      call(f, REFRESH_CREATE, NULL,
           "{\"token_hash\":\"t1\",\"user_id\":\"%s\",\"family_id\":\"f1\",\"expires_at_ms\":%lld}",
           id, (long long)util_now_ms() + 60000),
      STORE_OK);
  assert_int_equal(call(f, USER_DELETE, NULL, "{\"id\":\"%s\"}", id), STORE_OK);
  assert_int_equal(call(f, USER_GET_BY_EMAIL, NULL, "{\"email\":\"ann@x.io\"}"), STORE_ENOTFOUND);
  assert_int_equal(call(f, USER_GET, &u, "{\"id\":\"%s\"}", id), STORE_OK);
  assert_string_equal(sget(u, "name"), "Deleted user");
  assert_true(json_is_true(json_object_get(u, "deleted")));
  assert_true(json_is_null(json_object_get(u, "email")));
  json_decref(u);
  assert_int_equal(call(f, REFRESH_ROTATE, NULL,
                        "{\"token_hash\":\"t1\",\"new_token_hash\":\"t2\",\"new_expires_at_ms\":1,"
                        "\"now_ms\":%lld}",
                        (long long)util_now_ms()),
                   STORE_ENOTFOUND);
  /* The email is free again. */
  assert_int_equal(call(f, USER_CREATE, NULL,
                        "{\"email\":\"ann@x.io\",\"name\":\"New\",\"password_hash\":\"p\"}"),
                   STORE_OK);
}

/* Opening the store creates every collection's indexes: the unique one on a
 * channel's members among them (it was once left out of a list kept by hand). */
static int has_index(fx_t *f, const char *coll, const char *name, int unique) {
  mongoc_uri_t *uri = mongoc_uri_new(f->uri);
  mongoc_client_t *client = mongoc_client_new_from_uri(uri);
  mongoc_collection_t *col =
      mongoc_client_get_collection(client, mongoc_uri_get_database(uri), coll);
  mongoc_cursor_t *cur = mongoc_collection_find_indexes_with_opts(col, NULL);
  const bson_t *doc;
  int found = 0;
  while (mongoc_cursor_next(cur, &doc)) {
    bson_iter_t it;
    if (!bson_iter_init_find(&it, doc, "name") || strcmp(bson_iter_utf8(&it, NULL), name) != 0)
      continue;
    found = !unique || (bson_iter_init_find(&it, doc, "unique") && bson_iter_as_bool(&it));
  }
  mongoc_cursor_destroy(cur);
  mongoc_collection_destroy(col);
  mongoc_client_destroy(client);
  mongoc_uri_destroy(uri);
  return found;
}

static void test_indexes(void **state) {
  fx_t *f = *state;
  NEED_MONGO(f);
  assert_int_equal(call(f, STORE_PING, NULL, "{}"), STORE_OK);
  assert_true(has_index(f, "channel_members", "conversation_id_1_user_id_1", 1));
  assert_true(has_index(f, "channel_members", "user_id_1", 0));
  assert_true(has_index(f, "channel_members", "conversation_id_1_bot_1", 0));
  assert_true(has_index(f, "attachments", "user_id_1", 0));
  assert_true(has_index(f, "attachments", "sent_1_created_at_1", 0));
  assert_true(has_index(f, "attachments", "fetch_state_1_fetch_after_ms_1", 0));
  assert_true(has_index(f, "logins", "user_id_1_last_used_at_ms_-1", 0));
  assert_true(has_index(f, "devices", "user_id_1_ord_1", 0));
  assert_true(has_index(f, "device_prekeys", "device_id_1_ord_1", 0));
  assert_true(has_index(f, "device_prekeys", "device_id_1_key_1", 1));
  assert_true(has_index(f, "calls", "state_1_lease_until_ms_1", 0));
  assert_true(has_index(f, "call_lines", "call_id_1", 0));
  assert_true(has_index(f, "push_subscriptions", "endpoint_1", 1));
  assert_true(has_index(f, "push_subscriptions", "user_id_1", 0));
  assert_true(has_index(f, "flow_versions", "flow_id_1_n_-1", 1));
  assert_true(has_index(f, "flow_runs", "flow_id_1_status_1_version_1", 0));
  assert_true(has_index(f, "flow_stats", "flow_id_1_version_1", 0));
  assert_true(has_index(f, "flow_claims", "flow_id_1", 0));
  assert_true(has_index(f, "flow_reached", "flow_id_1_version_1", 0));
  assert_true(has_index(f, "oauth_states", "expires_at_ms_1", 0));
  assert_true(has_index(f, "scheduled_steps", "wait_for_1_ord_-1", 0));
  assert_true(has_index(f, "flow_runs", "flow_id_1_contact_id_1_ord_-1", 0));
  assert_true(has_index(f, "bots", "token_hash_1", 1));
  assert_true(has_index(f, "bots", "owner_id_1_created_at_1", 0));
  assert_true(has_index(f, "bots", "status_1_queued_1", 0));
  assert_true(has_index(f, "bot_deliveries", "bot_id_1_ord_1", 0));
  /* issue 21: a flow's message retried by another sender; an agent's inbox */
  assert_true(has_index(f, "messages", "conversation_id_1_client_id_1_flow", 0));
  assert_true(has_index(f, "conversations", "creator_id_1_type_1_activity_-1", 0));
  assert_true(has_index(f, "users", "avatar_id_1", 0));
  assert_true(has_index(f, "conversations", "avatar_id_1", 0));
}

static void test_refresh(void **state) {
  fx_t *f = *state;
  NEED_MONGO(f);
  long long now = (long long)util_now_ms();
  json_t *r;
  assert_int_equal(
      call(f, REFRESH_CREATE, NULL,
           "{\"token_hash\":\"a\",\"user_id\":\"u\",\"family_id\":\"fam\",\"expires_at_ms\":%lld}",
           now + 1000),
      STORE_OK);
  const char *rot =
      "{\"token_hash\":\"%s\",\"new_token_hash\":\"%s\",\"new_expires_at_ms\":%lld,\"now_ms\":%"
      "lld}";
  assert_int_equal(call(f, REFRESH_ROTATE, &r, rot, "a", "b", now + 5000, now), STORE_OK);
  assert_string_equal(sget(r, "user_id"), "u");
  assert_string_equal(sget(r, "family_id"), "fam");
  json_decref(r);
  assert_int_equal(call(f, REFRESH_ROTATE, NULL, rot, "a", "c", now + 5000, now), STORE_EREVOKED);
  assert_int_equal(call(f, REFRESH_ROTATE, NULL, rot, "b", "d", now + 5000, now), STORE_ENOTFOUND);
  assert_int_equal(call(f, REFRESH_ROTATE, NULL, rot, "nope", "e", now + 5000, now),
                   STORE_ENOTFOUND);
  assert_int_equal(
      call(f, REFRESH_CREATE, NULL,
           "{\"token_hash\":\"x\",\"user_id\":\"u\",\"family_id\":\"f2\",\"expires_at_ms\":%lld}",
           now + 10),
      STORE_OK);
  assert_int_equal(call(f, REFRESH_ROTATE, NULL, rot, "x", "y", now + 5000, now + 20),
                   STORE_ENOTFOUND); /* expired */
}

static void test_conversations(void **state) {
  fx_t *f = *state;
  NEED_MONGO(f);
  char a[25], b[25], c[25];
  new_user(f, "alice", a);
  new_user(f, "bob", b);
  new_user(f, "carol", c);
  json_t *r, *r2;
  const char *direct =
      "{\"type\":\"direct\",\"name\":null,\"creator_id\":\"%s\",\"participant_ids\":[\"%s\",\"%s\"]"
      "}";
  assert_int_equal(call(f, CONV_CREATE, &r, direct, a, a, b), STORE_OK);
  assert_true(json_is_true(json_object_get(r, "created")));
  assert_int_equal(call(f, CONV_CREATE, &r2, direct, b, b, a), STORE_OK);
  assert_true(json_is_false(json_object_get(r2, "created")));
  assert_string_equal(sget(r, "conversation.id"), sget(r2, "conversation.id"));
  json_t *parts = json_object_get(json_object_get(r, "conversation"), "participants");
  assert_int_equal(json_array_size(parts), 2);
  assert_string_equal(sget(json_array_get(parts, 0), "name"), "alice");
  assert_int_equal(iget(json_object_get(r, "conversation"), "last_seq"), 0);
  assert_true(json_is_null(json_object_get(json_object_get(r, "conversation"), "last_message")));
  json_decref(r);
  json_decref(r2);
  assert_int_equal(call(f, CONV_CREATE, NULL, direct, a, a, "000000000000000000000000"),
                   STORE_EINVAL);
  assert_int_equal(
      call(f, CONV_CREATE, &r,
           "{\"type\":\"group\",\"name\":\"G\",\"creator_id\":\"%s\",\"participant_ids\":[\"%s\"]}",
           a, b),
      STORE_OK);
  char g[25];
  snprintf(g, sizeof(g), "%s", sget(r, "conversation.id"));
  assert_string_equal(
      sget(json_array_get(json_object_get(json_object_get(r, "conversation"), "participants"), 0),
           "role"),
      "admin");
  json_decref(r);
  assert_int_equal(
      call(f, CONV_RENAME, NULL, "{\"id\":\"%s\",\"user_id\":\"%s\",\"name\":\"X\"}", g, b),
      STORE_EFORBIDDEN);
  assert_int_equal(
      call(f, CONV_RENAME, NULL, "{\"id\":\"%s\",\"user_id\":\"%s\",\"name\":\"X\"}", g, c),
      STORE_ENOTFOUND);
  assert_int_equal(
      call(f, CONV_RENAME, &r, "{\"id\":\"%s\",\"user_id\":\"%s\",\"name\":\"X\"}", g, a),
      STORE_OK);
  assert_string_equal(sget(r, "name"), "X");
  json_decref(r);
  assert_int_equal(
      call(f, CONV_ADD_MEMBERS, &r,
           "{\"id\":\"%s\",\"user_id\":\"%s\",\"user_ids\":[\"%s\",\"%s\"]}", g, a, c, b),
      STORE_OK);
  assert_int_equal(json_array_size(json_object_get(r, "participants")), 3);
  json_decref(r);
  assert_int_equal(call(f, CONV_GET, NULL, "{\"id\":\"%s\",\"user_id\":\"%s\"}", g, c), STORE_OK);
  assert_int_equal(call(f, CONV_REMOVE_MEMBER, NULL,
                        "{\"id\":\"%s\",\"user_id\":\"%s\",\"member_id\":\"%s\"}", g, b, c),
                   STORE_EFORBIDDEN);
  assert_int_equal(call(f, CONV_REMOVE_MEMBER, &r,
                        "{\"id\":\"%s\",\"user_id\":\"%s\",\"member_id\":\"%s\"}", g, c, c),
                   STORE_OK);
  assert_string_equal(sget(r, "removed_id"), c);
  json_decref(r);
  assert_int_equal(call(f, CONV_GET, NULL, "{\"id\":\"%s\",\"user_id\":\"%s\"}", g, c),
                   STORE_ENOTFOUND);
  /* Paging: 2 conversations for a, one per page. */
  assert_int_equal(call(f, CONV_LIST, &r, "{\"user_id\":\"%s\",\"limit\":1}", a), STORE_OK);
  assert_int_equal(json_array_size(json_object_get(r, "conversations")), 1);
  assert_string_equal(sget(json_array_get(json_object_get(r, "conversations"), 0), "id"), g);
  assert_int_equal(call(f, CONV_LIST, &r2, "{\"user_id\":\"%s\",\"limit\":1,\"cursor\":\"%s\"}", a,
                        sget(r, "next_cursor")),
                   STORE_OK);
  assert_int_equal(json_array_size(json_object_get(r2, "conversations")), 1);
  assert_string_not_equal(sget(json_array_get(json_object_get(r2, "conversations"), 0), "id"), g);
  assert_true(json_is_null(json_object_get(r2, "next_cursor")));
  json_decref(r);
  json_decref(r2);
}

/* Messages submitted in one loop turn: gathered into one batch, seq 1..n with no
 * gap per conversation, duplicates of a client_id answered with the original. */
static void test_messages(void **state) {
  fx_t *f = *state;
  NEED_MONGO(f);
  char a[25], b[25], c[25], c1[25], c2[25];
  new_user(f, "m1", a);
  new_user(f, "m2", b);
  new_user(f, "m3", c);
  json_t *r;
  const char *direct =
      "{\"type\":\"direct\",\"name\":null,\"creator_id\":\"%s\",\"participant_ids\":[\"%s\",\"%s\"]"
      "}";
  assert_int_equal(call(f, CONV_CREATE, &r, direct, a, a, b), STORE_OK);
  snprintf(c1, sizeof(c1), "%s", sget(r, "conversation.id"));
  json_decref(r);
  assert_int_equal(call(f, CONV_CREATE, &r, direct, a, a, c), STORE_OK);
  snprintf(c2, sizeof(c2), "%s", sget(r, "conversation.id"));
  json_decref(r);
  enum { N = 60 };
  reply_t rs[N];
  memset(rs, 0, sizeof(rs));
  for (int i = 0; i < N; i++) {
    char cid[16];
    snprintf(cid, sizeof(cid), "c%d", i % 25); /* i and i+25 share a client_id */
    json_t *p = json_pack("{s:s, s:s, s:s, s:s, s:s, s:b}", "conversation_id", i % 2 ? c2 : c1,
                          "sender_id", i % 2 ? a : b, "text", "hello", "client_id", cid, "source",
                          "web", "check_member", 1);
    assert_int_equal(store_call(f->store, MSG_INSERT, p, on_reply, &rs[i]), 0);
  }
  run_until(&f->loop, rs, N);
  int created = 0;
  char seen[2][N + 1];
  memset(seen, 0, sizeof(seen));
  for (int i = 0; i < N; i++) {
    assert_int_equal(rs[i].status, STORE_OK);
    json_t *m = json_object_get(rs[i].result, "message");
    json_int_t seq = iget(m, "seq");
    assert_true(seq >= 1 && seq <= N);
    if (json_is_true(json_object_get(rs[i].result, "created"))) {
      created++;
      assert_int_equal(seen[i % 2][seq], 0);
      seen[i % 2][seq] = 1;
    }
    assert_int_equal(json_array_size(json_object_get(rs[i].result, "participant_ids")), 2);
    json_decref(rs[i].result);
  }
  /* client ids c0..c24 per (conversation, sender): i%25 and i%2 give 50 distinct keys */
  assert_int_equal(created, 50);
  assert_int_equal(call(f, CONV_GET, &r, "{\"id\":\"%s\"}", c1), STORE_OK);
  assert_int_equal(iget(r, "last_seq"), 25);
  assert_int_equal(iget(json_object_get(r, "last_message"), "seq"), 25);
  json_t *pb = json_array_get(json_object_get(r, "participants"), 1);
  assert_string_equal(sget(pb, "id"), b);
  assert_int_equal(iget(pb, "last_read_seq"), 25); /* the sender's marker moved */
  json_decref(r);
  /* The same client_id later: the original, nothing new. */
  assert_int_equal(call(f, MSG_INSERT, &r,
                        "{\"conversation_id\":\"%s\",\"sender_id\":\"%s\",\"text\":\"again\","
                        "\"client_id\":\"c0\",\"source\":\"web\"}",
                        c1, b),
                   STORE_OK);
  assert_true(json_is_false(json_object_get(r, "created")));
  assert_string_equal(sget(r, "message.text"), "hello");
  json_decref(r);
  assert_int_equal(call(f, MSG_INSERT, NULL,
                        "{\"conversation_id\":\"%s\",\"sender_id\":\"%s\",\"text\":\"x\","
                        "\"source\":\"web\",\"check_member\":true}",
                        c1, c),
                   STORE_ENOTFOUND);
  /* external_id */
  const char *ext =
      "{\"conversation_id\":\"%s\",\"sender_id\":\"ig:1\",\"text\":null,\"source\":\"instagram\","
      "\"external_id\":\"mid.1\",\"attachments\":[{\"type\":\"image\",\"url\":\"http://i\"}]}";
  assert_int_equal(call(f, MSG_INSERT, &r, ext, c1), STORE_OK);
  assert_true(json_is_true(json_object_get(r, "created")));
  assert_int_equal(iget(json_object_get(r, "message"), "seq"), 26);
  assert_string_equal(
      sget(json_array_get(json_object_get(json_object_get(r, "message"), "attachments"), 0),
           "type"),
      "image");
  json_decref(r);
  assert_int_equal(call(f, MSG_INSERT, &r, ext, c1), STORE_OK);
  assert_true(json_is_false(json_object_get(r, "created")));
  json_decref(r);
  assert_int_equal(call(f, MSG_GET, &r, "{\"external_id\":\"mid.1\"}"), STORE_OK);
  assert_int_equal(iget(json_object_get(r, "message"), "seq"), 26);
  json_decref(r);
  /* History pages. */
  assert_int_equal(
      call(f, MSG_LIST, &r, "{\"conversation_id\":\"%s\",\"user_id\":\"%s\",\"limit\":10}", c1, a),
      STORE_OK);
  json_t *msgs = json_object_get(r, "messages");
  assert_int_equal(json_array_size(msgs), 10);
  assert_int_equal(iget(json_array_get(msgs, 0), "seq"), 17);
  assert_int_equal(iget(json_array_get(msgs, 9), "seq"), 26);
  assert_true(json_is_true(json_object_get(r, "has_more")));
  json_decref(r);
  assert_int_equal(
      call(f, MSG_LIST, &r,
           "{\"conversation_id\":\"%s\",\"user_id\":\"%s\",\"limit\":10,\"before_seq\":5}", c1, a),
      STORE_OK);
  assert_int_equal(json_array_size(json_object_get(r, "messages")), 4);
  assert_true(json_is_false(json_object_get(r, "has_more")));
  json_decref(r);
  assert_int_equal(
      call(f, MSG_LIST, &r,
           "{\"conversation_id\":\"%s\",\"user_id\":\"%s\",\"limit\":3,\"after_seq\":5}", c1, a),
      STORE_OK);
  assert_int_equal(iget(json_array_get(json_object_get(r, "messages"), 0), "seq"), 6);
  assert_true(json_is_true(json_object_get(r, "has_more")));
  json_decref(r);
  assert_int_equal(
      call(f, MSG_LIST, NULL, "{\"conversation_id\":\"%s\",\"user_id\":\"%s\",\"limit\":3}", c1, c),
      STORE_ENOTFOUND);
  /* Edit, react, delete; the conversation's last_message follows. */
  assert_int_equal(
      call(f, MSG_LIST, &r,
           "{\"conversation_id\":\"%s\",\"user_id\":\"%s\",\"limit\":1,\"before_seq\":26}", c1, a),
      STORE_OK);
  char mid[25];
  snprintf(mid, sizeof(mid), "%s", sget(json_array_get(json_object_get(r, "messages"), 0), "id"));
  json_decref(r);
  assert_int_equal(
      call(f, MSG_EDIT, NULL, "{\"id\":\"%s\",\"user_id\":\"%s\",\"text\":\"e\"}", mid, a),
      STORE_EFORBIDDEN);
  assert_int_equal(
      call(f, MSG_EDIT, &r, "{\"id\":\"%s\",\"user_id\":\"%s\",\"text\":\"edited\"}", mid, b),
      STORE_OK);
  assert_string_equal(sget(r, "message.text"), "edited");
  assert_non_null(sget(r, "message.edited_at"));
  json_decref(r);
  assert_int_equal(call(f, MSG_REACT, NULL,
                        "{\"id\":\"%s\",\"user_id\":\"%s\",\"emoji\":\"+1\",\"add\":true}", mid, a),
                   STORE_OK);
  assert_int_equal(call(f, MSG_REACT, &r,
                        "{\"id\":\"%s\",\"user_id\":\"%s\",\"emoji\":\"+1\",\"add\":true}", mid, b),
                   STORE_OK);
  json_t *re = json_object_get(json_object_get(r, "message"), "reactions");
  assert_int_equal(json_array_size(re), 1);
  assert_int_equal(json_array_size(json_object_get(json_array_get(re, 0), "user_ids")), 2);
  json_decref(r);
  assert_int_equal(
      call(f, MSG_REACT, NULL, "{\"id\":\"%s\",\"user_id\":\"%s\",\"emoji\":\"+1\",\"add\":false}",
           mid, a),
      STORE_OK);
  assert_int_equal(
      call(f, MSG_REACT, &r, "{\"id\":\"%s\",\"user_id\":\"%s\",\"emoji\":\"+1\",\"add\":false}",
           mid, b),
      STORE_OK);
  assert_int_equal(json_array_size(json_object_get(json_object_get(r, "message"), "reactions")), 0);
  json_decref(r);
  assert_int_equal(call(f, MSG_DELETE, NULL, "{\"id\":\"%s\",\"user_id\":\"%s\"}", mid, a),
                   STORE_EFORBIDDEN);
  assert_int_equal(call(f, MSG_DELETE, &r, "{\"id\":\"%s\",\"user_id\":\"%s\"}", mid, b), STORE_OK);
  assert_true(json_is_true(json_object_get(json_object_get(r, "message"), "deleted")));
  assert_true(json_is_null(json_object_get(json_object_get(r, "message"), "text")));
  json_decref(r);
  assert_int_equal(
      call(f, CONV_MARK_READ, &r, "{\"id\":\"%s\",\"user_id\":\"%s\",\"seq\":1000}", c1, a),
      STORE_OK);
  assert_int_equal(iget(r, "last_read_seq"), 26);
  json_decref(r);
  assert_int_equal(
      call(f, CONV_MARK_READ, &r, "{\"id\":\"%s\",\"user_id\":\"%s\",\"seq\":3}", c1, a), STORE_OK);
  assert_int_equal(iget(r, "last_read_seq"), 26);
  json_decref(r);
}

static void test_instagram_and_flows(void **state) {
  fx_t *f = *state;
  NEED_MONGO(f);
  char a[25], b[25];
  new_user(f, "ig1", a);
  new_user(f, "ig2", b);
  json_t *r;
  const char *up =
      "{\"user_id\":\"%s\",\"ig_user_id\":\"%s\",\"username\":\"shop\",\"token_cipher\":"
      "\"c2VjcmV0\"}";
  assert_int_equal(call(f, IG_ACCOUNT_UPSERT, &r, up, a, "17841"), STORE_OK);
  assert_null(json_object_get(r, "token_cipher"));
  json_decref(r);
  assert_int_equal(call(f, IG_ACCOUNT_UPSERT, NULL, up, b, "17841"), STORE_ECONFLICT);
  assert_int_equal(call(f, IG_ACCOUNT_GET, &r, "{\"ig_user_id\":\"17841\",\"with_token\":true}"),
                   STORE_OK);
  assert_string_equal(sget(r, "token_cipher"), "c2VjcmV0");
  json_decref(r);
  assert_int_equal(call(f, CONTACT_UPSERT, &r, "{\"owner_id\":\"%s\",\"ig_user_id\":\"555\"}", a),
                   STORE_OK);
  char ct[25];
  snprintf(ct, sizeof(ct), "%s", sget(r, "id"));
  assert_true(json_is_null(json_object_get(r, "last_inbound_at")));
  json_decref(r);
  assert_int_equal(call(f, CONTACT_UPSERT, &r,
                        "{\"owner_id\":\"%s\",\"ig_user_id\":\"555\",\"username\":\"joe\","
                        "\"last_inbound_at\":\"2026-01-02T03:04:05.678Z\"}",
                        a),
                   STORE_OK);
  assert_string_equal(sget(r, "id"), ct);
  assert_string_equal(sget(r, "last_inbound_at"), "2026-01-02T03:04:05.678Z");
  json_decref(r);
  assert_int_equal(call(f, CONTACT_UPDATE, &r,
                        "{\"id\":\"%s\",\"owner_id\":\"%s\",\"add_tags\":[\"vip\",\"vip\"],"
                        "\"set_variables\":{\"size\":\"M\"}}",
                        ct, a),
                   STORE_OK);
  assert_int_equal(json_array_size(json_object_get(r, "tags")), 1);
  assert_string_equal(sget(r, "variables.size"), "M");
  json_decref(r);
  assert_int_equal(call(f, CONTACT_GET, NULL, "{\"id\":\"%s\",\"owner_id\":\"%s\"}", ct, b),
                   STORE_ENOTFOUND);
  assert_int_equal(
      call(f, EVENT_INSERT, &r,
           "{\"events\":[{\"mid\":\"m1\",\"payload\":{\"$gt\":1}},{\"mid\":\"m1\",\"payload\":{}},"
           "{\"mid\":null,\"payload\":{\"a.b\":2}}]}"),
      STORE_OK);
  assert_int_equal(json_array_size(json_object_get(r, "inserted")), 2);
  assert_int_equal(iget(r, "duplicates"), 1);
  json_decref(r);
  assert_int_equal(call(f, EVENT_LIST_PENDING, &r, "{\"limit\":10}"), STORE_OK);
  json_t *ev = json_array_get(json_object_get(r, "events"), 0);
  assert_int_equal(iget(json_object_get(ev, "payload"), "$gt"), 1);
  assert_int_equal(call(f, EVENT_MARK_PROCESSED, NULL, "{\"id\":\"%s\"}", sget(ev, "id")),
                   STORE_OK);
  json_decref(r);
  assert_int_equal(call(f, EVENT_LIST_PENDING, &r, "{\"limit\":10}"), STORE_OK);
  assert_int_equal(json_array_size(json_object_get(r, "events")), 1);
  json_decref(r);
  assert_int_equal(
      call(f, FLOW_CREATE, &r,
           "{\"owner_id\":\"%s\",\"flow\":{\"name\":\"welcome\",\"status\":\"active\","
           "\"trigger\":{\"type\":\"any_message\"},\"nodes\":[{\"id\":\"n1\",\"type\":\"message\","
           "\"data\":{\"text\":\"{{vars.x}}\"}}],\"edges\":[],\"start\":\"n1\"}}",
           a),
      STORE_OK);
  char fl[25];
  snprintf(fl, sizeof(fl), "%s", sget(r, "id"));
  assert_string_equal(sget(r, "trigger.type"), "any_message");
  json_decref(r);
  assert_int_equal(call(f, FLOW_GET, &r, "{\"name\":\"welcome\",\"owner_id\":\"%s\"}", a),
                   STORE_OK);
  assert_string_equal(sget(r, "start"), "n1");
  json_decref(r);
  assert_int_equal(call(f, FLOW_GET, NULL, "{\"id\":\"%s\",\"owner_id\":\"%s\"}", fl, b),
                   STORE_ENOTFOUND);
  assert_int_equal(call(f, FLOW_RUN_SAVE, &r,
                        "{\"run\":{\"flow_id\":\"%s\",\"owner_id\":\"%s\",\"contact_id\":\"%s\","
                        "\"status\":\"running\",\"trace\":[],\"state\":{\"node\":\"n1\"}}}",
                        fl, a, ct),
                   STORE_OK);
  char run[25];
  snprintf(run, sizeof(run), "%s", sget(r, "id"));
  json_decref(r);
  assert_int_equal(
      call(f, FLOW_RUN_SAVE, &r,
           "{\"run\":{\"id\":\"%s\",\"flow_id\":\"%s\",\"owner_id\":\"%s\",\"contact_id\":\"%s\","
           "\"status\":\"done\",\"trace\":[{\"node_id\":\"n1\"}],\"state\":{}}}",
           run, fl, a, ct),
      STORE_OK);
  json_decref(r);
  assert_int_equal(
      call(f, FLOW_RUN_LIST, &r, "{\"flow_id\":\"%s\",\"owner_id\":\"%s\",\"limit\":10}", fl, a),
      STORE_OK);
  assert_int_equal(json_array_size(json_object_get(r, "runs")), 1);
  assert_string_equal(sget(json_array_get(json_object_get(r, "runs"), 0), "status"), "done");
  json_decref(r);
  assert_int_equal(call(f, SCHED_INSERT, &r, "{\"run_id\":\"%s\",\"due_at_ms\":100}", run),
                   STORE_OK);
  json_decref(r);
  assert_int_equal(call(f, SCHED_DUE, &r, "{\"now_ms\":99,\"limit\":10}"), STORE_OK);
  assert_int_equal(json_array_size(json_object_get(r, "steps")), 0);
  json_decref(r);
  assert_int_equal(call(f, SCHED_DUE, &r, "{\"now_ms\":100,\"limit\":10}"), STORE_OK);
  assert_int_equal(json_array_size(json_object_get(r, "steps")), 1);
  json_decref(r);
  assert_int_equal(call(f, FLOW_DELETE, NULL, "{\"id\":\"%s\",\"owner_id\":\"%s\"}", fl, a),
                   STORE_OK);
  assert_int_equal(call(f, IG_ACCOUNT_DELETE, NULL, "{\"user_id\":\"%s\"}", a), STORE_OK);
  assert_int_equal(call(f, IG_ACCOUNT_DELETE, NULL, "{\"user_id\":\"%s\"}", a), STORE_ENOTFOUND);
}

/* ---- outage: a stand-in server this test owns ---- */

static const char *src_root(char *out, size_t n) {
  snprintf(out, n, "%s", __FILE__);
  char *cut = strstr(out, "tests/unit/store/");
  if (!cut) return NULL;
  *cut = 0;
  return out;
}

static pid_t start_server(int port, int *port_out) {
  char root[512], script[600], portarg[16], pfile[64];
  if (!src_root(root, sizeof(root))) return -1;
  snprintf(script, sizeof(script), "%stests/mongo_server/server.py", root);
  snprintf(portarg, sizeof(portarg), "%d", port);
  snprintf(pfile, sizeof(pfile), "/tmp/parley-mongo-fault-%d.port", (int)getpid());
  unlink(pfile);
  if (access(script, R_OK) != 0 || access("/usr/bin/python3", X_OK) != 0) return -1;
  pid_t pid = fork();
  if (pid == 0) {
    int devnull = open("/dev/null", O_WRONLY);
    dup2(devnull, 1);
    execl("/usr/bin/python3", "python3", script, "--host", "127.0.0.1", "--port", portarg,
          "--port-file", pfile, (char *)NULL);
    _exit(127);
  }
  for (int i = 0; i < 200; i++) { /* up to 10 s for the interpreter to start */
    FILE *fp = fopen(pfile, "r");
    if (fp) {
      int ok = fscanf(fp, "%d", port_out) == 1;
      fclose(fp);
      if (ok) {
        unlink(pfile);
        return pid;
      }
    }
    usleep(50000);
  }
  kill(pid, SIGKILL);
  waitpid(pid, NULL, 0);
  return -1;
}

static void stop_server(pid_t pid) {
  kill(pid, SIGKILL); /* as abrupt as a crash */
  waitpid(pid, NULL, 0);
}

static int64_t mono_ms(void) { return (int64_t)(uv_hrtime() / 1000000); }

static int ping_status(fx_t *f, int64_t *took) {
  int64_t t0 = mono_ms();
  int st = call(f, USER_GET, NULL, "{\"id\":\"000000000000000000000000\"}");
  *took = mono_ms() - t0;
  return st;
}

/* A read (user_get) or a message insert into a conversation that does not
 * exist: both answer ENOTFOUND while the server is up. */
static void submit_probe(fx_t *f, int i, reply_t *r) {
  const char *none = "000000000000000000000000";
  json_t *p = i % 2 ? json_pack("{s:s}", "id", none)
                    : json_pack("{s:s, s:s, s:s, s:s}", "conversation_id", none, "sender_id", "u",
                                "text", "t", "source", "web");
  assert_int_equal(store_call(f->store, i % 2 ? USER_GET : MSG_INSERT, p, on_reply, r), 0);
}

static void test_outage(void **state) {
  int port = 0;
  pid_t pid = start_server(0, &port);
  if (pid < 0) {
    print_message("no stand-in server: skipped\n");
    skip();
  }
  fx_t f;
  memset(&f, 0, sizeof(f));
  snprintf(f.uri, sizeof(f.uri), "mongodb://127.0.0.1:%d/parley_fault", port);
  uv_loop_init(&f.loop);
  const int timeout = 1000;
  f.store = store_open_mongo(&f.loop, f.uri, 100, timeout);
  assert_non_null(f.store);
  int64_t took;
  assert_int_equal(ping_status(&f, &took), STORE_ENOTFOUND);
  assert_true(store_healthy(f.store));

  /* Killed with calls in flight: each completes, either before the kill or
   * with EUNAVAILABLE, within the bounded time; then, while it is down, every
   * call fails with EUNAVAILABLE within the timeout, never hanging. */
  enum { N = 20 };
  reply_t rs[N];
  for (int wave = 0; wave < 2; wave++) {
    memset(rs, 0, sizeof(rs));
    int64_t t0 = mono_ms();
    for (int i = 0; i < N; i++) submit_probe(&f, i, &rs[i]);
    if (wave == 0) stop_server(pid);
    run_until(&f.loop, rs, N);
    int64_t all = mono_ms() - t0;
    int unavailable = 0;
    for (int i = 0; i < N; i++) {
      if (wave == 1)
        assert_int_equal(rs[i].status, STORE_EUNAVAILABLE);
      else
        assert_true(rs[i].status == STORE_EUNAVAILABLE || rs[i].status == STORE_ENOTFOUND);
      unavailable += rs[i].status == STORE_EUNAVAILABLE;
    }
    assert_true(unavailable > 0);
    assert_true(all < 3 * timeout);
  }
  assert_false(store_healthy(f.store));
  assert_int_equal(ping_status(&f, &took), STORE_EUNAVAILABLE);
  assert_true(took < 2 * timeout);

  /* Back on the same port: the store recovers by itself. */
  int again = 0;
  pid = start_server(port, &again);
  assert_true(pid > 0);
  assert_int_equal(again, port);
  int st = STORE_EUNAVAILABLE;
  int64_t until = mono_ms() + 10000;
  while (st == STORE_EUNAVAILABLE && mono_ms() < until) {
    st = ping_status(&f, &took);
    if (st == STORE_EUNAVAILABLE) usleep(100000);
  }
  assert_int_equal(st, STORE_ENOTFOUND);
  assert_true(store_healthy(f.store));
  assert_int_equal(call(&f, USER_CREATE, NULL,
                        "{\"email\":\"back@x.io\",\"name\":\"Back\",\"password_hash\":\"p\"}"),
                   STORE_OK);
  close_store(&f);
  stop_server(pid);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_users, setup, teardown),
      cmocka_unit_test_setup_teardown(test_refresh, setup, teardown),
      cmocka_unit_test_setup_teardown(test_indexes, setup, teardown),
      cmocka_unit_test_setup_teardown(test_conversations, setup, teardown),
      cmocka_unit_test_setup_teardown(test_messages, setup, teardown),
      cmocka_unit_test_setup_teardown(test_instagram_and_flows, setup, teardown),
      cmocka_unit_test(test_outage),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
