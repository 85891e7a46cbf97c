/* The app a chat/ or handlers/ws/ test runs against, with no sockets: a real
 * loop, hub, metrics, in-process bus, fan-out, presence and dispatcher, and
 * (when asked) a SQLite store and auth state in a temporary directory. Sessions
 * are the in-memory stand-ins of tests/unit/ws/ws_fake_session.h. */
#ifndef PARLEY_TESTS_CHAT_FIXTURE_H
#define PARLEY_TESTS_CHAT_FIXTURE_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../store/store_sync.h"
#include "../ws/ws_fake_session.h"
#include "chat/dispatch.h"
#include "chat/fanout.h"
#include "chat/presence.h"
#include "parley/auth.h"
#include "parley/bus.h"
#include "parley/metrics.h"
#include "parley/store.h"
#include "parley/util.h"

typedef struct chat_fx_s {
  uv_loop_t loop;
  app_t app;
  ws_server_t ws; /* app.ws: its hooks are the protocol's, when a test installs them */
  char dir[64];
} chat_fx_t;

static inline chat_fx_t *chat_fx_new(int with_store) {
  chat_fx_t *f = calloc(1, sizeof(*f));
  uv_loop_init(&f->loop);
  app_t *app = &f->app;
  app->loop = &f->loop;
  snprintf(app->instance_id, sizeof(app->instance_id), "%s", "instance-here");
  app->hub = hub_new();
  app->metrics = metrics_new();
  app->bus = bus_local_new(&f->loop);
  snprintf(f->dir, sizeof(f->dir), "/tmp/parley-chat-XXXXXX");
  if (!mkdtemp(f->dir)) abort();
  if (with_store) {
    char path[128];
    snprintf(path, sizeof(path), "%s/parley.db", f->dir);
    app->store = store_open_sqlite(&f->loop, path, 100);
    app->cfg.data_dir = f->dir;
    app->cfg.jwt_secret = "chat-fixture-secret-chat-fixture-secret";
    app->cfg.access_token_ttl = 900;
    app->cfg.argon2_opslimit = 1;
    app->cfg.argon2_memlimit = 8192;
    app->auth = auth_new(&f->loop, &app->cfg);
    if (!app->store || !app->auth) abort();
  }
  f->ws = (ws_server_t){&f->loop, &app->cfg, app->metrics, app->hub, NULL, NULL, app, NULL, NULL};
  app->ws = &f->ws;
  app->fanout = fanout_new(app);
  app->presence = presence_new(app);
  dispatch_start(app);
  return f;
}

/* Turns the loop for about ms milliseconds (timers of fan-out and presence
 * keep it alive, so it never runs empty). */
static void chat_fx_on_wait(uv_timer_t *t) { *(int *)t->data = 1; }
static inline void chat_fx_run(chat_fx_t *f, uint64_t ms) {
  uv_timer_t t;
  int done = 0;
  uv_timer_init(&f->loop, &t);
  t.data = &done;
  uv_timer_start(&t, chat_fx_on_wait, ms, 0);
  while (!done) uv_run(&f->loop, UV_RUN_ONCE);
  uv_close((uv_handle_t *)&t, NULL);
  uv_run(&f->loop, UV_RUN_NOWAIT);
}

static inline void chat_fx_free(chat_fx_t *f) {
  app_t *app = &f->app;
  dispatch_stop(app);
  fanout_close(app->fanout);
  presence_close(app->presence);
  if (app->store) {
    while (store_jobs_in_flight(app->store)) uv_run(&f->loop, UV_RUN_ONCE);
    store_close(app->store, NULL, NULL);
  }
  bus_close(app->bus, NULL, NULL);
  uv_run(&f->loop, UV_RUN_DEFAULT);
  if (app->auth) auth_free(app->auth);
  hub_free(app->hub);
  metrics_free(app->metrics);
  if (uv_loop_close(&f->loop) != 0) abort();
  char cmd[128];
  snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
  if (system(cmd) != 0) abort();
  free(f);
}

/* A user in the store; returns its id in id. */
static inline int chat_fx_user(chat_fx_t *f, const char *email, char id[25]) {
  json_t *u = NULL;
  int rc = store_sync_call(
      &f->loop, f->app.store, USER_CREATE,
      json_pack("{s:s, s:s, s:s}", "email", email, "name", email, "password_hash", "$argon2id$x"),
      &u, NULL);
  if (rc == STORE_OK) snprintf(id, 25, "%s", json_string_value(json_object_get(u, "id")));
  json_decref(u);
  return rc;
}

/* A group conversation "room" of creator and member made in the store;
 * returns its id in id. */
static inline int chat_fx_group(chat_fx_t *f, const char *creator, const char *member,
                                char id[25]) {
  json_t *r = NULL;
  int rc = store_sync_call(&f->loop, f->app.store, CONV_CREATE,
                           json_pack("{s:s, s:s, s:s, s:[s, s]}", "type", "group", "name", "room",
                                     "creator_id", creator, "participant_ids", creator, member),
                           &r, NULL);
  if (rc == STORE_OK)
    snprintf(id, 25, "%s",
             json_string_value(json_object_get(json_object_get(r, "conversation"), "id")));
  json_decref(r);
  return rc;
}

/* A store call that must succeed (else the program stops, naming it): its
 * result, a new reference. */
static inline json_t *chat_fx_query(chat_fx_t *f, enum store_op op, json_t *params) {
  json_t *r = NULL;
  int rc = store_sync_call(&f->loop, f->app.store, op, params, &r, NULL);
  if (rc != STORE_OK) {
    fprintf(stderr, "%s: store status %d\n", store_op_name(op), rc);
    abort();
  }
  return r;
}

#endif
