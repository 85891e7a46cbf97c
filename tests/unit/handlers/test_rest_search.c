/* Message search over REST without sockets (src/handlers/search.c): the query
 * and filter rules, only the caller's conversations searched, highlights in
 * code points, and pages by cursor. Real SQLite store (FTS5). Loopback harness
 * of rest_fixture.h. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "rest_fixture.h"

#define SEARCH "/api/search/messages"

/* Sends text to conv as user. */
static void say(rest_fx_t *fx, const char *conv, const char *user, const char *text) {
  char target[128], body[256];
  snprintf(target, sizeof(target), "/api/conversations/%s/messages", conv);
  snprintf(body, sizeof(body), "{\"text\":\"%s\"}", text);
  rest_reply_free(rest_call(fx, 201, "POST", target, user, body));
}

static void bad_queries_are_refused(void **state) {
  rest_fx_t *fx = *state;
  rest_expect_error(fx, 400, "validation_failed", "q", "GET", SEARCH, fx->a, NULL);
  rest_expect_error(fx, 400, "validation_failed", "q", "GET", SEARCH "?q=%20%2C%21", fx->a, NULL);
  rest_expect_error(fx, 400, "validation_failed", "q", "GET", SEARCH "?q=%ff", fx->a, NULL);
  rest_expect_error(fx, 400, "validation_failed", "conversation_id", "GET",
                    SEARCH "?q=mug&conversation_id=NOT-AN-ID", fx->a, NULL);
  rest_expect_error(fx, 400, "validation_failed", "limit", "GET", SEARCH "?q=mug&limit=0", fx->a,
                    NULL);
  rest_expect_error(fx, 400, "validation_failed", "cursor", "GET", SEARCH "?q=mug&cursor=zzz",
                    fx->a, NULL);
  rest_expect_error(fx, 401, "unauthorized", NULL, "GET", SEARCH "?q=mug", NULL, NULL);
}

static void only_the_callers_conversations_are_searched(void **state) {
  rest_fx_t *fx = *state;
  char ab[25], bc[25];
  rest_group(fx, fx->a, fx->b, ab);
  rest_group(fx, fx->b, fx->c, bc);
  say(fx, ab, fx->a, "the blue mug is back");
  say(fx, bc, fx->c, "a secret mug for b");
  say(fx, ab, fx->b, "nothing to see here");
  rest_reply_t *r = rest_call(fx, 200, "GET", SEARCH "?q=mug", fx->a, NULL);
  json_t *results = json_object_get(r->body, "results");
  assert_int_equal(json_array_size(results), 1);
  json_t *hit = json_array_get(results, 0);
  assert_string_equal(json_string_value(json_object_get(hit, "conversation_id")), ab);
  json_t *hl = json_object_get(json_object_get(hit, "snippet"), "highlights");
  const char *text = json_string_value(json_object_get(json_object_get(hit, "snippet"), "text"));
  assert_int_equal(json_array_size(hl), 1);
  json_int_t start = json_integer_value(json_array_get(json_array_get(hl, 0), 0));
  json_int_t end = json_integer_value(json_array_get(json_array_get(hl, 0), 1));
  assert_int_equal(end - start, 3);
  assert_memory_equal(text + start, "mug", 3); /* ASCII: code points are bytes here */
  rest_reply_free(r);
  r = rest_call(fx, 200, "GET", SEARCH "?q=mug", fx->b, NULL);
  assert_int_equal(json_array_size(json_object_get(r->body, "results")), 2);
  rest_reply_free(r);
  /* A conversation the caller is not in does not exist for them. */
  char target[128];
  snprintf(target, sizeof(target), SEARCH "?q=mug&conversation_id=%s", bc);
  rest_expect_error(fx, 404, "not_found", NULL, "GET", target, fx->a, NULL);
  snprintf(target, sizeof(target), SEARCH "?q=mug&conversation_id=%s", ab);
  r = rest_call(fx, 200, "GET", target, fx->b, NULL);
  assert_int_equal(json_array_size(json_object_get(r->body, "results")), 1);
  rest_reply_free(r);
}

static void results_come_in_pages(void **state) {
  rest_fx_t *fx = *state;
  char ab[25];
  rest_group(fx, fx->a, fx->b, ab);
  for (int i = 0; i < 3; i++) say(fx, ab, fx->b, "order shipped");
  json_t *seen = json_object();
  char target[512] = SEARCH "?q=shipped&limit=2";
  int pages = 0;
  for (;;) {
    rest_reply_t *r = rest_call(fx, 200, "GET", target, fx->a, NULL);
    size_t i;
    json_t *hit;
    json_array_foreach(json_object_get(r->body, "results"), i, hit) {
      const char *id = json_string_value(json_object_get(json_object_get(hit, "message"), "id"));
      assert_null(json_object_get(seen, id));
      json_object_set_new(seen, id, json_true());
    }
    pages++;
    const char *cursor = rest_str(r, "next_cursor", NULL);
    if (!cursor) {
      rest_reply_free(r);
      break;
    }
    char enc[3 * 100 + 1];
    assert_true(strlen(cursor) < 100);
    snprintf(target, sizeof(target), SEARCH "?q=shipped&limit=2&cursor=%s",
             rest_encode(cursor, enc));
    rest_reply_free(r);
  }
  assert_int_equal(pages, 2);
  assert_int_equal(json_object_size(seen), 3);
  json_decref(seen);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(bad_queries_are_refused, rest_setup, rest_teardown),
      cmocka_unit_test_setup_teardown(only_the_callers_conversations_are_searched, rest_setup,
                                      rest_teardown),
      cmocka_unit_test_setup_teardown(results_come_in_pages, rest_setup, rest_teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
