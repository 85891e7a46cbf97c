/* Private to src/ws/: the protocol core of a WebSocket session (wslay's event
 * context, limits, the output buffer, ping/pong and close deadlines) with no
 * socket in it, so tests drive it with scripted bytes and read what it wrote;
 * and the handshake checks. Loop thread only. */
#ifndef PARLEY_WS_INTERNAL_H
#define PARLEY_WS_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "parley/buf.h"
#include "parley/http.h"
#include "parley/ws.h"

/* How long a session that sent its close frame waits for the peer's answer
 * (or its EOF) before closing the TCP connection anyway. */
#define WS_CLOSE_WAIT_MS 1000

typedef struct ws_core_s ws_core_t;

typedef struct ws_core_limits_s {
  uint64_t max_message_bytes; /* larger messages close 1009 */
  uint64_t ping_interval_ms;  /* 0: no pings */
  uint64_t pong_timeout_ms;   /* since the first unanswered ping */
} ws_core_limits_t;

/* A complete text message, borrowed for the call. Runs inside wslay's receive
 * loop: it may queue frames and start a close, but must not free the core. */
typedef void (*ws_core_text_fn)(void *arg, const char *data, size_t len);

/* What the owner of the socket should do after a call into the core. */
enum ws_core_next {
  WS_CORE_CONTINUE = 0, /* keep reading, write what is buffered */
  WS_CORE_FINISH,       /* both close frames exchanged: write, then close the TCP */
  WS_CORE_ABORT         /* close the TCP now (dead peer, no answer, failure) */
};

ws_core_t *ws_core_new(const ws_core_limits_t *limits, uint64_t now_ms, ws_core_text_fn on_text,
                       void *arg);
void ws_core_free(ws_core_t *w);

/* Hands received bytes (borrowed for the call) to wslay: text messages reach
 * on_text, pings are answered, protocol violations queue the right close. */
enum ws_core_next ws_core_feed(ws_core_t *w, const char *data, size_t len, uint64_t now_ms);
/* Queues a text frame (copied): serialized into the output at once when
 * wslay holds nothing unsent, else queued behind it. Returns 0, or -1 once a
 * close is queued (or when out of memory). */
int ws_core_send_text(ws_core_t *w, const char *text, size_t len);
/* Queues a close frame (reason <= 123 bytes, truncated). Idempotent. */
void ws_core_close(ws_core_t *w, uint16_t code, const char *reason);
/* Serializes every queued frame into the output buffer. */
enum ws_core_next ws_core_flush(ws_core_t *w, uint64_t now_ms);
/* The serialized output, for the caller to write; the buffer is left empty and
 * the caller owns the returned storage (malloc'd). NULL when there is none. */
char *ws_core_take_output(ws_core_t *w, size_t *len);
/* The serialized output, borrowed until ws_core_output_sent (NULL when
 * there is none): for a write that copies what it cannot send at once. */
const char *ws_core_output(const ws_core_t *w, size_t *len);
/* The output was written or copied: the buffer is left empty, its storage
 * back in the pool (or freed). */
void ws_core_output_sent(ws_core_t *w);
/* Bytes queued in wslay plus bytes serialized and not yet taken. */
size_t ws_core_pending(const ws_core_t *w);
/* 1 when there is output to flush: frames in wslay's queue not yet
 * serialized, or serialized bytes not yet taken. */
int ws_core_want_flush(const ws_core_t *w);
/* 1 when wslay has a frame to send (a pong, a ping, a close, or text queued
 * behind one): what must not wait for the write delay. */
int ws_core_want_control(const ws_core_t *w);
/* 1 while the core holds no wslay context (nothing read half-way, nothing but
 * its own text frames queued, no close begun): then a flush changes no
 * deadline and leaves nothing queued. */
int ws_core_plain(const ws_core_t *w);
/* 1 once a close frame is queued or sent (no more messages go out). */
int ws_core_closing(const ws_core_t *w);
/* The close code we sent or queued, 0 if none. */
uint16_t ws_core_close_code(const ws_core_t *w);

/* Deadlines. The auth deadline (then the token expiry) closes with code (0:
 * 1008) and reason; 0 disarms it. */
void ws_core_set_deadline(ws_core_t *w, uint64_t at_ms, uint16_t code, const char *reason);
/* The earliest pending deadline (absolute ms), or 0 when none. */
uint64_t ws_core_next_deadline(const ws_core_t *w);
/* Acts on every deadline that has passed: queues a ping, closes 1008 for the
 * auth deadline, or tells the caller to abort (no pong, no close answer). */
enum ws_core_next ws_core_tick(ws_core_t *w, uint64_t now_ms);

/* The write delay (cfg.ws_write_delay_ms, write_delay.c): while the loop is
 * loaded, a session's output waits at most the delay instead of the end of the
 * turn, so that several turns' frames share one write. Waiting nodes (one in
 * each session) are one list in due order with one timer; due runs for each as
 * its wait ends, after it left the list. A node is due later than its time
 * only by the rest of the loop turn in which that time falls. */
typedef struct ws_wait_s {
  struct ws_wait_s *prev, *next;
  uint64_t due_ns; /* uv_hrtime by which it is due */
  int waiting;
} ws_wait_t;
typedef void (*ws_wait_due_fn)(ws_wait_t *w);

/* NULL when memory runs out. Loop thread. */
ws_out_t *ws_out_new(uv_loop_t *loop, uint64_t delay_ms, ws_wait_due_fn due);
/* Frees it (its timer's close callback), once no node waits. */
void ws_out_close(ws_out_t *o);
/* Whether the loop's thread used 30 % of a core or more over the last window
 * of at least 20 ms (read from its CPU clock once a window). */
int ws_out_loaded(ws_out_t *o);
/* w waits for the delay, behind the others. */
void ws_out_wait(ws_out_t *o, ws_wait_t *w);
/* w leaves the list; nothing when it is not in it. */
void ws_out_unwait(ws_out_t *o, ws_wait_t *w);

/* The output buffers a server's sessions share (ws_server_start): a session
 * takes one when its first frame of a turn is queued and gives it back once
 * the output is written, so that a frame costs no malloc and free (with a
 * hundred sessions a turn, glibc's per-size cache overflows and each went to
 * its bins). At most WS_POOL_MAX buffers of at most WS_POOL_BUF_MAX bytes
 * wait in it; larger ones are freed. Loop thread. */
#define WS_POOL_MAX 1024
#define WS_POOL_BUF_MAX 4096
#define WS_POOL_BUF_NEW 2048 /* a buffer made for the pool */
typedef struct ws_pool_s {
  buf_t bufs[WS_POOL_MAX]; /* empty buffers with storage, bufs[0..n) */
  int n;
} ws_pool_t;
/* Frees the buffers it holds. */
void ws_pool_clear(ws_pool_t *pool);
/* The core's output buffers come from pool and go back to it (NULL: malloc
 * and free); pool outlives the core's last ws_core_output_sent. */
void ws_core_use_pool(ws_core_t *w, ws_pool_t *pool);

/* Handshake: checks an upgrade request. Returns 0 and fills accept (the
 * Sec-WebSocket-Accept value), or the HTTP status to refuse with (400, or 426
 * for a wrong version) and a short reason in *why. */
int ws_handshake_check(const http_req_t *req, char accept[29], const char **why);

#endif
