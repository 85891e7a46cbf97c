/* HTTP/1.1 on a connection: llhttp fed from conn reads, limits enforced while
 * parsing, one request handled at a time (parsing pauses until its reply), and
 * the request and idle deadlines. Loop thread only. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "http/http_internal.h"
#include "parley/log.h"
#include "parley/metrics.h"
#include "parley/router.h"
#include "parley/util.h"

static llhttp_settings_t parser_settings;
static void on_request_timeout(conn_t *c);

static http_conn_t *hc_of(llhttp_t *p) { return p->data; }

/* What the connection's listener serves. */
static const http_server_t *server_of(conn_t *c) { return c->server; }

static int fail(http_conn_t *hc, int status) {
  hc->error_status = status;
  return -1;
}

static int on_message_begin(llhttp_t *p) {
  http_conn_t *hc = hc_of(p);
  hc->idle = 0;
  hc->cur = http_req_new(server_of(hc->conn), hc->conn);
  if (!hc->cur) return fail(hc, 503);
  hc->header_bytes = 0;
  hc->in_value = 0;
  hc->name_at = hc->value_at = hc->url_at = NULL;
  if (hc->hname.data) buf_free(&hc->hname);
  if (hc->hval.data) buf_free(&hc->hval);
  /* The whole request must arrive within request_timeout_ms. */
  conn_timer_start(hc->conn, (uint64_t)server_of(hc->conn)->cfg->request_timeout_ms,
                   on_request_timeout);
  return 0;
}

/* A piece of the request target: the first is only noted (it lies in hc->in),
 * a second one copies both to cur->body, where the target is gathered until
 * complete. */
static int on_url(llhttp_t *p, const char *at, size_t len) {
  http_conn_t *hc = hc_of(p);
  buf_t *u = &hc->cur->body;
  if ((hc->url_at ? hc->url_len : u->len) + len > HTTP_MAX_URL) return fail(hc, 414);
  if (!hc->url_at && u->len == 0) {
    hc->url_at = at;
    hc->url_len = len;
    return 0;
  }
  if (hc->url_at) {
    if (buf_append(u, hc->url_at, hc->url_len) != 0) return fail(hc, 503);
    hc->url_at = NULL;
  }
  return buf_append(u, at, len) == 0 ? 0 : fail(hc, 503);
}

static int on_url_complete(llhttp_t *p) {
  http_conn_t *hc = hc_of(p);
  buf_t *u = &hc->cur->body;
  const char *url = hc->url_at ? hc->url_at : u->data ? u->data : "";
  size_t len = hc->url_at ? hc->url_len : u->len;
  int status = http_req_set_target(hc->cur, url, len);
  hc->url_at = NULL;
  if (u->data) buf_free(u);
  return status ? fail(hc, status) : 0;
}

/* A piece of a header's name or value: the first is only noted (it lies in
 * hc->in), a second one copies both to b. */
static int header_piece(http_conn_t *hc, buf_t *b, const char **at0, size_t *len0, const char *at,
                        size_t len) {
  hc->header_bytes += len;
  if (hc->header_bytes > HTTP_MAX_HEADER_BYTES) return fail(hc, 431);
  if (!*at0 && b->len == 0) {
    *at0 = at;
    *len0 = len;
    return 0;
  }
  if (*at0) {
    if (buf_append(b, *at0, *len0) != 0) return fail(hc, 503);
    *at0 = NULL;
  }
  return buf_append(b, at, len) == 0 ? 0 : fail(hc, 503);
}

/* Copies a noted piece before the input it lies in is consumed. */
static int keep_pieces(http_conn_t *hc) {
  if (hc->url_at) {
    if (hc->cur && buf_append(&hc->cur->body, hc->url_at, hc->url_len) != 0) return -1;
    hc->url_at = NULL;
  }
  if (hc->name_at) {
    if (buf_append(&hc->hname, hc->name_at, hc->name_len) != 0) return -1;
    hc->name_at = NULL;
  }
  if (hc->value_at) {
    if (buf_append(&hc->hval, hc->value_at, hc->value_len) != 0) return -1;
    hc->value_at = NULL;
  }
  return 0;
}

