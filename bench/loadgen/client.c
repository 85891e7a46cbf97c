/* Client connections of the load generator: TCP bound to a source address in
 * 127.0.0.0/8 before connecting, HTTP/1.1 keep-alive requests (one in flight),
 * and WebSocket after an upgrade (client frames masked, hand-rolled framing).
 * Owns each connection and its unparsed input; runs on the loop thread. */
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lg.h"

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

enum { ST_CONNECTING, ST_HTTP, ST_HANDSHAKE, ST_WS };

static void on_close(uv_handle_t *h) {
  lg_conn_t *c = h->data;
  c->lg->open_conns--;
  free(c->rbuf);
  free(c);
}

void lg_conn_close(lg_conn_t *c) {
  if (c->closing) return;
  c->closing = 1;
  if (c->on_event) c->on_event(c, LG_CLOSED);
  uv_close((uv_handle_t *)&c->tcp, on_close);
}

static void on_write(uv_write_t *req, int status) {
  free(req->data);
  free(req);
}

int lg_conn_write(lg_conn_t *c, const char *data, size_t len) {
  if (c->closing) return -1;
  uv_buf_t b = uv_buf_init((char *)data, (unsigned)len);
  int n = uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
  if (n == (int)len) return 0;
  if (n < 0 && n != UV_EAGAIN) return -1;
  size_t done = n > 0 ? (size_t)n : 0;
  uv_write_t *req = malloc(sizeof(*req));
  char *copy = malloc(len - done);
  if (!req || !copy) {
    free(req);
    free(copy);
    return -1;
  }
  memcpy(copy, data + done, len - done);
  req->data = copy;
  b = uv_buf_init(copy, (unsigned)(len - done));
  if (uv_write(req, (uv_stream_t *)&c->tcp, &b, 1, on_write) != 0) {
    free(copy);
    free(req);
    return -1;
  }
  return 0;
}

/* ---- HTTP ---- */

static long header_value(const char *head, size_t len, const char *name) {
  size_t nlen = strlen(name);
  for (const char *p = head; p + nlen + 2 < head + len; p++) {
    if (p[0] == '\n' && strncasecmp(p + 1, name, nlen) == 0 && p[1 + nlen] == ':')
      return strtol(p + 2 + nlen, NULL, 10);
  }
  return -1;
}

/* Consumes one complete response from data if there is one; returns bytes used. */
static size_t parse_http(lg_conn_t *c, const char *data, size_t len) {
  const char *end = memmem(data, len, "\r\n\r\n", 4);
  if (!end) return 0;
  size_t head = (size_t)(end - data) + 4;
  int status = len > 12 ? atoi(data + 9) : 0;
  if (c->state == ST_HANDSHAKE) {
    if (status != 101) {
      c->lg->conn_errors++;
      lg_conn_close(c);
      return len;
    }
    c->state = ST_WS;
    if (c->on_event) c->on_event(c, LG_WS_OPEN);
    return head;
  }
  long clen = header_value(data, head, "content-length");
  if (clen < 0) clen = 0;
  if (len < head + (size_t)clen) return 0;
  lg_http_cb cb = c->on_http;
  c->on_http = NULL;
  if (cb) cb(c, status, data + head, (size_t)clen);
  return head + (size_t)clen;
}

int lg_http_send(lg_conn_t *c, const char *method, const char *path, const char *token,
                 const char *extra_headers, const char *body, size_t body_len, lg_http_cb cb) {
  char head[4096];
  int n = snprintf(head, sizeof(head), "%s %s HTTP/1.1\r\nHost: %s:%d\r\n%s%s%s%s", method, path,
                   c->lg->host, c->lg->port, token ? "Authorization: Bearer " : "",
                   token ? token : "", token ? "\r\n" : "", extra_headers ? extra_headers : "");
  if (body)
    n += snprintf(head + n, sizeof(head) - (size_t)n,
                  "Content-Type: application/json\r\nContent-Length: %zu\r\n", body_len);
  n += snprintf(head + n, sizeof(head) - (size_t)n, "\r\n");
  if (n >= (int)sizeof(head)) return -1;
  c->on_http = cb;
  if (!body) return lg_conn_write(c, head, (size_t)n);
  char *all = malloc((size_t)n + body_len);
  if (!all) return -1;
  memcpy(all, head, (size_t)n);
  memcpy(all + n, body, body_len);
  int rc = lg_conn_write(c, all, (size_t)n + body_len);
  free(all);
  return rc;
}

/* ---- WebSocket ---- */

