/* API.md's Auth calls: signup, login, refresh rotation, logout (which ends the
 * login's access tokens and WebSocket sessions too), me. Access tokens carry
 * their login (the refresh family) as "sid". Each call is a chain of async
 * steps (rate limits on the bus, Argon2 on the thread pool, store jobs) carried
 * by one auth_flow_t that holds a reference on the request. Loop thread. */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chat/attach_url.h"
#include "chat/revocations.h"
#include "chat/user_view.h"
#include "handlers/common.h"
#include "handlers/email.h"
#include "handlers/handlers.h"
#include "parley/auth.h"
#include "parley/bus.h"
#include "parley/log.h"
#include "parley/util.h"

#define PASSWORD_MIN 8
#define PASSWORD_MAX 256
#define NAME_MAX_CHARS 100
#define EMAIL_MAX_INPUT 320
#define REFRESH_INPUT_MAX 512
#define DEVICE_NAME_MAX_CHARS 100

enum flow_kind { FLOW_SIGNUP, FLOW_LOGIN, FLOW_REFRESH };

typedef struct auth_flow_s {
  http_req_t *req; /* referenced until auth_flow_end */
  enum flow_kind kind;
  char email[255];
  char *password;
  size_t pwlen;
  char *name;
  int rate_step; /* 0: per address, 1: per email */
  json_t *user;  /* the store's user, once known */
  char refresh[AUTH_REFRESH_LEN + 1];
  char refresh_hash[65];
  char family[AUTH_LOGIN_ID_MAX];             /* the login: the refresh family, the tokens' sid */
  char presented_hash[65];                    /* refresh: the hash of the token presented */
  char device[4 * DEVICE_NAME_MAX_CHARS + 1]; /* the login's device name */
  char ip[48];                                /* the client's address */
} auth_flow_t;

static auth_flow_t *auth_flow_new(http_req_t *req, enum flow_kind kind) {
  auth_flow_t *f = calloc(1, sizeof(*f));
  if (!f) return NULL;
  f->req = req;
  f->kind = kind;
  http_req_client_addr(req, f->ip, sizeof(f->ip));
  http_req_ref(req);
  return f;
}

static void auth_flow_end(auth_flow_t *f) {
  if (f->password) {
    sodium_memzero(f->password, f->pwlen);
    free(f->password);
  }
  free(f->name);
  json_decref(f->user);
  sodium_memzero(f->refresh, sizeof(f->refresh));
  http_req_t *req = f->req;
  free(f);
  http_req_unref(req);
}

/* The client went away: nothing left to answer, so stop spending work. */
static int flow_gone(auth_flow_t *f) { return http_req_gone(f->req); }

static void flow_fail(auth_flow_t *f, int status, const char *code, const char *message) {
  http_reply_error(f->req, status, code, message, NULL);
  auth_flow_end(f);
}

static void flow_store_error(auth_flow_t *f, int status) {
  handlers_reply_store_error(f->req, status);
  auth_flow_end(f);
}

static void flow_store(auth_flow_t *f, enum store_op op, json_t *params, store_cb cb) {
  if (store_call(f->req->app->store, op, params, cb, f) != 0)
    flow_store_error(f, STORE_EUNAVAILABLE);
}

/* ---- input ---- */

static void bad_field(http_req_t *req, const char *field, const char *message) {
  http_reply_error(req, 400, "validation_failed", message, field);
}

/* A password: a JSON string of min..PASSWORD_MAX bytes of valid UTF-8. */
static const char *password_field(http_req_t *req, json_t *body, size_t min, size_t *len) {
  json_t *v = json_object_get(body, "password");
  if (!json_is_string(v)) {
    bad_field(req, "password", v ? "password must be a string" : "password is required");
    return NULL;
  }
  *len = json_string_length(v);
  if (*len < min || *len > PASSWORD_MAX || !util_utf8_valid(json_string_value(v), *len)) {
    char msg[96];
    snprintf(msg, sizeof(msg), "password must be %zu to %d bytes of valid UTF-8", min,
             PASSWORD_MAX);
    bad_field(req, "password", msg);
    return NULL;
  }
  return json_string_value(v);
}

static int email_field(http_req_t *req, json_t *body, char out[255]) {
  int failed = 0;
  const char *raw = handlers_string_field(req, body, "email", 1, 1, EMAIL_MAX_INPUT, &failed);
  if (!raw) return -1;
  if (auth_email_normalize(raw, strlen(raw), out) != 0) {
    bad_field(req, "email", "email must be a valid email address");
    return -1;
  }
  return 0;
}

