/* The one token bucket of the tree (include/parley/bucket.h): the arithmetic
 * behind the per-connection WebSocket frame rate and the bus's in-memory
 * buckets. Pure; the caller owns the bucket. */
#include "parley/bucket.h"

#include <math.h>

int bucket_take(bucket_t *b, uint64_t now_ms, double rate, double burst, uint64_t *retry_ms) {
  if (!b->started) {
    b->tokens = burst;
    b->at_ms = now_ms;
    b->started = 1;
  }
  if (now_ms > b->at_ms) {
    b->tokens += (double)(now_ms - b->at_ms) * rate / 1000.0;
    if (b->tokens > burst) b->tokens = burst;
    b->at_ms = now_ms;
  }
  if (b->tokens >= 1.0) {
    b->tokens -= 1.0;
    if (retry_ms) *retry_ms = 0;
    return 1;
  }
  /* The epsilon keeps float noise from adding a millisecond to an exact wait. */
  if (retry_ms) *retry_ms = rate > 0 ? (uint64_t)ceil((1.0 - b->tokens) * 1000.0 / rate - 1e-9) : 0;
  return 0;
}
