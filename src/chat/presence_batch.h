/* Presence batching: the presence changes bound for each recipient on this
 * instance, coalesced so that a connection storm (thousands of sessions opening
 * at once, each online going to every co-member) costs each recipient a few
 * presence.batch frames, not one frame per pair. A recipient that got nothing in
 * the last window hears a change at once; changes within the window wait for
 * its end and go as one frame, a later change of a user replacing an earlier
 * one. Time is passed in, so the rules are testable without a loop. Loop
 * thread. */
#ifndef PARLEY_CHAT_PRESENCE_BATCH_H
#define PARLEY_CHAT_PRESENCE_BATCH_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

/* How long a recipient's changes are collected after one was sent. */
#define PRESENCE_BATCH_WINDOW_MS 200
/* Recipients whose window ends that one flush handles (one loop turn). */
#define PRESENCE_BATCH_FLUSH_MAX 256
/* Entries pending for all recipients together; past it, a recipient's changes
 * are sent at once instead of waiting. */
#define PRESENCE_BATCH_MAX_TOTAL 200000

typedef struct presence_batch_s presence_batch_t;

/* Sends one frame's text (borrowed) to every session of recipient here. */
typedef void (*presence_batch_send_fn)(void *ctx, const char *recipient, const char *text,
                                       size_t len);

/* max_entries: the most entries in one frame and pending for one recipient
 * (PRESENCE_VIEW_MAX_USERS). Returns NULL when out of memory. */
presence_batch_t *presence_batch_new(int64_t window_ms, size_t max_entries,
                                     presence_batch_send_fn send, void *ctx);
/* Drops what is pending; b may be NULL. */
void presence_batch_free(presence_batch_t *b);

/* Queues entries (an array of {user_id, status, last_seen}, borrowed, applied in
 * order) for recipient at now_ms. A recipient outside any window gets them at
 * once: one presence frame, or presence.batch frames of at most max_entries,
 * and its window starts. Within a window they join the pending set: an entry
 * replaces a pending one of the same user_id (in its place), and a set that
 * reaches max_entries (or the total bound) is sent at once. */
void presence_batch_add(presence_batch_t *b, const char *recipient, const json_t *entries,
                        int64_t now_ms);

/* Ends the windows due by now_ms, at most `budget` recipients: a pending set is
 * sent (one presence frame for one entry) and starts a new window; a window
 * with nothing pending is forgotten. Returns the ms until the next window ends
 * (0: more are due now), or -1 when none is open; with budget 0 it only tells. */
int64_t presence_batch_flush(presence_batch_t *b, int64_t now_ms, size_t budget);

/* Recipients with an open window, and entries pending over all of them. */
size_t presence_batch_recipients(const presence_batch_t *b);
size_t presence_batch_pending(const presence_batch_t *b);

#endif
