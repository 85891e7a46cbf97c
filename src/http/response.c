/* Replies: the status line and headers every response carries (X-Request-Id,
 * CORS for allowed origins), the error envelope of API.md built in one place,
 * the access-log line and the request metrics. Loop thread only. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "http/http_internal.h"
#include "parley/json_out.h"
#include "parley/log.h"
#include "parley/metrics.h"
#include "parley/util.h"

static const char *reason(int status) {
  switch (status) {
    case 101:
      return "Switching Protocols";
    case 200:
      return "OK";
    case 206:
      return "Partial Content";
    case 201:
      return "Created";
    case 202:
      return "Accepted";
    case 204:
      return "No Content";
    case 304:
      return "Not Modified";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 408:
      return "Request Timeout";
    case 409:
      return "Conflict";
    case 413:
      return "Payload Too Large";
    case 414:
      return "URI Too Long";
    case 415:
      return "Unsupported Media Type";
    case 416:
      return "Range Not Satisfiable";
    case 422:
      return "Unprocessable Entity";
    case 426:
      return "Upgrade Required";
    case 429:
      return "Too Many Requests";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 502:
      return "Bad Gateway";
    case 503:
      return "Service Unavailable";
    default:
      return "Unknown";
  }
}

/* 1 when origin is listed in cors_origins (comma-separated, exact match, or "*"). */
int http_origin_allowed(const http_server_t *server, const char *origin) {
  const char *list = server ? server->cfg->cors_origins : NULL;
  if (!origin || !list || !*list) return 0;
  size_t olen = strlen(origin);
  while (*list) {
    while (*list == ' ' || *list == ',') list++;
    const char *end = list;
    while (*end && *end != ',') end++;
    const char *tail = end;
    while (tail > list && tail[-1] == ' ') tail--;
    size_t len = (size_t)(tail - list);
    if ((len == 1 && *list == '*') || (len == olen && memcmp(list, origin, olen) == 0)) return 1;
    list = end;
  }
  return 0;
}

/* The request id: the client's X-Request-Id when it is short and plain, else new. */
static void ensure_request_id(http_req_t *req) {
  if (req->request_id[0]) return;
  const char *given = http_req_header(req, "x-request-id");
  if (given) {
    size_t n = strlen(given);
    int ok = n > 0 && n < sizeof(req->request_id);
    for (size_t i = 0; ok && i < n; i++) {
      char ch = given[i];
      ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
           ch == '-' || ch == '_' || ch == '.';
    }
    if (ok) {
      memcpy(req->request_id, given, n + 1);
      return;
    }
  }
  /* 16 hex characters of 8 random bytes: the random part of a new id, from
   * util.c's pool (one getrandom() for 64 requests, not one each), without
   * the id's time, which the reply never showed. */
  _Static_assert(sizeof(req->request_id) >= 17, "16 hex characters and the NUL");
  util_random_hex16(req->request_id);
}

/* v's decimal text; 0 or -1 as buf_append. */
static int append_u64(buf_t *b, uint64_t v) {
  char tmp[20], *end = tmp + sizeof(tmp), *p = end;
  do {
    *--p = (char)('0' + v % 10);
    v /= 10;
  } while (v);
  return buf_append(b, p, (size_t)(end - p));
}

/* A string of the request for the access log: JSON-escaped as json_out
 * writes it, with each byte that does not start a valid UTF-8 sequence (a
 * path's %FF decodes to one) written as U+FFFD, so the line is still written
 * and still one JSON object. */
static int log_string(buf_t *b, const char *s) {
  size_t n = strlen(s);
  if (util_utf8_valid(s, n)) return json_out_string(b, s, n);
  buf_t clean;
  buf_init(&clean);
  int rc = buf_reserve(&clean, n * 3);
  for (size_t i = 0; rc == 0 && i < n;) {
    unsigned char c = (unsigned char)s[i];
    size_t len = c < 0x80             ? 1
                 : (c & 0xE0) == 0xC0 ? 2
                 : (c & 0xF0) == 0xE0 ? 3
                 : (c & 0xF8) == 0xF0 ? 4
                                      : 0;
    if (len > 0 && len <= n - i && util_utf8_valid(s + i, len)) {
      rc = buf_append(&clean, s + i, len);
      i += len;
    } else {
      rc = buf_append(&clean, "\xEF\xBF\xBD", 3);
      i++;
    }
  }
  if (rc == 0) rc = json_out_string(b, clean.data, clean.len);
  buf_free(&clean);
  return rc;
}

