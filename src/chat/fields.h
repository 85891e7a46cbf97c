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
#define FIELDS_MENTIONS_MAX 20    /* the store's MSG_MENTIONS_MAX */
#define FIELDS_ATTACHMENTS_MAX 10 /* attachment_ids a message may carry */

/* A secret conversation's send: {ciphertexts: {device id: base64url}, client_id?},
 * one opaque ciphertext per recipient device (the store's DEVICES_MAX per user,
 * two users). */
#define FIELDS_CIPHERTEXTS_MAX 20
#define FIELDS_CIPHERTEXT_MAX 16384

/* Checks a send ({text, client_id?, reply_to?, mentions?, attachment_ids?}, or
 * the secret form above;
 * text may be absent or null when attachment_ids has at least one id):
 * returns NULL when valid, else the name of the first bad field. */
const char *fields_check_send(const json_t *body);
/* 1 when body is an end-to-end encrypted send (it has ciphertexts): then
 * fields_check_send() allowed no text, files, reply_to or mentions beside
 * them, the message goes only to a secret conversation (the store checks). */
int fields_has_ciphertexts(const json_t *body);
/* The store refused a send by the conversation's type (EINVAL without a quote
 * or mentions): field "ciphertexts" (not a secret conversation) or "text" (a
 * secret one, which takes only ciphertexts). The message to answer. */
const char *fields_secret_refused(const char *field);
/* The error message for a bad field that fields_check_send() named. */
const char *fields_send_error(const char *field);
/* 1 when body carries at least one attachment id. */
int fields_has_attachments(const json_t *body);
/* 1 when a send quotes a message or mentions someone. */
int fields_has_reply(const json_t *body);
/* A send's reply_to or mentions that the store refused (EINVAL): the message,
 * and in *field the field to blame. */
const char *fields_reply_refused(const json_t *body, const char **field);

#endif
