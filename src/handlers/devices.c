/* API.md's key directory: a user's devices (key holders for end-to-end
 * encrypted secret chats) with their public keys, and other users fetching a
 * device's bundle, which hands out one one-time prekey each time. The server
 * checks the keys' lengths and the signed prekey's Ed25519 signature and never
 * sees a private key. A device left with few prekeys is told by keys.low on
 * every instance. Loop thread. */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chat/fanout.h"
#include "chat/fields.h"
#include "handlers/common.h"
#include "handlers/handlers.h"
#include "parley/bus.h"
#include "parley/util.h"

#define KEY_BYTES 32
#define SIG_BYTES 64
/* One request adds at most this many one-time prekeys. */
#define PREKEY_BATCH_MAX 100
/* A device is told to upload more when fewer than this many remain. */
#define PREKEYS_LOW 10
#define DEVICE_NAME_MAX 100

/* Decodes v, unpadded base64url of exactly n bytes, into out: 0, or -1 after
 * replying 400 naming field. */
static int key_value(http_req_t *req, json_t *v, const char *field, size_t n, unsigned char *out) {
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

/* An Ed25519 identity key that also converts to X25519 (the key agreement's
 * form): 0, or -1 after replying 400. */
static int identity_key(http_req_t *req, json_t *v, unsigned char ik[KEY_BYTES]) {
  unsigned char x[KEY_BYTES];
  if (key_value(req, v, "identity_key", KEY_BYTES, ik) != 0) return -1;
  if (crypto_sign_ed25519_pk_to_curve25519(x, ik) != 0) {
    http_reply_error(req, 400, "validation_failed", "not an Ed25519 public key", "identity_key");
    return -1;
  }
  return 0;
}

/* {key, signature}: an X25519 key signed by the identity key ik. Sets *key and
 * *sig (borrowed from v) and returns 0, or -1 after replying 400. */
static int signed_prekey(http_req_t *req, json_t *v, const unsigned char ik[KEY_BYTES],
                         const char **key, const char **sig) {
  unsigned char k[KEY_BYTES], s[SIG_BYTES];
  if (!json_is_object(v)) {
    http_reply_error(req, 400, "validation_failed", "must be {key, signature}", "signed_prekey");
    return -1;
  }
  json_t *jk = json_object_get(v, "key"), *js = json_object_get(v, "signature");
  if (key_value(req, jk, "signed_prekey.key", KEY_BYTES, k) != 0 ||
      key_value(req, js, "signed_prekey.signature", SIG_BYTES, s) != 0)
    return -1;
  if (crypto_sign_verify_detached(s, k, KEY_BYTES, ik) != 0) {
    http_reply_error(req, 400, "validation_failed",
                     "the signature does not verify with the identity key",
                     "signed_prekey.signature");
    return -1;
  }
  *key = json_string_value(jk);
  *sig = json_string_value(js);
  return 0;
}

/* A batch of one-time prekeys (an array of 0..PREKEY_BATCH_MAX keys): a new
 * reference, or NULL after replying 400. */
static json_t *prekey_batch(http_req_t *req, json_t *v) {
  unsigned char k[KEY_BYTES];
  if (!json_is_array(v) || json_array_size(v) > PREKEY_BATCH_MAX) {
    http_reply_error(req, 400, "validation_failed", "must be an array of at most 100 keys",
                     "one_time_prekeys");
    return NULL;
  }
  size_t i;
  json_t *e;
  json_array_foreach(v, i, e) {
    if (key_value(req, e, "one_time_prekeys", KEY_BYTES, k) != 0) return NULL;
  }
  return json_incref(v);
}

static int device_id_ok(http_req_t *req, const char *id) {
  if (id && *id && strlen(id) <= FIELDS_ID_MAX) return 1;
  http_reply_error(req, 404, "not_found", "no such device", NULL);
  return 0;
}

/* ---- my devices ---- */

static void on_device(void *ctx, int status, json_t *result, int created) {
  http_req_t *req = ctx;
  if (status == STORE_ECONFLICT)
    http_reply_error(
        req, 409, "conflict",
        created ? "a user has at most 10 devices" : "a device holds at most 500 one-time prekeys",
        created ? NULL : "one_time_prekeys");
  else if (status != STORE_OK)
    handlers_reply_store_error(req, status);
  else
    http_reply_json(req, created ? 201 : 200, json_pack("{s:O}", "device", result));
  json_decref(result);
  http_req_unref(req);
}

static void on_created(void *ctx, int status, json_t *result) { on_device(ctx, status, result, 1); }
static void on_updated(void *ctx, int status, json_t *result) { on_device(ctx, status, result, 0); }

static void create(http_req_t *req) {
  json_t *body = http_req_json(req);
  if (!body) return;
  unsigned char ik[KEY_BYTES];
  const char *spk = NULL, *sig = NULL, *name;
  json_t *keys = NULL;
  int failed = 0;
  name = handlers_string_field(req, body, "name", 0, 1, DEVICE_NAME_MAX, &failed);
  if (failed || identity_key(req, json_object_get(body, "identity_key"), ik) != 0 ||
      signed_prekey(req, json_object_get(body, "signed_prekey"), ik, &spk, &sig) != 0)
    goto done;
  json_t *otk = json_object_get(body, "one_time_prekeys");
  if (!(keys = otk ? prekey_batch(req, otk) : json_array())) goto done;
  char id[25];
  util_new_id(id);
  handlers_store_call(
      req, DEVICE_CREATE,
      json_pack("{s:s, s:s, s:s?, s:O, s:s, s:s, s:o}", "id", id, "user_id", req->user_id, "name",
                name, "identity_key", json_object_get(body, "identity_key"), "signed_prekey", spk,
                "signed_prekey_signature", sig, "one_time_prekeys", keys),
      on_created);
done:
  json_decref(body);
}

static void on_listed(void *ctx, int status, json_t *result) {
  http_req_t *req = ctx;
  if (status != STORE_OK)
    handlers_reply_store_error(req, status);
  else
    http_reply_json(req, 200, json_incref(result));
  json_decref(result);
  http_req_unref(req);
}

static void list(http_req_t *req) {
  handlers_store_call(req, DEVICE_LIST, json_pack("{s:s}", "user_id", req->user_id), on_listed);
}

static void add_prekeys(http_req_t *req) {
  const char *id = http_req_param(req, "id");
  if (!device_id_ok(req, id)) return;
  json_t *body = http_req_json(req);
  if (!body) return;
  json_t *keys = prekey_batch(req, json_object_get(body, "one_time_prekeys"));
  if (keys)
    handlers_store_call(
        req, DEVICE_UPDATE,
        json_pack("{s:s, s:s, s:o}", "id", id, "user_id", req->user_id, "add_prekeys", keys),
        on_updated);
  json_decref(body);
}

/* Replacing the signed prekey: the device's identity key is read first, since
 * the new key must be signed by it. */
typedef struct rotate_s {
  http_req_t *req; /* referenced */
  json_t *body;
} rotate_t;

static void on_identity(void *ctx, int status, json_t *result) {
  rotate_t *r = ctx;
  http_req_t *req = r->req;
  unsigned char ik[KEY_BYTES];
  const char *spk, *sig;
  if (status != STORE_OK) {
    handlers_reply_store_error(req, status);
  } else if (key_value(req, json_object_get(result, "identity_key"), "identity_key", KEY_BYTES,
                       ik) == 0 &&
             signed_prekey(req, r->body, ik, &spk, &sig) == 0) {
    handlers_store_call(
        req, DEVICE_UPDATE,
        json_pack("{s:O, s:s, s:s, s:s}", "id", json_object_get(result, "id"), "user_id",
                  req->user_id, "signed_prekey", spk, "signed_prekey_signature", sig),
        on_updated);
  }
  json_decref(result);
  json_decref(r->body);
  http_req_unref(req);
  free(r);
}

static void replace_signed_prekey(http_req_t *req) {
  const char *id = http_req_param(req, "id");
  if (!device_id_ok(req, id)) return;
  json_t *body = http_req_json(req);
  if (!body) return;
  rotate_t *r = calloc(1, sizeof(*r));
  if (!r) {
    json_decref(body);
    http_reply_error(req, 503, "unavailable", "try again", NULL);
    return;
  }
  r->req = req;
  r->body = body;
  http_req_ref(req);
  if (store_call(req->app->store, DEVICE_GET,
                 json_pack("{s:s, s:s}", "id", id, "user_id", req->user_id), on_identity, r) != 0) {
    handlers_reply_store_error(req, STORE_EUNAVAILABLE);
    json_decref(body);
    http_req_unref(req);
    free(r);
  }
}

static void remove_device(http_req_t *req) {
  const char *id = http_req_param(req, "id");
  if (!device_id_ok(req, id)) return;
  handlers_store_call(req, DEVICE_DELETE,
                      json_pack("{s:s, s:s}", "id", id, "user_id", req->user_id),
                      handlers_reply_204);
}

/* ---- bundles ---- */

/* keys.low to the owner's sessions, on every instance, for each device that
 * has fewer than PREKEYS_LOW left. */
static void tell_low(app_t *app, json_t *bundles) {
  size_t i;
  json_t *b;
  json_array_foreach(bundles, i, b) {
    json_int_t left = json_integer_value(json_object_get(b, "remaining"));
    if (left >= PREKEYS_LOW) continue;
    json_t *frame = json_pack("{s:s, s:O, s:I}", "type", "keys.low", "device_id",
                              json_object_get(b, "device_id"), "remaining", left);
    json_t *to = json_pack("[O]", json_object_get(b, "user_id"));
    if (frame && to) fanout_event(app, frame, to, NULL);
    json_decref(frame);
    json_decref(to);
  }
}

static void on_claimed(void *ctx, int status, json_t *result, int one) {
  http_req_t *req = ctx;
  json_t *bundles = json_object_get(result, "bundles");
  if (status == STORE_OK && !json_is_array(bundles)) status = STORE_EUNAVAILABLE;
  if (status != STORE_OK) {
    if (status == STORE_ENOTFOUND)
      http_reply_error(req, 404, "not_found", "no such device", NULL);
    else
      handlers_reply_store_error(req, status);
  } else {
    /* remaining is the owner's business, not the fetcher's. */
    json_t *out = json_deep_copy(bundles);
    size_t i;
    json_t *b;
    json_array_foreach(out, i, b) json_object_del(b, "remaining");
    if (one)
      http_reply_json(req, 200, json_pack("{s:O}", "bundle", json_array_get(out, 0)));
    else
      http_reply_json(req, 200, json_pack("{s:O}", "bundles", out));
    json_decref(out);
    tell_low(req->app, bundles);
  }
  json_decref(result);
  http_req_unref(req);
}

static void on_claimed_all(void *ctx, int status, json_t *result) {
  on_claimed(ctx, status, result, 0);
}
static void on_claimed_one(void *ctx, int status, json_t *result) {
  on_claimed(ctx, status, result, 1);
}

/* A fetch waiting for its rate token: the claim's arguments and which answer. */
typedef struct fetch_s {
  http_req_t *req; /* referenced */
  json_t *args;
  int one;
} fetch_t;

/* Bundle fetches are limited per fetching user (a bucket shared by every
 * instance through the bus), so no one drains another's one-time prekeys by
 * fetching in a loop; refused: 429 with Retry-After, nothing claimed. A
 * fetch of all of a user's bundles takes one token (it claims at most one
 * prekey per device). */
static void on_fetch_token(void *ctx, int allowed, int64_t retry_after_ms) {
  fetch_t *f = ctx;
  http_req_t *req = f->req;
  if (!allowed) {
    char secs[24];
    snprintf(secs, sizeof(secs), "%lld",
             (long long)(retry_after_ms <= 0 ? 1 : (retry_after_ms + 999) / 1000));
    http_reply_header(req, "Retry-After", secs);
    http_reply_error(req, 429, "rate_limited", "too many key fetches, try again later", NULL);
    json_decref(f->args);
  } else if (http_req_gone(req)) {
    json_decref(f->args); /* nobody to hand a prekey to: claim none */
  } else {
    handlers_store_call(req, DEVICE_CLAIM, f->args, f->one ? on_claimed_one : on_claimed_all);
  }
  http_req_unref(req);
  free(f);
}

/* Takes args (a new reference) whatever happens. */
static void fetch(http_req_t *req, json_t *args, int one) {
  app_t *app = req->app;
  char key[96];
  fetch_t *f = args ? calloc(1, sizeof(*f)) : NULL;
  if (!f) {
    json_decref(args);
    http_reply_error(req, 503, "unavailable", "try again", NULL);
    return;
  }
  f->req = req;
  f->args = args;
  f->one = one;
  http_req_ref(req);
  snprintf(key, sizeof(key), "keys:user:%s", req->user_id);
  if (bus_bucket_take(app->bus, key, app->cfg.keys_rate_per_user, app->cfg.keys_burst,
                      on_fetch_token, f) != 0) {
    json_decref(args);
    http_reply_error(req, 503, "unavailable", "try again", NULL);
    http_req_unref(req);
    free(f);
  }
}

static void bundles(http_req_t *req) {
  const char *user = http_req_param(req, "id");
  if (!user || !*user || strlen(user) > FIELDS_ID_MAX) {
    http_reply_error(req, 404, "not_found", "no such user", NULL);
    return;
  }
  fetch(req, json_pack("{s:s}", "user_id", user), 0);
}

static void bundle(http_req_t *req) {
  const char *user = http_req_param(req, "id"), *id = http_req_param(req, "device_id");
  if (!user || !*user || strlen(user) > FIELDS_ID_MAX) id = NULL; /* answered as no device */
  if (!device_id_ok(req, id)) return;
  fetch(req, json_pack("{s:s, s:s}", "user_id", user, "id", id), 1);
}

static const route_t routes[] = {
    {"POST", "/api/devices", 1, create},
    {"GET", "/api/devices", 1, list},
    {"DELETE", "/api/devices/:id", 1, remove_device},
    {"PUT", "/api/devices/:id/signed_prekey", 1, replace_signed_prekey},
    {"POST", "/api/devices/:id/prekeys", 1, add_prekeys},
    {"GET", "/api/users/:id/keys", 1, bundles},
    {"GET", "/api/users/:id/keys/:device_id", 1, bundle},
};

const route_table_t devices_routes = ROUTE_TABLE(routes);