/* The access log's line, written into a buffer kept for the next line (the
 * loop's alone), not through a jansson tree and json_dumps: at `info` the tree
 * cost more than the rest of a /healthz request. The keys and their order are
 * what json_pack gave; the duration is in milliseconds to the microsecond. */
static void access_log(http_req_t *req, double seconds) {
  if (!log_enabled(LOG_INFO)) return;
  static buf_t line;
  line.len = 0;
  char ts[32];
  util_iso8601(util_now_ms(), ts);
  double us_f = seconds * 1e6;
  uint64_t us = us_f > 0 ? (uint64_t)(us_f + 0.5) : 0;
  char frac[4] = {(char)('0' + us % 1000 / 100), (char)('0' + us % 100 / 10), (char)('0' + us % 10),
                  0};
  int rc = buf_append_str(&line, "{\"level\":\"info\",\"msg\":\"request\",\"method\":");
  if (rc == 0) rc = log_string(&line, req->method ? req->method : "");
  if (rc == 0) rc = buf_append_str(&line, ",\"path\":");
  if (rc == 0) rc = log_string(&line, req->path ? req->path : "");
  if (rc == 0 && req->route) {
    rc = buf_append_str(&line, ",\"route\":");
    if (rc == 0) rc = log_string(&line, req->route);
  }
  if (rc == 0) rc = buf_append_str(&line, ",\"status\":");
  if (rc == 0) rc = append_u64(&line, (uint64_t)(req->status > 0 ? req->status : 0));
  if (rc == 0) rc = buf_append_str(&line, ",\"bytes\":");
  if (rc == 0) rc = append_u64(&line, req->bytes_out);
  if (rc == 0) rc = buf_append_str(&line, ",\"duration_ms\":");
  if (rc == 0) rc = append_u64(&line, us / 1000);
  if (rc == 0) rc = buf_append(&line, ".", 1);
  if (rc == 0) rc = buf_append_str(&line, frac);
  if (rc == 0) rc = buf_append_str(&line, ",\"request_id\":");
  if (rc == 0) rc = log_string(&line, req->request_id);
  if (rc == 0) rc = buf_append_str(&line, ",\"conn\":");
  if (rc == 0) rc = append_u64(&line, req->conn ? (uint64_t)req->conn->id : 0);
  if (rc == 0) rc = buf_append_str(&line, ",\"ts\":\"");
  if (rc == 0) rc = buf_append_str(&line, ts);
  if (rc == 0) rc = buf_append(&line, "\"}", 2);
  if (rc == 0) log_buffer_line(line.data, line.len);
  /* A long path's line does not keep its memory past the request. */
  if (line.cap > 4096) buf_free(&line);
}

/* The status line and headers; Content-Type and Content-Length unless the
 * status has no body. Appends, not printf: the head is most of a small reply's
 * instructions. */
static void build_head(http_req_t *req, buf_t *head, int status, const char *ctype, uint64_t len,
                       int closing) {
  buf_init(head);
  buf_reserve(head, 256);
  buf_append_str(head, "HTTP/1.1 ");
  append_u64(head, (uint64_t)(status > 0 ? status : 0));
  buf_append(head, " ", 1);
  buf_append_str(head, reason(status));
  buf_append_str(head, "\r\nX-Request-Id: ");
  buf_append_str(head, req->request_id);
  buf_append(head, "\r\n", 2);
  if (status != 204 && status != 101 && status != 304) {
    buf_append_str(head, "Content-Type: ");
    buf_append_str(head, ctype);
    buf_append_str(head, "\r\nContent-Length: ");
    append_u64(head, len);
    buf_append(head, "\r\n", 2);
  }
  const char *origin = http_req_header(req, "origin");
  if (http_origin_allowed(req->server, origin))
    buf_printf(head,
               "Access-Control-Allow-Origin: %s\r\nVary: Origin\r\n"
               "Access-Control-Expose-Headers: X-Request-Id, Retry-After\r\n",
               origin);
  if (req->extra_headers.len) buf_append(head, req->extra_headers.data, req->extra_headers.len);
  if (closing) buf_append_str(head, "Connection: close\r\n");
  buf_append_str(head, "\r\n");
}

static char *put(char *p, const char *s, size_t n) {
  memcpy(p, s, n);
  return p + n;
}

static char *put_u64(char *p, uint64_t v) {
  char tmp[20], *end = tmp + sizeof(tmp), *q = end;
  do {
    *--q = (char)('0' + v % 10);
    v /= 10;
  } while (v);
  return put(p, q, (size_t)(end - q));
}

