/* A growable byte buffer with an optional hard cap. Owned by whoever embeds it;
 * not thread-safe. */
#ifndef PARLEY_BUF_H
#define PARLEY_BUF_H

#include <stddef.h>

typedef struct buf_s {
  char *data;
  size_t len;
  size_t cap;
} buf_t;

void buf_init(buf_t *b);
/* Frees the storage and leaves an empty buffer. */
void buf_free(buf_t *b);
/* Appends; returns 0, or -1 when memory runs out (the buffer is unchanged). */
int buf_append(buf_t *b, const void *data, size_t len);
int buf_append_str(buf_t *b, const char *s);
int buf_printf(buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Makes room for `extra` more bytes; returns 0 or -1. */
int buf_reserve(buf_t *b, size_t extra);
/* Drops the first n bytes. */
void buf_consume(buf_t *b, size_t n);
/* Hands the storage to the caller (NUL-terminated) and leaves the buffer empty. */
char *buf_steal(buf_t *b);

#endif
