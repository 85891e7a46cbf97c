/* A fast stand-in for Meta's Graph API on the load generator's loop: answers
 * every request (keep-alive) at once, so a flow's replies cost the server, not
 * the fake: a send (POST .../messages) with {"recipient_id","message_id"}, a
 * profile (GET /{igsid}?fields=...) with a name, username and picture of that
 * user, and GET /me with the benchmark's account. It counts every request, and
 * sends apart: the flows scenario's figure is its sends. Loop thread. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lg.h"

struct lg_graph_s {
  uv_tcp_t server;
  lg_t *lg;
  uint64_t requests, sends;
  int conns;
  struct gconn_s *list;
  int closing;
};

typedef struct gconn_s {
  uv_tcp_t tcp;
  lg_graph_t *g;
  char *buf;
  size_t len, cap;
  struct gconn_s *next, *prev; /* the fake's open connections */
} gconn_t;

static void gconn_closed(uv_handle_t *h) {
  gconn_t *c = h->data;
  c->g->conns--;
  if (c->prev)
    c->prev->next = c->next;
  else
    c->g->list = c->next;
  if (c->next) c->next->prev = c->prev;
  free(c->buf);
  free(c);
}

static void gconn_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b) {
  gconn_t *c = h->data;
  if (c->cap - c->len < 16384) {
    size_t cap = c->cap ? c->cap * 2 : 32768;
    char *nb = realloc(c->buf, cap);
    if (nb) {
      c->buf = nb;
      c->cap = cap;
    }
  }
  *b = uv_buf_init(c->buf + c->len, (unsigned)(c->cap - c->len));
}

static void gconn_wrote(uv_write_t *req, int status) {
  free(req->data);
  free(req);
}

/* The request line's path without its version ("/v21.0") and query, into out. */
static void request_path(const char *start, const char *end, char *out, size_t len) {
  const char *p = memchr(start, ' ', (size_t)(end - start));
  size_t n = 0;
  if (p) {
    p++;
    const char *v = p[1] == 'v' ? memchr(p + 1, '/', (size_t)(end - p - 1)) : NULL;
    if (v) p = v; /* past the version */
    while (p < end && *p != '?' && *p != ' ' && n + 1 < len) out[n++] = *p++;
  }
  out[n] = '\0';
}

static void answer(gconn_t *c, const char *start, const char *end) {
  char body[384], path[128], *resp = malloc(640);
  uv_write_t *req = malloc(sizeof(*req));
  if (!resp || !req) {
    free(resp);
    free(req);
    return;
  }
  request_path(start, end, path, sizeof(path));
  size_t plen = strlen(path);
  int bl;
  if (strncmp(start, "POST ", 5) == 0 && plen > 9 && strcmp(path + plen - 9, "/messages") == 0) {
    c->g->sends++;
    bl = snprintf(body, sizeof(body), "{\"recipient_id\":\"x\",\"message_id\":\"m_graph_%llu\"}",
                  (unsigned long long)c->g->sends);
  } else if (strcmp(path, "/me") == 0 || strncmp(start, "GET ", 4) != 0) {
    /* GET /me: the account the benchmark's token belongs to. */
    bl = snprintf(body, sizeof(body),
                  "{\"user_id\":\"17841400000000001\",\"username\":\"parley_shop\"}");
  } else {
    /* GET /{igsid}?fields=name,username,profile_pic: a profile of that user. */
    const char *id = path + (path[0] == '/');
    bl = snprintf(body, sizeof(body),
                  "{\"id\":\"%.40s\",\"name\":\"Customer %.40s\",\"username\":\"customer_%.40s\","
                  "\"profile_pic\":\"https://cdn.example/ig/%.40s.jpg\"}",
                  id, id, id, id);
  }
  int n =
      snprintf(resp, 640,
               "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s",
               bl, body);
  req->data = resp;
  uv_buf_t b = uv_buf_init(resp, (unsigned)n);
  if (uv_write(req, (uv_stream_t *)&c->tcp, &b, 1, gconn_wrote) != 0) {
    free(resp);
    free(req);
  }
}

/* Answers every complete request in the buffer. */
static void serve(gconn_t *c) {
  size_t used = 0;
  for (;;) {
    const char *start = c->buf + used;
    const char *end = memmem(start, c->len - used, "\r\n\r\n", 4);
    if (!end) break;
    size_t head = (size_t)(end - start) + 4;
    long clen = 0;
    for (const char *p = start; p < end; p++)
      if (*p == '\n' && strncasecmp(p + 1, "content-length:", 15) == 0)
        clen = strtol(p + 16, NULL, 10);
    if (c->len - used < head + (size_t)clen) break;
    used += head + (size_t)clen;
    c->g->requests++;
    answer(c, start, end);
  }
  memmove(c->buf, c->buf + used, c->len - used);
  c->len -= used;
}

static void gconn_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b) {
  gconn_t *c = s->data;
  if (n < 0) {
    uv_close((uv_handle_t *)&c->tcp, gconn_closed);
    return;
  }
  c->len += (size_t)n;
  serve(c);
}

static void on_accept(uv_stream_t *server, int status) {
  lg_graph_t *g = server->data;
  gconn_t *c = calloc(1, sizeof(*c));
  if (status != 0 || !c) {
    free(c);
    return;
  }
  c->g = g;
  uv_tcp_init(g->lg->loop, &c->tcp);
  c->tcp.data = c;
  g->conns++;
  c->next = g->list;
  if (g->list) g->list->prev = c;
  g->list = c;
  if (uv_accept(server, (uv_stream_t *)&c->tcp) != 0 ||
      uv_read_start((uv_stream_t *)&c->tcp, gconn_alloc, gconn_read) != 0)
    uv_close((uv_handle_t *)&c->tcp, gconn_closed);
}

lg_graph_t *lg_graph_start(lg_t *lg, int port) {
  lg_graph_t *g = calloc(1, sizeof(*g));
  struct sockaddr_in addr;
  if (!g) return NULL;
  g->lg = lg;
  uv_ip4_addr("127.0.0.1", port, &addr);
  uv_tcp_init(lg->loop, &g->server);
  g->server.data = g;
  if (uv_tcp_bind(&g->server, (const struct sockaddr *)&addr, 0) != 0 ||
      uv_listen((uv_stream_t *)&g->server, 1024, on_accept) != 0) {
    fprintf(stderr, "fakegraph: cannot listen on 127.0.0.1:%d\n", port);
    g->closing = 1;
    uv_close((uv_handle_t *)&g->server, NULL);
    uv_run(lg->loop, UV_RUN_NOWAIT);
    free(g);
    return NULL;
  }
  return g;
}

uint64_t lg_graph_requests(const lg_graph_t *g) { return g ? g->requests : 0; }

uint64_t lg_graph_sends(const lg_graph_t *g) { return g ? g->sends : 0; }

static void server_closed(uv_handle_t *h) { ((lg_graph_t *)h->data)->closing = 2; }

void lg_graph_stop(lg_graph_t *g) {
  if (!g) return;
  uv_close((uv_handle_t *)&g->server, server_closed);
  for (gconn_t *c = g->list; c; c = c->next)
    if (!uv_is_closing((uv_handle_t *)&c->tcp)) uv_close((uv_handle_t *)&c->tcp, gconn_closed);
  while (g->closing != 2 || g->conns > 0) uv_run(g->lg->loop, UV_RUN_ONCE);
  free(g);
}
