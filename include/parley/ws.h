/* WebSocket (RFC 6455, version 13) sessions over a conn_t, driven by wslay's
 * event API on the loop thread, and the hub that maps users to their sessions.
 *
 * A session receives text messages (each handed to its server's on_message) and sends
 * text frames. Output queued during one loop turn leaves in one write; while the
 * loop is loaded, in one write after at most cfg.ws_write_delay_ms (see
 * ws_server_start). Limits:
 * binary frames close 1003, messages over cfg.ws_max_message_bytes close 1009,
 * queued output over cfg.ws_output_limit drops the session, a ping every
 * cfg.ws_ping_interval_ms and a close after cfg.ws_pong_timeout_ms without a pong.
 * Loop thread only. */
#ifndef PARLEY_WS_H
#define PARLEY_WS_H

#include <stddef.h>
#include <stdint.h>

#include "parley/http.h"

typedef struct ws_session_s ws_session_t;
typedef struct hub_s hub_t;
typedef struct ws_out_s ws_out_t;

/* What sessions are served with: the loop, the settings they read (the ws_*
 * limits above), where counters go, the hub they leave when they close, the
 * protocol's hooks (each text message; a session that closes), and the
 * application the protocol gets as s->app (ws/ never looks inside it). Owned
 * by the caller; outlives every session. */
typedef struct ws_server_s {
  uv_loop_t *loop;
  const config_t *cfg;
  struct metrics_s *metrics; /* may be NULL */
  hub_t *hub;                /* may be NULL */
  void (*on_message)(ws_session_t *s, const char *data, size_t len);
  void (*on_close)(ws_session_t *s);
  struct app_s *app;
  ws_out_t *out;          /* ws_server_start's shared state; NULL: no write delay */
  struct ws_pool_s *pool; /* ws_server_start's output buffers; NULL: malloc'd */
} ws_server_t;

/* Starts what the server's sessions share: their pool of output buffers,
 * and the write delay when cfg.ws_write_delay_ms > 0. Before the first
 * upgrade, on the loop's thread (the load signal is that thread's CPU time).
 * Returns 0, or -1 when memory runs out. */
int ws_server_start(ws_server_t *srv);
/* Closes what ws_server_start opened, once every session is gone. */
void ws_server_stop(ws_server_t *srv);

struct ws_session_s {
  const ws_server_t *server;
  struct app_s *app; /* server->app, for the protocol */
  conn_t *conn;      /* NULL once closed */
  uint64_t id;
  char session_id[25];
  char user_id[64];  /* empty until authenticated */
  char login_id[32]; /* the login its token belongs to (the token's sid); may be empty */
  int authenticated;
  char call_id[25]; /* the call this session placed or took; "" when none */
  void *data;       /* the protocol layer's per-session state */
  /* the rest is private to src/ws/ */
  void *priv;
};

/* Computes Sec-WebSocket-Accept for a client key: base64(SHA-1(key + GUID)).
 * out has >= 29 bytes. Returns 0, or -1 for a key that is not 16 bytes of base64. */
int ws_accept_key(const char *client_key, char out[29]);

/* Validates the upgrade request (GET, Upgrade: websocket, Connection: upgrade,
 * Sec-WebSocket-Version: 13, a valid key). On failure replies 400 (426 with
 * Sec-WebSocket-Version: 13 for a wrong version) and returns NULL. On success
 * writes the 101, takes over the connection, feeds it the bytes that followed the
 * request, and returns the new session (owned by its connection). */
ws_session_t *ws_session_upgrade(http_req_t *req, const ws_server_t *server);

/* Queues one text frame (copied). Returns 0, or -1 when the session is closing
 * or its output limit was passed (then it is being dropped). */
int ws_session_send(ws_session_t *s, const char *text, size_t len);
/* Starts the close handshake with a code and reason (<= 123 bytes). Idempotent. */
void ws_session_close(ws_session_t *s, uint16_t code, const char *reason);
/* Bytes queued and not yet written. */
size_t ws_session_pending(const ws_session_t *s);
/* Arms (ms > 0) or disarms (0) a one-shot deadline that closes the session with
 * code and `reason` unless it is disarmed or moved first (the authentication
 * deadline, then the token's expiry). It rides on the session's one timer. */
void ws_session_deadline(ws_session_t *s, uint64_t ms, uint16_t code, const char *reason);

/* The hub: user id -> sessions on this instance. */
hub_t *hub_new(void);
void hub_free(hub_t *h);
/* Registers an authenticated session under s->user_id. Returns the number of
 * this user's sessions on this instance after the call. */
int hub_add(hub_t *h, ws_session_t *s);
/* Unregisters; returns the user's remaining sessions here. Safe to call twice. */
int hub_remove(hub_t *h, ws_session_t *s);
/* Calls fn for each session of user_id here; fn may send but must not free. */
void hub_foreach(hub_t *h, const char *user_id, void (*fn)(ws_session_t *s, void *arg), void *arg);
/* Calls fn for every session (shutdown, metrics). */
void hub_foreach_all(hub_t *h, void (*fn)(ws_session_t *s, void *arg), void *arg);
/* Sends text to every session of user_id here; returns how many were sent to. */
int hub_send_user(hub_t *h, const char *user_id, const char *text, size_t len);
int hub_session_count(const hub_t *h);
int hub_user_count(const hub_t *h);
/* Changes with every session added or removed (never repeats): what was
 * looked up at one generation holds while it is unchanged, so a kept list of
 * sessions is valid, none of them gone, none missing, only while it is. */
uint64_t hub_generation(const hub_t *h);

#endif
