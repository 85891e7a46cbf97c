/* Instagram messaging: Meta's webhook (signature, parsing into events), the
 * stored-token cipher, and the Graph API sender. The pure parts (signature,
 * parsing, cipher) are callable from any thread; the sender is loop-only. */
#ifndef PARLEY_INSTAGRAM_H
#define PARLEY_INSTAGRAM_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "parley/httpc.h"

/* 1 when header is "sha256=" + the lowercase (or uppercase) hex HMAC-SHA256 of
 * body under secret; compared in constant time. */
int ig_signature_valid(const char *secret, const char *header, const char *body, size_t len);
/* The same check with the keyed HMAC set up once: a signer of secret, or NULL
 * (no secret, or OpenSSL failed). Used by one thread at a time. */
typedef struct ig_signer_s ig_signer_t;
ig_signer_t *ig_signer_new(const char *secret);
void ig_signer_free(ig_signer_t *s); /* s may be NULL */
int ig_signer_valid(ig_signer_t *s, const char *header, const char *body, size_t len);

/* One normalised event of a webhook body. */
enum ig_event_kind {
  IG_EV_MESSAGE,
  IG_EV_ECHO,
  IG_EV_REACTION,
  IG_EV_UNREACTION,
  IG_EV_SEEN,
  IG_EV_UNSEND,   /* message.is_deleted */
  IG_EV_EDIT,     /* message_edit */
  IG_EV_POSTBACK, /* a button click */
  IG_EV_REFERRAL, /* an ig.me link with a ref */
  IG_EV_COMMENT,  /* a comment on the account's post or reel (changes, field "comments") */
  IG_EV_OTHER     /* anything else: stored as an "unsupported" message (last) */
};

/* Splits a verified webhook body (object "instagram", entry[].messaging[] and
 * entry[].changes[]) into stored events: returns a new array of {mid|null,
 * payload}, mid being the dedupe key, where payload is {kind, account_id,
 * contact_id, timestamp_ms} plus per kind: message/echo {mid, text,
 * attachments, quick_reply?}; reaction/unreaction {mid, emoji}; seen
 * {watermark_mid}; unsend {mid, echo}; edit {mid, text}; postback {mid|null,
 * title, payload}; referral {referral: {ref, source, type}}; comment {mid ("comment:" + its
 * id), comment_id, media_id|null, text, username|null}; other {raw_type,
 * raw} (contact_id when the item names a sender). Returns NULL when the body
 * is not an object with an entry array (400). */
json_t *ig_webhook_events(json_t *body);
/* The kind of a payload built above. */
enum ig_event_kind ig_event_kind(const json_t *payload);

/* Token cipher: libsodium secretbox under a 32-byte key; the stored form is
 * base64(nonce || box). Return a malloc'd string, or NULL. */
char *ig_token_seal(const unsigned char key[32], const char *token);
char *ig_token_open(const unsigned char key[32], const char *sealed);

/* The Graph API sender: POST {base}/{ig_user_id}/messages with the account's
 * token, on the loop through httpc; up to 3 retries with backoff on 5xx, 429
 * and transport errors; a per-account rate limit. */
typedef struct graph_s graph_t;
typedef struct graph_result_s {
  int ok;                 /* 1: sent */
  const char *message_id; /* Graph's message_id when ok */
  int http_status;        /* the last status (0 for transport errors) */
  const char *error;      /* Graph's error message when not ok */
  int code;               /* Graph's error code when not ok (190: the token is invalid) */
  const json_t *body;     /* the parsed answer, borrowed for the callback; may be NULL */
  int unknown;            /* a send that failed after it went out (a timeout): Meta may or may
                             not have delivered it; never retried */
} graph_result_t;
typedef void (*graph_cb)(void *ctx, const graph_result_t *res);

/* timeout_ms bounds each attempt (graph_timeout_ms). */
graph_t *graph_new(uv_loop_t *loop, httpc_t *http, const char *base_url, int per_account_per_min,
                   long timeout_ms);
void graph_free(graph_t *g);
/* Sends text to recipient from ig_user_id with the access token; tag (NULL or
 * "HUMAN_AGENT") sends it as messaging_type MESSAGE_TAG with that tag. Returns
 * 0 (cb runs once) or -1. rate_limited results have error "rate_limited". */
int graph_send_text(graph_t *g, const char *ig_user_id, const char *token, const char *recipient,
                    const char *text, const char *tag, graph_cb cb, void *ctx);
/* The body graph_send_text posts (malloc'd, NUL-terminated): the compact JSON
 * text of {recipient: {id}, message: {text}} and, with a tag, messaging_type
 * MESSAGE_TAG and the tag, byte for byte as json_dumps writes that object;
 * NULL when recipient or text is NULL or not valid UTF-8 (json_pack's
 * refusals), or memory ran out. */
char *graph_text_body(const char *recipient, const char *text, const char *tag);
/* As graph_send_text with Meta's own recipient ({id} or, for a private reply
 * to a comment, {comment_id}) and message object (text, quick_replies, an
 * attachment); both borrowed. */
int graph_send_message(graph_t *g, const char *ig_user_id, const char *token,
                       const json_t *recipient, const json_t *message, const char *tag, graph_cb cb,
                       void *ctx);
/* The public reply to a comment: POST {base}/{comment_id}/replies {message};
 * a numeric comment id only (else -1). Never retried once it may have gone. */
int graph_reply_comment(graph_t *g, const char *ig_user_id, const char *token,
                        const char *comment_id, const char *text, graph_cb cb, void *ctx);
/* Refreshes a long-lived token: GET {base}/refresh_access_token?grant_type=
 * ig_refresh_token&access_token=...; on success res->body holds {access_token,
 * token_type, expires_in (seconds)}. Returns 0 (cb runs once) or -1. */
int graph_refresh_token(graph_t *g, const char *token, graph_cb cb, void *ctx);
/* Asks Graph who a token belongs to: GET {base}/me?fields=user_id,username.
 * On success res->body holds {user_id, username, id}: user_id is the
 * professional account id that webhooks carry as entry[].id (id is app-scoped).
 * Retried like sends, without the rate limit. Returns 0 (cb runs once) or -1. */
int graph_get_me(graph_t *g, const char *token, graph_cb cb, void *ctx);
/* Asks Graph for an Instagram user's profile: GET {base}/{igsid}?fields=name,
 * username,profile_pic. On success res->body holds what Meta shares (fields
 * may be missing). One retry, 5 s per attempt. igsid must be digits. Returns 0
 * (cb runs once) or -1. */
int graph_get_profile(graph_t *g, const char *token, const char *igsid, graph_cb cb, void *ctx);
/* Requests queued or in flight (shutdown waits for them). */
int graph_in_flight(const graph_t *g);
/* The longest a send can take, every attempt and backoff included: a send
 * still pending after that (plus slack) has lost its instance. */
int64_t graph_send_max_ms(const graph_t *g);

#endif
