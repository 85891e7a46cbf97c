/* The fixture of the store contract programs (test_store_contract,
 * test_store_team): a fresh store per test, SQLite in a temp file or MongoDB
 * in a fresh database of PARLEY_TEST_MONGO_URI (the state cmocka passes to
 * setup), the synchronous call and the record builders both use. */
#ifndef PARLEY_TESTS_STORE_FIXTURE_H
#define PARLEY_TESTS_STORE_FIXTURE_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "store_sync.h"

#include "parley/store.h"
#include "parley/util.h"

typedef struct fx_s {
  uv_loop_t loop;
  store_t *store;
  int mongo;
  char where[512]; /* the SQLite path or the MongoDB URI of this test */
} fx_t;

/* Runs one operation to completion; returns its status, *out gets the result. */
static inline int call(fx_t *f, enum store_op op, json_t *params, json_t **out) {
  int done = 0;
  int status = store_sync_call(&f->loop, f->store, op, params, out, &done);
  if (done) assert_int_equal(done, 1);
  return status;
}

/* The URI with its database replaced by db (mongodb://host/db?opts). */
static inline void mongo_uri_with_db(const char *uri, const char *db, char *out, size_t n) {
  const char *hosts = strstr(uri, "://");
  hosts = hosts ? hosts + 3 : uri;
  size_t host_len = strcspn(hosts, "/?");
  const char *opts = strchr(hosts + host_len, '?');
  snprintf(out, n, "%.*s/%s%s", (int)(hosts - uri + host_len), uri, db, opts ? opts : "");
}

static inline store_t *open_store(fx_t *f, int max_jobs) {
  if (f->mongo) return store_open_mongo(&f->loop, f->where, max_jobs, 3000);
  return store_open_sqlite(&f->loop, f->where, max_jobs);
}

static inline int setup(void **state) {
  fx_t *f = calloc(1, sizeof(*f));
  f->mongo = *state != NULL;
  assert_int_equal(uv_loop_init(&f->loop), 0);
  char id[25];
  util_new_id(id);
  if (f->mongo) {
    char db[40];
    snprintf(db, sizeof(db), "parley_test_%s", id);
    mongo_uri_with_db(*state, db, f->where, sizeof(f->where));
  } else {
    snprintf(f->where, sizeof(f->where), "%s/parley-store-test-%s.db",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp", id);
  }
  f->store = open_store(f, 20000);
  assert_non_null(f->store);
  *state = f;
  return 0;
}

static inline void on_closed(void *arg) { *(int *)arg = 1; }

static inline void close_store(fx_t *f) {
  int closed = 0;
  store_close(f->store, on_closed, &closed);
  while (!closed) uv_run(&f->loop, UV_RUN_ONCE);
  f->store = NULL;
}

static inline int teardown(void **state) {
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

/* ---- helpers that build records ---- */

static inline const char *str(json_t *obj, const char *key) {
  return json_string_value(json_object_get(obj, key));
}
static inline json_int_t num(json_t *obj, const char *key) {
  return json_integer_value(json_object_get(obj, key));
}

static inline void new_user(fx_t *f, const char *email, const char *name, char id[25]) {
  json_t *u = NULL;
  assert_int_equal(
      call(f, USER_CREATE,
           json_pack("{s:s,s:s,s:s}", "email", email, "name", name, "password_hash", "$argon2id$x"),
           &u),
      STORE_OK);
  assert_int_equal(strlen(str(u, "id")), 24);
  strcpy(id, str(u, "id"));
  json_decref(u);
}

#endif
