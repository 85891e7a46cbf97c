/* The two shapes of a user that API.md shows: the caller's own (with email)
 * and anyone else's (without). Pure; any thread. */
#ifndef PARLEY_CHAT_USER_VIEW_H
#define PARLEY_CHAT_USER_VIEW_H

#include <jansson.h>

/* The caller's own user from a store user (borrowed). New reference. */
json_t *user_view_own(const json_t *user);
/* Anyone else's: no email. New reference. */
json_t *user_view_public(const json_t *user);

#endif
