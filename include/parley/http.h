/* HTTP/1.1 requests as handlers see them, and the replies they send.
 * Loop thread only.
 *
 * One request per connection is handled at a time: parsing pauses while a
 * handler works, so pipelined requests are answered in order. A handler either
 * replies before it returns, or takes a reference (http_req_ref) for its async
 * work and replies when that completes. Replying to a request whose connection
 * has gone is allowed and does nothing; the last http_req_unref frees it. */
#ifndef PARLEY_HTTP_H
#define PARLEY_HTTP_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "parley/buf.h"
#include "parley/config.h"
#include "parley/conn.h"

#define HTTP_MAX_PARAMS 4
#define HTTP_MAX_HEADERS 64
/* Bytes of a request's own room for its URL and headers (see http_req_s). */
#define HTTP_REQ_ARENA 1024

typedef struct http_header_s {
  char *name; /* lower-cased */
  char *value;
} http_header_t;

typedef struct http_req_s http_req_t;

/* A streamed reply's handler is told when everything it wrote has been taken
 * by the kernel (gone 0: write more), or that the client went away (gone 1:
 * stop; the request is finished, drop what refers to it). */
typedef void (*http_stream_fn)(void *ctx, int gone);

/* Where a streamed body goes (ROUTE_STREAM routes: see router.h). */
typedef struct http_body_sink_s {
  /* A piece of the body, borrowed for the call. It may reply (an error): the
   * rest of the body is then not read and the connection closes after the
   * reply. It may call http_req_body_pause; up to HTTP_STREAM_SLACK bytes
   * already received can still arrive while paused. */
  void (*on_data)(void *ctx, const char *data, size_t len);
  /* The whole body has arrived; the handler replies when it is done. */
  void (*on_end)(void *ctx);
  /* The connection closed before the body ended and before any reply: drop
   * what was received. The request is finished. */
  void (*on_abort)(void *ctx);
} http_body_sink_t;

/* Body bytes a paused stream may still deliver (input received before the
 * pause, which is parsed anyway). */
#define HTTP_STREAM_SLACK (320 * 1024)

/* Receives the reply to a loopback request (see http_loopback_new) as a
 * connection would have been sent it: head is the status line and headers,
 * body the body (none for HEAD); both borrowed for the call. */
typedef void (*http_sink_fn)(void *ctx, http_req_t *req, const char *head, size_t head_len,
                             const char *body, size_t body_len);

/* What an HTTP listener serves: the settings it reads (limits, CORS origins,
 * trusted proxies, metrics_listen), the route tables, the bearer-token check
 * of authenticated routes, where request metrics go, the web client's files
 * for what no route matches, and the application that
 * handlers get as req->app (http/ never looks inside it). Owned by the caller;
 * outlives every connection (it is the listener's server, see conn.h). */
typedef struct http_server_s {
  const config_t *cfg;
  const struct route_table_s *const *routes;
  size_t nroutes;
  /* Checks a bearer token for a route that needs one: fills req->user_id and
   * returns 0, or returns -1 (the router then answers 401) or -2 (the token
   * cannot be judged yet: 503 with Retry-After). */
  int (*authenticate)(void *ctx, http_req_t *req);
  void *auth_ctx;
  struct metrics_s *metrics; /* may be NULL */
  struct web_s *web;         /* may be NULL */
  struct app_s *app;
  /* Checks "Authorization: Bot <token>" for a ROUTE_BOT route, which may take
   * a store call: returns 0 and calls http_req_authenticated(req, status)
   * once, now or later (status 0: req->user_id is the bot's and req->bot is
   * 1; -1: 401; -2: 503), or returns -1 (503). NULL: bots are refused. */
  int (*authenticate_bot)(void *ctx, http_req_t *req);
  void *bot_ctx;
} http_server_t;