/* The login's device: device_name from the body (1..100 characters), else the
 * User-Agent cut to as many characters, else "Unknown device". Returns 0, or
 * -1 after replying 400. */
static int device_field(http_req_t *req, json_t *body, char out[4 * DEVICE_NAME_MAX_CHARS + 1]) {
  int failed = 0;
  const char *name =
      handlers_string_field(req, body, "device_name", 0, 1, DEVICE_NAME_MAX_CHARS, &failed);
  if (failed) return -1;
  const char *ua = http_req_header(req, "user-agent");
  const char *src = name ? name : ua;
  if (!src || !util_utf8_valid(src, strlen(src))) src = "Unknown device";
  size_t len = 0, chars = 0;
  /* Whole code points only, at most DEVICE_NAME_MAX_CHARS of them. */
  while (src[len] && chars < DEVICE_NAME_MAX_CHARS) {
    len++;
    while ((src[len] & 0xC0) == 0x80) len++;
    chars++;
  }
  while (len > 0 && src[len - 1] == ' ') len--;
  if (len == 0) {
    snprintf(out, 4 * DEVICE_NAME_MAX_CHARS + 1, "Unknown device");
    return 0;
  }
  memcpy(out, src, len);
  out[len] = '\0';
  return 0;
}

/* ---- sessions ---- */

static void reply_session(auth_flow_t *f) {
  http_req_t *req = f->req;
  auth_t *a = req->app->auth;
  const char *uid = json_string_value(json_object_get(f->user, "id"));
  char *access =
      uid && f->family[0] ? auth_token_issue(a, uid, f->family, util_now_ms() / 1000) : NULL;
  if (!access) {
    flow_fail(f, 500, "internal", "cannot issue a token");
    return;
  }
  json_t *body = json_pack("{s:o, s:s, s:s, s:s, s:i}", "user",
                           attach_url_user(f->req->app, user_view_own(f->user), f->user),
                           "access_token", access, "refresh_token", f->refresh, "token_type",
                           "Bearer", "expires_in", auth_token_ttl(a));
  free(access);
  http_reply_json(req, f->kind == FLOW_SIGNUP ? 201 : 200, body);
  auth_flow_end(f);
}

static void on_refresh_created(void *ctx, int status, json_t *result) {
  auth_flow_t *f = ctx;
  if (status != STORE_OK) {
    flow_store_error(f, status);
    return;
  }
  /* Past LOGINS_MAX, the least recently used logins ended in the store; their
   * access tokens and sessions end too, without holding up this answer. */
  const json_t *ended = json_object_get(result, "ended");
  const char *uid = json_string_value(json_object_get(f->user, "id"));
  if (uid && json_array_size(ended) > 0 &&
      revocations_end_logins(f->req->app, uid, ended, NULL, NULL) != 0)
    log_warn("could not end the logins of user %s past the limit", uid);
  json_decref(result);
  reply_session(f);
}

/* A new login: a refresh token in a new family, stored hashed, then the reply. */
static void start_session(auth_flow_t *f) {
  char family[25];
  util_new_id(family);
  snprintf(f->family, sizeof(f->family), "%s", family);
  auth_refresh_new(f->refresh, f->refresh_hash);
  int64_t expires = util_now_ms() + (int64_t)f->req->app->cfg.refresh_token_ttl * 1000;
  json_t *p = json_pack("{s:s, s:O, s:s, s:I, s:s, s:s, s:I}", "token_hash", f->refresh_hash,
                        "user_id", json_object_get(f->user, "id"), "family_id", family,
                        "expires_at_ms", (json_int_t)expires, "device_name", f->device, "ip", f->ip,
                        "now_ms", (json_int_t)util_now_ms());
  flow_store(f, REFRESH_CREATE, p, on_refresh_created);
}

/* ---- signup ---- */

static void on_user_created(void *ctx, int status, json_t *result) {
  auth_flow_t *f = ctx;
  if (status == STORE_ECONFLICT) {
    flow_fail(f, 409, "email_taken", "an account with this email already exists");
    return;
  }
  if (status != STORE_OK) {
    flow_store_error(f, status);
    return;
  }
  f->user = result;
  /* The address is verified with a code mailed now. Where that is required, no
   * login starts until it is (API.md: 201 {user} without tokens). */
  email_send_code(f->req->app, "verify", json_string_value(json_object_get(result, "id")),
                  f->email);
  if (email_required(f->req->app)) {
    http_reply_json(
        f->req, 201,
        json_pack("{s:o}", "user", attach_url_user(f->req->app, user_view_own(f->user), f->user)));
    auth_flow_end(f);
    return;
  }
  start_session(f);
}

