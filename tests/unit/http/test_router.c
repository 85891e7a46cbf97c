/* Router matching: static segments, :params, 404 versus 405 with Allow, a
 * trailing slash, and params captured per request. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "http/http_internal.h"
#include "parley/router.h"

static void h_a(http_req_t *r) { (void)r; }
static void h_b(http_req_t *r) { (void)r; }
static void h_c(http_req_t *r) { (void)r; }
static void h_d(http_req_t *r) { (void)r; }

static const route_t routes1[] = {
    {"GET", "/api/conversations", 1, h_a},
    {"POST", "/api/conversations", 1, h_b},
    {"GET", "/api/conversations/:id/messages", 1, h_c},
    {"DELETE", "/api/conversations/:id/members/:user_id", 1, h_d},
};
static const route_t routes2[] = {
    {"POST", "/api/uploads", ROUTE_AUTH | ROUTE_STREAM, h_c},
    {"PATCH", "/api/messages/:id", 1, h_a},
    {"GET", "/api/messages/instagram", 1, h_b},
};
static const route_table_t t1 = ROUTE_TABLE(routes1);
static const route_table_t t2 = ROUTE_TABLE(routes2);
static const route_table_t *const tables[] = {&t1, &t2};

static http_req_t *req_for(const char *method, const char *path) {
  http_req_t *r = http_req_new(NULL, NULL);
  r->method = method;
  r->path = strdup(path);
  return r;
}

static int match(http_req_t *r, const route_t **out, char *allow) {
  return router_match(tables, 2, r, out, allow, 128);
}

/* Only a ROUTE_STREAM route, by method and path, has its body streamed. */
static void test_streamed_routes(void **state) {
  (void)state;
  assert_true(router_streams(tables, 2, "POST", "/api/uploads"));
  assert_true(router_streams(tables, 2, "POST", "/api/uploads/"));
  assert_false(router_streams(tables, 2, "GET", "/api/uploads"));
  assert_false(router_streams(tables, 2, "POST", "/api/uploads/x"));
  assert_false(router_streams(tables, 2, "POST", "/api/conversations"));
  /* Other tables are indexed anew: the first table alone streams nothing,
   * and the pair streams again after it. */
  assert_false(router_streams(tables, 1, "POST", "/api/uploads"));
  static const route_table_t *const only2[] = {&t2};
  assert_true(router_streams(only2, 1, "POST", "/api/uploads"));
  assert_true(router_streams(tables, 2, "POST", "/api/uploads"));
  const route_t *rt = NULL;
  char allow[128];
  http_req_t *r = req_for("GET", "/api/uploads");
  assert_int_equal(match(r, &rt, allow), ROUTER_BAD_METHOD);
  http_req_unref(r);
}

static void test_static_routes_by_method(void **state) {
  (void)state;
  const route_t *rt = NULL;
  char allow[128];
  http_req_t *r = req_for("GET", "/api/conversations");
  assert_int_equal(match(r, &rt, allow), ROUTER_FOUND);
  assert_ptr_equal(rt->handler, h_a);
  http_req_unref(r);
  r = req_for("POST", "/api/conversations/");
  assert_int_equal(match(r, &rt, allow), ROUTER_FOUND);
  assert_ptr_equal(rt->handler, h_b);
  http_req_unref(r);
}

static void test_params_are_captured(void **state) {
  (void)state;
  const route_t *rt = NULL;
  char allow[128];
  http_req_t *r = req_for("DELETE", "/api/conversations/abc123/members/u9");
  assert_int_equal(match(r, &rt, allow), ROUTER_FOUND);
  assert_ptr_equal(rt->handler, h_d);
  assert_string_equal(http_req_param(r, "id"), "abc123");
  assert_string_equal(http_req_param(r, "user_id"), "u9");
  assert_null(http_req_param(r, "user"));
  assert_string_equal(r->route, "/api/conversations/:id/members/:user_id");
  http_req_unref(r);
}

static void test_not_found_and_bad_method(void **state) {
  (void)state;
  const route_t *rt = NULL;
  char allow[128];
  http_req_t *r = req_for("GET", "/api/nothing");
  assert_int_equal(match(r, &rt, allow), ROUTER_NOT_FOUND);
  http_req_unref(r);
  r = req_for("PUT", "/api/conversations");
  assert_int_equal(match(r, &rt, allow), ROUTER_BAD_METHOD);
  assert_string_equal(allow, "GET, POST");
  http_req_unref(r);
  /* An empty param segment does not match. */
  r = req_for("GET", "/api/conversations//messages");
  assert_int_equal(match(r, &rt, allow), ROUTER_NOT_FOUND);
  http_req_unref(r);
  /* Longer paths do not match shorter patterns. */
  r = req_for("GET", "/api/conversations/x/messages/y");
  assert_int_equal(match(r, &rt, allow), ROUTER_NOT_FOUND);
  http_req_unref(r);
  /* A segment is matched whole: neither a prefix of it nor one running on. */
  const char *near[] = {"/api/conversation",
                        "/api/conversationsx",
                        "/api/conversations/x/message",
                        "/api/conversations/x/messagesx",
                        "/ap/conversations",
                        "/api",
                        "/api/conversations//",
                        "api/conversations"};
  for (size_t i = 0; i < sizeof(near) / sizeof(near[0]); i++) {
    r = req_for("GET", near[i]);
    assert_int_equal(match(r, &rt, allow), ROUTER_NOT_FOUND);
    http_req_unref(r);
  }
  /* One trailing slash is tolerated, after a param too. */
  r = req_for("GET", "/api/conversations/x/messages/");
  assert_int_equal(match(r, &rt, allow), ROUTER_FOUND);
  assert_ptr_equal(rt->handler, h_c);
  assert_string_equal(http_req_param(r, "id"), "x");
  http_req_unref(r);
  r = req_for("DELETE", "/api/conversations/c1/members/u2/");
  assert_int_equal(match(r, &rt, allow), ROUTER_FOUND);
  assert_string_equal(http_req_param(r, "user_id"), "u2");
  http_req_unref(r);
}

static void test_static_beats_param_across_methods(void **state) {
  (void)state;
  const route_t *rt = NULL;
  char allow[128];
  http_req_t *r = req_for("GET", "/api/messages/instagram");
  assert_int_equal(match(r, &rt, allow), ROUTER_FOUND);
  assert_ptr_equal(rt->handler, h_b);
  http_req_unref(r);
  r = req_for("GET", "/api/messages/m1");
  assert_int_equal(match(r, &rt, allow), ROUTER_BAD_METHOD);
  assert_string_equal(allow, "PATCH");
  http_req_unref(r);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_static_routes_by_method),
      cmocka_unit_test(test_streamed_routes),
      cmocka_unit_test(test_params_are_captured),
      cmocka_unit_test(test_not_found_and_bad_method),
      cmocka_unit_test(test_static_beats_param_across_methods),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
