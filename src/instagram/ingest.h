/* Processing of stored Instagram webhook events: each becomes a contact, an
 * `instagram` conversation with the account's owner, a message (deduplicated by
 * mid) delivered live, a reaction or a read marker. Events are processed after
 * the webhook was acknowledged, and those left by a previous run at start-up.
 * Loop thread. */
#ifndef PARLEY_INSTAGRAM_INGEST_H
#define PARLEY_INSTAGRAM_INGEST_H

#include <jansson.h>

#include "parley/app.h"

typedef struct ig_ingest_s ig_ingest_t;

ig_ingest_t *ig_ingest_new(app_t *app);
void ig_ingest_free(ig_ingest_t *ig);
/* Processes pending events soon (after a webhook stored some, and at start-up). */
void ig_ingest_kick(ig_ingest_t *ig);
/* Gives each event of a webhook ({mid, payload}) its id before EVENT_INSERT,
 * and keeps its payload until it is processed, so that it is not parsed back
 * from the store. ig may be NULL (ids only). */
void ig_ingest_hold(ig_ingest_t *ig, json_t *events);
/* Forgets the cached account of user_id (connect or disconnect on this instance). */
void ig_ingest_forget_user(ig_ingest_t *ig, const char *user_id);
/* Jobs in flight (shutdown waits for zero). */
int ig_ingest_busy(const ig_ingest_t *ig);

/* The hook called for each new inbound event that may start a flow (a
 * message, a postback or quick-reply tap, a referral, a comment; not an echo,
 * not a retry) once it is stored. event = {kind: "message" | "postback" |
 * "story_reply" | "story_mention" | "referral" | "comment", text?, payload?
 * (postback), ref? (referral), comment_id?, media_id? (comment), story_id?}.
 * account (with token_cipher), contact and event are borrowed. app.c points
 * it at the flow runner, so that instagram/ does not depend on flows/. */
typedef void (*ig_ingest_message_fn)(void *ctx, const json_t *account, const json_t *contact,
                                     const json_t *event);
void ig_ingest_on_message(ig_ingest_t *ig, ig_ingest_message_fn fn, void *ctx);

typedef struct ig_stored_s {
  int status;      /* a store status */
  json_t *message; /* borrowed for the callback when status is STORE_OK */
  json_t *result;  /* MSG_INSERT's whole result {message, created, ...}, borrowed, or NULL */
} ig_stored_t;
typedef void (*ig_stored_fn)(void *ctx, const ig_stored_t *stored);

/* Stores a message the owner sends into the contact's conversation (creating
 * it if need be) and delivers it live when new: with status "pending" before
 * the Graph API send, or with Graph's message id after it (so the echo that
 * Meta sends later adds nothing); client_id (may be NULL) makes it idempotent.
 * graph (may be NULL) is kept on the message as it is sent, so that a retry
 * sends the same: {meta_message, comment_id?} (ig_outbox_send_message).
 * account, contact and graph are borrowed. For outbox.c; everyone else sends
 * with ig_outbox_send. */
void ig_ingest_store_outgoing(ig_ingest_t *ig, json_t *account, json_t *contact, const char *text,
                              const char *graph_mid, const char *client_id, const char *status,
                              const char *source, const json_t *graph, ig_stored_fn cb, void *ctx);

#endif
