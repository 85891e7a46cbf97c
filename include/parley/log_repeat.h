/* A warning that repeats while a condition lasts (a store that cannot answer,
 * asked again every second): logged the first time, then at most once per
 * interval with the count of those held back, and once when the condition
 * ends. Time is passed in, so the rules are testable without a clock. Not
 * thread-safe: one owner. */
#ifndef PARLEY_LOG_REPEAT_H
#define PARLEY_LOG_REPEAT_H

#include <stdint.h>

typedef struct log_repeat_s {
  int64_t last_ms;   /* when the last one was logged */
  uint64_t failures; /* in the current run of failures */
  uint64_t held;     /* failures not logged since the last one that was */
} log_repeat_t;

/* A failure at now_ms. Returns 1 when it is to be logged (the first of a run,
 * or the first once every_ms passed since the last logged), with *held set to
 * how many were held back since that one; else 0. */
int log_repeat_fail(log_repeat_t *r, int64_t now_ms, int64_t every_ms, uint64_t *held);

/* Success. Returns 1 when a run of failures ended (to be logged once), with
 * *failures set to its length, and starts anew; else 0. */
int log_repeat_ok(log_repeat_t *r, uint64_t *failures);

#endif
