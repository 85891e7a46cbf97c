/* The conversation as API.md shows it to one user: participants (and an
 * instagram conversation's agents) with their read and delivered positions
 * (receipts survive a reload) but not their own settings, which the user
 * sees at the top: mention_count and muted_until (null when not muted); and
 * unread_count =
 * last_seq - the user's last_read_seq, an agent's own marker for an agent (0
 * for a user who is neither). A channel (it has member_count) shows no
 * participants; its "me", when it is the user's, becomes role and
 * unread_count (and admins see invite_token); without it, neither. avatar_url is in
 * every view: the URL attach_url_conv signed onto conv, else null; avatar_id (a
 * store's, on conv or a participant) never is. One definition, two writers: a
 * jansson object for frames, and text written straight from the store's result for the list, byte
 * for byte the same JSON (tests/unit/chat/test_conv_view.c proves it); a
 * third, chat/conv_page.c's, writes the list from SQLite's rows with the
 * pieces below. Pure; any thread. */
#ifndef PARLEY_CHAT_CONV_VIEW_H
#define PARLEY_CHAT_CONV_VIEW_H

#include <jansson.h>

#include "parley/buf.h"

/* conv (a store conversation, with read markers) as user_id sees it. conv is
 * borrowed; returns a new object that shares conv's values (modify neither). */
json_t *conv_view_json(const json_t *conv, const char *user_id);
/* The same as json_dumps(conv_view_json(conv, user_id), JSON_COMPACT) would
 * write it, appended to b. Returns 0, or -1 when memory runs out. */
int conv_view_write(buf_t *b, json_t *conv, const char *user_id);
/* A page of the list, {"conversations":[views...],"next_cursor":...}, from the
 * store's CONV_LIST result, appended to b. Returns 0 or -1. */
int conv_view_write_page(buf_t *b, json_t *result, const char *user_id);
/* The text writer's pieces, for the list written from the store's rows
 * (conv_page.c): a JSON string as jansson escapes it (without
 * JSON_ENSURE_ASCII), an integer, and any value as json_dumps(v,
 * JSON_COMPACT | JSON_ENCODE_ANY) writes it. Each returns 0 or -1. */
int conv_view_put_string(buf_t *b, const char *s, size_t len);
int conv_view_put_int(buf_t *b, long long v);
int conv_view_put_value(buf_t *b, json_t *v);

/* The ids of who hears of a store conversation's changes, as a new array: its
 * participants, then its agents. */
json_t *conv_view_participant_ids(const json_t *conv);
/* The user's read marker in a store conversation, or -1 if neither a
 * participant nor an agent. */
long long conv_view_read_seq(const json_t *conv, const char *user_id);
/* The same for the delivered position (0 for an agent, who keeps none). */
long long conv_view_delivered_seq(const json_t *conv, const char *user_id);

#endif
