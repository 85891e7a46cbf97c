/* A token bucket in this process's memory: `rate` tokens a second, at most
 * `burst`, full when new. The WebSocket frame rate keeps one per session; the
 * bus keeps them by key while Redis is down (and always on the in-process
 * bus). Pure: time is passed in; the caller owns the bucket. */
#ifndef PARLEY_BUCKET_H
#define PARLEY_BUCKET_H

#include <stdint.h>

typedef struct bucket_s {
  double tokens;
  uint64_t at_ms; /* when tokens was last computed */
  int started;    /* zero-initialised means new (full) */
} bucket_t;

/* Takes one token at now_ms. Returns 1 when allowed, or 0 and the milliseconds
 * until one is available in *retry_ms (may be NULL; set to 0 when allowed). A
 * clock that goes backwards gives nothing away. */
int bucket_take(bucket_t *b, uint64_t now_ms, double rate, double burst, uint64_t *retry_ms);

#endif
