/* This instance's sessions by user (src/chat/sessions.c): sending to every
 * session of a user but one, to a list of users but one, and closing a user's
 * or a login's sessions, through the hub and the stand-in sessions. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "chat/sessions.h"
#include "chat_fixture.h"

static int setup(void **state) {
  *state = chat_fx_new(0);
  return 0;
}

static int teardown(void **state) {
  chat_fx_free(*state);
  return 0;
}

/* Takes the next frame of s and checks its text. */
static void got(ws_session_t *s, const char *text) {
  json_t *fr = fake_next(s);
  if (!fr) fail_msg("session %s: nothing", s->session_id);
  json_t *want = json_loads(text, 0, NULL);
  assert_true(json_equal(fr, want));
  json_decref(want);
  json_decref(fr);
}

static void a_users_sessions_get_it_but_the_one_excepted(void **state) {
  chat_fx_t *f = *state;
  ws_session_t *a1 = fake_session_new(&f->app, "u1"), *a2 = fake_session_new(&f->app, "u1");
  ws_session_t *b = fake_session_new(&f->app, "u2");
  assert_int_equal(sessions_send(&f->app, "u1", "{\"n\":1}", 7, 0), 2);
  got(a1, "{\"n\":1}");
  got(a2, "{\"n\":1}");
  assert_int_equal(sessions_send(&f->app, "u1", "{\"n\":2}", 7, a1->id), 1);
  got(a2, "{\"n\":2}");
  assert_int_equal(fake_pending(a1) + fake_pending(b), 0);
  assert_int_equal(sessions_send(&f->app, "nobody", "{}", 2, 0), 0);
  assert_int_equal(sessions_send(&f->app, NULL, "{}", 2, 0), 0);
  /* A closed session is not counted as reached. */
  ws_session_close(a2, 1000, "bye");
  assert_int_equal(sessions_send(&f->app, "u1", "{\"n\":3}", 7, 0), 1);
  fake_session_free(a1);
  fake_session_free(a2);
  fake_session_free(b);
}

static void a_list_of_users_but_one(void **state) {
  chat_fx_t *f = *state;
  ws_session_t *a = fake_session_new(&f->app, "u1"), *b = fake_session_new(&f->app, "u2");
  ws_session_t *c = fake_session_new(&f->app, "u3");
  json_t *users = json_pack("[s, s, i, s]", "u1", "u2", 7, "u4");
  assert_int_equal(sessions_send_users(&f->app, users, "u2", "{\"t\":1}", 7), 1);
  got(a, "{\"t\":1}");
  assert_int_equal(fake_pending(b) + fake_pending(c), 0);
  assert_int_equal(sessions_send_users(&f->app, users, NULL, "{\"t\":2}", 7), 2);
  json_decref(users);
  fake_session_free(a);
  fake_session_free(b);
  fake_session_free(c);
}

static void closing_a_user_or_one_login(void **state) {
  chat_fx_t *f = *state;
  ws_session_t *a1 = fake_session_new(&f->app, "u1"), *a2 = fake_session_new(&f->app, "u1");
  ws_session_t *a3 = fake_session_new(&f->app, "u1"), *b = fake_session_new(&f->app, "u2");
  snprintf(a1->login_id, sizeof(a1->login_id), "L1");
  snprintf(a2->login_id, sizeof(a2->login_id), "L2");
  snprintf(b->login_id, sizeof(b->login_id), "L1");
  sessions_close_login(&f->app, "u1", "L1", 4003, "logged out");
  uint16_t code = 0;
  assert_true(fake_closed(a1, &code));
  assert_int_equal(code, 4003);
  assert_false(fake_closed(a2, NULL));
  assert_false(fake_closed(a3, NULL));
  assert_false(fake_closed(b, NULL)); /* the same login id, another user */
  sessions_close_user(&f->app, "u1", 4003, "account deleted");
  assert_true(fake_closed(a2, NULL));
  assert_true(fake_closed(a3, NULL));
  assert_false(fake_closed(b, NULL));
  assert_int_equal(hub_session_count(f->app.hub), 1);
  sessions_close_user(&f->app, "nobody", 4003, "x");
  fake_session_free(a1);
  fake_session_free(a2);
  fake_session_free(a3);
  fake_session_free(b);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(a_users_sessions_get_it_but_the_one_excepted, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(a_list_of_users_but_one, setup, teardown),
      cmocka_unit_test_setup_teardown(closing_a_user_or_one_login, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
