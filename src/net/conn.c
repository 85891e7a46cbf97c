/* Listener and connections: accepting, reading into one shared buffer, writes
 * that own their bytes, one timer per connection, reference counting, and a
 * close that lets queued writes leave first. Loop thread only.
 *
 * A connection's memory goes when its handles are closed and its count is zero:
 * the "open" reference taken at accept is dropped by the last close callback. */
#include "parley/conn.h"

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include "parley/log.h"
#include "parley/metrics.h"

#define READ_BUF_SIZE 65536
/* How long a closing connection may take to flush its writes, and then to
 * answer our FIN with its own. */
#define CLOSE_FLUSH_MS 5000
#define CLOSE_LINGER_MS 2000

struct listener_s {
  uv_loop_t *loop;
  const conn_handler_t *initial;
  void *server; /* handed to every connection as c->server */
  int max_connections;
  metrics_t *counters; /* may be NULL */
  uv_tcp_t tcp;
  int listening;
  int stopped; /* listener_stop ran: accept nothing more */
  conn_t *head;
  conn_t *cursor; /* conn_foreach_some's next connection (kept valid by unlinking) */
  int nconns;
  uint64_t next_conn_id;
  uv_tcp_t metrics; /* the metrics listener, when metrics_listening */
  int metrics_listening;
  char read_buf[READ_BUF_SIZE];
  int read_buf_busy;
  /* A connection that cannot get memory is still accepted, into this handle,
   * and closed at once: libuv stops polling a listener whose pending connection
   * was not accepted, so refusing any other way would stop accepting for good. */
  uv_tcp_t refuse;
  int refuse_busy;                /* refuse is open or closing */
  uv_stream_t *refuse_waiting[2]; /* listeners whose connection waits for refuse to close */
};

typedef struct write_req_s {
  uv_write_t req;
  conn_t *conn;
  size_t len;
  char *owned;              /* malloc'd by the caller, or NULL when data[] holds the bytes */
  struct write_req_s *next; /* a memory connection's queue of unsent writes */
  char data[];
} write_req_t;

static void on_write(uv_write_t *req, int status);

void conn_ref(conn_t *c) {
  assert(c->refs > 0);
  c->refs++;
}

void conn_unref(conn_t *c) {
  assert(c->refs > 0);
  if (--c->refs > 0) return;
  free(c);
}

static void on_handle_closed(uv_handle_t *h) {
  conn_t *c = h->data;
  assert(c->handles_open > 0);
  if (--c->handles_open == 0) {
    listener_t *l = c->listener;
    if (l->cursor == c) l->cursor = c->next;
    if (c->prev)
      c->prev->next = c->next;
    else
      l->head = c->next;
    if (c->next) c->next->prev = c->prev;
    assert(l->nconns > 0);
    l->nconns--;
    conn_unref(c); /* the open reference */
  }
}

/* A memory connection's queued writes complete with status, in order. */
static void memory_complete_writes(conn_t *c, int status) {
  while (c->unsent) {
    write_req_t *w = c->unsent;
    c->unsent = w->next;
    if (!c->unsent) c->unsent_tail = &c->unsent;
    on_write(&w->req, status);
  }
}

static int handles_closing(conn_t *c) {
  return uv_is_closing(c->memory ? (uv_handle_t *)&c->timer : (uv_handle_t *)&c->tcp);
}

/* Closes both handles now; queued writes complete with UV_ECANCELED. */
static void close_handles(conn_t *c) {
  if (handles_closing(c)) return;
  if (c->memory) {
    uv_close((uv_handle_t *)&c->timer, on_handle_closed);
    conn_ref(c); /* the cancelled writes may drop every other reference */
    memory_complete_writes(c, UV_ECANCELED);
    conn_unref(c);
    return;
  }
  uv_close((uv_handle_t *)&c->tcp, on_handle_closed);
  uv_close((uv_handle_t *)&c->timer, on_handle_closed);
}

