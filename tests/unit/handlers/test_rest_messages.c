/* Messages over REST without sockets (src/handlers/messages.c): sends are
 * validated, idempotent by client_id and delivered live; history pages by
 * before_seq and after_seq; edits and deletes are the sender's; reactions; a
 * conversation or message the caller cannot see is a 404. Loopback harness of
 * rest_fixture.h. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "rest_fixture.h"

typedef struct room_s {
  rest_fx_t *fx;
  char conv[25];
  char messages[160]; /* /api/conversations/<conv>/messages */
} room_t;

static int setup(void **state) {
  room_t *r = calloc(1, sizeof(*r));
  r->fx = rest_fx_new();
  rest_group(r->fx, r->fx->a, r->fx->b, r->conv);
  snprintf(r->messages, sizeof(r->messages), "/api/conversations/%s/messages", r->conv);
  *state = r;
  return 0;
}

static int teardown(void **state) {
  room_t *r = *state;
  rest_fx_free(r->fx);
  free(r);
  return 0;
}

/* Sends text as user; returns the new message's id in id (when id is given). */
static void say(room_t *r, const char *user, const char *text, char id[25]) {
  char body[256];
  snprintf(body, sizeof(body), "{\"text\":\"%s\"}", text);
  rest_reply_t *rep = rest_call(r->fx, 201, "POST", r->messages, user, body);
  if (id) snprintf(id, 25, "%s", rest_str(rep, "message", "id", NULL));
  rest_reply_free(rep);
}

/* The seqs of a page, as "1,2,3". */
static void page_seqs(const rest_reply_t *rep, char *out, size_t len) {
  out[0] = '\0';
  size_t i;
  json_t *m;
  json_array_foreach(json_object_get(rep->body, "messages"), i, m) {
    size_t used = strlen(out);
    snprintf(out + used, len - used, "%s%lld", i ? "," : "",
             (long long)json_integer_value(json_object_get(m, "seq")));
  }
}

static void a_send_is_stored_acknowledged_and_delivered(void **state) {
  room_t *r = *state;
  ws_session_t *bs = fake_session_new(r->fx->app, r->fx->b);
  rest_reply_t *rep = rest_call(r->fx, 201, "POST", r->messages, r->fx->a,
                                "{\"text\":\"hi\",\"client_id\":\"k1\"}");
  assert_string_equal(rest_str(rep, "message", "text", NULL), "hi");
  assert_string_equal(rest_str(rep, "message", "sender_id", NULL), r->fx->a);
  char id[25];
  snprintf(id, sizeof(id), "%s", rest_str(rep, "message", "id", NULL));
  rest_reply_free(rep);
  json_t *fr = fake_next(bs);
  assert_non_null(fr);
  assert_string_equal(json_string_value(json_object_get(fr, "type")), "message.new");
  assert_string_equal(json_string_value(json_object_get(json_object_get(fr, "message"), "id")), id);
  json_decref(fr);
  /* The same client_id: 200 with the original, nothing delivered again. */
  rep = rest_call(r->fx, 200, "POST", r->messages, r->fx->a,
                  "{\"text\":\"hi\",\"client_id\":\"k1\"}");
  assert_string_equal(rest_str(rep, "message", "id", NULL), id);
  rest_reply_free(rep);
  chat_fx_run(r->fx->chat, 20);
  assert_int_equal(fake_pending(bs), 0);
  fake_session_free(bs);
}

static void bad_sends_are_refused_and_store_nothing(void **state) {
  room_t *r = *state;
  rest_fx_t *fx = r->fx;
  rest_expect_error(fx, 400, "validation_failed", "text", "POST", r->messages, fx->a, "{}");
  rest_expect_error(fx, 400, "validation_failed", "text", "POST", r->messages, fx->a,
                    "{\"text\":\"\"}");
  rest_expect_error(fx, 400, "validation_failed", "text", "POST", r->messages, fx->a,
                    "{\"text\":7}");
  rest_expect_error(fx, 400, "validation_failed", "client_id", "POST", r->messages, fx->a,
                    "{\"text\":\"x\",\"client_id\":\"\"}");
  /* 4001 characters is one too many. */
  char *big = malloc(4100);
  memcpy(big, "{\"text\":\"", 9);
  memset(big + 9, 'x', 4001);
  memcpy(big + 9 + 4001, "\"}", 3);
  rest_expect_error(fx, 400, "validation_failed", "text", "POST", r->messages, fx->a, big);
  free(big);
  /* Not a participant, or no such conversation: 404, nothing stored. */
  rest_expect_error(fx, 404, "not_found", NULL, "POST", r->messages, fx->c, "{\"text\":\"x\"}");
  rest_expect_error(fx, 404, "not_found", NULL, "POST", "/api/conversations/nope/messages", fx->a,
                    "{\"text\":\"x\"}");
  rest_reply_t *rep = rest_call(fx, 200, "GET", r->messages, fx->a, NULL);
  assert_int_equal(json_array_size(json_object_get(rep->body, "messages")), 0);
  assert_false(json_is_true(json_object_get(rep->body, "has_more")));
  rest_reply_free(rep);
  rest_expect_error(fx, 404, "not_found", NULL, "GET", r->messages, fx->c, NULL);
}

