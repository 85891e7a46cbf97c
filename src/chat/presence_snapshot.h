/* The presence.snapshot a session gets right after ready: how up to
 * PRESENCE_VIEW_MAX_USERS of the users who share a conversation with its user
 * stand. Loop thread. */
#ifndef PARLEY_CHAT_PRESENCE_SNAPSHOT_H
#define PARLEY_CHAT_PRESENCE_SNAPSHOT_H

#include <stdint.h>

#include "parley/app.h"

/* Starts the lookups; the frame goes to session `session` of user_id if it is
 * still open when they complete (and nowhere if a lookup failed: the client
 * can ask GET /api/presence). Holds no session pointer. */
void presence_snapshot(app_t *app, const char *user_id, uint64_t session);

#endif
