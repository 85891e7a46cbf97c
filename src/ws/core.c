/* The protocol core of one WebSocket session: a wslay server context whose
 * input is the bytes handed to ws_core_feed and whose output accumulates in a
 * buffer the owner writes; plus the ping, pong, auth and close deadlines as
 * pure decisions on a clock the owner passes in. No sockets. Loop thread.
 *
 * Memory: wslay's context carries two 4 KiB buffers (8.6 KB with the frame
 * context), more than everything else an idle session holds. It is created
 * when there is something to parse or send and freed again as soon as it holds
 * no state: between messages, with nothing queued, not closing. A fresh one is
 * then indistinguishable from the old, and an idle session costs none of it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wslay/wslay.h>

#include "parley/util.h"
#include "ws/ws_internal.h"

/* Where the peer's byte stream stands, followed beside wslay (whose parser
 * state is private) only to tell when the context may go: between frames, and
 * not inside a fragmented message. */
typedef struct ws_scan_s {
  uint64_t left;      /* payload bytes of the current frame still to come */
  uint8_t hdr[14];    /* the current frame's header so far */
  uint8_t hlen;       /* its bytes seen */
  uint8_t hneed;      /* its size, once the second byte is known (else 0) */
  uint8_t fragmented; /* a data message whose final frame has not come */
} ws_scan_t;

struct ws_core_s {
  wslay_event_context_ptr ctx; /* NULL while idle (see above) */
  int in_wslay;                /* a wslay call is on the stack */
  ws_scan_t scan;
  ws_core_limits_t lim;
  ws_core_text_fn on_text;
  void *arg;
  const char *in; /* the bytes of the current ws_core_feed call */
  size_t in_len;
  buf_t out;           /* serialized frames not yet taken */
  ws_pool_t *pool;     /* where out's storage comes from and goes back to */
  uint16_t close_code; /* the close we queued ourselves */
  int failed;          /* wslay reported a failure: the session is unusable */
  uint64_t next_ping_at, pong_deadline, auth_deadline, close_deadline;
  uint16_t auth_code; /* the close code of auth_deadline */
  char auth_reason[124];
};

static ssize_t recv_cb(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, int flags,
                       void *user) {
  ws_core_t *w = user;
  if (w->in_len == 0) {
    wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
    return -1;
  }
  size_t n = len < w->in_len ? len : w->in_len;
  memcpy(buf, w->in, n);
  w->in += n;
  w->in_len -= n;
  return (ssize_t)n;
}

static void out_take(ws_core_t *w);

static ssize_t send_cb(wslay_event_context_ptr ctx, const uint8_t *data, size_t len, int flags,
                       void *user) {
  ws_core_t *w = user;
  out_take(w);
  if (buf_append(&w->out, data, len) != 0) {
    wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
    return -1;
  }
  return (ssize_t)len;
}

/* Binary frames are refused as soon as their header is seen; reading goes on
 * so that the peer's answer to the close can end the session cleanly. */
static void on_frame_start(wslay_event_context_ptr ctx,
                           const struct wslay_event_on_frame_recv_start_arg *arg, void *user) {
  if (arg->opcode == WSLAY_BINARY_FRAME)
    ws_core_close(user, 1003, "binary frames are not accepted");
}

static void on_msg(wslay_event_context_ptr ctx, const struct wslay_event_on_msg_recv_arg *arg,
                   void *user) {
  ws_core_t *w = user;
  switch (arg->opcode) {
    case WSLAY_TEXT_FRAME:
      /* Messages that arrive after we started closing are not acted upon. */
      if (!ws_core_closing(w) && w->on_text)
        w->on_text(w->arg, arg->msg ? (const char *)arg->msg : "", arg->msg_length);
      break;
    case WSLAY_BINARY_FRAME:
      ws_core_close(w, 1003, "binary frames are not accepted");
      break;
    case WSLAY_PONG:
      w->pong_deadline = 0;
      break;
    default:
      break; /* pings are answered and closes echoed by wslay itself */
  }
}

static const struct wslay_event_callbacks callbacks = {
    .recv_callback = recv_cb,
    .send_callback = send_cb,
    .on_frame_recv_start_callback = on_frame_start,
    .on_msg_recv_callback = on_msg,
};

ws_core_t *ws_core_new(const ws_core_limits_t *limits, uint64_t now_ms, ws_core_text_fn on_text,
                       void *arg) {
  ws_core_t *w = calloc(1, sizeof(*w));
  if (!w) return NULL;
  w->lim = *limits;
  w->on_text = on_text;
  w->arg = arg;
  buf_init(&w->out);
  if (limits->ping_interval_ms) w->next_ping_at = now_ms + limits->ping_interval_ms;
  return w;
}

