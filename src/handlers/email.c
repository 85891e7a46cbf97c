/* API.md's e-mail calls: verifying the address with the six-digit code mailed
 * at signup (and mailing a new one), and resetting a forgotten password with a
 * code that expires, works once and ends every login when used. Codes are made
 * and stored hashed here (auth_code_*) and mailed through app->mail. Every call
 * is rate-limited per client address and, where an address is named, per
 * address mailed; a reset request answers the same whether the account exists
 * or not, after the same store lookup. Loop thread. */
#include "handlers/email.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chat/attach_url.h"
#include "chat/revocations.h"
#include "chat/user_view.h"
#include "handlers/common.h"
#include "handlers/handlers.h"
#include "parley/auth.h"
#include "parley/bus.h"
#include "parley/log.h"
#include "parley/mail.h"
#include "parley/store.h"
#include "parley/util.h"

#define PASSWORD_MIN 8
#define PASSWORD_MAX 256
#define EMAIL_MAX_INPUT 320
#define CODE_INPUT_MAX 64
#define MAIL_TEXT_MAX 2048

int email_required(const app_t *app) {
  return app->cfg.email_verification && strcmp(app->cfg.email_verification, "required") == 0;
}

/* ---- mailing a code ---- */

typedef struct sending_s {
  app_t *app;
  char purpose[8];
  char email[255];
  char code[AUTH_RESET_CODE_LEN + 1];
} sending_t;

static void compose(const app_t *app, const sending_t *s, char *subject, size_t slen, char *text,
                    size_t tlen) {
  const char *base = app->cfg.public_url;
  char link[600] = "";
  if (strcmp(s->purpose, "verify") == 0) {
    int hours = app->cfg.verify_code_ttl_s / 3600;
    if (base)
      snprintf(link, sizeof(link), "\nOr open %s/verify-email?code=%s while logged in.\n", base,
               s->code);
    snprintf(subject, slen, "Your Parley verification code is %s", s->code);
    snprintf(text, tlen,
             "Welcome to Parley.\n\nTo confirm that this address is yours, enter this code:\n\n"
             "    %s\n%s\nThe code works once and expires in %d %s.\n"
             "If you did not sign up for Parley, you can ignore this mail.\n",
             s->code, link, hours > 0 ? hours : app->cfg.verify_code_ttl_s / 60,
             hours > 0 ? "hours" : "minutes");
  } else {
    char shown[AUTH_RESET_CODE_LEN + AUTH_RESET_CODE_LEN / 4 + 1];
    size_t n = 0;
    for (size_t i = 0; i < AUTH_RESET_CODE_LEN; i++) {
      if (i && i % 4 == 0) shown[n++] = '-';
      shown[n++] = s->code[i];
    }
    shown[n] = '\0';
    if (base)
      snprintf(link, sizeof(link), "\nOr open this link:\n\n    %s/reset-password?code=%s\n", base,
               s->code);
    snprintf(subject, slen, "Reset your Parley password");
    snprintf(text, tlen,
             "Someone (we hope you) asked to reset the password of the Parley account of this "
             "address.\n\nTo choose a new password, enter this code:\n\n    %s\n%s\n"
             "The code works once and expires in %d minutes. Using it signs you out on every "
             "device.\nIf you did not ask for this, you can ignore this mail: your password "
             "stays as it is.\n",
             shown, link, app->cfg.reset_code_ttl_s / 60);
  }
}

static void on_code_stored(void *ctx, int status, json_t *result) {
  sending_t *s = ctx;
  json_decref(result);
  if (status != STORE_OK) {
    log_warn("mail: cannot store a %s code (store status %d); nothing was sent", s->purpose,
             status);
  } else if (s->app->mail) {
    char subject[128], text[MAIL_TEXT_MAX];
    compose(s->app, s, subject, sizeof(subject), text, sizeof(text));
    if (mail_send(s->app->mail, s->email, subject, text) != 0)
      log_warn("mail: the %s code for a user could not be queued", s->purpose);
    sodium_memzero(text, sizeof(text));
  }
  sodium_memzero(s->code, sizeof(s->code));
  free(s);
}

