/* Fuzz target: trusted_proxies ranges (the first line) and X-Forwarded-For hops
 * (the rest, comma-separated), the outside input matched against them. Parsing
 * and matching must never crash or read out of bounds, and a range that parses
 * must hold its own network address. */
#include <assert.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "parley/cidr.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *s = malloc(size + 1);
  if (!s) return 0;
  memcpy(s, data, size);
  s[size] = '\0'; /* the list is a C string, as in the configuration */
  char *nl = strchr(s, '\n');
  const char *hops = nl ? nl + 1 : "";
  if (nl) *nl = '\0';
  char err[160];
  cidr_list_check(s, err, sizeof(err));
  size_t hops_len = nl ? size - (size_t)(hops - s) : 0;
  for (const char *p = hops, *end = hops + hops_len; p < end;) {
    const char *comma = memchr(p, ',', (size_t)(end - p));
    size_t len = comma ? (size_t)(comma - p) : (size_t)(end - p);
    cidr_list_match(s, p, len);
    p += len + 1;
  }
  cidr_t r;
  if (!cidr_parse(s, strlen(s), &r)) {
    /* The network address itself, written back as text, lies in the range. */
    char text[64];
    const unsigned char *a = r.addr;
    static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (memcmp(a, mapped, 12) == 0 && r.bits >= 96)
      snprintf(text, sizeof(text), "%u.%u.%u.%u", a[12], a[13], a[14], a[15]);
    else
      snprintf(text, sizeof(text), "%x:%x:%x:%x:%x:%x:%x:%x", a[0] << 8 | a[1], a[2] << 8 | a[3],
               a[4] << 8 | a[5], a[6] << 8 | a[7], a[8] << 8 | a[9], a[10] << 8 | a[11],
               a[12] << 8 | a[13], a[14] << 8 | a[15]);
    assert(cidr_contains(&r, text, strlen(text)));
  }
  free(s);
  return 0;
}