void ws_core_free(ws_core_t *w) {
  if (!w) return;
  if (w->ctx) wslay_event_context_free(w->ctx);
  buf_free(&w->out);
  free(w);
}

void ws_core_use_pool(ws_core_t *w, ws_pool_t *pool) { w->pool = pool; }

void ws_pool_clear(ws_pool_t *pool) {
  if (!pool) return;
  while (pool->n > 0) buf_free(&pool->bufs[--pool->n]);
}

/* An empty output takes a buffer from the pool (its storage and size), or a
 * new one of WS_POOL_BUF_NEW bytes that will join it: a few frames fit before
 * it grows (a realloc that copies, 1,200 instructions). */
static void out_take(ws_core_t *w) {
  if (w->out.data || !w->pool) return;
  if (w->pool->n > 0) {
    w->out = w->pool->bufs[--w->pool->n];
    w->out.len = 0;
  } else {
    buf_reserve(&w->out, WS_POOL_BUF_NEW - 1); /* on failure the caller's fails too */
  }
}

/* The wslay context, created when first needed. NULL when out of memory. */
static wslay_event_context_ptr ctx_of(ws_core_t *w) {
  if (w->ctx) return w->ctx;
  if (wslay_event_context_server_init(&w->ctx, &callbacks, w) != 0) {
    w->ctx = NULL;
    return NULL;
  }
  wslay_event_config_set_max_recv_msg_length(w->ctx, w->lim.max_message_bytes);
  return w->ctx;
}

/* Follows the frame headers and payload lengths of bytes wslay has read. */
static void scan(ws_scan_t *sc, const uint8_t *p, size_t n) {
  while (n > 0) {
    if (sc->left > 0) {
      size_t k = n < sc->left ? n : (size_t)sc->left;
      sc->left -= k;
      p += k;
      n -= k;
      continue;
    }
    uint8_t b = *p++;
    n--;
    sc->hdr[sc->hlen++] = b;
    if (sc->hlen == 2) {
      uint8_t len7 = b & 0x7f;
      sc->hneed = (uint8_t)(2 + (len7 == 126 ? 2 : len7 == 127 ? 8 : 0) + (b & 0x80 ? 4 : 0));
    }
    if (sc->hlen < 2 || sc->hlen < sc->hneed) continue;
    uint64_t len = sc->hdr[1] & 0x7f;
    if (len >= 126) {
      int ext = len == 126 ? 2 : 8;
      len = 0;
      for (int i = 0; i < ext; i++) len = len << 8 | sc->hdr[2 + i];
    }
    /* Control frames (opcode bit 3) may come between a message's fragments. */
    if (!(sc->hdr[0] & 0x08)) sc->fragmented = !(sc->hdr[0] & 0x80);
    sc->left = len;
    sc->hlen = sc->hneed = 0;
  }
}

/* Frees the wslay context when nothing in it differs from a fresh one: no
 * partial frame or message read, nothing queued or half sent, no close begun,
 * no failure, and no wslay call on the stack. */
static void maybe_release(ws_core_t *w) {
  const ws_scan_t *sc = &w->scan;
  if (!w->ctx || w->in_wslay || w->failed || sc->left || sc->hlen || sc->fragmented) return;
  if (ws_core_closing(w) || !wslay_event_get_write_enabled(w->ctx) ||
      wslay_event_get_close_received(w->ctx) || wslay_event_want_write(w->ctx) ||
      wslay_event_get_queued_msg_count(w->ctx) != 0)
    return;
  wslay_event_context_free(w->ctx);
  w->ctx = NULL;
}

static enum ws_core_next next_step(ws_core_t *w) {
  if (w->failed) return WS_CORE_ABORT;
  if (w->ctx && wslay_event_get_close_sent(w->ctx) && wslay_event_get_close_received(w->ctx))
    return WS_CORE_FINISH;
  return WS_CORE_CONTINUE;
}

/* The payload of a frame unmasked into out (n bytes). */
static void unmask(char *out, const uint8_t *in, size_t n, const uint8_t key[4]) {
  for (size_t i = 0; i < n; i++) out[i] = (char)(in[i] ^ key[i & 3]);
}

#define WS_FAST_STACK 2048 /* a payload up to this size is unmasked on the stack */

/* Without a wslay context (between messages, nothing queued: maybe_release),
 * the common frame is read here: a whole client text message in one frame
 * (FIN, no RSV bits, masked, 7- or 16-bit length, within the size limit),
 * entirely in the input, valid UTF-8. That is exactly what wslay would hand
 * to on_msg, with no state left behind, so no context is created for it (its
 * set-up and buffers were the larger part of reading a message.send).
 * Anything else, and everything after it, goes to wslay as before, which
 * also answers what is wrong with it (1002, 1007, 1009). Returns the bytes
 * consumed. */
