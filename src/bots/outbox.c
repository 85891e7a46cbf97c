/* The bots' outbox: claims due deliveries from the store (BOT_CLAIM leases
 * each bot, so no two instances send one delivery), posts each to its bot's
 * webhook through the shared outbound HTTP client with the SSRF guard, and
 * stores the outcome (BOT_DONE). A failure is retried after an exponential
 * delay with jitter; bot_max_failures in a row disable the bot and its owner
 * gets a bot.disabled frame. A timer looks at the outbox every bot_poll_ms
 * and when the store says the next bot is due; a queued message kicks it.
 * Owns the registry of bot ids too (registry.c). Loop thread. */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bots/bots_internal.h"
#include "chat/attach_url.h"
#include "chat/fanout.h"
#include "parley/addrguard.h"
#include "parley/httpc.h"
#include "parley/instagram.h"
#include "parley/log.h"
#include "parley/store.h"
#include "parley/util.h"

#define MAX_RESPONSE 4096

/* One delivery in flight. */
typedef struct send_s {
  bots_t *b;
  json_t *d; /* the claimed delivery */
  char error[128];
} send_t;

static void arm(bots_t *b, int64_t delay_ms);

static void send_free(send_t *s) {
  s->b->in_flight--;
  json_decref(s->d);
  free(s);
}

/* ---- the outcome, stored ---- */

static void done_stored(void *ctx, int status, json_t *result) {
  send_t *s = ctx;
  if (status == STORE_OK && json_is_true(json_object_get(result, "disabled"))) {
    json_t *bot = json_object_get(result, "bot");
    const char *owner = json_string_value(json_object_get(bot, "owner_id"));
    log_warn("bots: bot %s disabled after %d failed deliveries (%s)",
             json_string_value(json_object_get(bot, "id")), s->b->app->cfg.bot_max_failures,
             s->error);
    json_t *frame = json_pack("{s:s, s:O}", "type", "bot.disabled", "bot", bot);
    json_t *to = json_pack("[s]", owner ? owner : "");
    if (frame && to && owner && !s->b->app->shutting_down) fanout_event(s->b->app, frame, to, NULL);
    json_decref(frame);
    json_decref(to);
  } else if (status != STORE_OK && status != STORE_ENOTFOUND) {
    /* The lease runs out and the delivery is claimed again. */
    log_warn("bots: the outcome of delivery %s could not be stored (%d)",
             json_string_value(json_object_get(s->d, "id")), status);
  }
  json_decref(result);
  bots_t *b = s->b;
  send_free(s);
  if (!b->app->shutting_down && !b->closing) arm(b, 0); /* the bot's next one */
}

static void answered(void *ctx, const httpc_response_t *res) {
  send_t *s = ctx;
  app_t *app = s->b->app;
  if (app->shutting_down || s->b->closing) {
    /* Cancelled: nothing is counted; the lease runs out and whoever runs
     * next (this instance restarted, or another) sends it again. */
    send_free(s);
    return;
  }
  int ok = res->status >= 200 && res->status < 300;
  if (!ok && res->status)
    snprintf(s->error, sizeof(s->error), "the webhook answered %d", res->status);
  else if (!ok)
    snprintf(s->error, sizeof(s->error), "%s", res->error ? res->error : "request failed");
  int attempts = (int)json_integer_value(json_object_get(s->d, "attempts")) + 1;
  int64_t now = util_now_ms();
  int64_t delay = bots_backoff_ms(attempts, app->cfg.bot_backoff_ms, app->cfg.bot_backoff_max_ms,
                                  (double)randombytes_uniform(1000000) / 1e6);
  json_t *p =
      json_pack("{s:O, s:O, s:O, s:b, s:I, s:I, s:i}", "bot_id", json_object_get(s->d, "bot_id"),
                "delivery_id", json_object_get(s->d, "id"), "lease_until_ms",
                json_object_get(s->d, "lease_until_ms"), "ok", ok, "now_ms", (json_int_t)now,
                "next_at_ms", (json_int_t)(now + delay), "max_failures", app->cfg.bot_max_failures);
  if (p && !ok) json_object_set_new(p, "error", json_string(s->error));
  if (!p || store_call(app->store, BOT_DONE, p, done_stored, s) != 0) send_free(s);
}

/* url (relative, "/api/attachments/...") on public_url when it is set. */
static void absolute(const app_t *app, json_t *att, const char *name) {
  const char *url = json_string_value(json_object_get(att, name));
  const char *base = app->cfg.public_url;
  if (!url || url[0] != '/' || !base) return;
  size_t blen = strlen(base);
  while (blen > 0 && base[blen - 1] == '/') blen--;
  char *full = malloc(blen + strlen(url) + 1);
  if (!full) return;
  memcpy(full, base, blen);
  strcpy(full + blen, url);
  json_object_set_new(att, name, json_string(full));
  free(full);
}

/* The body sent: the stored payload, whose message carries its attachments
 * as stored; each gets its view here, at every attempt (download URLs signed
 * for the conversation, living attachment_url_ttl_s from now whatever the
 * delivery waited, on public_url when set). A new string, or NULL. */
static char *body_of(const app_t *app, const char *payload) {
  if (!strstr(payload, "\"attachments\":[{")) return strdup(payload);
  json_t *body = json_loads(payload, 0, NULL);
  json_t *msg = json_object_get(body, "message");
  if (!msg) {
    json_decref(body);
    return strdup(payload);
  }
  attach_url_message(app, msg);
  size_t i;
  json_t *a;
  json_array_foreach(json_object_get(msg, "attachments"), i, a) {
    absolute(app, a, "url");
    absolute(app, a, "thumbnail_url");
  }
  char *out = json_dumps(body, JSON_COMPACT);
  json_decref(body);
  return out;
}

