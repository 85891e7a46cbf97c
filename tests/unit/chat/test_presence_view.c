/* Presence's rules without I/O (src/chat/presence_view.c): the settable
 * statuses, what others see, the entries of frames and answers, and the
 * user_ids list of GET /api/presence with its bounds. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "chat/presence_view.h"

static void only_four_statuses_are_settable(void **state) {
  assert_true(presence_view_settable("online"));
  assert_true(presence_view_settable("away"));
  assert_true(presence_view_settable("dnd"));
  assert_true(presence_view_settable("invisible"));
  assert_false(presence_view_settable("offline")); /* derived, never set */
  assert_false(presence_view_settable("Online"));
  assert_false(presence_view_settable(""));
  assert_false(presence_view_settable(NULL));
}

static void others_see_offline_without_a_session_or_when_invisible(void **state) {
  assert_string_equal(presence_view_visible("online", 1), "online");
  assert_string_equal(presence_view_visible("away", 1), "away");
  assert_string_equal(presence_view_visible("dnd", 1), "dnd");
  assert_string_equal(presence_view_visible("invisible", 1), "offline");
  assert_string_equal(presence_view_visible("away", 0), "offline");
  assert_string_equal(presence_view_visible("online", 0), "offline");
}

static void an_entry_has_id_status_and_last_seen(void **state) {
  json_t *u = json_pack("{s:s, s:s, s:s, s:s}", "id", "0123456789abcdef01234567", "status", "dnd",
                        "last_seen", "2026-03-01T08:00:00.000Z", "email", "x@example.com");
  json_t *e = presence_view_entry(u, 1);
  assert_int_equal(json_object_size(e), 3);
  assert_string_equal(json_string_value(json_object_get(e, "user_id")), "0123456789abcdef01234567");
  assert_string_equal(json_string_value(json_object_get(e, "status")), "dnd");
  assert_string_equal(json_string_value(json_object_get(e, "last_seen")),
                      "2026-03-01T08:00:00.000Z");
  json_decref(e);
  json_object_del(u, "last_seen");
  e = presence_view_entry(u, 0);
  assert_string_equal(json_string_value(json_object_get(e, "status")), "offline");
  assert_true(json_is_null(json_object_get(e, "last_seen")));
  json_decref(e);
  json_decref(u);
}

/* n distinct ids joined by commas; the caller frees. */
static char *ids_csv(int n) {
  char *s = malloc((size_t)n * 25 + 1), *p = s;
  for (int i = 0; i < n; i++) p += sprintf(p, "%s%024x", i ? "," : "", i);
  *p = '\0';
  return s;
}

static void the_id_list_is_parsed_deduplicated_and_bounded(void **state) {
  const char *why = NULL;
  json_t *ids = presence_view_parse_ids(
      "0123456789abcdef01234567,0123456789abcdef01234567,aaaaaaaaaaaaaaaaaaaaaaaa", &why);
  assert_non_null(ids);
  assert_int_equal(json_array_size(ids), 2);
  assert_string_equal(json_string_value(json_array_get(ids, 1)), "aaaaaaaaaaaaaaaaaaaaaaaa");
  json_decref(ids);

  char *csv = ids_csv(PRESENCE_VIEW_MAX_USERS);
  ids = presence_view_parse_ids(csv, &why);
  assert_non_null(ids);
  assert_int_equal(json_array_size(ids), PRESENCE_VIEW_MAX_USERS);
  json_decref(ids);
  free(csv);
  csv = ids_csv(PRESENCE_VIEW_MAX_USERS + 1);
  why = NULL;
  assert_null(presence_view_parse_ids(csv, &why));
  assert_non_null(strstr(why, "at most 1000"));
  free(csv);

  static const char *const bad[] = {"",
                                    ",",
                                    "0123456789abcdef01234567,",
                                    "0123456789ABCDEF01234567",
                                    "0123456789abcdef0123456",
                                    "0123456789abcdef012345678",
                                    "0123456789abcdef01234567,,aaaaaaaaaaaaaaaaaaaaaaaa",
                                    "0123456789abcdef0123456g",
                                    " 0123456789abcdef01234567"};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    why = NULL;
    assert_null(presence_view_parse_ids(bad[i], &why));
    assert_non_null(strstr(why, "24 lowercase hex"));
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(only_four_statuses_are_settable),
      cmocka_unit_test(others_see_offline_without_a_session_or_when_invisible),
      cmocka_unit_test(an_entry_has_id_status_and_last_seen),
      cmocka_unit_test(the_id_list_is_parsed_deduplicated_and_bounded),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