void email_send_code(app_t *app, const char *purpose, const char *user_id, const char *email) {
  sending_t *s = calloc(1, sizeof(*s));
  if (!s) return;
  int verify = strcmp(purpose, "verify") == 0;
  s->app = app;
  snprintf(s->purpose, sizeof(s->purpose), "%s", verify ? "verify" : "reset");
  snprintf(s->email, sizeof(s->email), "%s", email);
  char id[25], hash[65];
  util_new_id(id);
  int64_t ttl = verify ? app->cfg.verify_code_ttl_s : app->cfg.reset_code_ttl_s;
  if (verify) {
    auth_code_digits(s->code);
    auth_code_hash(app->auth, "verify", user_id, s->code, hash);
  } else {
    /* The reset code's first characters are its id: a wrong try can count
     * against the code it names. */
    auth_code_reset(s->code);
    memcpy(id, s->code, AUTH_CODE_SELECTOR_LEN);
    id[AUTH_CODE_SELECTOR_LEN] = '\0';
    auth_code_hash(app->auth, "reset", "", s->code, hash);
  }
  json_t *p =
      json_pack("{s:s, s:s, s:s, s:s, s:I}", "id", id, "user_id", user_id, "purpose", s->purpose,
                "code_hash", hash, "expires_at_ms", (json_int_t)(util_now_ms() + ttl * 1000));
  if (!p || store_call(app->store, CODE_CREATE, p, on_code_stored, s) != 0) {
    log_warn("mail: the store refused a %s code; nothing was sent", s->purpose);
    sodium_memzero(s->code, sizeof(s->code));
    free(s);
  }
}

/* ---- the calls' flows: rate limits, then the work ---- */

enum mkind { M_VERIFY, M_RESEND, M_RESET, M_CONFIRM };

typedef struct mflow_s mflow_t;
struct mflow_s {
  http_req_t *req; /* referenced until mflow_end */
  enum mkind kind;
  int authed;      /* the caller presented a valid token: req->user_id */
  char email[255]; /* the address named, when not authed */
  char code[CODE_INPUT_MAX];
  char *password;
  size_t pwlen;
  char user_id[64];
  int step; /* the rate limit being taken */
  char keys[2][160];
  int rates[2], nlimits;
};

static mflow_t *mflow_new(http_req_t *req, enum mkind kind) {
  mflow_t *f = calloc(1, sizeof(*f));
  if (!f) {
    http_reply_error(req, 503, "unavailable", "try again", NULL);
    return NULL;
  }
  f->req = req;
  f->kind = kind;
  http_req_ref(req);
  return f;
}

static void mflow_end(mflow_t *f) {
  if (f->password) {
    sodium_memzero(f->password, f->pwlen);
    free(f->password);
  }
  sodium_memzero(f->code, sizeof(f->code));
  http_req_t *req = f->req;
  free(f);
  http_req_unref(req);
}

static void mflow_fail(mflow_t *f, int status, const char *code, const char *message) {
  if (!f->req->replied) http_reply_error(f->req, status, code, message, NULL);
  mflow_end(f);
}

static void invalid_code(mflow_t *f) {
  http_reply_error(f->req, 400, "invalid_code", "the code is wrong, expired or used", "code");
  mflow_end(f);
}

static void mflow_store(mflow_t *f, enum store_op op, json_t *p, store_cb cb) {
  if (store_call(f->req->app->store, op, p, cb, f) != 0)
    mflow_fail(f, 503, "unavailable", "try again");
}

static void add_limit(mflow_t *f, const char *what, const char *value, int rate) {
  char hex[33];
  unsigned char d[crypto_hash_sha256_BYTES];
  if (f->nlimits >= 2) return;
  /* Addresses go to the bus hashed, never in clear. */
  crypto_hash_sha256(d, (const unsigned char *)value, strlen(value));
  util_hex(d, 16, hex);
  snprintf(f->keys[f->nlimits], sizeof(f->keys[0]), "%s:%s", what, hex);
  f->rates[f->nlimits++] = rate;
}

static void proceed(mflow_t *f);
static void take_next(mflow_t *f);

