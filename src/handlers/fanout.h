/* Fan-out: every event of API.md's WebSocket tables reaches every session of its
 * recipients on every instance. Messages are published once on the bus and
 * delivered in seq order per conversation; the instance that stored a message
 * delivers it to its own sessions at once and ignores its echo. Loop thread. */
#ifndef PARLEY_HANDLERS_FANOUT_H
#define PARLEY_HANDLERS_FANOUT_H

#include <jansson.h>
#include <stdint.h>

#include "parley/app.h"

/* The one bus channel of fan-out (see fanout.c for why one). */
#define FANOUT_CHANNEL "parley:events"

typedef struct fanout_s fanout_t;
struct presence_s;

/* Starts fan-out for the app (bus subscription, timers, presence); idempotent.
 * It stops by itself once app->shutting_down is set. Returns NULL when it could
 * not start or the app is shutting down. */
fanout_t *fanout_start(app_t *app);
/* Stops fan-out at shutdown (unsubscribes, closes its timers). */
void fanout_close(app_t *app);
/* The app's fan-out, started on first use; NULL during shutdown. */
fanout_t *fanout_of(app_t *app);
struct presence_s *fanout_presence(fanout_t *f);

/* A message was just stored (created): counts it, sends message.new to every
 * session of every participant here, in seq order, and publishes it once for
 * the other instances. The session ack_session (a ws_session_t id, 0 for none)
 * of ack_user gets {"type":"message.ack","client_id","message"} in its place.
 * Borrowed. */
void fanout_message_new(app_t *app, const json_t *message, const json_t *participant_ids,
                        const char *ack_user, uint64_t ack_session, const char *client_id);
/* message.updated (edit, delete, reaction) to every participant. Borrowed. */
void fanout_message_updated(app_t *app, const json_t *message, const json_t *participant_ids);
/* Any other frame (typing, read, presence) to every session of the recipients
 * except exclude_user's (NULL for none); the frame is encoded once. Borrowed. */
void fanout_event(app_t *app, const json_t *frame, const json_t *recipients,
                  const char *exclude_user);
/* conversation.updated to every participant of conv (a store conversation, with
 * read markers) and to also_user (a removed member; NULL for none); each user
 * gets the conversation as GET /api/conversations/:id shows it to them. */
void fanout_conversation(app_t *app, const json_t *conv, const char *also_user);

/* A message on FANOUT_CHANNEL, for the app's bus dispatcher. Borrowed. */
void fanout_on_bus(app_t *app, const char *payload, size_t len);

/* Sends bytes to every session of user here except the session `except` (0 for
 * none); returns the sessions reached. For presence.c. */
int fanout_local_send(app_t *app, const char *user_id, const char *text, size_t len,
                      uint64_t except);
/* Publishes an envelope (header object, borrowed, and body bytes) to the other
 * instances; nothing happens on the in-process bus. For presence.c. */
void fanout_publish(app_t *app, json_t *header, const char *body, size_t len);

#endif
