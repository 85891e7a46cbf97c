/* The conversation view has one definition and two writers (src/chat/
 * conv_view.c): the text writer of the list must produce exactly the bytes
 * json_dumps(JSON_COMPACT) gives for the jansson view, for every kind of value a
 * store conversation can hold, escapes and non-ASCII text included. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "chat/conv_view.h"

static json_t *conversation(const char *name, json_int_t last_seq) {
  return json_pack(
      "{s:s, s:s, s:s, s:I, s:[{s:s, s:s, s:I}, {s:s, s:s, s:I, s:b}], s:n, s:{s:f, s:[i, s, n]}}",
      "id", "c1", "type", "group", "name", name, "last_seq", last_seq, "participants", "id", "u1",
      "name", "Ann", "last_read_seq", (json_int_t)3, "id", "u2", "name",
      "B\xc3\xa9"
      "a",
      "last_read_seq", (json_int_t)9, "muted", 1, "last_message", "extra", "score", 1.5, "list", 7,
      "x", NULL);
}

/* Both writers for one user; the text must equal jansson's encoding. */
static void assert_same(json_t *conv, const char *user) {
  json_t *view = conv_view_json(conv, user);
  assert_non_null(view);
  char *expected = json_dumps(view, JSON_COMPACT);
  buf_t b;
  buf_init(&b);
  assert_int_equal(conv_view_write(&b, conv, user), 0);
  assert_int_equal(b.len, strlen(expected));
  assert_memory_equal(b.data, expected, b.len);
  free(expected);
  buf_free(&b);
  json_decref(view);
}

static void the_view_shows_read_markers_and_counts_unread(void **state) {
  json_t *conv = conversation("team", 12);
  json_t *view = conv_view_json(conv, "u1");
  assert_int_equal(json_integer_value(json_object_get(view, "unread_count")), 9);
  /* Every participant's position, so a reload keeps the ticks. */
  json_t *parts = json_object_get(view, "participants");
  assert_int_equal(json_integer_value(json_object_get(json_array_get(parts, 0), "last_read_seq")),
                   3);
  assert_int_equal(json_integer_value(json_object_get(json_array_get(parts, 1), "last_read_seq")),
                   9);
  json_decref(view);
  view = conv_view_json(conv, "stranger");
  assert_int_equal(json_integer_value(json_object_get(view, "unread_count")), 0);
  json_decref(view);
  assert_int_equal(conv_view_read_seq(conv, "u2"), 9);
  assert_int_equal(conv_view_read_seq(conv, "nobody"), -1);
  assert_int_equal(conv_view_delivered_seq(conv, "u1"), 0);
  assert_int_equal(conv_view_delivered_seq(conv, "nobody"), -1);
  json_t *ids = conv_view_participant_ids(conv);
  assert_int_equal(json_array_size(ids), 2);
  assert_string_equal(json_string_value(json_array_get(ids, 1)), "u2");
  json_decref(ids);
  json_decref(conv);
}

/* A participant's own settings: at the top of their view, in nobody's list. */
static void own_settings_show_to_their_owner_only(void **state) {
  json_t *conv = conversation("team", 12);
  json_t *u2 = json_array_get(json_object_get(conv, "participants"), 1);
  json_object_set_new(u2, "mention_count", json_integer(2));
  json_object_set_new(u2, "muted_until", json_string("2999-01-01T00:00:00.000Z"));
  json_t *mine = conv_view_json(conv, "u2"), *theirs = conv_view_json(conv, "u1");
  assert_int_equal(json_integer_value(json_object_get(mine, "mention_count")), 2);
  assert_string_equal(json_string_value(json_object_get(mine, "muted_until")),
                      "2999-01-01T00:00:00.000Z");
  assert_int_equal(json_integer_value(json_object_get(theirs, "mention_count")), 0);
  assert_true(json_is_null(json_object_get(theirs, "muted_until")));
  json_t *views[] = {mine, theirs}, *p;
  size_t i;
  for (int k = 0; k < 2; k++) json_array_foreach(json_object_get(views[k], "participants"), i, p) {
      assert_null(json_object_get(p, "mention_count"));
      assert_null(json_object_get(p, "muted_until"));
    }
  json_decref(mine);
  json_decref(theirs);
  assert_same(conv, "u2");
  assert_same(conv, "u1");
  json_decref(conv);
}

