/* Accounts and sessions over REST without sockets (src/handlers/auth.c):
 * signup and login with their field rules, a taken email, wrong credentials
 * that do not tell which part was wrong, the access token at /api/auth/me,
 * refresh-token rotation with reuse detection, logout, and the per-email rate
 * limit with Retry-After. Loopback harness of rest_fixture.h. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "rest_fixture.h"

#define SIGNUP "/api/auth/signup"
#define LOGIN "/api/auth/login"

static const char *const dana =
    "{\"email\":\"Dana@Example.com\",\"password\":\"long enough\",\"name\":\"Dana\"}";

/* POST path with body (no token), expecting status. */
static rest_reply_t *post(rest_fx_t *fx, int status, const char *path, const char *body) {
  return rest_call(fx, status, "POST", path, NULL, body);
}

/* A session's refresh token (copied into out). */
static void refresh_of(const rest_reply_t *r, char out[600]) {
  const char *t = rest_str(r, "refresh_token", NULL);
  assert_non_null(t);
  snprintf(out, 600, "%s", t);
}

static void signup_checks_every_field(void **state) {
  rest_fx_t *fx = *state;
  rest_expect_error(fx, 400, "validation_failed", "email", "POST", SIGNUP, NULL,
                    "{\"password\":\"long enough\",\"name\":\"N\"}");
  rest_expect_error(fx, 400, "validation_failed", "email", "POST", SIGNUP, NULL,
                    "{\"email\":\"not-an-address\",\"password\":\"long enough\",\"name\":\"N\"}");
  rest_expect_error(fx, 400, "validation_failed", "password", "POST", SIGNUP, NULL,
                    "{\"email\":\"n@example.com\",\"password\":\"short\",\"name\":\"N\"}");
  rest_expect_error(fx, 400, "validation_failed", "password", "POST", SIGNUP, NULL,
                    "{\"email\":\"n@example.com\",\"password\":12345678,\"name\":\"N\"}");
  rest_expect_error(fx, 400, "validation_failed", "name", "POST", SIGNUP, NULL,
                    "{\"email\":\"n@example.com\",\"password\":\"long enough\"}");
  rest_expect_error(fx, 400, "validation_failed", "name", "POST", SIGNUP, NULL,
                    "{\"email\":\"n@example.com\",\"password\":\"long enough\",\"name\":\"   \"}");
  /* None of them made an account. */
  rest_expect_error(fx, 401, "invalid_credentials", NULL, "POST", LOGIN, NULL,
                    "{\"email\":\"n@example.com\",\"password\":\"long enough\"}");
}

static void signup_makes_a_session_once_per_email(void **state) {
  rest_fx_t *fx = *state;
  rest_reply_t *r = post(fx, 201, SIGNUP, dana);
  assert_string_equal(rest_str(r, "user", "email", NULL), "dana@example.com");
  assert_string_equal(rest_str(r, "user", "name", NULL), "Dana");
  assert_string_equal(rest_str(r, "token_type", NULL), "Bearer");
  assert_int_equal(json_integer_value(json_object_get(r->body, "expires_in")), 900);
  assert_null(json_object_get(json_object_get(r->body, "user"), "password_hash"));
  /* The access token is good for /api/auth/me. */
  rest_reply_t *me = rest_check(
      fx, rest_send_token(fx, "GET", "/api/auth/me", rest_str(r, "access_token", NULL), NULL), 200,
      "GET", "/api/auth/me");
  assert_string_equal(rest_str(me, "user", "id", NULL), rest_str(r, "user", "id", NULL));
  rest_reply_free(me);
  rest_reply_free(r);
  rest_expect_error(fx, 409, "email_taken", NULL, "POST", SIGNUP, NULL,
                    "{\"email\":\"dana@example.COM\",\"password\":\"other pass\",\"name\":\"D\"}");
}

static void login_does_not_say_which_part_was_wrong(void **state) {
  rest_fx_t *fx = *state;
  rest_reply_free(post(fx, 201, SIGNUP, dana));
  rest_expect_error(fx, 401, "invalid_credentials", NULL, "POST", LOGIN, NULL,
                    "{\"email\":\"dana@example.com\",\"password\":\"wrong one\"}");
  rest_expect_error(fx, 401, "invalid_credentials", NULL, "POST", LOGIN, NULL,
                    "{\"email\":\"nobody@example.com\",\"password\":\"long enough\"}");
  rest_expect_error(fx, 400, "validation_failed", "password", "POST", LOGIN, NULL,
                    "{\"email\":\"dana@example.com\",\"password\":\"\"}");
  rest_reply_t *r =
      post(fx, 200, LOGIN, "{\"email\":\" DANA@example.com\",\"password\":\"long enough\"}");
  assert_string_equal(rest_str(r, "user", "email", NULL), "dana@example.com");
  assert_non_null(rest_str(r, "access_token", NULL));
  rest_reply_free(r);
}

