/* A TCP connection on the loop: the socket, one timer, a reference count and the
 * protocol handler that owns its bytes (HTTP first, then maybe WebSocket).
 * Loop thread only.
 *
 * Lifetime: the listener creates a connection with one reference, dropped when
 * the connection closes. Anything that outlives a callback (a store job, a write,
 * a pending reply) takes a reference with conn_ref() and drops it with
 * conn_unref(). conn_close() is idempotent; the memory goes after the socket and
 * timer handles are closed and the count reaches zero. */
#ifndef PARLEY_CONN_H
#define PARLEY_CONN_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

typedef struct conn_s conn_t;
typedef struct listener_s listener_t;
struct metrics_s;

typedef struct conn_handler_s {
  /* Bytes arrived; borrowed for the call. May call conn_close(). */
  void (*on_read)(conn_t *c, const char *data, size_t len);
  /* The peer closed its side (EOF). NULL means close the connection. */
  void (*on_eof)(conn_t *c);
  /* The connection is closing: release protocol state that holds no
   * reference. Called once, from conn_close(). */
  void (*on_close)(conn_t *c);
  /* Every write queued so far has been handed to the kernel. Optional. */
  void (*on_drain)(conn_t *c);
  /* The connection was just accepted (the initial handler only): arm the
   * deadline for its first bytes. Optional. */
  void (*on_open)(conn_t *c);
} conn_handler_t;

typedef void (*conn_timer_fn)(conn_t *c);
/* Where a memory connection's written bytes go (see conn_open_memory). */
typedef void (*conn_sink_fn)(void *arg, const char *data, size_t len);

struct conn_s {
  uv_tcp_t tcp;
  uv_timer_t timer;
  uv_shutdown_t shutdown_req;
  listener_t *listener; /* the one that accepted it */
  void *server;         /* what the listener serves (for HTTP, its http_server_t) */
  const conn_handler_t *handler;
  void *data; /* the handler's state */
  uint64_t id;
  int refs;
  int handles_open; /* tcp and timer, until their close callbacks */
  unsigned closing : 1;
  unsigned reading : 1;
  unsigned is_ws : 1;
  unsigned metrics_only : 1; /* accepted on the metrics listener */
  size_t write_pending;      /* bytes queued in uv_write requests not yet done */
  int close_when_drained;    /* conn_close() waits for queued writes */
  conn_timer_fn timer_fn;    /* NULL: the timer is stopped (the handle may still run, see conn.c) */
  uint64_t timer_due;        /* loop time (ms) at which timer_fn is due */
  uint64_t timer_at;         /* loop time at which the handle, when active, fires */
  unsigned in_read : 1;      /* inside the handler's on_read: the handle is armed after it */
  unsigned timer_defer : 1;
  conn_t *prev, *next; /* the listener's list of open connections */
  char peer[48];       /* the client's address, without port */
  /* A memory connection (conn_open_memory): no socket, tcp never initialised. */
  unsigned memory : 1;
  conn_sink_fn sink;
  void *sink_arg;
  struct write_req_s *unsent, **unsent_tail; /* written, not yet taken (conn_memory_drain) */
};

/* A listener on loop (not yet listening): its connections start with `initial`
 * and carry `server` (borrowed) as c->server; at most max_connections are open
 * at once, more are refused; counters go to metrics (borrowed, may be NULL).
 * Returns NULL when memory runs out. */
listener_t *listener_new(uv_loop_t *loop, const conn_handler_t *initial, void *server,
                         int max_connections, struct metrics_s *metrics);
/* Starts listening on host:port. Returns 0 or a libuv error. */
int listener_start(listener_t *l, const char *host, int port);
/* The port the listener is bound to (tests listen on port 0), or 0. */
int listener_port(const listener_t *l);
/* Starts a second listener (metrics_listen), after listener_start(); its
 * connections are marked metrics_only. Returns 0 or a libuv error. */
int listener_start_metrics(listener_t *l, const char *host, int port);
/* Stops accepting new connections on every listener (shutdown). Idempotent;
 * l may be NULL. */
