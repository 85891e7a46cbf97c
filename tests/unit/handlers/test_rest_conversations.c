/* Conversations over REST without sockets (src/handlers/conversations.c, and
 * the routing and token check of src/http/ in front of it): creation rules,
 * ownership (someone else's conversation is a 404), cursor pagination, renames,
 * members and read markers, through the loopback harness of rest_fixture.h. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "rest_fixture.h"

static void routing_and_the_token_check_come_first(void **state) {
  rest_fx_t *fx = *state;
  rest_expect_error(fx, 401, "unauthorized", NULL, "GET", "/api/conversations", NULL, NULL);
  rest_expect_error(fx, 404, "not_found", NULL, "GET", "/api/nothing-here", fx->a, NULL);
  rest_reply_t *r = rest_call(fx, 405, "PUT", "/api/conversations", fx->a, "{}");
  char allow[64];
  assert_non_null(rest_header(r, "Allow", allow, sizeof(allow)));
  assert_string_equal(allow, "POST, GET");
  assert_string_equal(rest_str(r, "error", "code", NULL), "method_not_allowed");
  rest_reply_free(r);
  /* Every reply carries a request id. */
  r = rest_call(fx, 200, "GET", "/api/conversations", fx->a, NULL);
  char rid[64];
  assert_non_null(rest_header(r, "X-Request-Id", rid, sizeof(rid)));
  assert_true(strlen(rid) > 0);
  rest_reply_free(r);
}

static void creation_refuses_bad_bodies_and_stores_nothing(void **state) {
  rest_fx_t *fx = *state;
  rest_reply_t *r = rest_send(fx, "POST", "/api/conversations", fx->a, NULL);
  rest_wait(fx, r);
  assert_int_equal(r->status, 415);
  assert_string_equal(rest_str(r, "error", "code", NULL), "unsupported_media_type");
  rest_reply_free(r);
  rest_expect_error(fx, 400, "invalid_json", NULL, "POST", "/api/conversations", fx->a, "{nope");
  rest_expect_error(fx, 400, "invalid_json", NULL, "POST", "/api/conversations", fx->a, "[1]");
  rest_expect_error(fx, 400, "validation_failed", "type", "POST", "/api/conversations", fx->a,
                    "{\"type\":\"broadcast\"}");
  rest_expect_error(fx, 400, "validation_failed", "participant_id", "POST", "/api/conversations",
                    fx->a, "{\"type\":\"direct\"}");
  char body[256];
  snprintf(body, sizeof(body), "{\"type\":\"direct\",\"participant_id\":\"%s\"}", fx->a);
  rest_expect_error(fx, 400, "validation_failed", "participant_id", "POST", "/api/conversations",
                    fx->a, body);
  rest_expect_error(fx, 400, "validation_failed", "participant_id", "POST", "/api/conversations",
                    fx->a, "{\"type\":\"direct\",\"participant_id\":\"no-such-user\"}");
  rest_expect_error(fx, 400, "validation_failed", "name", "POST", "/api/conversations", fx->a,
                    "{\"type\":\"group\",\"name\":\"\",\"participant_ids\":[]}");
  rest_expect_error(fx, 400, "validation_failed", "participant_ids", "POST", "/api/conversations",
                    fx->a, "{\"type\":\"group\",\"name\":\"g\",\"participant_ids\":[1]}");
  rest_expect_error(fx, 400, "validation_failed", "participant_ids", "POST", "/api/conversations",
                    fx->a, "{\"type\":\"group\",\"name\":\"g\",\"participant_ids\":[\"ghost\"]}");
  r = rest_call(fx, 200, "GET", "/api/conversations", fx->a, NULL);
  assert_int_equal(json_array_size(json_object_get(r->body, "conversations")), 0);
  rest_reply_free(r);
}