static void on_password_hashed(void *ctx, int status, const char *hash) {
  auth_flow_t *f = ctx;
  if (status != 0 || !hash) {
    flow_fail(f, 503, "unavailable", "try again");
    return;
  }
  if (flow_gone(f)) {
    auth_flow_end(f);
    return;
  }
  json_t *p = json_pack("{s:s, s:s, s:s, s:b}", "email", f->email, "name", f->name, "password_hash",
                        hash, "email_verified", 0);
  flow_store(f, USER_CREATE, p, on_user_created);
}

/* ---- login ---- */

static void on_password_checked(void *ctx, int status, const char *unused) {
  auth_flow_t *f = ctx;
  if (status < 0) {
    flow_fail(f, 503, "unavailable", "try again");
  } else if (status > 0 || !f->user) {
    flow_fail(f, 401, "invalid_credentials", "wrong email or password");
  } else if (email_required(f->req->app) &&
             !json_is_true(json_object_get(f->user, "email_verified"))) {
    /* Told only to whoever knows the password. */
    flow_fail(f, 403, "email_unverified", "verify your e-mail address first");
  } else {
    json_object_del(f->user, "password_hash");
    start_session(f);
  }
}

static void on_user_found(void *ctx, int status, json_t *result) {
  auth_flow_t *f = ctx;
  if (status != STORE_OK && status != STORE_ENOTFOUND) {
    flow_store_error(f, status);
    return;
  }
  const char *hash = NULL;
  if (status == STORE_OK && !json_is_true(json_object_get(result, "deleted"))) {
    f->user = result;
    hash = json_string_value(json_object_get(result, "password_hash"));
  } else {
    json_decref(result);
  }
  /* Unknown email: hash is NULL and the dummy hash is verified instead, at the
   * same cost, so timing does not tell which accounts exist. */
  if (auth_password_verify(f->req->app->auth, hash, f->password, f->pwlen, on_password_checked,
                           f) != 0)
    flow_fail(f, 503, "unavailable", "too many logins in progress, try again");
}

/* ---- rate limits, then the call's own work ---- */

static void proceed(auth_flow_t *f) {
  if (flow_gone(f)) {
    auth_flow_end(f);
    return;
  }
  if (f->kind == FLOW_SIGNUP) {
    if (auth_password_hash(f->req->app->auth, f->password, f->pwlen, on_password_hashed, f) != 0)
      flow_fail(f, 503, "unavailable", "too many signups in progress, try again");
  } else {
    flow_store(f, USER_GET_BY_EMAIL, json_pack("{s:s}", "email", f->email), on_user_found);
  }
}

static void take_rate_token(auth_flow_t *f);

static void on_rate(void *ctx, int allowed, int64_t retry_after_ms) {
  auth_flow_t *f = ctx;
  if (!allowed) {
    char secs[24];
    snprintf(secs, sizeof(secs), "%lld",
             (long long)(retry_after_ms <= 0 ? 1 : (retry_after_ms + 999) / 1000));
    http_reply_header(f->req, "Retry-After", secs);
    flow_fail(f, 429, "rate_limited", "too many attempts, try again later");
    return;
  }
  f->rate_step++;
  take_rate_token(f);
}

/* Per client address first, then per email (hashed, so the bus never holds
 * addresses in clear). A bucket holds one minute's worth of attempts. */
static void take_rate_token(auth_flow_t *f) {
  app_t *app = f->req->app;
  char key[160];
  int rate;
  if (f->rate_step == 0) {
    char addr[48];
    http_req_client_addr(f->req, addr, sizeof(addr));
    snprintf(key, sizeof(key), "auth:ip:%s", addr);
    rate = app->cfg.auth_rate_per_ip;
  } else if (f->rate_step == 1) {
    unsigned char d[crypto_hash_sha256_BYTES];
    char hex[2 * sizeof(d) + 1];
    crypto_hash_sha256(d, (const unsigned char *)f->email, strlen(f->email));
    util_hex(d, 16, hex);
    snprintf(key, sizeof(key), "auth:email:%s", hex);
    rate = app->cfg.auth_rate_per_email;
  } else {
    proceed(f);
    return;
  }
  if (bus_bucket_take(app->bus, key, rate, rate, on_rate, f) != 0)
    flow_fail(f, 503, "unavailable", "try again");
}

/* ---- handlers ---- */

/* The flow of a signup or login, with copies of the checked email and
 * password; NULL after replying 503. */
