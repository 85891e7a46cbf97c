/* The bus envelope of the messaging domain: a compact JSON header, a newline,
 * then the body bytes (the frame exactly as sessions get it, so it is encoded
 * once, by the instance that produced it). Header keys: i (instance id), k
 * (kind: m message.new, e any other frame, c conversation.updated, p presence,
 * h heartbeat, s a user's status changed), u (recipient ids), x (a user to skip), c and s
 * (conversation id and seq of a message). Loop thread. */
#ifndef PARLEY_CHAT_ENVELOPE_H
#define PARLEY_CHAT_ENVELOPE_H

#include <jansson.h>
#include <stddef.h>

#include "parley/app.h"

/* The one bus channel of envelopes (see fanout.c for why one). */
#define ENVELOPE_CHANNEL "parley:events"

/* 1 when the app's bus reaches other instances (not the in-process bus). */
int envelope_remote(const app_t *app);
/* Publishes header (borrowed; gets this instance's id as "i") and body to the
 * other instances; nothing happens on the in-process bus. */
void envelope_publish(app_t *app, json_t *header, const char *body, size_t len);
/* Splits a received payload: returns the header (a new reference) and points
 * *body and *body_len into payload, or returns NULL for a malformed one. */
json_t *envelope_parse(const char *payload, size_t len, const char **body, size_t *body_len);

#endif
