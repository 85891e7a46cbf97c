/* JSON text to a jansson value for the common case (see parley/json_in.h): a
 * recursive descent over the buffer that builds the tree jansson would, and
 * hands the whole text to json_loadb at the first thing outside that case.
 * No state; any thread. */
#include "parley/json_in.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct in_s {
  const char *p, *end;
  size_t flags;  /* 0 or JSON_REJECT_DUPLICATES */
  char *scratch; /* a string's unescaped bytes */
  size_t cap;
} in_t;

static void skip_ws(in_t *in) {
  while (in->p < in->end && (*in->p == ' ' || *in->p == '\t' || *in->p == '\n' || *in->p == '\r'))
    in->p++;
}

/* Texts handed to json_loadb by this thread (json_in_handed_over). */
static _Thread_local unsigned long handed_over;

unsigned long json_in_handed_over(void) { return handed_over; }

/* Room for k more bytes in in->scratch. */
static __attribute__((noinline)) int room(in_t *in, size_t n, size_t k) {
  while (n + k > in->cap) {
    size_t cap = in->cap * 2;
    char *s = realloc(in->scratch, cap);
    if (!s) return -1;
    in->scratch = s;
    in->cap = cap;
  }
  return 0;
}

/* The length of the UTF-8 sequence at in->p - 1 (its lead byte c), checked as
 * jansson's utf8_check_first and utf8_check_full check it: continuation
 * bytes, no overlong form, no UTF-16 surrogate, nothing past U+10FFFF; 0 when
 * it is not valid (jansson then refuses the text). */
static size_t utf8_sequence(const in_t *in, unsigned char c) {
  size_t k = c >= 0xc2 && c <= 0xdf   ? 2
             : c >= 0xe0 && c <= 0xef ? 3
             : c >= 0xf0 && c <= 0xf4 ? 4
                                      : 0;
  if (!k || (size_t)(in->end - in->p) < k - 1) return 0;
  uint32_t v = c & (k == 2 ? 0x1f : k == 3 ? 0x0f : 0x07);
  for (size_t i = 0; i < k - 1; i++) {
    unsigned char u = (unsigned char)in->p[i];
    if (u < 0x80 || u > 0xbf) return 0;
    v = (v << 6) | (u & 0x3f);
  }
  if (v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff)) return 0;
  if ((k == 2 && v < 0x80) || (k == 3 && v < 0x800) || (k == 4 && v < 0x10000)) return 0;
  return k;
}

/* The UTF-8 sequence led by c (at in->p - 1) onto in->scratch at n: the new
 * length, or -1 when it is not valid. Out of read_string's loop, which ASCII
 * keeps tight (n stays in a register there). */
static __attribute__((noinline)) long copy_utf8(in_t *in, unsigned char c, size_t n) {
  size_t k = utf8_sequence(in, c);
  if (!k || room(in, n, k) != 0) return -1;
  in->scratch[n++] = (char)c;
  memcpy(in->scratch + n, in->p, k - 1);
  in->p += k - 1;
  return (long)(n + k - 1);
}

/* A byte a string holds as it is: printable ASCII but the quote and the
 * backslash. */
static int plain(unsigned char c) { return c >= 0x20 && c < 0x80 && c != '"' && c != '\\'; }

/* A string at in->p (after its opening quote): its length, with *s its bytes,
 * or -1 when it is not of the common case. A string of plain bytes (ids, keys,
 * most texts) is found in the text itself and not copied; one with an escape, a
 * control character or UTF-8 is unescaped into in->scratch, the plain bytes
 * before it first. */
static long read_string(in_t *in, const char **s) {
  const char *start = in->p, *p = start;
  while (p < in->end && plain((unsigned char)*p)) p++;
  if (p < in->end && *p == '"') {
    in->p = p + 1;
    *s = start;
    return (long)(p - start);
  }
  size_t n = (size_t)(p - start);
  if (!in->scratch && !(in->scratch = malloc(in->cap = 256))) return -1;
  if (room(in, 0, n) != 0) return -1;
  memcpy(in->scratch, start, n);
  in->p = p;
  for (;;) {
    if (in->p >= in->end) return -1;
    unsigned char c = (unsigned char)*in->p++;
    if (c == '"') {
      *s = in->scratch; /* where it is now: room() may have moved it */
      return (long)n;
    }
    if ((unsigned)(c - 0x20) >= 0x60u) { /* below 0x20 or above 0x7f, in one compare */
      /* Control characters are errors: jansson's. UTF-8 (accents, emoji) is
       * copied as it is once checked; an invalid sequence goes to jansson,
       * which refuses it. */
      long m = c < 0x20 ? -1 : copy_utf8(in, c, n);
      if (m < 0) return -1;
      n = (size_t)m;
      continue;
    }
    if (c == '\\') {
      if (in->p >= in->end) return -1;
      switch (*in->p++) {
        case '"':
          c = '"';
          break;
        case '\\':
          c = '\\';
          break;
        case '/':
          c = '/';
          break;
        case 'b':
          c = '\b';
          break;
        case 'f':
          c = '\f';
          break;
        case 'n':
          c = '\n';
          break;
        case 'r':
          c = '\r';
          break;
        case 't':
          c = '\t';
          break;
        default:
          return -1; /* \u and errors */
      }
    }
    if (n == in->cap && room(in, n, 1) != 0) return -1;
    in->scratch[n++] = (char)c;
  }
}

