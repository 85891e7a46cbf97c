/* The contact cache of CONTACT_UPSERT (sqlite_contact.c) across a job's
 * rollback, without the store thread: the operations called directly on a
 * connection whose reads of the contacts table are counted
 * (sqlite3_trace_v2), the job's savepoint taken and rolled back as the store
 * thread does (sqlite.c's run_job). A job that fails having written no contact
 * (SCHED_TAKE_WAIT with no ask waiting, asked on every direct message) keeps
 * the cache; one that wrote a contact empties it, and the next upsert reads the
 * row as the rollback left it. */
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
  int contact_reads; /* statements that read the contacts table */
  char owner[32];
} fx_t;

static int on_trace(unsigned type, void *ctx, void *stmt, void *sql) {
  fx_t *f = ctx;
  const char *text = sqlite3_sql(stmt);
  if (strncmp(text, "SELECT", 6) == 0 && strstr(text, "FROM contacts")) f->contact_reads++;
  return 0;
}

static json_t *run(fx_t *f, enum store_op op, json_t *params) {
  json_t *result = NULL;
  int status = sqlite_op(op)(f->d, params, &result);
  json_decref(params);
  if (status != STORE_OK) fail_msg("%s: status %d", store_op_name(op), status);
  return result;
}

static int setup(void **state) {
  fx_t *f = calloc(1, sizeof(*f));
  char id[25];
  util_new_id(id);
  snprintf(f->path, sizeof(f->path), "%s/parley-sqlite-contact-%s.db",
           getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp", id);
  f->d = sqlite_db_open(f->path);
  assert_non_null(f->d);
  assert_int_equal(sqlite_schema_migrate(f->d), 0);
  json_t *u =
      run(f, USER_CREATE,
          json_pack("{s:s,s:s,s:s}", "email", "own@x.io", "name", "own", "password_hash", "h"));
  snprintf(f->owner, sizeof(f->owner), "%s", json_string_value(json_object_get(u, "id")));
  json_decref(u);
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

/* CONTACT_UPSERT of the contact "42", with last_inbound_at when given. */
static json_t *upsert(fx_t *f, const char *inbound) {
  json_t *p = json_pack("{s:s,s:s}", "owner_id", f->owner, "ig_user_id", "42");
  if (inbound) json_object_set_new(p, "last_inbound_at", json_string(inbound));
  return run(f, CONTACT_UPSERT, p);
}

/* What the cache answers for the contact is what its row holds. */
static void assert_cache_is_row(fx_t *f, const char *id) {
  json_t *row = sqlite_contact_load(f->d, id);
  json_t *c = upsert(f, NULL);
  assert_true(json_equal(row, c));
  json_decref(row);
  json_decref(c);
}

/* Runs op under a savepoint and rolls it back whatever it answered, as the
 * store thread does with a failed job; returns the op's status. */
static int rolled_back_job(fx_t *f, enum store_op op, json_t *params) {
  uint64_t written = f->d->contacts_written;
  assert_int_equal(sqlite_db_exec_plain(f->d, "SAVEPOINT job"), 0);
  json_t *result = NULL;
  int status = sqlite_op(op)(f->d, params, &result);
  json_decref(params);
  json_decref(result);
  assert_int_equal(sqlite_db_exec_plain(f->d, "ROLLBACK TO job"), 0);
  sqlite_contact_rolled_back(f->d, written);
  assert_int_equal(sqlite_db_exec_plain(f->d, "RELEASE job"), 0);
  return status;
}

static void test_failure_without_contact_writes_keeps_cache(void **state) {
  fx_t *f = *state;
  json_decref(upsert(f, "2026-01-01T00:00:00.000Z"));
  f->contact_reads = 0;
  json_decref(upsert(f, NULL));
  assert_int_equal(f->contact_reads, 0); /* answered from the cache */

  /* No ask waits for the contact: ENOTFOUND, nothing written. */
  assert_int_equal(rolled_back_job(f, SCHED_TAKE_WAIT, json_pack("{s:s}", "wait_for", "c-none")),
                   STORE_ENOTFOUND);
  json_t *c = upsert(f, "2026-01-02T00:00:00.000Z");
  assert_int_equal(f->contact_reads, 0);
  assert_string_equal(json_string_value(json_object_get(c, "last_inbound_at")),
                      "2026-01-02T00:00:00.000Z");
  json_decref(c);
}

static void test_rolled_back_contact_write_empties_cache(void **state) {
  fx_t *f = *state;
  json_decref(upsert(f, "2026-01-01T00:00:00.000Z"));
  json_decref(upsert(f, NULL)); /* cached */

  /* The job writes the contact (the cache takes the new value), then its
   * savepoint is rolled back. */
  json_t *p = json_pack("{s:s,s:s,s:s}", "owner_id", f->owner, "ig_user_id", "42",
                        "last_inbound_at", "2026-03-03T00:00:00.000Z");
  assert_int_equal(rolled_back_job(f, CONTACT_UPSERT, p), STORE_OK);
  f->contact_reads = 0;
  json_t *c = upsert(f, NULL);
  assert_int_equal(f->contact_reads, 1); /* read again, as the rollback left it */
  assert_string_equal(json_string_value(json_object_get(c, "last_inbound_at")),
                      "2026-01-01T00:00:00.000Z");
  json_decref(c);
}

/* CONTACT_UPDATE of contact id, adding tag; with ig_user_id as the hint when
 * given. */
static json_t *update(fx_t *f, const char *id, const char *ig, const char *tag) {
  json_t *p = json_pack("{s:s,s:s,s:[s],s:{s:s}}", "id", id, "owner_id", f->owner, "add_tags", tag,
                        "set_variables", "last", tag);
  if (ig) json_object_set_new(p, "ig_user_id", json_string(ig));
  return run(f, CONTACT_UPDATE, p);
}

static const char *tag_at(const json_t *c, size_t i) {
  return json_string_value(json_array_get(json_object_get(c, "tags"), i));
}

/* A flow's update names the contact's ig_user_id: the cached row is changed
 * without a read, and the contact's next message finds it cached as written.
 * The cache keeps its own copy: the loop thread changes the answer it gets. */
static void test_update_by_hint_reads_nothing(void **state) {
  fx_t *f = *state;
  json_t *c = upsert(f, "2026-01-01T00:00:00.000Z");
  char id[32];
  snprintf(id, sizeof(id), "%s", json_string_value(json_object_get(c, "id")));
  json_decref(c);
  f->contact_reads = 0;
  c = update(f, id, "42", "lead");
  assert_int_equal(f->contact_reads, 0);
  assert_string_equal(tag_at(c, 0), "lead");
  assert_string_equal(json_string_value(json_object_get(c, "last_inbound_at")),
                      "2026-01-01T00:00:00.000Z");
  json_array_append_new(json_object_get(c, "tags"), json_string("mine")); /* the loop's copy */
  json_decref(c);
  c = upsert(f, "2026-01-02T00:00:00.000Z");
  assert_int_equal(f->contact_reads, 0);
  assert_int_equal(json_array_size(json_object_get(c, "tags")), 1);
  assert_string_equal(tag_at(c, 0), "lead");
  json_decref(c);
  c = update(f, id, "42", "quoted");
  assert_int_equal(f->contact_reads, 0);
  assert_string_equal(tag_at(c, 1), "quoted");
  assert_string_equal(json_string_value(json_object_get(json_object_get(c, "variables"), "last")),
                      "quoted");
  json_decref(c);
  assert_cache_is_row(f, id);
}

/* An update by hint changes the cached contact itself only when nothing else
 * holds it or its tags and variables: what the loop thread still holds (an
 * upsert's answer, or a container taken from it) is never changed; what it let
 * go of is changed in place, not copied. */
static void test_update_by_hint_leaves_held_contacts_alone(void **state) {
  fx_t *f = *state;
  json_t *held = upsert(f, "2026-01-01T00:00:00.000Z"); /* the cache's, and held */
  char id[32];
  snprintf(id, sizeof(id), "%s", json_string_value(json_object_get(held, "id")));
  json_t *c = update(f, id, "42", "lead");
  assert_string_equal(tag_at(c, 0), "lead");
  json_decref(c);
  assert_int_equal(json_array_size(json_object_get(held, "tags")), 0);
  assert_null(json_object_get(json_object_get(held, "variables"), "last"));
  json_decref(held);
  /* The upsert's answer is the cached object: its tags held alone. */
  held = upsert(f, NULL);
  json_t *tags = json_incref(json_object_get(held, "tags"));
  json_decref(held);
  c = update(f, id, "42", "quoted");
  assert_int_equal(json_array_size(c ? json_object_get(c, "tags") : NULL), 2);
  json_decref(c);
  assert_int_equal(json_array_size(tags), 1);
  assert_string_equal(json_string_value(json_array_get(tags, 0)), "lead");
  json_decref(tags);
  /* Nothing held: the cached object is the one changed (an upsert answers
   * the cache's own, or a shallow copy sharing its tags). */
  held = upsert(f, NULL);
  f->contact_reads = 0;
  const json_t *cached_tags = json_object_get(held, "tags");
  json_decref(held);
  c = update(f, id, "42", "third");
  held = upsert(f, NULL);
  assert_ptr_equal(json_object_get(held, "tags"), cached_tags);
  assert_int_equal(json_array_size(json_object_get(held, "tags")), 3);
  assert_int_equal(f->contact_reads, 0);
  json_decref(held);
  json_decref(c);
  assert_cache_is_row(f, id);
}

/* Without the hint, or with one that names another contact, the row is read
 * (and the right contact changed); what is written is cached either way. */
static void test_update_without_hint_reads_row(void **state) {
  fx_t *f = *state;
  json_t *c = upsert(f, "2026-01-01T00:00:00.000Z");
  char id[32];
  snprintf(id, sizeof(id), "%s", json_string_value(json_object_get(c, "id")));
  json_decref(c);
  json_decref(
      run(f, CONTACT_UPSERT, json_pack("{s:s,s:s}", "owner_id", f->owner, "ig_user_id", "43")));
  f->contact_reads = 0;
  json_decref(update(f, id, NULL, "a"));
  assert_int_equal(f->contact_reads, 1);
  json_decref(update(f, id, "43", "b")); /* "43" is another contact */
  assert_int_equal(f->contact_reads, 2);
  c = upsert(f, NULL);
  assert_int_equal(f->contact_reads, 2);
  assert_int_equal(json_array_size(json_object_get(c, "tags")), 2);
  json_decref(c);
  c = run(f, CONTACT_UPSERT, json_pack("{s:s,s:s}", "owner_id", f->owner, "ig_user_id", "43"));
  assert_int_equal(json_array_size(json_object_get(c, "tags")), 0);
  json_decref(c);
}

/* An update by the hint whose job is rolled back leaves nothing cached: the
 * next upsert reads the row without the tag. */
static void test_rolled_back_update_by_hint_empties_cache(void **state) {
  fx_t *f = *state;
  json_t *c = upsert(f, "2026-01-01T00:00:00.000Z");
  char id[32];
  snprintf(id, sizeof(id), "%s", json_string_value(json_object_get(c, "id")));
  json_decref(c);
  json_t *p = json_pack("{s:s,s:s,s:s,s:[s]}", "id", id, "owner_id", f->owner, "ig_user_id", "42",
                        "add_tags", "lead");
  assert_int_equal(rolled_back_job(f, CONTACT_UPDATE, p), STORE_OK);
  f->contact_reads = 0;
  c = upsert(f, NULL);
  assert_int_equal(f->contact_reads, 1);
  assert_int_equal(json_array_size(json_object_get(c, "tags")), 0);
  json_decref(c);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_failure_without_contact_writes_keeps_cache, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_rolled_back_contact_write_empties_cache, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_update_by_hint_reads_nothing, setup, teardown),
      cmocka_unit_test_setup_teardown(test_update_by_hint_leaves_held_contacts_alone, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_update_without_hint_reads_row, setup, teardown),
      cmocka_unit_test_setup_teardown(test_rolled_back_update_by_hint_empties_cache, setup,
                                      teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
