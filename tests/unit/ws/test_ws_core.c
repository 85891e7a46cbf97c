/* The WebSocket protocol core driven by scripted client bytes, without
 * sockets: what reaches the application, what a client would read back (pongs,
 * close codes), the limits, the close handshake, the deadlines on a fake clock,
 * and coalescing of several frames into one output chunk. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cmocka.h>

#include "ws/ws_internal.h"
#include "ws_test_frames.h"

typedef struct rx_s {
  int count;
  char last[256];
  size_t last_len;
  ws_core_t *core; /* for handlers that reply */
  int reply;       /* echo each message back this many times */
} rx_t;

static void on_text(void *arg, const char *data, size_t len) {
  rx_t *rx = arg;
  rx->count++;
  rx->last_len = len;
  memcpy(rx->last, data, len < sizeof(rx->last) ? len : sizeof(rx->last));
  for (int i = 0; i < rx->reply; i++) ws_core_send_text(rx->core, data, len);
}

static ws_core_t *new_core(rx_t *rx, uint64_t max, uint64_t ping, uint64_t pong) {
  memset(rx, 0, sizeof(*rx));
  ws_core_limits_t lim = {max, ping, pong};
  ws_core_t *w = ws_core_new(&lim, 0, on_text, rx);
  assert_non_null(w);
  rx->core = w;
  return w;
}

static enum ws_core_next feed_frame(ws_core_t *w, int fin, int op, int masked, const void *p,
                                    size_t len) {
  unsigned char *buf = malloc(len + 16);
  size_t n = make_frame(buf, fin, op, masked, p, len);
  enum ws_core_next r = ws_core_feed(w, (const char *)buf, n, 0);
  free(buf);
  return r;
}

/* Flushes and parses what the server would send; returns the frame count. */
static int output(ws_core_t *w, frame_t *frames, int max, unsigned char **keep) {
  ws_core_flush(w, 0);
  size_t len;
  char *out = ws_core_take_output(w, &len);
  *keep = (unsigned char *)out;
  if (!out) return 0;
  int n = parse_frames(*keep, len, frames, max);
  assert_true(n > 0);
  return n;
}

static void test_text_reaches_handler(void **state) {
  rx_t rx;
  ws_core_t *w = new_core(&rx, 65536, 0, 0);
  assert_int_equal(feed_frame(w, 1, OP_TEXT, 1, "{\"type\":\"ping\"}", 15), WS_CORE_CONTINUE);
  assert_int_equal(rx.count, 1);
  assert_int_equal(rx.last_len, 15);
  assert_memory_equal(rx.last, "{\"type\":\"ping\"}", 15);
  ws_core_free(w);
}

static void test_fragmented_and_split_input(void **state) {
  rx_t rx;
  ws_core_t *w = new_core(&rx, 65536, 0, 0);
  unsigned char buf[64];
  size_t n = make_frame(buf, 0, OP_TEXT, 1, "hel", 3);
  n += make_frame(buf + n, 0, OP_CONT, 1, "lo ", 3);
  /* a ping between fragments is allowed and answered */
  n += make_frame(buf + n, 1, OP_PING, 1, "p", 1);
  n += make_frame(buf + n, 1, OP_CONT, 1, "you", 3);
  /* one byte at a time: wslay must resume mid-header and mid-payload */
  for (size_t i = 0; i < n; i++) ws_core_feed(w, (const char *)buf + i, 1, 0);
  assert_int_equal(rx.count, 1);
  assert_int_equal(rx.last_len, 9);
  assert_memory_equal(rx.last, "hello you", 9);
  frame_t f[4];
  unsigned char *keep;
  assert_int_equal(output(w, f, 4, &keep), 1);
  assert_int_equal(f[0].opcode, OP_PONG);
  free(keep);
  ws_core_free(w);
}

static void test_ping_answered_with_pong(void **state) {
  rx_t rx;
  ws_core_t *w = new_core(&rx, 65536, 0, 0);
  feed_frame(w, 1, OP_PING, 1, "abc", 3);
  frame_t f[4];
  unsigned char *keep;
  assert_int_equal(output(w, f, 4, &keep), 1);
  assert_int_equal(f[0].opcode, OP_PONG);
  assert_int_equal(f[0].len, 3);
  assert_memory_equal(f[0].payload, "abc", 3);
  assert_int_equal(rx.count, 0);
  free(keep);
  ws_core_free(w);
}

static void expect_close(ws_core_t *w, uint16_t code) {
  frame_t f[4];
  unsigned char *keep;
  int n = output(w, f, 4, &keep);
  assert_true(n >= 1);
  assert_int_equal(f[n - 1].opcode, OP_CLOSE);
  assert_int_equal(close_code_of(&f[n - 1]), code);
  assert_int_equal(ws_core_close_code(w), code);
  free(keep);
}

