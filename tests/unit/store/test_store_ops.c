/* The tables made from parley/store_ops.h: every operation has a distinct name and
 * a kind, and neither backend leaves its slot empty. No database needed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "store/mongo/mongo_internal.h"
#include "store/sqlite/sqlite_internal.h"
#include "store/store_internal.h"

static void test_names(void **state) {
  for (int op = 0; op < STORE_OP_COUNT; op++) {
    const char *name = store_op_name((enum store_op)op);
    assert_non_null(name);
    assert_string_not_equal(name, "unknown");
    for (int other = 0; other < op; other++)
      assert_string_not_equal(name, store_op_name((enum store_op)other));
  }
  assert_string_equal(store_op_name(STORE_OP_COUNT), "unknown");
  assert_string_equal(store_op_name((enum store_op) - 1), "unknown");
  /* The names logs and metrics have always shown. */
  assert_string_equal(store_op_name(STORE_PING), "ping");
  assert_string_equal(store_op_name(MSG_INSERT), "msg_insert");
  assert_string_equal(store_op_name(CONV_ADD_MEMBERS), "conv_add_members");
  assert_string_equal(store_op_name(SCHED_DELETE), "sched_delete");
}

static void test_kinds(void **state) {
  int reads = 0, writes = 0, checks_first = 0;
  for (int op = 0; op < STORE_OP_COUNT; op++) {
    switch (store_op_kind((enum store_op)op)) {
      case STORE_KIND_READ:
        reads++;
        break;
      case STORE_KIND_CHECKS_FIRST:
        checks_first++;
        break;
      case STORE_KIND_WRITE:
        writes++;
        break;
      default:
        fail_msg("op %s has no kind", store_op_name((enum store_op)op));
    }
  }
  assert_int_equal(reads + writes + checks_first, STORE_OP_COUNT);
  /* The savepoint rule (sqlite.c) leans on these. */
  assert_int_equal(store_op_kind(MSG_INSERT), STORE_KIND_CHECKS_FIRST);
  /* A flow run's own writes: no savepoint (and statement journal) each. */
  assert_int_equal(store_op_kind(FLOW_RUN_SAVE), STORE_KIND_CHECKS_FIRST);
  assert_int_equal(store_op_kind(CONTACT_UPDATE), STORE_KIND_CHECKS_FIRST);
  assert_int_equal(store_op_kind(MSG_SET_DELIVERY), STORE_KIND_CHECKS_FIRST);
  assert_int_equal(store_op_kind(MSG_LIST), STORE_KIND_READ);
  assert_int_equal(store_op_kind(REFRESH_ROTATE), STORE_KIND_WRITE);
}

static void test_no_empty_slot(void **state) {
  for (int op = 0; op < STORE_OP_COUNT; op++) {
    const char *name = store_op_name((enum store_op)op);
    if (!sqlite_op((enum store_op)op)) fail_msg("sqlite has no function for %s", name);
    if (!mongo_op((enum store_op)op)) fail_msg("mongo has no function for %s", name);
  }
  /* Distinct functions: a slot copied from its neighbour would pass the check above. */
  for (int op = 0; op < STORE_OP_COUNT; op++)
    for (int other = 0; other < op; other++) {
      assert_ptr_not_equal(sqlite_op((enum store_op)op), sqlite_op((enum store_op)other));
      assert_ptr_not_equal(mongo_op((enum store_op)op), mongo_op((enum store_op)other));
    }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_names),
      cmocka_unit_test(test_kinds),
      cmocka_unit_test(test_no_empty_slot),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
