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
  assert_int_equal(c.sqlite_cache_mb, 64);
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
  const char *bad_env[][2] = {{"PARLEY_PORT", "abc"},         {"PARLEY_PORT", "70000"},
                              {"PARLEY_LOG_LEVEL", "loud"},   {"PARLEY_MONGO_URI", "http://x"},
                              {"PARLEY_SECRET_KEY", "abcd"},  {"PARLEY_AUTH_RATE_PER_IP", "0"},
                              {"PARLEY_SQLITE_CACHE_MB", "0"}};
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

/* files_storage s3 needs its endpoint, bucket and keys (the secret from a file);
 * each one missing exits 2. */
static void test_s3_storage_settings(void **state) {
  (void)state;
  config_t c;
  char *argv[] = {"parleyd", NULL};
  assert_int_equal(load(&c, 1, argv), 0);
  assert_string_equal(c.files_storage, "dir");
  assert_string_equal(c.s3_region, "us-east-1");
  assert_string_equal(c.s3_path_style, "on");
  assert_int_equal(c.s3_part_bytes, 8 << 20);
  config_free(&c);
  write_file("s3cr3t\n");
  const char *vars[][2] = {{"PARLEY_FILES_STORAGE", "s3"},
                           {"PARLEY_S3_ENDPOINT", "http://seaweedfs:8333"},
                           {"PARLEY_S3_BUCKET", "parley"},
                           {"PARLEY_S3_ACCESS_KEY", "parley"},
                           {"PARLEY_S3_SECRET_KEY_FILE", path}};
  const size_t n = sizeof(vars) / sizeof(vars[0]);
  for (size_t leave_out = 1; leave_out < n; leave_out++) {
    for (size_t i = 0; i < n; i++)
      if (i != leave_out) setenv(vars[i][0], vars[i][1], 1);
    assert_int_equal(load(&c, 1, argv), 2);
    config_free(&c);
    for (size_t i = 0; i < n; i++) unsetenv(vars[i][0]);
  }
  for (size_t i = 0; i < n; i++) setenv(vars[i][0], vars[i][1], 1);
  assert_int_equal(load(&c, 1, argv), 0);
  assert_string_equal(c.s3_secret_key, "s3cr3t");
  config_free(&c);
  setenv("PARLEY_S3_PART_BYTES", "1048576", 1); /* under S3's 5 MiB */
  assert_int_equal(load(&c, 1, argv), 2);
  config_free(&c);
  unsetenv("PARLEY_S3_PART_BYTES");
  setenv("PARLEY_FILES_STORAGE", "ftp", 1);
  assert_int_equal(load(&c, 1, argv), 2);
  config_free(&c);
  for (size_t i = 0; i < n; i++) unsetenv(vars[i][0]);
  unlink(path);
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

/* A PARLEY_<KEY>_FILE names a file holding the value; one trailing newline goes. */
static void test_value_from_file(void **state) {
  (void)state;
  config_t c;
  char *argv[] = {"parleyd", NULL};
  write_file("redis://user:p%40ss@redis:6379\n");
  setenv("PARLEY_REDIS_URL_FILE", path, 1);
  assert_int_equal(load(&c, 1, argv), 0);
  assert_string_equal(c.redis_url, "redis://user:p%40ss@redis:6379");
  config_free(&c);
  /* Both names set: refused, also when they agree. */
  setenv("PARLEY_REDIS_URL", "redis://user:p%40ss@redis:6379", 1);
  assert_int_equal(load(&c, 1, argv), 2);
  config_free(&c);
  /* An empty variable is unset, so an env file may list both names. */
  setenv("PARLEY_REDIS_URL", "", 1);
  assert_int_equal(load(&c, 1, argv), 0);
  assert_non_null(c.redis_url);
  config_free(&c);
  unsetenv("PARLEY_REDIS_URL");
  unsetenv("PARLEY_REDIS_URL_FILE");
  unlink(path);

  write_file("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\r\n");
  setenv("PARLEY_SECRET_KEY_FILE", path, 1);
  assert_int_equal(load(&c, 1, argv), 0);
  assert_string_equal(c.secret_key,
                      "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef");
  config_free(&c);
  unlink(path);

  /* Missing, empty, a directory, a value the setting refuses: exit 2. */
  assert_int_equal(load(&c, 1, argv), 2);
  config_free(&c);
  write_file("\n");
  assert_int_equal(load(&c, 1, argv), 2);
  config_free(&c);
  unlink(path);
  setenv("PARLEY_SECRET_KEY_FILE", "/tmp", 1);
  assert_int_equal(load(&c, 1, argv), 2);
  config_free(&c);
  write_file("not hex\n");
  setenv("PARLEY_SECRET_KEY_FILE", path, 1);
  assert_int_equal(load(&c, 1, argv), 2);
  config_free(&c);
  unlink(path);
  unsetenv("PARLEY_SECRET_KEY_FILE");

  /* Only the secrets and URIs read files; an unknown _FILE is ignored like any
   * unknown variable. */
  setenv("PARLEY_PORT_FILE", "/nonexistent", 1);
  assert_int_equal(load(&c, 1, argv), 0);
  config_free(&c);
  unsetenv("PARLEY_PORT_FILE");
}

static void test_listen_addresses(void **state) {
  (void)state;
  char host[64];
  int port = 0;
  assert_null(config_parse_listen("127.0.0.1:9100", host, sizeof(host), &port));
  assert_string_equal(host, "127.0.0.1");
  assert_int_equal(port, 9100);
  assert_null(config_parse_listen("[::1]:65535", host, sizeof(host), &port));
  assert_string_equal(host, "::1");
  assert_int_equal(port, 65535);
  assert_null(config_parse_listen("0.0.0.0:1", host, sizeof(host), &port));
  assert_null(config_parse_listen("localhost:9100", host, sizeof(host), &port));
  const char *bad[] = {"9100",
                       ":9100",
                       "127.0.0.1:",
                       "127.0.0.1:0",
                       "127.0.0.1:65536",
                       "127.0.0.1:-1",
                       "127.0.0.1:+80",
                       "127.0.0.1: 80",
                       "::1:9100",
                       "[::1]9100",
                       "[::1:9100",
                       "[127.0.0.1]:80",
                       "example.com:80",
                       "127.0.0.1:80x",
                       "[]:80",
                       "127.0.0.1:99999999999"};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
    assert_non_null(config_parse_listen(bad[i], host, sizeof(host), &port));

  config_t c;
  char *argv[] = {"parleyd", NULL};
  setenv("PARLEY_METRICS_LISTEN", "[::1]:9100", 1);
  assert_int_equal(load(&c, 1, argv), 0);
  assert_string_equal(c.metrics_host, "::1");
  assert_int_equal(c.metrics_port, 9100);
  config_free(&c);
  setenv("PARLEY_METRICS_LISTEN", "127.0.0.1:8080", 1); /* the main port */
  assert_int_equal(load(&c, 1, argv), 2);
  config_free(&c);
  setenv("PARLEY_METRICS_LISTEN", "", 1);
  assert_int_equal(load(&c, 1, argv), 0);
  assert_null(c.metrics_listen);
  config_free(&c);
  unsetenv("PARLEY_METRICS_LISTEN");
}

static void test_trusted_proxies_ranges(void **state) {
  (void)state;
  config_t c;
  char *argv[] = {"parleyd", NULL};
  setenv("PARLEY_TRUSTED_PROXIES", "10.0.0.0/8, fd00::/8 ,127.0.0.1", 1);
  assert_int_equal(load(&c, 1, argv), 0);
  config_free(&c);
  const char *bad[] = {"10.0.0.0/33", "10.0.0.0/8,nginx", "fd00::/200", "10.0.0.1/8"};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    setenv("PARLEY_TRUSTED_PROXIES", bad[i], 1);
    assert_int_equal(load(&c, 1, argv), 2);
    config_free(&c);
  }
  unsetenv("PARLEY_TRUSTED_PROXIES");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_defaults),
      cmocka_unit_test(test_precedence),
      cmocka_unit_test(test_bad_values_exit_2),
      cmocka_unit_test(test_empty_optional_is_unset),
      cmocka_unit_test(test_value_from_file),
      cmocka_unit_test(test_listen_addresses),
      cmocka_unit_test(test_s3_storage_settings),
      cmocka_unit_test(test_trusted_proxies_ranges),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
