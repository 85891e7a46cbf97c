/* Loopback requests (src/http/loopback.c): made in memory, dispatched like
 * requests that arrive (decoded path and query, lower-cased headers, routes,
 * the token check, CORS), their replies captured whole by the sink, also when a
 * handler replies later from the loop. No sockets. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "parley/http.h"
#include "parley/router.h"

typedef struct captured_s {
  int calls, status;
  char head[2048];
  char body[2048];
} captured_t;

static void sink(void *ctx, http_req_t *req, const char *head, size_t head_len, const char *body,
                 size_t body_len) {
  captured_t *c = ctx;
  c->calls++;
  c->status = req->status;
  snprintf(c->head, sizeof(c->head), "%.*s", (int)head_len, head);
  snprintf(c->body, sizeof(c->body), "%.*s", (int)body_len, body ? body : "");
}

static void h_echo(http_req_t *r) {
  char q[64] = "";
  http_req_query(r, "q", q, sizeof(q));
  json_t *body = http_req_json(r);
  if (!body) return;
  const char *ua = http_req_header(r, "x-thing");
  http_reply_header(r, "X-Seen", ua ? ua : "none");
  http_reply_json(r, 200,
                  json_pack("{s:s, s:s, s:s, s:O}", "path", r->path, "id", http_req_param(r, "id"),
                            "q", q, "body", body));
  json_decref(body);
}

static http_req_t *held; /* the request h_later replies to */
static void h_later(http_req_t *r) {
  http_req_ref(r);
  held = r;
}

static void h_me(http_req_t *r) { http_reply_json(r, 200, json_pack("{s:s}", "user", r->user_id)); }

static const route_t routes[] = {
    {"POST", "/echo/:id", 0, h_echo},
    {"GET", "/later", 0, h_later},
    {"GET", "/me", 1, h_me},
};
static const route_table_t table = ROUTE_TABLE(routes);
static const route_table_t *const tables[] = {&table};

static int check_token(void *ctx, http_req_t *req) {
  const char *a = http_req_header(req, "authorization");
  if (!a || strcmp(a, "Bearer good") != 0) return -1;
  snprintf(req->user_id, sizeof(req->user_id), "%s", "u1");
  return 0;
}

static config_t cfg = {.max_body_bytes = 64, .cors_origins = "https://app.test"};
static const http_server_t server = {&cfg, tables, 1,    check_token, NULL,
                                     NULL, NULL,   NULL, NULL,        NULL};

static http_req_t *make(const char *method, const char *target, captured_t *c) {
  http_req_t *r = http_loopback_new(&server, method, target, sink, c);
  assert_non_null(r);
  return r;
}

static void a_request_is_routed_and_its_reply_captured(void **state) {
  captured_t c = {0};
  http_req_t *r = make("POST", "/echo/a%20b?q=x%26y", &c);
  assert_int_equal(http_loopback_header(r, "Content-Type", "application/json"), 0);
  assert_int_equal(http_loopback_header(r, "X-Thing", "yes"), 0);
  assert_int_equal(http_loopback_header(r, "Origin", "https://app.test"), 0);
  assert_int_equal(http_loopback_body(r, "{\"k\":", 5), 0);
  assert_int_equal(http_loopback_body(r, "1}", 2), 0);
  http_loopback_dispatch(r);
  assert_int_equal(c.calls, 1);
  assert_int_equal(c.status, 200);
  assert_int_equal(r->status, 200);
  http_req_unref(r);
  assert_non_null(strstr(c.head, "HTTP/1.1 200 OK\r\n"));
  assert_non_null(strstr(c.head, "X-Seen: yes\r\n"));
  assert_non_null(strstr(c.head, "Access-Control-Allow-Origin: https://app.test\r\n"));
  assert_non_null(strstr(c.head, "Content-Type: application/json\r\n"));
  json_t *b = json_loads(c.body, 0, NULL);
  assert_string_equal(json_string_value(json_object_get(b, "path")), "/echo/a b");
  assert_string_equal(json_string_value(json_object_get(b, "id")), "a b");
  assert_string_equal(json_string_value(json_object_get(b, "q")), "x&y");
  assert_int_equal(json_integer_value(json_object_get(json_object_get(b, "body"), "k")), 1);
  json_decref(b);
}

