/* Channel subscriptions: which of this instance's connected users are members
 * of which channels, so that fan-out to a channel costs one delivery per
 * connected member here and never a read of its member list (a channel may
 * have 100,000 members and 50 of them online). A user's channel ids are read
 * once when their first session here opens (CHANNEL_IDS_OF_USERS, bounded by
 * CHANNELS_PER_USER_MAX, for a batch of users in one store job) and forgotten when their last one
 * closes; joins and leaves reach every instance on the bus (envelope kind "j") and change the sets
 * of users connected there. Owned by the app (app->channel_subs); loop thread. The state functions
 * are pure (no app, no store) for tests. */
#ifndef PARLEY_CHAT_CHANNEL_SUBS_H
#define PARLEY_CHAT_CHANNEL_SUBS_H

#include <jansson.h>

#include "parley/app.h"

typedef struct channel_subs_s channel_subs_t;

channel_subs_t *channel_subs_new(void);
/* Frees it; s may be NULL. */
void channel_subs_free(channel_subs_t *s);

/* ---- the state ---- */

/* Starts tracking user (their first session here): their channels are being
 * read; returns the read's generation, for channel_subs_loaded(). */
int channel_subs_track(channel_subs_t *s, const char *user);
/* The read of generation gen answered ids (borrowed; NULL: it failed, and the
 * user is followed by joins alone). Joins and leaves that arrived meanwhile
 * are applied after it, in order. A stale generation (the user left and came
 * back) changes nothing. */
void channel_subs_loaded(channel_subs_t *s, const char *user, int gen, const json_t *ids);
/* Up to max of the tracked users whose read is due (not taken yet, still
 * tracked under that generation), in the order they were tracked, as a new
 * array [[user, gen]]; NULL when none is due. */
json_t *channel_subs_take(channel_subs_t *s, size_t max);
/* The read of a taken batch (borrowed) answered by_user ({user id: [ids]},
 * borrowed; NULL: it failed): channel_subs_loaded for each of its users. */
void channel_subs_loaded_batch(channel_subs_t *s, const json_t *batch, const json_t *by_user);
/* Stops tracking user (their last session here closed). */
void channel_subs_untrack(channel_subs_t *s, const char *user);
/* user joined (joined 1) or left conv; ignored for users not tracked here. */
void channel_subs_change(channel_subs_t *s, const char *conv, const char *user, int joined);
/* The tracked members of conv, an object {user id: true} (borrowed), or NULL
 * when none (or conv is not a channel). */
json_t *channel_subs_members(const channel_subs_t *s, const char *conv);
/* The channels followed for user, {conv id: true} (borrowed) or NULL. */
json_t *channel_subs_of(const channel_subs_t *s, const char *user);

/* ---- the app's ---- */

/* A session of user opened (sessions: theirs here now) or closed (sessions
 * left); the first opens tracking and the read, the last ends it. */
void channel_subs_session_opened(app_t *app, const char *user, int sessions);
void channel_subs_session_closed(app_t *app, const char *user, int sessions);
/* user joined or left the channel conv: here at once, on other instances
 * through the bus. */
void channel_subs_announce(app_t *app, const char *conv, const char *user, int joined);
/* An envelope of another instance; acts on kind "j". Borrowed. */
void channel_subs_on_envelope(app_t *app, const char *kind, json_t *header);

#endif
