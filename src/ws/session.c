/* WebSocket sessions on a conn_t: the upgrade, the connection handler that
 * feeds the protocol core, the once-a-turn flush (a uv_prepare_t per session,
 * so frames queued anywhere during a loop turn leave in one write before the
 * loop blocks), the output limit, and the one connection timer shared by the
 * ping, pong, auth and close deadlines. Loop thread only.
 *
 * Lifetime: the connection owns the session. When it closes (on_close, which
 * may run in the middle of any call into the session: a wslay callback, a
 * failed write, a drop), the session forgets its connection, runs
 * the server's on_close and closes its prepare handle. The core and the session
 * struct are freed only in that handle's close callback, which libuv runs from
 * its loop with none of our calls on the stack, so no call outlives what it
 * uses. A session without a connection (s->conn NULL) only returns.
 *
 * A session's output buffer comes from the server's pool (ws_pool_t) when
 * its first frame of a turn is queued and goes back once it is written.
 *
 * The write delay (cfg.ws_write_delay_ms; the list and the load signal are
 * write_delay.c's): while the loop is loaded, a frame queued to a session with
 * nothing leaving starts a wait of at most the delay instead of the
 * end-of-turn flush, and what the session gets meanwhile leaves in the same
 * write, so several turns' frames share one system call. An idle loop's
 * frames leave at the end of the turn as before. A close, pong or ping leaves
 * at the end of the turn and takes what waits with it; the output limit counts
 * what waits. */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "parley/log.h"
#include "parley/metrics.h"
#include "parley/util.h"
#include "parley/ws.h"
#include "ws/ws_internal.h"

typedef struct ws_priv_s {
  ws_core_t *core;
  uv_prepare_t flush; /* active while output waits for the end of the turn */
  buf_t early;        /* bytes that followed the upgrade request */
  uint64_t timer_at;  /* the deadline the connection timer is armed for, 0: none */
  ws_wait_t wait;     /* in the server's write-delay list while it waits */
} ws_priv_t;

typedef struct ws_block_s {
  ws_session_t pub;
  ws_priv_t priv;
} ws_block_t;

static ws_priv_t *priv(const ws_session_t *s) { return s->priv; }
static uint64_t now_ms(const ws_session_t *s) { return uv_now(s->server->loop); }

static void block_free(ws_block_t *b) {
  ws_core_free(b->priv.core);
  buf_free(&b->priv.early);
  free(b);
}

/* The one place a session that had a connection is freed (see the top). */
static void on_block_closed(uv_handle_t *h) { block_free(h->data); }

static void on_timer(conn_t *c);
static void on_prepare(uv_prepare_t *h);
/* The session whose node w is. */
static ws_session_t *session_of(ws_wait_t *w) {
  ws_priv_t *p = (ws_priv_t *)((char *)w - offsetof(ws_priv_t, wait));
  return &((ws_block_t *)((char *)p - offsetof(ws_block_t, priv)))->pub;
}

static void unwait(ws_session_t *s) {
  if (priv(s)->wait.waiting) ws_out_unwait(s->server->out, &priv(s)->wait);
}

static void schedule_flush(ws_session_t *s) {
  ws_priv_t *p = priv(s);
  if (s->conn && !uv_is_active((uv_handle_t *)&p->flush)) uv_prepare_start(&p->flush, on_prepare);
}

/* A frame was queued: nothing to do if the output already leaves this turn or
 * waits for the delay; else the delay while the loop is loaded, the end of the
 * turn when not. */
static void schedule_send(ws_session_t *s) {
  ws_priv_t *p = priv(s);
  ws_out_t *o = s->server->out;
  if (p->wait.waiting || !s->conn || uv_is_active((uv_handle_t *)&p->flush)) return;
  if (o && ws_out_loaded(o)) {
    ws_out_wait(o, &p->wait);
    if (s->server->metrics) s->server->metrics->ws_write_delays++;
  } else
    uv_prepare_start(&p->flush, on_prepare);
}

/* Re-arms only when the deadline moved: most reads change none, and a timer
 * restart per read would cost a heap operation for nothing. */
static void rearm(ws_session_t *s) {
  ws_priv_t *p = priv(s);
  if (!s->conn) return;
  uint64_t at = ws_core_next_deadline(p->core), now = now_ms(s);
  if (at == p->timer_at && at > now) return;
  p->timer_at = at;
  if (!at)
    conn_timer_stop(s->conn);
  else
    conn_timer_start(s->conn, at > now ? at - now : 0, on_timer);
}

/* With nothing queued on the connection (the common case) the output is
 * written from the core's buffer, which goes back to the server's pool, and
 * only what the kernel did not take is copied; behind queued bytes the
 * buffer itself joins the queue. */
