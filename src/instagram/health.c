/* health: reconnect_needed and its instagram.status frame, and the timer that
 * refreshes long-lived tokens before they expire (see health.h). One listing
 * of due accounts at a time, a bounded batch each; of several instances, the
 * one whose claim the store takes refreshes an account. Owner: the Instagram
 * module. Loop thread. */
#include "instagram/health.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chat/fanout.h"
#include "instagram/ingest.h"
#include "instagram/sweep.h"
#include "instagram/window.h"
#include "parley/instagram.h"
#include "parley/log.h"
#include "parley/store.h"
#include "parley/util.h"

#define DUE_BATCH 50
/* Meta's long-lived tokens last 60 days; a refresh answer without expires_in
 * is taken to mean that. */
#define DEFAULT_TOKEN_TTL_S (60LL * 86400)

struct ig_health_s {
  app_t *app;
  uv_timer_t timer;
  int timer_open;
  int stopped;
  int busy; /* the listing plus refreshes in flight */
};

/* ---- the view and the frame ---- */

json_t *ig_health_view(const app_t *app, const json_t *account) {
  json_t *v;
  if (!account) {
    v = json_pack("{s:b}", "connected", 0);
  } else {
    json_t *a = json_deep_copy(account);
    json_object_del(a, "token_cipher");
    const char *status = json_string_value(json_object_get(account, "status"));
    if (!status) status = "connected";
    v = json_pack("{s:b, s:s, s:o}", "connected", strcmp(status, "connected") == 0, "status",
                  status, "account", a);
  }
  /* What clients need to follow the window the server enforces (window.c). */
  if (v) json_object_set_new(v, "reply_window", ig_window_json(app));
  return v;
}

void ig_health_push(app_t *app, const char *user_id, const json_t *account) {
  if (!app->fanout || !user_id) return;
  json_t *frame = ig_health_view(app, account);
  json_t *to = json_pack("[s]", user_id);
  json_object_set_new(frame, "type", json_string("instagram.status"));
  fanout_event(app, frame, to, NULL);
  json_decref(frame);
  json_decref(to);
}

/* ---- reconnect_needed ---- */

typedef struct refused_s {
  app_t *app;
  char user[64];
} refused_t;

static void refused_stored(void *ctx, int status, json_t *result) {
  refused_t *r = ctx;
  if (status == STORE_OK) {
    log_warn("instagram: the account of user %s needs to be reconnected", r->user);
    ig_ingest_forget_user(r->app->ingest, r->user);
    ig_health_push(r->app, r->user, result);
  } else if (status != STORE_ENOTFOUND) {
    log_warn("instagram: cannot store that user %s must reconnect (%d)", r->user, status);
  }
  json_decref(result);
  free(r);
}

void ig_health_token_refused(app_t *app, const char *user_id, const char *code,
                             const char *message) {
  refused_t *r = user_id ? calloc(1, sizeof(*r)) : NULL;
  if (!r) return;
  r->app = app;
  snprintf(r->user, sizeof(r->user), "%s", user_id);
  json_t *p =
      json_pack("{s:s, s:s, s:{s:s, s:s}}", "user_id", user_id, "status", "reconnect_needed",
                "status_error", "code", code, "message", message ? message : "");
  if (!p || store_call(app->store, IG_ACCOUNT_UPDATE, p, refused_stored, r) != 0) free(r);
}

/* ---- token refresh ---- */

typedef struct refresh_s {
  ig_health_t *h;
  char user[64];
  char *old_cipher;
  char *token;
} refresh_t;

static void refresh_free(refresh_t *r) {
  r->h->busy--;
  if (r->token) sodium_memzero(r->token, strlen(r->token));
  free(r->token);
  free(r->old_cipher);
  free(r);
}

static void refresh_stored(void *ctx, int status, json_t *result) {
  refresh_t *r = ctx;
  if (status == STORE_OK) {
    log_info("instagram: refreshed the token of user %s's account", r->user);
    ig_ingest_forget_user(r->h->app->ingest, r->user);
  } else if (status == STORE_ECONFLICT) {
    log_info("instagram: user %s reconnected during a token refresh; the new token stays", r->user);
  } else {
    log_warn("instagram: a refreshed token of user %s could not be stored (%d)", r->user, status);
  }
  json_decref(result);
  refresh_free(r);
}