static int on_header_field(llhttp_t *p, const char *at, size_t len) {
  http_conn_t *hc = hc_of(p);
  return header_piece(hc, &hc->hname, &hc->name_at, &hc->name_len, at, len);
}

static int on_header_value(llhttp_t *p, const char *at, size_t len) {
  http_conn_t *hc = hc_of(p);
  return header_piece(hc, &hc->hval, &hc->value_at, &hc->value_len, at, len);
}

/* The header's name (lower case) and value in one allocation: the value
 * follows the name's NUL (http_req_unref frees the name only). */
static int on_header_value_complete(llhttp_t *p) {
  http_conn_t *hc = hc_of(p);
  http_req_t *r = hc->cur;
  if (r->nheaders == HTTP_MAX_HEADERS) return fail(hc, 431);
  const char *n = hc->name_at ? hc->name_at : hc->hname.data;
  size_t nlen = hc->name_at ? hc->name_len : hc->hname.len;
  const char *v = hc->value_at ? hc->value_at : hc->hval.data;
  size_t vlen = hc->value_at ? hc->value_len : hc->hval.len;
  char *name = http_req_alloc(r, nlen + vlen + 2);
  if (!name) return fail(hc, 503);
  for (size_t i = 0; i < nlen; i++) {
    char c = n[i];
    name[i] = c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
  }
  name[nlen] = '\0';
  char *value = name + nlen + 1;
  if (vlen) memcpy(value, v, vlen);
  value[vlen] = '\0';
  hc->name_at = hc->value_at = NULL;
  if (hc->hname.data) buf_free(&hc->hname);
  if (hc->hval.data) buf_free(&hc->hval);
  r->headers[r->nheaders].name = name;
  r->headers[r->nheaders].value = value;
  r->nheaders++;
  return 0;
}

static int on_headers_complete(llhttp_t *p) {
  http_conn_t *hc = hc_of(p);
  http_req_t *r = hc->cur;
  r->method = llhttp_method_name((llhttp_method_t)p->method);
  r->keep_alive = llhttp_should_keep_alive(p);
  r->upgrade = p->upgrade;
  /* A streamed body has its handler's limits: the handler runs now (parse_loop
   * dispatches it when the parser pauses here). */
  const http_server_t *srv = server_of(hc->conn);
  if (!r->upgrade && r->path && router_streams(srv->routes, srv->nroutes, r->method, r->path)) {
    r->streaming = 1;
    return HPE_PAUSED;
  }
  /* A declared body above the limit is refused before any of it is read. */
  if ((p->flags & F_CONTENT_LENGTH) &&
      p->content_length > (uint64_t)server_of(hc->conn)->cfg->max_body_bytes)
    return fail(hc, 413);
  return 0;
}

/* A piece of a streamed body goes to its handler's sink; progress restarts
 * the request deadline. A reply from the sink ends the parse. */
static int stream_body(http_conn_t *hc, const char *at, size_t len) {
  http_req_t *r = hc->cur;
  if (!hc->body_paused)
    conn_timer_start(hc->conn, (uint64_t)server_of(hc->conn)->cfg->request_timeout_ms,
                     on_request_timeout);
  http_req_ref(r);
  r->body_sink->on_data(r->body_ctx, at, len);
  int stop = r->replied || hc->stream_dead || hc->conn->closing;
  http_req_unref(r);
  return stop ? -1 : 0;
}

static int on_body(llhttp_t *p, const char *at, size_t len) {
  http_conn_t *hc = hc_of(p);
  if (hc->cur->streaming) return stream_body(hc, at, len);
  buf_t *b = &hc->cur->body;
  if ((int64_t)(b->len + len) > server_of(hc->conn)->cfg->max_body_bytes) return fail(hc, 413);
  return buf_append(b, at, len) == 0 ? 0 : fail(hc, 503);
}

