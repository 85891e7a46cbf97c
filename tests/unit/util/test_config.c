/* Configuration precedence (defaults < file < environment < flags) and the exit
 * status 2 that names a bad setting. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "parley/config.h"

static char path[64];

static void write_file(const char *text) {
  strcpy(path, "/tmp/parley-config-XXXXXX");
  int fd = mkstemp(path);
  assert_true(fd >= 0);
  assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
  close(fd);
}

static int load(config_t *c, int argc, char **argv) {
  int rc = config_load(c, argc, argv);
  return rc;
}

static void test_defaults(void **state) {
  (void)state;
  unsetenv("PARLEY_PORT");
  config_t c;
  char *argv[] = {"parleyd", NULL};
  assert_int_equal(load(&c, 1, argv), 0);
  assert_int_equal(c.port, 8080);
  assert_string_equal(c.host, "127.0.0.1");
  assert_string_equal(c.data_dir, "./data");
  assert_null(c.mongo_uri);
  assert_null(c.redis_url);
  assert_int_equal(c.auth_rate_per_ip, 60);
  assert_int_equal(c.auth_rate_per_email, 10);
  assert_int_equal(c.max_body_bytes, 1 << 20);
  config_free(&c);
}

static void test_precedence(void **state) {
  (void)state;
  write_file(
      "{\"port\": 9001, \"log_level\": \"debug\", \"redis_url\": \"redis://127.0.0.1:6390\"}");
  config_t c;
  char *argv1[] = {"parleyd", "--config", path, NULL};
  unsetenv("PARLEY_PORT");
  assert_int_equal(load(&c, 3, argv1), 0);
  assert_int_equal(c.port, 9001);
  assert_string_equal(c.log_level, "debug");
  assert_string_equal(c.redis_url, "redis://127.0.0.1:6390");
  config_free(&c);
  setenv("PARLEY_PORT", "9002", 1);
  assert_int_equal(load(&c, 3, argv1), 0);
  assert_int_equal(c.port, 9002);
  config_free(&c);
  char *argv2[] = {"parleyd", "--config", path, "--port", "9003", NULL};
  assert_int_equal(load(&c, 5, argv2), 0);
  assert_int_equal(c.port, 9003);
  config_free(&c);
  unsetenv("PARLEY_PORT");
  unlink(path);
}

static void test_bad_values_exit_2(void **state) {
  (void)state;
  config_t c;
  char *argv[] = {"parleyd", NULL};
  const char *bad_env[][2] = {{"PARLEY_PORT", "abc"},        {"PARLEY_PORT", "70000"},
                              {"PARLEY_LOG_LEVEL", "loud"},  {"PARLEY_MONGO_URI", "http://x"},
                              {"PARLEY_SECRET_KEY", "abcd"}, {"PARLEY_AUTH_RATE_PER_IP", "0"}};
  for (size_t i = 0; i < sizeof(bad_env) / sizeof(bad_env[0]); i++) {
    setenv(bad_env[i][0], bad_env[i][1], 1);
    assert_int_equal(load(&c, 1, argv), 2);
    config_free(&c);
    unsetenv(bad_env[i][0]);
  }
  const char *bad_files[] = {"{\"port\": \"8080\"}", "{\"no_such_key\": 1}", "{not json", "[1]"};
  for (size_t i = 0; i < sizeof(bad_files) / sizeof(bad_files[0]); i++) {
    write_file(bad_files[i]);
    char *argv2[] = {"parleyd", "--config", path, NULL};
    assert_int_equal(load(&c, 3, argv2), 2);
    config_free(&c);
    unlink(path);
  }
  char *argv3[] = {"parleyd", "--bogus", NULL};
  assert_int_equal(load(&c, 2, argv3), 2);
  config_free(&c);
}

static void test_empty_optional_is_unset(void **state) {
  (void)state;
  config_t c;
  char *argv[] = {"parleyd", NULL};
  setenv("PARLEY_REDIS_URL", "", 1);
  assert_int_equal(load(&c, 1, argv), 0);
  assert_null(c.redis_url);
  config_free(&c);
  unsetenv("PARLEY_REDIS_URL");
  setenv("PARLEY_HOST", "", 1);
  assert_int_equal(load(&c, 1, argv), 2);
  config_free(&c);
  unsetenv("PARLEY_HOST");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_defaults),
      cmocka_unit_test(test_precedence),
      cmocka_unit_test(test_bad_values_exit_2),
      cmocka_unit_test(test_empty_optional_is_unset),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
