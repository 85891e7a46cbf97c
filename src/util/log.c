/* One JSON object per line on stderr. Every line leaves in a single write(2)
 * under log_buffer.c's write lock, so lines from the loop, worker threads and
 * the access log's writer never interleave. The level is set once at start-up,
 * before threads exist. */
#include "parley/log.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "parley/util.h"
#include "util/log_internal.h"

static _Atomic int min_level = LOG_INFO;
static const char *const level_names[] = {"debug", "info", "warn", "error"};

void log_set_level(enum log_level level) { atomic_store(&min_level, (int)level); }

int log_level_parse(const char *s) {
  for (int i = 0; i < 4; i++)
    if (strcmp(s, level_names[i]) == 0) return i;
  return -1;
}

int log_enabled(enum log_level level) { return (int)level >= atomic_load(&min_level); }

void log_msg(enum log_level level, const char *fields, const char *fmt, ...) {
  if (!log_enabled(level)) return;
  char msg[2048];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof(msg), fmt, ap);
  va_end(ap);
  char ts[32];
  util_iso8601(util_now_ms(), ts);
  /* json_dumps escapes the message; dumping a bare string needs JSON_ENCODE_ANY. */
  json_t *js = json_string(msg);
  if (!js) js = json_string("(log message was not valid UTF-8)");
  char *esc = json_dumps(js, JSON_ENCODE_ANY);
  json_decref(js);
  char line[4096];
  int n = snprintf(line, sizeof(line), "{\"ts\":\"%s\",\"level\":\"%s\",\"msg\":%s%s%s}\n", ts,
                   level_names[level], esc ? esc : "\"\"", fields ? "," : "", fields ? fields : "");
  free(esc);
  if (n < 0) return;
  if ((size_t)n >= sizeof(line)) {
    n = sizeof(line) - 1;
    line[n - 1] = '\n';
  }
  log_write_locked(line, (size_t)n);
}

void log_json_line(const char *json, size_t len) {
  char stackbuf[1024];
  char *line = len + 1 <= sizeof(stackbuf) ? stackbuf : malloc(len + 1);
  if (!line) return;
  memcpy(line, json, len);
  line[len] = '\n';
  log_write_locked(line, len + 1);
  if (line != stackbuf) free(line);
}
