/* user.updated: a user's name or avatar changed, and every session that may
 * draw them (their own, and those of the users who share a conversation with
 * them) hears it on every instance, so lists, headers and member lists redraw
 * without a fetch per member. Loop thread. */
#ifndef PARLEY_CHAT_USER_UPDATES_H
#define PARLEY_CHAT_USER_UPDATES_H

#include <jansson.h>

#include "parley/app.h"

/* Sends {"type": "user.updated", "user": {id, name, avatar_url}} to the user's
 * sessions and to the users who share a conversation with them (the bounded
 * list presence_contacts gives). user is the public view (borrowed), its
 * avatar_url already signed. Returns 0, or -1 when nothing will be sent. */
int user_updates_announce(app_t *app, const json_t *user);

#endif