static void on_rate(void *ctx, int allowed, int64_t retry_after_ms) {
  mflow_t *f = ctx;
  if (!allowed) {
    char secs[24];
    snprintf(secs, sizeof(secs), "%lld",
             (long long)(retry_after_ms <= 0 ? 1 : (retry_after_ms + 999) / 1000));
    http_reply_header(f->req, "Retry-After", secs);
    mflow_fail(f, 429, "rate_limited", "too many attempts, try again later");
    return;
  }
  f->step++;
  take_next(f);
}

static void take_next(mflow_t *f) {
  if (http_req_gone(f->req)) {
    mflow_end(f);
    return;
  }
  if (f->step >= f->nlimits) {
    proceed(f);
    return;
  }
  int rate = f->rates[f->step];
  if (bus_bucket_take(f->req->app->bus, f->keys[f->step], rate, rate, on_rate, f) != 0)
    mflow_fail(f, 503, "unavailable", "try again");
}

/* ---- verification ---- */

static void on_verified(void *ctx, int status, json_t *result) {
  mflow_t *f = ctx;
  if (status == STORE_ENOTFOUND) {
    json_decref(result);
    invalid_code(f);
    return;
  }
  if (status != STORE_OK) {
    handlers_reply_store_error(f->req, status);
    mflow_end(f);
    return;
  }
  http_reply_json(
      f->req, 200,
      json_pack("{s:o}", "user", attach_url_user(f->req->app, user_view_own(result), result)));
  json_decref(result);
  mflow_end(f);
}

static void use_verify_code(mflow_t *f) {
  char hash[65];
  auth_code_hash(f->req->app->auth, "verify", f->user_id, f->code, hash);
  mflow_store(f, CODE_USE,
              json_pack("{s:s, s:s, s:s, s:I, s:i}", "purpose", "verify", "user_id", f->user_id,
                        "code_hash", hash, "now_ms", (json_int_t)util_now_ms(), "max_attempts",
                        f->req->app->cfg.code_max_attempts),
              on_verified);
}

/* The account of the address named (verify without a token, resend, reset). */
static void on_user_of_email(void *ctx, int status, json_t *result) {
  mflow_t *f = ctx;
  int found = status == STORE_OK && !json_is_true(json_object_get(result, "deleted"));
  if (status != STORE_OK && status != STORE_ENOTFOUND) {
    json_decref(result);
    handlers_reply_store_error(f->req, status);
    mflow_end(f);
    return;
  }
  const char *uid = found ? json_string_value(json_object_get(result, "id")) : NULL;
  int verified = found && json_is_true(json_object_get(result, "email_verified"));
  const char *address = found ? json_string_value(json_object_get(result, "email")) : NULL;
  if (uid) snprintf(f->user_id, sizeof(f->user_id), "%s", uid);
  /* A caller known by token named no address: theirs is the one on file. */
  if (address && !f->email[0]) snprintf(f->email, sizeof(f->email), "%s", address);
  json_decref(result);
  if (f->kind == M_VERIFY) {
    if (!uid) {
      invalid_code(f); /* as a wrong code: which addresses exist is not told */
      return;
    }
    use_verify_code(f);
    return;
  }
  /* Resend and reset answer the same whatever was found; the mail goes after. */
  http_reply_json(f->req, 202, json_object());
  if (uid && f->kind == M_RESET) email_send_code(f->req->app, "reset", f->user_id, f->email);
  if (uid && f->kind == M_RESEND && !verified)
    email_send_code(f->req->app, "verify", f->user_id, f->email);
  mflow_end(f);
}

/* ---- password reset ---- */

static void on_logins_ended(void *ctx, int status) {
  mflow_t *f = ctx;
  if (status != STORE_OK)
    log_warn("password reset: the logins of user %s could not all be ended", f->user_id);
  http_reply_empty(f->req, 204);
  mflow_end(f);
}

static void on_all_ended(void *ctx, int status, json_t *result) {
  mflow_t *f = ctx;
  const json_t *ended = json_object_get(result, "ended");
  if (status != STORE_OK || !json_is_array(ended) ||
      revocations_end_logins(f->req->app, f->user_id, ended, on_logins_ended, f) != 0)
    on_logins_ended(f, status == STORE_OK ? STORE_EUNAVAILABLE : status);
  json_decref(result);
}

