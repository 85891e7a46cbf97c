/* The application's life: builds the store, bus, hub, auth and listener from the
 * configuration; measures event-loop lag; on SIGTERM/SIGINT stops accepting,
 * closes WebSocket sessions with 1001, lets in-flight requests and store jobs
 * finish, disconnects the bus and lets the loop run empty. Loop thread. */
#include "app.h"

#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "chat/attach_url.h"
#include "chat/calls.h"
#include "chat/channel_subs.h"
#include "chat/dispatch.h"
#include "chat/fanout.h"
#include "chat/presence.h"
#include "chat/revocations.h"
#include "chat/upload_sweep.h"
#include "flows/runner.h"
#include "handlers/handlers.h"
#include "handlers/ws/protocol.h"
#include "instagram/health.h"
#include "instagram/ingest.h"
#include "instagram/media.h"
#include "instagram/outbox.h"
#include "instagram/reply.h"
#include "instagram/sweep.h"
#include "parley/auth.h"
#include "parley/bots.h"
#include "parley/bus.h"
#include "parley/files.h"
#include "parley/files_image.h"
#include "parley/files_imager.h"
#include "parley/httpc.h"
#include "parley/instagram.h"
#include "parley/log.h"
#include "parley/log_repeat.h"
#include "parley/mail.h"
#include "parley/metrics.h"
#include "parley/push.h"
#include "parley/store.h"
#include "parley/strmap.h"
#include "parley/util.h"
#include "parley/web.h"
#include "parley/ws.h"

#define LAG_INTERVAL_MS 250
#define SHUTDOWN_POLL_MS 20
/* Connections told to close (or closed, past the deadline) in one loop turn
 * of a shutdown; the rest in the turns after, so that 20,000 sessions'
 * close frames do not hold the loop (and the replies still due) for one long
 * turn. */
#define SHUTDOWN_DRAIN_MAX 512

/* Handles owned by the app itself, kept out of app_t's public fields. */
typedef struct app_handles_s {
  uv_signal_t sigterm, sigint;
  uv_timer_t lag_timer, shutdown_timer;
  uv_idle_t drain; /* the next part of the connections to close */
  uint64_t lag_expected_ns;
  uint64_t shutdown_deadline_ns;
  int forced;
  int store_closed, bus_closed, http_closed;
  int dispatching;              /* the bus dispatcher is subscribed */
  http_server_t httpd;          /* app->httpd */
  ws_server_t ws;               /* app->ws */
  upload_sweep_t *upload_sweep; /* uploads never sent, removed */
  void *keys_parked[2];         /* key checks the store could not answer, asked again */
  uint64_t keys_retry_ns;       /* when (uv_hrtime) */
} app_handles_t;

static app_handles_t *handles(app_t *app) { return (app_handles_t *)app->priv; }

static int make_dir(const char *path) {
  char tmp[4096];
  if (snprintf(tmp, sizeof(tmp), "%s", path) >= (int)sizeof(tmp)) return -1;
  for (char *p = tmp + 1; *p; p++) {
    if (*p != '/') continue;
    *p = '\0';
    if (mkdir(tmp, 0700) != 0 && errno != EEXIST) return -1;
    *p = '/';
  }
  if (mkdir(tmp, 0700) != 0 && errno != EEXIST) return -1;
  return 0;
}

static void retry_key_checks(app_t *app, uint64_t now);

static void on_lag_timer(uv_timer_t *t) {
  app_t *app = t->data;
  app_handles_t *h = handles(app);
  uint64_t now = uv_hrtime();
  double lag = now > h->lag_expected_ns ? (double)(now - h->lag_expected_ns) / 1e6 : 0.0;
  app->metrics->loop_lag_ms = lag;
  if (lag > app->metrics->loop_lag_max_ms) app->metrics->loop_lag_max_ms = lag;
  h->lag_expected_ns = now + (uint64_t)LAG_INTERVAL_MS * 1000000;
  retry_key_checks(app, now);
}

static void begin_shutdown(app_t *app);
static void on_drain_idle(uv_idle_t *t);

static void on_signal(uv_signal_t *s, int signum) {
  app_t *app = s->data;
  if (app->shutting_down) return;
  log_info("received %s: shutting down", signum == SIGTERM ? "SIGTERM" : "SIGINT");
  begin_shutdown(app);
}

/* Closes connections that hold no work: idle HTTP connections close now, busy
 * ones close after their reply (http_conn_shutdown), WebSockets get 1001. */