static void write_output(ws_session_t *s) {
  ws_core_t *core = priv(s)->core;
  size_t len;
  if (s->conn && s->conn->write_pending == 0) {
    const char *out = ws_core_output(core, &len);
    if (!out) return;
    uv_buf_t b = uv_buf_init((char *)out, (unsigned)len);
    conn_write_reply(s->conn, &b, 1);
    ws_core_output_sent(core);
    return;
  }
  char *out = ws_core_take_output(core, &len);
  if (out && s->conn)
    conn_write_owned(s->conn, out, len);
  else
    free(out);
}

static int over_limit(const ws_session_t *s) {
  int64_t limit = s->server->cfg->ws_output_limit;
  return limit > 0 && (int64_t)ws_session_pending(s) > limit;
}

/* A client that does not read: closed at once rather than buffered for. */
static void drop(ws_session_t *s) {
  char fields[64];
  snprintf(fields, sizeof(fields), "\"conn\":%llu", (unsigned long long)s->id);
  log_msg(LOG_INFO, fields, "websocket dropped: %zu bytes of output queued", ws_session_pending(s));
  if (s->server->metrics) s->server->metrics->ws_dropped_slow++;
  conn_abort(s->conn); /* its queued output will never drain */
}

/* Carries out what the core asked for after a call into it. */
static void act(ws_session_t *s, enum ws_core_next next) {
  if (!s->conn) return;
  if (next == WS_CORE_FINISH) {
    /* The last close frame leaves, then the TCP connection closes. */
    ws_core_flush(priv(s)->core, now_ms(s));
    write_output(s);
  }
  if (next != WS_CORE_CONTINUE) {
    if (s->conn) conn_close(s->conn);
    return;
  }
  if (over_limit(s)) {
    drop(s);
    return;
  }
  /* Frames of its own that wait for the delay go on waiting; anything wslay
   * has to send (a pong, a ping, a close) leaves at the end of the turn. */
  ws_core_t *core = priv(s)->core;
  if (priv(s)->wait.waiting ? ws_core_want_control(core) : ws_core_want_flush(core))
    schedule_flush(s);
  rearm(s);
}

static void feed(ws_session_t *s, const char *data, size_t len) {
  act(s, ws_core_feed(priv(s)->core, data, len, now_ms(s)));
}

static void feed_early(ws_session_t *s) {
  ws_priv_t *p = priv(s);
  if (p->early.len == 0) return;
  buf_t early = p->early;
  buf_init(&p->early);
  feed(s, early.data, early.len);
  buf_free(&early);
}

/* Writes what the session has queued, whichever way it was waiting. */
static void flush_now(ws_session_t *s) {
  unwait(s);
  uv_prepare_stop(&priv(s)->flush);
  if (!s->conn) return;
  feed_early(s);
  if (s->conn) {
    ws_core_t *core = priv(s)->core;
    /* Only text frames of our own to write (the common case): no deadline
     * moves and nothing is left queued, so of act() only the limit applies. */
    int plain = ws_core_plain(core);
    enum ws_core_next next = ws_core_flush(core, now_ms(s));
    write_output(s);
    if (plain && next == WS_CORE_CONTINUE) {
      if (s->conn && over_limit(s)) drop(s);
      return;
    }
    act(s, next);
  }
}

static void on_prepare(uv_prepare_t *h) { flush_now(h->data); }

/* A waiting session's delay ended (it has left the list). */
static void on_wait_due(ws_wait_t *w) { flush_now(session_of(w)); }

static void on_timer(conn_t *c) {
  ws_session_t *s = c->data;
  if (!s) return;
  priv(s)->timer_at = 0; /* one-shot: it has fired */
  act(s, ws_core_tick(priv(s)->core, now_ms(s)));
}

static void on_text(void *arg, const char *data, size_t len) {
  ws_session_t *s = arg;
  /* wslay goes on parsing after a close from inside a callback: ignore it. */
  if (s->conn && s->server->on_message) s->server->on_message(s, data, len);
}

static void ws_on_read(conn_t *c, const char *data, size_t len) {
  ws_session_t *s = c->data;
  if (!s) return;
  feed_early(s);
  if (s->conn) feed(s, data, len);
}

static void ws_on_eof(conn_t *c) { conn_close(c); }

static void ws_on_close(conn_t *c) {
  ws_session_t *s = c->data;
  if (!s) return;
  c->data = NULL;
  s->conn = NULL;
  if (s->server->on_close) s->server->on_close(s);
  /* The hub must never hold a session that is going: harmless if the protocol
   * layer already removed it. */
  if (s->server->hub && s->user_id[0]) hub_remove(s->server->hub, s);
  unwait(s);
  /* Stops a pending flush too; the memory goes once libuv calls back. */
  uv_close((uv_handle_t *)&priv(s)->flush, on_block_closed);
}

static const conn_handler_t ws_handler = {
    .on_read = ws_on_read,
    .on_eof = ws_on_eof,
    .on_close = ws_on_close,
};