static void a_refresh_token_is_used_once(void **state) {
  rest_fx_t *fx = *state;
  rest_reply_t *r = post(fx, 201, SIGNUP, dana);
  char first[600], second[600], body[700];
  refresh_of(r, first);
  rest_reply_free(r);
  snprintf(body, sizeof(body), "{\"refresh_token\":\"%s\"}", first);
  r = post(fx, 200, "/api/auth/refresh", body);
  refresh_of(r, second);
  assert_string_not_equal(first, second);
  rest_reply_free(r);
  /* The first again: reuse, and the whole login is revoked with it. */
  rest_expect_error(fx, 401, "unauthorized", NULL, "POST", "/api/auth/refresh", NULL, body);
  snprintf(body, sizeof(body), "{\"refresh_token\":\"%s\"}", second);
  rest_expect_error(fx, 401, "unauthorized", NULL, "POST", "/api/auth/refresh", NULL, body);
  rest_expect_error(fx, 401, "unauthorized", NULL, "POST", "/api/auth/refresh", NULL,
                    "{\"refresh_token\":\"made-up\"}");
  rest_expect_error(fx, 400, "validation_failed", "refresh_token", "POST", "/api/auth/refresh",
                    NULL, "{}");
}

static void logout_ends_the_login(void **state) {
  rest_fx_t *fx = *state;
  rest_reply_t *r = post(fx, 201, SIGNUP, dana);
  char token[600], body[700], access[1024];
  refresh_of(r, token);
  snprintf(access, sizeof(access), "%s", rest_str(r, "access_token", NULL));
  rest_reply_free(r);
  snprintf(body, sizeof(body), "{\"refresh_token\":\"%s\"}", token);
  rest_reply_free(post(fx, 204, "/api/auth/logout", body));
  rest_expect_error(fx, 401, "unauthorized", NULL, "POST", "/api/auth/refresh", NULL, body);
  /* The login's access token ends with it. */
  rest_reply_free(rest_check(fx, rest_send_token(fx, "GET", "/api/auth/me", access, NULL), 401,
                             "GET", "/api/auth/me"));
  /* Unknown tokens have nothing to revoke: 204 all the same. */
  rest_reply_free(post(fx, 204, "/api/auth/logout", "{\"refresh_token\":\"made-up\"}"));
}

static void me_needs_a_live_account(void **state) {
  rest_fx_t *fx = *state;
  rest_reply_t *r = rest_call(fx, 200, "GET", "/api/auth/me", fx->a, NULL);
  assert_string_equal(rest_str(r, "user", "email", NULL), "a@example.com");
  rest_reply_free(r);
  rest_expect_error(fx, 401, "unauthorized", NULL, "GET", "/api/auth/me", "no-such-user", NULL);
  r = rest_check(fx, rest_send_token(fx, "GET", "/api/auth/me", "not.a.token", NULL), 401, "GET",
                 "/api/auth/me");
  rest_reply_free(r);
}

static void attempts_past_the_rate_are_refused(void **state) {
  rest_fx_t *fx = *state;
  fx->app->cfg.auth_rate_per_email = 2;
  const char *body = "{\"email\":\"a@example.com\",\"password\":\"guessing\"}";
  for (int i = 0; i < 2; i++)
    rest_expect_error(fx, 401, "invalid_credentials", NULL, "POST", LOGIN, NULL, body);
  rest_reply_t *r = post(fx, 429, LOGIN, body);
  char after[16];
  assert_non_null(rest_header(r, "Retry-After", after, sizeof(after)));
  assert_true(atoi(after) >= 1);
  assert_string_equal(rest_str(r, "error", "code", NULL), "rate_limited");
  rest_reply_free(r);
  /* Another email is not held back. */
  rest_expect_error(fx, 401, "invalid_credentials", NULL, "POST", LOGIN, NULL,
                    "{\"email\":\"b@example.com\",\"password\":\"guessing\"}");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(signup_checks_every_field, rest_setup, rest_teardown),
      cmocka_unit_test_setup_teardown(signup_makes_a_session_once_per_email, rest_setup,
                                      rest_teardown),
      cmocka_unit_test_setup_teardown(login_does_not_say_which_part_was_wrong, rest_setup,
                                      rest_teardown),
      cmocka_unit_test_setup_teardown(a_refresh_token_is_used_once, rest_setup, rest_teardown),
      cmocka_unit_test_setup_teardown(logout_ends_the_login, rest_setup, rest_teardown),
      cmocka_unit_test_setup_teardown(me_needs_a_live_account, rest_setup, rest_teardown),
      cmocka_unit_test_setup_teardown(attempts_past_the_rate_are_refused, rest_setup,
                                      rest_teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
