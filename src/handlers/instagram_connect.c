/* API.md's Instagram section, connecting an account: with a token given by
 * hand (POST /api/instagram/connect) or through Instagram Login ("Continue
 * with Instagram": an authorize URL with a state bound to the session, then
 * the code exchanged for a long-lived token and the account subscribed to
 * webhooks). Both verify the token with Graph's /me and store it sealed. Loop
 * thread. */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "handlers/common.h"
#include "handlers/handlers.h"
#include "instagram/health.h"
#include "instagram/ingest.h"
#include "instagram/oauth.h"
#include "parley/instagram.h"
#include "parley/log.h"
#include "parley/util.h"

/* A token whose lifetime the caller does not give is taken to be Meta's
 * long-lived one (60 days); expires_in may say otherwise (1 second to 1 year). */
#define DEFAULT_TOKEN_TTL_S (60LL * 86400)
#define MAX_TOKEN_TTL_S (365LL * 86400)

/* ---- accounts ---- */

static json_t *public_account(json_t *account) {
  json_t *a = json_deep_copy(account);
  json_object_del(a, "token_cipher");
  return a;
}

static void connect_done(void *ctx, int status, json_t *result) {
  http_req_t *req = ctx;
  if (status == STORE_ECONFLICT)
    http_reply_error(req, 409, "conflict", "this Instagram account is connected by another user",
                     "ig_user_id");
  else if (status != STORE_OK)
    handlers_reply_store_error(req, status);
  else
    http_reply_json(req, 200, json_pack("{s:o}", "account", public_account(result)));
  if (status == STORE_OK) ig_health_push(req->app, req->user_id, result);
  ig_ingest_forget_user(req->app->ingest, req->user_id);
  json_decref(result);
  http_req_unref(req);
}

static int all_digits(const char *s) {
  if (!*s) return 0;
  for (; *s; s++)
    if (*s < '0' || *s > '9') return 0;
  return 1;
}

/* A connection being verified: the request, the token and the id the caller
 * claimed (if any), while Graph says whose token it is. */
typedef struct connect_s {
  http_req_t *req;
  char *token;
  char *claimed; /* NULL when the body named no ig_user_id */
  char *code;    /* Continue with Instagram: the code, exchanged once its state is used */
  int64_t ttl_s; /* the token's lifetime from now */
  int subscribe; /* Instagram Login: subscribe the account to webhooks before storing */
  char ig[40];   /* the account Graph named, and its username, once verified */
  char username[72];
} connect_t;

static void connect_free(connect_t *c) {
  if (c->token) sodium_memzero(c->token, strlen(c->token));
  free(c->token);
  free(c->claimed);
  if (c->code) sodium_memzero(c->code, strlen(c->code));
  free(c->code);
  http_req_unref(c->req);
  free(c);
}

/* Seals the verified token and stores the account. */
static void store_account(connect_t *c) {
  http_req_t *req = c->req;
  char *sealed = ig_token_seal(req->app->secret_key, c->token);
  char expires[32];
  util_iso8601(util_now_ms() + c->ttl_s * 1000, expires);
  if (!sealed) {
    http_reply_error(req, 503, "unavailable", "cannot seal the token", NULL);
    return;
  }
  handlers_store_call(req, IG_ACCOUNT_UPSERT,
                      json_pack("{s:s, s:s, s:s?, s:s, s:s}", "user_id", req->user_id, "ig_user_id",
                                c->ig, "username", c->username[0] ? c->username : NULL,
                                "token_cipher", sealed, "token_expires_at", expires),
                      connect_done);
  free(sealed);
}

/* Instagram Login: the account is stored only once it is subscribed, so a
 * connected account always gets its webhooks. */
static void connect_subscribed(void *ctx, const ig_oauth_result_t *res) {
  connect_t *c = ctx;
  if (res->ok)
    store_account(c);
  else
    http_reply_error(c->req, 502, "upstream_error", res->error, NULL);
  connect_free(c);
}

/* Graph answered /me: the account is the one Meta names (user_id, the id
 * webhooks carry), never the one the body claims. */