static void on_close_deadline(uv_timer_t *t) { close_handles(t->data); }

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf);

/* Lingering: input after our FIN is read and dropped until the peer's FIN. */
static void on_discard(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
  conn_t *c = s->data;
  listener_t *r = c->listener;
  if (buf->base == r->read_buf) r->read_buf_busy = 0;
  if (nread < 0) close_handles(c);
}

static void on_shutdown(uv_shutdown_t *req, int status) {
  conn_t *c = req->data;
  if (status < 0 || uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_discard) != 0)
    close_handles(c);
  conn_unref(c);
}

static void linger(conn_t *c) {
  if (handles_closing(c)) return;
  if (c->memory) {
    close_handles(c); /* no peer to wait for */
    return;
  }
  uv_timer_start(&c->timer, on_close_deadline, CLOSE_LINGER_MS, 0);
  c->shutdown_req.data = c;
  if (uv_shutdown(&c->shutdown_req, (uv_stream_t *)&c->tcp, on_shutdown) != 0) {
    close_handles(c);
    return;
  }
  conn_ref(c);
}

static void begin_close(conn_t *c) {
  if (c->closing) return;
  c->closing = 1;
  if (!c->memory) uv_read_stop((uv_stream_t *)&c->tcp);
  c->reading = 0;
  if (c->handler && c->handler->on_close) c->handler->on_close(c);
}

void conn_close(conn_t *c) {
  if (c->closing) return;
  begin_close(c);
  if (c->write_pending > 0) {
    /* Let the reply (or close frame) leave first, but not forever. */
    c->close_when_drained = 1;
    uv_timer_start(&c->timer, on_close_deadline, CLOSE_FLUSH_MS, 0);
    return;
  }
  linger(c);
}

void conn_abort(conn_t *c) {
  begin_close(c);
  close_handles(c);
}

void conn_set_handler(conn_t *c, const conn_handler_t *h, void *data) {
  c->handler = h;
  c->data = data;
}

static void on_write(uv_write_t *req, int status) {
  write_req_t *w = (write_req_t *)req;
  conn_t *c = w->conn;
  c->write_pending -= w->len;
  free(w->owned);
  free(w);
  if (status < 0 && status != UV_ECANCELED && !c->closing) {
    log_debug("conn %llu: write failed: %s", (unsigned long long)c->id, uv_strerror(status));
    conn_close(c);
  }
  if (c->write_pending == 0) {
    if (c->close_when_drained) {
      c->close_when_drained = 0;
      linger(c);
    } else if (!c->closing && c->handler && c->handler->on_drain)
      c->handler->on_drain(c);
  }
  conn_unref(c);
}

static int submit(conn_t *c, write_req_t *w, uv_buf_t *buf) {
  w->conn = c;
  if (c->memory) {
    c->sink(c->sink_arg, buf->base, buf->len);
    w->next = NULL;
    *c->unsent_tail = w;
    c->unsent_tail = &w->next;
    conn_ref(c);
    c->write_pending += w->len;
    return 0;
  }
  int rc = uv_write(&w->req, (uv_stream_t *)&c->tcp, buf, 1, on_write);
  if (rc < 0) {
    free(w->owned);
    free(w);
    conn_close(c);
    return -1;
  }
  conn_ref(c);
  c->write_pending += w->len;
  return 0;
}

int conn_write(conn_t *c, const uv_buf_t *bufs, unsigned nbufs) {
  if (c->closing) return -1;
  size_t total = 0;
  for (unsigned i = 0; i < nbufs; i++) total += bufs[i].len;
  write_req_t *w = malloc(sizeof(*w) + total);
  if (!w) {
    conn_close(c);
    return -1;
  }
  size_t off = 0;
  for (unsigned i = 0; i < nbufs; i++) {
    memcpy(w->data + off, bufs[i].base, bufs[i].len);
    off += bufs[i].len;
  }
  w->len = total;
  w->owned = NULL;
  uv_buf_t buf = uv_buf_init(w->data, (unsigned)total);
  return submit(c, w, &buf);
}

