/* The dispatcher: the bus has one message handler per process, and this is it.
 * Envelopes on ENVELOPE_CHANNEL go to fan-out and presence, revocations on
 * AUTH_REVOKE_CHANNEL (deleted accounts) and AUTH_LOGOUT_CHANNEL (ended
 * logins) to revocations.c, which refuses their tokens and closes their
 * sessions here. Loop thread. */
#ifndef PARLEY_CHAT_DISPATCH_H
#define PARLEY_CHAT_DISPATCH_H

#include <stddef.h>

#include "parley/app.h"

/* Installs the bus handlers (context: the app) and subscribes to its
 * channels (the envelope channel only when the bus reaches other instances).
 * A failed subscription is logged; the instance still serves its own users. */
void dispatch_start(app_t *app);
/* Unsubscribes from the envelope channel (shutdown). */
void dispatch_stop(app_t *app);

/* One bus message, as the bus delivers it (exposed for tests). */
void dispatch_message(app_t *app, const char *channel, const char *payload, size_t len);

#endif
