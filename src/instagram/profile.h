/* Contact profiles: the name, username and picture Graph answers for an
 * Instagram user, fetched off the request path when a contact writes and its
 * profile is missing or more than a day old, then stored with the contact and
 * given to its conversations (conversation.updated). A failed fetch stores
 * nothing; the contact's next message tries again. Loop thread. */
#ifndef PARLEY_INSTAGRAM_PROFILE_H
#define PARLEY_INSTAGRAM_PROFILE_H

#include <jansson.h>

#include "parley/app.h"

typedef struct ig_profiles_s ig_profiles_t;

ig_profiles_t *ig_profiles_new(app_t *app);
/* Fetches in flight are orphaned (see ig_profile_fn); their callbacks free them. */
void ig_profiles_free(ig_profiles_t *p);
/* Fetches in flight (shutdown waits for zero). */
int ig_profiles_busy(const ig_profiles_t *p);

/* Called once with the freshest contact known: the one given when no fetch is
 * needed or possible, else the stored one once the fetch ended (the one given
 * if it failed); NULL when ig_profiles_free ends the wait (release ctx only).
 * contact is borrowed for the call. */
typedef void (*ig_profile_fn)(void *ctx, const json_t *contact);

/* Refreshes contact's profile when it is missing or older than a day, with
 * account's token (account with token_cipher; both borrowed). fn may be NULL;
 * otherwise it runs exactly once, maybe before this returns. */
void ig_profiles_refresh(ig_profiles_t *p, const json_t *account, const json_t *contact,
                         ig_profile_fn fn, void *ctx);

#endif
