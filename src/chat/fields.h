/* The rules of API.md for message fields, the same over REST and WebSocket.
 * Pure; any thread. */
#ifndef PARLEY_CHAT_FIELDS_H
#define PARLEY_CHAT_FIELDS_H

#include <jansson.h>

#define FIELDS_ID_MAX 64 /* conversation, message and user ids, in characters */
#define FIELDS_TEXT_MAX 4000
#define FIELDS_CLIENT_ID_MAX 64
#define FIELDS_LIMIT_DEFAULT 50 /* messages a page or sync returns */
#define FIELDS_LIMIT_MAX 200

/* 1 when v is a JSON string of min..max code points of valid UTF-8 without
 * NUL. */
int fields_string_ok(const json_t *v, size_t min_chars, size_t max_chars);
/* Checks a send ({text, client_id?}): returns NULL when valid, else the name of
 * the first bad field. */
const char *fields_check_send(const json_t *body);

#endif
