/* "Continue with Instagram" after the redirect: the code exchanged for a
 * short-lived token, that one for a long-lived token, and the account's
 * webhook subscription. Each is one request through the loop's HTTP client;
 * none is retried (a code works once; a subscription is asked again by
 * connecting again). Loop thread. */
#include <jansson.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "instagram/oauth.h"
#include "parley/httpc.h"
#include "parley/log.h"

#define OAUTH_TIMEOUT_MS 10000
#define OAUTH_MAX_RESPONSE (64 * 1024)
#define DEFAULT_LONG_LIVED_S (60LL * 86400) /* Meta's long-lived token: 60 days */

/* RFC 3986 unreserved bytes as they are, every other one %XX. malloc'd. */
static char *esc(const char *s) {
  static const char hex[] = "0123456789ABCDEF";
  char *out = malloc(strlen(s) * 3 + 1), *o = out;
  if (!out) return NULL;
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
        *p == '-' || *p == '.' || *p == '_' || *p == '~') {
      *o++ = (char)*p;
    } else {
      *o++ = '%';
      *o++ = hex[*p >> 4];
      *o++ = hex[*p & 15];
    }
  }
  *o = '\0';
  return out;
}

/* printf into a new string; NULL when memory ran out. */
__attribute__((format(printf, 1, 2))) static char *fmt(const char *f, ...) {
  va_list ap, again;
  va_start(ap, f);
  va_copy(again, ap);
  int n = vsnprintf(NULL, 0, f, ap);
  va_end(ap);
  char *s = n >= 0 ? malloc((size_t)n + 1) : NULL;
  if (s) vsnprintf(s, (size_t)n + 1, f, again);
  va_end(again);
  return s;
}

int ig_oauth_redirect_uri(const app_t *app, char *out, size_t len) {
  const char *base = app->cfg.public_url;
  if (!base) return -1;
  size_t bl = strlen(base);
  while (bl > 0 && base[bl - 1] == '/') bl--;
  int n = snprintf(out, len, "%.*s/instagram/connect", (int)bl, base);
  return n > 0 && (size_t)n < len ? 0 : -1;
}

char *ig_oauth_authorize_url(const app_t *app, const char *state) {
  char redirect[1024];
  if (!app->cfg.ig_app_id || ig_oauth_redirect_uri(app, redirect, sizeof(redirect)) != 0)
    return NULL;
  const char *base = app->cfg.ig_oauth_authorize_url;
  char *id = esc(app->cfg.ig_app_id), *uri = esc(redirect), *st = esc(state), *url = NULL;
  if (id && uri && st)
    url = fmt("%s%sclient_id=%s&redirect_uri=%s&response_type=code&scope=%s&state=%s", base,
              strchr(base, '?') ? "&" : "?", id, uri, IG_OAUTH_SCOPES, st);
  free(id);
  free(uri);
  free(st);
  return url;
}

typedef struct exch_s {
  app_t *app;
  ig_oauth_cb cb;
  void *ctx;
} exch_t;

static void finish(exch_t *x, const ig_oauth_result_t *res) {
  x->cb(x->ctx, res);
  free(x);
}

static void fail(exch_t *x, int refused, const char *why) {
  ig_oauth_result_t res = {.refused = refused, .error = why};
  finish(x, &res);
}

static json_t *answer_json(const httpc_response_t *res) {
  json_t *j = res->body ? json_loadb(res->body, res->len, 0, NULL) : NULL;
  if (j && !json_is_object(j)) {
    json_decref(j);
    j = NULL;
  }
  return j;
}

static void long_lived(void *ctx, const httpc_response_t *res) {
  exch_t *x = ctx;
  json_t *j = answer_json(res);
  const char *token = json_string_value(json_object_get(j, "access_token"));
  json_t *ttl = json_object_get(j, "expires_in");
  if (res->status != 200 || !token || !*token) {
    log_warn("instagram: the long-lived token exchange answered %d%s%s", res->status,
             res->error ? ": " : "", res->error ? res->error : "");
    fail(x, 0, "Instagram did not give a long-lived token");
  } else {
    ig_oauth_result_t out = {.ok = 1,
                             .token = token,
                             .expires_in = json_is_integer(ttl) && json_integer_value(ttl) > 0
                                               ? json_integer_value(ttl)
                                               : DEFAULT_LONG_LIVED_S};
    finish(x, &out);
  }
  json_decref(j);
}

static int request(app_t *app, const char *method, const char *url, const char *body, httpc_cb cb,
                   void *ctx) {
  const char *form[] = {"Content-Type: application/x-www-form-urlencoded",
                        "Accept: application/json", NULL};
  const char *get[] = {"Accept: application/json", NULL};
  httpc_request_t req = {.method = method,
                         .url = url,
                         .headers = body ? form : get,
                         .body = body,
                         .body_len = body ? strlen(body) : 0,
                         .timeout_ms = OAUTH_TIMEOUT_MS,
                         .max_response = OAUTH_MAX_RESPONSE};
  return httpc_request(app->http, &req, cb, ctx);
}

