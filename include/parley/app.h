/* The application: one per process, created by main.c, passed to whoever needs
 * it (there are no mutable globals). Owned and used by the loop thread only;
 * worker threads never see it. */
#ifndef PARLEY_APP_H
#define PARLEY_APP_H

#include <sodium.h>
#include <stdint.h>
#include <uv.h>

#include "parley/config.h"

/* The bus channel on which an instance names the owner whose flows it just
 * changed (flows/runner.h): every instance drops its copy of them. */
#define FLOWS_CHANGED_CHANNEL "flows.changed"
/* The bus channel on which an instance names the user it just stored a Web
 * Push subscription for (push/push.c): every instance drops what it held of
 * that user having none. */
#define PUSH_SUBSCRIBED_CHANNEL "push.subscribed"
/* The bus channel on which an instance names the contact a flow's ask now
 * waits for (flows/runner.c): every instance drops what it held of no ask
 * waiting for that contact. */
#define FLOWS_WAITING_CHANNEL "flows.waiting"

struct store_s;
struct bus_s;
struct hub_s;
struct metrics_s;
struct auth_s;
struct httpc_s;
struct mail_s;
struct graph_s;
struct ig_ingest_s;
struct ig_health_s;
struct ig_sweep_s;
struct ig_replies_s;
struct ig_media_s;
struct flow_runner_s;
struct fanout_s;
struct presence_s;
struct channel_subs_s;
struct revocations_s;
struct calls_s;
struct bots_s;
struct listener_s;
struct http_server_s;
struct ws_server_s;
struct files_s;
struct strmap_s;
struct json_t;

typedef struct app_s {
  uv_loop_t *loop;
  config_t cfg;
  char instance_id[25]; /* unique per process, for the bus and presence */
  /* 1 while every other instance heard on the bus reads packed recipients
   * (chat/presence.c keeps it, chat/envelope.c reads it). */
  int envelope_pack;

  struct store_s *store;
  struct bus_s *bus;
  struct hub_s *hub;
  struct metrics_s *metrics;
  struct auth_s *auth;
  struct mail_s *mail; /* outgoing mail (verification codes, password reset) */

  /* Instagram: outbound HTTP, the Graph API sender, the key that seals stored
   * access tokens, and the webhook event processor. */
  struct httpc_s *http;
  struct graph_s *graph;
  unsigned char secret_key[32];
  /* Signs attachment download URLs (chat/attach_url.h): HMAC-SHA256 keyed once
   * at start, copied for each signature. Read only after start (both threads). */
  crypto_auth_hmacsha256_state url_key;
  struct ig_ingest_s *ingest;
  struct ig_signer_s *ig_signer;   /* checks webhook signatures: NULL without ig_app_secret */
  struct ig_health_s *ig_health;   /* account health and token refresh */
  struct ig_sweep_s *ig_sweep;     /* sends whose instance died: unknown_outcome */
  struct ig_replies_s *ig_replies; /* which conversations are chat (the send path) */
  struct ig_media_s *ig_media;     /* incoming media fetched into storage */
  struct flow_runner_s *runner;
  struct fanout_s *fanout;             /* delivery to sessions here and on other instances */
  struct presence_s *presence;         /* who is online, across instances */
  struct channel_subs_s *channel_subs; /* channels' connected members here */
  struct revocations_s *revocations;   /* loads the saved token revocations */
  struct calls_s *calls;               /* calls started here: ring timeouts, leases */
  struct bots_s *bots;                 /* bot webhooks' outbox and the bot registry */
  struct push_s *push;                 /* Web Push: the VAPID key and the send queue */
  /* Called by chat/fanout.c for each message stored on this instance, once,
   * with the message and its participant ids (borrowed), after its delivery
   * here; here (or NULL: not known) tells for each participant id whether the
   * delivery found a session of theirs here. app.c points it at
   * push_message_new (chat/ is below push/). NULL: nothing. */
  void (*on_message_stored)(struct app_s *app, const struct json_t *message,
                            const struct json_t *participant_ids, const unsigned char *here);
  /* Called by chat/dispatch.c when another instance announced a bot it just
   * created (envelope kind "b"); app.c points it at bots_known (chat/ is below
   * bots/). NULL: nothing. */
  void (*on_bot_known)(struct app_s *app, const char *bot_id);
  /* Called by chat/dispatch.c with the owner whose flows an instance changed
   * (FLOWS_CHANGED_CHANNEL), or NULL when the bus went down or came back (any
   * change may have gone unheard); app.c points it at the flow runner's
   * forget (chat/ is below flows/). NULL: nothing. */
  void (*on_flows_changed)(struct app_s *app, const char *owner_id);
  /* The same for the user another instance stored a Web Push subscription
   * for (PUSH_SUBSCRIBED_CHANNEL), and the contact a flow's ask now waits for
   * on another instance (FLOWS_WAITING_CHANNEL); NULL when the bus went down
   * or came back. app.c points them at push/'s and the flow runner's forget. */
  void (*on_push_subscribed)(struct app_s *app, const char *user_id);
  void (*on_flow_waiting)(struct app_s *app, const char *contact_id);

  struct web_s *web; /* the web client's files served at /, NULL when none */

  /* Uploaded files: the storage backend, and uploads in flight by user id
   * (values: counts, as intptr_t) for upload_max_in_flight. */
  struct files_s *files;
  struct strmap_s *uploads;
  struct files_imager_s *imager; /* images' sizes, thumbnails, EXIF removal */

  /* What the lower layers are given instead of the app: the listener and its
   * connections (net/), what HTTP serves (routes, the token check; http/),
   * what WebSocket sessions are served with (the protocol's hooks; ws/). */
  struct listener_s *listener;
  struct http_server_s *httpd;
  struct ws_server_s *ws;

  int shutting_down;
  int keys_unchecked; /* shared keys not yet checked against the store (not ready) */
  int exit_status;    /* the process's, once the loop ends (a failed key check: 1) */
  void *priv;         /* app.c's own handles */
} app_t;

#endif
