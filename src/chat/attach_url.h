/* Signed download URLs of attachments (API.md, Files): the url and
 * thumbnail_url of an attachment's view, and their check when a download
 * comes. A URL names its scope, the conversation whose message shows the file
 * (c) or the uploader who has not sent it yet (u), an expiry and an HMAC over
 * all of them, keyed with a key derived from the server's secret_key, so every
 * instance signs and checks alike. Pure; loop thread (the app is read only). */
#ifndef PARLEY_CHAT_ATTACH_URL_H
#define PARLEY_CHAT_ATTACH_URL_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "parley/app.h"

/* Room for a URL: the path, a 24-digit scope id, expiry and signature. */
#define ATTACH_URL_MAX 192

/* Derives the signing key from the server's secret and keys out's HMAC state
 * with it (start-up): each signature copies the state instead of hashing the
 * key's pads again. */
void attach_url_key(const unsigned char secret_key[32], crypto_auth_hmacsha256_state *out);

/* The expiry of URLs made at now_s: between ttl and 2 x ttl from now, on a
 * multiple of ttl, so URLs made within one ttl are equal (the browser's cache
 * keeps the image between two fetches of the history). */
int64_t attach_url_expiry(int64_t now_s, int ttl_s);

/* Writes the URL of attachment id (its thumbnail when thumb) for scope 'c'
 * (conversation) or 'u' (uploader) and scope_id, valid until exp. Returns 0,
 * or -1 when an id is not 24 lower-case hex digits or out is too small. */
int attach_url_sign(const crypto_auth_hmacsha256_state *key, const char *id, int thumb, char scope,
                    const char *scope_id, int64_t exp, char *out, size_t outlen);

/* Checks a download's query values: 0 when sig is the signature of (id,
 * thumb, scope, scope_id, exp) and exp (decimal seconds) is not before now_s;
 * -1 otherwise. The comparison takes the same time wherever it differs. */
int attach_url_verify(const crypto_auth_hmacsha256_state *key, const char *id, int thumb,
                      char scope, const char *scope_id, const char *exp, const char *sig,
                      int64_t now_s);

/* Gives one attachment record its view: url (and thumbnail_url when it has a
 * thumbnail_key), signed for scope; the storage's fields (user_id,
 * thumbnail_key, thumbnail_size, thumbnail_content_type) are left out. Entries without an id of
 * ours (an Instagram attachment with Meta's url) are left as they are. */
void attach_url_view(const app_t *app, json_t *att, char scope, const char *scope_id);

/* An avatar's URL lives between this and twice this (a day to two). */
#define ATTACH_AVATAR_TTL_S 86400

/* A user's view (view, changed and returned) from its store record (user,
 * borrowed): while the user has an uploaded avatar (avatar_id), avatar_url is
 * the URL of its thumbnail signed for scope 'a' (an avatar, which any
 * logged-in user may see) and the user's id. */
json_t *attach_url_user(const app_t *app, json_t *view, const json_t *user);

/* A store member ({id, avatar_id?, avatar_url?}: a participant, an agent, a
 * member of a page) in place: avatar_id, when there is one, becomes
 * avatar_url, the thumbnail's URL signed for scope 'a' and the member's id;
 * without one the member keeps the avatar_url the store gave. */
void attach_url_member(const app_t *app, json_t *member);
/* The same for each member of an array (any other value: nothing). */
void attach_url_members(const app_t *app, json_t *members);

/* A store conversation (before conv_view_json or conv_view_write), changed in
 * place and returned: a group's avatar_id becomes avatar_url, its thumbnail's
 * URL signed for scope 'a' and the conversation's id, as a user's; so do its
 * participants' and agents' (attach_url_member). Idempotent, so a record
 * signed once may be viewed for every recipient. */
json_t *attach_url_conv(const app_t *app, json_t *conv);
/* attach_url_conv on each conversation of an array (a page of the list): an
 * owner's avatar is signed once for the whole page, and its URL string shared. */
void attach_url_convs(const app_t *app, json_t *convs);
/* conv_view_json(conv, user_id) after attach_url_conv(conv): a new object.
 * conv is the caller's store record, which this signs in place (only avatar
 * ids become URLs, so a const record stays the same conversation). */
json_t *attach_url_conv_view(const app_t *app, const json_t *conv, const char *user_id);

/* The views of a message's attachments (in place), signed for its
 * conversation: every participant gets the same bytes, so fan-out packs a
 * message once. message may be NULL or carry no attachments. */
void attach_url_message(const app_t *app, json_t *message);
/* The same for each message of an array. */
void attach_url_messages(const app_t *app, json_t *messages);
/* A message's view as a new reference, message left as it is (borrowed):
 * a copy with the views when it has attachments of ours, else message itself. */
json_t *attach_url_message_copy(const app_t *app, const json_t *message);

#endif
