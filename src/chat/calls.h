/* Calls: the state of WebRTC calls between the two users of a direct
 * conversation, kept in the store (parley/store_ops.h, CALL_*) so that every
 * instance can relay and judge a call's signalling. The instance that started
 * a call owns its ring timeout and renews its lease; a call whose instance
 * died is ended by any instance's sweep once the lease runs out, so nobody
 * stays busy. Every call that ends leaves one history message in its
 * conversation (payload call: {id, media, status, duration_ms}). Owned by the
 * app (app->calls); loop thread. */
#ifndef PARLEY_CHAT_CALLS_H
#define PARLEY_CHAT_CALLS_H

#include <jansson.h>
#include <stdint.h>

#include "parley/app.h"

/* A call's lease, renewed every third of it by its instance. */
#define CALLS_LEASE_MS 30000
/* Calls one instance owns at most (a new one beyond: refused). */
#define CALLS_LOCAL_MAX 4096

typedef struct calls_s calls_t;

/* Starts the tick (ring timeouts, renewals, the sweep). NULL when out of memory. */
calls_t *calls_new(app_t *app);
/* Stops the tick (shutdown). */
void calls_stop(calls_t *c);
/* Frees c after the loop ended; c may be NULL. */
void calls_free(calls_t *c);

/* This instance started call id (ringing): it times the ring out and renews
 * the lease. Returns 0, or -1 when it owns CALLS_LOCAL_MAX calls already. */
int calls_track(calls_t *c, const char *id);

/* A call just ended (a store call after CALL_SET_STATE or CALL_SWEEP; borrowed):
 * stores its history message in the conversation and delivers it. status is
 * the reason when it was never answered ("missed", "declined", "busy");
 * answered calls are "ended" with their duration. */
void calls_record(app_t *app, const json_t *call, const char *status);
/* {"type": type, "call_id", "conversation_id", ...extra} to both users of call
 * on every instance; extra (may be NULL) is borrowed. */
void calls_tell_both(app_t *app, const json_t *call, const char *type, const json_t *extra);

#endif