static void drain_conn(conn_t *c, void *arg) {
  int force = *(int *)arg;
  if (force) {
    conn_close(c);
  } else if (c->is_ws) {
    if (c->data) ws_session_close(c->data, 1001, "server shutting down");
  } else {
    http_conn_shutdown(c);
  }
}

static void on_handle_closed(uv_handle_t *h) { (void)h; }

/* SHUTDOWN_DRAIN_MAX more connections; the rest on the next turn. */
static void drain_some(app_t *app) {
  app_handles_t *h = handles(app);
  int force = h->forced;
  if (conn_foreach_some(app->listener, SHUTDOWN_DRAIN_MAX, drain_conn, &force))
    uv_idle_stop(&h->drain);
  else
    uv_idle_start(&h->drain, on_drain_idle);
}

static void on_drain_idle(uv_idle_t *t) { drain_some(t->data); }

/* Starts a walk over every connection: told to close, or closed if forced. */
static void drain_all(app_t *app) {
  conn_foreach_restart(app->listener);
  drain_some(app);
}

static void finish_shutdown(app_t *app) {
  app_handles_t *h = handles(app);
  retry_key_checks(app, 0); /* shutting down: drops what is parked */
  uv_close((uv_handle_t *)&h->shutdown_timer, on_handle_closed);
  uv_close((uv_handle_t *)&h->drain, on_handle_closed);
  uv_close((uv_handle_t *)&h->lag_timer, on_handle_closed);
  ws_server_stop(&h->ws);
  uv_close((uv_handle_t *)&h->sigterm, on_handle_closed);
  uv_close((uv_handle_t *)&h->sigint, on_handle_closed);
  log_info("shutdown complete");
}

static void on_store_closed(void *arg) {
  app_t *app = arg;
  app->store = NULL;
  handles(app)->store_closed = 1;
}

static void on_http_closed(void *arg) {
  app_t *app = arg;
  app->http = NULL;
  handles(app)->http_closed = 1;
}

static void on_bus_closed(void *arg) {
  app_t *app = arg;
  app->bus = NULL;
  handles(app)->bus_closed = 1;
}

/* Polls until connections and store jobs are done, then releases the store and
 * the bus, then the app's own handles; past the deadline it forces closes. */
static void on_shutdown_poll(uv_timer_t *t) {
  app_t *app = t->data;
  app_handles_t *h = handles(app);
  if (!h->forced && uv_hrtime() > h->shutdown_deadline_ns) {
    log_warn("shutdown deadline passed: closing %d connections", conn_count(app->listener));
    h->forced = 1;
    drain_all(app);
  }
  if (conn_count(app->listener) > 0) return;
  /* Sessions are gone (their offline presence is out): fan-out can stop. */
  if (h->dispatching) dispatch_stop(app);
  h->dispatching = 0;
  fanout_close(app->fanout);
  presence_close(app->presence);
  channel_subs_free(app->channel_subs);
  app->channel_subs = NULL;
  revocations_close(app->revocations);
  /* Webhook events being processed and Graph sends finish first (or are
   * cancelled at the deadline; unprocessed events stay pending in the store). */
  if (!h->forced &&
      ((app->ingest && ig_ingest_busy(app->ingest)) ||
       (app->runner && flow_runner_busy(app->runner)) || ig_health_busy(app->ig_health) ||
       ig_sweep_busy(app->ig_sweep) || upload_sweep_busy(h->upload_sweep) ||
       ig_media_busy(app->ig_media) || (app->graph && graph_in_flight(app->graph))))
    return;
  if (app->mail) {
    /* Its transfers in flight are cancelled by httpc_close below. */
    mail_close(app->mail, NULL, NULL);
    app->mail = NULL;
  }
  if (app->http && !h->http_closed) {
    h->http_closed = -1;
    httpc_close(app->http, on_http_closed, app);
    return;
  }
  if (h->http_closed == -1) return;
  if (app->store && !h->store_closed) {
    if (store_jobs_in_flight(app->store) == 0 || h->forced) {
      store_t *s = app->store;
      h->store_closed = -1; /* closing */
      store_close(s, on_store_closed, app);
    }
    return;
  }
  if (h->store_closed == -1) return;
  if (app->bus && !h->bus_closed) {
    bus_t *b = app->bus;
    h->bus_closed = -1;
    bus_close(b, on_bus_closed, app);
    return;
  }
  if (h->bus_closed == -1) return;
  uv_timer_stop(t);
  finish_shutdown(app);
}

