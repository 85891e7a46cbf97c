/* What messages.c shares with ws_messaging.c: the checks of API.md for message
 * fields, the same over REST and WebSocket. Loop thread. */
#ifndef PARLEY_HANDLERS_MESSAGES_H
#define PARLEY_HANDLERS_MESSAGES_H

#include <jansson.h>

#define MESSAGES_TEXT_MAX 4000
#define MESSAGES_CLIENT_ID_MAX 64
#define MESSAGES_LIMIT_DEFAULT 50
#define MESSAGES_LIMIT_MAX 200

/* 1 when v is a JSON string of min..max code points of valid UTF-8 without
 * NUL. */
int messages_string_ok(const json_t *v, size_t min_chars, size_t max_chars);
/* Checks a send ({text, client_id?}): returns NULL when valid, else the name of
 * the first bad field. */
const char *messages_check_send(const json_t *body);

/* An integer query parameter in min..max: returns 1 and sets *out, 0 when
 * absent (*out = def), or -1 after replying 400 validation_failed naming it. */
struct http_req_s;
int messages_query_int(struct http_req_s *req, const char *name, long long min, long long max,
                       long long def, long long *out);

#endif
