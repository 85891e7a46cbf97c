/* GET /api/conversations written from SQLite's rows (chat/conv_page.c's
 * row writer, store_call_rows) against the same page written from the
 * store's tree (conv_page_text, MongoDB's way): byte for byte, for every
 * shape a page can hold: direct, secret, group, channel and Instagram
 * conversations; names that need escapes; a deleted user; avatars
 * (uploaded, signed; a profile's URL); muted (future and past), read, delivered and mention
 * counts; last messages with attachments (signed), reactions, a reply,
 * mentions, an edit or a deletion, or none; an agent's list; pages of every
 * length through their cursors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "chat/conv_page.h"
#include "rest_fixture.h"

static int setup(void **state) {
  rest_fx_t *fx = rest_fx_new();
  fx->app->cfg.attachment_url_ttl_s = 3600;
  *state = fx;
  return 0;
}

static int teardown(void **state) {
  rest_fx_free(*state);
  return 0;
}

static json_t *q(rest_fx_t *fx, enum store_op op, json_t *params) {
  return chat_fx_query(fx->chat, op, params);
}

static void conv_id_of(json_t *r, char id[25]) {
  json_t *c = json_object_get(r, "conversation");
  snprintf(id, 25, "%s", json_string_value(json_object_get(c ? c : r, "id")));
  json_decref(r);
}

/* An image of user's with a thumbnail, id made of digit. */
static void image(rest_fx_t *fx, const char *user, char digit, char id[25]) {
  memset(id, digit, 24);
  id[24] = '\0';
  json_decref(q(fx, ATTACH_CREATE,
                json_pack("{s:s, s:s, s:s, s:s, s:i, s:s, s:s, s:i, s:s}", "id", id, "user_id",
                          user, "type", "image", "content_type", "image/png", "size", 100, "name",
                          "a \"pic\".png", "thumbnail_key", "t", "thumbnail_size", 10,
                          "thumbnail_content_type", "image/webp")));
}

static json_t *post(rest_fx_t *fx, const char *conv, const char *sender, const char *text,
                    json_t *extra) {
  json_t *p = json_pack("{s:s, s:s, s:s?, s:s}", "conversation_id", conv, "sender_id", sender,
                        "text", text, "source", "web");
  if (extra) json_object_update(p, extra);
  json_decref(extra);
  json_t *r = q(fx, MSG_INSERT, p);
  json_t *m = json_incref(json_object_get(r, "message"));
  json_decref(r);
  return m;
}

/* The page target as the rows make it (the REST answer) and as the tree
 * makes it (the store's CONV_LIST through conv_page_text): equal. Returns the
 * next cursor (NULL at the end; the caller frees it). */
static char *same_page(rest_fx_t *fx, const char *user, int limit, const char *cursor,
                       const char *type, int *count) {
  char target[512];
  const char *route = type ? "/api/messages/instagram" : "/api/conversations";
  snprintf(target, sizeof(target), "%s?limit=%d%s%s", route, limit, cursor ? "&cursor=" : "",
           cursor ? cursor : "");
  json_t *params = json_pack("{s:s, s:I}", "user_id", user, "limit", (json_int_t)limit);
  if (cursor) json_object_set_new(params, "cursor", json_string(cursor));
  if (type) json_object_set_new(params, "type", json_string(type));
  /* Signed URLs name their expiry, which moves at a multiple of the ttl: a
   * second try is when the two were made on either side of one. */
  for (int attempt = 0;; attempt++) {
    rest_reply_t *r = rest_call(fx, 200, "GET", target, user, NULL);
    json_t *tree = q(fx, CONV_LIST, json_deep_copy(params));
    json_t *text = conv_page_text(fx->app, params, tree);
    assert_non_null(text);
    int same = strcmp(r->raw, json_string_value(text)) == 0;
    if (!same && attempt == 0) {
      json_decref(text);
      rest_reply_free(r);
      continue;
    }
    if (!same) fprintf(stderr, "rows: %s\ntree: %s\n", r->raw, json_string_value(text));
    assert_string_equal(r->raw, json_string_value(text));
    *count += (int)json_array_size(json_object_get(r->body, "conversations"));
    const char *next = json_string_value(json_object_get(r->body, "next_cursor"));
    char *out = next ? strdup(next) : NULL;
    json_decref(text);
    json_decref(params);
    rest_reply_free(r);
    return out;
  }
}

/* Every page of user's list at each length from 1 to all: equal, and together
 * they hold every conversation once. */
static void every_page(rest_fx_t *fx, const char *user, const char *type, int expect) {
  for (int limit = 1; limit <= expect + 1; limit++) {
    int count = 0;
    char *cursor = same_page(fx, user, limit, NULL, type, &count);
    while (cursor) {
      char *next = same_page(fx, user, limit, cursor, type, &count);
      free(cursor);
      cursor = next;
    }
    assert_int_equal(count, expect);
  }
}

