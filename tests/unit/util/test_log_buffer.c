/* The access log's buffer (src/util/log_buffer.c): every line reaches stderr
 * whole once flushed; a sink that does not read makes lines drop and count,
 * never the caller wait; after stop, lines are written at once. stderr is a
 * temporary file or a pipe here. */
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "parley/log.h"

static int stderr_to_file(void) {
  char path[] = "/tmp/parley-log-buffer-XXXXXX";
  int fd = mkstemp(path);
  assert_true(fd >= 0);
  unlink(path);
  assert_int_equal(dup2(fd, STDERR_FILENO), STDERR_FILENO);
  return fd;
}

static char *file_text(int fd, size_t *len) {
  off_t end = lseek(fd, 0, SEEK_END);
  char *text = calloc(1, (size_t)end + 1);
  assert_int_equal(pread(fd, text, (size_t)end, 0), end);
  *len = (size_t)end;
  return text;
}

static size_t count_lines(const char *text, size_t len, const char *prefix) {
  size_t n = 0;
  for (const char *p = text; p < text + len;) {
    const char *nl = memchr(p, '\n', (size_t)(text + len - p));
    assert_non_null(nl);                            /* every line is whole */
    assert_memory_equal(p, prefix, strlen(prefix)); /* and not mixed with another */
    n++;
    p = nl + 1;
  }
  return n;
}

static void line(char *out, size_t cap, int i) {
  snprintf(out, cap, "{\"msg\":\"request\",\"i\":%d,\"pad\":\"%080d\"}", i, i);
}

static void every_line_arrives_once_flushed(void **state) {
  int fd = stderr_to_file();
  char buf[160];
  for (int i = 0; i < 3000; i++) { /* ~330 KB: several flushes past 32 KiB */
    line(buf, sizeof(buf), i);
    log_buffer_line(buf, strlen(buf));
  }
  log_buffer_flush();
  size_t len;
  char *text = file_text(fd, &len);
  assert_int_equal(count_lines(text, len, "{\"msg\":\"request\""), 3000);
  line(buf, sizeof(buf), 2999);
  assert_non_null(strstr(text, buf)); /* in order: the last line is there */
  free(text);
  close(fd);
}

static void *drain(void *arg) {
  int fd = *(int *)arg;
  size_t cap = 1 << 20, len = 0;
  char *text = malloc(cap);
  for (;;) {
    if (len == cap) text = realloc(text, cap *= 2);
    ssize_t n = read(fd, text + len, cap - len);
    if (n <= 0) break;
    len += (size_t)n;
  }
  size_t lines = count_lines(text, len, "{\"msg\":\"request\"");
  free(text);
  return (void *)(uintptr_t)lines;
}

static void a_stalled_sink_drops_and_counts(void **state) {
  int p[2];
  assert_int_equal(pipe(p), 0);
  fcntl(p[1], F_SETPIPE_SZ, 4096);
  assert_int_equal(dup2(p[1], STDERR_FILENO), STDERR_FILENO);
  close(p[1]);
  log_buffer_set_limit(8 * 1024);
  uint64_t dropped_before = log_buffer_dropped();
  char buf[160];
  /* Nobody reads the pipe: 200 KB cannot fit in a 4 KiB pipe and two 8 KiB
   * buffers, and the caller still returns. */
  for (int i = 0; i < 2000; i++) {
    line(buf, sizeof(buf), i);
    log_buffer_line(buf, strlen(buf));
  }
  uint64_t dropped = log_buffer_dropped() - dropped_before;
  assert_true(dropped > 0);
  pthread_t reader;
  assert_int_equal(pthread_create(&reader, NULL, drain, &p[0]), 0);
  log_buffer_flush();
  int fd = stderr_to_file(); /* closes the pipe's last writer: the reader sees its end */
  void *lines;
  pthread_join(reader, &lines);
  assert_int_equal((uint64_t)(uintptr_t)lines + dropped, 2000);
  close(p[0]);
  close(fd);
  log_buffer_set_limit(1024 * 1024);
}

static void after_stop_lines_go_at_once(void **state) {
  int fd = stderr_to_file();
  char buf[160];
  line(buf, sizeof(buf), 1);
  log_buffer_line(buf, strlen(buf));
  log_buffer_stop(); /* writes what is buffered */
  line(buf, sizeof(buf), 2);
  log_buffer_line(buf, strlen(buf)); /* no writer now: written before it returns */
  size_t len;
  char *text = file_text(fd, &len);
  assert_int_equal(count_lines(text, len, "{\"msg\":\"request\""), 2);
  free(text);
  close(fd);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(every_line_arrives_once_flushed),
      cmocka_unit_test(a_stalled_sink_drops_and_counts),
      cmocka_unit_test(after_stop_lines_go_at_once),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