static void connect_verified(void *ctx, const graph_result_t *res) {
  connect_t *c = ctx;
  http_req_t *req = c->req;
  const char *ig = json_string_value(json_object_get(res->body, "user_id"));
  const char *username = json_string_value(json_object_get(res->body, "username"));
  if (!res->ok && (res->code == 190 || res->http_status == 400 || res->http_status == 401 ||
                   res->http_status == 403)) {
    http_reply_error(req, 400, "validation_failed",
                     "Instagram refused this access token (expired, revoked or not a token)",
                     "access_token");
  } else if (!res->ok) {
    http_reply_error(req, 502, "upstream_error", "the Graph API could not verify the token", NULL);
  } else if (!ig || !all_digits(ig) || strlen(ig) > 32) {
    http_reply_error(req, 502, "upstream_error", "the Graph API did not name the account", NULL);
  } else if (c->claimed && strcmp(c->claimed, ig) != 0) {
    http_reply_error(req, 400, "validation_failed",
                     "the access token belongs to another Instagram account", "ig_user_id");
  } else {
    snprintf(c->ig, sizeof(c->ig), "%s", ig);
    snprintf(c->username, sizeof(c->username), "%s", username ? username : "");
    if (c->subscribe) {
      if (ig_oauth_subscribe(req->app, c->token, connect_subscribed, c) == 0) return;
      http_reply_error(req, 503, "unavailable", "cannot reach the Graph API", NULL);
    } else {
      store_account(c);
    }
  }
  connect_free(c);
}

static void account_connect(http_req_t *req) {
  json_t *body = http_req_json(req);
  if (!body) return;
  int failed = 0;
  const char *ig = handlers_string_field(req, body, "ig_user_id", 0, 1, 32, &failed);
  const char *token =
      failed ? NULL : handlers_string_field(req, body, "access_token", 1, 1, 4096, &failed);
  if (!failed) handlers_string_field(req, body, "username", 0, 1, 64, &failed);
  if (failed) goto done;
  if (ig && !all_digits(ig)) {
    http_reply_error(req, 400, "validation_failed", "ig_user_id must be a numeric id",
                     "ig_user_id");
    goto done;
  }
  json_t *ttl = json_object_get(body, "expires_in");
  if (ttl && (!json_is_integer(ttl) || json_integer_value(ttl) < 1 ||
              json_integer_value(ttl) > MAX_TOKEN_TTL_S)) {
    http_reply_error(req, 400, "validation_failed",
                     "expires_in must be the token's lifetime in seconds (1 to 31536000)",
                     "expires_in");
    goto done;
  }
  connect_t *c = calloc(1, sizeof(*c));
  if (c) {
    c->token = strdup(token);
    c->claimed = ig ? strdup(ig) : NULL;
  }
  if (!c || !c->token || (ig && !c->claimed)) {
    if (c) {
      free(c->token);
      free(c->claimed);
      free(c);
    }
    http_reply_error(req, 503, "unavailable", "out of memory", NULL);
    goto done;
  }
  c->req = req;
  c->ttl_s = ttl ? (int64_t)json_integer_value(ttl) : DEFAULT_TOKEN_TTL_S;
  http_req_ref(req);
  if (graph_get_me(req->app->graph, c->token, connect_verified, c) != 0) {
    http_reply_error(req, 503, "unavailable", "cannot reach the Graph API", NULL);
    connect_free(c);
  }
done:
  json_decref(body);
}

/* ---- Continue with Instagram ---- */

static int oauth_ready(http_req_t *req) {
  char uri[1024];
  const config_t *cfg = &req->app->cfg;
  if (cfg->ig_app_id && cfg->ig_app_secret &&
      ig_oauth_redirect_uri(req->app, uri, sizeof(uri)) == 0)
    return 1;
  http_reply_error(req, 503, "unavailable",
                   "Continue with Instagram is not configured (ig_app_id, ig_app_secret, "
                   "public_url)",
                   NULL);
  return 0;
}

/* The authorize URL, with a state bound to this session (its user and login)
 * that expires in 10 minutes. */
