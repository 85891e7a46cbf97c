/* outbox: Graph API send, then the store, for messages the owner sends (see
 * outbox.h). Each send owns a copy of what it needs until its callback. Loop
 * thread. */
#include "instagram/outbox.h"

#include <stdlib.h>
#include <string.h>

#include "instagram/ingest.h"
#include "parley/store.h"

typedef struct send_s {
  app_t *app;
  json_t *account;
  json_t *contact;
  char *text;
  const char *source;
  ig_sent_fn cb;
  void *ctx;
} send_t;

static void send_free(send_t *s) {
  json_decref(s->account);
  json_decref(s->contact);
  free(s->text);
  free(s);
}

static void kept(void *ctx, const ig_stored_t *stored) {
  send_t *s = ctx;
  ig_sent_t sent = {1, NULL, stored->status, stored->message};
  s->cb(s->ctx, &sent);
  send_free(s);
}

static void graph_done(void *ctx, const graph_result_t *res) {
  send_t *s = ctx;
  if (!res->ok || !s->app->ingest) {
    ig_sent_t sent = {res->ok, res->error, STORE_ECLOSED, NULL};
    s->cb(s->ctx, &sent);
    send_free(s);
    return;
  }
  ig_ingest_store_outgoing(s->app->ingest, s->account, s->contact, s->text, res->message_id,
                           s->source, kept, s);
}

int ig_outbox_send(app_t *app, json_t *account, json_t *contact, const char *token,
                   const char *text, const char *source, ig_sent_fn cb, void *ctx) {
  send_t *s = calloc(1, sizeof(*s));
  if (!s) return -1;
  s->app = app;
  s->account = json_incref(account);
  s->contact = json_incref(contact);
  s->text = strdup(text);
  s->source = source;
  s->cb = cb;
  s->ctx = ctx;
  if (!s->text || !app->graph ||
      graph_send_text(app->graph, json_string_value(json_object_get(account, "ig_user_id")), token,
                      json_string_value(json_object_get(contact, "ig_user_id")), text, graph_done,
                      s) != 0) {
    send_free(s);
    return -1;
  }
  return 0;
}