static void rows_and_tree_write_the_same_page(void **state) {
  rest_fx_t *fx = *state;
  char d[25], e[25], replies[25], more[25], direct[25], secret[25], group[25], odd[25], empty[25],
      chan[25], ig[25];
  char img_a[25], img_g[25], img_m[25], file[25], files[25];
  assert_int_equal(chat_fx_user(fx->chat, "d@example.com", d), STORE_OK);
  assert_int_equal(chat_fx_user(fx->chat, "e@example.com", e), STORE_OK);
  /* Names that need escapes, a profile's avatar URL, an uploaded avatar. */
  json_decref(
      q(fx, USER_UPDATE,
        json_pack("{s:s, s:s}", "id", d, "name", "D \"q\" \\ \n\t\x01 \xc3\xa9 \xf0\x9d\x84\x9e")));
  json_decref(q(fx, USER_UPDATE,
                json_pack("{s:s, s:s}", "id", e, "avatar_url", "https://example.com/e.png")));
  image(fx, fx->a, '1', img_a);
  json_decref(q(fx, USER_AVATAR, json_pack("{s:s, s:s}", "id", fx->a, "attachment_id", img_a)));
  /* Conversations of every type. */
  conv_id_of(q(fx, CONV_CREATE,
               json_pack("{s:s, s:n, s:s, s:[s,s]}", "type", "direct", "name", "creator_id", fx->a,
                         "participant_ids", fx->a, fx->b)),
             direct);
  conv_id_of(q(fx, CONV_CREATE,
               json_pack("{s:s, s:n, s:s, s:[s,s]}", "type", "secret", "name", "creator_id", fx->a,
                         "participant_ids", fx->a, fx->c)),
             secret);
  conv_id_of(q(fx, CONV_CREATE,
               json_pack("{s:s, s:s, s:s, s:[s,s,s,s]}", "type", "group", "name", "team \"x\"\n",
                         "creator_id", fx->a, "participant_ids", fx->a, fx->b, d, e)),
             group);
  conv_id_of(q(fx, CONV_CREATE,
               json_pack("{s:s, s:s, s:s, s:[s,s,s]}", "type", "group", "name", "odd", "creator_id",
                         fx->b, "participant_ids", fx->b, fx->a, d)),
             odd);
  conv_id_of(q(fx, CONV_CREATE,
               json_pack("{s:s, s:s, s:s, s:[s,s]}", "type", "group", "name", "replies",
                         "creator_id", fx->a, "participant_ids", fx->a, fx->c)),
             replies);
  conv_id_of(q(fx, CONV_CREATE,
               json_pack("{s:s, s:s, s:s, s:[s,s]}", "type", "group", "name", "more", "creator_id",
                         d, "participant_ids", d, fx->a)),
             more);
  conv_id_of(q(fx, CONV_CREATE,
               json_pack("{s:s, s:s, s:s, s:[s,s]}", "type", "group", "name", "empty", "creator_id",
                         fx->c, "participant_ids", fx->c, fx->a)),
             empty);
  conv_id_of(q(fx, CONV_CREATE,
               json_pack("{s:s, s:s, s:s, s:[s], s:b}", "type", "channel", "name", "news",
                         "creator_id", fx->a, "participant_ids", fx->a, "public", 1)),
             chan);
  json_decref(q(fx, CHANNEL_JOIN, json_pack("{s:s, s:s}", "id", chan, "user_id", fx->b)));
  image(fx, fx->a, '2', img_g);
  json_decref(
      q(fx, CONV_AVATAR,
        json_pack("{s:s, s:s, s:s}", "id", group, "user_id", fx->a, "attachment_id", img_g)));
  /* An Instagram conversation of a's, which b sees as a's agent. */
  json_t *contact =
      q(fx, CONTACT_UPSERT,
        json_pack("{s:s, s:s, s:s}", "owner_id", fx->a, "ig_user_id", "1789", "username", "fan"));
  conv_id_of(
      q(fx, CONV_CREATE,
        json_pack("{s:s, s:s, s:s, s:[s], s:O}", "type", "instagram", "name", "fan", "creator_id",
                  fx->a, "participant_ids", fx->a, "contact_id", json_object_get(contact, "id"))),
      ig);
  json_decref(contact);
  json_decref(q(fx, AGENT_ADD, json_pack("{s:s, s:s}", "owner_id", fx->a, "user_id", fx->b)));
  /* Last messages: attachments (signed), reactions, a reply, mentions, an
   * edit, a deletion; none in "empty". */
  memset(file, '3', 24);
  file[24] = '\0';
  json_decref(q(fx, ATTACH_CREATE,
                json_pack("{s:s, s:s, s:s, s:s, s:i, s:s}", "id", file, "user_id", fx->b, "type",
                          "file", "content_type", "text/plain", "size", 5, "name", "n.txt")));
  json_t *m = post(fx, direct, fx->a, "first", NULL);
  json_decref(
      post(fx, direct, fx->b, "with \"file\"", json_pack("{s:[s]}", "attachment_ids", file)));
  json_t *last =
      post(fx, direct, fx->a, "re", json_pack("{s:O}", "reply_to", json_object_get(m, "id")));
  json_decref(m);
  json_decref(last);
  /* direct's last: plain, with reactions (two emojis, one twice). */
  last = post(fx, direct, fx->b, "plain \"one\"", NULL);
  const char *emojis[] = {"\xf0\x9f\x91\x8d", "ok", "\xf0\x9f\x91\x8d"};
  const char *by[] = {fx->b, fx->a, fx->a};
  for (int i = 0; i < 3; i++)
    json_decref(q(fx, MSG_REACT,
                  json_pack("{s:O, s:s, s:s, s:b}", "id", json_object_get(last, "id"), "user_id",
                            by[i], "emoji", emojis[i], "add", 1)));
  json_decref(last);
  /* replies' last: a reply; more's: an edited one. */
  m = post(fx, replies, fx->c, "q", NULL);
  json_decref(
      post(fx, replies, fx->a, "a", json_pack("{s:O}", "reply_to", json_object_get(m, "id"))));
  json_decref(m);
  m = post(fx, more, d, "typo", NULL);
  json_decref(q(
      fx, MSG_EDIT,
      json_pack("{s:O, s:s, s:s}", "id", json_object_get(m, "id"), "user_id", d, "text", "fixed")));
  json_decref(m);
  json_decref(post(fx, group, d, "hi @a @b", json_pack("{s:[s,s]}", "mentions", fx->a, fx->b)));
  json_decref(post(fx, group, e, "again @a", json_pack("{s:[s]}", "mentions", fx->a)));
  m = post(fx, odd, fx->b, "typo", NULL);
  json_decref(q(fx, MSG_EDIT,
                json_pack("{s:O, s:s, s:s}", "id", json_object_get(m, "id"), "user_id", fx->b,
                          "text", "fixed")));
  json_decref(m);
  m = post(fx, secret, fx->c, NULL, json_pack("{s:{s:{s:s}}}", "payload", "ciphertexts", "x", "y"));
  json_decref(m);
  m = post(fx, chan, fx->a, "news!", NULL);
  json_decref(m);
  m = post(fx, odd, d, "gone", NULL);
  json_decref(
      q(fx, MSG_DELETE, json_pack("{s:O, s:s}", "id", json_object_get(m, "id"), "user_id", d)));
  json_decref(m);
  json_decref(post(fx, ig, fx->a, "to the fan", NULL));
  /* A last message with a file and an image (signed URLs, a thumbnail's). */
  conv_id_of(q(fx, CONV_CREATE,
               json_pack("{s:s, s:s, s:s, s:[s,s]}", "type", "group", "name", "files", "creator_id",
                         fx->b, "participant_ids", fx->b, fx->a)),
             files);
  image(fx, fx->b, '4', img_m);
  memset(file, '5', 24);
  json_decref(q(fx, ATTACH_CREATE,
                json_pack("{s:s, s:s, s:s, s:s, s:i, s:s}", "id", file, "user_id", fx->b, "type",
                          "file", "content_type", "text/plain", "size", 7, "name", "m.txt")));
  json_decref(
      post(fx, files, fx->b, "two files", json_pack("{s:[s,s]}", "attachment_ids", img_m, file)));
  /* Markers and settings: read, delivered, muted now and in the past. */
  json_decref(q(fx, CONV_MARK_DELIVERED,
                json_pack("{s:s, s:s, s:i}", "id", direct, "user_id", fx->b, "seq", 2)));
  json_decref(
      q(fx, CONV_MARK_READ, json_pack("{s:s, s:s, s:i}", "id", group, "user_id", fx->b, "seq", 1)));
  json_decref(q(fx, CONV_MARK_DELIVERED,
                json_pack("{s:s, s:s, s:i}", "id", group, "user_id", d, "seq", 2)));
  json_decref(q(fx, CONV_SETTINGS,
                json_pack("{s:s, s:s, s:s}", "id", group, "user_id", fx->a, "muted_until",
                          "2999-01-01T00:00:00.000Z")));
  json_decref(q(fx, CONV_SETTINGS,
                json_pack("{s:s, s:s, s:s}", "id", odd, "user_id", fx->a, "muted_until",
                          "2001-01-01T00:00:00.000Z")));
  json_decref(q(fx, CONV_SETTINGS,
                json_pack("{s:s, s:s, s:s}", "id", chan, "user_id", fx->b, "muted_until",
                          "2999-01-01T00:00:00.000Z")));
  /* e leaves as a deleted user does: a participant named "Deleted user". */
  json_decref(q(fx, USER_DELETE, json_pack("{s:s}", "id", e)));
  /* a: direct, secret, group, odd, empty, channel, instagram, files,
   * replies, more; b (an agent of a's): direct, group, odd, channel,
   * instagram, files; c: secret, empty, replies; d: group, odd, more. */
  every_page(fx, fx->a, NULL, 10);
  every_page(fx, fx->b, NULL, 6);
  every_page(fx, fx->c, NULL, 3);
  every_page(fx, d, NULL, 3);
  every_page(fx, fx->b, "instagram", 1);
  /* The owner's Instagram list: a type filter on a list that is nobody's
   * agent's (its two reads, the channels apart). */
  every_page(fx, fx->a, "instagram", 1);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(rows_and_tree_write_the_same_page, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
