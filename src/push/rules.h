/* Web Push's pure rules: which endpoints a subscription may name, who of a
 * message's recipients gets a push, and what the push says. No I/O; any
 * thread. */
#ifndef PARLEY_PUSH_RULES_H
#define PARLEY_PUSH_RULES_H

#include <jansson.h>
#include <stdint.h>

#define PUSH_ENDPOINT_MAX 1024
/* A preview of the text: at most this many characters (code points). */
#define PUSH_PREVIEW_CHARS 120

/* NULL when endpoint may be a subscription's (an https URL with a host and no
 * user info, at most PUSH_ENDPOINT_MAX bytes; http only for a host[:port] of
 * allow, the push_allow setting), else why not (a static string). */
const char *push_endpoint_problem(const char *endpoint, const char *allow);

/* 1 when recipient should get a push for a message: user (a store user with
 * "alive", as presence_lookup answers) has no live session anywhere, has not
 * chosen do-not-disturb and is not deleted, and conv (a store conversation
 * with participants) is not muted by them at now_ms. */
int push_wanted(const json_t *user, const json_t *conv, int64_t now_ms);

/* The push's JSON (a new object): {type: "message", conversation_id,
 * conversation_type, title, message_id, seq, sender_name, mention, text?}.
 * title is the group's or channel's name, else the sender's name; text is the
 * message's first PUSH_PREVIEW_CHARS characters (with "…" when cut), left out
 * when preview is 0, for secret conversations (their text is ciphertext for
 * devices) and for messages without text. mention: the recipient is in the
 * message's mentions. */
json_t *push_payload(const json_t *msg, const json_t *conv, const char *sender_name,
                     const char *recipient, int preview);

/* A push_payload's text (compact JSON) that says mention: false, saying true
 * instead, the rest as it was: for a push that stands for a message it
 * replaced that mentioned the user (queue.h). A new string; NULL when text
 * says no mention: false, is not such a payload, or memory ran out. */
char *push_payload_mentioning(const char *text);

#endif
