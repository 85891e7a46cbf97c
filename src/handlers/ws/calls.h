/* The call signalling frames of the WebSocket protocol (API.md, Calls):
 * call.invite starts a call in a direct conversation; call.ringing,
 * call.accept, call.reject, call.busy, call.offer, call.answer, call.ice,
 * call.media and call.hangup are relayed to the call's users on every
 * instance, once the store says the sender is one of them. protocol.c's
 * frame table dispatches here. Loop thread. */
#ifndef PARLEY_HANDLERS_WS_CALLS_H
#define PARLEY_HANDLERS_WS_CALLS_H

#include <jansson.h>

#include "parley/ws.h"

/* The largest SDP of an offer or answer, and an ICE candidate's line. */
#define CALL_SDP_MAX 16384
#define CALL_CANDIDATE_MAX 1024

/* Every call.* client frame: frame is borrowed, ref is its client_id or NULL. */
void ws_calls_frame(ws_session_t *s, json_t *frame, const char *ref);

/* A session closed that had placed or taken a call (s->call_id): the call ends (if it has
 * not already) with call.hangup {reason: "disconnected"} to both users, so the
 * other side is not left in a call nobody is in. */
void ws_calls_session_closed(ws_session_t *s);

#endif
