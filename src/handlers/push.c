/* API.md's Push: the VAPID public key a browser subscribes with, and the
 * caller's Web Push subscriptions (an https endpoint and the browser's
 * p256dh and auth keys, checked here; at most PUSH_SUBS_MAX a user). Sending
 * is push/'s. Loop thread. */
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "chat/fields.h"
#include "handlers/common.h"
#include "handlers/handlers.h"
#include "parley/push.h"
#include "parley/util.h"
#include "push/push_crypto.h"
#include "push/rules.h"

static void vapid_key(http_req_t *req) {
  if (!req->app->push) {
    http_reply_error(req, 503, "unavailable", "Web Push is not configured", NULL);
    return;
  }
  http_reply_json(req, 200, json_pack("{s:s}", "public_key", push_vapid_public(req->app->push)));
}

/* Decodes v, unpadded base64url of exactly n bytes: 0, or -1 after replying
 * 400 naming field. */
static int key_value(http_req_t *req, json_t *v, const char *field, size_t n, uint8_t *out) {
  const char *s = json_string_value(v);
  size_t len = s ? strlen(s) : 0, got = 0;
  if (!s || len != sodium_base64_ENCODED_LEN(n, sodium_base64_VARIANT_URLSAFE_NO_PADDING) - 1 ||
      sodium_base642bin(out, n, s, len, NULL, &got, NULL,
                        sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0 ||
      got != n) {
    char msg[96];
    snprintf(msg, sizeof(msg), "must be %zu bytes as unpadded base64url", n);
    http_reply_error(req, 400, "validation_failed", msg, field);
    return -1;
  }
  return 0;
}

/* What the caller sees of a subscription: never its keys. */
static json_t *view(const json_t *sub) {
  return json_pack("{s:O, s:O, s:O, s:O}", "id", json_object_get(sub, "id"), "endpoint",
                   json_object_get(sub, "endpoint"), "preview", json_object_get(sub, "preview"),
                   "created_at", json_object_get(sub, "created_at"));
}

static void on_saved(void *ctx, int status, json_t *result) {
  http_req_t *req = ctx;
  if (status == STORE_ECONFLICT)
    http_reply_error(req, 409, "conflict", "a user has at most 10 push subscriptions", NULL);
  else if (status != STORE_OK)
    handlers_reply_store_error(req, status);
  else {
    /* Before the answer: a message right after it must find the subscription. */
    push_subscribed(req->app, req->user_id);
    http_reply_json(
        req, json_is_true(json_object_get(result, "created")) ? 201 : 200,
        json_pack("{s:o}", "subscription", view(json_object_get(result, "subscription"))));
  }
  json_decref(result);
  http_req_unref(req);
}

static void subscribe(http_req_t *req) {
  json_t *body = http_req_json(req);
  if (!body) return;
  uint8_t p256dh[PUSH_P256_PUBLIC_LEN], auth[PUSH_AUTH_LEN];
  const char *endpoint = json_string_value(json_object_get(body, "endpoint"));
  const char *why = push_endpoint_problem(endpoint, req->app->cfg.push_allow);
  json_t *keys = json_object_get(body, "keys"), *preview = json_object_get(body, "preview");
  if (why) {
    http_reply_error(req, 400, "validation_failed", why, "endpoint");
    goto done;
  }
  if (!json_is_object(keys)) {
    http_reply_error(req, 400, "validation_failed", "must be {p256dh, auth}", "keys");
    goto done;
  }
  if (key_value(req, json_object_get(keys, "p256dh"), "keys.p256dh", sizeof(p256dh), p256dh) != 0 ||
      key_value(req, json_object_get(keys, "auth"), "keys.auth", sizeof(auth), auth) != 0)
    goto done;
  if (!push_p256_valid(p256dh)) {
    http_reply_error(req, 400, "validation_failed", "not an uncompressed P-256 public key",
                     "keys.p256dh");
    goto done;
  }
  if (preview && !json_is_boolean(preview)) {
    http_reply_error(req, 400, "validation_failed", "must be true or false", "preview");
    goto done;
  }
  char id[25];
  util_new_id(id);
  handlers_store_call(
      req, PUSH_SUB_SAVE,
      json_pack("{s:s, s:s, s:s, s:O, s:O, s:b}", "id", id, "user_id", req->user_id, "endpoint",
                endpoint, "p256dh", json_object_get(keys, "p256dh"), "auth",
                json_object_get(keys, "auth"), "preview", !json_is_false(preview)),
      on_saved);
done:
  json_decref(body);
}

static void on_listed(void *ctx, int status, json_t *result) {
  http_req_t *req = ctx;
  if (status != STORE_OK) {
    handlers_reply_store_error(req, status);
  } else {
    json_t *out = json_array();
    size_t i;
    json_t *sub;
    json_array_foreach(json_object_get(result, "subscriptions"), i, sub) {
      json_array_append_new(out, view(sub));
    }
    http_reply_json(req, 200, json_pack("{s:o}", "subscriptions", out));
  }
  json_decref(result);
  http_req_unref(req);
}

static void list(http_req_t *req) {
  handlers_store_call(req, PUSH_SUB_LIST, json_pack("{s:[s]}", "user_ids", req->user_id),
                      on_listed);
}

static void unsubscribe(http_req_t *req) {
  const char *id = http_req_param(req, "id");
  if (!id || !*id || strlen(id) > FIELDS_ID_MAX) {
    http_reply_error(req, 404, "not_found", "no such subscription", NULL);
    return;
  }
  handlers_store_call(req, PUSH_SUB_DELETE,
                      json_pack("{s:s, s:s}", "id", id, "user_id", req->user_id),
                      handlers_reply_204);
}

static const route_t routes[] = {
    {"GET", "/api/push/vapid-key", 0, vapid_key},
    {"POST", "/api/push/subscriptions", 1, subscribe},
    {"GET", "/api/push/subscriptions", 1, list},
    {"DELETE", "/api/push/subscriptions/:id", 1, unsubscribe},
};

const route_table_t push_routes = ROUTE_TABLE(routes);