/* The password changed: every login of the account ends, on every instance. */
static void on_reset_used(void *ctx, int status, json_t *result) {
  mflow_t *f = ctx;
  const char *uid = json_string_value(json_object_get(result, "id"));
  if (status == STORE_ENOTFOUND) {
    json_decref(result);
    invalid_code(f);
    return;
  }
  if (status != STORE_OK || !uid) {
    json_decref(result);
    handlers_reply_store_error(f->req, status != STORE_OK ? status : STORE_EUNAVAILABLE);
    mflow_end(f);
    return;
  }
  snprintf(f->user_id, sizeof(f->user_id), "%s", uid);
  json_decref(result);
  mflow_store(f, LOGIN_END,
              json_pack("{s:s, s:I}", "user_id", f->user_id, "now_ms", (json_int_t)util_now_ms()),
              on_all_ended);
}

static void on_new_hash(void *ctx, int status, const char *hash) {
  mflow_t *f = ctx;
  if (status != 0 || !hash) {
    mflow_fail(f, 503, "unavailable", "try again");
    return;
  }
  char code_hash[65], selector[AUTH_CODE_SELECTOR_LEN + 1];
  memcpy(selector, f->code, AUTH_CODE_SELECTOR_LEN);
  selector[AUTH_CODE_SELECTOR_LEN] = '\0';
  auth_code_hash(f->req->app->auth, "reset", "", f->code, code_hash);
  mflow_store(f, CODE_USE,
              json_pack("{s:s, s:s, s:s, s:I, s:i, s:s}", "purpose", "reset", "id", selector,
                        "code_hash", code_hash, "now_ms", (json_int_t)util_now_ms(), "max_attempts",
                        f->req->app->cfg.code_max_attempts, "password_hash", hash),
              on_reset_used);
}

/* ---- after the rate limits ---- */

static void proceed(mflow_t *f) {
  app_t *app = f->req->app;
  switch (f->kind) {
    case M_VERIFY:
      if (f->authed) {
        snprintf(f->user_id, sizeof(f->user_id), "%s", f->req->user_id);
        use_verify_code(f);
        return;
      }
      /* Else the account of the address named. */
      __attribute__((fallthrough));
    case M_RESET:
      mflow_store(f, USER_GET_BY_EMAIL, json_pack("{s:s}", "email", f->email), on_user_of_email);
      return;
    case M_RESEND:
      if (f->authed) {
        mflow_store(f, USER_GET, json_pack("{s:s}", "id", f->req->user_id), on_user_of_email);
        return;
      }
      mflow_store(f, USER_GET_BY_EMAIL, json_pack("{s:s}", "email", f->email), on_user_of_email);
      return;
    case M_CONFIRM:
      if (auth_password_hash(app->auth, f->password, f->pwlen, on_new_hash, f) != 0)
        mflow_fail(f, 503, "unavailable", "too many password changes in progress, try again");
      return;
  }
}

/* ---- input ---- */

/* An optional bearer token: absent 0; valid 1 (req->user_id set); else -1
 * after replying (401, or 503 while revocations load). */
static int optional_auth(http_req_t *req) {
  if (!http_req_header(req, "authorization")) return 0;
  const http_server_t *srv = req->server;
  int rc = srv->authenticate ? srv->authenticate(srv->auth_ctx, req) : -1;
  if (rc == 0) return 1;
  if (rc == -2) {
    http_reply_header(req, "Retry-After", "1");
    http_reply_error(req, 503, "unavailable", "try again", NULL);
  } else {
    http_reply_error(req, 401, "unauthorized", "invalid or expired token", NULL);
  }
  return -1;
}

static int email_field(http_req_t *req, json_t *body, int required, char out[255]) {
  int failed = 0;
  const char *raw =
      handlers_string_field(req, body, "email", required, 1, EMAIL_MAX_INPUT, &failed);
  if (!raw) return failed ? -1 : 0;
  if (auth_email_normalize(raw, strlen(raw), out) != 0) {
    http_reply_error(req, 400, "validation_failed", "email must be a valid email address", "email");
    return -1;
  }
  return 1;
}

/* The code as typed, normalised into f->code; a code that cannot be one of
 * ours (alphabet, length) is a wrong code. Returns 0, or -1 after replying. */
