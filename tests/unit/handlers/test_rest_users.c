/* Users over REST without sockets (src/handlers/users.c): search, the public
 * and the own view of a user, profile updates with their field rules, and
 * account deletion closing the sessions, ending the tokens and anonymising
 * the profile. Loopback
 * harness of rest_fixture.h. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "rest_fixture.h"

static void search_needs_q_and_shows_public_views(void **state) {
  rest_fx_t *fx = *state;
  rest_expect_error(fx, 400, "validation_failed", "q", "GET", "/api/users/search", fx->a, NULL);
  char target[400] = "/api/users/search?q=";
  memset(target + strlen(target), 'x', 257);
  rest_expect_error(fx, 400, "validation_failed", "q", "GET", target, fx->a, NULL);
  rest_reply_t *r = rest_call(fx, 200, "GET", "/api/users/search?q=%20%20", fx->a, NULL);
  assert_int_equal(json_array_size(json_object_get(r->body, "users")), 0);
  rest_reply_free(r);
  r = rest_call(fx, 200, "GET", "/api/users/search?q=b%40example", fx->a, NULL);
  json_t *users = json_object_get(r->body, "users");
  assert_int_equal(json_array_size(users), 1);
  json_t *u = json_array_get(users, 0);
  assert_string_equal(json_string_value(json_object_get(u, "id")), fx->b);
  assert_null(json_object_get(u, "email")); /* others' addresses stay private */
  rest_reply_free(r);
}

static void a_user_is_seen_whole_only_by_itself(void **state) {
  rest_fx_t *fx = *state;
  char target[64];
  snprintf(target, sizeof(target), "/api/users/%s", fx->b);
  rest_reply_t *r = rest_call(fx, 200, "GET", target, fx->a, NULL);
  assert_null(json_object_get(json_object_get(r->body, "user"), "email"));
  assert_string_equal(rest_str(r, "user", "id", NULL), fx->b);
  rest_reply_free(r);
  r = rest_call(fx, 200, "GET", target, fx->b, NULL);
  assert_string_equal(rest_str(r, "user", "email", NULL), "b@example.com");
  rest_reply_free(r);
  rest_expect_error(fx, 404, "not_found", NULL, "GET", "/api/users/NOT-AN-ID", fx->a, NULL);
  rest_expect_error(fx, 404, "not_found", NULL, "GET", "/api/users/0123456789abcdef01234567", fx->a,
                    NULL);
}

static void a_profile_update_checks_each_field(void **state) {
  rest_fx_t *fx = *state;
  const char *p = "/api/user/profile";
  rest_expect_error(fx, 400, "validation_failed", "name", "PATCH", p, fx->a, "{\"name\":\"\\t\"}");
  rest_expect_error(fx, 400, "validation_failed", "name", "PATCH", p, fx->a, "{\"name\":5}");
  rest_expect_error(fx, 400, "validation_failed", "avatar_url", "PATCH", p, fx->a,
                    "{\"avatar_url\":\"javascript:alert(1)\"}");
  rest_expect_error(fx, 400, "validation_failed", "avatar_url", "PATCH", p, fx->a,
                    "{\"avatar_url\":\"https://\"}");
  rest_expect_error(fx, 400, "validation_failed", "status", "PATCH", p, fx->a,
                    "{\"status\":\"asleep\"}");
  rest_reply_t *r = rest_call(fx, 200, "PATCH", p, fx->a,
                              "{\"name\":\"  Ada  \",\"avatar_url\":\"https://img.test/a.png\","
                              "\"status\":\"away\"}");
  assert_string_equal(rest_str(r, "user", "name", NULL), "Ada");
  assert_string_equal(rest_str(r, "user", "avatar_url", NULL), "https://img.test/a.png");
  assert_string_equal(rest_str(r, "user", "status", NULL), "away");
  rest_reply_free(r);
  /* name: null leaves the name; avatar_url: null clears the avatar. */
  r = rest_call(fx, 200, "PATCH", p, fx->a, "{\"name\":null,\"avatar_url\":null}");
  assert_string_equal(rest_str(r, "user", "name", NULL), "Ada");
  assert_true(json_is_null(json_object_get(json_object_get(r->body, "user"), "avatar_url")));
  rest_reply_free(r);
}

static void deleting_an_account_ends_its_sessions_and_tokens(void **state) {
  rest_fx_t *fx = *state;
  ws_session_t *s = fake_session_new(fx->app, fx->a);
  ws_session_t *other = fake_session_new(fx->app, fx->b);
  rest_reply_free(rest_call(fx, 204, "DELETE", "/api/user", fx->a, NULL));
  uint16_t code = 0;
  assert_true(fake_closed(s, &code));
  assert_int_equal(code, 4003);
  assert_false(fake_closed(other, NULL));
  /* A token issued before the deletion no longer opens anything. */
  rest_expect_error(fx, 401, "unauthorized", NULL, "GET", "/api/auth/me", fx->a, NULL);
  char target[64];
  snprintf(target, sizeof(target), "/api/users/%s", fx->a);
  /* The profile is anonymised; the account stays for the messages it sent. */
  rest_reply_t *r = rest_call(fx, 200, "GET", target, fx->b, NULL);
  assert_string_equal(rest_str(r, "user", "name", NULL), "Deleted user");
  assert_true(json_is_null(json_object_get(json_object_get(r->body, "user"), "avatar_url")));
  rest_reply_free(r);
  rest_expect_error(fx, 401, "invalid_credentials", NULL, "POST", "/api/auth/login", NULL,
                    "{\"email\":\"a@example.com\",\"password\":\"anything\"}");
  fake_session_free(s);
  fake_session_free(other);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(search_needs_q_and_shows_public_views, rest_setup,
                                      rest_teardown),
      cmocka_unit_test_setup_teardown(a_user_is_seen_whole_only_by_itself, rest_setup,
                                      rest_teardown),
      cmocka_unit_test_setup_teardown(a_profile_update_checks_each_field, rest_setup,
                                      rest_teardown),
      cmocka_unit_test_setup_teardown(deleting_an_account_ends_its_sessions_and_tokens, rest_setup,
                                      rest_teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
