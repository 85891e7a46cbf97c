/* The load generator's shared types: one libuv loop, many client connections
 * (HTTP/1.1 keep-alive or WebSocket) bound to source addresses spread over
 * 127.0.0.0/8, and the scenarios that drive them. Single-threaded. */
#ifndef LG_H
#define LG_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

typedef struct lg_s lg_t;
typedef struct lg_conn_s lg_conn_t;

/* Events a connection reports besides responses and frames. */
enum lg_event { LG_CONNECTED, LG_WS_OPEN, LG_CLOSED };

typedef void (*lg_http_cb)(lg_conn_t *c, int status, const char *body, size_t len);
typedef void (*lg_text_cb)(lg_conn_t *c, const char *text, size_t len);
typedef void (*lg_event_cb)(lg_conn_t *c, enum lg_event ev);

struct lg_conn_s {
  uv_tcp_t tcp;
  uv_connect_t connect_req;
  lg_t *lg;
  char *rbuf; /* unparsed bytes kept between reads */
  size_t rlen, rcap;
  int state; /* see client.c */
  int closing;
  lg_http_cb on_http;
  lg_text_cb on_text;
  lg_event_cb on_event;
  void *user;        /* the scenario's */
  int index;         /* the scenario's */
  int ready;         /* a WebSocket session that got its "ready" frame */
  const char *token; /* Socket.io: sent in the namespace connect (the user's, borrowed) */
};

/* The process-wide context: the loop, the target and the shared read buffer. */
struct lg_s {
  uv_loop_t *loop;
  struct sockaddr_in target;
  char host[64];
  int port;
  unsigned next_source; /* spreads source addresses */
  char readbuf[256 * 1024];
  int readbuf_busy;
  uint64_t conn_errors;
  int open_conns;
  int socketio; /* --socketio: sessions speak Socket.io 4 over WebSocket (client.c) */
};

/* client.c */
lg_conn_t *lg_conn_open(lg_t *lg, void *user, lg_event_cb on_event);
void lg_conn_close(lg_conn_t *c);
int lg_conn_write(lg_conn_t *c, const char *data, size_t len);
int lg_http_send(lg_conn_t *c, const char *method, const char *path, const char *token,
                 const char *extra_headers, const char *body, size_t body_len, lg_http_cb cb);
int lg_ws_upgrade(lg_conn_t *c, const char *token, lg_text_cb on_text);
/* A frame {"type":"T",...}; with --socketio it goes as the event T with the
 * frame as its data (42["T",{...}]). */
int lg_ws_send_text(lg_conn_t *c, const char *text, size_t len);

/* api.c: batches of requests over a pool of keep-alive connections. */
typedef int (*lg_build_fn)(void *arg, int i, char *method, char *path, char **body, size_t *len,
                           char *extra_headers, const char **token);
typedef void (*lg_done_fn)(void *arg, int i, int status, const char *body, size_t len);
int lg_batch_run(lg_t *lg, int n, int conns, lg_build_fn build, lg_done_fn done, void *arg);
void lg_run_for(lg_t *lg, double seconds);
void lg_run_until(lg_t *lg, int *flag, double timeout_s);
double lg_now(void);

typedef struct lg_user_s {
  char id[64];
  char *token;
} lg_user_t;
lg_user_t *lg_signup_users(lg_t *lg, int n, const char *tag, int conns);
void lg_users_free(lg_user_t *u, int n);
/* Creates groups of `size` consecutive users; returns their conversation ids. */
char (*lg_create_groups(lg_t *lg, lg_user_t *users, int n, int size, int conns))[64];
/* Authenticated WebSocket sessions, one per user, opened `inflight` at a time;
 * after "ready", frames go to on_text with the session's index in c->index. */
typedef struct lg_sessions_s {
  lg_t *lg;
  lg_user_t *users;
  int n, next, pending, ready, failed, inflight;
  lg_conn_t **conns;
  lg_text_cb on_text;
  void *user;
  double seconds; /* to open them all */
} lg_sessions_t;
lg_sessions_t *lg_connect_sessions(lg_t *lg, lg_user_t *users, int n, int inflight,
                                   lg_text_cb on_text, void *user);
void lg_sessions_close(lg_sessions_t *s);

/* hist.c: latency histogram in microseconds. */
typedef struct lg_hist_s {
  uint64_t count;
  uint64_t buckets[4096];
} lg_hist_t;
void lg_hist_add(lg_hist_t *h, uint64_t usec);
double lg_hist_pct_ms(const lg_hist_t *h, double pct);

/* The scenarios; each prints one JSON object on stdout. */
typedef struct lg_opts_s {
  const char *host;
  int port;
  int users, group, warmup_s;
  double seconds;
  const char *rates;
  const char *sessions;
  int conns, events, contacts, graph_port;
  const char *secret, *label;
  int pid;
  int socketio; /* --socketio */
  int storm;    /* fanout: every session opened at once, then one step at the first rate */
} lg_opts_t;
int lg_fanout(lg_t *lg, const lg_opts_t *o);
int lg_channel(lg_t *lg, const lg_opts_t *o);
int lg_connections(lg_t *lg, const lg_opts_t *o);
/* flows: 0 plain events, 1 the 10-node flow, 2 the flow of every block of issue 19. */
int lg_webhook(lg_t *lg, const lg_opts_t *o, int flows);
int lg_token(lg_t *lg, const lg_opts_t *o);

/* fakegraph.c: a fast stand-in for the Graph API, counting requests and sends. */
typedef struct lg_graph_s lg_graph_t;
lg_graph_t *lg_graph_start(lg_t *lg, int port);
/* Every request (GET /me, profiles, sends). */
uint64_t lg_graph_requests(const lg_graph_t *g);
/* Sends only (POST .../messages). */
uint64_t lg_graph_sends(const lg_graph_t *g);
void lg_graph_stop(lg_graph_t *g);

/* misc */
long lg_rss_kib(int pid);
/* CPU seconds a process has used so far, in user space and in the kernel. */
int lg_cpu_seconds(int pid, double *user, double *sys);
/* Adds the server's CPU use since (user0, sys0) over `secs` to a result. */
void lg_cpu_since(json_t *out, int pid, double user0, double sys0, double secs);
double lg_metric(lg_t *lg, const char *name);

#endif
