/* sessions: sending to and closing this instance's sessions of a user, through
 * the hub. Loop thread. */
#include "chat/sessions.h"

#include <stdlib.h>
#include <string.h>

#include "parley/ws.h"

typedef struct send_s {
  const char *text;
  size_t len;
  uint64_t except;
  int sent;
} send_t;

static void send_one(ws_session_t *s, void *arg) {
  send_t *c = arg;
  if (c->except && s->id == c->except) return;
  if (ws_session_send(s, c->text, c->len) == 0) c->sent++;
}

int sessions_send(app_t *app, const char *user_id, const char *text, size_t len, uint64_t except) {
  if (!app->hub || !user_id) return 0;
  send_t c = {text, len, except, 0};
  hub_foreach(app->hub, user_id, send_one, &c);
  return c.sent;
}

static void count_one(ws_session_t *s, void *arg) { (*(int *)arg)++; }

int sessions_count(app_t *app, const char *user_id) {
  int n = 0;
  if (app->hub && user_id) hub_foreach(app->hub, user_id, count_one, &n);
  return n;
}

typedef struct send_to_s {
  const char *text;
  size_t len;
  uint64_t id;
  int sent;
} send_to_t;

static void send_to(ws_session_t *s, void *arg) {
  send_to_t *c = arg;
  if (s->id == c->id && ws_session_send(s, c->text, c->len) == 0) c->sent = 1;
}

int sessions_send_one(app_t *app, const char *user_id, uint64_t session, const char *text,
                      size_t len) {
  if (!app->hub || !user_id) return 0;
  send_to_t c = {text, len, session, 0};
  hub_foreach(app->hub, user_id, send_to, &c);
  return c.sent;
}

int sessions_send_users(app_t *app, const json_t *users, const char *exclude_user, const char *text,
                        size_t len) {
  size_t i;
  json_t *u;
  int sent = 0;
  json_array_foreach(users, i, u) {
    const char *id = json_string_value(u);
    if (!id || (exclude_user && strcmp(id, exclude_user) == 0)) continue;
    sent += sessions_send(app, id, text, len, 0);
  }
  return sent;
}

typedef struct session_list_s {
  ws_session_t **s;
  size_t n, cap;
  const char *login_id; /* only the sessions of this login, or NULL for all */
} session_list_t;

static void collect_session(ws_session_t *s, void *arg) {
  session_list_t *l = arg;
  if (l->login_id && strcmp(s->login_id, l->login_id) != 0) return;
  if (l->n == l->cap) {
    size_t cap = l->cap ? l->cap * 2 : 8;
    ws_session_t **grown = realloc(l->s, cap * sizeof(*grown));
    if (!grown) return;
    l->s = grown;
    l->cap = cap;
  }
  l->s[l->n++] = s;
}

/* Sessions are collected first and closed after the walk, so a close never
 * changes the hub under hub_foreach. */
static void close_matching(app_t *app, const char *user_id, const char *login_id, uint16_t code,
                           const char *reason) {
  session_list_t l = {0};
  l.login_id = login_id;
  if (!app->hub) return;
  hub_foreach(app->hub, user_id, collect_session, &l);
  for (size_t i = 0; i < l.n; i++) ws_session_close(l.s[i], code, reason);
  free(l.s);
}

void sessions_close_user(app_t *app, const char *user_id, uint16_t code, const char *reason) {
  close_matching(app, user_id, NULL, code, reason);
}

void sessions_close_login(app_t *app, const char *user_id, const char *login_id, uint16_t code,
                          const char *reason) {
  if (login_id && login_id[0]) close_matching(app, user_id, login_id, code, reason);
}