static int on_message_complete(llhttp_t *p) {
  http_conn_t *hc = hc_of(p);
  conn_timer_stop(hc->conn);
  hc->active = hc->cur;
  hc->cur = NULL;
  /* Stop after this message so it is answered before the next one is read; an
   * upgrade stops by itself (HPE_PAUSED_UPGRADE). */
  return p->upgrade ? 0 : HPE_PAUSED;
}

static void release(http_conn_t *hc);
static void on_idle_timeout(conn_t *c) { conn_close(c); }

/* A client that sends requests and leaves the replies unread: its connection
 * is dropped, discarding what it did not read. */
static void on_unread_timeout(conn_t *c) {
  log_info("conn %llu: closed with %zu bytes of replies unread", (unsigned long long)c->id,
           c->write_pending);
  if (server_of(c)->metrics) server_of(c)->metrics->http_slow_readers_total++;
  conn_abort(c);
}

/* A new connection must send a complete first request within
 * request_timeout_ms; until one starts, nothing it sends (blank lines, or no
 * bytes at all) moves this deadline. */
static void on_first_request_timeout(conn_t *c) {
  log_debug("conn %llu: no request in time", (unsigned long long)c->id);
  conn_abort(c); /* no reply to protect: the slot is free at once, without lingering */
}

static void http_on_open(conn_t *c) {
  conn_timer_start(c, (uint64_t)server_of(c)->cfg->request_timeout_ms, on_first_request_timeout);
}

static void on_request_timeout(conn_t *c) {
  http_conn_t *hc = c->data;
  if (hc && hc->active) return; /* the handler owns the clock now */
  if (hc && hc->cur && hc->cur->streaming && hc->cur->replied) return;
  http_reply_parse_error(server_of(c), c, 408);
}

static void arm_idle(http_conn_t *hc) {
  /* A running deadline stands: input that is not a request never moves it. */
  if (hc->idle) return;
  hc->idle = 1;
  conn_timer_start(hc->conn, (uint64_t)server_of(hc->conn)->cfg->idle_timeout_ms, on_idle_timeout);
}

static void parse_error(http_conn_t *hc, llhttp_errno_t err) {
  int status = hc->error_status ? hc->error_status : 400;
  if (err != HPE_USER)
    log_debug("conn %llu: malformed request: %s", (unsigned long long)hc->conn->id,
              llhttp_get_error_reason(&hc->parser));
  hc->in.len = 0;
  http_reply_parse_error(server_of(hc->conn), hc->conn, status);
}

/* 1 when more replies are queued than HTTP_MAX_UNSENT: the next request waits
 * until they are written, so a client that pipelines and never reads costs at
 * most that much memory. */
static int unread_output(http_conn_t *hc) {
  hc->throttled = hc->conn->write_pending > HTTP_MAX_UNSENT;
  return hc->throttled;
}

/* Parses buffered input until a request is dispatched and pending, the input
 * runs out, the replies pile up unread, or the connection changes hands. Never
 * re-entered. */
