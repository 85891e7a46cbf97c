/* The two shapes of a user (src/chat/user_view.c): the caller's own with its
 * email, anyone else's without; only API.md's keys, missing ones as null,
 * never the password hash. Pure. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "chat/user_view.h"

static json_t *stored(void) {
  return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:b}", "id", "u1", "email", "a@example.com",
                   "name", "Ada", "status", "online", "created_at", "2026-01-01T00:00:00.000Z",
                   "password_hash", "$argon2id$secret", "deleted", 0);
}

static void the_own_view_has_the_email(void **state) {
  json_t *u = stored(), *v = user_view_own(u);
  assert_string_equal(json_string_value(json_object_get(v, "email")), "a@example.com");
  assert_string_equal(json_string_value(json_object_get(v, "name")), "Ada");
  assert_true(json_is_null(json_object_get(v, "avatar_url"))); /* absent: null */
  assert_null(json_object_get(v, "password_hash"));
  assert_null(json_object_get(v, "deleted"));
  assert_int_equal(json_object_size(v), 6);
  json_decref(v);
  json_decref(u);
}

static void the_public_view_has_no_email(void **state) {
  json_t *u = stored(), *v = user_view_public(u);
  assert_null(json_object_get(v, "email"));
  assert_string_equal(json_string_value(json_object_get(v, "id")), "u1");
  assert_null(json_object_get(v, "password_hash"));
  assert_int_equal(json_object_size(v), 5);
  json_decref(v);
  json_decref(u);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(the_own_view_has_the_email),
      cmocka_unit_test(the_public_view_has_no_email),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
