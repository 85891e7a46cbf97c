/* Bots: accounts a user owns (a user of kind "bot") that post through the
 * REST API with "Authorization: Bot <token>" and hear every message of their
 * conversations at a webhook. Deliveries are kept in the store's outbox
 * (BOT_* in store_ops.h) until the webhook answers 2xx: one at a time per
 * bot, oldest first, retried with exponential backoff and jitter, the bot
 * disabled (and its owner told) after bot_max_failures failures in a row.
 * Loop thread, except the pure helpers. */
#ifndef PARLEY_BOTS_H
#define PARLEY_BOTS_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "parley/app.h"
#include "parley/http.h"

typedef struct bots_s bots_t;

/* ---- pure helpers (any thread) ---- */

#define BOTS_COMMAND_NAME_MAX 32
#define BOTS_COMMAND_ARGS_MAX 4096

/* A command: "/name args" or "/name@bot args". */
typedef struct bots_command_s {
  char name[BOTS_COMMAND_NAME_MAX + 1]; /* lower-cased, [a-z0-9_] */
  char bot[BOTS_COMMAND_NAME_MAX + 1];  /* after '@', "" when none */
  const char *args;                     /* points into the text: after the blanks past the name */
  size_t args_len;                      /* without trailing blanks */
} bots_command_t;

/* Parses text (len bytes) as a command: 1 with *out filled, 0 when it is not
 * one (no leading '/', a name that is empty, too long or not [A-Za-z0-9_]). */
int bots_command_parse(const char *text, size_t len, bots_command_t *out);
/* The command of a message text as {name, args, argv: [word], bot?}, or JSON
 * null. A new reference. */
json_t *bots_command_json(const char *text);

/* The delay before attempt attempts + 1, after attempts failures (>= 1):
 * base * 2^(attempts-1) capped at max, of which a random part up to half is
 * taken off (jitter; r is uniform in [0, 1)). */
int64_t bots_backoff_ms(int attempts, int64_t base, int64_t max, double r);

/* The signature header's value of body under secret: "sha256=<hex>" of
 * HMAC-SHA256, into out (at least 72 bytes). */
void bots_sign(const char *secret, const char *body, size_t len, char out[72]);

/* ---- the module (loop thread) ---- */

/* Starts the outbox (its timer) and the bot registry; NULL when out of
 * memory. It stops sending once app->shutting_down is set. */
bots_t *bots_new(app_t *app);
/* Requests and claims in flight. Shutdown does not wait for them: a request
 * cancelled by httpc_close is sent again once its bot's lease runs out. */
int bots_busy(const bots_t *b);
/* Stops claiming and closes the timers (shutdown); idempotent, b may be NULL. */
void bots_stop(bots_t *b);
/* Frees it once the loop has ended. b may be NULL. */
void bots_free(bots_t *b);

/* A message was stored (created) in a conversation whose participants are
 * participant_ids: queues its delivery to each bot among them but its sender
 * (a secret conversation's ciphertext never). An empty participant_ids is a
 * channel's: the store finds the channel's bots. Borrowed. */
void bots_on_message(app_t *app, const json_t *message, const json_t *participant_ids);
/* A message changed: type "message.edited", "message.deleted" or
 * "message.reaction" (reaction: {emoji, added}, else NULL), by user by.
 * Queued, through the same outbox and so in order with the new messages, to
 * each bot among participant_ids (empty: a channel's), by itself included.
 * Borrowed. */
void bots_on_change(app_t *app, const char *type, const json_t *message,
                    const json_t *participant_ids, const char *by, const json_t *reaction);

/* A bot was created here: known at once to bots_on_message (other instances
 * learn it from the bus, or at their next refresh). */
void bots_known(app_t *app, const char *bot_id);

/* The HTTP server's authenticate_bot hook (ctx: the app); see http.h. */
int bots_authenticate(void *ctx, http_req_t *req);

/* ---- the owner's API (the handlers' calls) ---- */

/* The answer to a bot call: HTTP status, and the body or an error. */
typedef struct bots_res_s {
  int http;            /* 200, 201, 204 or an error status */
  json_t *body;        /* borrowed for the callback; NULL for errors and 204 */
  const char *code;    /* error code, or NULL */
  const char *message; /* error sentence */
  const char *field;   /* the field at fault, or NULL */
} bots_res_t;
typedef void (*bots_res_fn)(void *ctx, const bots_res_t *res);

/* POST /api/bots {name, webhook_url}: 201 {bot, token, signing_secret} (shown
 * this once). PATCH {name?, webhook_url?, enabled?: true}: 200 {bot}.
 * POST /api/bots/:id/token: 200 {bot, token}. body is borrowed; owner is the
 * caller. Each calls done once (maybe before it returns). */
void bots_create(app_t *app, const char *owner, const json_t *body, bots_res_fn done, void *ctx);
void bots_update(app_t *app, const char *owner, const char *id, const json_t *body,
                 bots_res_fn done, void *ctx);
void bots_rotate(app_t *app, const char *owner, const char *id, bots_res_fn done, void *ctx);

#endif