/* uv_try_write's writev(2), made directly: glibc's writev() is a
 * cancellation point, and in a process with threads it wraps every call in
 * two atomic updates of the thread's cancellation state. Only while nothing is
 * queued in libuv (write_pending 0: every queued write is counted there), so
 * the bytes keep their order. Returns what uv_try_write would. */
static int try_writev(conn_t *c, const uv_buf_t *bufs, unsigned nbufs) {
  uv_os_fd_t fd;
  if (uv_fileno((const uv_handle_t *)&c->tcp, &fd) != 0) return UV_EBADF;
  struct iovec iov[4];
  for (unsigned i = 0; i < nbufs; i++) iov[i] = (struct iovec){bufs[i].base, bufs[i].len};
  long n;
  do n = syscall(SYS_writev, fd, iov, nbufs);
  while (n < 0 && errno == EINTR);
  if (n >= 0) return (int)n;
  return errno == EAGAIN || errno == EWOULDBLOCK ? UV_EAGAIN
                                                 : -errno; /* libuv's errors are -errno */
}

int conn_write_reply(conn_t *c, const uv_buf_t *bufs, unsigned nbufs) {
  if (c->closing) return -1;
  if (c->memory || c->write_pending > 0 || nbufs > 4) return conn_write(c, bufs, nbufs);
  /* Nothing queued: the kernel usually takes it all now, and then no write
   * request, copy or callback is needed, nor the epoll_ctl that libuv makes
   * when a queue drains (one per reply, a third of /healthz's system calls). */
  uv_buf_t left[4];
  memcpy(left, bufs, nbufs * sizeof(*bufs));
  int n = try_writev(c, left, nbufs);
  if (n < 0 && n != UV_EAGAIN) {
    conn_close(c);
    return -1;
  }
  size_t sent = n > 0 ? (size_t)n : 0;
  unsigned i = 0;
  while (i < nbufs && sent >= left[i].len) sent -= left[i++].len;
  if (i == nbufs) return 0;
  left[i].base += sent;
  left[i].len -= (unsigned)sent;
  return conn_write(c, left + i, nbufs - i);
}

int conn_write_owned(conn_t *c, char *data, size_t len) {
  if (c->closing) {
    free(data);
    return -1;
  }
  /* Nothing queued: the kernel usually takes it all at once, and then there is
   * no request, no callback, and no poll change (a uv_write that completes at
   * once still costs an epoll_ctl on the next turn). What it leaves is queued. */
  size_t off = 0;
  if (!c->memory && c->write_pending == 0 && len > 0) {
    uv_buf_t now = uv_buf_init(data, (unsigned)len);
    int n = uv_try_write((uv_stream_t *)&c->tcp, &now, 1);
    if (n == (int)len) {
      free(data);
      return 0;
    }
    if (n < 0 && n != UV_EAGAIN) {
      log_debug("conn %llu: write failed: %s", (unsigned long long)c->id, uv_strerror(n));
      free(data);
      conn_close(c);
      return -1;
    }
    if (n > 0) off = (size_t)n;
  }
  write_req_t *w = malloc(sizeof(*w));
  if (!w) {
    free(data);
    conn_close(c);
    return -1;
  }
  w->len = len - off;
  w->owned = data;
  uv_buf_t buf = uv_buf_init(data + off, (unsigned)(len - off));
  return submit(c, w, &buf);
}

static void timer_arm(conn_t *c);

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  conn_t *c = h->data;
  listener_t *r = c->listener;
  /* One buffer serves every connection: on_read consumes it before returning. */
  if (r->read_buf_busy) {
    buf->base = NULL;
    buf->len = 0;
    return;
  }
  r->read_buf_busy = 1;
  buf->base = r->read_buf;
  buf->len = sizeof(r->read_buf);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
  conn_t *c = s->data;
  listener_t *r = c->listener;
  if (buf->base == r->read_buf) r->read_buf_busy = 0;
  if (nread == 0 || c->closing) return;
  conn_ref(c);
  if (nread < 0) {
    if (nread == UV_EOF && c->handler->on_eof)
      c->handler->on_eof(c);
    else
      conn_close(c);
  } else {
    c->in_read = 1;
    c->handler->on_read(c, buf->base, (size_t)nread);
    c->in_read = 0;
    if (c->timer_defer) {
      c->timer_defer = 0;
      timer_arm(c);
    }
  }
  conn_unref(c);
}