/* build_head's head written into out (cap bytes), for a reply without CORS
 * headers whose head fits: no buffer to allocate, grow and free. Returns its
 * length, or 0 when build_head must write it. */
static size_t build_head_small(http_req_t *req, char *out, size_t cap, int status,
                               const char *ctype, uint64_t len, int closing) {
  if (http_origin_allowed(req->server, http_req_header(req, "origin"))) return 0;
  int body = status != 204 && status != 101 && status != 304;
  const char *why = reason(status);
  size_t nwhy = strlen(why), nid = strlen(req->request_id), nct = body ? strlen(ctype) : 0;
  /* The fixed parts, the numbers at 20 digits, then what varies. */
  if (128 + nwhy + nid + nct + req->extra_headers.len > cap) return 0;
  char *p = put(out, "HTTP/1.1 ", 9);
  p = put_u64(p, (uint64_t)(status > 0 ? status : 0));
  *p++ = ' ';
  p = put(p, why, nwhy);
  p = put(p, "\r\nX-Request-Id: ", 16);
  p = put(p, req->request_id, nid);
  p = put(p, "\r\n", 2);
  if (body) {
    p = put(p, "Content-Type: ", 14);
    p = put(p, ctype, nct);
    p = put(p, "\r\nContent-Length: ", 18);
    p = put_u64(p, len);
    p = put(p, "\r\n", 2);
  }
  if (req->extra_headers.len) p = put(p, req->extra_headers.data, req->extra_headers.len);
  if (closing) p = put(p, "Connection: close\r\n", 19);
  p = put(p, "\r\n", 2);
  return (size_t)(p - out);
}

static void account(http_req_t *req) {
  double secs = (double)(uv_hrtime() - req->start_ns) / 1e9;
  if (req->server && req->server->metrics)
    metrics_request(req->server->metrics, req->method, req->route, req->status, secs);
  access_log(req, secs);
}

static void send_reply(http_req_t *req, int status, const char *ctype, const char *body,
                       size_t len) {
  if (req->replied) return;
  req->replied = 1;
  req->status = status;
  conn_t *c = req->conn;
  if (!req->sink && (!c || c->closing)) {
    http_conn_request_done(req);
    return;
  }
  ensure_request_id(req);
  http_conn_t *hc = c ? c->data : NULL;
  /* A streamed body answered before its end is not read: the connection closes. */
  if (hc && hc->cur == req && req->streaming && !req->body_done) hc->close_after = 1;
  buf_t head;
  buf_init(&head);
  char small[512];
  size_t head_len =
      build_head_small(req, small, sizeof(small), status, ctype, len, hc && hc->close_after);
  char *head_data = small;
  if (!head_len) {
    build_head(req, &head, status, ctype, len, hc && hc->close_after);
    head_data = head.data;
    head_len = head.len;
  }
  uv_buf_t bufs[2] = {uv_buf_init(head_data, (unsigned)head_len),
                      uv_buf_init((char *)body, (unsigned)len)};
  /* A HEAD reply has the headers of the GET, Content-Length included, and no body. */
  if (req->method[0] == 'H' && strcmp(req->method, "HEAD") == 0) len = 0;
  req->bytes_out = head_len + len;
  /* A write that fails (no memory for it) closes the connection, and closing
   * drops the connection's reference to this request: hold one of our own until
   * the reply is accounted for. */
  http_req_ref(req);
  if (req->sink)
    req->sink(req->sink_ctx, req, head_data, head_len, body, len);
  else
    conn_write_reply(c, bufs, len ? 2 : 1);
  buf_free(&head);
  account(req);
  http_conn_request_done(req);
  http_req_unref(req);
}

int http_reply_stream_begin(http_req_t *req, int status, const char *content_type, uint64_t len,
                            http_stream_fn fn, void *ctx) {
  if (req->replied) return -1;
  conn_t *c = req->conn;
  if (!req->sink && (!c || c->closing)) {
    req->replied = 1;
    req->status = status;
    http_conn_request_done(req);
    return -1;
  }
  req->replied = 1;
  req->status = status;
  ensure_request_id(req);
  http_conn_t *hc = c ? c->data : NULL;
  buf_t head;
  build_head(req, &head, status, content_type, len, hc && hc->close_after);
  req->out_streaming = 1;
  req->out_left = strcmp(req->method, "HEAD") == 0 ? 0 : len;
  req->out_fn = fn;
  req->out_ctx = ctx;
  req->bytes_out = head.len;
  if (req->sink) {
    req->out_head_len = head.len;
    req->out_body = head; /* the body follows it */
    return 0;
  }
  uv_buf_t b = uv_buf_init(head.data, (unsigned)head.len);
  int rc = conn_write(c, &b, 1);
  buf_free(&head);
  if (rc == 0) http_conn_stream_wait(req);
  return 0;
}