static void begin_shutdown(app_t *app) {
  app_handles_t *h = handles(app);
  app->shutting_down = 1;
  listener_stop(app->listener);
  flow_runner_stop(app->runner);
  ig_health_stop(app->ig_health);
  ig_sweep_stop(app->ig_sweep);
  upload_sweep_stop(h->upload_sweep);
  ig_media_stop(app->ig_media);
  calls_stop(app->calls);
  bots_stop(app->bots);
  drain_all(app);
  h->shutdown_deadline_ns = uv_hrtime() + (uint64_t)app->cfg.shutdown_timeout_ms * 1000000;
  uv_timer_start(&h->shutdown_timer, on_shutdown_poll, 0, SHUTDOWN_POLL_MS);
}

/* A new incoming Instagram message runs the owner's flows: the hook that keeps
 * instagram/ from depending on flows/. */
static void on_instagram_message(void *ctx, const json_t *account, const json_t *contact,
                                 const json_t *event) {
  flow_runner_on_message(ctx, account, contact, event);
}

/* Another instance changed an owner's flows (or the bus went down or came back). */
static void on_flows_changed(app_t *app, const char *owner_id) {
  flow_runner_forget_flows(app->runner, owner_id);
}

/* Another instance stored a Web Push subscription for user_id (or the bus
 * went down or came back). */
static void on_push_subscribed(app_t *app, const char *user_id) {
  push_forget_subs(app->push, user_id);
}

/* A flow's ask waits for contact_id on another instance (or the bus went down
 * or came back). */
static void on_flow_waiting(app_t *app, const char *contact_id) {
  flow_runner_forget_waits(app->runner, contact_id);
}

/* The key that seals stored Instagram tokens: secret_key, or one generated and
 * kept in the data directory. */
/* Mail goes through the SMTP server configured, else to <data_dir>/mail. */
static int open_mail(app_t *app) {
  const config_t *c = &app->cfg;
  char dir[4096];
  snprintf(dir, sizeof(dir), "%s/mail", c->data_dir);
  mail_options_t o = {
      c->smtp_url, c->smtp_tls,       c->smtp_user,    c->smtp_password, c->smtp_from,
      dir,         c->mail_queue_max, c->mail_retries, c->mail_retry_ms, c->smtp_timeout_ms};
  app->mail = mail_new(app->loop, app->http, &o);
  return app->mail ? 0 : -1;
}

static int load_secret_key(app_t *app) {
  if (app->cfg.secret_key) return util_unhex(app->cfg.secret_key, app->secret_key, 32);
  int rc = util_secret_file(app->cfg.data_dir, "secret_key", app->secret_key, 32);
  if (rc == 1)
    log_warn("PARLEY_SECRET_KEY is not set: generated one in %s/secret_key; keep it with the data",
             app->cfg.data_dir);
  return rc < 0 ? -1 : 0;
}

/* ---- keys every instance must share ----
 * Tokens and bots' secrets in the store are sealed with secret_key, and
 * browsers subscribed to Web Push with this VAPID key: an instance started with
 * other keys (a data directory of its own, a forgotten _FILE) could not read the
 * one and would send pushes the push services refuse. The first instance on a
 * store records each key's fingerprint; one that differs stops this instance
 * before it is ready (/readyz 503 until both answered). */

typedef struct key_check_s {
  app_t *app;
  char name[24];
  char fingerprint[129];
  const char *fix;
  log_repeat_t failing; /* the store could not answer: logged at most once a minute */
} key_check_t;

#define KEY_CHECK_LOG_EVERY_MS 60000

static void ask_key(key_check_t *k);