void conn_read_stop(conn_t *c) {
  if (!c->reading) return;
  c->reading = 0;
  if (!c->memory) uv_read_stop((uv_stream_t *)&c->tcp);
}

void conn_read_start(conn_t *c) {
  if (c->reading || c->closing) return;
  if (c->memory)
    c->reading = 1;
  else if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) == 0)
    c->reading = 1;
}

/* The timer's handle is moved only when it would fire too late. A stop leaves it
 * running (it then fires once and finds nothing to do), and a start due no
 * earlier than the handle lets it fire and re-arm for the rest: a keep-alive
 * request stops the request deadline and starts the idle one without a heap
 * operation. Inside on_read the handle is armed once, after the handler, for
 * what it left (the loop's time does not move within a callback), so a request
 * read whole never arms its deadline. A memory connection's handle follows
 * every start and stop (conn_memory_fire_timer looks at it). */
static void on_timer(uv_timer_t *t) {
  conn_t *c = t->data;
  if (c->closing || !c->timer_fn) return;
  uint64_t now = uv_now(t->loop);
  if (!c->memory && now < c->timer_due) {
    c->timer_at = c->timer_due;
    uv_timer_start(&c->timer, on_timer, c->timer_due - now, 0);
    return;
  }
  conn_timer_fn fn = c->timer_fn;
  c->timer_fn = NULL;
  conn_ref(c);
  fn(c);
  conn_unref(c);
}

static void timer_arm(conn_t *c) {
  if (c->closing || !c->timer_fn) return;
  if (!c->memory && c->timer_at <= c->timer_due && uv_is_active((uv_handle_t *)&c->timer)) return;
  uint64_t now = uv_now(c->timer.loop);
  c->timer_at = c->timer_due;
  uv_timer_start(&c->timer, on_timer, c->timer_due > now ? c->timer_due - now : 0, 0);
}

void conn_timer_start(conn_t *c, uint64_t ms, conn_timer_fn fn) {
  if (c->closing) return;
  c->timer_fn = fn;
  c->timer_due = uv_now(c->timer.loop) + ms;
  if (c->in_read)
    c->timer_defer = 1;
  else
    timer_arm(c);
}

void conn_timer_stop(conn_t *c) {
  if (c->closing) return;
  c->timer_fn = NULL;
  if (c->memory) uv_timer_stop(&c->timer);
}

static void peer_name(conn_t *c) {
  struct sockaddr_storage ss;
  int len = sizeof(ss);
  strcpy(c->peer, "unknown");
  if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &len) != 0) return;
  if (ss.ss_family == AF_INET)
    uv_ip4_name((struct sockaddr_in *)&ss, c->peer, sizeof(c->peer));
  else if (ss.ss_family == AF_INET6)
    uv_ip6_name((struct sockaddr_in6 *)&ss, c->peer, sizeof(c->peer));
}

static void refuse(listener_t *r, uv_stream_t *server);

static void on_refuse_closed(uv_handle_t *h) {
  listener_t *r = h->data;
  r->refuse_busy = 0;
  for (int i = 0; i < 2 && !r->refuse_busy; i++) {
    uv_stream_t *server = r->refuse_waiting[i];
    r->refuse_waiting[i] = NULL;
    if (server && r->listening) refuse(r, server);
  }
}

/* Accepts the pending connection of server (the main or the metrics listener)
 * and closes it, without allocating. */
