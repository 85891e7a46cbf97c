/* Fuzz target: the HTTP connection glue (llhttp callbacks, limits, the
 * one-request-at-a-time state machine, pipelining, throttling, deadlines,
 * upgrade, half-close) on a memory connection (conn_open_memory): the real
 * conn and http code with the fuzzer playing the client and the kernel.
 *
 * Input: byte 0 is the number of steps N (mod 32), the next N bytes the steps,
 * the rest the bytes the client sends. A step's low 3 bits pick the action, its
 * high 5 bits an argument A: 0-2 deliver the next A+1 bytes, 3 the next
 * (A+1)*64, 4 the kernel takes every queued write, 5 the connection's timer
 * fires, 6 the deferred request (/later) gets its reply, 7 the client closes
 * its side. After the steps, what is left is delivered whenever the connection
 * reads. The routes answer at once, later, behind a bearer token, from a JSON
 * body, or take the connection over (upgrade, then echo). Must never crash,
 * leak or hang. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "parley/config.h"
#include "parley/conn.h"
#include "parley/http.h"
#include "parley/log.h"
#include "parley/router.h"

static http_req_t *deferred; /* the /later request awaiting its reply */

static void sink(void *arg, const char *data, size_t len) { *(size_t *)arg += len; }

static void route_sync(http_req_t *req) {
  char addr[64], q[64];
  http_req_client_addr(req, addr, sizeof(addr));
  long n = http_req_query(req, "q", q, sizeof(q));
  json_t *o = json_pack("{s:s, s:s?, s:i}", "addr", addr, "q", n >= 0 ? q : NULL, "n", (int)n);
  http_reply_json(req, 200, o);
}

static void route_item(http_req_t *req) {
  const char *id = http_req_param(req, "id");
  http_reply_raw(req, 200, "text/plain", id ? id : "", id ? strlen(id) : 0);
}

static void route_echo(http_req_t *req) {
  json_t *body = http_req_json(req);
  if (body) http_reply_json(req, 201, body);
}

static void route_later(http_req_t *req) {
  if (deferred) {
    http_reply_error(req, 409, "conflict", "one at a time", NULL);
    return;
  }
  http_req_ref(req);
  deferred = req;
}

static void finish_deferred(void) {
  http_req_t *req = deferred;
  if (!req) return;
  deferred = NULL;
  http_reply_header(req, "X-Later", "1");
  http_reply_empty(req, 204);
  http_req_unref(req);
}

/* After an upgrade: every byte is echoed back. */
static void raw_read(conn_t *c, const char *data, size_t len) {
  uv_buf_t b = uv_buf_init((char *)data, (unsigned)len);
  conn_write(c, &b, 1);
}
static const conn_handler_t raw_handler = {.on_read = raw_read};

static void route_upgrade(http_req_t *req) {
  const char *rest;
  size_t rest_len;
  conn_t *c = http_req_upgrade(req, &rest, &rest_len);
  if (!c) return;
  static const char reply[] = "HTTP/1.1 101 Switching Protocols\r\n\r\n";
  uv_buf_t b = uv_buf_init((char *)reply, sizeof(reply) - 1);
  conn_write(c, &b, 1);
  conn_set_handler(c, &raw_handler, NULL);
  if (rest_len) raw_read(c, rest, rest_len);
}

static const route_t routes[] = {
    {"GET", "/sync", 0, route_sync},         {"GET", "/items/:id", 0, route_item},
    {"DELETE", "/items/:id", 1, route_item}, {"POST", "/echo", 0, route_echo},
    {"GET", "/later", 0, route_later},       {"GET", "/upgrade", 0, route_upgrade},
};
static const route_table_t table = ROUTE_TABLE(routes);
static const route_table_t *const tables[] = {&table};

static int authenticate(void *ctx, http_req_t *req) {
  const char *a = http_req_header(req, "authorization");
  if (!a || strcmp(a, "Bearer ok") != 0) return -1;
  strcpy(req->user_id, "u1");
  return 0;
}

static uv_loop_t loop;
static config_t cfg;
static http_server_t server;
static listener_t *listener;

static void setup(void) {
  log_set_level(LOG_ERROR);
  uv_loop_init(&loop);
  cfg.max_body_bytes = 2048;
  cfg.request_timeout_ms = 10000;
  cfg.idle_timeout_ms = 60000;
  cfg.max_connections = 4;
  cfg.cors_origins = "https://app.example";
  cfg.trusted_proxies = "127.0.0.1,10.0.0.0/8";
  server =
      (http_server_t){.cfg = &cfg, .routes = tables, .nroutes = 1, .authenticate = authenticate};
  listener = listener_new(&loop, &http_conn_handler, &server, cfg.max_connections, NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (!listener) setup();
  if (size < 1) return 0;
  size_t nsteps = data[0] % 32;
  if (nsteps > size - 1) nsteps = size - 1;
  const uint8_t *steps = data + 1;
  const char *in = (const char *)data + 1 + nsteps;
  size_t left = size - 1 - nsteps;
  size_t written = 0;
  conn_t *c = conn_open_memory(listener, "127.0.0.1", sink, &written);
  if (!c) return 0;
  conn_ref(c); /* ours: c stays readable until the end */
  for (size_t i = 0; i < nsteps && !c->closing; i++) {
    unsigned action = steps[i] & 7, arg = steps[i] >> 3;
    size_t n = action < 3 ? arg + 1 : (size_t)(arg + 1) * 64;
    if (action <= 3) {
      if (n > left) n = left;
      if (n && conn_memory_read(c, in, n) == 0) {
        in += n;
        left -= n;
      }
    } else if (action == 4) {
      conn_memory_drain(c);
    } else if (action == 5) {
      conn_memory_fire_timer(c);
    } else if (action == 6) {
      finish_deferred();
    } else {
      conn_memory_eof(c);
    }
  }
  /* The rest arrives whenever the connection reads; a stall is broken by the
   * kernel taking the replies and the deferred reply going out. */
  while (left > 0 && !c->closing) {
    if (conn_memory_read(c, in, left) == 0) {
      left = 0;
      break;
    }
    conn_memory_drain(c);
    finish_deferred();
    if (!c->reading) break;
  }
  conn_memory_drain(c);
  finish_deferred();
  conn_memory_fire_timer(c);
  conn_memory_drain(c);
  conn_abort(c);
  uv_run(&loop, UV_RUN_DEFAULT);
  conn_unref(c);
  return 0;
}
