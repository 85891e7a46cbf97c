/* Compact JSON text as jansson's json_dumps(JSON_COMPACT) writes it (see
 * parley/json_out.h): objects in their keys' insertion order, strings escaped
 * as jansson does (", \, the control characters: \b \f \n \r \t or \u00XX in
 * upper-case hex; nothing else, UTF-8 as is), integers in decimal. A real
 * (none in a message) and anything nested deeper than JSON_OUT_MAX_DEPTH are
 * handed to jansson itself, so the text is the same whatever the value. No
 * state; any thread. */
#include "parley/json_out.h"

#include <stdlib.h>
#include <string.h>

#include "parley/buf.h"

#define JSON_OUT_MAX_DEPTH 64

/* The writers below store into the buffer directly, with room made first: a
 * buf_append per token (two a string, one a comma or colon) was a third of a
 * message's encoding. The text is NUL-terminated once, at the end. */
static int put(buf_t *b, const char *s, size_t n) {
  if (b->len + n >= b->cap && buf_reserve(b, n) != 0) return -1;
  memcpy(b->data + b->len, s, n);
  b->len += n;
  return 0;
}

static int put_ch(buf_t *b, char c) {
  if (b->len + 1 >= b->cap && buf_reserve(b, 1) != 0) return -1;
  b->data[b->len++] = c;
  return 0;
}

/* The escaped string from its first byte that needs escaping, at i. */
static int put_escaped(buf_t *b, const char *s, size_t n, size_t i) {
  static const char hex[] = "0123456789ABCDEF";
  size_t run = 0; /* start of the bytes not yet copied */
  for (; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c >= 0x20 && c != '"' && c != '\\') continue;
    if (put(b, s + run, i - run) != 0) return -1;
    char esc[6] = {'\\', 0};
    size_t elen = 2;
    switch (c) {
      case '"':
        esc[1] = '"';
        break;
      case '\\':
        esc[1] = '\\';
        break;
      case '\b':
        esc[1] = 'b';
        break;
      case '\f':
        esc[1] = 'f';
        break;
      case '\n':
        esc[1] = 'n';
        break;
      case '\r':
        esc[1] = 'r';
        break;
      case '\t':
        esc[1] = 't';
        break;
      default:
        esc[1] = 'u';
        esc[2] = '0';
        esc[3] = '0';
        esc[4] = hex[c >> 4];
        esc[5] = hex[c & 15];
        elen = 6;
    }
    if (put(b, esc, elen) != 0) return -1;
    run = i + 1;
  }
  if (put(b, s + run, n - run) != 0) return -1;
  return put_ch(b, '"');
}

/* Most strings (ids, keys, a message's text) need no escape: one scan, then
 * one copy into the room made for them and their quotes. */
static int put_string(buf_t *b, const char *s, size_t n) {
  if (buf_reserve(b, n + 2) != 0) return -1;
  b->data[b->len++] = '"';
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c < 0x20 || c == '"' || c == '\\') return put_escaped(b, s, n, i);
  }
  memcpy(b->data + b->len, s, n);
  b->len += n;
  b->data[b->len++] = '"';
  return 0;
}

/* An integer in decimal, as "%" JSON_INTEGER_FORMAT writes it (snprintf was
 * 500 instructions of each message's encoding). */
static int put_integer(buf_t *b, json_int_t v) {
  char num[24];
  size_t at = sizeof(num);
  /* Negative numbers count down from 0, so the smallest has no overflow. */
  int neg = v < 0;
  do {
    json_int_t q = v / 10;
    int digit = (int)(v - q * 10);
    num[--at] = (char)('0' + (neg ? -digit : digit));
    v = q;
  } while (v != 0);
  if (neg) num[--at] = '-';
  return put(b, num + at, sizeof(num) - at);
}

/* jansson's own text for what is not written here. */
static int put_jansson(buf_t *b, const json_t *v) {
  char *t = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
  if (!t) return -1;
  int rc = put(b, t, strlen(t));
  free(t);
  return rc;
}

static int put_value(buf_t *b, const json_t *v, int depth) {
  switch (json_typeof(v)) {
    case JSON_OBJECT: {
      if (depth >= JSON_OUT_MAX_DEPTH) return put_jansson(b, v);
      if (put_ch(b, '{') != 0) return -1;
      const char *key;
      size_t klen;
      json_t *m;
      int first = 1;
      json_object_keylen_foreach((json_t *)v, key, klen, m) {
        if ((!first && put_ch(b, ',') != 0) || put_string(b, key, klen) != 0 ||
            put_ch(b, ':') != 0 || put_value(b, m, depth + 1) != 0)
          return -1;
        first = 0;
      }
      return put_ch(b, '}');
    }
    case JSON_ARRAY: {
      if (depth >= JSON_OUT_MAX_DEPTH) return put_jansson(b, v);
      if (put_ch(b, '[') != 0) return -1;
      for (size_t i = 0, n = json_array_size(v); i < n; i++)
        if ((i && put_ch(b, ',') != 0) || put_value(b, json_array_get(v, i), depth + 1) != 0)
          return -1;
      return put_ch(b, ']');
    }
    case JSON_STRING:
      return put_string(b, json_string_value(v), json_string_length(v));
    case JSON_INTEGER:
      return put_integer(b, json_integer_value(v));
    case JSON_TRUE:
      return put(b, "true", 4);
    case JSON_FALSE:
      return put(b, "false", 5);
    case JSON_NULL:
      return put(b, "null", 4);
    default: /* JSON_REAL: jansson's precision and its ".0" */
      return put_jansson(b, v);
  }
}

char *json_out_dumps(const json_t *v, size_t *len) {
  *len = 0;
  if (!v) return NULL;
  buf_t b;
  buf_init(&b);
  if (buf_reserve(&b, 512) != 0 || put_value(&b, v, 0) != 0) {
    buf_free(&b);
    return NULL;
  }
  b.data[b.len] = '\0'; /* put_* leave room for it (buf_reserve) */
  *len = b.len;
  return buf_steal(&b);
}

int json_out_string(buf_t *b, const char *s, size_t n) { return put_string(b, s, n); }
