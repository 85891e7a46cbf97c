/* The bus envelope of the messaging domain: a compact JSON header, a newline,
 * then the body bytes (the frame exactly as sessions get it, so it is encoded
 * once, by the instance that produced it). Header keys: i (instance id), k
 * (kind: m message.new, e any other frame, c conversation.updated, p presence,
 * h heartbeat, s a user's status changed), u (recipient ids), U (the number of recipient ids
 * packed between the header's newline and the body: see envelope_payload), x (a user to skip),
 * c and s (conversation id and seq of a message). Loop thread. */
#ifndef PARLEY_CHAT_ENVELOPE_H
#define PARLEY_CHAT_ENVELOPE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "parley/app.h"

/* The envelope form this version reads and announces in its heartbeats ("e"):
 * 2 reads packed recipients ("U"); an instance that announces none reads only
 * "u". */
#define ENVELOPE_VERSION 2

/* The one bus channel of envelopes (see fanout.c for why one). */
#define ENVELOPE_CHANNEL "parley:events"

/* 1 when the app's bus reaches other instances (not the in-process bus). */
int envelope_remote(const app_t *app);
/* Publishes header (borrowed; gets this instance's id as "i") and body to the
 * other instances; nothing happens on the in-process bus. */
void envelope_publish(app_t *app, json_t *header, const char *body, size_t len);

/* The recipients' arrays of recent messages, each encoded once. A
 * conversation's array is the store's kept one (the same array, by reference,
 * for each of its messages while its members do not change; see
 * sqlite_msg_insert_result), and encoding its ids was 46,000 instructions of
 * each message's publish in groups of 100. An entry holds a reference to its
 * array, so the array cannot be freed and another take its address while the
 * entry lives, and arrays of recipients are never changed in place (fanout.c
 * shares them on that ground too): the text cannot be stale. Bounded: a fixed
 * number of slots, each text at most ENVELOPE_USERS_MAX_TEXT bytes (longer
 * ones are encoded each time). It also keeps the instance id's text and the
 * buffer each payload is written into (envelope.c). */
typedef struct envelope_users_s envelope_users_t;
envelope_users_t *envelope_users_new(void);
void envelope_users_free(envelope_users_t *c);
/* The whole payload: header's members (borrowed; no "u", "U" nor "i" among them), the recipients
 * users (from c when it has them, or encoded and kept there; c may be NULL), "i" (instance_id)
 * last (dispatch.c reads the header's end), a newline, then body. With pack 1, recipients whose
 * ids are all 24 lowercase hex characters go packed: "U":n in the header and their n * 12 bytes
 * after its newline, before the body; any other array, and every array with pack 0, as "u", the
 * JSON text jansson writes. malloc'd, *len its length (a NUL follows); NULL when out of memory. */
char *envelope_payload(envelope_users_t *c, const json_t *header, const json_t *users, int pack,
                       const char *instance_id, const char *body, size_t blen, size_t *len);
/* Publishes a message.new: envelope_payload of the header {"k":"m","c":conv,"s":seq}
 * with this instance's id and pack app->envelope_pack, the same bytes, the header written here
 * without building it (json_pack, its text and its free were about 5,000 instructions a message);
 * users' text kept in c (may be NULL). */
void envelope_publish_message(app_t *app, envelope_users_t *c, const char *conv, int64_t seq,
                              const json_t *users, const char *body, size_t len);
/* The payload envelope_publish_message sends, malloc'd (for the tests). */
char *envelope_message_payload(envelope_users_t *c, const char *conv, int64_t seq,
                               const json_t *users, int pack, const char *instance_id,
                               const char *body, size_t blen, size_t *len);
/* Splits a received payload: returns the header (a new reference) and points
 * *body and *body_len into payload, or returns NULL for a malformed one. Packed
 * recipients ("U", see envelope_payload) come back as the header's "u" array;
 * a "U" that is not a count the payload holds, or beside a "u", is malformed. */
json_t *envelope_parse(const char *payload, size_t len, const char **body, size_t *body_len);

#endif