static void both_writers_agree(void **state) {
  static const char *const names[] = {
      "plain",
      "quote \" backslash \\ slash /",
      "controls \b\f\n\r\t \x01\x1f \x7f end",
      "caf\xc3\xa9"
      " \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x98\x80",
      "",
  };
  for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
    json_t *conv = conversation(names[i], 12);
    assert_same(conv, "u1");
    assert_same(conv, "u2");
    assert_same(conv, "stranger");
    json_decref(conv);
  }
  /* Every ASCII byte, NUL included, alone and in runs, in a value and a key:
   * the writer's escape table against jansson's escapes. */
  char all[3 * 128];
  for (int c = 0; c < 128; c++) all[c] = all[128 + 2 * c] = all[129 + 2 * c] = (char)c;
  json_t *bytes = conversation("x", 1);
  json_object_set_new(bytes, "name", json_stringn(all, sizeof(all)));
  json_object_set_new(json_array_get(json_object_get(bytes, "participants"), 0), "tab\there\"",
                      json_stringn(all + 100, 200));
  assert_same(bytes, "u1");
  json_decref(bytes);
  /* Integers at their extremes, in the conversation and in a participant. */
  static const json_int_t ints[] = {0, 7, -1, -9, 1234567890123, INT64_MAX, INT64_MIN};
  for (size_t i = 0; i < sizeof(ints) / sizeof(ints[0]); i++) {
    json_t *conv = json_pack("{s:s, s:I, s:[{s:s, s:I}]}", "id", "c3", "n", ints[i], "participants",
                             "id", "u1", "last_read_seq", ints[i]);
    assert_same(conv, "u1");
    assert_same(conv, "u2");
    json_decref(conv);
  }
  /* A participant that is not an object, and no participants at all. */
  json_t *odd = json_pack("{s:s, s:[s, {}], s:I}", "id", "c2", "participants", "u9", "last_seq",
                          (json_int_t)0);
  assert_same(odd, "u9");
  json_object_del(odd, "participants");
  assert_same(odd, "u9");
  json_decref(odd);
}

/* conv_view_put_string reads eight bytes at a time while none needs an
 * escape: every byte that does (and plain neighbours: ' ', '!', '#', '[',
 * ']', DEL), inserted at every offset of strings of 0 to 24 bytes of ASCII
 * or of UTF-8 ("\xc3\xa9" pairs, bytes of 0x80 and above), as jansson writes
 * them. */
static void strings_escape_at_every_offset(void **state) {
  (void)state;
  unsigned char special[64];
  size_t n_special = 0;
  for (int c = 0; c < 0x20; c++) special[n_special++] = (unsigned char)c;
  static const unsigned char more[] = {'"', '\\', ' ', '!', '#', '[', ']', 'a', 0x7f};
  for (size_t k = 0; k < sizeof(more); k++) special[n_special++] = more[k];
  int compared = 0;
  for (int utf8 = 0; utf8 < 2; utf8++)
    for (size_t len = 0; len <= 24; len += 1 + utf8)
      for (size_t at = 0; at <= len; at += 1 + utf8)
        for (size_t k = 0; k < n_special; k++) {
          char s[32];
          size_t n = 0;
          for (size_t i = 0; i <= len; i++) {
            if (i == at) s[n++] = (char)special[k];
            if (i < len) s[n++] = utf8 ? (char)(i % 2 ? 0xa9 : 0xc3) : (char)('a' + i);
          }
          json_t *j = json_stringn(s, n);
          char *expected = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);
          assert_non_null(expected);
          buf_t b;
          buf_init(&b);
          assert_int_equal(conv_view_put_string(&b, s, n), 0);
          assert_int_equal(b.len, strlen(expected));
          assert_memory_equal(b.data, expected, b.len);
          buf_free(&b);
          free(expected);
          json_decref(j);
          compared++;
        }
  assert_true(compared > 10000);
}

static void the_page_writer_matches_the_page_shape(void **state) {
  json_t *convs = json_pack("[o, o]", conversation("one", 4), conversation("two \"2\"", 20));
  const char *cursors[] = {"next-page", NULL};
  for (int k = 0; k < 2; k++) {
    json_t *result = json_pack("{s:O, s:s?}", "conversations", convs, "next_cursor", cursors[k]);
    json_t *page = json_pack(
        "{s:[o, o], s:s?}", "conversations", conv_view_json(json_array_get(convs, 0), "u2"),
        conv_view_json(json_array_get(convs, 1), "u2"), "next_cursor", cursors[k]);
    char *expected = json_dumps(page, JSON_COMPACT);
    buf_t b;
    buf_init(&b);
    assert_int_equal(conv_view_write_page(&b, result, "u2"), 0);
    assert_int_equal(b.len, strlen(expected));
    assert_memory_equal(b.data, expected, b.len);
    free(expected);
    buf_free(&b);
    json_decref(page);
    json_decref(result);
  }
  json_decref(convs);
}

/* A channel: no participants; "me" (only the user's own) gives role and
 * unread_count; the invite token shows to admins alone; both writers agree. */
