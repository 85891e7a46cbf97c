/* Email rules for accounts: trimmed, lower-cased, and shaped like an address
 * (local@domain with a dot in the domain). Pure; any thread. */
#include <ctype.h>
#include <string.h>

#include "parley/auth.h"

#define EMAIL_MAX 254

static int is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

/* Printable ASCII without spaces or characters that have no place in a plain
 * address; internationalised addresses are out of scope for v1. */
static int allowed(unsigned char c) {
  return c > 0x20 && c < 0x7f && c != '"' && c != '(' && c != ')' && c != ',' && c != ':' &&
         c != ';' && c != '<' && c != '>' && c != '[' && c != ']' && c != '\\';
}

static int check_domain(const char *d, size_t len) {
  if (len < 3 || d[0] == '.' || d[0] == '-' || d[len - 1] == '.' || d[len - 1] == '-') return -1;
  if (!memchr(d, '.', len)) return -1;
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)d[i];
    if (!(isalnum(c) || c == '-' || c == '.')) return -1;
    if (c == '.' && d[i + 1] == '.') return -1;
  }
  return 0;
}

int auth_email_normalize(const char *in, size_t len, char out[255]) {
  while (len > 0 && is_space(in[0])) in++, len--;
  while (len > 0 && is_space(in[len - 1])) len--;
  if (len < 3 || len > EMAIL_MAX) return -1;
  const char *at = NULL;
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)in[i];
    if (!allowed(c)) return -1;
    if (c == '@') {
      if (at) return -1;
      at = in + i;
    }
    out[i] = (char)tolower(c);
  }
  out[len] = '\0';
  if (!at || at == in || (size_t)(at - in) > 64) return -1;
  return check_domain(out + (at - in) + 1, len - (size_t)(at - in) - 1);
}
