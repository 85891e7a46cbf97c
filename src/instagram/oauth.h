/* "Continue with Instagram" (API.md, Instagram: connecting): the signed state
 * that binds an authorization to the session that started it (pure, any
 * thread), and the calls after Instagram's redirect: the code for a
 * short-lived token, that for a long-lived one, and the subscription of the
 * account to the webhook fields Parley handles (loop thread, through httpc). */
#ifndef PARLEY_INSTAGRAM_OAUTH_H
#define PARLEY_INSTAGRAM_OAUTH_H

#include <stddef.h>
#include <stdint.h>

#include "parley/app.h"

#define IG_OAUTH_STATE_TTL_MS (10 * 60 * 1000) /* an authorization has 10 minutes */
#define IG_OAUTH_STATE_MAX 128                 /* a state's length, NUL included */
/* What Parley asks the person to grant: its profile and its messages. */
#define IG_OAUTH_SCOPES \
  "instagram_business_basic,instagram_business_manage_messages,instagram_business_manage_comments"
/* The webhook fields Parley handles, as subscribed_apps takes them. */
#define IG_OAUTH_FIELDS                                                                 \
  "messages,messaging_postbacks,messaging_reactions,messaging_seen,messaging_referral," \
  "message_edit,comments"

/* Writes a state for the session (user_id, login_id) expiring at now_ms +
 * IG_OAUTH_STATE_TTL_MS: "<expiry ms>.<random nonce, hex>.<HMAC-SHA256 hex>",
 * the MAC under a key derived from key over the session and the rest. 0 or -1. */
int ig_oauth_state_make(const unsigned char key[32], const char *user_id, const char *login_id,
                        int64_t now_ms, char out[IG_OAUTH_STATE_MAX]);
/* 0 when state was made by ig_oauth_state_make for this session and has not
 * expired at now_ms; -1 when it is malformed, forged or another session's;
 * -2 when it expired. Constant-time on the MAC. */
int ig_oauth_state_check(const unsigned char key[32], const char *user_id, const char *login_id,
                         int64_t now_ms, const char *state);

/* The redirect URI Instagram sends the browser back to (the web client's
 * /instagram/connect under public_url), into out. 0, or -1 without public_url
 * or when it does not fit. */
int ig_oauth_redirect_uri(const app_t *app, char *out, size_t len);

/* The authorize URL for state: ig_oauth_authorize_url?client_id=&redirect_uri=
 * &response_type=code&scope=IG_OAUTH_SCOPES&state=. malloc'd, or NULL. */
char *ig_oauth_authorize_url(const app_t *app, const char *state);

/* The outcome of the code exchange, or of a subscription. */
typedef struct ig_oauth_result_s {
  int ok;
  const char *token;  /* the long-lived token when ok (borrowed for the callback) */
  int64_t expires_in; /* its lifetime, seconds */
  int refused;        /* Instagram refused the code (expired, used, not its app's): a 400 */
  const char *error;  /* what failed, for logs and the reply */
} ig_oauth_result_t;
typedef void (*ig_oauth_cb)(void *ctx, const ig_oauth_result_t *res);

/* Exchanges code: POST ig_oauth_token_url (form: client_id, client_secret,
 * grant_type authorization_code, redirect_uri, code) for a short-lived token,
 * then GET ig_oauth_long_lived_url?grant_type=ig_exchange_token for a
 * long-lived one. Never retried (a code works once). Returns 0 (cb runs once)
 * or -1. */
int ig_oauth_exchange(app_t *app, const char *code, ig_oauth_cb cb, void *ctx);
/* Subscribes the token's account to IG_OAUTH_FIELDS: POST {graph_api_base}
 * /me/subscribed_apps. Returns 0 (cb runs once; token unset) or -1. */
int ig_oauth_subscribe(app_t *app, const char *token, ig_oauth_cb cb, void *ctx);

#endif
