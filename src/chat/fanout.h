/* Fan-out: every event of API.md's WebSocket tables reaches every session of its
 * recipients on every instance. Messages are published once on the bus and
 * delivered in seq order per conversation; the instance that stored a message
 * delivers it to its own sessions at once and ignores its echo. Owned by the
 * app (app->fanout); loop thread. */
#ifndef PARLEY_CHAT_FANOUT_H
#define PARLEY_CHAT_FANOUT_H

#include <jansson.h>
#include <stdint.h>

#include "parley/app.h"

typedef struct fanout_s fanout_t;

/* Creates the app's fan-out (the reorder buffer and its timers). It stops by
 * itself once app->shutting_down is set; returns NULL when out of memory. */
fanout_t *fanout_new(app_t *app);
/* Stops it (closes its timers, drops what is held) and clears app->fanout;
 * the memory goes with the last handle. Idempotent; f may be NULL. */
void fanout_close(fanout_t *f);
/* Messages held in the reorder buffer (tests, metrics). */
size_t fanout_held(const fanout_t *f);

/* A message was just stored (created): counts it, sends message.new to every
 * session of every participant here, in seq order, and publishes it once for
 * the other instances. The session ack_session (a ws_session_t id, 0 for none)
 * of ack_user gets {"type":"message.ack","client_id","message"} in its place.
 * Borrowed. */
void fanout_message_new(app_t *app, const json_t *message, const json_t *participant_ids,
                        const char *ack_user, uint64_t ack_session, const char *client_id);
/* 1 when a frame to recipients (and conv's channel members, conv may be NULL)
 * may reach anyone: a session here, a channel's member here, or another
 * instance. Nothing is sent otherwise; a session that connects later reads
 * the stored state. Borrowed. */
int fanout_wanted(app_t *app, const json_t *recipients, const char *conv);
/* message.updated (edit, delete, reaction) to every participant. Borrowed. */
void fanout_message_updated(app_t *app, const json_t *message, const json_t *participant_ids);
/* Any other frame (typing, read) to every session of the recipients except
 * exclude_user's (NULL for none); the frame is encoded once. Borrowed. */
void fanout_event(app_t *app, const json_t *frame, const json_t *recipients,
                  const char *exclude_user);
/* conversation.updated to every participant of conv (a store conversation, with
 * read markers) and to also_user (a removed member; NULL for none); each user
 * gets the conversation as GET /api/conversations/:id shows it to them. */
void fanout_conversation(app_t *app, const json_t *conv, const char *also_user);

/* An envelope of another instance of kind m, e or c (for the dispatcher);
 * header and body are borrowed. */
void fanout_on_envelope(app_t *app, const char *kind, json_t *header, const char *body, size_t len);

#endif
