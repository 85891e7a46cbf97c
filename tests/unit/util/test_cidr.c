/* CIDR ranges of trusted_proxies: the edges of a range, /0, /32, /128, IPv4-mapped
 * IPv6 addresses, and the values that are refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "parley/cidr.h"

/* 1 when addr is in the list (a list of one range is a range). */
static int in(const char *list, const char *addr) {
  return cidr_list_match(list, addr, strlen(addr));
}

static const char *parse(const char *s) {
  cidr_t r;
  return cidr_parse(s, strlen(s), &r);
}

static void test_ipv4_range_edges(void **state) {
  (void)state;
  assert_true(in("10.1.0.0/16", "10.1.0.0"));
  assert_true(in("10.1.0.0/16", "10.1.255.255"));
  assert_false(in("10.1.0.0/16", "10.0.255.255"));
  assert_false(in("10.1.0.0/16", "10.2.0.0"));
  /* A prefix that does not fall on a byte boundary. */
  assert_true(in("192.168.4.0/22", "192.168.7.255"));
  assert_false(in("192.168.4.0/22", "192.168.8.0"));
  assert_false(in("192.168.4.0/22", "192.168.3.255"));
  assert_true(in("172.16.0.0/12", "172.31.255.255"));
  assert_false(in("172.16.0.0/12", "172.32.0.0"));
}

static void test_single_addresses_are_32_and_128(void **state) {
  (void)state;
  assert_true(in("10.0.0.2", "10.0.0.2"));
  assert_false(in("10.0.0.2", "10.0.0.3"));
  assert_true(in("10.0.0.2/32", "10.0.0.2"));
  assert_false(in("10.0.0.2/32", "10.0.0.1"));
  assert_true(in("2001:db8::1/128", "2001:db8::1"));
  assert_false(in("2001:db8::1/128", "2001:db8::2"));
  assert_true(in("2001:db8::1", "2001:0db8:0:0::1")); /* another spelling, same address */
}

static void test_zero_prefix(void **state) {
  (void)state;
  assert_true(in("0.0.0.0/0", "255.255.255.255"));
  assert_true(in("0.0.0.0/0", "0.0.0.0"));
  /* An IPv4 /0 is every IPv4 address, not every address. */
  assert_false(in("0.0.0.0/0", "2001:db8::1"));
  assert_true(in("::/0", "2001:db8::1"));
  assert_true(in("::/0", "10.0.0.1"));
}

static void test_ipv6_ranges(void **state) {
  (void)state;
  assert_true(in("fd00::/8", "fdff:ffff::1"));
  assert_false(in("fd00::/8", "fe00::1"));
  assert_false(in("fd00::/8", "fc00::1"));
  assert_true(in("2001:db8:abcd::/48", "2001:db8:abcd:ffff::1"));
  assert_false(in("2001:db8:abcd::/48", "2001:db8:abce::"));
  assert_false(in("fd00::/8", "10.0.0.1"));
}

static void test_ipv4_mapped_ipv6(void **state) {
  (void)state;
  /* A dual-stack socket reports IPv4 peers as ::ffff:a.b.c.d. */
  assert_true(in("10.0.0.0/8", "::ffff:10.20.30.40"));
  assert_false(in("10.0.0.0/8", "::ffff:11.0.0.1"));
  assert_true(in("::ffff:10.0.0.0/104", "10.9.9.9"));
  assert_true(in("::ffff:0:0/96", "203.0.113.7"));
  assert_true(in("10.0.0.2", "::ffff:10.0.0.2"));
}

static void test_lists(void **state) {
  (void)state;
  assert_true(in("10.0.0.0/8, fd00::/8,127.0.0.1", "127.0.0.1"));
  assert_true(in("10.0.0.0/8, fd00::/8,127.0.0.1", "fd12::3"));
  assert_false(in("10.0.0.0/8, fd00::/8,127.0.0.1", "127.0.0.2"));
  assert_false(in("", "127.0.0.1"));
  assert_false(in(NULL, "127.0.0.1"));
  /* What is not an address (a hop with a port, garbage) is in no range. */
  assert_false(in("0.0.0.0/0", "10.0.0.1:8080"));
  assert_false(in("::/0", "unknown"));
  assert_false(in("::/0", ""));
}

static void test_bad_ranges_are_refused(void **state) {
  (void)state;
  assert_null(parse("10.0.0.0/8"));
  assert_null(parse("::/0"));
  assert_null(parse("0.0.0.0/0"));
  assert_non_null(parse("10.0.0.0/33"));
  assert_non_null(parse("fd00::/129"));
  assert_non_null(parse("10.0.0.0/"));
  assert_non_null(parse("10.0.0.0/-1"));
  assert_non_null(parse("10.0.0.0/8/8"));
  assert_non_null(parse("10.0.0.0/1000"));
  assert_non_null(parse("10.0.0.0/ 8"));
  assert_non_null(parse("10.0.0.1/8")); /* host bits set */
  assert_non_null(parse("fd00::1/8"));
  assert_non_null(parse("10.0.0"));
  assert_non_null(parse("300.0.0.1"));
  assert_non_null(parse("nginx"));
  assert_non_null(parse("/8"));
  assert_non_null(parse(""));
  assert_non_null(parse("1111:2222:3333:4444:5555:6666:7777:8888:9999:aaaa:bbbb:cccc"));

  char err[160];
  assert_null(cidr_list_check("10.0.0.0/8, ::1", err, sizeof(err)));
  assert_null(cidr_list_check("", err, sizeof(err)));
  assert_non_null(cidr_list_check("10.0.0.0/8, 10.0.0.0/40", err, sizeof(err)));
  assert_non_null(strstr(err, "10.0.0.0/40")); /* the message names the bad item */
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_ipv4_range_edges),
      cmocka_unit_test(test_single_addresses_are_32_and_128),
      cmocka_unit_test(test_zero_prefix),
      cmocka_unit_test(test_ipv6_ranges),
      cmocka_unit_test(test_ipv4_mapped_ipv6),
      cmocka_unit_test(test_lists),
      cmocka_unit_test(test_bad_ranges_are_refused),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