static void refuse(listener_t *r, uv_stream_t *server) {
  if (r->refuse_busy) {
    int i = server == (uv_stream_t *)&r->tcp ? 0 : 1;
    r->refuse_waiting[i] = server;
    return;
  }
  r->refuse_busy = 1;
  uv_tcp_init(r->loop, &r->refuse);
  r->refuse.data = r;
  if (uv_accept(server, (uv_stream_t *)&r->refuse) == 0 && r->counters)
    r->counters->connections_refused_total++;
  uv_close((uv_handle_t *)&r->refuse, on_refuse_closed);
}

static void on_connection(uv_stream_t *server, int status) {
  listener_t *r = server->data;
  if (status < 0 || r->stopped) return;
  conn_t *c = calloc(1, sizeof(*c));
  if (!c) {
    log_warn("connection refused: out of memory");
    refuse(r, server);
    return;
  }
  c->listener = r;
  c->server = r->server;
  c->refs = 1;
  c->id = ++r->next_conn_id;
  uv_tcp_init(r->loop, &c->tcp);
  uv_timer_init(r->loop, &c->timer);
  c->tcp.data = c->timer.data = c;
  c->handles_open = 2;
  c->next = r->head;
  if (r->head) r->head->prev = c;
  r->head = c;
  r->nconns++;
  if (uv_accept(server, (uv_stream_t *)&c->tcp) != 0) {
    c->closing = 1;
    close_handles(c);
    return;
  }
  if (r->nconns > r->max_connections) {
    /* Over the cap: refuse at once rather than hold a slot. */
    log_warn("connection refused: %d open (max_connections)", r->nconns - 1);
    if (r->counters) r->counters->connections_refused_total++;
    c->closing = 1;
    close_handles(c);
    return;
  }
  if (r->counters) r->counters->connections_total++;
  uv_tcp_nodelay(&c->tcp, 1);
  peer_name(c);
  c->metrics_only = server == (uv_stream_t *)&r->metrics;
  conn_set_handler(c, r->initial, NULL);
  if (r->initial->on_open) r->initial->on_open(c);
  conn_read_start(c);
}

/* ---- memory connections (conn.h) ---- */

conn_t *conn_open_memory(listener_t *r, const char *peer, conn_sink_fn sink, void *arg) {
  if (r->stopped || r->nconns >= r->max_connections) return NULL;
  conn_t *c = calloc(1, sizeof(*c));
  if (!c) return NULL;
  c->listener = r;
  c->server = r->server;
  c->refs = 1;
  c->id = ++r->next_conn_id;
  c->memory = 1;
  c->sink = sink;
  c->sink_arg = arg;
  c->unsent_tail = &c->unsent;
  uv_timer_init(r->loop, &c->timer);
  c->timer.data = c;
  c->handles_open = 1;
  c->next = r->head;
  if (r->head) r->head->prev = c;
  r->head = c;
  r->nconns++;
  snprintf(c->peer, sizeof(c->peer), "%s", peer);
  conn_set_handler(c, r->initial, NULL);
  if (r->initial->on_open) r->initial->on_open(c);
  conn_read_start(c);
  return c;
}

int conn_memory_read(conn_t *c, const char *data, size_t len) {
  if (!c->reading || c->closing) return -1;
  conn_ref(c);
  c->handler->on_read(c, data, len);
  conn_unref(c);
  return 0;
}

void conn_memory_eof(conn_t *c) {
  if (c->closing) return;
  conn_ref(c);
  if (c->handler->on_eof)
    c->handler->on_eof(c);
  else
    conn_close(c);
  conn_unref(c);
}

void conn_memory_drain(conn_t *c) {
  conn_ref(c);
  memory_complete_writes(c, 0);
  conn_unref(c);
}

int conn_memory_fire_timer(conn_t *c) {
  if (!uv_is_active((uv_handle_t *)&c->timer)) return -1;
  uv_timer_cb cb = c->timer.timer_cb;
  uv_timer_stop(&c->timer);
  conn_ref(c);
  cb(&c->timer);
  conn_unref(c);
  return 0;
}

