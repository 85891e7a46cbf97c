/* Instagram account health: an account whose token Graph refused (error 190)
 * or that expired is "reconnect_needed" until its owner connects it again;
 * every change is pushed to the owner's sessions as an instagram.status frame.
 * A timer on the loop refreshes long-lived tokens before they expire (Graph's
 * refresh_access_token) and stores the new token sealed; with several
 * instances, each due account is claimed in the store first (a claim that
 * expires), so one instance refreshes it. Loop thread. */
#ifndef PARLEY_INSTAGRAM_HEALTH_H
#define PARLEY_INSTAGRAM_HEALTH_H

#include <jansson.h>

#include "parley/app.h"

typedef struct ig_health_s ig_health_t;

/* Starts the refresh timer (every ig_token_refresh_interval_ms); NULL when out
 * of memory. */
ig_health_t *ig_health_new(app_t *app);
/* Stops the timer (shutdown); callbacks in flight still find h. */
void ig_health_stop(ig_health_t *h);
/* Frees h once the loop has ended. */
void ig_health_free(ig_health_t *h);
/* Refreshes in flight (shutdown waits for zero). */
int ig_health_busy(const ig_health_t *h);

/* What GET /api/instagram/status answers and instagram.status carries for a
 * store account (NULL: none connected): {connected, status?, account?,
 * reply_window: {hours, agent_hours}}, the token never included. New
 * reference. */
json_t *ig_health_view(const app_t *app, const json_t *account);
/* Pushes {"type": "instagram.status", ...ig_health_view(account)} to every
 * session of user_id (account NULL: disconnected). */
void ig_health_push(app_t *app, const char *user_id, const json_t *account);
/* Graph refused the token of user_id's account (code "190", or
 * "token_expired"): stores reconnect_needed with {code, message} and pushes it. */
void ig_health_token_refused(app_t *app, const char *user_id, const char *code,
                             const char *message);

#endif