static void test_binary_closes_1003_then_finishes(void **state) {
  rx_t rx;
  ws_core_t *w = new_core(&rx, 65536, 0, 0);
  feed_frame(w, 1, OP_BINARY, 1, "\x01\x02", 2);
  expect_close(w, 1003);
  assert_int_equal(ws_core_send_text(w, "late", 4), -1);
  /* the client's answer ends the session cleanly */
  unsigned char cp[8];
  size_t cl = close_payload(cp, 1003, NULL);
  assert_int_equal(feed_frame(w, 1, OP_CLOSE, 1, cp, cl), WS_CORE_FINISH);
  assert_int_equal(rx.count, 0);
  ws_core_free(w);
}

static void test_oversized_closes_1009(void **state) {
  rx_t rx;
  ws_core_t *w = new_core(&rx, 1024, 0, 0);
  char *big = malloc(70 * 1024);
  memset(big, 'a', 70 * 1024);
  feed_frame(w, 1, OP_TEXT, 1, big, 70 * 1024);
  expect_close(w, 1009);
  assert_int_equal(rx.count, 0);
  /* exactly at the limit is fine, in a fresh session; over it in fragments is not */
  ws_core_free(w);
  w = new_core(&rx, 1024, 0, 0);
  feed_frame(w, 1, OP_TEXT, 1, big, 1024);
  assert_int_equal(rx.count, 1);
  feed_frame(w, 0, OP_TEXT, 1, big, 600);
  feed_frame(w, 1, OP_CONT, 1, big, 600);
  assert_int_equal(rx.count, 1);
  expect_close(w, 1009);
  free(big);
  ws_core_free(w);
}

static void test_unmasked_closes_1002(void **state) {
  rx_t rx;
  ws_core_t *w = new_core(&rx, 65536, 0, 0);
  feed_frame(w, 1, OP_TEXT, 0, "hi", 2);
  assert_int_equal(rx.count, 0);
  expect_close(w, 1002);
  ws_core_free(w);
}

static void test_invalid_utf8_closes_1007(void **state) {
  rx_t rx;
  ws_core_t *w = new_core(&rx, 65536, 0, 0);
  feed_frame(w, 1, OP_TEXT, 1, "ok \xc3\x28", 5);
  assert_int_equal(rx.count, 0);
  expect_close(w, 1007);
  ws_core_free(w);
}

static void test_client_close_is_echoed(void **state) {
  rx_t rx;
  ws_core_t *w = new_core(&rx, 65536, 0, 0);
  unsigned char cp[16];
  size_t cl = close_payload(cp, 1000, "bye");
  assert_int_equal(feed_frame(w, 1, OP_CLOSE, 1, cp, cl), WS_CORE_CONTINUE);
  assert_int_equal(ws_core_flush(w, 0), WS_CORE_FINISH);
  size_t len;
  unsigned char *out = (unsigned char *)ws_core_take_output(w, &len);
  frame_t f[2];
  assert_int_equal(parse_frames(out, len, f, 2), 1);
  assert_int_equal(f[0].opcode, OP_CLOSE);
  assert_int_equal(close_code_of(&f[0]), 1000);
  free(out);
  ws_core_free(w);
}

static void test_server_close_waits_for_answer(void **state) {
  rx_t rx;
  ws_core_t *w = new_core(&rx, 65536, 0, 0);
  ws_core_close(w, 1001, "server shutting down");
  ws_core_close(w, 1011, "second close is ignored");
  assert_int_equal(ws_core_flush(w, 5000), WS_CORE_CONTINUE);
  size_t len;
  unsigned char *out = (unsigned char *)ws_core_take_output(w, &len);
  frame_t f[2];
  assert_int_equal(parse_frames(out, len, f, 2), 1);
  assert_int_equal(close_code_of(&f[0]), 1001);
  assert_memory_equal(f[0].payload + 2, "server shutting down", 20);
  free(out);
  /* a message that crosses our close is not acted on */
  feed_frame(w, 1, OP_TEXT, 1, "late", 4);
  assert_int_equal(rx.count, 0);
  assert_int_equal(ws_core_next_deadline(w), 5000 + WS_CLOSE_WAIT_MS);
  assert_int_equal(ws_core_tick(w, 5000 + WS_CLOSE_WAIT_MS - 1), WS_CORE_CONTINUE);
  unsigned char cp[8];
  size_t cl = close_payload(cp, 1001, NULL);
  assert_int_equal(feed_frame(w, 1, OP_CLOSE, 1, cp, cl), WS_CORE_FINISH);
  ws_core_free(w);

  /* a peer that never answers is cut off after the wait */
  w = new_core(&rx, 65536, 0, 0);
  ws_core_close(w, 1000, NULL);
  ws_core_flush(w, 0);
  assert_int_equal(ws_core_tick(w, WS_CLOSE_WAIT_MS), WS_CORE_ABORT);
  ws_core_free(w);
}