static void on_key_checked(void *ctx, int status, json_t *result) {
  key_check_t *k = ctx;
  app_t *app = k->app;
  app_handles_t *h = handles(app);
  const char *stored = json_string_value(json_object_get(result, "fingerprint"));
  uint64_t n = 0;
  if (status != STORE_OK && !app->shutting_down) {
    /* The store is not there yet (or refused us): not ready, asked again in a
     * second; said the first time, then once a minute. */
    for (size_t i = 0; i < sizeof(h->keys_parked) / sizeof(h->keys_parked[0]); i++) {
      if (h->keys_parked[i]) continue;
      if (log_repeat_fail(&k->failing, (int64_t)(uv_hrtime() / 1000000), KEY_CHECK_LOG_EVERY_MS,
                          &n)) {
        log_warn(
            "cannot check %s against the store yet (status %d): asking again every second"
            " (said once a minute while it lasts)",
            k->name, status);
        if (n)
          log_warn("%s: %llu more failed checks since the last warning", k->name,
                   (unsigned long long)n);
      }
      h->keys_parked[i] = k;
      h->keys_retry_ns = uv_hrtime() + UINT64_C(1000000000);
      json_decref(result);
      return;
    }
  }
  if (status == STORE_OK && (!stored || strcmp(stored, k->fingerprint) != 0)) {
    log_error(
        "%s differs from the one this store's data was written with (another instance's, "
        "or this one's last run): stopping. %s",
        k->name, k->fix);
    app->exit_status = 1;
  }
  if (status == STORE_OK && log_repeat_ok(&k->failing, &n))
    log_info("checked %s against the store after %llu failed attempts", k->name,
             (unsigned long long)n);
  if (status == STORE_OK && app->keys_unchecked > 0) app->keys_unchecked--;
  if (app->exit_status && !app->shutting_down) begin_shutdown(app);
  json_decref(result);
  free(k);
}

static void ask_key(key_check_t *k) {
  if (store_call(k->app->store, KEY_CHECK,
                 json_pack("{s:s, s:s}", "name", k->name, "fingerprint", k->fingerprint),
                 on_key_checked, k) != 0)
    on_key_checked(k, STORE_EUNAVAILABLE, NULL);
}

/* The lag timer's turn: parked checks are asked again once due; at shutdown
 * they are dropped. */
static void retry_key_checks(app_t *app, uint64_t now) {
  app_handles_t *h = handles(app);
  for (size_t i = 0; i < sizeof(h->keys_parked) / sizeof(h->keys_parked[0]); i++) {
    key_check_t *k = h->keys_parked[i];
    if (!k || (!app->shutting_down && now < h->keys_retry_ns)) continue;
    h->keys_parked[i] = NULL;
    if (app->shutting_down)
      free(k);
    else
      ask_key(k);
  }
}

static void check_key(app_t *app, const char *name, const char *fingerprint, const char *fix) {
  key_check_t *k = calloc(1, sizeof(*k));
  if (!k) {
    app->exit_status = 1;
    return;
  }
  k->app = app;
  snprintf(k->name, sizeof(k->name), "%s", name);
  snprintf(k->fingerprint, sizeof(k->fingerprint), "%s", fingerprint);
  k->fix = fix;
  app->keys_unchecked++;
  ask_key(k);
}

/* secret_key's fingerprint: 16 bytes of an HMAC under it (the key itself never
 * leaves the process); the VAPID key's: its public key. */
static void check_shared_keys(app_t *app) {
  static const char label[] = "parley key check: secret_key v1";
  unsigned char mac[crypto_auth_hmacsha256_BYTES];
  char hex[33];
  crypto_auth_hmacsha256(mac, (const unsigned char *)label, sizeof(label) - 1, app->secret_key);
  sodium_bin2hex(hex, sizeof(hex), mac, 16);
  check_key(app, "secret_key", hex,
            "Give every instance the same PARLEY_SECRET_KEY (or _FILE); see docs/DEPLOY.md, "
            "Keys every instance shares.");
  check_key(app, "vapid_key", push_vapid_public(app->push),
            "Give every instance the same PARLEY_VAPID_PRIVATE_KEY (or _FILE); see "
            "docs/DEPLOY.md, Keys every instance shares.");
}

static int open_store(app_t *app) {
  if (app->cfg.mongo_uri) {
    app->store = store_open_mongo(app->loop, app->cfg.mongo_uri, app->cfg.store_max_jobs,
                                  app->cfg.store_timeout_ms);
  } else {
    char path[4096];
    snprintf(path, sizeof(path), "%s/parley.db", app->cfg.data_dir);
    app->store =
        store_open_sqlite_cache(app->loop, path, app->cfg.store_max_jobs, app->cfg.sqlite_cache_mb);
  }
  return app->store ? 0 : -1;
}

/* The storage of uploaded files the settings select (files_storage). */
static files_t *open_files(app_t *app) {
  const config_t *c = &app->cfg;
  if (strcmp(c->files_storage, "s3") != 0) return files_open_dir(app->loop, c->data_dir);
  files_s3_config_t s3 = {.endpoint = c->s3_endpoint,
                          .region = c->s3_region,
                          .bucket = c->s3_bucket,
                          .access_key = c->s3_access_key,
                          .secret_key = c->s3_secret_key,
                          .path_style = strcmp(c->s3_path_style, "on") == 0,
                          .part_bytes = (uint64_t)c->s3_part_bytes,
                          .timeout_ms = c->s3_timeout_ms,
                          .retries = c->s3_retries,
                          .max_jobs = c->s3_max_jobs,
                          .data_dir = c->data_dir};
  return files_open_s3(app->loop, &s3);
}

