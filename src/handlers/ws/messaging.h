/* The messaging frames of the WebSocket protocol (API.md): message.send,
 * typing, read and sync, and presence as sessions come and go. protocol.c's
 * frame table dispatches here. Loop thread. */
#ifndef PARLEY_HANDLERS_WS_MESSAGING_H
#define PARLEY_HANDLERS_WS_MESSAGING_H

#include <jansson.h>

#include "parley/ws.h"

/* Client frame handlers: frame is borrowed, ref is its client_id or NULL. */
void ws_messaging_send(ws_session_t *s, json_t *frame, const char *ref);
void ws_messaging_typing(ws_session_t *s, json_t *frame, const char *ref);
void ws_messaging_read(ws_session_t *s, json_t *frame, const char *ref);
/* {"type":"delivered","conversation_id","seq"}: the delivered position. */
void ws_messaging_delivered(ws_session_t *s, json_t *frame, const char *ref);
void ws_messaging_sync(ws_session_t *s, json_t *frame, const char *ref);
/* Presence: a session became ready (hub_add's count) or closed (hub_remove's). */
void ws_messaging_opened(ws_session_t *s, int sessions);
void ws_messaging_closed(ws_session_t *s, int sessions);

#endif