static void refreshed(void *ctx, const graph_result_t *res) {
  refresh_t *r = ctx;
  app_t *app = r->h->app;
  const char *token = json_string_value(json_object_get(res->body, "access_token"));
  json_int_t ttl = json_integer_value(json_object_get(res->body, "expires_in"));
  if (!res->ok && res->code == 190) {
    ig_health_token_refused(app, r->user, "190", res->error);
    refresh_free(r);
    return;
  }
  if (!res->ok || !token || !*token) {
    log_warn("instagram: refreshing the token of user %s failed (%s); retried later", r->user,
             res->error ? res->error : "no access_token in the answer");
    refresh_free(r);
    return;
  }
  char *sealed = ig_token_seal(app->secret_key, token);
  char expires[32];
  util_iso8601(util_now_ms() + (ttl > 0 ? (int64_t)ttl : DEFAULT_TOKEN_TTL_S) * 1000, expires);
  json_t *p = sealed ? json_pack("{s:s, s:s, s:s, s:s}", "user_id", r->user, "token_cipher", sealed,
                                 "token_expires_at", expires, "if_token", r->old_cipher)
                     : NULL;
  free(sealed);
  if (!p || store_call(app->store, IG_ACCOUNT_UPDATE, p, refresh_stored, r) != 0) {
    log_warn("instagram: a refreshed token of user %s could not be stored", r->user);
    refresh_free(r);
  }
}

static void claimed(void *ctx, int status, json_t *result) {
  refresh_t *r = ctx;
  json_decref(result);
  if (status == STORE_OK && !r->h->stopped) {
    if (graph_refresh_token(r->h->app->graph, r->token, refreshed, r) == 0) return;
  } else if (status == STORE_ECONFLICT) {
    log_debug("instagram: another instance refreshes the token of user %s", r->user);
  } else if (status != STORE_OK && status != STORE_ENOTFOUND) {
    log_warn("instagram: cannot claim the token refresh of user %s (%d)", r->user, status);
  }
  refresh_free(r);
}

/* One due account: expired already, or refreshed now by the instance that
 * claims it. */
static void refresh_one(ig_health_t *h, json_t *account, int64_t now) {
  const char *user = json_string_value(json_object_get(account, "user_id"));
  const char *cipher = json_string_value(json_object_get(account, "token_cipher"));
  const char *at = json_string_value(json_object_get(account, "token_expires_at"));
  int64_t expires = 0;
  if (!user || !cipher || !at || util_parse_iso8601(at, &expires) != 0) return;
  if (expires <= now) {
    ig_health_token_refused(h->app, user, "token_expired",
                            "the access token expired before it could be refreshed");
    return;
  }
  refresh_t *r = calloc(1, sizeof(*r));
  if (!r) return;
  r->h = h;
  h->busy++;
  snprintf(r->user, sizeof(r->user), "%s", user);
  r->old_cipher = strdup(cipher);
  r->token = ig_token_open(h->app->secret_key, cipher);
  if (!r->old_cipher || !r->token) {
    log_warn("instagram: the stored token of user %s cannot be opened for a refresh", user);
    refresh_free(r);
    return;
  }
  /* One instance refreshes: the claim (store compare-and-set on the token, with
   * an expiry) comes first, and only its holder asks Graph. */
  int64_t lease = ig_sweep_lease_ms(h->app);
  if (store_call(h->app->store, IG_ACCOUNT_CLAIM_REFRESH,
                 json_pack("{s:s, s:s, s:I, s:I}", "user_id", user, "if_token", cipher, "now_ms",
                           (json_int_t)now, "until_ms", (json_int_t)(now + lease)),
                 claimed, r) != 0)
    refresh_free(r);
}

static void listed(void *ctx, int status, json_t *result) {
  ig_health_t *h = ctx;
  h->busy--;
  if (status != STORE_OK) {
    log_warn("instagram: cannot list tokens due for a refresh (%d)", status);
  } else if (!h->stopped) {
    int64_t now = util_now_ms();
    json_t *a;
    size_t i;
    json_array_foreach(json_object_get(result, "accounts"), i, a) refresh_one(h, a, now);
  }
  json_decref(result);
}

static void on_tick(uv_timer_t *t) {
  ig_health_t *h = t->data;
  if (h->stopped || h->busy || !h->app->store || !h->app->graph) return;
  char before[32];
  util_iso8601(util_now_ms() + (int64_t)h->app->cfg.ig_token_refresh_ahead_s * 1000, before);
  h->busy++;
  if (store_call(h->app->store, IG_ACCOUNT_LIST_DUE,
                 json_pack("{s:s, s:i}", "before", before, "limit", DUE_BATCH), listed, h) != 0)
    h->busy--;
}

ig_health_t *ig_health_new(app_t *app) {
  ig_health_t *h = calloc(1, sizeof(*h));
  if (!h) return NULL;
  h->app = app;
  uv_timer_init(app->loop, &h->timer);
  h->timer.data = h;
  h->timer_open = 1;
  uint64_t every = (uint64_t)app->cfg.ig_token_refresh_interval_ms;
  uv_timer_start(&h->timer, on_tick, every, every);
  return h;
}

void ig_health_stop(ig_health_t *h) {
  if (!h || h->stopped) return;
  h->stopped = 1;
  if (h->timer_open) {
    uv_timer_stop(&h->timer);
    uv_close((uv_handle_t *)&h->timer, NULL);
  }
}

void ig_health_free(ig_health_t *h) { free(h); }

int ig_health_busy(const ig_health_t *h) { return h ? h->busy : 0; }
