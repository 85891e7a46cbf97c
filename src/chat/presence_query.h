/* The two lookups presence answers from: who shares a conversation with a user
 * (paged through the store, bounded), and how a list of users stands (their
 * store records and whether any session of theirs is alive on any instance,
 * from the bus). Each completes once with a callback on the loop thread and
 * holds only the app and its own copies. Loop thread. */
#ifndef PARLEY_CHAT_PRESENCE_QUERY_H
#define PARLEY_CHAT_PRESENCE_QUERY_H

#include <jansson.h>

#include "parley/app.h"

/* ids: a new array of user ids (owned by the callback), NULL when status is
 * not STORE_OK. */
typedef void (*presence_ids_fn)(void *ctx, int status, json_t *ids);
/* users: a new array of store users (owned by the callback), each with
 * "alive": true or false added, NULL when status is not STORE_OK. */
typedef void (*presence_users_fn)(void *ctx, int status, json_t *users);

/* The distinct users other than user_id who share a conversation with them,
 * from at most 2,000 conversations and at most max users (0: no limit but the
 * conversations'). Returns 0 (cb will run once) or -1 (it will not). */
int presence_contacts(app_t *app, const char *user_id, size_t max, presence_ids_fn cb, void *ctx);

/* The store users of ids (borrowed; at most PRESENCE_VIEW_MAX_USERS) that
 * exist and are not deleted, each marked alive or not. Returns 0 (cb will run
 * once) or -1 (it will not). */
int presence_lookup(app_t *app, const json_t *ids, presence_users_fn cb, void *ctx);

/* The same for store users already in hand: users (an array, taken) gets
 * "alive" on each. Returns 0 (cb will run once: on a later turn of the loop,
 * or before this returns when there is nothing to ask the bus) or -1 (it will
 * not; users released). */
int presence_mark(app_t *app, json_t *users, presence_users_fn cb, void *ctx);

#endif
