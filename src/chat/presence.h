/* Presence: a user is online while they have a session on any instance. Each
 * instance marks its users in the bus with a TTL it keeps refreshing; the first
 * session anywhere announces online and the last one offline, to the users who
 * share a conversation with them. An instance that dies stops refreshing and
 * heartbeating: the others notice and announce offline for it. Owned by the
 * app (app->presence), not by fan-out: the dispatcher hands it envelopes, the
 * WebSocket protocol tells it of sessions. Loop thread. */
#ifndef PARLEY_CHAT_PRESENCE_H
#define PARLEY_CHAT_PRESENCE_H

#include <jansson.h>
#include <stdint.h>

#include "parley/app.h"

/* The bus TTL of a presence entry and how often entries are refreshed; another
 * instance is presumed dead after PRESENCE_STALE_MS without its heartbeat. */
#define PRESENCE_TTL_MS 10000
#define PRESENCE_REFRESH_MS 3000
#define PRESENCE_HEARTBEAT_MS 1000
#define PRESENCE_STALE_MS 4000
/* Recipients of a dead instance's users (and the entries they hear) that one
 * loop turn hands to the presence batch; the rest go in the turns after. */
#define PRESENCE_DEPARTED_MAX 512
#define PRESENCE_DEPARTED_ENTRIES_MAX 8192

typedef struct presence_s presence_t;

/* Creates the app's presence and its once-a-second timer; it stops by itself
 * once app->shutting_down is set. Returns NULL when out of memory. */
presence_t *presence_new(app_t *app);
/* Stops it and clears app->presence; the memory goes with its timer handle.
 * Idempotent; p may be NULL. */
void presence_close(presence_t *p);

/* A session of user_id became ready here and the user now has `sessions`
 * sessions on this instance (1: the first). */
void presence_session_opened(app_t *app, const char *user_id, int sessions);
/* A session of user_id ended; `sessions` are left here (0: the last). */
void presence_session_closed(app_t *app, const char *user_id, int sessions);

/* user_id chose a new status (already stored): every instance holding a
 * session of theirs tells the users who share a conversation with them what
 * they now see (offline for invisible). */
void presence_status_changed(app_t *app, const char *user_id);

/* Presence's store work (a session's snapshot, the lookups behind an
 * announcement) is paced: at most PRESENCE_PACE_MAX such tasks run at once and
 * the others wait in order, so that a connection storm's thousands of lookups
 * never queue in the store ahead of the messages sent meanwhile. */
#define PRESENCE_PACE_MAX 4
typedef void (*presence_task_fn)(void *ctx);
/* Runs start(ctx) now, or later in the order asked (before presence_close
 * returns at the latest, when start sees app->shutting_down or no presence).
 * Every task started this way calls presence_paced_done once it has ended. */
void presence_pace(app_t *app, presence_task_fn start, void *ctx);
void presence_paced_done(app_t *app);

/* Once a second: refreshes TTLs, heartbeats, and looks for dead instances. */
void presence_tick(presence_t *p, int64_t now_ms);
/* The bus link went down (0) or came back (1). */
void presence_bus_state(presence_t *p, int up, int64_t now_ms);
/* Any envelope from another instance (it shows that instance alive); a
 * presence ("p") one is also delivered and remembered; a status change ("s")
 * is announced here if the user has sessions here. header and body are
 * borrowed. */
void presence_on_envelope(presence_t *p, const char *kind, json_t *header, const char *body,
                          size_t len, int64_t now_ms);

#endif