int http_reply_stream_write(http_req_t *req, const char *data, size_t len) {
  if (!req->out_streaming) return -1;
  if (strcmp(req->method, "HEAD") == 0) return 0;
  if (len > req->out_left) return -1;
  if (req->sink) {
    if (buf_append(&req->out_body, data, len) != 0) return -1;
    req->out_left -= len;
    req->bytes_out += len;
    return 0;
  }
  conn_t *c = req->conn;
  if (!c || c->closing) return -1;
  uv_buf_t b = uv_buf_init((char *)data, (unsigned)len);
  if (conn_write(c, &b, 1) != 0) return -1;
  req->out_left -= len;
  req->bytes_out += len;
  http_conn_stream_wait(req);
  return c->write_pending > 0 ? 1 : 0;
}

void http_reply_stream_end(http_req_t *req) {
  if (!req->out_streaming) return;
  req->out_streaming = 0;
  req->out_fn = NULL;
  http_req_ref(req);
  if (req->sink) {
    size_t h = req->out_head_len;
    req->sink(req->sink_ctx, req, req->out_body.data, h, req->out_body.data + h,
              req->out_body.len - h);
    buf_free(&req->out_body);
  } else if (req->conn) {
    conn_timer_stop(req->conn);
    http_conn_t *hc = req->conn->data;
    /* A body cut short: the client must not take what follows for the rest. */
    if (req->out_left > 0 && hc) hc->close_after = 1;
  }
  account(req);
  http_conn_request_done(req);
  http_req_unref(req);
}

void http_reply_header(http_req_t *req, const char *name, const char *value) {
  /* Header values from handlers never carry line breaks; refuse them anyway. */
  if (strpbrk(name, "\r\n:") || strpbrk(value, "\r\n")) return;
  buf_printf(&req->extra_headers, "%s: %s\r\n", name, value);
}

void http_reply_raw(http_req_t *req, int status, const char *content_type, const char *body,
                    size_t len) {
  send_reply(req, status, content_type, body, len);
}

void http_reply_json(http_req_t *req, int status, json_t *body) {
  char *s = body ? json_dumps(body, JSON_COMPACT) : NULL;
  json_decref(body);
  if (!s) {
    http_reply_error(req, 500, "internal", "could not encode the response", NULL);
    return;
  }
  send_reply(req, status, "application/json", s, strlen(s));
  free(s);
}

void http_reply_error(http_req_t *req, int status, const char *code, const char *message,
                      const char *field) {
  json_t *err = json_pack("{s:s, s:s}", "code", code, "message", message);
  if (field) json_object_set_new(err, "field", json_string(field));
  json_t *envelope = json_pack("{s:o}", "error", err); /* steals err */
  char *s = envelope ? json_dumps(envelope, JSON_COMPACT) : NULL;
  json_decref(envelope);
  send_reply(req, status, "application/json", s ? s : "{}", s ? strlen(s) : 2);
  free(s);
}

void http_reply_empty(http_req_t *req, int status) { send_reply(req, status, "", "", 0); }

void http_reply_parse_error(const http_server_t *server, conn_t *conn, int status) {
  http_conn_t *hc = conn->data;
  http_req_t *req = http_req_new(server, conn);
  if (!req || !hc) {
    if (req) http_req_unref(req);
    conn_close(conn);
    return;
  }
  if (hc->cur) {
    /* Keep what was parsed (path, headers) for the log and CORS. */
    http_req_unref(req);
    req = hc->cur;
    hc->cur = NULL;
  }
  req->conn = conn;
  if (hc->active) {
    /* A handler still owns the active request; closing drops it. */
    http_req_unref(req);
    conn_close(conn);
    return;
  }
  hc->active = req;
  hc->close_after = 1;
  const char *code = status == 413   ? "payload_too_large"
                     : status == 414 ? "uri_too_long"
                     : status == 431 ? "headers_too_large"
                     : status == 408 ? "request_timeout"
                     : status == 503 ? "unavailable"
                                     : "bad_request";
  const char *msg = status == 413   ? "the request body is larger than the limit"
                    : status == 414 ? "the request target is longer than 8 KiB"
                    : status == 431 ? "the request headers are larger than 16 KiB"
                    : status == 408 ? "the request did not arrive in time"
                    : status == 503 ? "the server is out of resources"
                                    : "malformed HTTP request";
  http_reply_error(req, status, code, msg, NULL);
}
