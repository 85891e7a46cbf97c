/* The outbox: the one send path of every message to an Instagram contact,
 * whatever its route (REST, WebSocket, the send-message call, a flow). A message
 * is stored first with delivery status "pending", goes out through the Graph API
 * off the request's path, and its outcome is stored ("sent" with Meta's message
 * id, or "failed" with {code, message}) and delivered live as message.updated.
 * A failed send is claimed again (failed -> pending, once) when the same
 * client_id is sent again; a send whose outcome is unknown is never resent by
 * itself. Loop thread. */
#ifndef PARLEY_INSTAGRAM_OUTBOX_H
#define PARLEY_INSTAGRAM_OUTBOX_H

#include <jansson.h>

#include "parley/app.h"
#include "parley/instagram.h"

/* The outcome of a send. */
typedef struct ig_sent_s {
  int sent;          /* 1: Meta took it (status "sent") */
  const char *code;  /* when not sent: the error code (Graph's as a string, "190";
                        "unknown_outcome", "rate_limited", "reconnect_needed",
                        "outside_messaging_window", "upstream_error", "unavailable") */
  const char *error; /* when not sent: a sentence */
  int status;        /* the store status of keeping the message */
  json_t *message;   /* the stored message as it ends (borrowed), or NULL */
} ig_sent_t;
typedef void (*ig_sent_fn)(void *ctx, const ig_sent_t *sent);
/* The stored message a send starts from: sending 1 when it is going out now,
 * 0 when an earlier send of the same client_id is pending or sent (nothing is
 * sent again). message is borrowed. */
typedef void (*ig_accepted_fn)(void *ctx, json_t *message, int created, int sending);

/* Sends text from account (a store account with token_cipher, status) to
 * contact (a store contact) in the contact's conversation: for the send-message
 * call (agent 1) and flows (agent 0, never tagged). token is the opened access
 * token; client_id (may be NULL) makes it idempotent. Everything is borrowed
 * for the call. accepted (may be NULL) runs once the message is stored; done
 * runs once at the end, after accepted said sending, or with the error that
 * kept it from being stored (a window, the account's health). Returns 0, or -1
 * when it cannot start (no callback). */
int ig_outbox_send(app_t *app, json_t *account, json_t *contact, const char *token,
                   const char *text, const char *client_id, const char *source, int agent,
                   ig_accepted_fn accepted, ig_sent_fn done, void *ctx);

/* As ig_outbox_send, sent as Meta's message object message (quick_replies, a
 * button template, an attachment; NULL: the text) while text is what is
 * stored; with comment_id (may be NULL) as the private reply to that comment
 * (recipient {comment_id}), which needs no open messaging window. Both are kept
 * on the stored message (its meta_message and comment_id), so a send the
 * outbox sends again (a failed one retried by client_id) goes out the same. */
int ig_outbox_send_message(app_t *app, json_t *account, json_t *contact, const char *token,
                           const char *text, const json_t *message, const char *comment_id,
                           const char *client_id, const char *source, int agent,
                           ig_accepted_fn accepted, ig_sent_fn done, void *ctx);

/* Continues from MSG_INSERT's result of a pending message (insert: {message,
 * created}, borrowed): a new message is sent; an original that failed is
 * claimed and sent again; any other original is only reported. The caller
 * delivered a created message (message.new) itself. account, contact, token
 * borrowed; accepted and done as above (either may be NULL). */
void ig_outbox_start(app_t *app, json_t *account, json_t *contact, const char *token,
                     json_t *insert, const char *tag, ig_accepted_fn accepted, ig_sent_fn done,
                     void *ctx);

#endif