static json_t *read_value(in_t *in, int depth);

static json_t *read_number(in_t *in) {
  const char *s = in->p;
  int neg = s < in->end && *s == '-';
  if (neg) s++;
  const char *digits = s;
  while (s < in->end && *s >= '0' && *s <= '9') s++;
  size_t nd = (size_t)(s - digits);
  /* No digits, a leading zero, a fraction or an exponent, or possibly too
   * big: jansson's. */
  if (nd == 0 || nd > 18 || (nd > 1 && *digits == '0')) return NULL;
  if (s < in->end && (*s == '.' || *s == 'e' || *s == 'E')) return NULL;
  int64_t v = 0;
  for (const char *d = digits; d < s; d++) v = v * 10 + (*d - '0');
  in->p = s;
  return json_integer(neg ? -v : v);
}

static int literal(in_t *in, const char *word, size_t n) {
  if ((size_t)(in->end - in->p) < n || memcmp(in->p, word, n) != 0) return 0;
  in->p += n;
  return 1;
}

static json_t *read_object(in_t *in, int depth) {
  json_t *obj = json_object();
  if (!obj) return NULL;
  skip_ws(in);
  if (in->p < in->end && *in->p == '}') {
    in->p++;
    return obj;
  }
  for (;;) {
    skip_ws(in);
    if (in->p >= in->end || *in->p != '"') goto fail;
    in->p++;
    const char *ks;
    long n = read_string(in, &ks);
    if (n < 0) goto fail;
    char key[256];
    if ((size_t)n >= sizeof(key)) goto fail;
    /* The value's strings reuse in->scratch: a key there is copied first. */
    if (ks == in->scratch) ks = memcpy(key, ks, (size_t)n);
    skip_ws(in);
    if (in->p >= in->end || *in->p != ':') goto fail;
    in->p++;
    json_t *v = read_value(in, depth + 1);
    /* A repeated key, refused: jansson says so, with its error. The set
     * replaces a repeated key's value, so the object does not grow: no look-up
     * of every key first (500 instructions a message.send). */
    size_t size = json_object_size(obj);
    if (!v || json_object_setn_new_nocheck(obj, ks, (size_t)n, v) != 0) goto fail;
    if ((in->flags & JSON_REJECT_DUPLICATES) && json_object_size(obj) == size) goto fail;
    skip_ws(in);
    if (in->p < in->end && *in->p == ',') {
      in->p++;
      continue;
    }
    if (in->p < in->end && *in->p == '}') {
      in->p++;
      return obj;
    }
    goto fail;
  }
fail:
  json_decref(obj);
  return NULL;
}

static json_t *read_array(in_t *in, int depth) {
  json_t *arr = json_array();
  if (!arr) return NULL;
  skip_ws(in);
  if (in->p < in->end && *in->p == ']') {
    in->p++;
    return arr;
  }
  for (;;) {
    json_t *v = read_value(in, depth + 1);
    if (!v || json_array_append_new(arr, v) != 0) goto fail;
    skip_ws(in);
    if (in->p < in->end && *in->p == ',') {
      in->p++;
      continue;
    }
    if (in->p < in->end && *in->p == ']') {
      in->p++;
      return arr;
    }
    goto fail;
  }
fail:
  json_decref(arr);
  return NULL;
}

/* A value at in->p, or NULL when it is not of the common case. */
static json_t *read_value(in_t *in, int depth) {
  if (depth > JSON_IN_MAX_DEPTH) return NULL;
  skip_ws(in);
  if (in->p >= in->end) return NULL;
  switch (*in->p) {
    case '{':
      in->p++;
      return read_object(in, depth);
    case '[':
      in->p++;
      return read_array(in, depth);
    case '"': {
      in->p++;
      const char *sv;
      long n = read_string(in, &sv);
      return n < 0 ? NULL : json_stringn_nocheck(sv, (size_t)n);
    }
    case 't':
      return literal(in, "true", 4) ? json_true() : NULL;
    case 'f':
      return literal(in, "false", 5) ? json_false() : NULL;
    case 'n':
      return literal(in, "null", 4) ? json_null() : NULL;
    default:
      return read_number(in);
  }
}

json_t *json_in_loadb(const char *buf, size_t len, json_error_t *err) {
  return json_in_loadb_flags(buf, len, 0, err);
}

json_t *json_in_loadb_flags(const char *buf, size_t len, size_t flags, json_error_t *err) {
  if (flags & ~(size_t)JSON_REJECT_DUPLICATES) {
    handed_over++;
    return json_loadb(buf, len, flags, err);
  }
  in_t in = {buf, buf + len, flags, NULL, 0};
  json_t *v = NULL;
  skip_ws(&in);
  /* At the top an object or an array, as json_loadb without JSON_DECODE_ANY. */
  if (in.p < in.end && (*in.p == '{' || *in.p == '[')) v = read_value(&in, 0);
  free(in.scratch);
  if (v) {
    skip_ws(&in);
    if (in.p == in.end) return v;
    json_decref(v);
  }
  handed_over++;
  return json_loadb(buf, len, flags, err);
}
