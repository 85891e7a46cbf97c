/* Structured logging: one JSON object per line on stderr.
 * Thread-safe (a single write(2) per line); the level is set once at start-up. */
#ifndef PARLEY_LOG_H
#define PARLEY_LOG_H

#include <stddef.h>

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

/* Writes a pre-built JSON object as one line (the access log). Borrowed. */
void log_json_line(const char *json, size_t len);

#endif
