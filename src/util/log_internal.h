/* Shared by log.c and log_buffer.c: the one way a log line reaches stderr. */
#ifndef PARLEY_UTIL_LOG_INTERNAL_H
#define PARLEY_UTIL_LOG_INTERNAL_H

#include <stddef.h>

/* Writes len bytes (whole lines) to stderr under the write lock. Any thread. */
void log_write_locked(const char *p, size_t len);

#endif
