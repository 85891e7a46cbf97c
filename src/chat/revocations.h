/* revocations: ending an account or a login everywhere. A revocation is saved
 * in the store first (so that no restart forgets it), then applied here (its
 * access tokens refused, its WebSocket sessions closed with 4003) and announced
 * on the bus, where every other instance applies it too. At start the saved
 * ones are loaded before any token is judged, and they are read again every
 * REVOCATIONS_RELOAD_MS in case the bus lost one. Loop thread. */
#ifndef PARLEY_CHAT_REVOCATIONS_H
#define PARLEY_CHAT_REVOCATIONS_H

#include <jansson.h>
#include <stddef.h>

#include "parley/app.h"
#include "parley/auth.h"

#define REVOCATIONS_CLOSE_CODE 4003 /* the close code of a session whose login ended */
#define REVOCATIONS_RETRY_MS 1000   /* the first load, again after a failure */
#define REVOCATIONS_RELOAD_MS 30000
#define REVOCATIONS_OVERLAP_MS 600000 /* a reload reads again what is this recent */

typedef struct revocations_s revocations_t;

/* Marks app->auth not ready and starts loading the saved revocations; tokens
 * are judged once the load succeeded. NULL when out of memory. */
revocations_t *revocations_new(app_t *app);
/* Stops reloading (shutdown); frees itself once its store call is back. */
void revocations_close(revocations_t *r);

/* Called once r is saved and applied (status STORE_OK), or could not be saved
 * (another store status: nothing changed). */
typedef void (*revocations_cb)(void *ctx, int status);
/* Ends what rv covers on every instance (see above). Returns 0 (cb runs once,
 * later), or -1 when the store refuses the call (cb is not called). */
int revocations_end(app_t *app, const auth_revocation_t *rv, revocations_cb cb, void *ctx);
/* Ends each login (family id) of the array login_ids (borrowed) of user_id
 * with revocations_end, one after the other; cb gets STORE_OK once all are
 * saved, or the first failure (those before it stay ended). cb may be NULL
 * (fire and forget; failures are logged). Returns 0 (cb runs once; at once
 * when there is nothing to end), or -1 when out of memory (cb is not called). */
int revocations_end_logins(app_t *app, const char *user_id, const json_t *login_ids,
                           revocations_cb cb, void *ctx);
/* A revocation another instance announced (AUTH_REVOKE_CHANNEL or
 * AUTH_LOGOUT_CHANNEL); a malformed one is logged and ignored. */
void revocations_on_bus(app_t *app, const char *payload, size_t len);
/* Applies rv here: returns 1 when it was new (and its sessions were closed), 0
 * when known, -1 when memory ran out (not applied). */
int revocations_apply(app_t *app, const auth_revocation_t *rv);

#endif
