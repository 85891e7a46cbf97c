/* Compact JSON text as jansson's json_dumps(JSON_COMPACT) writes it (see
 * parley/json_out.h): objects in their keys' insertion order, strings escaped
 * as jansson does (", \, the control characters: \b \f \n \r \t or \u00XX in
 * upper-case hex; nothing else, UTF-8 as is), integers in decimal. A real
 * (none in a message) and anything nested deeper than JSON_OUT_MAX_DEPTH are
 * handed to jansson itself, so the text is the same whatever the value. No
 * state; any thread. */
#include "parley/json_out.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "parley/buf.h"

#define JSON_OUT_MAX_DEPTH 64

static int put(buf_t *b, const char *s, size_t n) { return buf_append(b, s, n); }

static int put_string(buf_t *b, const char *s, size_t n) {
  static const char hex[] = "0123456789ABCDEF";
  if (buf_reserve(b, n + 2) != 0) return -1;
  b->data[b->len++] = '"';
  size_t run = 0; /* start of the bytes not yet copied */
  for (size_t i = 0; i < n; i++) {
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
  return put(b, "\"", 1);
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
      if (put(b, "{", 1) != 0) return -1;
      const char *key;
      size_t klen;
      json_t *m;
      int first = 1;
      json_object_keylen_foreach((json_t *)v, key, klen, m) {
        if ((!first && put(b, ",", 1) != 0) || put_string(b, key, klen) != 0 ||
            put(b, ":", 1) != 0 || put_value(b, m, depth + 1) != 0)
          return -1;
        first = 0;
      }
      return put(b, "}", 1);
    }
    case JSON_ARRAY: {
      if (depth >= JSON_OUT_MAX_DEPTH) return put_jansson(b, v);
      if (put(b, "[", 1) != 0) return -1;
      for (size_t i = 0, n = json_array_size(v); i < n; i++)
        if ((i && put(b, ",", 1) != 0) || put_value(b, json_array_get(v, i), depth + 1) != 0)
          return -1;
      return put(b, "]", 1);
    }
    case JSON_STRING:
      return put_string(b, json_string_value(v), json_string_length(v));
    case JSON_INTEGER: {
      char num[24];
      int n = snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
      return put(b, num, (size_t)n);
    }
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
  *len = b.len;
  return buf_steal(&b);
}