int lg_ws_upgrade(lg_conn_t *c, const char *token, lg_text_cb on_text) {
  char req[2048];
  /* Socket.io: engine.io's WebSocket transport; the token goes in the
   * namespace connect once the server has opened (parse_ws). */
  c->token = token;
  char path[1024];
  if (c->lg->socketio)
    snprintf(path, sizeof(path), "/socket.io/?EIO=4&transport=websocket");
  else
    snprintf(path, sizeof(path), "/ws?token=%s", token);
  int n = snprintf(req, sizeof(req),
                   "GET %s HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\n"
                   "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                   "Sec-WebSocket-Version: 13\r\n\r\n",
                   path, c->lg->host, c->lg->port);
  if (n >= (int)sizeof(req)) return -1;
  c->state = ST_HANDSHAKE;
  c->on_text = on_text;
  return lg_conn_write(c, req, (size_t)n);
}

static int ws_send(lg_conn_t *c, int opcode, const char *payload, size_t len) {
  char stack[1024];
  size_t hlen = len < 126 ? 6 : len < 65536 ? 8 : 14;
  char *f = hlen + len <= sizeof(stack) ? stack : malloc(hlen + len);
  if (!f) return -1;
  uint8_t *h = (uint8_t *)f;
  h[0] = (uint8_t)(0x80 | opcode);
  if (len < 126) {
    h[1] = (uint8_t)(0x80 | len);
  } else if (len < 65536) {
    h[1] = 0x80 | 126;
    h[2] = (uint8_t)(len >> 8);
    h[3] = (uint8_t)len;
  } else {
    h[1] = 0x80 | 127;
    for (int i = 0; i < 8; i++) h[2 + i] = (uint8_t)((uint64_t)len >> (56 - 8 * i));
  }
  /* The mask only has to differ between frames for proxies' sake; the server
   * unmasks whatever it gets. */
  uint32_t key = (uint32_t)uv_hrtime() * 2654435761u;
  uint8_t *m = h + hlen - 4;
  memcpy(m, &key, 4);
  for (size_t i = 0; i < len; i++) h[hlen + i] = (uint8_t)payload[i] ^ m[i & 3];
  int rc = lg_conn_write(c, f, hlen + len);
  if (f != stack) free(f);
  return rc;
}

int lg_ws_send_text(lg_conn_t *c, const char *text, size_t len) {
  if (!c->lg->socketio) return ws_send(c, 1, text, len);
  /* 42["type",{"type":"type",...}]: an event named by the frame's type */
  static const char pre[] = "{\"type\":\"";
  if (len < sizeof(pre) || memcmp(text, pre, sizeof(pre) - 1) != 0) return -1;
  const char *type = text + sizeof(pre) - 1;
  const char *end = memchr(type, '"', len - (sizeof(pre) - 1));
  if (!end) return -1;
  size_t tlen = (size_t)(end - type), n = 4 + tlen + 2 + len + 1;
  char stack[1024];
  char *f = n <= sizeof(stack) ? stack : malloc(n);
  if (!f) return -1;
  memcpy(f, "42[\"", 4);
  memcpy(f + 4, type, tlen);
  memcpy(f + 4 + tlen, "\",", 2);
  memcpy(f + 6 + tlen, text, len);
  f[n - 1] = ']';
  int rc = ws_send(c, 1, f, n);
  if (f != stack) free(f);
  return rc;
}

/* Socket.io over WebSocket (engine.io 4 packets, one per frame): 0 open ->
 * connect the namespace with the token (40{"token":..}); 2 ping -> 3 pong;
 * 40 connected, 44 refused, 42[...] an event, handed on as it is (its name
 * is the frame type the scenarios look for). */
static void socketio_text(lg_conn_t *c, const char *p, size_t len) {
  if (len == 0) return;
  if (p[0] == '0') {
    char f[1024];
    int n = snprintf(f, sizeof(f), "40{\"token\":\"%s\"}", c->token ? c->token : "");
    if (n < (int)sizeof(f)) ws_send(c, 1, f, (size_t)n);
  } else if (p[0] == '2') {
    ws_send(c, 1, "3", 1);
  } else if (p[0] == '1') {
    lg_conn_close(c);
  } else if (p[0] == '4' && len > 1 && p[1] == '2') {
    if (c->on_text) c->on_text(c, p, len);
  } else if (p[0] == '4' && len > 1 && p[1] == '4') {
    fprintf(stderr, "loadgen: Socket.io refused: %.*s\n", (int)(len < 200 ? len : 200), p);
    lg_conn_close(c);
  }
}

/* Consumes one complete frame; returns bytes used (0: incomplete). */
static size_t parse_ws(lg_conn_t *c, const char *data, size_t len) {
  const uint8_t *p = (const uint8_t *)data;
  if (len < 2) return 0;
  int opcode = p[0] & 0x0f;
  uint64_t plen = p[1] & 0x7f;
  size_t hlen = 2;
  if (plen == 126) {
    if (len < 4) return 0;
    plen = ((uint64_t)p[2] << 8) | p[3];
    hlen = 4;
  } else if (plen == 127) {
    if (len < 10) return 0;
    plen = 0;
    for (int i = 0; i < 8; i++) plen = (plen << 8) | p[2 + i];
    hlen = 10;
  }
  if (p[1] & 0x80) hlen += 4; /* servers do not mask; tolerate it anyway */
  if (len < hlen + plen) return 0;
  const char *payload = data + hlen;
  if ((opcode == 1 || opcode == 0) && c->lg->socketio) {
    socketio_text(c, payload, (size_t)plen);
  } else if (opcode == 1 || opcode == 0) {
    if (c->on_text) c->on_text(c, payload, (size_t)plen);
  } else if (opcode == 9) {
    ws_send(c, 10, payload, (size_t)plen);
  } else if (opcode == 8) {
    lg_conn_close(c);
  }
  return hlen + (size_t)plen;
}

