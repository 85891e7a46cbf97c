/* The delay between a bot webhook's attempts: exponential, capped, with
 * jitter so that bots failing together do not retry together. Pure; any
 * thread. */
#include "parley/bots.h"

int64_t bots_backoff_ms(int attempts, int64_t base, int64_t max, double r) {
  if (attempts < 1) attempts = 1;
  if (base < 1) base = 1;
  if (max < base) max = base;
  int64_t d = base;
  for (int i = 1; i < attempts && d < max; i++) d *= 2;
  if (d > max) d = max;
  if (r < 0) r = 0;
  if (r >= 1) r = 0.999999;
  /* Up to half taken off: the delay stays within [d/2, d]. */
  return d - (int64_t)((double)(d / 2) * r);
}