struct http_req_s {
  const http_server_t *server;
  struct app_s *app; /* server->app, for handlers */
  conn_t *conn;      /* NULL once the connection is gone */
  int refs;
  const char *method; /* "GET", "POST", ... */
  char *url;          /* raw request target */
  char *path;         /* percent-decoded path, no query */
  char *query;        /* raw query string after '?' (within url), or NULL */
  http_header_t headers[HTTP_MAX_HEADERS];
  int nheaders;
  buf_t body;
  const char *route; /* the matched route pattern, for metrics and logs */
  const char *param_names[HTTP_MAX_PARAMS];
  char *param_values[HTTP_MAX_PARAMS];
  int nparams;
  char user_id[64];        /* set before an authenticated route's handler runs */
  char login_id[32];       /* with it, the token's login ("sid"; empty for none) */
  int bot;                 /* 1: user_id is a bot's, authenticated by its bot token */
  const void *route_entry; /* the matched route_t, while a bot token is checked */
  char request_id[40];
  int keep_alive;
  int upgrade; /* the request asks for a protocol upgrade */
  uint64_t start_ns;
  int replied;
  int status; /* the status replied */
  size_t bytes_out;
  buf_t extra_headers; /* "Name: value\r\n" lines added by handlers */
  http_sink_fn sink;   /* a loopback request's reply goes here, not to conn */
  void *sink_ctx;
  /* A streamed body (a ROUTE_STREAM route): dispatched once its headers are in;
   * body_done once the last byte arrived. */
  int streaming;
  int body_done;
  const http_body_sink_t *body_sink;
  void *body_ctx;
  /* A streamed reply (http_reply_stream_begin): bytes of the body still to
   * write, what the handler is told on drain, and a loopback request's body
   * gathered for its sink. */
  int out_streaming;
  uint64_t out_left;
  http_stream_fn out_fn;
  void *out_ctx;
  buf_t out_body; /* the head, then the body */
  size_t out_head_len;
  /* Room for what a usual request brings (its URL, decoded path and headers),
   * so that parsing one allocates nothing more; what does not fit is
   * malloc'd. url, path, query and the headers' names may point into it (see
   * http_req_unref). */
  size_t arena_used;
  char arena[HTTP_REQ_ARENA];
};

/* A header of the request by lower-case name, or NULL. Borrowed. */
const char *http_req_header(const http_req_t *req, const char *name);
/* A :param of the matched route, or NULL. Borrowed. */
const char *http_req_param(const http_req_t *req, const char *name);
/* The percent-decoded value of a query parameter into out; returns its length,
 * -1 when absent, -2 when malformed or longer than outlen-1. */
long http_req_query(const http_req_t *req, const char *name, char *out, size_t outlen);

/* The client's address: the peer, or, when the peer is in cfg.trusted_proxies
 * (addresses or CIDR ranges), the last address of X-Forwarded-For that is not
 * itself a trusted proxy (the one the proxy saw). Writes into out (>= 48 bytes); "unknown" when
 * gone. */
void http_req_client_addr(const http_req_t *req, char *out, size_t outlen);

/* The body as a JSON object. On failure replies (415 unsupported_media_type, 400
 * invalid_json, 400 validation_failed when it is not an object) and returns NULL.
 * Returns a new reference. */
json_t *http_req_json(http_req_t *req);

/* 1 when nobody will see a reply any more: the connection has gone (a loopback
 * request's sink always takes it). For handlers that stop spending work on a
 * client that left. */
int http_req_gone(const http_req_t *req);

/* Streamed bodies. A ROUTE_STREAM route's handler runs as soon as the headers
 * have arrived, with req->body empty. It either replies at once (an error; the
 * body is never read) or, now or after async checks of its own, calls
 * http_req_stream_body: from then on the body goes to sink (ctx is passed
 * back), and the request deadline restarts with each piece (progress counts).
 * With "Expect: 100-continue" the client is told to go on. Returns 0, or -1
 * when the connection has gone (the sink is never called). A loopback
 * request's body is delivered whole, before this returns. */
int http_req_stream_body(http_req_t *req, const http_body_sink_t *sink, void *ctx);
/* Stops reading the body from the socket (the sink's writes are behind), and
 * stops the request deadline while paused; resume starts both again. */
void http_req_body_pause(http_req_t *req);
void http_req_body_resume(http_req_t *req);
/* The declared Content-Length, or -1 (chunked or none). */
int64_t http_req_content_length(const http_req_t *req);

/* The outcome of authenticate_bot (see http_server_t): runs the route's
 * handler, or answers 401 or 503. Drops the reference the check held. */
void http_req_authenticated(http_req_t *req, int status);

void http_req_ref(http_req_t *req);
void http_req_unref(http_req_t *req);

