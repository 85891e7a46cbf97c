/* A repeating warning's pace (see log_repeat.h). */
#include "parley/log_repeat.h"

int log_repeat_fail(log_repeat_t *r, int64_t now_ms, int64_t every_ms, uint64_t *held) {
  r->failures++;
  if (r->failures > 1 && now_ms - r->last_ms < every_ms) {
    r->held++;
    return 0;
  }
  if (held) *held = r->held;
  r->held = 0;
  r->last_ms = now_ms;
  return 1;
}

int log_repeat_ok(log_repeat_t *r, uint64_t *failures) {
  uint64_t n = r->failures;
  *r = (log_repeat_t){0};
  if (failures) *failures = n;
  return n > 0;
}