static void parse_loop(http_conn_t *hc) {
  conn_t *c = hc->conn;
  hc->parsing = 1;
  conn_ref(c);
  while (!c->closing && !hc->upgraded && !hc->active && !hc->stream_wait && !hc->stream_dead &&
         hc->in.len > 0 && !unread_output(hc)) {
    llhttp_errno_t err = llhttp_execute(&hc->parser, hc->in.data, hc->in.len);
    if (keep_pieces(hc) != 0) {
      hc->error_status = 503;
      parse_error(hc, HPE_USER);
      break;
    }
    size_t used = hc->in.len;
    if (err == HPE_PAUSED || err == HPE_PAUSED_UPGRADE)
      used = (size_t)(llhttp_get_error_pos(&hc->parser) - hc->in.data);
    else if (err != HPE_OK && (hc->stream_dead || c->closing)) {
      /* A streamed body answered before its end: the rest is never read. */
      hc->in.len = 0;
      conn_close(c);
      break;
    } else if (err != HPE_OK) {
      parse_error(hc, err);
      break;
    }
    if (err == HPE_PAUSED) llhttp_resume(&hc->parser);
    if (err == HPE_PAUSED && hc->cur && hc->cur->streaming && !hc->active) {
      /* The headers of a streamed body: its handler runs now, and the body
       * waits until it takes it (http_req_stream_body) or answers. */
      buf_consume(&hc->in, used);
      hc->stream_wait = 1;
      conn_timer_stop(c);
      http_dispatch(hc->cur);
      continue;
    }
    if (hc->active && hc->active->streaming) {
      buf_consume(&hc->in, used);
      if (!hc->active->keep_alive) hc->close_after = 1;
      http_req_t *req = hc->active;
      req->body_done = 1;
      http_req_ref(req);
      if (!req->replied) req->body_sink->on_end(req->body_ctx);
      http_req_unref(req);
      continue;
    }
    if (hc->active) {
      http_req_t *req = hc->active;
      if (err == HPE_PAUSED_UPGRADE) {
        /* The bytes after the request belong to the next protocol; they stay in
         * hc->in for http_req_upgrade(). */
        buf_consume(&hc->in, used);
        hc->close_after = 1;
      } else {
        buf_consume(&hc->in, used);
        if (!req->keep_alive) hc->close_after = 1;
      }
      http_dispatch(req);
      continue;
    }
    buf_consume(&hc->in, used);
  }
  if (hc->stream_dead && !c->closing) conn_close(c); /* hc stays: parsing is still set */
  hc->parsing = 0;
  if (hc->upgraded) {
    /* The new protocol has consumed the bytes that followed the request. */
    release(hc);
  } else if (!c->closing && !hc->active && hc->throttled) {
    /* Replies pile up unread: read no more until they leave (http_on_drain),
     * and drop the client if they do not within idle_timeout_ms. */
    conn_read_stop(c);
    conn_timer_start(c, (uint64_t)server_of(c)->cfg->idle_timeout_ms, on_unread_timeout);
  } else if (!c->closing && !hc->active) {
    /* A partial request keeps the clock started at its first byte. */
    if (hc->in.len == 0 && !hc->cur) arm_idle(hc);
    if (!hc->body_paused && !hc->stream_wait) conn_read_start(c);
  }
  conn_unref(c);
}

static void http_on_read(conn_t *c, const char *data, size_t len) {
  http_conn_t *hc = c->data;
  if (buf_append(&hc->in, data, len) != 0) {
    conn_close(c);
    return;
  }
  if (hc->active || hc->parsing || hc->stream_wait) {
    /* A request is being handled: keep what arrives, within bounds. */
    if (hc->in.len > HTTP_MAX_BUFFERED) conn_read_stop(c);
    return;
  }
  parse_loop(hc);
}

/* Every queued reply has left: a streamed reply writes its next piece, a
 * throttled connection takes its next request. */
static void http_on_drain(conn_t *c) {
  http_conn_t *hc = c->data;
  if (hc && hc->active && hc->active->out_streaming && hc->active->out_fn) {
    http_req_t *r = hc->active;
    conn_timer_stop(c);
    http_req_ref(r);
    r->out_fn(r->out_ctx, 0);
    http_req_unref(r);
    return;
  }
  if (!hc || !hc->throttled || hc->active || hc->parsing) return;
  hc->throttled = 0;
  conn_timer_stop(c);
  hc->idle = 0;
  parse_loop(hc);
}

static void http_on_eof(conn_t *c) {
  http_conn_t *hc = c->data;
  /* A half-closed client still gets the answer to what it sent. */
  if (hc->active) {
    hc->close_after = 1;
    conn_read_stop(c);
    return;
  }
  conn_close(c);
}

static void release(http_conn_t *hc) {
  buf_free(&hc->in);
  buf_free(&hc->hname);
  buf_free(&hc->hval);
  free(hc);
}

