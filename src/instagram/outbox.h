/* The outbox: a message the owner of an Instagram account sends to a contact,
 * from the REST send call or a flow. It goes out through the Graph API and,
 * once Meta took it, is kept in the contact's conversation and delivered live
 * like any other message. Loop thread. */
#ifndef PARLEY_INSTAGRAM_OUTBOX_H
#define PARLEY_INSTAGRAM_OUTBOX_H

#include <jansson.h>

#include "parley/app.h"
#include "parley/instagram.h"

typedef struct ig_sent_s {
  int sent;          /* 1: the Graph API took the message */
  const char *error; /* when not sent: the Graph API's error ("rate_limited", ...), or NULL */
  int status;        /* when sent: the store status of keeping it */
  json_t *message;   /* when status is STORE_OK: the stored message, borrowed */
} ig_sent_t;
typedef void (*ig_sent_fn)(void *ctx, const ig_sent_t *sent);

/* Sends text from account (a store account: ig_user_id, user_id) to contact
 * (a store contact: ig_user_id, id) with the opened access token; source is
 * the stored message's source ("instagram", "flow"; static). account, contact,
 * token and text are borrowed for the call. Returns 0 (cb runs once, maybe
 * before this returns), or -1 when the send could not start (cb not called). */
int ig_outbox_send(app_t *app, json_t *account, json_t *contact, const char *token,
                   const char *text, const char *source, ig_sent_fn cb, void *ctx);

#endif