void listener_stop(listener_t *l);
/* Frees the listener once it is stopped and the loop has closed every
 * connection. l may be NULL. */
void listener_free(listener_t *l);
/* Calls fn on every open connection (shutdown). l may be NULL. */
void conn_foreach(listener_t *l, void (*fn)(conn_t *c, void *arg), void *arg);
/* The same spread over loop turns: conn_foreach_restart starts a walk at the
 * first connection; each conn_foreach_some goes on where the last stopped,
 * through at most max connections (those closing are passed over), and
 * returns 1 once the walk is done. A connection that goes away meanwhile is
 * never visited; one opened since the restart is not either. One walk at a
 * time per listener. */
void conn_foreach_restart(listener_t *l);
int conn_foreach_some(listener_t *l, int max, void (*fn)(conn_t *c, void *arg), void *arg);
/* Number of open connections (0 for a NULL listener). */
int conn_count(const listener_t *l);

void conn_ref(conn_t *c);
void conn_unref(conn_t *c);
/* Closes gracefully: queued writes leave first (at most 5 s), then the write
 * side is shut down (FIN) and what the peer still sends is read and discarded
 * until it closes too (at most 2 s), so a reply is never lost to a reset.
 * Idempotent. */
void conn_close(conn_t *c);
/* Closes at once, discarding queued writes (a client dropped for not reading). */
void conn_abort(conn_t *c);
/* Replaces the protocol handler (an HTTP upgrade to WebSocket). */
void conn_set_handler(conn_t *c, const conn_handler_t *h, void *data);

/* Queues bytes; copies them. Returns 0, or -1 if the connection is closing. */
int conn_write(conn_t *c, const uv_buf_t *bufs, unsigned nbufs);
/* The same for a complete reply, written at once when nothing is queued
 * (uv_try_write) and queued as conn_write does only for what the kernel did not
 * take; on_drain follows only a queued write. At most four buffers beyond the
 * queueing path. Loop thread. */
int conn_write_reply(conn_t *c, const uv_buf_t *bufs, unsigned nbufs);
/* Writes a malloc'd buffer and takes ownership of it (freed when written):
 * with nothing queued, what the socket takes at once leaves now (no on_drain
 * for it: nothing was pending); the rest is queued as by conn_write. */
int conn_write_owned(conn_t *c, char *data, size_t len);

/* Pauses and resumes reading (backpressure, one request at a time). */
void conn_read_stop(conn_t *c);
void conn_read_start(conn_t *c);

/* One timer per connection, shared by its protocol: (re)arms it to call fn after
 * ms milliseconds; conn_timer_stop() disarms it. */
void conn_timer_start(conn_t *c, uint64_t ms, conn_timer_fn fn);
void conn_timer_stop(conn_t *c);

/* Memory connections, for fuzzing and tests: the real connection and protocol
 * code without a socket. The harness plays the kernel: it delivers bytes and
 * EOF, decides when queued writes are taken and fires the timer.
 *
 * conn_open_memory() opens a connection on listener l (which need not listen)
 * as if accepted from peer: l's initial handler and server, on_open called,
 * reading started. Written bytes go to sink at once, in order; the writes stay
 * pending (write_pending, no on_drain) until conn_memory_drain(). Returns NULL
 * when memory runs out or l is at max_connections. Closing works as for a
 * socket except that there is nothing to flush or linger on; the memory goes
 * when the loop has run the timer's close callback. */
conn_t *conn_open_memory(listener_t *l, const char *peer, conn_sink_fn sink, void *arg);
/* Delivers bytes (as one read) when the connection is reading; returns 0, or -1
 * when it is not reading (paused or closing) and the bytes were not taken. */
int conn_memory_read(conn_t *c, const char *data, size_t len);
/* The peer closed its side. */
void conn_memory_eof(conn_t *c);
/* Every queued write is taken by the "kernel": their callbacks run, then
 * on_drain (or the close that waited for them). */
void conn_memory_drain(conn_t *c);
/* Runs the armed timer's function now; returns 0, or -1 when none is armed. */
int conn_memory_fire_timer(conn_t *c);

#endif