static void http_on_close(conn_t *c) {
  http_conn_t *hc = c->data;
  if (!hc) return;
  c->data = NULL;
  if (hc->active) {
    http_req_t *r = hc->active;
    hc->active = NULL;
    r->conn = NULL;
    if (r->out_streaming) {
      /* A download cut short: its handler stops reading storage. */
      http_stream_fn fn = r->out_fn;
      r->out_streaming = 0;
      r->out_fn = NULL;
      if (fn) fn(r->out_ctx, 1);
    }
    http_req_unref(r);
  }
  if (hc->cur) {
    http_req_t *r = hc->cur;
    hc->cur = NULL;
    r->conn = NULL;
    /* A streamed body cut short: its handler drops what it received. */
    if (r->streaming && r->body_sink && !r->replied && !r->body_done) {
      r->body_done = 1;
      r->body_sink->on_abort(r->body_ctx);
    }
    http_req_unref(r);
  }
  if (hc->parsing)
    hc->upgraded = 1; /* parse_loop releases it when it unwinds */
  else
    release(hc);
}

static void http_on_read_first(conn_t *c, const char *data, size_t len);

const conn_handler_t http_conn_handler = {
    .on_read = http_on_read_first,
    .on_eof = NULL,
    .on_close = NULL,
    .on_open = http_on_open,
};

static const conn_handler_t http_handler = {
    .on_read = http_on_read,
    .on_eof = http_on_eof,
    .on_close = http_on_close,
    .on_drain = http_on_drain,
};

static void init_settings(void) {
  if (parser_settings.on_message_complete) return;
  llhttp_settings_init(&parser_settings);
  parser_settings.on_message_begin = on_message_begin;
  parser_settings.on_url = on_url;
  parser_settings.on_url_complete = on_url_complete;
  parser_settings.on_header_field = on_header_field;
  parser_settings.on_header_value = on_header_value;
  parser_settings.on_header_value_complete = on_header_value_complete;
  parser_settings.on_headers_complete = on_headers_complete;
  parser_settings.on_body = on_body;
  parser_settings.on_message_complete = on_message_complete;
}

/* The first read creates the HTTP state; a connection that never sends a byte
 * costs nothing but its socket until the first-request deadline. */
static void http_on_read_first(conn_t *c, const char *data, size_t len) {
  http_conn_t *hc = calloc(1, sizeof(*hc));
  if (!hc) {
    conn_close(c);
    return;
  }
  init_settings();
  hc->conn = c;
  hc->idle = 1; /* the first-request deadline armed at accept is running */
  llhttp_init(&hc->parser, HTTP_REQUEST, &parser_settings);
  hc->parser.data = hc;
  conn_set_handler(c, &http_handler, hc);
  http_on_read(c, data, len);
}

void http_conn_request_done(http_req_t *req) {
  conn_t *c = req->conn;
  if (!c || c->closing || c->handler != &http_handler) return;
  http_conn_t *hc = c->data;
  if (hc && hc->cur == req && req->streaming) {
    /* Answered before its body ended: the rest is not read. */
    hc->stream_dead = 1;
    hc->stream_wait = 0;
    conn_read_stop(c);
    if (!hc->parsing) conn_close(c);
    return;
  }
  if (!hc || hc->active != req) return;
  hc->active = NULL;
  req->conn = NULL;
  http_req_unref(req); /* the connection's reference */
  if (hc->close_after) {
    conn_close(c);
    return;
  }
  /* Inside the parse loop the next request is taken by the loop itself; parse_loop
   * may release hc, so nothing here touches it afterwards. */
  if (!hc->parsing) parse_loop(hc);
}

/* A streamed reply's client took nothing for request_timeout_ms: it is
 * dropped as a slow reader (one that reads at any pace restarts the clock with
 * every piece it takes). */
