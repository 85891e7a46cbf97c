/* The two shapes of a user that API.md shows: the caller's own (with email)
 * and anyone else's (without). Pure; any thread. */
#ifndef PARLEY_CHAT_USER_VIEW_H
#define PARLEY_CHAT_USER_VIEW_H

#include <jansson.h>

/* The caller's own user from a store user (borrowed): status is the one they
 * chose (online, away, dnd, invisible). New reference. */
json_t *user_view_own(const json_t *user);
/* Anyone else's: no email, and status as others see it: offline unless the
 * store user carries "alive": true (presence_query.h) and is not invisible.
 * New reference. */
json_t *user_view_public(const json_t *user);

#endif