/* ---- reading ---- */

static size_t parse(lg_conn_t *c, const char *data, size_t len) {
  size_t used = 0;
  while (!c->closing && used < len) {
    size_t n = c->state == ST_WS ? parse_ws(c, data + used, len - used)
                                 : parse_http(c, data + used, len - used);
    if (n == 0) break;
    used += n;
  }
  return used;
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf) {
  lg_conn_t *c = h->data;
  *buf = uv_buf_init(c->lg->readbuf, sizeof(c->lg->readbuf));
}

static int keep(lg_conn_t *c, const char *data, size_t len) {
  if (c->rcap < len) {
    size_t cap = len < 4096 ? 4096 : len * 2;
    char *nb = malloc(cap);
    if (!nb) return -1;
    free(c->rbuf);
    c->rbuf = nb;
    c->rcap = cap;
  }
  memmove(c->rbuf, data, len);
  c->rlen = len;
  return 0;
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
  lg_conn_t *c = s->data;
  if (nread < 0) {
    lg_conn_close(c);
    return;
  }
  if (nread == 0) return;
  if (c->rlen == 0) {
    size_t used = parse(c, buf->base, (size_t)nread);
    if (!c->closing && used < (size_t)nread && keep(c, buf->base + used, (size_t)nread - used) != 0)
      lg_conn_close(c);
    return;
  }
  if (c->rcap < c->rlen + (size_t)nread) {
    char *nb = realloc(c->rbuf, (c->rlen + (size_t)nread) * 2);
    if (!nb) {
      lg_conn_close(c);
      return;
    }
    c->rbuf = nb;
    c->rcap = (c->rlen + (size_t)nread) * 2;
  }
  memcpy(c->rbuf + c->rlen, buf->base, (size_t)nread);
  c->rlen += (size_t)nread;
  size_t used = parse(c, c->rbuf, c->rlen);
  if (c->closing) return;
  memmove(c->rbuf, c->rbuf + used, c->rlen - used);
  c->rlen -= used;
  /* Idle sessions should not keep a large buffer. */
  if (c->rlen == 0 && c->rcap > 65536) {
    free(c->rbuf);
    c->rbuf = NULL;
    c->rcap = 0;
  }
}

static void on_connect(uv_connect_t *req, int status) {
  lg_conn_t *c = req->data;
  if (status != 0) {
    c->lg->conn_errors++;
    lg_conn_close(c);
    return;
  }
  c->state = ST_HTTP;
  uv_tcp_nodelay(&c->tcp, 1);
  if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) != 0) {
    lg_conn_close(c);
    return;
  }
  if (c->on_event) c->on_event(c, LG_CONNECTED);
}

/* Source addresses 127.0.0.2 .. 127.0.0.251, round robin, so the 4-tuples of
 * tens of thousands of connections to one port never run out of ports. */
static int bind_source(lg_conn_t *c) {
  unsigned i = c->lg->next_source++ % 250;
  struct sockaddr_in src = {.sin_family = AF_INET, .sin_port = 0};
  src.sin_addr.s_addr = htonl(0x7f000002u + i);
  uv_os_fd_t fd;
  if (uv_fileno((uv_handle_t *)&c->tcp, &fd) == 0) {
    int one = 1;
    setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
  }
  return uv_tcp_bind(&c->tcp, (const struct sockaddr *)&src, 0);
}

lg_conn_t *lg_conn_open(lg_t *lg, void *user, lg_event_cb on_event) {
  lg_conn_t *c = calloc(1, sizeof(*c));
  if (!c) return NULL;
  c->lg = lg;
  c->user = user;
  c->on_event = on_event;
  if (uv_tcp_init_ex(lg->loop, &c->tcp, AF_INET) != 0) {
    free(c);
    return NULL;
  }
  lg->open_conns++;
  c->tcp.data = c;
  c->connect_req.data = c;
  if (bind_source(c) != 0 ||
      uv_tcp_connect(&c->connect_req, &c->tcp, (const struct sockaddr *)&lg->target, on_connect) !=
          0) {
    lg->conn_errors++;
    c->closing = 1;
    uv_close((uv_handle_t *)&c->tcp, on_close);
    return NULL;
  }
  return c;
}
