/* addrguard: the SSRF guard of outbound HTTP (see addrguard.h). Pure. */
#include "parley/addrguard.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "parley/util.h"

/* Every range of IANA's IPv4 and IPv6 special-purpose address registries, also
 * those the registries mark globally reachable, and multicast: an api_call or a
 * bot webhook must reach an ordinary public host and nothing else. NAT64, 6to4
 * and Teredo are blocked whole, since each can lead back to a private IPv4. */
typedef struct prefix_s {
  unsigned char addr[16];
  unsigned bits;
} prefix_t;

static const prefix_t v4_blocked[] = {
    {{0}, 8},             /* "this network" */
    {{10}, 8},            /* private */
    {{100, 64}, 10},      /* shared address space (carrier-grade NAT) */
    {{127}, 8},           /* loopback */
    {{169, 254}, 16},     /* link-local, cloud metadata */
    {{172, 16}, 12},      /* private */
    {{192, 0, 0}, 24},    /* IETF protocol assignments */
    {{192, 0, 2}, 24},    /* documentation TEST-NET-1 */
    {{192, 31, 196}, 24}, /* AS112-v4 */
    {{192, 52, 193}, 24}, /* AMT */
    {{192, 88, 99}, 24},  /* deprecated 6to4 relay anycast */
    {{192, 168}, 16},     /* private */
    {{192, 175, 48}, 24}, /* direct delegation AS112 */
    {{198, 18}, 15},      /* benchmarking */
    {{198, 51, 100}, 24}, /* documentation TEST-NET-2 */
    {{203, 0, 113}, 24},  /* documentation TEST-NET-3 */
    {{224}, 4},           /* multicast */
    {{240}, 4},           /* reserved, and 255.255.255.255 broadcast */
};

static const prefix_t v6_blocked[] = {
    {{0}, 96},                                  /* ::, ::1 and IPv4-compatible */
    {{0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff}, 96}, /* IPv4-translated ::ffff:0:0:0/96 */
    {{0, 0x64, 0xff, 0x9b}, 96},                /* NAT64 well-known prefix */
    {{0, 0x64, 0xff, 0x9b, 0, 1}, 48},          /* local-use IPv4/IPv6 translation */
    {{0x01, 0}, 64},                            /* discard-only 100::/64 */
    {{0x01, 0, 0, 0, 0, 0, 0, 1}, 64},          /* dummy IPv6 prefix 100:0:0:1::/64 */
    {{0x20, 0x01}, 23},                         /* IETF protocol assignments, Teredo */
    {{0x20, 0x01, 0x0d, 0xb8}, 32},             /* documentation */
    {{0x20, 0x02}, 16},                         /* 6to4 */
    {{0x26, 0x20, 0, 0x4f, 0x80}, 48},          /* direct delegation AS112 */
    {{0x3f, 0xff}, 20},                         /* documentation 3fff::/20 */
    {{0x5f, 0}, 16},                            /* segment routing SIDs */
    {{0xfc}, 7},                                /* unique local */
    {{0xfe, 0x80}, 10},                         /* link-local */
    {{0xfe, 0xc0}, 10},                         /* deprecated site-local */
    {{0xff}, 8},                                /* multicast */
};

static int in_prefix(const unsigned char *a, const prefix_t *p) {
  unsigned full = p->bits / 8, rest = p->bits % 8;
  if (memcmp(a, p->addr, full) != 0) return 0;
  if (rest == 0) return 1;
  unsigned char mask = (unsigned char)(0xff << (8 - rest));
  return (a[full] & mask) == (p->addr[full] & mask);
}

static int in_any(const unsigned char *a, const prefix_t *list, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (in_prefix(a, &list[i])) return 1;
  return 0;
}

int addrguard_is_private(const struct sockaddr *addr) {
  if (addr->sa_family == AF_INET) {
    const unsigned char *b =
        (const unsigned char *)&((const struct sockaddr_in *)addr)->sin_addr.s_addr;
    return in_any(b, v4_blocked, sizeof(v4_blocked) / sizeof(v4_blocked[0]));
  }
  if (addr->sa_family == AF_INET6) {
    const unsigned char *b = ((const struct sockaddr_in6 *)addr)->sin6_addr.s6_addr;
    static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    /* An IPv4-mapped address is judged as the IPv4 address it carries. */
    if (memcmp(b, mapped, 12) == 0)
      return in_any(b + 12, v4_blocked, sizeof(v4_blocked) / sizeof(v4_blocked[0]));
    return in_any(b, v6_blocked, sizeof(v6_blocked) / sizeof(v6_blocked[0]));
  }
  return 1; /* anything that is not IP is never an api_call target */
}

int addrguard_allowed(const char *allow, const char *host, int port, const struct sockaddr *addr) {
  /* host[:port] entries of api_call_allow lift the guard for that destination. */
  const char *p = allow ? allow : "";
  size_t hlen = strlen(host);
  while (*p) {
    while (*p == ',' || *p == ' ') p++;
    const char *end = p;
    while (*end && *end != ',') end++;
    const char *tail = end;
    while (tail > p && tail[-1] == ' ') tail--;
    size_t len = (size_t)(tail - p);
    if (len >= hlen && util_strncasecmp(p, host, hlen) == 0) {
      if (len == hlen) return 1;
      if (p[hlen] == ':' && atoi(p + hlen + 1) == port) return 1;
    }
    p = end;
  }
  return !addrguard_is_private(addr);
}

int addrguard_check(void *ctx, const char *host, int port, const struct sockaddr *addr) {
  return addrguard_allowed(ctx, host, port, addr);
}
