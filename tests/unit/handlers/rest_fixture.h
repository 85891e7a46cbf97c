/* The REST surface without sockets (src/handlers/): requests made in memory
 * with http/'s loopback seam go through the real route tables, the bearer-token
 * check and the handlers, against the app of tests/unit/chat/chat_fixture.h (a
 * SQLite store in a temporary directory, auth state, fan-out, presence) plus
 * the Instagram side of tests/unit/instagram/ig_fixture.h (the ingest, the
 * Graph API sender over a fake HTTP client). Each reply is captured whole:
 * status, headers, body. Include it in exactly one test program file. */
#ifndef PARLEY_TESTS_HANDLERS_REST_FIXTURE_H
#define PARLEY_TESTS_HANDLERS_REST_FIXTURE_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../instagram/ig_fixture.h"
#include "handlers/handlers.h"
#include "parley/http.h"
#include "parley/log.h"

typedef struct rest_fx_s {
  chat_fx_t *chat;
  app_t *app; /* &chat->app */
  http_server_t srv;
  char a[25], b[25], c[25]; /* three users: a@example.com, b@..., c@... */
} rest_fx_t;

/* A captured reply. */
typedef struct rest_reply_s {
  int status;   /* 0 until the handler replied */
  char *head;   /* the status line and headers */
  char *raw;    /* the body as sent */
  json_t *body; /* the body parsed, or NULL when it is not JSON */
} rest_reply_t;

static inline rest_fx_t *rest_fx_new(void) {
  rest_fx_t *fx = calloc(1, sizeof(*fx));
  log_set_level(LOG_WARN); /* no access log lines in test output */
  fx->chat = chat_fx_new(1);
  fx->app = &fx->chat->app;
  app_t *app = fx->app;
  app->cfg.max_body_bytes = 1 << 20;
  app->cfg.auth_rate_per_ip = 1000;
  app->cfg.auth_rate_per_email = 1000;
  app->cfg.refresh_token_ttl = 3600;
  app->cfg.flow_max_nodes = 200;
  app->cfg.flow_max_text_bytes = 4000;
  app->cfg.ig_app_secret = "app-secret";
  app->cfg.ig_verify_token = "verify-me";
  ig_fx_attach(fx->chat, 600);
  fx->srv = (http_server_t){&app->cfg,
                            handlers_route_tables,
                            handlers_route_table_count,
                            auth_authenticate,
                            app->auth,
                            app->metrics,
                            NULL,
                            app,
                            NULL,
                            NULL};
  app->httpd = &fx->srv;
  if (chat_fx_user(fx->chat, "a@example.com", fx->a) != STORE_OK ||
      chat_fx_user(fx->chat, "b@example.com", fx->b) != STORE_OK ||
      chat_fx_user(fx->chat, "c@example.com", fx->c) != STORE_OK)
    abort();
  return fx;
}

static inline void rest_fx_free(rest_fx_t *fx) {
  ig_fx_detach(fx->chat);
  chat_fx_free(fx->chat);
  free(fx);
}

static inline void rest_reply_free(rest_reply_t *r) {
  if (!r) return;
  free(r->head);
  free(r->raw);
  json_decref(r->body);
  free(r);
}

static void rest_sink(void *ctx, http_req_t *req, const char *head, size_t head_len,
                      const char *body, size_t body_len) {
  rest_reply_t *r = ctx;
  r->status = req->status;
  r->head = strndup(head, head_len);
  r->raw = strndup(body ? body : "", body_len);
  r->body = json_loadb(r->raw, body_len, 0, NULL);
}

/* Starts a request with a bearer token (NULL: none) and a JSON body (NULL:
 * none); the reply is captured into the returned record, now or as the loop
 * turns. */
static inline rest_reply_t *rest_send_token(rest_fx_t *fx, const char *method, const char *target,
                                            const char *token, const char *body) {
  rest_reply_t *r = calloc(1, sizeof(*r));
  http_req_t *req = http_loopback_new(&fx->srv, method, target, rest_sink, r);
  if (!req) fail_msg("loopback refused %s %s", method, target);
  if (token) {
    char value[2048];
    snprintf(value, sizeof(value), "Bearer %s", token);
    http_loopback_header(req, "Authorization", value);
  }
  if (body) {
    http_loopback_header(req, "Content-Type", "application/json");
    if (http_loopback_body(req, body, strlen(body)) != 0) fail_msg("body over the limit");
  }
  http_loopback_dispatch(req);
  http_req_unref(req);
  return r;
}

