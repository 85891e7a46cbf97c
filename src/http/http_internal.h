/* Shared between the files of src/http/: the per-connection parser state and
 * the hooks between parsing, dispatch and replies. Loop thread only. */
#ifndef PARLEY_HTTP_INTERNAL_H
#define PARLEY_HTTP_INTERNAL_H

#include <llhttp.h>

#include "parley/http.h"

/* Room for GET /api/presence with its 1,000 ids (25 bytes each). */
#define HTTP_MAX_URL 32768
#define HTTP_MAX_HEADER_BYTES 16384
/* Unparsed input kept while a request is being handled before reading pauses. */
#define HTTP_MAX_BUFFERED (256 * 1024)
/* Replies queued and not yet taken by the kernel above which a connection's
 * next request waits (and its reading stops). */
#define HTTP_MAX_UNSENT (256 * 1024)

typedef struct http_conn_s {
  conn_t *conn;
  llhttp_t parser;
  buf_t in;           /* received, not yet parsed */
  http_req_t *cur;    /* being parsed */
  http_req_t *active; /* dispatched, awaiting its reply */
  buf_t hname, hval;  /* the header being parsed, when it came in pieces */
  /* A name or value that came in one piece: where it lies in `in`, not copied
   * (parse_loop copies it to hname/hval before `in` changes). */
  const char *name_at, *value_at;
  size_t name_len, value_len;
  /* The same for the request target (copied to cur->body when in pieces). */
  const char *url_at;
  size_t url_len;
  int in_value;
  size_t header_bytes;
  int error_status; /* a limit hit during parsing: 413, 414, 431 */
  int parsing;      /* inside the parse loop: replies must not re-enter it */
  int upgraded;     /* the connection now belongs to another protocol */
  int close_after;  /* close once the active reply is written */
  int idle;         /* between requests, with the idle (or first-request) deadline running */
  int throttled;    /* replies pile up unread: no request is read until they leave */
  /* A streamed body (hc->cur->streaming): stream_wait until its handler takes
   * it (nothing is parsed meanwhile), body_paused while the handler's writes
   * are behind (nothing is read), stream_dead once it was answered before its
   * end (the connection closes). */
  int stream_wait;
  int body_paused;
  int stream_dead;
} http_conn_t;

/* Creates a request for a connection (one reference, the connection's). */
http_req_t *http_req_new(const http_server_t *server, conn_t *conn);
/* n bytes from the request's arena, or malloc'd when it is full; given back by
 * http_req_release (which frees only what was malloc'd). */
char *http_req_alloc(http_req_t *req, size_t n);
void http_req_release(http_req_t *req, void *p);
/* Copies the len bytes of target as the request target (url): splits off the
 * query and percent-decodes the path. Returns 0, 400 for a path that decodes
 * to a NUL byte or invalid UTF-8, or 503 without memory. */
int http_req_set_target(http_req_t *req, const char *target, size_t len);
/* Routes and runs a complete request (router, CORS preflight, auth). */
void http_dispatch(http_req_t *req);
/* Called by the reply functions once the response is queued. */
void http_conn_request_done(http_req_t *req);
/* A streamed reply wrote a piece: the client has request_timeout_ms to take
 * it (stopped on drain). */
void http_conn_stream_wait(http_req_t *req);
/* 1 when origin is one of cfg.cors_origins (or they include "*"). */
int http_origin_allowed(const http_server_t *server, const char *origin);
/* Writes an error reply for a request that could not be parsed, then closes. */
void http_reply_parse_error(const http_server_t *server, conn_t *conn, int status);

#endif
