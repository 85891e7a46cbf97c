/* Structured logging: one JSON object per line on stderr.
 * Thread-safe (a single write(2) per line, or per batch of the access log's
 * whole lines); the level is set once at start-up. */
#ifndef PARLEY_LOG_H
#define PARLEY_LOG_H

#include <stddef.h>
#include <stdint.h>

enum log_level { LOG_DEBUG = 0, LOG_INFO, LOG_WARN, LOG_ERROR };

/* Sets the minimum level written. Call before threads start. */
void log_set_level(enum log_level level);
/* Parses "debug", "info", "warn", "error"; returns -1 on anything else. */
int log_level_parse(const char *s);
int log_enabled(enum log_level level);

/* Writes {"ts":..., "level":..., "msg": <formatted>} plus optional extra fields.
 * `fields` is either NULL or a JSON object body without braces, already escaped,
 * e.g. "\"conn\":12". Callable from any thread. */
void log_msg(enum log_level level, const char *fields, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define log_debug(...) log_msg(LOG_DEBUG, NULL, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, NULL, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, NULL, __VA_ARGS__)
#define log_error(...) log_msg(LOG_ERROR, NULL, __VA_ARGS__)

/* Writes a pre-built JSON object as one line, now. Borrowed. Any thread. */
void log_json_line(const char *json, size_t len);

/* The access log: appends a pre-built JSON object as one line to a bounded
 * buffer that a thread of its own writes to stderr (past 32 KiB, 50 ms after
 * the first unwritten line, and at exit). Never waits for stderr; a line that
 * does not fit in the limit (1 MiB) is dropped and counted. Borrowed. Any thread. */
void log_buffer_line(const char *json, size_t len);
/* Returns once every line buffered before the call is written. Any thread. */
void log_buffer_flush(void);
/* Writes what is buffered and ends the writer; later lines are written at once.
 * Also run at exit. Call after the loop has stopped. */
void log_buffer_stop(void);
/* Lines dropped because the buffer was full (the sink is slower than the log). */
uint64_t log_buffer_dropped(void);
/* Sets the buffer's limit in bytes (tests). */
void log_buffer_set_limit(size_t bytes);

#endif
