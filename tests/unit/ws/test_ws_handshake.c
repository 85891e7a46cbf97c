/* The opening handshake: Sec-WebSocket-Accept against RFC 6455's own example,
 * keys that are not 16 bytes of base64, and which upgrade requests are refused
 * with which status (400, or 426 for a version other than 13). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "parley/ws.h"
#include "ws/ws_internal.h"

static void test_rfc_example_key(void **state) {
  char out[29];
  assert_int_equal(ws_accept_key("dGhlIHNhbXBsZSBub25jZQ==", out), 0);
  assert_string_equal(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}

static void test_bad_keys(void **state) {
  char out[29];
  assert_int_equal(ws_accept_key(NULL, out), -1);
  assert_int_equal(ws_accept_key("", out), -1);
  assert_int_equal(ws_accept_key("dGhlIHNhbXBsZSBub25jZQ=", out), -1);   /* short */
  assert_int_equal(ws_accept_key("dGhlIHNhbXBsZSBub25jZQ===", out), -1); /* long */
  assert_int_equal(ws_accept_key("dGhlIHNhbXBsZSBub25j!Q==", out), -1);  /* alphabet */
  assert_int_equal(ws_accept_key("dGhlIHNhbXBsZSBub25jZQZZ", out), -1);  /* 18 bytes */
  assert_int_equal(ws_accept_key("aGVsbG8=", out), -1);                  /* 5 bytes */
}

static void set_header(http_req_t *r, const char *name, const char *value) {
  r->headers[r->nheaders].name = (char *)name;
  r->headers[r->nheaders].value = (char *)value;
  r->nheaders++;
}

static http_req_t good_request(void) {
  http_req_t r;
  memset(&r, 0, sizeof(r));
  r.method = "GET";
  set_header(&r, "host", "example.com");
  set_header(&r, "upgrade", "WebSocket");
  set_header(&r, "connection", "keep-alive, Upgrade");
  set_header(&r, "sec-websocket-version", "13");
  set_header(&r, "sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==");
  return r;
}

static int check(http_req_t *r) {
  char accept[29];
  const char *why = NULL;
  int rc = ws_handshake_check(r, accept, &why);
  if (rc == 0)
    assert_string_equal(accept, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
  else
    assert_non_null(why);
  return rc;
}

static void test_request_checks(void **state) {
  http_req_t r = good_request();
  assert_int_equal(check(&r), 0);

  r = good_request();
  r.method = "POST";
  assert_int_equal(check(&r), 400);

  r = good_request();
  r.headers[1].value = "h2c";
  assert_int_equal(check(&r), 400);

  r = good_request();
  r.headers[2].value = "keep-alive";
  assert_int_equal(check(&r), 400);
  r.headers[2].value = "upgraded"; /* a token, not a substring */
  assert_int_equal(check(&r), 400);
  r.headers[2].value = "UPGRADE";
  assert_int_equal(check(&r), 0);

  r = good_request();
  r.headers[3].value = "8";
  assert_int_equal(check(&r), 426);
  r.nheaders = 3; /* no version, no key */
  assert_int_equal(check(&r), 426);

  r = good_request();
  r.headers[4].value = "not-a-key";
  assert_int_equal(check(&r), 400);
  r.nheaders = 4; /* no key */
  assert_int_equal(check(&r), 400);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_rfc_example_key),
      cmocka_unit_test(test_bad_keys),
      cmocka_unit_test(test_request_checks),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