static auth_flow_t *credential_flow(http_req_t *req, enum flow_kind kind, json_t *body,
                                    const char *email, const char *pw, size_t pwlen) {
  char device[sizeof(((auth_flow_t *)0)->device)];
  if (device_field(req, body, device) != 0) return NULL;
  auth_flow_t *f = auth_flow_new(req, kind);
  if (!f) {
    http_reply_error(req, 503, "unavailable", "try again", NULL);
    return NULL;
  }
  snprintf(f->email, sizeof(f->email), "%s", email);
  snprintf(f->device, sizeof(f->device), "%s", device);
  f->password = malloc(pwlen + 1);
  if (!f->password) {
    flow_fail(f, 503, "unavailable", "try again");
    return NULL;
  }
  memcpy(f->password, pw, pwlen);
  f->pwlen = pwlen;
  return f;
}

static void signup(http_req_t *req) {
  json_t *body = http_req_json(req);
  auth_flow_t *f;
  char email[255];
  size_t pwlen = 0;
  const char *pw;
  char *name = NULL;
  if (!body) return;
  if (email_field(req, body, email) != 0) goto done;
  if (!(pw = password_field(req, body, PASSWORD_MIN, &pwlen))) goto done;
  if (!(name = handlers_name_field(req, body, 1))) goto done;
  if (!(f = credential_flow(req, FLOW_SIGNUP, body, email, pw, pwlen))) goto done;
  f->name = name;
  name = NULL;
  take_rate_token(f);
done:
  free(name);
  json_decref(body);
}

static void login(http_req_t *req) {
  json_t *body = http_req_json(req);
  auth_flow_t *f;
  char email[255];
  size_t pwlen = 0;
  const char *pw;
  if (!body) return;
  /* Any non-empty password is checked: a short one is simply wrong (401). */
  if (email_field(req, body, email) == 0 && (pw = password_field(req, body, 1, &pwlen)) &&
      (f = credential_flow(req, FLOW_LOGIN, body, email, pw, pwlen)))
    take_rate_token(f);
  json_decref(body);
}

/* Reads {refresh_token} and hashes it; returns 1 when it cannot be one of ours
 * (answered as unknown), 0 with hash filled, -1 after replying 400. */
static int refresh_field(http_req_t *req, json_t *body, char hash[65]) {
  int failed = 0;
  const char *t =
      handlers_string_field(req, body, "refresh_token", 1, 1, REFRESH_INPUT_MAX, &failed);
  if (!t) return -1;
  return auth_refresh_hash(t, strlen(t), hash) == 0 ? 0 : 1;
}

static void on_refresh_user(void *ctx, int status, json_t *result) {
  auth_flow_t *f = ctx;
  if (status == STORE_ENOTFOUND ||
      (status == STORE_OK && json_is_true(json_object_get(result, "deleted")))) {
    json_decref(result);
    flow_fail(f, 401, "unauthorized", "invalid refresh token");
    return;
  }
  if (status != STORE_OK) {
    flow_store_error(f, status);
    return;
  }
  f->user = result;
  reply_session(f);
}

static void reuse_fail(void *ctx, int status) {
  flow_fail(ctx, 401, "unauthorized", "refresh token reused: the session was revoked");
}

/* The store revoked the family of a reused token; its access tokens and
 * sessions end too (REFRESH_REVOKE again names the login: it is idempotent). */
static void on_reuse_revoked(void *ctx, int status, json_t *result) {
  auth_flow_t *f = ctx;
  auth_revocation_t rv;
  int known = status == STORE_OK &&
              auth_revocation_make(&rv, json_string_value(json_object_get(result, "user_id")),
                                   json_string_value(json_object_get(result, "family_id")),
                                   util_now_ms()) == 0 &&
              rv.login_id[0];
  json_decref(result);
  if (!known || revocations_end(f->req->app, &rv, reuse_fail, f) != 0) reuse_fail(f, status);
}

static void on_rotated(void *ctx, int status, json_t *result) {
  auth_flow_t *f = ctx;
  if (status == STORE_EREVOKED) {
    log_warn("a used refresh token was presented again: its login was revoked");
    json_decref(result);
    flow_store(f, REFRESH_REVOKE, json_pack("{s:s}", "token_hash", f->presented_hash),
               on_reuse_revoked);
    return;
  }
  if (status == STORE_ENOTFOUND) {
    flow_fail(f, 401, "unauthorized", "invalid refresh token");
    return;
  }
  if (status != STORE_OK) {
    flow_store_error(f, status);
    return;
  }
  json_t *uid = json_object_get(result, "user_id");
  const char *family = json_string_value(json_object_get(result, "family_id"));
  if (!json_is_string(uid) || !family || !family[0] || strlen(family) >= sizeof(f->family)) {
    json_decref(result);
    flow_fail(f, 401, "unauthorized", "invalid refresh token");
    return;
  }
  snprintf(f->family, sizeof(f->family), "%s", family);
  flow_store(f, USER_GET, json_pack("{s:O}", "id", uid), on_refresh_user);
  json_decref(result);
}

