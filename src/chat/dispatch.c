/* dispatch: routes bus messages to the messaging domain (see dispatch.h).
 * Stateless apart from the subscriptions it makes. Loop thread. */
#include "chat/dispatch.h"

#include <string.h>

#include "chat/channel_subs.h"
#include "chat/envelope.h"
#include "chat/fanout.h"
#include "chat/presence.h"
#include "chat/revocations.h"
#include "parley/auth.h"
#include "parley/bus.h"
#include "parley/log.h"
#include "parley/metrics.h"

/* 1 when the envelope's header (the text before its first newline) ends with
 * our own "i" member, as envelope_publish appends it: ,"i":"<id>"} . A quote
 * after a comma cannot be inside a JSON string (it would be escaped), so this
 * is the header's last top-level member, the one a parser would keep. Our own
 * envelopes come back from Redis and are dropped unread: parsing a header
 * that lists a large group's recipients cost more than delivering it. */
static int own_envelope(const app_t *app, const char *payload, size_t len) {
  const char *nl = memchr(payload, '\n', len);
  size_t id_len = strlen(app->instance_id), hlen = nl ? (size_t)(nl - payload) : 0;
  size_t tail = id_len + 8; /* ,"i":" + id + "} */
  if (!nl || id_len == 0 || hlen < tail + 1) return 0;
  const char *t = nl - tail;
  return memcmp(t, ",\"i\":\"", 6) == 0 && memcmp(t + 6, app->instance_id, id_len) == 0 &&
         memcmp(t + 6 + id_len, "\"}", 2) == 0;
}

static void on_envelope(app_t *app, const char *payload, size_t len) {
  if (!app->fanout && !app->presence) return;
  app->metrics->bus_received++;
  if (own_envelope(app, payload, len)) return;
  const char *body;
  size_t blen;
  json_t *hdr = envelope_parse(payload, len, &body, &blen);
  if (!hdr) {
    /* Once a second at most: anyone who can publish to Redis could send many. */
    static uint64_t last_ms, dropped;
    uint64_t now = uv_now(app->loop);
    dropped++;
    if (!last_ms || now - last_ms >= 1000) {
      log_warn("fan-out: a malformed bus envelope of %zu bytes dropped (%llu so far)", len,
               (unsigned long long)dropped);
      last_ms = now;
    }
    return;
  }
  const char *from = json_string_value(json_object_get(hdr, "i"));
  const char *kind = json_string_value(json_object_get(hdr, "k"));
  /* Our own envelopes come back from Redis: we delivered them already. */
  if (from && kind && strcmp(from, app->instance_id) != 0) {
    channel_subs_on_envelope(app, kind, hdr);
    fanout_on_envelope(app, kind, hdr, body, blen);
    presence_on_envelope(app->presence, kind, hdr, body, blen, (int64_t)uv_now(app->loop));
    const char *bot = json_string_value(json_object_get(hdr, "b"));
    if (strcmp(kind, "b") == 0 && bot && app->on_bot_known) app->on_bot_known(app, bot);
  }
  json_decref(hdr);
}

/* An owner id: user ids are short; anything longer is not one. */
static void on_flows_changed(app_t *app, const char *payload, size_t len) {
  char owner[128];
  if (!app->on_flows_changed || len == 0 || len >= sizeof(owner)) return;
  memcpy(owner, payload, len);
  owner[len] = '\0';
  app->on_flows_changed(app, owner);
  app->metrics->flow_changes_heard++;
}

/* A user or contact id named on PUSH_SUBSCRIBED_CHANNEL or FLOWS_WAITING_CHANNEL. */
static void on_id(app_t *app, void (*hook)(app_t *, const char *), uint64_t *heard,
                  const char *payload, size_t len) {
  char id[128];
  if (!hook || len == 0 || len >= sizeof(id)) return;
  memcpy(id, payload, len);
  id[len] = '\0';
  hook(app, id);
  (*heard)++;
}

void dispatch_message(app_t *app, const char *channel, const char *payload, size_t len) {
  if (strcmp(channel, ENVELOPE_CHANNEL) == 0)
    on_envelope(app, payload, len);
  else if (strcmp(channel, AUTH_REVOKE_CHANNEL) == 0 || strcmp(channel, AUTH_LOGOUT_CHANNEL) == 0)
    revocations_on_bus(app, payload, len);
  else if (strcmp(channel, FLOWS_CHANGED_CHANNEL) == 0)
    on_flows_changed(app, payload, len);
  else if (strcmp(channel, PUSH_SUBSCRIBED_CHANNEL) == 0)
    on_id(app, app->on_push_subscribed, &app->metrics->push_subscribed_heard, payload, len);
  else if (strcmp(channel, FLOWS_WAITING_CHANNEL) == 0)
    on_id(app, app->on_flow_waiting, &app->metrics->flow_waits_heard, payload, len);
}

static void on_bus_message(void *ctx, const char *channel, const char *payload, size_t len) {
  dispatch_message(ctx, channel, payload, len);
}

static void on_bus_state(void *ctx, int up) {
  app_t *app = ctx;
  if (!up) log_warn("fan-out: the bus is down; clients recover missed messages with sync");
  presence_bus_state(app->presence, up, (int64_t)uv_now(app->loop));
  /* Changes of flows announced while it was down were not heard. */
  if (app->on_flows_changed) app->on_flows_changed(app, NULL);
  if (app->on_push_subscribed) app->on_push_subscribed(app, NULL);
  if (app->on_flow_waiting) app->on_flow_waiting(app, NULL);
}

void dispatch_start(app_t *app) {
  bus_set_handlers(app->bus, on_bus_message, on_bus_state, app);
  if (bus_subscribe(app->bus, AUTH_REVOKE_CHANNEL) != 0)
    log_warn("cannot subscribe to %s", AUTH_REVOKE_CHANNEL);
  if (bus_subscribe(app->bus, AUTH_LOGOUT_CHANNEL) != 0)
    log_warn("cannot subscribe to %s", AUTH_LOGOUT_CHANNEL);
  if (bus_subscribe(app->bus, FLOWS_CHANGED_CHANNEL) != 0)
    log_warn("cannot subscribe to %s", FLOWS_CHANGED_CHANNEL);
  if (bus_subscribe(app->bus, PUSH_SUBSCRIBED_CHANNEL) != 0)
    log_warn("cannot subscribe to %s", PUSH_SUBSCRIBED_CHANNEL);
  if (bus_subscribe(app->bus, FLOWS_WAITING_CHANNEL) != 0)
    log_warn("cannot subscribe to %s", FLOWS_WAITING_CHANNEL);
  if (envelope_remote(app) && bus_subscribe(app->bus, ENVELOPE_CHANNEL) != 0)
    log_error("fan-out: cannot subscribe to %s", ENVELOPE_CHANNEL);
}

void dispatch_stop(app_t *app) {
  if (app->bus && envelope_remote(app)) bus_unsubscribe(app->bus, ENVELOPE_CHANNEL);
}