static void history_pages_by_seq(void **state) {
  room_t *r = *state;
  rest_fx_t *fx = r->fx;
  for (int i = 0; i < 5; i++) say(r, i % 2 ? fx->b : fx->a, "m", NULL);
  char target[256], seqs[64];
  snprintf(target, sizeof(target), "%s?limit=2", r->messages);
  rest_reply_t *rep = rest_call(fx, 200, "GET", target, fx->a, NULL);
  page_seqs(rep, seqs, sizeof(seqs));
  assert_string_equal(seqs, "4,5"); /* the newest, oldest first */
  assert_true(json_is_true(json_object_get(rep->body, "has_more")));
  rest_reply_free(rep);
  snprintf(target, sizeof(target), "%s?limit=2&before_seq=4", r->messages);
  rep = rest_call(fx, 200, "GET", target, fx->a, NULL);
  page_seqs(rep, seqs, sizeof(seqs));
  assert_string_equal(seqs, "2,3");
  rest_reply_free(rep);
  snprintf(target, sizeof(target), "%s?after_seq=3", r->messages);
  rep = rest_call(fx, 200, "GET", target, fx->b, NULL);
  page_seqs(rep, seqs, sizeof(seqs));
  assert_string_equal(seqs, "4,5");
  assert_false(json_is_true(json_object_get(rep->body, "has_more")));
  rest_reply_free(rep);

  snprintf(target, sizeof(target), "%s?before_seq=4&after_seq=1", r->messages);
  rest_expect_error(fx, 400, "validation_failed", "after_seq", "GET", target, fx->a, NULL);
  snprintf(target, sizeof(target), "%s?before_seq=0", r->messages);
  rest_expect_error(fx, 400, "validation_failed", "before_seq", "GET", target, fx->a, NULL);
  snprintf(target, sizeof(target), "%s?after_seq=-1", r->messages);
  rest_expect_error(fx, 400, "validation_failed", "after_seq", "GET", target, fx->a, NULL);
  snprintf(target, sizeof(target), "%s?limit=0", r->messages);
  rest_expect_error(fx, 400, "validation_failed", "limit", "GET", target, fx->a, NULL);
}

static void edits_and_deletes_are_the_senders(void **state) {
  room_t *r = *state;
  rest_fx_t *fx = r->fx;
  char id[25], target[128];
  say(r, fx->a, "first", id);
  snprintf(target, sizeof(target), "/api/messages/%s", id);
  rest_expect_error(fx, 403, "forbidden", NULL, "PATCH", target, fx->b, "{\"text\":\"mine\"}");
  rest_expect_error(fx, 404, "not_found", NULL, "PATCH", target, fx->c, "{\"text\":\"mine\"}");
  rest_expect_error(fx, 400, "validation_failed", "text", "PATCH", target, fx->a,
                    "{\"text\":\"\"}");
  rest_expect_error(fx, 403, "forbidden", NULL, "DELETE", target, fx->b, NULL);
  ws_session_t *bs = fake_session_new(fx->app, fx->b);
  rest_reply_t *rep = rest_call(fx, 200, "PATCH", target, fx->a, "{\"text\":\"second\"}");
  assert_string_equal(rest_str(rep, "message", "text", NULL), "second");
  rest_reply_free(rep);
  json_t *fr = fake_next(bs);
  assert_string_equal(json_string_value(json_object_get(fr, "type")), "message.updated");
  json_decref(fr);
  rest_reply_free(rest_call(fx, 204, "DELETE", target, fx->a, NULL));
  fr = fake_next(bs);
  assert_string_equal(json_string_value(json_object_get(fr, "type")), "message.updated");
  json_decref(fr);
  fake_session_free(bs);
  rest_expect_error(fx, 404, "not_found", NULL, "PATCH", "/api/messages/nope", fx->a,
                    "{\"text\":\"x\"}");
}

static void reactions_are_added_and_removed(void **state) {
  room_t *r = *state;
  rest_fx_t *fx = r->fx;
  char id[25], target[160];
  say(r, fx->a, "react to me", id);
  snprintf(target, sizeof(target), "/api/messages/%s/reactions", id);
  rest_expect_error(fx, 400, "validation_failed", "emoji", "POST", target, fx->b, "{}");
  rest_expect_error(fx, 404, "not_found", NULL, "POST", target, fx->c, "{\"emoji\":\"+1\"}");
  rest_reply_t *rep = rest_call(fx, 200, "POST", target, fx->b, "{\"emoji\":\"+1\"}");
  assert_non_null(strstr(rep->raw, "+1"));
  rest_reply_free(rep);
  snprintf(target, sizeof(target), "/api/messages/%s/reactions/%%2B1", id);
  rest_reply_free(rest_call(fx, 204, "DELETE", target, fx->b, NULL));
  rep = rest_call(fx, 200, "GET", r->messages, fx->a, NULL);
  assert_null(strstr(rep->raw, "+1"));
  rest_reply_free(rep);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(a_send_is_stored_acknowledged_and_delivered, setup, teardown),
      cmocka_unit_test_setup_teardown(bad_sends_are_refused_and_store_nothing, setup, teardown),
      cmocka_unit_test_setup_teardown(history_pages_by_seq, setup, teardown),
      cmocka_unit_test_setup_teardown(edits_and_deletes_are_the_senders, setup, teardown),
      cmocka_unit_test_setup_teardown(reactions_are_added_and_removed, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