static ws_session_t *session_new(const ws_server_t *server) {
  ws_block_t *b = calloc(1, sizeof(*b));
  if (!b) return NULL;
  ws_session_t *s = &b->pub;
  const config_t *cfg = server->cfg;
  s->server = server;
  s->app = server->app;
  s->priv = &b->priv;
  util_new_id(s->session_id);
  buf_init(&b->priv.early);
  ws_core_limits_t lim = {
      .max_message_bytes =
          cfg->ws_max_message_bytes > 0 ? (uint64_t)cfg->ws_max_message_bytes : 65536,
      .ping_interval_ms = cfg->ws_ping_interval_ms > 0 ? (uint64_t)cfg->ws_ping_interval_ms : 0,
      .pong_timeout_ms = cfg->ws_pong_timeout_ms > 0 ? (uint64_t)cfg->ws_pong_timeout_ms : 0,
  };
  b->priv.core = ws_core_new(&lim, uv_now(server->loop), on_text, s);
  if (!b->priv.core) {
    block_free(b);
    return NULL;
  }
  ws_core_use_pool(b->priv.core, server->pool);
  return s;
}

static void refuse(http_req_t *req, int status, const char *why) {
  if (status == 426) http_reply_header(req, "Sec-WebSocket-Version", "13");
  http_reply_error(req, status, status == 426 ? "upgrade_required" : "validation_failed", why,
                   NULL);
}

static int write_101(conn_t *c, const char *accept) {
  char head[160];
  int n = snprintf(head, sizeof(head),
                   "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                   "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n",
                   accept);
  uv_buf_t buf = uv_buf_init(head, (unsigned)n);
  return conn_write(c, &buf, 1);
}

ws_session_t *ws_session_upgrade(http_req_t *req, const ws_server_t *server) {
  char accept[29];
  const char *why = NULL;
  int status = ws_handshake_check(req, accept, &why);
  if (status) {
    refuse(req, status, why);
    return NULL;
  }
  ws_session_t *s = session_new(server);
  if (!s) {
    http_reply_error(req, 503, "unavailable", "out of memory", NULL);
    return NULL;
  }
  const char *rest = NULL;
  size_t rest_len = 0;
  conn_t *c = http_req_upgrade(req, &rest, &rest_len);
  ws_priv_t *p = priv(s);
  /* Bytes sent before the 101 are fed on the first turn, after the caller has
   * set up its state; they are only borrowed now, hence the copy. */
  if (!c || (rest_len && buf_append(&p->early, rest, rest_len) != 0)) {
    if (c) conn_close(c);
    block_free((ws_block_t *)s); /* never had a connection: nothing refers to it */
    return NULL;
  }
  uv_prepare_init(server->loop, &p->flush);
  p->flush.data = s;
  s->conn = c;
  s->id = c->id;
  c->is_ws = 1;
  conn_set_handler(c, &ws_handler, s);
  if (server->metrics) server->metrics->ws_sessions_total++;
  /* A failed write closed the connection (on_close ran): nothing to return. */
  if (write_101(c, accept) != 0) return NULL;
  if (p->early.len) schedule_flush(s);
  rearm(s);
  return s;
}

int ws_session_send(ws_session_t *s, const char *text, size_t len) {
  if (!s->conn) return -1;
  int rc = ws_core_send_text(priv(s)->core, text, len);
  if (rc == 0 && over_limit(s)) {
    drop(s);
    rc = -1;
  } else if (rc == 0) {
    schedule_send(s);
  }
  return rc;
}

void ws_session_close(ws_session_t *s, uint16_t code, const char *reason) {
  if (!s->conn) return;
  ws_core_close(priv(s)->core, code, reason);
  schedule_flush(s);
}

size_t ws_session_pending(const ws_session_t *s) {
  const ws_priv_t *p = priv(s);
  return ws_core_pending(p->core) + (s->conn ? s->conn->write_pending : 0);
}

void ws_session_deadline(ws_session_t *s, uint64_t ms, uint16_t code, const char *reason) {
  if (!s->conn) return;
  ws_core_set_deadline(priv(s)->core, ms ? now_ms(s) + ms : 0, code, reason);
  rearm(s);
}

int ws_server_start(ws_server_t *srv) {
  srv->out = NULL;
  srv->pool = calloc(1, sizeof(*srv->pool));
  if (!srv->pool) return -1;
  if (srv->cfg->ws_write_delay_ms <= 0) return 0;
  srv->out = ws_out_new(srv->loop, (uint64_t)srv->cfg->ws_write_delay_ms, on_wait_due);
  if (srv->out) return 0;
  free(srv->pool);
  srv->pool = NULL;
  return -1;
}

void ws_server_stop(ws_server_t *srv) {
  /* Every session has gone (each left the list as it closed). */
  ws_out_close(srv->out);
  srv->out = NULL;
  ws_pool_clear(srv->pool);
  free(srv->pool);
  srv->pool = NULL;
}
