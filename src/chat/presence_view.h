/* The rules of presence that need no I/O: which statuses a user may set, what
 * others see of a user given the status they chose and whether any session of
 * theirs is alive, the entries of presence frames and answers, and the id list
 * of GET /api/presence. Pure; any thread. */
#ifndef PARLEY_CHAT_PRESENCE_VIEW_H
#define PARLEY_CHAT_PRESENCE_VIEW_H

#include <jansson.h>
#include <stddef.h>

/* The most users in one presence.snapshot and one GET /api/presence. */
#define PRESENCE_VIEW_MAX_USERS 1000

/* 1 for the four statuses a user may set: online, away, dnd, invisible. */
int presence_view_settable(const char *status);
/* The status a user chose, from a store user (borrowed): a settable one, and
 * "online" for anything else (rows from before the choice existed). Static. */
const char *presence_view_chosen(const json_t *user);
/* What others see: "offline" when no session is alive (alive = 0) or the user
 * is invisible, else the chosen status. Static string. */
const char *presence_view_visible(const char *chosen, int alive);
/* {user_id, status, last_seen} for a store user (borrowed) as others see it.
 * New reference. */
json_t *presence_view_entry(const json_t *user, int alive);

/* Parses the user_ids query value (comma-separated, each 24 lowercase hex,
 * 1 to PRESENCE_VIEW_MAX_USERS distinct ids; repeats are dropped). Returns a
 * new array, or NULL with *why set to a sentence for the 400. */
json_t *presence_view_parse_ids(const char *csv, const char **why);

#endif
