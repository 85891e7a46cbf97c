/* CIDR ranges: parsing with inet_pton and a prefix, and matching on the 128-bit
 * form (IPv4 mapped into ::ffff:0:0/96). Pure functions; any thread. */
#include "parley/cidr.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#define ADDR_MAX 64 /* longer than any textual IPv6 address */

static const unsigned char v4_mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

/* Parses a bare address into its 128-bit form; *is_v4 tells which notation. */
static int parse_addr(const char *s, size_t len, unsigned char out[16], int *is_v4) {
  char tmp[ADDR_MAX];
  if (len == 0 || len >= sizeof(tmp)) return -1;
  memcpy(tmp, s, len);
  tmp[len] = '\0';
  struct in_addr v4;
  if (inet_pton(AF_INET, tmp, &v4) == 1) {
    memcpy(out, v4_mapped, 12);
    memcpy(out + 12, &v4, 4);
    *is_v4 = 1;
    return 0;
  }
  struct in6_addr v6;
  if (inet_pton(AF_INET6, tmp, &v6) == 1) {
    memcpy(out, &v6, 16);
    *is_v4 = 0;
    return 0;
  }
  return -1;
}

/* 1 when a and b agree on their first bits bits. */
static int prefix_equal(const unsigned char *a, const unsigned char *b, unsigned bits) {
  unsigned whole = bits / 8, rest = bits % 8;
  if (memcmp(a, b, whole) != 0) return 0;
  if (rest == 0) return 1;
  unsigned char mask = (unsigned char)(0xff << (8 - rest));
  return (a[whole] & mask) == (b[whole] & mask);
}

const char *cidr_parse(const char *s, size_t len, cidr_t *out) {
  const char *slash = memchr(s, '/', len);
  size_t alen = slash ? (size_t)(slash - s) : len;
  int is_v4 = 0;
  if (parse_addr(s, alen, out->addr, &is_v4) != 0) return "not an IPv4 or IPv6 address";
  unsigned max = is_v4 ? 32 : 128, bits = max;
  if (slash) {
    const char *p = slash + 1, *end = s + len;
    if (p == end || end - p > 3) return "bad prefix length";
    bits = 0;
    for (; p < end; p++) {
      if (*p < '0' || *p > '9') return "bad prefix length";
      bits = bits * 10 + (unsigned)(*p - '0');
    }
    if (bits > max) return is_v4 ? "prefix longer than 32" : "prefix longer than 128";
  }
  out->bits = is_v4 ? bits + 96 : bits;
  /* Host bits set (10.0.0.1/8) are most likely a typo for another range. */
  for (unsigned b = out->bits; b < 128; b++)
    if (out->addr[b / 8] & (0x80 >> (b % 8))) return "host bits set beyond the prefix";
  return NULL;
}

int cidr_contains(const cidr_t *range, const char *addr, size_t len) {
  unsigned char a[16];
  int is_v4;
  if (parse_addr(addr, len, a, &is_v4) != 0) return 0;
  return prefix_equal(a, range->addr, range->bits);
}

/* Calls fn on each item of the list until it returns nonzero; returns that. */
static int list_each(const char *list, int (*fn)(const char *s, size_t len, void *arg), void *arg) {
  for (const char *p = list ? list : ""; *p;) {
    while (*p == ',' || *p == ' ') p++;
    const char *end = p;
    while (*end && *end != ',' && *end != ' ') end++;
    if (end > p) {
      int rc = fn(p, (size_t)(end - p), arg);
      if (rc) return rc;
    }
    p = end;
  }
  return 0;
}

typedef struct check_s {
  char *err;
  size_t errlen;
} check_t;

static int check_item(const char *s, size_t len, void *arg) {
  check_t *c = arg;
  cidr_t r;
  const char *why = cidr_parse(s, len, &r);
  if (!why) return 0;
  snprintf(c->err, c->errlen, "\"%.*s\": %s", len > 64 ? 64 : (int)len, s, why);
  return 1;
}

const char *cidr_list_check(const char *list, char *err, size_t errlen) {
  check_t c = {err, errlen};
  return list_each(list, check_item, &c) ? err : NULL;
}

typedef struct match_s {
  const char *addr;
  size_t len;
} match_t;

static int match_item(const char *s, size_t len, void *arg) {
  match_t *m = arg;
  cidr_t r;
  return cidr_parse(s, len, &r) == NULL && cidr_contains(&r, m->addr, m->len);
}

int cidr_list_match(const char *list, const char *addr, size_t len) {
  match_t m = {addr, len};
  return list_each(list, match_item, &m);
}