static void on_stream_stall(conn_t *c) {
  log_info("conn %llu: download stalled with %zu bytes unread", (unsigned long long)c->id,
           c->write_pending);
  if (server_of(c)->metrics) server_of(c)->metrics->http_slow_readers_total++;
  conn_abort(c);
}

void http_conn_stream_wait(http_req_t *req) {
  conn_t *c = req->conn;
  if (!c || c->closing || c->handler != &http_handler) return;
  conn_timer_start(c, (uint64_t)server_of(c)->cfg->request_timeout_ms, on_stream_stall);
}

void http_conn_shutdown(conn_t *c) {
  http_conn_t *hc = c->handler == &http_handler ? c->data : NULL;
  if (hc && hc->active) {
    hc->close_after = 1;
    conn_read_stop(c);
    return;
  }
  conn_close(c);
}

conn_t *http_req_upgrade(http_req_t *req, const char **rest, size_t *rest_len) {
  conn_t *c = req->conn;
  if (!c || c->closing || c->handler != &http_handler) return NULL;
  http_conn_t *hc = c->data;
  hc->upgraded = 1;
  hc->active = NULL;
  req->conn = NULL;
  req->replied = 1;
  conn_timer_stop(c);
  *rest = hc->in.data ? hc->in.data : "";
  *rest_len = hc->in.len;
  /* hc (and the bytes in hc->in) stays allocated until parse_loop, which
   * dispatched this request, unwinds and releases it. */
  c->data = NULL;
  conn_set_handler(c, NULL, NULL);
  http_req_unref(req);
  return c;
}

int http_req_stream_body(http_req_t *req, const http_body_sink_t *sink, void *ctx) {
  req->body_sink = sink;
  req->body_ctx = ctx;
  if (req->sink) {
    /* A loopback request: its body is all here. */
    if (req->body.len) sink->on_data(ctx, req->body.data, req->body.len);
    req->body_done = 1;
    if (!req->replied) sink->on_end(ctx);
    return 0;
  }
  conn_t *c = req->conn;
  if (!c || c->closing || c->handler != &http_handler) return -1;
  http_conn_t *hc = c->data;
  if (!hc || hc->cur != req) return -1;
  const char *expect = http_req_header(req, "expect");
  if (expect && strcasecmp(expect, "100-continue") == 0) {
    static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
    uv_buf_t b = uv_buf_init((char *)cont, sizeof(cont) - 1);
    conn_write(c, &b, 1);
  }
  hc->stream_wait = 0;
  conn_timer_start(c, (uint64_t)server_of(c)->cfg->request_timeout_ms, on_request_timeout);
  if (!hc->parsing) parse_loop(hc);
  return 0;
}

static http_conn_t *streaming_hc(http_req_t *req) {
  conn_t *c = req->conn;
  if (!c || c->closing || c->handler != &http_handler) return NULL;
  http_conn_t *hc = c->data;
  return hc && hc->cur == req ? hc : NULL;
}

void http_req_body_pause(http_req_t *req) {
  http_conn_t *hc = streaming_hc(req);
  if (!hc || hc->body_paused) return;
  hc->body_paused = 1;
  conn_read_stop(hc->conn);
  conn_timer_stop(hc->conn);
}

void http_req_body_resume(http_req_t *req) {
  http_conn_t *hc = streaming_hc(req);
  if (!hc || !hc->body_paused) return;
  hc->body_paused = 0;
  conn_timer_start(hc->conn, (uint64_t)server_of(hc->conn)->cfg->request_timeout_ms,
                   on_request_timeout);
  if (!hc->parsing) parse_loop(hc);
}

int64_t http_req_content_length(const http_req_t *req) {
  const char *te = http_req_header(req, "transfer-encoding");
  const char *cl = http_req_header(req, "content-length");
  if (te || !cl) return req->sink && !te ? (int64_t)req->body.len : -1;
  char *end;
  long long n = strtoll(cl, &end, 10);
  return end != cl && *end == '\0' && n >= 0 ? (int64_t)n : -1;
}
