/* The Instagram side of a test app (src/instagram/): the ingest and the Graph
 * API sender over the fake HTTP client of tests/unit/net/httpc_fake.h, added to
 * the app of tests/unit/chat/chat_fixture.h (which must have a store), plus
 * connected accounts and webhook bodies from tests/fixtures/instagram fed
 * through the store as the webhook handler feeds them. No sockets. Include it
 * in exactly one test program file. */
#ifndef PARLEY_TESTS_INSTAGRAM_IG_FIXTURE_H
#define PARLEY_TESTS_INSTAGRAM_IG_FIXTURE_H

#include "../chat/chat_fixture.h"
#include "../net/httpc_fake.h"
#include "instagram/ingest.h"
#include "parley/instagram.h"

/* The account of tests/fixtures/instagram and the contact who writes to it. */
#define IG_FX_ACCOUNT "17841400000000001"
#define IG_FX_CONTACT "6543210987654321"
#define IG_FX_TOKEN "EAAG-test-token"

/* Adds app->http (the fake), app->graph (per_min sends a minute per account)
 * and app->ingest to the fixture's app. */
static inline void ig_fx_attach(chat_fx_t *f, int per_min) {
  app_t *app = &f->app;
  app->cfg.graph_api_base = "https://graph.test/v21.0";
  memset(app->secret_key, 7, sizeof(app->secret_key));
  app->http = httpc_new(&f->loop);
  app->graph = graph_new(&f->loop, app->http, app->cfg.graph_api_base, per_min, 10000);
  app->ingest = ig_ingest_new(app);
  if (!app->http || !app->graph || !app->ingest) abort();
}

/* Waits for the ingest and the Graph sender to go idle (5 s at most). */
static inline void ig_fx_settle(chat_fx_t *f) {
  app_t *app = &f->app;
  for (int i = 0; i < 2500 && (ig_ingest_busy(app->ingest) || graph_in_flight(app->graph) ||
                               store_jobs_in_flight(app->store));
       i++)
    chat_fx_run(f, 2);
}

static inline void ig_fx_detach(chat_fx_t *f) {
  app_t *app = &f->app;
  ig_fx_settle(f);
  /* The app's order: what is still in flight is cancelled through a live
   * Graph sender (its callbacks find the ingest gone), then the sender goes. */
  ig_ingest_free(app->ingest);
  httpc_close(app->http, NULL, NULL);
  chat_fx_run(f, 2);
  graph_free(app->graph);
  app->ingest = NULL;
  app->graph = NULL;
  app->http = NULL;
}

/* Connects ig_user_id to user_id with IG_FX_TOKEN (sealed as the handler
 * seals it). */
static inline int ig_fx_account(chat_fx_t *f, const char *user_id, const char *ig_user_id) {
  char *sealed = ig_token_seal(f->app.secret_key, IG_FX_TOKEN);
  int rc = store_sync_call(&f->loop, f->app.store, IG_ACCOUNT_UPSERT,
                           json_pack("{s:s, s:s, s:s, s:s}", "user_id", user_id, "ig_user_id",
                                     ig_user_id, "username", "shop", "token_cipher", sealed),
                           NULL, NULL);
  free(sealed);
  return rc;
}

/* A webhook body from tests/fixtures/instagram (malloc'd, NUL-terminated). */
static inline char *ig_fx_read(const char *name) {
  char path[512];
  snprintf(path, sizeof(path), "%s/tests/fixtures/instagram/%s", PARLEY_SOURCE_DIR, name);
  FILE *fp = fopen(path, "rb");
  if (!fp) abort();
  char *buf = calloc(1, 65536);
  size_t n = fread(buf, 1, 65535, fp);
  buf[n] = '\0';
  fclose(fp);
  return buf;
}

/* Stores the events of a webhook body as the webhook handler does and kicks
 * the ingest; returns how many were new (duplicates by mid are not). */
static inline int ig_fx_deliver(chat_fx_t *f, const char *body) {
  json_t *parsed = json_loads(body, 0, NULL), *result = NULL;
  json_t *events = ig_webhook_events(parsed);
  json_decref(parsed);
  if (!events) abort();
  if (store_sync_call(&f->loop, f->app.store, EVENT_INSERT, json_pack("{s:o}", "events", events),
                      &result, NULL) != STORE_OK)
    abort();
  int inserted = (int)json_array_size(json_object_get(result, "inserted"));
  json_decref(result);
  ig_ingest_kick(f->app.ingest);
  ig_fx_settle(f);
  return inserted;
}

/* The same for a fixture file. */
static inline int ig_fx_deliver_file(chat_fx_t *f, const char *name) {
  char *body = ig_fx_read(name);
  int n = ig_fx_deliver(f, body);
  free(body);
  return n;
}

#endif
