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
  return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:b, s:b}", "id", "u1", "email", "a@example.com",
                   "name", "Ada", "status", "online", "created_at", "2026-01-01T00:00:00.000Z",
                   "password_hash", "$argon2id$secret", "deleted", 0, "email_verified", 1);
}

static void the_own_view_has_the_email(void **state) {
  json_t *u = stored(), *v = user_view_own(u);
  assert_string_equal(json_string_value(json_object_get(v, "email")), "a@example.com");
  assert_string_equal(json_string_value(json_object_get(v, "name")), "Ada");
  assert_true(json_is_null(json_object_get(v, "avatar_url"))); /* absent: null */
  assert_null(json_object_get(v, "password_hash"));
  assert_null(json_object_get(v, "deleted"));
  assert_string_equal(json_string_value(json_object_get(v, "status")), "online");
  assert_true(json_is_null(json_object_get(v, "last_seen"))); /* never left: null */
  assert_true(json_is_true(json_object_get(v, "email_verified")));
  assert_int_equal(json_object_size(v), 8);
  json_decref(v);
  json_decref(u);
}

static void the_public_view_has_no_email(void **state) {
  json_t *u = stored(), *v = user_view_public(u);
  assert_null(json_object_get(v, "email"));
  assert_string_equal(json_string_value(json_object_get(v, "id")), "u1");
  assert_null(json_object_get(v, "password_hash"));
  assert_null(json_object_get(v, "email_verified"));
  assert_int_equal(json_object_size(v), 6);
  /* Not known to be connected: offline, whatever was chosen. */
  assert_string_equal(json_string_value(json_object_get(v, "status")), "offline");
  json_decref(v);
  json_decref(u);
}

/* The owner sees the status chosen; others see it only while a session is
 * alive, and never "invisible". */
static void status_is_chosen_for_the_owner_and_visible_for_others(void **state) {
  json_t *u = stored();
  json_object_set_new(u, "status", json_string("away"));
  json_object_set_new(u, "alive", json_true());
  json_object_set_new(u, "last_seen", json_string("2026-02-01T10:00:00.000Z"));
  json_t *v = user_view_public(u);
  assert_string_equal(json_string_value(json_object_get(v, "status")), "away");
  assert_string_equal(json_string_value(json_object_get(v, "last_seen")),
                      "2026-02-01T10:00:00.000Z");
  assert_null(json_object_get(v, "alive"));
  json_decref(v);
  json_object_set_new(u, "status", json_string("invisible"));
  v = user_view_public(u);
  assert_string_equal(json_string_value(json_object_get(v, "status")), "offline");
  json_decref(v);
  v = user_view_own(u);
  assert_string_equal(json_string_value(json_object_get(v, "status")), "invisible");
  json_decref(v);
  /* A row from before statuses were chosen says "offline": it means online. */
  json_object_set_new(u, "status", json_string("offline"));
  v = user_view_own(u);
  assert_string_equal(json_string_value(json_object_get(v, "status")), "online");
  json_decref(v);
  json_decref(u);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(the_own_view_has_the_email),
      cmocka_unit_test(the_public_view_has_no_email),
      cmocka_unit_test(status_is_chosen_for_the_owner_and_visible_for_others),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