int app_start(app_t *app, uv_loop_t *loop) {
  app_handles_t *h = calloc(1, sizeof(*h));
  if (!h) return -1;
  app->loop = loop;
  app->priv = h;
  log_set_level((enum log_level)log_level_parse(app->cfg.log_level));
  util_new_id(app->instance_id);
  uv_signal_init(loop, &h->sigterm);
  uv_signal_init(loop, &h->sigint);
  uv_timer_init(loop, &h->lag_timer);
  uv_timer_init(loop, &h->shutdown_timer);
  uv_idle_init(loop, &h->drain);
  h->sigterm.data = h->sigint.data = h->lag_timer.data = h->shutdown_timer.data = app;
  h->drain.data = app;
  app->metrics = metrics_new();
  if (!app->metrics) goto fail;
  if (make_dir(app->cfg.data_dir) != 0) {
    log_error("cannot create the data directory %s: %s", app->cfg.data_dir, strerror(errno));
    goto fail;
  }
  /* The store first: with SQLite, an unwritable data directory is reported by
   * naming the database, the file an operator looks for. */
  if (open_store(app) != 0) {
    log_error("cannot open the %s store", app->cfg.mongo_uri ? "MongoDB" : "SQLite");
    goto fail;
  }
  app->files = open_files(app);
  app->uploads = calloc(1, sizeof(*app->uploads));
  /* Two images at once: each holds its file in memory while libvips reads it. */
  app->imager =
      app->files ? files_imager_new(loop, app->files, app->cfg.image_max_pixels, 2) : NULL;
  if (!app->files || !app->uploads || !app->imager || files_image_init() != 0) {
    log_error("cannot open the file storage (%s) under %s", app->cfg.files_storage,
              app->cfg.data_dir);
    goto fail;
  }
  strmap_init(app->uploads);
  app->bus = app->cfg.redis_url ? bus_redis_new(loop, app->cfg.redis_url) : bus_local_new(loop);
  if (!app->bus) {
    log_error("cannot create the bus (redis_url %s)", app->cfg.redis_url);
    goto fail;
  }
  app->hub = hub_new();
  app->auth = auth_new(loop, &app->cfg);
  if (!app->hub || !app->auth) goto fail;
  if (load_secret_key(app) != 0) goto fail;
  attach_url_key(app->secret_key, &app->url_key);
  app->http = httpc_new(loop);
  app->graph = app->http ? graph_new(loop, app->http, app->cfg.graph_api_base,
                                     app->cfg.graph_rate_per_min, app->cfg.graph_timeout_ms)
                         : NULL;
  if (app->http && open_mail(app) != 0) goto fail;
  app->ingest = ig_ingest_new(app);
  app->ig_signer = ig_signer_new(app->cfg.ig_app_secret);
  app->runner = flow_runner_new(app);
  app->ig_replies = ig_replies_new();
  if (!app->graph || !app->ingest || !app->runner || !app->ig_replies) goto fail;
  ig_ingest_on_message(app->ingest, on_instagram_message, app->runner);
  app->on_flows_changed = on_flows_changed;
  app->on_push_subscribed = on_push_subscribed;
  app->on_flow_waiting = on_flow_waiting;
  app->web = web_load(app->cfg.web_dir, app->cfg.web_max_bytes);
  h->httpd = (http_server_t){&app->cfg,
                             handlers_route_tables,
                             handlers_route_table_count,
                             auth_authenticate,
                             app->auth,
                             app->metrics,
                             app->web,
                             app,
                             bots_authenticate,
                             app};
  h->ws = (ws_server_t){loop, &app->cfg, app->metrics, app->hub, NULL, NULL, app, NULL, NULL};
  app->httpd = &h->httpd;
  app->ws = &h->ws;
  if (ws_server_start(&h->ws) != 0) goto fail;
  ws_protocol_init(app);
  /* Subscribed and heartbeating from the start, so this instance hears other
   * instances' events (revocations, presence) before its first session. */
  app->fanout = fanout_new(app);
  app->presence = presence_new(app);
  app->channel_subs = channel_subs_new();
  if (!app->fanout || !app->presence || !app->channel_subs) goto fail;
  /* No token is judged before the saved revocations are in (until then
   * authenticated calls answer 503 and /readyz is not ready). */
  app->revocations = revocations_new(app);
  if (!app->revocations) goto fail;
  dispatch_start(app);
  h->dispatching = 1;
  app->listener =
      listener_new(loop, &http_conn_handler, app->httpd, app->cfg.max_connections, app->metrics);
  int rc = app->listener ? listener_start(app->listener, app->cfg.host, app->cfg.port) : UV_ENOMEM;
  if (rc != 0) {
    log_error("cannot listen on %s:%d: %s", app->cfg.host, app->cfg.port, uv_strerror(rc));
    goto fail;
  }
  if (app->cfg.metrics_listen) {
    rc = listener_start_metrics(app->listener, app->cfg.metrics_host, app->cfg.metrics_port);
    if (rc != 0) {
      log_error("cannot listen on metrics_listen %s: %s", app->cfg.metrics_listen, uv_strerror(rc));
      goto fail;
    }
    log_info("metrics on %s (/metrics only there)", app->cfg.metrics_listen);
  }
  uv_signal_start(&h->sigterm, on_signal, SIGTERM);
  uv_signal_start(&h->sigint, on_signal, SIGINT);
  h->lag_expected_ns = uv_hrtime() + (uint64_t)LAG_INTERVAL_MS * 1000000;
  uv_timer_start(&h->lag_timer, on_lag_timer, LAG_INTERVAL_MS, LAG_INTERVAL_MS);
  /* Sends left pending by a stopped instance (this one's last run or another)
   * are failed once their lease ran out, never resent; events acknowledged
   * before a stop and not yet processed go first; tokens are kept fresh. */
  app->ig_sweep = ig_sweep_new(app);
  if (!app->ig_sweep) goto fail;
  h->upload_sweep = upload_sweep_new(app);
  if (!h->upload_sweep) goto fail;
  /* Instagram media still to fetch (left by this instance's last run too). */
  app->ig_media = ig_media_new(app);
  if (!app->ig_media) goto fail;
  /* Calls: this instance's ring timeouts and leases, and the sweep of the
   * calls of instances that stopped. */
  app->calls = calls_new(app);
  if (!app->calls) goto fail;
  /* Bots: the registry of their ids and the outbox of their webhooks
   * (deliveries another run left are resumed once their lease runs out). */
  app->bots = bots_new(app);
  if (!app->bots) goto fail;
  /* Web Push: the VAPID key (generated into the data directory when none is
   * set) and pushes for the messages stored here. */
  app->push = push_new(app);
  if (!app->push) goto fail;
  check_shared_keys(app);
  if (app->exit_status) return app->shutting_down ? -1 : (begin_shutdown(app), -1);
  app->on_message_stored = push_message_new;
  app->on_bot_known = bots_known;
  ig_ingest_kick(app->ingest);
  app->ig_health = ig_health_new(app);
  if (!app->ig_health) goto fail;
  log_info("parleyd %s listening on %s:%d (store %s, bus %s, instance %s)", PARLEY_VERSION,
           app->cfg.host, app->cfg.port, store_backend(app->store), bus_backend(app->bus),
           app->instance_id);
  return 0;
fail:
  begin_shutdown(app);
  return -1;
}

void app_run(app_t *app) { uv_run(app->loop, UV_RUN_DEFAULT); }

void app_free(app_t *app) {
  flow_runner_free(app->runner);
  ig_ingest_free(app->ingest);
  ig_signer_free(app->ig_signer);
  ig_health_free(app->ig_health);
  ig_sweep_free(app->ig_sweep);
  ig_media_free(app->ig_media);
  if (app->priv) upload_sweep_free(handles(app)->upload_sweep);
  calls_free(app->calls);
  bots_free(app->bots);
  app->bots = NULL;
  push_free(app->push);
  app->push = NULL;
  ig_replies_free(app->ig_replies);
  graph_free(app->graph);
  if (app->auth) auth_free(app->auth);
  if (app->hub) hub_free(app->hub);
  metrics_free(app->metrics);
  listener_free(app->listener);
  app->listener = NULL;
  web_free(app->web);
  files_imager_free(app->imager);
  app->imager = NULL;
  files_close(app->files);
  app->files = NULL;
  if (app->uploads) strmap_free(app->uploads);
  free(app->uploads);
  app->uploads = NULL;
  free(handles(app));
  app->priv = NULL;
}
