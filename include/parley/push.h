/* Web Push (API.md, Push): the VAPID key, and pushes to the browsers of a
 * message's recipients who have no live session on any instance, sent through
 * the outbound HTTP client from a bounded queue (push_queue_max waiting,
 * push_concurrency at once), never on a request's path. Owned by the app
 * (app->push); loop thread. */
#ifndef PARLEY_PUSH_H
#define PARLEY_PUSH_H

#include <jansson.h>
#include <stddef.h>

#include "parley/app.h"

typedef struct push_s push_t;

/* Loads or generates the VAPID key (blocking file I/O: start-up only).
 * Returns NULL after logging why. */
push_t *push_new(app_t *app);
/* Frees what is queued; after httpc_close has cancelled what was in flight.
 * p may be NULL. */
void push_free(push_t *p);

/* The VAPID public key, unpadded base64url of its uncompressed point. */
const char *push_vapid_public(const push_t *p);

/* A message was just stored on this instance (fanout_message_new's hook):
 * looks up the recipients' subscriptions, presence (across instances),
 * do-not-disturb and mute, and queues a push for each subscription whose user
 * should hear of it. A recipient with a session here gets none: here[i] (one
 * per participant id) says so when here is not NULL, the hub otherwise.
 * Borrowed. */
void push_message_new(app_t *app, const json_t *message, const json_t *participant_ids,
                      const unsigned char *here);

/* A subscription of user_id was just stored on this instance (created, or
 * moved to them): every instance drops what it held of the user having none,
 * this one at once, the others through PUSH_SUBSCRIBED_CHANNEL. Borrowed. */
void push_subscribed(app_t *app, const char *user_id);
/* The bus's hook (app_t.on_push_subscribed): forgets that user_id has no
 * subscription, or everything held when user_id is NULL (the bus went down
 * or came back: a change may have gone unheard). p may be NULL. */
void push_forget_subs(push_t *p, const char *user_id);

/* Sends waiting and in flight (tests, metrics). */
size_t push_queued(const push_t *p);
int push_in_flight(const push_t *p);

#endif
