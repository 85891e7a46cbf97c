/* Read markers: moving a user's marker in a conversation and telling the other
 * participants. Used by POST .../read and the WebSocket read frame. Loop
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

#endif