static int bind_addr(const char *host, int port, struct sockaddr_storage *ss) {
  if (strcmp(host, "localhost") == 0) host = "127.0.0.1";
  if (uv_ip4_addr(host, port, (struct sockaddr_in *)ss) == 0) return 0;
  if (uv_ip6_addr(host, port, (struct sockaddr_in6 *)ss) == 0) return 0;
  return UV_EINVAL;
}

listener_t *listener_new(uv_loop_t *loop, const conn_handler_t *initial, void *server,
                         int max_connections, metrics_t *metrics) {
  listener_t *l = calloc(1, sizeof(*l));
  if (!l) return NULL;
  l->loop = loop;
  l->initial = initial;
  l->server = server;
  l->max_connections = max_connections;
  l->counters = metrics;
  return l;
}

int listener_start(listener_t *l, const char *host, int port) {
  struct sockaddr_storage ss;
  int rc = bind_addr(host, port, &ss);
  if (rc) return rc;
  uv_tcp_init(l->loop, &l->tcp);
  l->tcp.data = l;
  l->listening = 1;
  rc = uv_tcp_bind(&l->tcp, (struct sockaddr *)&ss, 0);
  if (!rc) rc = uv_listen((uv_stream_t *)&l->tcp, 1024, on_connection);
  return rc;
}

int listener_port(const listener_t *l) {
  struct sockaddr_storage ss;
  int len = sizeof(ss);
  if (!l || !l->listening || uv_tcp_getsockname(&l->tcp, (struct sockaddr *)&ss, &len) != 0)
    return 0;
  if (ss.ss_family == AF_INET) return ntohs(((struct sockaddr_in *)&ss)->sin_port);
  if (ss.ss_family == AF_INET6) return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
  return 0;
}

int listener_start_metrics(listener_t *r, const char *host, int port) {
  struct sockaddr_storage ss;
  int rc = bind_addr(host, port, &ss);
  if (rc) return rc;
  uv_tcp_init(r->loop, &r->metrics);
  r->metrics.data = r;
  r->metrics_listening = 1;
  rc = uv_tcp_bind(&r->metrics, (struct sockaddr *)&ss, 0);
  if (!rc) rc = uv_listen((uv_stream_t *)&r->metrics, 64, on_connection);
  return rc;
}

static void on_listener_closed(uv_handle_t *h) { (void)h; }

void listener_stop(listener_t *r) {
  if (!r) return;
  r->stopped = 1;
  if (r->metrics_listening) {
    r->metrics_listening = 0;
    uv_close((uv_handle_t *)&r->metrics, on_listener_closed);
  }
  if (!r->listening) return;
  r->listening = 0;
  uv_close((uv_handle_t *)&r->tcp, on_listener_closed);
}

void conn_foreach(listener_t *r, void (*fn)(conn_t *c, void *arg), void *arg) {
  if (!r) return;
  conn_t *c = r->head;
  while (c) {
    conn_t *next = c->next;
    if (!c->closing) {
      conn_ref(c);
      fn(c, arg);
      next = c->next; /* c stays linked while referenced */
      conn_unref(c);
    }
    c = next;
  }
}

void conn_foreach_restart(listener_t *l) {
  if (l) l->cursor = l->head;
}

int conn_foreach_some(listener_t *l, int max, void (*fn)(conn_t *c, void *arg), void *arg) {
  if (!l) return 1;
  for (int n = 0; n < max && l->cursor; n++) {
    conn_t *c = l->cursor;
    l->cursor = c->next; /* before fn: a connection it opens goes to the head, unvisited */
    if (c->closing) continue;
    conn_ref(c);
    fn(c, arg);
    conn_unref(c);
  }
  return l->cursor == NULL;
}

int conn_count(const listener_t *l) { return l ? l->nconns : 0; }

void listener_free(listener_t *l) {
  if (!l) return;
  assert(l->nconns == 0 && !l->listening && !l->metrics_listening);
  free(l);
}
