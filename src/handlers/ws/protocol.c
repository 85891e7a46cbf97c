/* The WebSocket protocol of API.md on top of ws/session: the GET /ws route,
 * authentication (?token= or a first auth frame before the deadline), renewal
 * by another auth frame before the token expires (else close 4001), the
 * per-connection frame rate, and dispatch of client frames by type through a
 * static table. Owns each session's protocol state (s->data). Loop thread. */
#include "handlers/ws/protocol.h"

#include <stdlib.h>
#include <string.h>

#include "handlers/handlers.h"
#include "handlers/ws/calls.h"
#include "handlers/ws/messaging.h"
#include "handlers/ws/reply.h"
#include "parley/auth.h"
#include "parley/bucket.h"
#include "parley/json_in.h"
#include "parley/util.h"

/* A client frame handler: frame is the parsed object (borrowed), ref its
 * client_id or NULL (the shape of ws_messaging_* in messaging.h). */
typedef void (*ws_frame_handler)(ws_session_t *s, json_t *frame, const char *ref);

/* Close a connection once its over-limit frames, draining at the allowed rate,
 * pile up past this many bursts. */
#define RATE_CLOSE_BURSTS 3
#define TOKEN_QUERY_MAX 4096

typedef struct ws_proto_s {
  bucket_t bucket;
  double overflow; /* frames over the limit, draining at ws_rate a second */
  uint64_t overflow_at;
} ws_proto_t;

/* {"type":"error","code","message","ref"}; the connection stays open. These
 * frame-level errors name no field (ws_reply_error's always carry one). */
static void send_error(ws_session_t *s, const char *code, const char *message, const char *ref) {
  ws_reply_json(s, json_pack("{s:s, s:s, s:s, s:s?}", "type", "error", "code", code, "message",
                             message, "ref", ref));
}

/* ---- frames ---- */

static void on_ping(ws_session_t *s, json_t *frame, const char *ref) {
  ws_reply_json(s, json_pack("{s:s}", "type", "pong"));
}

static void set_expiry(ws_session_t *s, int64_t exp_s);

/* A renewal: a fresh token of the same user on the open session moves its
 * expiry (and its login, for a token of another login of that user). A bad
 * token or another user's changes nothing and is answered with an error. */
static void on_auth_again(ws_session_t *s, json_t *frame, const char *ref) {
  const char *token = json_string_value(json_object_get(frame, "token"));
  auth_claims_t c;
  if (!token) {
    ws_reply_error(s, "validation_failed", "token must be a string", ref, "token");
    return;
  }
  int rc = auth_token_verify(s->app->auth, token, util_now_ms() / 1000, &c);
  if (rc == AUTH_TOKEN_NOT_READY) {
    send_error(s, "unavailable", "try again shortly", ref);
    return;
  }
  if (rc != AUTH_TOKEN_OK) {
    send_error(s, "unauthorized",
               rc == AUTH_TOKEN_EXPIRED   ? "token expired"
               : rc == AUTH_TOKEN_REVOKED ? "token revoked"
                                          : "invalid token",
               ref);
    return;
  }
  if (strcmp(c.sub, s->user_id) != 0) {
    send_error(s, "forbidden", "the token belongs to another user", ref);
    return;
  }
  snprintf(s->login_id, sizeof(s->login_id), "%s", c.sid);
  set_expiry(s, c.exp);
  char at[32];
  util_iso8601(c.exp * 1000, at);
  ws_reply_json(s, json_pack("{s:s, s:s, s:s?}", "type", "auth.ok", "expires_at", at, "ref", ref));
}

/* The client frames of API.md and their handlers: extend the protocol by
 * adding a row here (the handler in its own file, declared in its header).
 * Short, so scanned linearly. */
static const struct {
  const char *type;
  ws_frame_handler fn;
} frame_table[] = {
    {"ping", on_ping},
    {"auth", on_auth_again},
    {"message.send", ws_messaging_send},
    {"typing", ws_messaging_typing},
    {"read", ws_messaging_read},
    {"delivered", ws_messaging_delivered},
    {"sync", ws_messaging_sync},
    {"call.invite", ws_calls_frame},
    {"call.ringing", ws_calls_frame},
    {"call.accept", ws_calls_frame},
    {"call.reject", ws_calls_frame},
    {"call.busy", ws_calls_frame},
    {"call.offer", ws_calls_frame},
    {"call.answer", ws_calls_frame},
    {"call.ice", ws_calls_frame},
    {"call.media", ws_calls_frame},
    {"call.hangup", ws_calls_frame},
};

static ws_frame_handler find_handler(const char *type) {
  for (size_t i = 0; i < sizeof(frame_table) / sizeof(frame_table[0]); i++)
    if (strcmp(frame_table[i].type, type) == 0) return frame_table[i].fn;
  return NULL;
}

/* ---- per-session state ---- */

/* Allocated on first use: bytes that followed the upgrade request may deliver a
 * frame before ws_session_upgrade has returned to us. */
static ws_proto_t *proto_of(ws_session_t *s) {
  if (!s->data) s->data = calloc(1, sizeof(ws_proto_t));
  return s->data;
}

/* The session closes with 4001 when its token expires unrenewed; the deadline
 * rides on the session's own timer. */
static void set_expiry(ws_session_t *s, int64_t exp_s) {
  int64_t ms = exp_s * 1000 - util_now_ms();
  ws_session_deadline(s, ms > 0 ? (uint64_t)ms : 1, WS_CLOSE_TOKEN_EXPIRED, "token expired");
}