/* Posts the delivery, signed. */
static void post(bots_t *b, json_t *d) {
  app_t *app = b->app;
  send_t *s = calloc(1, sizeof(*s));
  if (!s) {
    json_decref(d);
    return;
  }
  s->b = b;
  s->d = d;
  b->in_flight++;
  const char *stored = json_string_value(json_object_get(d, "payload"));
  char *payload = stored ? body_of(app, stored) : NULL;
  char *secret =
      ig_token_open(app->secret_key, json_string_value(json_object_get(d, "secret_cipher")));
  if (!payload || !secret) {
    snprintf(s->error, sizeof(s->error), "the delivery cannot be read");
    free(secret);
    free(payload);
    httpc_response_t res = {0, "", 0, s->error, 0};
    answered(s, &res);
    return;
  }
  char sig[72], h_sig[96], h_bot[80], h_del[120];
  bots_sign(secret, payload, strlen(payload), sig);
  sodium_memzero(secret, strlen(secret));
  free(secret);
  snprintf(h_sig, sizeof(h_sig), "X-Parley-Signature: %s", sig);
  snprintf(h_bot, sizeof(h_bot), "X-Parley-Bot: %s",
           json_string_value(json_object_get(d, "bot_id")));
  snprintf(h_del, sizeof(h_del), "X-Parley-Delivery: %s",
           json_string_value(json_object_get(d, "id")));
  const char *headers[] = {"Content-Type: application/json", h_sig, h_bot, h_del, NULL};
  httpc_request_t req = {.method = "POST",
                         .url = json_string_value(json_object_get(d, "webhook_url")),
                         .headers = headers,
                         .body = payload,
                         .body_len = strlen(payload),
                         .timeout_ms = app->cfg.bot_timeout_ms,
                         .max_response = MAX_RESPONSE,
                         .check = addrguard_check,
                         .check_ctx = (void *)app->cfg.api_call_allow};
  int started = req.url && httpc_request(app->http, &req, answered, s) == 0;
  free(payload); /* httpc copied it */
  if (!started) {
    snprintf(s->error, sizeof(s->error), "cannot start the request");
    httpc_response_t res = {0, "", 0, s->error, 0};
    answered(s, &res);
  }
}

/* ---- claiming ---- */

static void claimed(void *ctx, int status, json_t *result) {
  bots_t *b = ctx;
  b->claiming = 0;
  if (status == STORE_OK && !b->closing && !b->app->shutting_down) {
    size_t i;
    json_t *d;
    json_array_foreach(json_object_get(result, "deliveries"), i, d) post(b, json_incref(d));
    json_t *next = json_object_get(result, "next_due_ms");
    if (json_is_integer(next)) {
      int64_t in = json_integer_value(next) - util_now_ms();
      if (in < b->app->cfg.bot_poll_ms) arm(b, in < 1 ? 1 : in);
    }
    if (b->kicked) arm(b, 0);
  }
  b->kicked = 0;
  json_decref(result);
}

static void claim(bots_t *b) {
  app_t *app = b->app;
  int room = app->cfg.bot_in_flight - b->in_flight;
  if (b->claiming) {
    b->kicked = 1; /* once this claim is in, look again */
    return;
  }
  if (room <= 0 || b->closing || app->shutting_down) return;
  /* The lease outlives the request's timeout, so it is never taken over
   * while this instance still waits for the answer. */
  json_t *p = json_pack("{s:I, s:I, s:i}", "now_ms", (json_int_t)util_now_ms(), "lease_ms",
                        (json_int_t)app->cfg.bot_timeout_ms + 1000, "limit", room);
  b->claiming = 1;
  if (!p || store_call(app->store, BOT_CLAIM, p, claimed, b) != 0) b->claiming = 0;
}

static void on_soon(uv_timer_t *t) { claim(t->data); }

/* Claims after delay_ms (0: on the next loop turn), unless sooner is armed. */
static void arm(bots_t *b, int64_t delay_ms) {
  if (b->closing) return;
  uint64_t due = uv_now(b->app->loop) + (uint64_t)delay_ms;
  if (uv_is_active((uv_handle_t *)&b->soon) && b->soon_due <= due) return;
  b->soon_due = due;
  uv_timer_start(&b->soon, on_soon, (uint64_t)delay_ms, 0);
}

static void on_poll(uv_timer_t *t) {
  bots_t *b = t->data;
  if (b->app->shutting_down) return;
  claim(b);
  bots_registry_refresh(b);
}

void bots_kick(bots_t *b) {
  if (b && !b->app->shutting_down) arm(b, 0);
}

bots_t *bots_new(app_t *app) {
  bots_t *b = calloc(1, sizeof(*b));
  if (!b) return NULL;
  b->app = app;
  strmap_init(&b->ids);
  strmap_init(&b->fresh);
  uv_timer_init(app->loop, &b->poll);
  uv_timer_init(app->loop, &b->soon);
  b->poll.data = b->soon.data = b;
  uv_timer_start(&b->poll, on_poll, 0, (uint64_t)app->cfg.bot_poll_ms);
  return b;
}

int bots_busy(const bots_t *b) { return b ? b->in_flight + b->claiming + b->enqueuing : 0; }

void bots_stop(bots_t *b) {
  if (!b || b->closing) return;
  b->closing = 1;
  uv_close((uv_handle_t *)&b->poll, NULL);
  uv_close((uv_handle_t *)&b->soon, NULL);
}

void bots_free(bots_t *b) {
  if (!b) return;
  bots_registry_clear(b);
  free(b);
}
