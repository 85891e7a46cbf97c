/* What the handler files share: their route tables (listed in routes.c) and the
 * helpers that turn store results into replies. Loop thread only. */
#ifndef PARLEY_HANDLERS_H
#define PARLEY_HANDLERS_H

#include <jansson.h>

#include "parley/app.h"
#include "parley/http.h"
#include "parley/router.h"
#include "parley/store.h"

/* One table per handler file, each defined in that file as
 *   const route_table_t <name>_routes = ROUTE_TABLE(<static route_t array>); */
extern const route_table_t ops_routes;
extern const route_table_t conversations_routes;
extern const route_table_t messages_routes;
extern const route_table_t auth_routes;
extern const route_table_t users_routes;
extern const route_table_t ws_routes;
extern const route_table_t instagram_routes;
extern const route_table_t flows_routes;

/* Installs the WebSocket protocol of API.md (ws_protocol.c): app->ws_on_message
 * and app->ws_on_close. */
void ws_protocol_init(app_t *app);

/* users.c: the user shapes of API.md (new references), and the handler of
 * AUTH_REVOKE_CHANNEL messages for the app's bus dispatcher. */
json_t *users_own_json(const json_t *user);
json_t *users_public_json(const json_t *user);
void users_on_revoke(app_t *app, const char *payload, size_t len);
/* auth.c: a display name field (trimmed, 1..100 characters); malloc'd, or NULL
 * after replying 400 (or when optional and absent). */
char *auth_name_field(http_req_t *req, json_t *body, int required);

/* Every table, in match order (routes.c). */
extern const route_table_t *const handlers_route_tables[];
extern const size_t handlers_route_table_count;

/* Replies with the error envelope that matches a store status: ENOTFOUND 404
 * not_found, ECONFLICT 409 conflict, EFORBIDDEN 403 forbidden, EINVAL 400
 * validation_failed, EBUSY/EUNAVAILABLE/ECLOSED 503 unavailable. */
void handlers_reply_store_error(http_req_t *req, int status);

/* store_call() for a request: takes a reference on req that the callback must
 * drop with http_req_unref(). When the store refuses the job, replies 503 and
 * returns -1 (no reference kept, cb not called). Takes ownership of params. */
int handlers_store_call(http_req_t *req, enum store_op op, json_t *params, store_cb cb);

/* Strict field readers for request bodies. Each returns the value (borrowed) or
 * NULL; when the field is present but wrong (type, length in code points, UTF-8)
 * or required and missing, it replies 400 validation_failed naming the field and
 * sets *failed = 1. A NULL result with *failed == 0 means optional and absent. */
const char *handlers_string_field(http_req_t *req, json_t *body, const char *name, int required,
                                  size_t min_chars, size_t max_chars, int *failed);

/* The messaging frames of the WebSocket protocol (ws_messaging.c), dispatched by
 * ws_protocol.c's frame table: frame is borrowed, ref is its client_id or NULL. */
struct ws_session_s;
void ws_messaging_send(struct ws_session_s *s, json_t *frame, const char *ref);
void ws_messaging_typing(struct ws_session_s *s, json_t *frame, const char *ref);
void ws_messaging_read(struct ws_session_s *s, json_t *frame, const char *ref);
void ws_messaging_sync(struct ws_session_s *s, json_t *frame, const char *ref);
/* Presence: a session became ready (hub_add's count) or closed (hub_remove's). */
void ws_messaging_opened(struct ws_session_s *s, int sessions);
void ws_messaging_closed(struct ws_session_s *s, int sessions);
/* ws_protocol.c: sends one JSON frame (steals the reference); returns 0 or -1. */
int ws_protocol_send(struct ws_session_s *s, json_t *frame);

#endif