static void become_ready(ws_session_t *s, const auth_claims_t *c) {
  snprintf(s->user_id, sizeof(s->user_id), "%s", c->sub);
  snprintf(s->login_id, sizeof(s->login_id), "%s", c->sid);
  set_expiry(s, c->exp);
  s->authenticated = 1;
  int sessions = s->app->hub ? hub_add(s->app->hub, s) : 0;
  ws_reply_json(s, json_pack("{s:s, s:s, s:s}", "type", "ready", "user_id", s->user_id,
                             "session_id", s->session_id));
  if (sessions > 0) ws_messaging_opened(s, sessions);
}

/* Returns 1 when the token is good and the session is now ready; otherwise
 * closes with 1008 and a reason that says which (1013 while the instance
 * cannot judge tokens yet). */
static int authenticate(ws_session_t *s, const char *token) {
  auth_claims_t c;
  int rc = token ? auth_token_verify(s->app->auth, token, util_now_ms() / 1000, &c)
                 : AUTH_TOKEN_MALFORMED;
  if (rc == AUTH_TOKEN_NOT_READY) {
    ws_session_close(s, 1013, "starting up: try again shortly");
    return 0;
  }
  if (rc != AUTH_TOKEN_OK) {
    ws_session_close(s, 1008,
                     rc == AUTH_TOKEN_EXPIRED   ? "token expired"
                     : rc == AUTH_TOKEN_REVOKED ? "token revoked"
                                                : "invalid token");
    return 0;
  }
  become_ready(s, &c);
  return 1;
}

/* The frame rate: a token bucket, and a second counter of frames refused that
 * drains at the same rate; a client that keeps pushing is disconnected. */
static int rate_ok(ws_session_t *s, ws_proto_t *p) {
  const config_t *cfg = &s->app->cfg;
  uint64_t now = uv_now(s->app->loop);
  if (bucket_take(&p->bucket, now, cfg->ws_rate, cfg->ws_burst, NULL)) return 1;
  if (now > p->overflow_at) {
    p->overflow -= (double)(now - p->overflow_at) * cfg->ws_rate / 1000.0;
    if (p->overflow < 0) p->overflow = 0;
  }
  p->overflow_at = now;
  p->overflow += 1;
  if (p->overflow > (double)RATE_CLOSE_BURSTS * cfg->ws_burst)
    ws_session_close(s, 1008, "rate limit exceeded");
  else
    send_error(s, "rate_limited", "too many frames, slow down", NULL);
  return 0;
}

static void on_unauthenticated_frame(ws_session_t *s, json_t *frame) {
  json_t *type = json_object_get(frame, "type");
  if (!json_is_string(type) || strcmp(json_string_value(type), "auth") != 0) {
    ws_session_close(s, 1008, "authentication required");
    return;
  }
  authenticate(s, json_string_value(json_object_get(frame, "token")));
}

void ws_protocol_on_message(ws_session_t *s, const char *data, size_t len) {
  ws_proto_t *p = proto_of(s);
  if (!p) {
    ws_session_close(s, 1011, "out of memory");
    return;
  }
  if (!rate_ok(s, p)) return;
  /* jansson's lexer costs about 200 instructions a byte; json_in reads the
   * common frame directly and hands jansson the rest (the same tree or refusal). */
  json_t *frame = json_in_loadb_flags(data, len, JSON_REJECT_DUPLICATES, NULL);
  if (!json_is_object(frame)) {
    if (!s->authenticated)
      ws_session_close(s, 1008, "authentication required");
    else
      send_error(s, "invalid_json", "a frame must be one JSON object", NULL);
    json_decref(frame);
    return;
  }
  if (!s->authenticated) {
    on_unauthenticated_frame(s, frame);
    json_decref(frame);
    return;
  }
  const char *ref = json_string_value(json_object_get(frame, "client_id"));
  const char *type = json_string_value(json_object_get(frame, "type"));
  ws_frame_handler fn = type ? find_handler(type) : NULL;
  if (fn)
    fn(s, frame, ref);
  else
    send_error(s, "unknown_type", type ? "unknown frame type" : "type is missing", ref);
  json_decref(frame);
}

void ws_protocol_on_close(ws_session_t *s) {
  ws_proto_t *p = s->data;
  if (s->authenticated && s->app->hub) ws_messaging_closed(s, hub_remove(s->app->hub, s));
  if (s->authenticated && s->call_id[0]) ws_calls_session_closed(s);
  free(p);
  s->data = NULL;
}

/* ---- the route ---- */

static void upgrade(http_req_t *req) {
  char token[TOKEN_QUERY_MAX + 1];
  long n = http_req_query(req, "token", token, sizeof(token));
  app_t *app = req->app;
  ws_session_t *s = ws_session_upgrade(req, app->ws);
  if (!s) return;
  if (!proto_of(s)) {
    ws_session_close(s, 1011, "out of memory");
    return;
  }
  if (s->authenticated) return; /* an auth frame came with the upgrade */
  if (n >= 0) {
    authenticate(s, n > 0 ? token : NULL);
    return;
  }
  if (n == -2) {
    ws_session_close(s, 1008, "invalid token");
    return;
  }
  ws_session_deadline(s, (uint64_t)app->cfg.ws_auth_timeout_ms, 1008, "authentication timeout");
}

void ws_protocol_init(app_t *app) {
  app->ws->on_message = ws_protocol_on_message;
  app->ws->on_close = ws_protocol_on_close;
}

static const route_t routes[] = {
    {"GET", "/ws", 0, upgrade},
};

const route_table_t ws_routes = ROUTE_TABLE(routes);
