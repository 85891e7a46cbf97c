/* The operations endpoints without sockets (src/handlers/ops.c): /healthz,
 * /readyz naming the store and bus and their state (503 while shutting down),
 * and /metrics in Prometheus text counting the requests served and the page
 * cache in whole bytes. Loopback harness of rest_fixture.h. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "rest_fixture.h"

static void health_and_readiness(void **state) {
  rest_fx_t *fx = *state;
  rest_reply_t *r = rest_call(fx, 200, "GET", "/healthz", NULL, NULL);
  assert_string_equal(rest_str(r, "status", NULL), "ok");
  rest_reply_free(r);
  r = rest_call(fx, 200, "GET", "/readyz", NULL, NULL);
  assert_string_equal(rest_str(r, "status", NULL), "ready");
  assert_string_equal(rest_str(r, "store", "backend", NULL), "sqlite");
  assert_string_equal(rest_str(r, "store", "state", NULL), "up");
  assert_string_equal(rest_str(r, "bus", "backend", NULL), "local");
  assert_string_equal(rest_str(r, "bus", "state", NULL), "up");
  rest_reply_free(r);
  fx->app->shutting_down = 1;
  r = rest_call(fx, 503, "GET", "/readyz", NULL, NULL);
  assert_string_equal(rest_str(r, "status", NULL), "unavailable");
  rest_reply_free(r);
  fx->app->shutting_down = 0;
}

static void metrics_count_what_was_served(void **state) {
  rest_fx_t *fx = *state;
  ws_session_t *s = fake_session_new(fx->app, fx->a);
  rest_reply_free(rest_call(fx, 200, "GET", "/healthz", NULL, NULL));
  rest_reply_t *r = rest_call(fx, 200, "GET", "/metrics", NULL, NULL);
  char ctype[64];
  assert_non_null(rest_header(r, "Content-Type", ctype, sizeof(ctype)));
  assert_string_equal(ctype, "text/plain; version=0.0.4");
  assert_null(r->body); /* not JSON */
  assert_non_null(strstr(r->raw, "route=\"/healthz\""));
  assert_non_null(strstr(r->raw, "\nparley_ws_sessions_open 1\n"));
  assert_non_null(strstr(r->raw, "\nparley_store_up 1\n"));
  /* The SQLite page cache holds what the fixture's users wrote, in whole bytes
   * (the soak judges RSS beyond it: six digits would hide a slow rise). */
  const char *cache = strstr(r->raw, "\nparley_store_cache_bytes ");
  assert_non_null(cache);
  char *end = NULL;
  long long bytes = strtoll(cache + strlen("\nparley_store_cache_bytes "), &end, 10);
  assert_true(bytes > 4096);
  assert_int_equal(*end, '\n');
  rest_reply_free(r);
  /* With metrics_listen set, the main listener no longer serves them. */
  fx->app->cfg.metrics_listen = "127.0.0.1:9100";
  rest_expect_error(fx, 404, "not_found", NULL, "GET", "/metrics", NULL, NULL);
  fx->app->cfg.metrics_listen = NULL;
  fake_session_free(s);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(health_and_readiness, rest_setup, rest_teardown),
      cmocka_unit_test_setup_teardown(metrics_count_what_was_served, rest_setup, rest_teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
