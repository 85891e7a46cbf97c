/* The owner's calls on bots that need more than one store call: create (the
 * webhook URL checked, a token and a signing secret made), update (a new URL
 * checked) and token rotation. A webhook URL must be http(s) and resolve only
 * to addresses the SSRF guard lets through (addrguard, with api_call_allow,
 * as flows' api_call); the guard is applied again at every connection, so a
 * name that later resolves elsewhere is refused then. Loop thread. */
#include <netdb.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bots/bots_internal.h"
#include "chat/envelope.h"
#include "parley/addrguard.h"
#include "parley/auth.h"
#include "parley/instagram.h"
#include "parley/log.h"
#include "parley/store.h"

#define URL_MAX 2048
#define HOST_MAX 255

typedef struct op_s {
  app_t *app;
  enum store_op op;
  json_t *params;
  char token[AUTH_REFRESH_LEN + 1];
  char secret[65];
  bots_res_fn done;
  void *ctx;
  uv_getaddrinfo_t gai;
  char host[HOST_MAX + 1];
  int port;
} op_t;

static void op_free(op_t *o) {
  json_decref(o->params);
  sodium_memzero(o->token, sizeof(o->token));
  sodium_memzero(o->secret, sizeof(o->secret));
  free(o);
}

static void fail(op_t *o, int http, const char *code, const char *message, const char *field) {
  bots_res_t r = {http, NULL, code, message, field};
  o->done(o->ctx, &r);
  op_free(o);
}

static void store_failed(op_t *o, int status) {
  if (status == STORE_ENOTFOUND)
    fail(o, 404, "not_found", "no such bot", NULL);
  else if (status == STORE_ECONFLICT)
    fail(o, 409, "conflict", "a user owns at most bots_per_user bots", NULL);
  else if (status == STORE_EBUSY)
    fail(o, 503, "unavailable", "the server is busy: try again shortly", NULL);
  else
    fail(o, 503, "unavailable", "the store is unavailable", NULL);
}

/* A bot just created: known here at once, and on the bus to every other
 * instance (chat/dispatch.c hands it to app->on_bot_known), so a message
 * stored anywhere right after reaches it; their periodic reload is the
 * fallback while the bus is down. */
static void announce(app_t *app, const char *id) {
  if (!id) return;
  bots_known(app, id);
  json_t *h = json_pack("{s:s, s:s}", "k", "b", "b", id);
  if (h) envelope_publish(app, h, "", 0);
  json_decref(h);
}

static void stored(void *ctx, int status, json_t *result) {
  op_t *o = ctx;
  if (status != STORE_OK) {
    store_failed(o, status);
    return;
  }
  json_t *body = json_pack("{s:O}", "bot", result);
  if (o->token[0]) json_object_set_new(body, "token", json_string(o->token));
  if (o->secret[0]) json_object_set_new(body, "signing_secret", json_string(o->secret));
  if (o->op == BOT_CREATE) announce(o->app, json_string_value(json_object_get(result, "id")));
  bots_res_t r = {o->op == BOT_CREATE ? 201 : 200, body, NULL, NULL, NULL};
  o->done(o->ctx, &r);
  json_decref(body);
  json_decref(result);
  op_free(o);
}

static void run(op_t *o) {
  json_t *p = o->params;
  o->params = NULL;
  if (store_call(o->app->store, o->op, p, stored, o) != 0) store_failed(o, STORE_EBUSY);
}

/* Splits an http(s) URL's host and port (no user info, no blanks): 0, or -1. */
static int url_split(const char *url, char host[HOST_MAX + 1], int *port) {
  const char *a;
  if (!url || strlen(url) > URL_MAX || strpbrk(url, " \t\r\n\"<>\\")) return -1;
  if (strncmp(url, "https://", 8) == 0) {
    a = url + 8;
    *port = 443;
  } else if (strncmp(url, "http://", 7) == 0) {
    a = url + 7;
    *port = 80;
  } else {
    return -1;
  }
  size_t n = strcspn(a, "/?#");
  if (n == 0 || memchr(a, '@', n)) return -1;
  const char *h = a, *end = a + n, *colon;
  if (*a == '[') {
    const char *close = memchr(a, ']', n);
    if (!close) return -1;
    h = a + 1;
    colon = close + 1 < end && close[1] == ':' ? close + 1 : NULL;
    if (close + 1 < end && !colon) return -1;
    n = (size_t)(close - h);
  } else {
    colon = memchr(a, ':', n);
    if (colon) n = (size_t)(colon - a);
  }
  if (n == 0 || n > HOST_MAX) return -1;
  memcpy(host, h, n);
  host[n] = 0;
  if (colon) {
    char *e;
    long p = strtol(colon + 1, &e, 10);
    if (e != end || p < 1 || p > 65535) return -1;
    *port = (int)p;
  }
  return 0;
}