static void test_sends_in_one_turn_leave_together(void **state) {
  rx_t rx;
  ws_core_t *w = new_core(&rx, 65536, 0, 0);
  rx.reply = 3;
  /* two messages in one read, each answered three times */
  unsigned char buf[64];
  size_t n = make_frame(buf, 1, OP_TEXT, 1, "a", 1);
  n += make_frame(buf + n, 1, OP_TEXT, 1, "bb", 2);
  ws_core_feed(w, (const char *)buf, n, 0);
  assert_int_equal(rx.count, 2);
  assert_true(ws_core_pending(w) >= 9);
  assert_true(ws_core_want_flush(w));
  frame_t f[8];
  unsigned char *keep;
  assert_int_equal(output(w, f, 8, &keep), 6);
  for (int i = 0; i < 6; i++) assert_int_equal(f[i].opcode, OP_TEXT);
  assert_memory_equal(f[5].payload, "bb", 2);
  free(keep);
  assert_int_equal(ws_core_pending(w), 0);
  size_t len;
  assert_null(ws_core_take_output(w, &len));
  ws_core_free(w);
}

/* Text frames are serialized straight into the output: each length in the
 * shortest of the three encodings (as RFC 6455 requires), payload intact. */
static void test_text_frame_lengths(void **state) {
  static const size_t sizes[] = {0, 1, 125, 126, 127, 65535, 65536, 70000};
  rx_t rx;
  ws_core_t *w = new_core(&rx, 65536, 0, 0);
  for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
    size_t n = sizes[k];
    char *text = malloc(n + 1);
    for (size_t i = 0; i < n; i++) text[i] = (char)('a' + i % 26);
    assert_int_equal(ws_core_send_text(w, text, n), 0);
    assert_true(ws_core_want_flush(w));
    assert_int_equal(ws_core_pending(w), n + (n < 126 ? 2 : n < 65536 ? 4 : 10));
    size_t len;
    unsigned char *out = (unsigned char *)ws_core_take_output(w, &len);
    assert_non_null(out);
    assert_int_equal(out[0], 0x81);
    assert_int_equal(out[1], n < 126 ? n : n < 65536 ? 126 : 127);
    frame_t f[1];
    assert_int_equal(parse_frames(out, len, f, 1), 1);
    assert_int_equal(f[0].len, n);
    if (n) assert_memory_equal(f[0].payload, text, n);
    free(out);
    free(text);
  }
  ws_core_free(w);
}

/* A frame sent while a pong waits in wslay's queue goes after the pong, and
 * one sent before the ping came stays before it: the order of the calls. */
static void test_text_frames_keep_order_with_control_frames(void **state) {
  rx_t rx;
  ws_core_t *w = new_core(&rx, 65536, 0, 0);
  assert_int_equal(ws_core_send_text(w, "first", 5), 0);
  assert_int_equal(feed_frame(w, 1, OP_PING, 1, "p", 1), WS_CORE_CONTINUE);
  assert_int_equal(ws_core_send_text(w, "second", 6), 0);
  frame_t f[4];
  unsigned char *keep;
  assert_int_equal(output(w, f, 4, &keep), 3);
  assert_int_equal(f[0].opcode, OP_TEXT);
  assert_memory_equal(f[0].payload, "first", 5);
  assert_int_equal(f[1].opcode, OP_PONG);
  assert_int_equal(f[2].opcode, OP_TEXT);
  assert_memory_equal(f[2].payload, "second", 6);
  free(keep);
  assert_false(ws_core_want_flush(w));
  ws_core_free(w);
}

static void test_ping_schedule_and_pong_timeout(void **state) {
  rx_t rx;
  ws_core_t *w = new_core(&rx, 65536, 100, 250);
  assert_int_equal(ws_core_next_deadline(w), 100);
  assert_int_equal(ws_core_tick(w, 99), WS_CORE_CONTINUE);
  assert_false(ws_core_want_flush(w));
  assert_int_equal(ws_core_tick(w, 100), WS_CORE_CONTINUE);
  frame_t f[2];
  unsigned char *keep;
  assert_int_equal(output(w, f, 2, &keep), 1);
  assert_int_equal(f[0].opcode, OP_PING);
  free(keep);
  /* unanswered: another ping at 200, cut off at 100 + 250 */
  assert_int_equal(ws_core_next_deadline(w), 200);
  assert_int_equal(ws_core_tick(w, 200), WS_CORE_CONTINUE);
  assert_int_equal(ws_core_next_deadline(w), 300);
  ws_core_tick(w, 300);
  assert_int_equal(ws_core_next_deadline(w), 350);
  assert_int_equal(ws_core_tick(w, 350), WS_CORE_ABORT);
  ws_core_free(w);

  /* answered: the pong clears the deadline */
  w = new_core(&rx, 65536, 100, 250);
  ws_core_tick(w, 100);
  feed_frame(w, 1, OP_PONG, 1, NULL, 0);
  ws_core_tick(w, 200);
  feed_frame(w, 1, OP_PONG, 1, NULL, 0);
  assert_int_equal(ws_core_tick(w, 350), WS_CORE_CONTINUE);
  assert_int_equal(ws_core_tick(w, 400), WS_CORE_CONTINUE);
  ws_core_free(w);
}

