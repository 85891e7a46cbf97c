/* Address ranges in CIDR notation for trusted_proxies: "10.0.0.0/8", "fd00::/8",
 * or a single address (a /32 or /128). IPv4 is compared as IPv4-mapped IPv6
 * (::ffff:a.b.c.d), so 10.0.0.1 and ::ffff:10.0.0.1 (a peer on a dual-stack
 * socket) fall in the same ranges. Pure functions; any thread. */
#ifndef PARLEY_CIDR_H
#define PARLEY_CIDR_H

#include <stddef.h>

typedef struct cidr_s {
  unsigned char addr[16]; /* IPv6, or IPv4-mapped IPv6; host bits zero */
  unsigned bits;          /* prefix length on the 128-bit form */
} cidr_t;

/* Parses one range from [s, s+len): an IPv4 or IPv6 address with an optional
 * /prefix (0..32 or 0..128). Returns NULL, or why it is not one (a static
 * string): a bad address, a bad prefix, or host bits set beyond the prefix. */
const char *cidr_parse(const char *s, size_t len, cidr_t *out);
/* 1 when the textual address [addr, addr+len) lies in the range. An address
 * that does not parse lies in none. */
int cidr_contains(const cidr_t *range, const char *addr, size_t len);

/* Checks a list of ranges separated by commas and/or spaces. Returns NULL, or
 * writes the offending item and why into err (errlen bytes) and returns err. */
const char *cidr_list_check(const char *list, char *err, size_t errlen);
/* 1 when [addr, addr+len) lies in a range of the list; items that do not parse
 * match nothing. */
int cidr_list_match(const char *list, const char *addr, size_t len);

#endif
