/* sqlite_pcache.c: the page cache drops a COMMIT's truncate only when it has
 * nothing to drop. Random keys in an index split pages out of order, which
 * parks a page on the lock byte's page number for a moment; the commits after
 * must not walk the cache for it (truncates skipped); a rollback that shrinks
 * the database, and another connection's commit (the cache cleared: a truncate
 * to nothing), still leave no stale page: the database reads back whole and as
 * committed, in this connection, another, and the next. */
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

static char path[512];

static void exec(sqlite_db_t *d, const char *sql) {
  char *err = NULL;
  if (sqlite3_exec(d->db, sql, NULL, NULL, &err) != SQLITE_OK) fail_msg("%s: %s", sql, err);
}

static int64_t one(sqlite_db_t *d, const char *sql) {
  sqlite3_stmt *st = NULL;
  assert_int_equal(sqlite3_prepare_v2(d->db, sql, -1, &st, NULL), SQLITE_OK);
  assert_int_equal(sqlite3_step(st), SQLITE_ROW);
  int64_t v = sqlite3_column_int64(st, 0);
  sqlite3_finalize(st);
  return v;
}

static void intact(sqlite_db_t *d) {
  sqlite3_stmt *st = NULL;
  assert_int_equal(sqlite3_prepare_v2(d->db, "PRAGMA integrity_check", -1, &st, NULL), SQLITE_OK);
  assert_int_equal(sqlite3_step(st), SQLITE_ROW);
  assert_string_equal((const char *)sqlite3_column_text(st, 0), "ok");
  sqlite3_finalize(st);
}

/* n rows with random ids (an index's random leaves: splits out of order). */
static void insert(sqlite_db_t *d, int n, int tag) {
  sqlite3_stmt *st = NULL;
  assert_int_equal(
      sqlite3_prepare_v2(d->db, "INSERT INTO t (k, tag, pad) VALUES (?, ?, ?)", -1, &st, NULL),
      SQLITE_OK);
  char pad[200];
  memset(pad, 'x', sizeof(pad) - 1);
  pad[sizeof(pad) - 1] = '\0';
  for (int i = 0; i < n; i++) {
    char id[25];
    util_new_id(id);
    sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int(st, 2, tag);
    sqlite3_bind_text(st, 3, pad, -1, SQLITE_STATIC);
    assert_int_equal(sqlite3_step(st), SQLITE_DONE);
    sqlite3_reset(st);
  }
  sqlite3_finalize(st);
}

static void test_commits_skip_empty_truncates_and_rollbacks_drop_pages(void **state) {
  char id[25];
  util_new_id(id);
  snprintf(path, sizeof(path), "%s/parley-sqlite-pcache-%s.db",
           getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp", id);
  sqlite_db_t *d = sqlite_db_open(path);
  assert_non_null(d);
  exec(d, "CREATE TABLE t (k TEXT PRIMARY KEY, tag INTEGER, pad TEXT)");
  exec(d, "CREATE INDEX t_pad ON t (pad, k)");

  long before = sqlite_pcache_truncates_skipped();
  for (int b = 0; b < 40; b++) {
    exec(d, "BEGIN IMMEDIATE");
    insert(d, 100, 1);
    exec(d, "COMMIT");
  }
  assert_true(sqlite_pcache_truncates_skipped() > before);
  assert_int_equal(one(d, "SELECT count(*) FROM t"), 4000);
  intact(d);

  /* A transaction that grows the file by hundreds of pages, rolled back: its
   * pages past the old end must leave the cache, or the next growth reads them. */
  int64_t pages = one(d, "PRAGMA page_count");
  exec(d, "BEGIN IMMEDIATE");
  insert(d, 3000, 2);
  assert_true(one(d, "PRAGMA page_count") > pages + 100);
  exec(d, "ROLLBACK");
  assert_int_equal(one(d, "PRAGMA page_count"), pages);
  assert_int_equal(one(d, "SELECT count(*) FROM t WHERE tag = 2"), 0);
  intact(d);
  exec(d, "BEGIN IMMEDIATE");
  insert(d, 2000, 3);
  exec(d, "COMMIT");
  assert_int_equal(one(d, "SELECT count(*) FROM t"), 6000);
  assert_int_equal(one(d, "SELECT count(*) FROM t WHERE tag = 3"), 2000);
  intact(d);

  /* Another connection's commit: this one's cache is cleared (a truncate to
   * nothing, which must be passed on) and it reads the new rows, not its pages. */
  sqlite_db_t *other = sqlite_db_open(path);
  assert_non_null(other);
  assert_int_equal(one(d, "SELECT sum(length(pad)) FROM t"), 6000 * 199);
  exec(other, "UPDATE t SET pad = 'y', tag = 4");
  assert_int_equal(one(d, "SELECT sum(length(pad)) FROM t"), 6000);
  assert_int_equal(one(d, "SELECT count(*) FROM t WHERE tag = 4"), 6000);
  intact(d);
  sqlite_db_close(other);
  sqlite_db_close(d);

  d = sqlite_db_open(path); /* a fresh cache reads the same file */
  assert_non_null(d);
  assert_int_equal(one(d, "SELECT count(*) FROM t"), 6000);
  assert_int_equal(one(d, "SELECT count(*) FROM t WHERE tag = 4"), 6000);
  intact(d);
  sqlite_db_close(d);
  const char *suffixes[] = {"", "-wal", "-shm"};
  for (int i = 0; i < 3; i++) {
    char p[600];
    snprintf(p, sizeof(p), "%s%s", path, suffixes[i]);
    unlink(p);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_commits_skip_empty_truncates_and_rollbacks_drop_pages),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