static size_t feed_fast(ws_core_t *w, const uint8_t *p, size_t len) {
  size_t used = 0;
  while (!w->ctx && !w->failed && !ws_core_closing(w) && len - used >= 6) {
    const uint8_t *f = p + used;
    if (f[0] != 0x81 || !(f[1] & 0x80)) break; /* FIN + text, masked */
    size_t plen = f[1] & 0x7f, hlen = 6;
    if (plen == 127) break;
    if (plen == 126) {
      if (len - used < 8) break;
      plen = (size_t)f[2] << 8 | f[3];
      if (plen < 126) break; /* not the shortest form: wslay's to judge */
      hlen = 8;
    }
    if (plen > w->lim.max_message_bytes || len - used - hlen < plen) break;
    char stack[WS_FAST_STACK], *text = plen <= sizeof(stack) ? stack : malloc(plen);
    if (!text) break;
    unmask(text, f + hlen, plen, f + hlen - 4);
    int ok = util_utf8_valid(text, plen);
    if (ok) {
      used += hlen + plen;
      if (w->on_text) w->on_text(w->arg, text, plen);
    }
    if (text != stack) free(text);
    if (!ok) break;
  }
  return used;
}

enum ws_core_next ws_core_feed(ws_core_t *w, const char *data, size_t len, uint64_t now_ms) {
  if (w->failed) return WS_CORE_ABORT;
  if (!w->ctx && !w->scan.left && !w->scan.hlen && !w->scan.fragmented) {
    size_t used = feed_fast(w, (const uint8_t *)data, len);
    data += used;
    len -= used;
    if (len == 0 || w->failed) return next_step(w);
  }
  if (!ctx_of(w)) {
    w->failed = 1;
    return WS_CORE_ABORT;
  }
  w->in = data;
  w->in_len = len;
  w->in_wslay++;
  /* Once wslay stops reading (a close received, or a protocol error it
   * answered with a close) the rest is discarded: nothing more is acted on. */
  if (wslay_event_recv(w->ctx) != 0) w->failed = 1;
  w->in_wslay--;
  scan(&w->scan, (const uint8_t *)data, len - w->in_len);
  w->in = NULL;
  w->in_len = 0;
  enum ws_core_next next = next_step(w);
  maybe_release(w);
  return next;
}

/* A server's text frame (unmasked, one fragment) straight into the output:
 * the header, then the payload, in one copy. */
static int append_text_frame(ws_core_t *w, const char *text, size_t len) {
  uint8_t hdr[10];
  size_t hlen = 2;
  hdr[0] = 0x81; /* FIN, text */
  if (len < 126) {
    hdr[1] = (uint8_t)len;
  } else if (len <= 0xffff) {
    hdr[1] = 126;
    hdr[2] = (uint8_t)(len >> 8);
    hdr[3] = (uint8_t)len;
    hlen = 4;
  } else {
    hdr[1] = 127;
    for (int i = 0; i < 8; i++) hdr[2 + i] = (uint8_t)((uint64_t)len >> (56 - 8 * i));
    hlen = 10;
  }
  out_take(w);
  if (buf_reserve(&w->out, hlen + len) != 0) return -1;
  char *at = w->out.data + w->out.len;
  memcpy(at, hdr, hlen);
  memcpy(at + hlen, text, len);
  w->out.len += hlen + len;
  w->out.data[w->out.len] = '\0';
  return 0;
}

int ws_core_send_text(ws_core_t *w, const char *text, size_t len) {
  if (w->failed || ws_core_closing(w)) return -1;
  /* With nothing in wslay's queue (no pong or ping waiting, nothing half
   * serialized: its send callback takes every byte) the frame goes after
   * everything already in the output, as wslay would put it, without a wslay
   * context for an idle session nor wslay's copies of the message. */
  if (!w->ctx || !wslay_event_want_write(w->ctx)) return append_text_frame(w, text, len);
  struct wslay_event_msg msg = {WSLAY_TEXT_FRAME, (const uint8_t *)text, len};
  return wslay_event_queue_msg(w->ctx, &msg) == 0 ? 0 : -1;
}

void ws_core_close(ws_core_t *w, uint16_t code, const char *reason) {
  if (w->failed || ws_core_closing(w)) return;
  if (!ctx_of(w)) {
    w->failed = 1; /* no close frame can be queued: the session is unusable */
    return;
  }
  size_t rlen = reason ? strlen(reason) : 0;
  if (rlen > 123) rlen = 123;
  if (wslay_event_queue_close(w->ctx, code, (const uint8_t *)reason, rlen) == 0)
    w->close_code = code;
}

