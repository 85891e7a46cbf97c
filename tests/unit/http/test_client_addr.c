/* The client address behind trusted proxies: X-Forwarded-For is believed only
 * when the peer is a trusted proxy, and then only up to the first hop that is
 * not one. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "http/http_internal.h"

static const char *addr_for(const char *trusted, const char *peer, const char *xff) {
  static char out[48];
  static config_t cfg;
  static http_server_t srv;
  static conn_t conn;
  memset(&cfg, 0, sizeof(cfg));
  memset(&conn, 0, sizeof(conn));
  cfg.trusted_proxies = (char *)trusted;
  srv.cfg = &cfg;
  strcpy(conn.peer, peer);
  http_req_t *r = http_req_new(&srv, &conn);
  if (xff) {
    assert_int_equal(http_loopback_header(r, "x-forwarded-for", xff), 0);
  }
  http_req_client_addr(r, out, sizeof(out));
  http_req_unref(r);
  return out;
}

static void test_untrusted_peer_is_the_client(void **state) {
  (void)state;
  assert_string_equal(addr_for("", "203.0.113.7", "1.2.3.4"), "203.0.113.7");
  assert_string_equal(addr_for("10.0.0.2", "203.0.113.7", "1.2.3.4"), "203.0.113.7");
}

static void test_trusted_proxy_forwards(void **state) {
  (void)state;
  assert_string_equal(addr_for("10.0.0.2", "10.0.0.2", "198.51.100.9"), "198.51.100.9");
  /* A client cannot spoof by sending its own header: the proxy appends the real hop. */
  assert_string_equal(addr_for("10.0.0.2", "10.0.0.2", "6.6.6.6, 198.51.100.9"), "198.51.100.9");
  /* Two trusted proxies in a row. */
  assert_string_equal(addr_for("10.0.0.2, 10.0.0.3", "10.0.0.2", "198.51.100.9, 10.0.0.3"),
                      "198.51.100.9");
  /* No header: the proxy itself. */
  assert_string_equal(addr_for("10.0.0.2", "10.0.0.2", NULL), "10.0.0.2");
}

static void test_trusted_ranges(void **state) {
  (void)state;
  /* A CIDR range trusts every proxy in it, IPv4-mapped peers included. */
  assert_string_equal(addr_for("172.16.0.0/12", "172.18.0.5", "198.51.100.9"), "198.51.100.9");
  assert_string_equal(addr_for("172.16.0.0/12", "::ffff:172.18.0.5", "198.51.100.9"),
                      "198.51.100.9");
  assert_string_equal(addr_for("172.16.0.0/12", "172.32.0.5", "198.51.100.9"), "172.32.0.5");
  assert_string_equal(addr_for("fd00::/8", "fd12::7", "2001:db8::1, fd00::3"), "2001:db8::1");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_untrusted_peer_is_the_client),
      cmocka_unit_test(test_trusted_proxy_forwards),
      cmocka_unit_test(test_trusted_ranges),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