static int code_field(mflow_t *f, json_t *body, size_t want) {
  int failed = 0;
  const char *raw = handlers_string_field(f->req, body, "code", 1, 1, CODE_INPUT_MAX - 1, &failed);
  if (!raw) {
    mflow_end(f);
    return -1;
  }
  if (auth_code_normalize(raw, strlen(raw), f->code, sizeof(f->code)) != 0 ||
      strlen(f->code) != want) {
    invalid_code(f);
    return -1;
  }
  return 0;
}

static void limit_ip(mflow_t *f, const char *what, int rate) {
  char addr[48];
  http_req_client_addr(f->req, addr, sizeof(addr));
  add_limit(f, what, addr, rate);
}

/* ---- handlers ---- */

static void verify_email(http_req_t *req) {
  int authed = optional_auth(req);
  if (authed < 0) return;
  json_t *body = http_req_json(req);
  if (!body) return;
  mflow_t *f = NULL;
  char email[255] = "";
  int has_email = authed ? 0 : email_field(req, body, 1, email);
  if (has_email < 0 || !(f = mflow_new(req, M_VERIFY))) goto done;
  f->authed = authed;
  snprintf(f->email, sizeof(f->email), "%s", email);
  if (code_field(f, body, AUTH_VERIFY_CODE_LEN) != 0) goto done;
  /* Guesses are slowed per address; each code dies after code_max_attempts. */
  limit_ip(f, "code:ip", req->app->cfg.auth_rate_per_ip);
  take_next(f);
done:
  json_decref(body);
}

static void resend(http_req_t *req) {
  int authed = optional_auth(req);
  if (authed < 0) return;
  json_t *body = req->body.len || !authed ? http_req_json(req) : json_object();
  if (!body) return;
  char email[255] = "";
  mflow_t *f = NULL;
  if ((authed ? 0 : email_field(req, body, 1, email)) < 0 || !(f = mflow_new(req, M_RESEND)))
    goto done;
  f->authed = authed;
  snprintf(f->email, sizeof(f->email), "%s", email);
  limit_ip(f, "mail:ip", req->app->cfg.mail_rate_per_ip);
  add_limit(f, "mail:user", authed ? req->user_id : email, req->app->cfg.mail_rate_per_email);
  take_next(f);
done:
  json_decref(body);
}

static void reset_request(http_req_t *req) {
  json_t *body = http_req_json(req);
  char email[255];
  mflow_t *f;
  if (!body) return;
  if (email_field(req, body, 1, email) > 0 && (f = mflow_new(req, M_RESET))) {
    snprintf(f->email, sizeof(f->email), "%s", email);
    limit_ip(f, "mail:ip", req->app->cfg.mail_rate_per_ip);
    add_limit(f, "mail:email", email, req->app->cfg.mail_rate_per_email);
    take_next(f);
  }
  json_decref(body);
}

static void reset_confirm(http_req_t *req) {
  json_t *body = http_req_json(req);
  mflow_t *f = NULL;
  if (!body) return;
  json_t *pw = json_object_get(body, "password");
  size_t len = json_is_string(pw) ? json_string_length(pw) : 0;
  if (!json_is_string(pw) || len < PASSWORD_MIN || len > PASSWORD_MAX ||
      !util_utf8_valid(json_string_value(pw), len)) {
    http_reply_error(req, 400, "validation_failed",
                     pw ? "password must be 8 to 256 bytes of valid UTF-8" : "password is required",
                     "password");
    goto done;
  }
  if (!(f = mflow_new(req, M_CONFIRM))) goto done;
  if (code_field(f, body, AUTH_RESET_CODE_LEN) != 0) goto done;
  f->password = malloc(len + 1);
  if (!f->password) {
    mflow_fail(f, 503, "unavailable", "try again");
    goto done;
  }
  memcpy(f->password, json_string_value(pw), len);
  f->pwlen = len;
  limit_ip(f, "code:ip", req->app->cfg.auth_rate_per_ip);
  take_next(f);
done:
  json_decref(body);
}

static const route_t routes[] = {
    {"POST", "/api/auth/verify-email", 0, verify_email},
    {"POST", "/api/auth/verify-email/resend", 0, resend},
    {"POST", "/api/auth/password-reset", 0, reset_request},
    {"POST", "/api/auth/password-reset/confirm", 0, reset_confirm},
};

const route_table_t email_routes = ROUTE_TABLE(routes);
