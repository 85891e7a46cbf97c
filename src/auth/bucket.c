/* A token bucket in this process's memory: the arithmetic behind the
 * per-connection WebSocket frame rate. Pure; the caller owns the bucket. */
#include <math.h>

#include "parley/auth.h"

int auth_bucket_take(auth_bucket_t *b, uint64_t now_ms, double rate, double burst,
                     uint64_t *retry_ms) {
  if (!b->started) {
    b->tokens = burst;
    b->last_ms = now_ms;
    b->started = 1;
  }
  if (now_ms > b->last_ms) {
    b->tokens += (double)(now_ms - b->last_ms) * rate / 1000.0;
    if (b->tokens > burst) b->tokens = burst;
    b->last_ms = now_ms;
  }
  if (b->tokens >= 1.0) {
    b->tokens -= 1.0;
    return 1;
  }
  /* The epsilon keeps float noise from adding a millisecond to an exact wait. */
  if (retry_ms) *retry_ms = rate > 0 ? (uint64_t)ceil((1.0 - b->tokens) * 1000.0 / rate - 1e-9) : 0;
  return 0;
}