/* Adds a response header to the coming reply (copied). */
void http_reply_header(http_req_t *req, const char *name, const char *value);
/* Sends `body` as JSON; steals the reference. */
void http_reply_json(http_req_t *req, int status, json_t *body);
/* Sends API.md's error envelope; field may be NULL. */
void http_reply_error(http_req_t *req, int status, const char *code, const char *message,
                      const char *field);
/* Sends a status with no body (204, or a preflight). */
void http_reply_empty(http_req_t *req, int status);
/* Sends raw bytes with a content type; borrowed for the call. */
void http_reply_raw(http_req_t *req, int status, const char *content_type, const char *body,
                    size_t len);

/* Streamed replies (a download from files storage), with back-pressure.
 * http_reply_stream_begin sends the status line, the headers added so far,
 * Content-Type and Content-Length: len; then the handler writes the body in
 * pieces with http_reply_stream_write (copied), each time waiting for fn(ctx,
 * 0), which comes once the kernel took everything written, so at most one
 * piece per connection is queued, and ends with http_reply_stream_end. A HEAD
 * request gets the headers only: writes are dropped, and the handler ends at
 * once. fn(ctx, 1) tells the handler the client went away (no fn(ctx, 0) comes
 * after it). While a stream runs, a client that takes nothing of it for
 * request_timeout_ms is dropped; one that reads at any pace is not.
 * A loopback request's body is gathered and given to its sink at the end.
 * begin returns 0, or -1 when the client has gone (the request is finished). */
int http_reply_stream_begin(http_req_t *req, int status, const char *content_type, uint64_t len,
                            http_stream_fn fn, void *ctx);
/* Returns 1 when the piece is queued: write the next one after fn(ctx, 0);
 * 0 when it was taken at once (a loopback request, HEAD): go on now; -1 when
 * the client has gone or more than len would be written. */
int http_reply_stream_write(http_req_t *req, const char *data, size_t len);
/* Finishes the reply; with bytes of len still unwritten (storage failed
 * midway) the connection is cut, so the client sees a short body, never a
 * wrong one. */
void http_reply_stream_end(http_req_t *req);

/* Loopback requests (h2o's loopback connection): a request made in memory,
 * with no connection, routed and handled exactly as one that arrived on
 * server (CORS, 404/405, the bearer-token check, the handler), whose reply
 * goes to sink. For in-process callers and socket-free tests of handlers.
 *
 * http_loopback_new takes the method (GET, HEAD, POST, PUT, PATCH, DELETE or
 * OPTIONS) and the target as on the wire ("/api/x%20y?limit=2"); it returns a
 * request holding one reference (the caller's), or NULL for another method, a
 * target whose path would be refused, or no memory. Headers (at most
 * HTTP_MAX_HEADERS) and the body are copied; they return 0 or -1.
 * http_loopback_dispatch runs it once: sink is called when the handler
 * replies, before it returns or later from the loop. The caller drops its
 * reference with http_req_unref afterwards (a handler still working keeps its
 * own). */
http_req_t *http_loopback_new(const http_server_t *server, const char *method, const char *target,
                              http_sink_fn sink, void *ctx);
int http_loopback_header(http_req_t *req, const char *name, const char *value);
int http_loopback_body(http_req_t *req, const char *data, size_t len);
void http_loopback_dispatch(http_req_t *req);

/* The connection handler for a fresh socket: HTTP/1.1 with the limits of
 * config_t. Used by app.c when it starts the listener. */
extern const conn_handler_t http_conn_handler;

/* Shutdown: closes the connection now when it is between requests, or after
 * the reply to the request in progress. */
void http_conn_shutdown(conn_t *c);

/* Takes the connection away from HTTP for a protocol upgrade; call it from the
 * route's handler before the handler returns (the HTTP state and the bytes in
 * *rest are released when the parse loop that dispatched the request unwinds).
 * The caller replies
 * (101) itself with conn_write and installs its handler with conn_set_handler().
 * Bytes that followed the request are passed out through *rest and *rest_len,
 * borrowed until the caller's handler returns. Returns the connection, or NULL
 * when it is gone. The request is finished; do not reply to it. */
conn_t *http_req_upgrade(http_req_t *req, const char **rest, size_t *rest_len);

#endif
