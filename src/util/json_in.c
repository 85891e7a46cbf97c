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
  char *scratch; /* a string's unescaped bytes */
  size_t cap;
} in_t;

static void skip_ws(in_t *in) {
  while (in->p < in->end && (*in->p == ' ' || *in->p == '\t' || *in->p == '\n' || *in->p == '\r'))
    in->p++;
}

/* A string at in->p (after its opening quote) into in->scratch: its length, or
 * -1 when it is not of the common case. */
static long read_string(in_t *in) {
  size_t n = 0;
  if (!in->scratch && !(in->scratch = malloc(in->cap = 256))) return -1;
  for (;;) {
    if (in->p >= in->end) return -1;
    unsigned char c = (unsigned char)*in->p++;
    if (c == '"') return (long)n;
    if (c < 0x20 || c > 0x7e) return -1; /* control characters are errors; UTF-8 goes to jansson */
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
    if (n == in->cap) {
      size_t cap = in->cap * 2;
      char *s = realloc(in->scratch, cap);
      if (!s) return -1;
      in->scratch = s;
      in->cap = cap;
    }
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
    long n = read_string(in);
    if (n < 0) goto fail;
    char key[256];
    if ((size_t)n >= sizeof(key)) goto fail;
    memcpy(key, in->scratch, (size_t)n);
    key[n] = '\0';
    skip_ws(in);
    if (in->p >= in->end || *in->p != ':') goto fail;
    in->p++;
    json_t *v = read_value(in, depth + 1);
    if (!v || json_object_setn_new_nocheck(obj, key, (size_t)n, v) != 0) goto fail;
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
      long n = read_string(in);
      return n < 0 ? NULL : json_stringn_nocheck(in->scratch, (size_t)n);
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
  in_t in = {buf, buf + len, NULL, 0};
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
  return json_loadb(buf, len, 0, err);
}