/* The same as user_id (NULL: no token), with an access token issued now. */
static inline rest_reply_t *rest_send(rest_fx_t *fx, const char *method, const char *target,
                                      const char *user_id, const char *body) {
  char *token =
      user_id ? auth_token_issue(fx->app->auth, user_id, "rest-login", util_now_ms() / 1000) : NULL;
  rest_reply_t *r = rest_send_token(fx, method, target, token, body);
  free(token);
  return r;
}

/* Turns the loop until r has its reply (store jobs, password hashing), for
 * five seconds at most. */
static inline void rest_wait(rest_fx_t *fx, rest_reply_t *r) {
  for (int i = 0; i < 2500 && !r->status; i++) chat_fx_run(fx->chat, 2);
  if (!r->status) fail_msg("no reply");
}

/* Waits for r, the reply to method target, and checks its status. */
static inline rest_reply_t *rest_check(rest_fx_t *fx, rest_reply_t *r, int expect_status,
                                       const char *method, const char *target) {
  rest_wait(fx, r);
  if (r->status != expect_status)
    fail_msg("%s %s: %d, not %d: %s", method, target, r->status, expect_status, r->raw);
  return r;
}

/* A whole request as user_id: sent, waited for, and its status checked. */
static inline rest_reply_t *rest_call(rest_fx_t *fx, int expect_status, const char *method,
                                      const char *target, const char *user_id, const char *body) {
  return rest_check(fx, rest_send(fx, method, target, user_id, body), expect_status, method,
                    target);
}

/* A request whose reply must be the error envelope with code (and field,
 * unless NULL): checks it and frees the reply. */
static inline void rest_expect_error(rest_fx_t *fx, int status, const char *code, const char *field,
                                     const char *method, const char *target, const char *user_id,
                                     const char *body) {
  rest_reply_t *r = rest_call(fx, status, method, target, user_id, body);
  json_t *err = json_object_get(r->body, "error");
  if (!json_is_object(err)) fail_msg("%s %s: no error envelope: %s", method, target, r->raw);
  assert_string_equal(json_string_value(json_object_get(err, "code")), code);
  assert_non_null(json_string_value(json_object_get(err, "message")));
  if (field) assert_string_equal(json_string_value(json_object_get(err, "field")), field);
  rest_reply_free(r);
}

/* A response header's value (copied into out), or NULL. */
static inline const char *rest_header(const rest_reply_t *r, const char *name, char *out,
                                      size_t outlen) {
  size_t n = strlen(name);
  for (const char *line = strstr(r->head, "\r\n"); line && line[2];
       line = strstr(line + 2, "\r\n")) {
    const char *h = line + 2;
    if (strncasecmp(h, name, n) == 0 && h[n] == ':') {
      const char *v = h + n + 1;
      while (*v == ' ') v++;
      size_t len = strcspn(v, "\r\n");
      snprintf(out, outlen, "%.*s", (int)len, v);
      return out;
    }
  }
  return NULL;
}

/* A string at a path of keys in the body ("conversation", "id", NULL). */
static inline const char *rest_str(const rest_reply_t *r, ...) {
  va_list ap;
  va_start(ap, r);
  json_t *v = r->body;
  for (const char *k = va_arg(ap, const char *); k; k = va_arg(ap, const char *))
    v = json_object_get(v, k);
  va_end(ap);
  return json_string_value(v);
}

/* s percent-encoded for a query string (out holds 3 * strlen(s) + 1). */
static inline const char *rest_encode(const char *s, char *out) {
  static const char hex[] = "0123456789ABCDEF";
  char *o = out;
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
        *p == '-' || *p == '_' || *p == '.') {
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

/* A group conversation of owner with member (member may be NULL), made
 * through the API; its id goes into id. */
static inline void rest_group(rest_fx_t *fx, const char *owner, const char *member, char id[25]) {
  char body[256];
  snprintf(body, sizeof(body),
           "{\"type\":\"group\",\"name\":\"room\",\"participant_ids\":[%s%s%s]}",
           member ? "\"" : "", member ? member : "", member ? "\"" : "");
  rest_reply_t *r = rest_call(fx, 201, "POST", "/api/conversations", owner, body);
  snprintf(id, 25, "%s", rest_str(r, "conversation", "id", NULL));
  rest_reply_free(r);
}

/* The common setup and teardown of a REST test program. */
static inline int rest_setup(void **state) {
  *state = rest_fx_new();
  return 0;
}

static inline int rest_teardown(void **state) {
  rest_fx_free(*state);
  return 0;
}

#endif