static void test_auth_deadline_closes_1008(void **state) {
  rx_t rx;
  ws_core_t *w = new_core(&rx, 65536, 0, 0);
  assert_int_equal(ws_core_next_deadline(w), 0);
  ws_core_set_deadline(w, 500, 1008, "authentication timeout");
  assert_int_equal(ws_core_next_deadline(w), 500);
  ws_core_tick(w, 499);
  assert_false(ws_core_closing(w));
  ws_core_tick(w, 500);
  expect_close(w, 1008);
  ws_core_free(w);

  /* disarmed in time: nothing happens */
  w = new_core(&rx, 65536, 0, 0);
  ws_core_set_deadline(w, 500, 1008, "authentication timeout");
  ws_core_set_deadline(w, 0, 0, NULL);
  ws_core_tick(w, 1000);
  assert_false(ws_core_closing(w));
  ws_core_free(w);
}

/* Whole text frames are read without wslay (ws_core.c feed_fast): several in
 * one read, a 16-bit length, one past the stack buffer, then a frame split
 * across reads (wslay resumes it) and frames after it; all in order, and a
 * bad frame among good ones still closes 1007 after those before it. */
static void test_whole_frames_in_one_read(void **state) {
  rx_t rx;
  ws_core_t *w = new_core(&rx, 65536, 0, 0);
  static char big[5000];
  memset(big, 'b', sizeof(big));
  unsigned char *buf = malloc(16384);
  size_t n = make_frame(buf, 1, OP_TEXT, 1, "one", 3);
  n += make_frame(buf + n, 1, OP_TEXT, 1, "caf\xc3\xa9", 5);
  n += make_frame(buf + n, 1, OP_TEXT, 1, big, 300);
  n += make_frame(buf + n, 1, OP_TEXT, 1, big, sizeof(big));
  size_t split = n;
  n += make_frame(buf + n, 1, OP_TEXT, 1, "split", 5);
  n += make_frame(buf + n, 1, OP_TEXT, 1, "after", 5);
  assert_int_equal(ws_core_feed(w, (const char *)buf, split + 3, 0), WS_CORE_CONTINUE);
  assert_int_equal(rx.count, 4);
  assert_int_equal(rx.last_len, sizeof(big));
  assert_int_equal(ws_core_feed(w, (const char *)buf + split + 3, n - split - 3, 0),
                   WS_CORE_CONTINUE);
  assert_int_equal(rx.count, 6);
  assert_int_equal(rx.last_len, 5);
  assert_memory_equal(rx.last, "after", 5);
  n = make_frame(buf, 1, OP_TEXT, 1, "fine", 4);
  n += make_frame(buf + n, 1, OP_TEXT, 1, "ok \xc3\x28", 5);
  n += make_frame(buf + n, 1, OP_TEXT, 1, "never", 5);
  ws_core_feed(w, (const char *)buf, n, 0);
  assert_int_equal(rx.count, 7);
  assert_memory_equal(rx.last, "fine", 4);
  expect_close(w, 1007);
  free(buf);
  ws_core_free(w);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_text_reaches_handler),
      cmocka_unit_test(test_fragmented_and_split_input),
      cmocka_unit_test(test_ping_answered_with_pong),
      cmocka_unit_test(test_binary_closes_1003_then_finishes),
      cmocka_unit_test(test_oversized_closes_1009),
      cmocka_unit_test(test_unmasked_closes_1002),
      cmocka_unit_test(test_invalid_utf8_closes_1007),
      cmocka_unit_test(test_client_close_is_echoed),
      cmocka_unit_test(test_server_close_waits_for_answer),
      cmocka_unit_test(test_sends_in_one_turn_leave_together),
      cmocka_unit_test(test_text_frame_lengths),
      cmocka_unit_test(test_text_frames_keep_order_with_control_frames),
      cmocka_unit_test(test_ping_schedule_and_pong_timeout),
      cmocka_unit_test(test_auth_deadline_closes_1008),
      cmocka_unit_test(test_whole_frames_in_one_read),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
