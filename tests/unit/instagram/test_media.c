/* Instagram media (src/instagram/media.c): which of a stored message's
 * attachments are recorded for fetching, and when a failed fetch is due
 * again. Pure. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "instagram/media.h"

static void items_are_the_pending_media(void **state) {
  (void)state;
  json_t *m = json_loads(
      "{\"attachments\": ["
      " {\"id\": \"aaaaaaaaaaaaaaaaaaaaaaaa\", \"type\": \"image\", \"name\": \"instagram-image\","
      "  \"source_url\": \"https://cdn/1\", \"fetch\": \"pending\", \"story_id\": \"9\"},"
      " {\"id\": \"bbbbbbbbbbbbbbbbbbbbbbbb\", \"type\": \"video\", \"name\": \"v\","
      "  \"source_url\": \"https://cdn/2\", \"fetch\": \"failed\"},"
      " {\"id\": \"cccccccccccccccccccccccc\", \"type\": \"file\", \"name\": \"f\","
      "  \"source_url\": \"https://cdn/3\", \"content_type\": \"application/pdf\"},"
      " {\"type\": \"quick_reply\", \"payload\": \"X\"},"
      " {\"id\": \"dddddddddddddddddddddddd\", \"type\": \"share\", \"fetch\": \"pending\"}]}",
      0, NULL);
  assert_non_null(m);
  json_t *items = ig_media_items(m);
  assert_int_equal(json_array_size(items), 1);
  json_t *want = json_loads(
      "[{\"id\": \"aaaaaaaaaaaaaaaaaaaaaaaa\", \"type\": \"image\","
      " \"name\": \"instagram-image\", \"source_url\": \"https://cdn/1\"}]",
      0, NULL);
  assert_true(json_equal(items, want));
  json_decref(want);
  json_decref(items);
  json_decref(m);
  json_t *none = ig_media_items(NULL);
  assert_int_equal(json_array_size(none), 0);
  json_decref(none);
}

static void retries_double_and_stop_at_the_attempts(void **state) {
  (void)state;
  assert_int_equal(ig_media_retry_at(1000, 1, 50, 3), 1050);
  assert_int_equal(ig_media_retry_at(1000, 2, 50, 3), 1100);
  assert_int_equal(ig_media_retry_at(1000, 3, 50, 3), -1);
  assert_int_equal(ig_media_retry_at(1000, 1, 50, 1), -1);
  /* Capped at a day, however many attempts. */
  assert_int_equal(ig_media_retry_at(0, 19, 3600000, 20), 86400000);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(items_are_the_pending_media),
      cmocka_unit_test(retries_double_and_stop_at_the_attempts),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
