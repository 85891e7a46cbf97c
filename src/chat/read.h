/* Read markers and delivered positions: moving a user's position in a
 * conversation and telling the other participants. Used by POST .../read,
 * POST .../delivered and the WebSocket read and delivered frames. Loop
 * thread. */
#ifndef PARLEY_CHAT_READ_H
#define PARLEY_CHAT_READ_H

#include "parley/app.h"

typedef void (*read_mark_cb)(void *ctx, int status);

/* Moves user_id's read marker in conv to seq (never backwards, at most
 * last_seq) and, when it moved, sends a read frame to the other participants.
 * Returns 0 (cb runs once, with a store status) or a store status without
 * calling cb. Not a participant: STORE_ENOTFOUND. */
int read_mark(app_t *app, const char *conv, const char *user_id, long long seq, read_mark_cb cb,
              void *ctx);

/* The same for the delivered position (a participant's only; an agent's:
 * STORE_ENOTFOUND), announced as a delivered frame. It never falls behind the
 * read marker, which a read moves along. */
int read_mark_delivered(app_t *app, const char *conv, const char *user_id, long long seq,
                        read_mark_cb cb, void *ctx);

#endif