static void refresh(http_req_t *req) {
  json_t *body = http_req_json(req);
  char old_hash[65];
  if (!body) return;
  int rc = refresh_field(req, body, old_hash);
  json_decref(body);
  if (rc < 0) return;
  if (rc > 0) {
    http_reply_error(req, 401, "unauthorized", "invalid refresh token", NULL);
    return;
  }
  auth_flow_t *f = auth_flow_new(req, FLOW_REFRESH);
  if (!f) {
    http_reply_error(req, 503, "unavailable", "try again", NULL);
    return;
  }
  auth_refresh_new(f->refresh, f->refresh_hash);
  snprintf(f->presented_hash, sizeof(f->presented_hash), "%s", old_hash);
  int64_t now = util_now_ms();
  json_t *p = json_pack("{s:s, s:s, s:I, s:I, s:s}", "token_hash", old_hash, "new_token_hash",
                        f->refresh_hash, "new_expires_at_ms",
                        (json_int_t)(now + (int64_t)req->app->cfg.refresh_token_ttl * 1000),
                        "now_ms", (json_int_t)now, "ip", f->ip);
  flow_store(f, REFRESH_ROTATE, p, on_rotated);
}

/* Logout answers 204 whatever the token: an unknown one has nothing to revoke. */
static void on_login_ended(void *ctx, int status) {
  http_req_t *req = ctx;
  if (status == STORE_OK)
    http_reply_empty(req, 204);
  else
    handlers_reply_store_error(req, status);
  http_req_unref(req);
}

/* The refresh family is revoked; then the login's access tokens and sessions
 * end too, on every instance (chat/revocations.h). */
static void on_revoked(void *ctx, int status, json_t *result) {
  http_req_t *req = ctx;
  auth_revocation_t rv;
  int known = status == STORE_OK &&
              auth_revocation_make(&rv, json_string_value(json_object_get(result, "user_id")),
                                   json_string_value(json_object_get(result, "family_id")),
                                   util_now_ms()) == 0 &&
              rv.login_id[0];
  json_decref(result);
  if (known) {
    if (revocations_end(req->app, &rv, on_login_ended, req) != 0)
      on_login_ended(req, STORE_EUNAVAILABLE);
    return;
  }
  if (status == STORE_OK || status == STORE_ENOTFOUND || status == STORE_EREVOKED)
    http_reply_empty(req, 204);
  else
    handlers_reply_store_error(req, status);
  http_req_unref(req);
}

static void logout(http_req_t *req) {
  json_t *body = http_req_json(req);
  char hash[65];
  if (!body) return;
  int rc = refresh_field(req, body, hash);
  json_decref(body);
  if (rc < 0) return;
  if (rc > 0) {
    http_reply_empty(req, 204);
    return;
  }
  handlers_store_call(req, REFRESH_REVOKE, json_pack("{s:s}", "token_hash", hash), on_revoked);
}

static void on_me(void *ctx, int status, json_t *result) {
  http_req_t *req = ctx;
  /* A deleted account's token stops here even on an instance that missed the
   * revocation on the bus. */
  if (status == STORE_ENOTFOUND ||
      (status == STORE_OK && json_is_true(json_object_get(result, "deleted")))) {
    http_reply_error(req, 401, "unauthorized", "the account no longer exists", NULL);
  } else if (status != STORE_OK) {
    handlers_reply_store_error(req, status);
  } else {
    http_reply_json(
        req, 200,
        json_pack("{s:o}", "user", attach_url_user(req->app, user_view_own(result), result)));
  }
  json_decref(result);
  http_req_unref(req);
}

static void me(http_req_t *req) {
  handlers_store_call(req, USER_GET, json_pack("{s:s}", "id", req->user_id), on_me);
}

static const route_t routes[] = {
    {"POST", "/api/auth/signup", 0, signup},
    {"POST", "/api/auth/login", 0, login},
    {"POST", "/api/auth/refresh", 0, refresh},
    {"POST", "/api/auth/logout", 0, logout},
    {"GET", "/api/auth/me", 1, me},
    {"GET", "/api/auth/verify", 1, me},
};

const route_table_t auth_routes = ROUTE_TABLE(routes);