/* Dispatches method target, with an Authorization header when auth is given,
 * and returns what the sink captured. */
static captured_t run(const char *method, const char *target, const char *auth) {
  captured_t c = {0};
  http_req_t *r = make(method, target, &c);
  if (auth) http_loopback_header(r, "Authorization", auth);
  http_loopback_dispatch(r);
  http_req_unref(r);
  return c;
}

static void dispatch_answers_what_no_handler_would(void **state) {
  captured_t c = run("GET", "/echo/1", NULL);
  assert_int_equal(c.status, 405);
  assert_non_null(strstr(c.head, "Allow: POST\r\n"));
  assert_non_null(strstr(c.body, "\"method_not_allowed\""));
  c = run("GET", "/nowhere", NULL);
  assert_int_equal(c.status, 404);
  c = run("GET", "/me", "Bearer bad");
  assert_int_equal(c.status, 401);
  assert_non_null(strstr(c.body, "\"unauthorized\""));
  c = run("GET", "/me", "Bearer good");
  assert_int_equal(c.status, 200);
  assert_string_equal(c.body, "{\"user\":\"u1\"}");
  /* HEAD: the headers of the GET, no body. */
  c = run("HEAD", "/me", "Bearer good");
  assert_int_equal(c.status, 200);
  assert_non_null(strstr(c.head, "Content-Length: 13\r\n"));
  assert_string_equal(c.body, "");
}

static void a_handler_may_reply_after_dispatch_returns(void **state) {
  captured_t c = {0};
  http_req_t *r = make("GET", "/later", &c);
  http_loopback_dispatch(r);
  http_req_unref(r); /* the handler keeps its own reference */
  assert_int_equal(c.calls, 0);
  assert_non_null(held);
  assert_false(http_req_gone(held)); /* a connection-less request still has its sink */
  http_reply_empty(held, 204);
  http_reply_empty(held, 500); /* a second reply is ignored */
  http_req_unref(held);
  held = NULL;
  assert_int_equal(c.calls, 1);
  assert_int_equal(c.status, 204);
  assert_null(strstr(c.head, "Content-Length"));
}

static void bad_requests_are_refused_before_dispatch(void **state) {
  captured_t c = {0};
  assert_null(http_loopback_new(&server, "BREW", "/me", sink, &c));
  assert_null(http_loopback_new(&server, "GET", "me", sink, &c));
  assert_null(http_loopback_new(&server, "GET", "/me%00.css", sink, &c));
  assert_null(http_loopback_new(&server, "GET", "/%ff", sink, &c));
  assert_null(http_loopback_new(&server, "GET", "/me", NULL, &c));
  assert_null(http_loopback_new(NULL, "GET", "/me", sink, &c));
  http_req_t *r = make("POST", "/echo/1", &c);
  char big[65];
  memset(big, 'x', sizeof(big));
  assert_int_equal(http_loopback_body(r, big, 64), 0);
  assert_int_equal(http_loopback_body(r, big, 1), -1); /* max_body_bytes */
  for (int i = 0; i < HTTP_MAX_HEADERS; i++)
    assert_int_equal(http_loopback_header(r, "X-N", "v"), 0);
  assert_int_equal(http_loopback_header(r, "X-N", "v"), -1);
  http_req_unref(r);
  assert_int_equal(c.calls, 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(a_request_is_routed_and_its_reply_captured),
      cmocka_unit_test(dispatch_answers_what_no_handler_would),
      cmocka_unit_test(a_handler_may_reply_after_dispatch_returns),
      cmocka_unit_test(bad_requests_are_refused_before_dispatch),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