static void a_direct_conversation_is_one_per_pair(void **state) {
  rest_fx_t *fx = *state;
  char body[256];
  snprintf(body, sizeof(body), "{\"type\":\"direct\",\"participant_id\":\"%s\"}", fx->b);
  rest_reply_t *first = rest_call(fx, 201, "POST", "/api/conversations", fx->a, body);
  assert_string_equal(rest_str(first, "conversation", "type", NULL), "direct");
  snprintf(body, sizeof(body), "{\"type\":\"direct\",\"participant_id\":\"%s\"}", fx->a);
  rest_reply_t *again = rest_call(fx, 200, "POST", "/api/conversations", fx->b, body);
  assert_string_equal(rest_str(again, "conversation", "id", NULL),
                      rest_str(first, "conversation", "id", NULL));
  rest_reply_free(first);
  rest_reply_free(again);
}

static void someone_elses_conversation_does_not_exist(void **state) {
  rest_fx_t *fx = *state;
  char conv[25], target[128];
  rest_group(fx, fx->a, fx->b, conv);
  snprintf(target, sizeof(target), "/api/conversations/%s", conv);
  rest_reply_t *r = rest_call(fx, 200, "GET", target, fx->b, NULL);
  assert_string_equal(rest_str(r, "conversation", "name", NULL), "room");
  assert_int_equal(
      json_array_size(json_object_get(json_object_get(r->body, "conversation"), "participants")),
      2);
  rest_reply_free(r);
  rest_expect_error(fx, 404, "not_found", NULL, "GET", target, fx->c, NULL);
  rest_expect_error(fx, 404, "not_found", NULL, "PATCH", target, fx->c, "{\"name\":\"mine\"}");
  snprintf(target, sizeof(target), "/api/conversations/%s/read", conv);
  rest_expect_error(fx, 404, "not_found", NULL, "POST", target, fx->c, "{\"seq\":0}");
  rest_expect_error(
      fx, 404, "not_found", NULL, "GET",
      "/api/conversations/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
      "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
      fx->a, NULL);
  /* The name did not change. */
  snprintf(target, sizeof(target), "/api/conversations/%s", conv);
  r = rest_call(fx, 200, "GET", target, fx->a, NULL);
  assert_string_equal(rest_str(r, "conversation", "name", NULL), "room");
  rest_reply_free(r);
}

/* Pages of the list: limit bounds, the cursor walks every conversation once. */
static void the_list_is_paged_with_a_cursor(void **state) {
  rest_fx_t *fx = *state;
  char ids[5][25];
  for (int i = 0; i < 5; i++) rest_group(fx, fx->a, NULL, ids[i]);
  rest_expect_error(fx, 400, "validation_failed", "limit", "GET", "/api/conversations?limit=0",
                    fx->a, NULL);
  rest_expect_error(fx, 400, "validation_failed", "limit", "GET", "/api/conversations?limit=201",
                    fx->a, NULL);
  rest_expect_error(fx, 400, "validation_failed", "limit", "GET", "/api/conversations?limit=x",
                    fx->a, NULL);
  rest_expect_error(fx, 400, "validation_failed", "cursor", "GET",
                    "/api/conversations?cursor=forged", fx->a, NULL);
  json_t *seen = json_object();
  char target[600] = "/api/conversations?limit=2";
  int pages = 0;
  for (;;) {
    rest_reply_t *r = rest_call(fx, 200, "GET", target, fx->a, NULL);
    json_t *convs = json_object_get(r->body, "conversations");
    assert_true(json_array_size(convs) <= 2);
    size_t i;
    json_t *c;
    json_array_foreach(convs, i, c) {
      const char *id = json_string_value(json_object_get(c, "id"));
      assert_null(json_object_get(seen, id));
      json_object_set_new(seen, id, json_true());
    }
    pages++;
    const char *cursor = rest_str(r, "next_cursor", NULL);
    if (!cursor) {
      rest_reply_free(r);
      break;
    }
    char enc[3 * 160 + 1];
    assert_true(strlen(cursor) < 160);
    snprintf(target, sizeof(target), "/api/conversations?limit=2&cursor=%s",
             rest_encode(cursor, enc));
    rest_reply_free(r);
  }
  assert_int_equal(pages, 3);
  assert_int_equal(json_object_size(seen), 5);
  json_decref(seen);
  /* b is in none of them. */
  rest_reply_t *r = rest_call(fx, 200, "GET", "/api/conversations", fx->b, NULL);
  assert_int_equal(json_array_size(json_object_get(r->body, "conversations")), 0);
  rest_reply_free(r);
}