static void oauth_start(http_req_t *req) {
  char state[IG_OAUTH_STATE_MAX];
  if (!oauth_ready(req)) return;
  if (ig_oauth_state_make(req->app->secret_key, req->user_id, req->login_id, util_now_ms(),
                          state) != 0) {
    http_reply_error(req, 503, "unavailable", "cannot make a state", NULL);
    return;
  }
  char *url = ig_oauth_authorize_url(req->app, state);
  if (url)
    http_reply_json(req, 200, json_pack("{s:s, s:s}", "url", url, "state", state));
  else
    http_reply_error(req, 503, "unavailable", "out of memory", NULL);
  free(url);
}

static void oauth_exchanged(void *ctx, const ig_oauth_result_t *res) {
  connect_t *c = ctx;
  http_req_t *req = c->req;
  if (res->ok) {
    c->token = strdup(res->token);
    c->ttl_s = res->expires_in > MAX_TOKEN_TTL_S ? MAX_TOKEN_TTL_S : res->expires_in;
    if (c->token && graph_get_me(req->app->graph, c->token, connect_verified, c) == 0) return;
    http_reply_error(req, 503, "unavailable", "cannot reach the Graph API", NULL);
  } else if (res->refused) {
    http_reply_error(req, 400, "validation_failed",
                     "Instagram refused the authorization code (expired or already used): "
                     "connect again",
                     "code");
  } else {
    http_reply_error(req, 502, "upstream_error", res->error, NULL);
  }
  connect_free(c);
}

static void oauth_state_used(void *ctx, int status, json_t *result) {
  connect_t *c = ctx;
  http_req_t *req = c->req;
  json_decref(result);
  if (status == STORE_ECONFLICT) {
    http_reply_error(req, 400, "validation_failed",
                     "this authorization was used already: connect again", "state");
  } else if (status != STORE_OK) {
    handlers_reply_store_error(req, status);
  } else if (ig_oauth_exchange(req->app, c->code, oauth_exchanged, c) == 0) {
    return;
  } else {
    http_reply_error(req, 503, "unavailable", "cannot reach Instagram", NULL);
  }
  connect_free(c);
}

/* Instagram sent the browser back to the web client with code and state; the
 * client hands them over with its own token, so the state is checked against
 * the very session that started the authorization. */
static void oauth_finish(http_req_t *req) {
  json_t *body = http_req_json(req);
  if (!body) return;
  int failed = 0;
  const char *code = handlers_string_field(req, body, "code", 1, 1, 2048, &failed);
  const char *state =
      failed ? NULL : handlers_string_field(req, body, "state", 1, 1, IG_OAUTH_STATE_MAX, &failed);
  if (failed || !oauth_ready(req)) goto done;
  int st =
      ig_oauth_state_check(req->app->secret_key, req->user_id, req->login_id, util_now_ms(), state);
  if (st != 0) {
    http_reply_error(req, 400, "validation_failed",
                     st == -2 ? "the authorization expired: connect again"
                              : "the state does not belong to this session",
                     "state");
    goto done;
  }
  connect_t *c = calloc(1, sizeof(*c));
  if (!c || !(c->code = strdup(code))) {
    free(c);
    http_reply_error(req, 503, "unavailable", "out of memory", NULL);
    goto done;
  }
  c->req = req;
  c->subscribe = 1;
  http_req_ref(req);
  /* One use: the state is recorded as used (its MAC, until it expires)
   * before the code is exchanged, atomically in the store, so a replay on
   * any instance within its 10 minutes is refused. */
  const char *mac = strrchr(state, '.');
  json_t *p = json_pack("{s:s, s:I, s:I}", "key", mac ? mac + 1 : state, "expires_at_ms",
                        (json_int_t)strtoll(state, NULL, 10), "now_ms", (json_int_t)util_now_ms());
  if (store_call(req->app->store, OAUTH_STATE_USE, p, oauth_state_used, c) != 0) {
    http_reply_error(req, 503, "unavailable", "the store is unavailable", NULL);
    connect_free(c);
  }
done:
  json_decref(body);
}

static const route_t routes[] = {
    {"POST", "/api/instagram/connect", 1, account_connect},
    {"GET", "/api/instagram/oauth/start", 1, oauth_start},
    {"POST", "/api/instagram/oauth/finish", 1, oauth_finish},
};

const route_table_t instagram_connect_routes = ROUTE_TABLE(routes);