static void resolved(uv_getaddrinfo_t *g, int status, struct addrinfo *res) {
  op_t *o = g->data;
  int ok = status == 0 && res;
  for (struct addrinfo *ai = res; ok && ai; ai = ai->ai_next)
    if (!addrguard_allowed(o->app->cfg.api_call_allow, o->host, o->port, ai->ai_addr)) ok = 0;
  uv_freeaddrinfo(res);
  if (o->app->shutting_down)
    fail(o, 503, "unavailable", "shutting down", NULL);
  else if (status != 0)
    fail(o, 400, "validation_failed", "webhook_url: the host cannot be resolved", "webhook_url");
  else if (!ok)
    fail(o, 400, "validation_failed",
         "webhook_url: the host resolves to an address that may not be called (private,"
         " loopback or link-local; see api_call_allow)",
         "webhook_url");
  else
    run(o);
}

/* Checks the URL (when given), then runs the store call. */
static void check_then_run(op_t *o, const char *url) {
  if (!url) {
    run(o);
    return;
  }
  if (url_split(url, o->host, &o->port) != 0) {
    fail(o, 400, "validation_failed",
         "webhook_url must be an http:// or https:// URL of at most 2048 bytes", "webhook_url");
    return;
  }
  char port[8];
  snprintf(port, sizeof(port), "%d", o->port);
  struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
  o->gai.data = o;
  if (uv_getaddrinfo(o->app->loop, &o->gai, resolved, o->host, port, &hints) != 0)
    fail(o, 400, "validation_failed", "webhook_url: the host cannot be resolved", "webhook_url");
}

static op_t *op_new(app_t *app, enum store_op op, json_t *params, bots_res_fn done, void *ctx) {
  op_t *o = calloc(1, sizeof(*o));
  if (!o || !params) {
    free(o);
    json_decref(params);
    bots_res_t r = {503, NULL, "unavailable", "out of memory", NULL};
    done(ctx, &r);
    return NULL;
  }
  o->app = app;
  o->op = op;
  o->params = params;
  o->done = done;
  o->ctx = ctx;
  return o;
}

/* A new token into o->token and its hash into params. */
static void new_token(op_t *o) {
  char hash[65];
  auth_refresh_new(o->token, hash);
  json_object_set_new(o->params, "token_hash", json_string(hash));
}

void bots_create(app_t *app, const char *owner, const json_t *body, bots_res_fn done, void *ctx) {
  const char *name = json_string_value(json_object_get(body, "name"));
  const char *url = json_string_value(json_object_get(body, "webhook_url"));
  op_t *o = op_new(app, BOT_CREATE,
                   json_pack("{s:s, s:s, s:s, s:i}", "owner_id", owner, "name", name ? name : "",
                             "webhook_url", url ? url : "", "max", app->cfg.bots_per_user),
                   done, ctx);
  if (!o) return;
  unsigned char raw[32];
  randombytes_buf(raw, sizeof(raw));
  sodium_bin2hex(o->secret, sizeof(o->secret), raw, sizeof(raw));
  sodium_memzero(raw, sizeof(raw));
  char *sealed = ig_token_seal(app->secret_key, o->secret);
  if (!sealed) {
    fail(o, 503, "unavailable", "out of memory", NULL);
    return;
  }
  json_object_set_new(o->params, "secret_cipher", json_string(sealed));
  free(sealed);
  new_token(o);
  check_then_run(o, url ? url : "");
}

void bots_update(app_t *app, const char *owner, const char *id, const json_t *body,
                 bots_res_fn done, void *ctx) {
  json_t *p = json_pack("{s:s, s:s}", "id", id, "owner_id", owner);
  const char *name = json_string_value(json_object_get(body, "name"));
  const char *url = json_string_value(json_object_get(body, "webhook_url"));
  if (p && name) json_object_set_new(p, "name", json_string(name));
  if (p && url) json_object_set_new(p, "webhook_url", json_string(url));
  if (p && json_is_true(json_object_get(body, "enabled")))
    json_object_set_new(p, "enable", json_true());
  op_t *o = op_new(app, BOT_UPDATE, p, done, ctx);
  if (o) check_then_run(o, url);
}

void bots_rotate(app_t *app, const char *owner, const char *id, bots_res_fn done, void *ctx) {
  op_t *o = op_new(app, BOT_TOKEN, json_pack("{s:s, s:s}", "id", id, "owner_id", owner), done, ctx);
  if (!o) return;
  new_token(o);
  run(o);
}