static void members_come_and_go_and_everyone_hears_of_it(void **state) {
  rest_fx_t *fx = *state;
  char conv[25], target[160], body[128];
  rest_group(fx, fx->a, NULL, conv);
  ws_session_t *bs = fake_session_new(fx->app, fx->b);
  snprintf(target, sizeof(target), "/api/conversations/%s/members", conv);
  rest_expect_error(fx, 400, "validation_failed", "user_ids", "POST", target, fx->a,
                    "{\"user_ids\":[]}");
  rest_expect_error(fx, 400, "validation_failed", "user_ids", "POST", target, fx->a,
                    "{\"user_ids\":[\"ghost\"]}");
  snprintf(body, sizeof(body), "{\"user_ids\":[\"%s\",\"%s\"]}", fx->b, fx->b);
  rest_reply_t *r = rest_call(fx, 200, "POST", target, fx->a, body);
  assert_int_equal(
      json_array_size(json_object_get(json_object_get(r->body, "conversation"), "participants")),
      2);
  rest_reply_free(r);
  json_t *fr = fake_next(bs);
  assert_non_null(fr);
  assert_string_equal(json_string_value(json_object_get(fr, "type")), "conversation.updated");
  json_decref(fr);

  snprintf(target, sizeof(target), "/api/conversations/%s/members/%s", conv, fx->b);
  r = rest_call(fx, 204, "DELETE", target, fx->a, NULL);
  assert_string_equal(r->raw, "");
  rest_reply_free(r);
  snprintf(target, sizeof(target), "/api/conversations/%s", conv);
  rest_expect_error(fx, 404, "not_found", NULL, "GET", target, fx->b, NULL);
  fake_session_free(bs);
}

static void read_markers_move_forward_only(void **state) {
  rest_fx_t *fx = *state;
  char conv[25], target[160];
  rest_group(fx, fx->a, fx->b, conv);
  snprintf(target, sizeof(target), "/api/conversations/%s/messages", conv);
  for (int i = 0; i < 3; i++)
    rest_reply_free(rest_call(fx, 201, "POST", target, fx->a, "{\"text\":\"hi\"}"));
  snprintf(target, sizeof(target), "/api/conversations/%s/read", conv);
  rest_expect_error(fx, 400, "validation_failed", "seq", "POST", target, fx->b, "{\"seq\":-1}");
  rest_expect_error(fx, 400, "validation_failed", "seq", "POST", target, fx->b, "{\"seq\":\"2\"}");
  rest_reply_free(rest_call(fx, 204, "POST", target, fx->b, "{\"seq\":2}"));
  rest_reply_free(rest_call(fx, 204, "POST", target, fx->b, "{\"seq\":1}"));
  snprintf(target, sizeof(target), "/api/conversations/%s", conv);
  rest_reply_t *r = rest_call(fx, 200, "GET", target, fx->b, NULL);
  assert_int_equal(
      json_integer_value(json_object_get(json_object_get(r->body, "conversation"), "unread_count")),
      1);
  rest_reply_free(r);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(routing_and_the_token_check_come_first, rest_setup,
                                      rest_teardown),
      cmocka_unit_test_setup_teardown(creation_refuses_bad_bodies_and_stores_nothing, rest_setup,
                                      rest_teardown),
      cmocka_unit_test_setup_teardown(a_direct_conversation_is_one_per_pair, rest_setup,
                                      rest_teardown),
      cmocka_unit_test_setup_teardown(someone_elses_conversation_does_not_exist, rest_setup,
                                      rest_teardown),
      cmocka_unit_test_setup_teardown(the_list_is_paged_with_a_cursor, rest_setup, rest_teardown),
      cmocka_unit_test_setup_teardown(members_come_and_go_and_everyone_hears_of_it, rest_setup,
                                      rest_teardown),
      cmocka_unit_test_setup_teardown(read_markers_move_forward_only, rest_setup, rest_teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
