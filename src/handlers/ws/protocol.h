/* The WebSocket protocol of API.md on top of ws/session: the GET /ws route
 * (ws_routes in handlers.h), authentication, the frame rate and the frame
 * table. Loop thread. */
#ifndef PARLEY_HANDLERS_WS_PROTOCOL_H
#define PARLEY_HANDLERS_WS_PROTOCOL_H

#include <stddef.h>

#include "parley/app.h"
#include "parley/ws.h"

/* The close code of a session whose token expired unrenewed. (One whose login
 * ended or whose account was deleted closes with REVOCATIONS_CLOSE_CODE, 4003.) */
#define WS_CLOSE_TOKEN_EXPIRED 4001

/* Installs the protocol's hooks in app->ws: on_message and on_close. */
void ws_protocol_init(app_t *app);

/* The hooks themselves (exposed for the in-memory tests): one text message of
 * a session, and a session that closed. */
void ws_protocol_on_message(ws_session_t *s, const char *data, size_t len);
void ws_protocol_on_close(ws_session_t *s);

#endif
