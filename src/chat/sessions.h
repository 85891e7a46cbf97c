/* This instance's WebSocket sessions as the messaging domain reaches them: by
 * user, through the hub. Loop thread. */
#ifndef PARLEY_CHAT_SESSIONS_H
#define PARLEY_CHAT_SESSIONS_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "parley/app.h"

/* Sends text (copied) to every session of user_id here except the session
 * `except` (0 for none); returns the sessions reached. */
int sessions_send(app_t *app, const char *user_id, const char *text, size_t len, uint64_t except);
/* How many sessions user_id has here. */
int sessions_count(app_t *app, const char *user_id);
/* Sends text (copied) to the one session `session` of user_id, if it is still
 * open here; returns 1 when sent. */
int sessions_send_one(app_t *app, const char *user_id, uint64_t session, const char *text,
                      size_t len);
/* The same for every user id of the array users (borrowed) but exclude_user
 * (NULL for none); returns the sessions reached. */
int sessions_send_users(app_t *app, const json_t *users, const char *exclude_user, const char *text,
                        size_t len);
/* Closes every session of user_id here with code and reason (an account that
 * was deleted). Each session leaves the hub in its own close hook. */
void sessions_close_user(app_t *app, const char *user_id, uint16_t code, const char *reason);
/* The same for the sessions of user_id here authenticated with a token of the
 * login login_id (an ended login); the user's other logins keep theirs. */
void sessions_close_login(app_t *app, const char *user_id, const char *login_id, uint16_t code,
                          const char *reason);

#endif
