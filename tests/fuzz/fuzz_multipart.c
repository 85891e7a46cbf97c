/* Fuzz target: a multipart/form-data upload body (handlers/multipart.c). The
 * input is a Content-Type header value up to the first newline, then a byte
 * that sets the piece size, then the body, fed in pieces of that size so a
 * boundary straddles pieces. The parser must never crash, read past a piece,
 * or call back out of order: bytes only inside a part it was asked to take,
 * every taken part ended at most once. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "handlers/multipart.h"

typedef struct order_s {
  int in_part; /* on_part said 1 and its end has not come */
  size_t bytes;
} order_t;

static int on_part(void *ctx, const char *name, const char *filename, const char *type) {
  order_t *o = ctx;
  if (o->in_part) abort(); /* a part began before the last one ended */
  if (name && strlen(name) > MULTIPART_FIELD_MAX) abort();
  if (filename && strlen(filename) > MULTIPART_FIELD_MAX) abort();
  if (type && strlen(type) > MULTIPART_FIELD_MAX) abort();
  /* Take the parts named file, skip the others: both paths run. */
  o->in_part = name && strcmp(name, "file") == 0;
  return o->in_part;
}

static void on_data(void *ctx, const char *data, size_t len) {
  order_t *o = ctx;
  if (!o->in_part || len == 0) abort();
  volatile char sink = data[0] ^ data[len - 1]; /* every byte given is readable */
  (void)sink;
  o->bytes += len;
}

static void on_part_end(void *ctx) {
  order_t *o = ctx;
  if (!o->in_part) abort();
  o->in_part = 0;
}

static const multipart_cbs_t cbs = {on_part, on_data, on_part_end};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const uint8_t *nl = memchr(data, '\n', size < 256 ? size : 256);
  if (!nl || (size_t)(nl - data) + 2 > size) return 0;
  char type[257];
  size_t tlen = (size_t)(nl - data);
  memcpy(type, data, tlen);
  type[tlen] = '\0';
  size_t piece = (size_t)nl[1] + 1;
  const uint8_t *body = nl + 2;
  size_t blen = size - (size_t)(body - data);
  multipart_t *m = malloc(sizeof(*m));
  order_t o = {0, 0};
  if (!m) return 0;
  if (multipart_init(m, type, &cbs, &o) == 0) {
    int rc = 0;
    for (size_t at = 0; at < blen && rc == 0; at += piece) {
      size_t n = blen - at < piece ? blen - at : piece;
      /* Each piece in its own allocation: ASan sees a read past it. */
      char *copy = malloc(n);
      if (!copy) break;
      memcpy(copy, body + at, n);
      rc = multipart_feed(m, copy, n);
      free(copy);
    }
    if (o.bytes > blen) abort(); /* more bytes out than came in */
    if (rc == 0) multipart_finish(m);
  }
  free(m);
  return 0;
}
