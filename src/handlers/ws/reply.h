/* Frames the WebSocket protocol sends to the session a client frame came
 * from: any JSON frame, and API.md's error frame. Loop thread. */
#ifndef PARLEY_HANDLERS_WS_REPLY_H
#define PARLEY_HANDLERS_WS_REPLY_H

#include <jansson.h>

#include "parley/ws.h"

/* Sends one JSON frame; steals the reference (NULL is allowed and fails).
 * Returns 0, or -1 when it could not be encoded or queued. */
int ws_reply_json(ws_session_t *s, json_t *frame);
/* {"type":"error","code","message","ref","field"}; the connection stays
 * open. ref and field may be NULL (then JSON null). */
void ws_reply_error(ws_session_t *s, const char *code, const char *message, const char *ref,
                    const char *field);

#endif