static void a_channel_shows_member_count_and_its_members_own_state(void **state) {
  json_t *conv =
      json_pack("{s:s, s:s, s:s, s:I, s:b, s:I, s:s, s:n, s:{s:s, s:s, s:I}}", "id", "ch1", "type",
                "channel", "name", "News", "last_seq", (json_int_t)7, "public", 1, "member_count",
                (json_int_t)100000, "invite_token", "tok", "last_message", "me", "id", "u1", "role",
                "member", "last_read_seq", (json_int_t)4);
  json_t *view = conv_view_json(conv, "u1");
  assert_int_equal(json_integer_value(json_object_get(view, "unread_count")), 3);
  assert_string_equal(json_string_value(json_object_get(view, "role")), "member");
  assert_null(json_object_get(view, "me"));
  assert_null(json_object_get(view, "invite_token"));
  assert_null(json_object_get(view, "participants"));
  assert_int_equal(json_integer_value(json_object_get(view, "member_count")), 100000);
  json_decref(view);
  /* Someone else's "me" (a conversation.updated rendered for another member):
   * neither role nor unread_count, never the other's. */
  view = conv_view_json(conv, "u2");
  assert_null(json_object_get(view, "role"));
  assert_null(json_object_get(view, "unread_count"));
  assert_null(json_object_get(view, "invite_token"));
  json_decref(view);
  assert_int_equal(conv_view_read_seq(conv, "u1"), 4);
  assert_int_equal(conv_view_read_seq(conv, "u2"), -1);
  json_t *ids = conv_view_participant_ids(conv);
  assert_int_equal(json_array_size(ids), 0); /* members are reached otherwise */
  json_decref(ids);
  assert_same(conv, "u1");
  assert_same(conv, "u2");
  json_object_set_new(json_object_get(conv, "me"), "role", json_string("admin"));
  view = conv_view_json(conv, "u1");
  assert_string_equal(json_string_value(json_object_get(view, "invite_token")), "tok");
  json_decref(view);
  assert_same(conv, "u1");
  json_decref(conv);
}

/* avatar_url is in every view: null without an avatar, the signed URL the
 * record carries with one; a stored avatar_id never shows, at the top or on a
 * participant; both writers agree in each case. */
static void every_view_has_avatar_url_and_no_avatar_id(void **state) {
  json_t *conv = conversation("team", 12);
  json_t *u1 = json_array_get(json_object_get(conv, "participants"), 0);
  json_object_set_new(u1, "avatar_url", json_string("/api/attachments/x/thumbnail?a=u1"));
  json_object_set_new(u1, "avatar_id", json_string("0123456789abcdef01234567"));
  json_t *view = conv_view_json(conv, "u1");
  assert_non_null(json_object_get(view, "avatar_url"));
  assert_true(json_is_null(json_object_get(view, "avatar_url")));
  json_t *p = json_array_get(json_object_get(view, "participants"), 0);
  assert_string_equal(json_string_value(json_object_get(p, "avatar_url")),
                      "/api/attachments/x/thumbnail?a=u1");
  assert_null(json_object_get(p, "avatar_id"));
  json_decref(view);
  assert_same(conv, "u1");
  /* A group's avatar: signed (avatar_url) or not yet (avatar_id alone). */
  json_object_set_new(conv, "avatar_id", json_string("0123456789abcdef01234567"));
  view = conv_view_json(conv, "u2");
  assert_true(json_is_null(json_object_get(view, "avatar_url")));
  assert_null(json_object_get(view, "avatar_id"));
  json_decref(view);
  assert_same(conv, "u2");
  json_object_set_new(conv, "avatar_url", json_string("/api/attachments/y/thumbnail?a=c1"));
  view = conv_view_json(conv, "u2");
  assert_string_equal(json_string_value(json_object_get(view, "avatar_url")),
                      "/api/attachments/y/thumbnail?a=c1");
  json_decref(view);
  assert_same(conv, "u2");
  assert_same(conv, "stranger");
  /* A channel: null, and both writers agree. */
  json_t *ch = json_pack("{s:s, s:s, s:I, s:I}", "id", "ch1", "type", "channel", "last_seq",
                         (json_int_t)1, "member_count", (json_int_t)3);
  view = conv_view_json(ch, "u1");
  assert_true(json_is_null(json_object_get(view, "avatar_url")));
  json_decref(view);
  assert_same(ch, "u1");
  json_decref(ch);
  json_decref(conv);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(the_view_shows_read_markers_and_counts_unread),
      cmocka_unit_test(own_settings_show_to_their_owner_only),
      cmocka_unit_test(both_writers_agree),
      cmocka_unit_test(strings_escape_at_every_offset),
      cmocka_unit_test(the_page_writer_matches_the_page_shape),
      cmocka_unit_test(a_channel_shows_member_count_and_its_members_own_state),
      cmocka_unit_test(every_view_has_avatar_url_and_no_avatar_id),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