enum ws_core_next ws_core_flush(ws_core_t *w, uint64_t now_ms) {
  if (w->failed) return WS_CORE_ABORT;
  if (!w->ctx) return next_step(w); /* nothing queued */
  w->in_wslay++;
  if (wslay_event_want_write(w->ctx) && wslay_event_send(w->ctx) != 0) w->failed = 1;
  w->in_wslay--;
  /* Our close is out: the peer has a short while to answer it. */
  if (wslay_event_get_close_sent(w->ctx) && !wslay_event_get_close_received(w->ctx) &&
      !w->close_deadline)
    w->close_deadline = now_ms + WS_CLOSE_WAIT_MS;
  enum ws_core_next next = next_step(w);
  maybe_release(w);
  return next;
}

char *ws_core_take_output(ws_core_t *w, size_t *len) {
  *len = w->out.len;
  if (w->out.len == 0) return NULL;
  return buf_steal(&w->out);
}

const char *ws_core_output(const ws_core_t *w, size_t *len) {
  *len = w->out.len;
  return w->out.len ? w->out.data : NULL;
}

void ws_core_output_sent(ws_core_t *w) {
  ws_pool_t *pool = w->pool;
  w->out.len = 0;
  if (pool && w->out.data && w->out.cap <= WS_POOL_BUF_MAX && pool->n < WS_POOL_MAX) {
    pool->bufs[pool->n++] = w->out;
    buf_init(&w->out);
  } else {
    buf_free(&w->out);
  }
}

size_t ws_core_pending(const ws_core_t *w) {
  return (w->ctx ? wslay_event_get_queued_msg_length(w->ctx) : 0) + w->out.len;
}

int ws_core_want_flush(const ws_core_t *w) {
  return w->out.len > 0 || (w->ctx && wslay_event_want_write(w->ctx));
}

int ws_core_want_control(const ws_core_t *w) { return w->ctx && wslay_event_want_write(w->ctx); }

int ws_core_plain(const ws_core_t *w) { return !w->ctx && !w->failed; }

int ws_core_closing(const ws_core_t *w) {
  /* wslay stops reading exactly when it queues a close of its own (protocol
   * error, too big, bad UTF-8, or the echo of the peer's close). Without a
   * context nothing was begun: it is only freed while not closing. */
  if (w->close_code != 0) return 1;
  return w->ctx && (!wslay_event_get_read_enabled(w->ctx) || wslay_event_get_close_sent(w->ctx));
}

uint16_t ws_core_close_code(const ws_core_t *w) {
  if (w->close_code) return w->close_code;
  return w->ctx && wslay_event_get_close_sent(w->ctx) ? wslay_event_get_status_code_sent(w->ctx)
                                                      : 0;
}

void ws_core_set_deadline(ws_core_t *w, uint64_t at_ms, uint16_t code, const char *reason) {
  w->auth_deadline = at_ms;
  w->auth_code = code ? code : 1008;
  snprintf(w->auth_reason, sizeof(w->auth_reason), "%s", reason ? reason : "");
}

static uint64_t earliest(uint64_t a, uint64_t b) {
  if (!a) return b;
  if (!b) return a;
  return a < b ? a : b;
}

uint64_t ws_core_next_deadline(const ws_core_t *w) {
  if (w->failed) return 0;
  if (ws_core_closing(w)) return w->close_deadline;
  uint64_t t = earliest(w->next_ping_at, w->pong_deadline);
  return earliest(t, w->auth_deadline);
}

static void send_ping(ws_core_t *w, uint64_t now_ms) {
  struct wslay_event_msg ping = {WSLAY_PING, NULL, 0};
  if (ctx_of(w) && wslay_event_queue_msg(w->ctx, &ping) == 0 && !w->pong_deadline)
    w->pong_deadline = now_ms + w->lim.pong_timeout_ms;
  w->next_ping_at = now_ms + w->lim.ping_interval_ms;
}

enum ws_core_next ws_core_tick(ws_core_t *w, uint64_t now_ms) {
  if (w->failed) return WS_CORE_ABORT;
  if (ws_core_closing(w))
    return w->close_deadline && now_ms >= w->close_deadline ? WS_CORE_ABORT : next_step(w);
  if (w->pong_deadline && now_ms >= w->pong_deadline) return WS_CORE_ABORT;
  if (w->auth_deadline && now_ms >= w->auth_deadline) {
    w->auth_deadline = 0;
    ws_core_close(w, w->auth_code, w->auth_reason);
    return next_step(w);
  }
  if (w->next_ping_at && now_ms >= w->next_ping_at) send_ping(w, now_ms);
  return next_step(w);
}
