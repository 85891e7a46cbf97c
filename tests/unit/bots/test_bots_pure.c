/* The bots module's pure parts: the command parser (src/bots/command.c), the
 * retry delay (backoff.c) and the webhook signature (sign.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "parley/bots.h"

static int parse(const char *text, bots_command_t *c) {
  return bots_command_parse(text, strlen(text), c);
}

static void command_name_args_and_bot(void **state) {
  (void)state;
  bots_command_t c;
  assert_int_equal(parse("/Start", &c), 1);
  assert_string_equal(c.name, "start");
  assert_string_equal(c.bot, "");
  assert_int_equal(c.args_len, 0);
  assert_int_equal(parse("/weather@Helper_Bot  Paris\ttomorrow \n", &c), 1);
  assert_string_equal(c.name, "weather");
  assert_string_equal(c.bot, "helper_bot");
  assert_int_equal(c.args_len, strlen("Paris\ttomorrow"));
  assert_memory_equal(c.args, "Paris\ttomorrow", c.args_len);
  /* The length given is what is read, whatever follows. */
  assert_int_equal(bots_command_parse("/go now", 3, &c), 1);
  assert_string_equal(c.name, "go");
  assert_int_equal(c.args_len, 0);
}

static void command_refuses_what_is_not_one(void **state) {
  (void)state;
  bots_command_t c;
  const char *no[] = {
      "",        "/",       "hello /start",
      " /start", "/ start", "/sta-rt",
      "/@bot",   "/start@", "/start@b-t",
      "/é",      "//x",     "/abcdefghijklmnopqrstuvwxyz0123456"}; /* 33 characters */
  for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++) assert_int_equal(parse(no[i], &c), 0);
  assert_int_equal(parse("/abcdefghijklmnopqrstuvwxyz012345", &c), 1); /* 32 */
  assert_int_equal(bots_command_parse(NULL, 0, &c), 0);
}

static void command_json(void **state) {
  (void)state;
  json_t *j = bots_command_json("/echo  a  b ");
  assert_string_equal(json_string_value(json_object_get(j, "name")), "echo");
  assert_string_equal(json_string_value(json_object_get(j, "args")), "a  b");
  assert_int_equal(json_array_size(json_object_get(j, "argv")), 2);
  assert_string_equal(json_string_value(json_array_get(json_object_get(j, "argv"), 1)), "b");
  assert_null(json_object_get(j, "bot"));
  json_decref(j);
  j = bots_command_json("just text");
  assert_true(json_is_null(j));
  json_decref(j);
  j = bots_command_json(NULL);
  assert_true(json_is_null(j));
  json_decref(j);
}

static void backoff_doubles_caps_and_jitters(void **state) {
  (void)state;
  /* No jitter (r = 0): base, 2 base, 4 base, ... up to max. */
  assert_int_equal(bots_backoff_ms(1, 1000, 600000, 0), 1000);
  assert_int_equal(bots_backoff_ms(2, 1000, 600000, 0), 2000);
  assert_int_equal(bots_backoff_ms(4, 1000, 600000, 0), 8000);
  assert_int_equal(bots_backoff_ms(30, 1000, 600000, 0), 600000);
  assert_int_equal(bots_backoff_ms(1000, 1000, 600000, 0), 600000);
  /* Jitter takes up to half off, never more, never adds. */
  assert_int_equal(bots_backoff_ms(3, 1000, 600000, 0.5), 3000);
  int64_t d = bots_backoff_ms(3, 1000, 600000, 0.999999);
  assert_true(d > 2000 && d <= 2001);
  assert_int_equal(bots_backoff_ms(3, 1000, 600000, 7), bots_backoff_ms(3, 1000, 600000, 0.999999));
  /* Nonsense in, a sane delay out. */
  assert_int_equal(bots_backoff_ms(0, 1000, 600000, 0), 1000);
  assert_int_equal(bots_backoff_ms(5, 1000, 10, 0), 1000);
}

static void signature_is_hmac_sha256_hex(void **state) {
  (void)state;
  char sig[72];
  /* RFC 4231 test case 2: key "Jefe". */
  const char *body = "what do ya want for nothing?";
  bots_sign("Jefe", body, strlen(body), sig);
  assert_string_equal(sig,
                      "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(command_name_args_and_bot),
      cmocka_unit_test(command_refuses_what_is_not_one),
      cmocka_unit_test(command_json),
      cmocka_unit_test(backoff_doubles_caps_and_jitters),
      cmocka_unit_test(signature_is_hmac_sha256_hex),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
