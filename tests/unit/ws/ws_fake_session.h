/* An in-memory stand-in for src/ws/session.c, for tests of what runs above
 * WebSocket sessions (chat/, handlers/ws/): it defines the five ws_session_*
 * functions, so the linker takes them instead of session.c, and records every
 * frame a session is sent and every close. Sessions are made by hand with
 * fake_session_new; scripted frames go in through the protocol's hook, and
 * captured frames come out with fake_next. No sockets. Include it in exactly
 * one test program file. */
#ifndef PARLEY_TESTS_WS_FAKE_SESSION_H
#define PARLEY_TESTS_WS_FAKE_SESSION_H

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "parley/app.h"
#include "parley/ws.h"

#define FAKE_MAX_FRAMES 256

typedef struct fake_session_s {
  ws_session_t s; /* first: a ws_session_t * is a fake_session_t * */
  char *frames[FAKE_MAX_FRAMES];
  int nframes, taken;
  int closed;
  uint16_t close_code;
  char close_reason[128];
  uint64_t deadline_ms; /* the last deadline armed (0: disarmed) */
  uint16_t deadline_code;
  char deadline_reason[128];
} fake_session_t;

static uint64_t fake_next_id;

/* A session of user_id (NULL: not yet authenticated); an authenticated one is
 * registered in app->hub as ws/ would do. */
static inline ws_session_t *fake_session_new(app_t *app, const char *user_id) {
  fake_session_t *f = calloc(1, sizeof(*f));
  f->s.server = app->ws;
  f->s.app = app;
  f->s.id = ++fake_next_id;
  snprintf(f->s.session_id, sizeof(f->s.session_id), "fake%llu", (unsigned long long)f->s.id);
  if (user_id) {
    snprintf(f->s.user_id, sizeof(f->s.user_id), "%s", user_id);
    f->s.authenticated = 1;
    if (app->hub) hub_add(app->hub, &f->s);
  }
  return &f->s;
}

static inline void fake_session_free(ws_session_t *s) {
  fake_session_t *f = (fake_session_t *)s;
  if (!f->closed && s->app->hub && s->authenticated) hub_remove(s->app->hub, s);
  for (int i = 0; i < f->nframes; i++) free(f->frames[i]);
  free(f);
}

/* The next frame the session was sent that the test has not taken yet, parsed
 * (a new reference), or NULL. */
static inline json_t *fake_next(ws_session_t *s) {
  fake_session_t *f = (fake_session_t *)s;
  if (f->taken >= f->nframes) return NULL;
  return json_loads(f->frames[f->taken++], 0, NULL);
}

/* Frames sent and not taken yet. */
static inline int fake_pending(ws_session_t *s) {
  fake_session_t *f = (fake_session_t *)s;
  return f->nframes - f->taken;
}

static inline int fake_closed(ws_session_t *s, uint16_t *code) {
  fake_session_t *f = (fake_session_t *)s;
  if (code) *code = f->close_code;
  return f->closed;
}

/* ---- the stand-ins ---- */

int ws_session_send(ws_session_t *s, const char *text, size_t len) {
  fake_session_t *f = (fake_session_t *)s;
  if (f->closed || f->nframes == FAKE_MAX_FRAMES) return -1;
  f->frames[f->nframes] = strndup(text, len);
  f->nframes++;
  return 0;
}

/* As session.c: the protocol's close hook runs, then the session leaves the hub. */
void ws_session_close(ws_session_t *s, uint16_t code, const char *reason) {
  fake_session_t *f = (fake_session_t *)s;
  if (f->closed) return;
  f->closed = 1;
  f->close_code = code;
  snprintf(f->close_reason, sizeof(f->close_reason), "%s", reason ? reason : "");
  if (s->server && s->server->on_close) s->server->on_close(s);
  if (s->app->hub && s->user_id[0]) hub_remove(s->app->hub, s);
}

size_t ws_session_pending(const ws_session_t *s) { return 0; }

void ws_session_deadline(ws_session_t *s, uint64_t ms, uint16_t code, const char *reason) {
  fake_session_t *f = (fake_session_t *)s;
  f->deadline_ms = ms;
  f->deadline_code = ms ? code : 0;
  snprintf(f->deadline_reason, sizeof(f->deadline_reason), "%s", ms && reason ? reason : "");
}

/* The armed deadline passes: the session closes as session.c would. Returns 0,
 * or -1 when none is armed. */
static inline int fake_fire_deadline(ws_session_t *s) {
  fake_session_t *f = (fake_session_t *)s;
  if (!f->deadline_ms) return -1;
  f->deadline_ms = 0;
  ws_session_close(s, f->deadline_code, f->deadline_reason);
  return 0;
}

/* The upgrade itself is session.c's and tested there; here it refuses. */
ws_session_t *ws_session_upgrade(http_req_t *req, const ws_server_t *server) { return NULL; }

#endif