/* Instagram Login answers {access_token, user_id, permissions}, or the same
 * inside data[0] in its newer form. */
static const char *short_token(const json_t *j) {
  const char *t = json_string_value(json_object_get(j, "access_token"));
  if (!t)
    t = json_string_value(
        json_object_get(json_array_get(json_object_get(j, "data"), 0), "access_token"));
  return t;
}

static void short_lived(void *ctx, const httpc_response_t *res) {
  exch_t *x = ctx;
  json_t *j = answer_json(res);
  const char *token = short_token(j);
  char *enc = NULL, *secret = NULL, *url = NULL;
  if (res->status == 400 || res->status == 401 || res->status == 403) {
    /* An expired, used or foreign code: the person starts again. */
    fail(x, 1, "Instagram refused the authorization code");
  } else if (res->status != 200 || !token || !*token) {
    log_warn("instagram: the code exchange answered %d%s%s", res->status, res->error ? ": " : "",
             res->error ? res->error : "");
    fail(x, 0, "Instagram did not exchange the authorization code");
  } else if (!(enc = esc(token)) || !(secret = esc(x->app->cfg.ig_app_secret)) ||
             !(url = fmt("%s%sgrant_type=ig_exchange_token&client_secret=%s&access_token=%s",
                         x->app->cfg.ig_oauth_long_lived_url,
                         strchr(x->app->cfg.ig_oauth_long_lived_url, '?') ? "&" : "?", secret,
                         enc)) ||
             request(x->app, "GET", url, NULL, long_lived, x) != 0) {
    fail(x, 0, "cannot reach Instagram");
  }
  if (enc) sodium_memzero(enc, strlen(enc));
  if (secret) sodium_memzero(secret, strlen(secret));
  if (url) sodium_memzero(url, strlen(url));
  free(enc);
  free(secret);
  free(url);
  json_decref(j);
}

int ig_oauth_exchange(app_t *app, const char *code, ig_oauth_cb cb, void *ctx) {
  char redirect[1024];
  if (!app->cfg.ig_app_id || !app->cfg.ig_app_secret ||
      ig_oauth_redirect_uri(app, redirect, sizeof(redirect)) != 0)
    return -1;
  exch_t *x = calloc(1, sizeof(*x));
  char *id = esc(app->cfg.ig_app_id), *secret = esc(app->cfg.ig_app_secret);
  char *uri = esc(redirect), *c = esc(code), *body = NULL;
  if (x && id && secret && uri && c)
    body =
        fmt("client_id=%s&client_secret=%s&grant_type=authorization_code&redirect_uri=%s"
            "&code=%s",
            id, secret, uri, c);
  int rc = -1;
  if (body) {
    x->app = app;
    x->cb = cb;
    x->ctx = ctx;
    rc = request(app, "POST", app->cfg.ig_oauth_token_url, body, short_lived, x);
  }
  if (rc != 0) free(x);
  if (secret) sodium_memzero(secret, strlen(secret));
  if (body) sodium_memzero(body, strlen(body));
  free(id);
  free(secret);
  free(uri);
  free(c);
  free(body);
  return rc;
}

static void subscribed(void *ctx, const httpc_response_t *res) {
  exch_t *x = ctx;
  json_t *j = answer_json(res);
  if (res->status == 200 && json_is_true(json_object_get(j, "success"))) {
    ig_oauth_result_t out = {.ok = 1};
    finish(x, &out);
  } else {
    log_warn("instagram: subscribed_apps answered %d%s%s", res->status, res->error ? ": " : "",
             res->error ? res->error : "");
    fail(x, 0, "Instagram did not subscribe the account to webhooks");
  }
  json_decref(j);
}

int ig_oauth_subscribe(app_t *app, const char *token, ig_oauth_cb cb, void *ctx) {
  char *enc = esc(token);
  char *url = enc ? fmt("%s/me/subscribed_apps?subscribed_fields=%s&access_token=%s",
                        app->cfg.graph_api_base, IG_OAUTH_FIELDS, enc)
                  : NULL;
  exch_t *x = url ? calloc(1, sizeof(*x)) : NULL;
  int rc = -1;
  if (x) {
    x->app = app;
    x->cb = cb;
    x->ctx = ctx;
    rc = request(app, "POST", url, "", subscribed, x);
    if (rc != 0) free(x);
  }
  if (enc) sodium_memzero(enc, strlen(enc));
  if (url) sodium_memzero(url, strlen(url));
  free(enc);
  free(url);
  return rc;
}
