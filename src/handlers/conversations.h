/* What conversations.c shares with the other messaging files. Loop thread. */
#ifndef PARLEY_HANDLERS_CONVERSATIONS_H
#define PARLEY_HANDLERS_CONVERSATIONS_H

#include <jansson.h>

struct app_s;

/* The conversation as API.md shows it to user_id: participants without read
 * markers, and unread_count = last_seq - the user's last_read_seq (0 for a
 * user who is not a participant). conv is borrowed; returns a new object. */
json_t *conversations_view(const json_t *conv, const char *user_id);
/* The participants' ids of a store conversation as a new array. */
json_t *conversations_participant_ids(const json_t *conv);
/* The user's read marker in a store conversation, or -1 if not a participant. */
long long conversations_read_seq(const json_t *conv, const char *user_id);

/* Moves user_id's read marker in conv to seq (never backwards, at most
 * last_seq) and, when it moved, sends a read frame to the other participants.
 * Returns 0 (cb runs once, with a store status) or a store status without
 * calling cb. Not a participant: STORE_ENOTFOUND. */
typedef void (*conversations_read_cb)(void *ctx, int status);
int conversations_mark_read(struct app_s *app, const char *conv, const char *user_id, long long seq,
                            conversations_read_cb cb, void *ctx);

#endif
