/* Signed download URLs (src/chat/attach_url.c): what a URL binds (file,
 * thumbnail or not, scope, expiry), expiry on a grid so URLs are stable for a
 * while, and the views of a message's attachments. Pure. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "chat/attach_url.h"

static const char *ID = "0123456789abcdef01234567";
static const char *CONV = "aaaaaaaaaaaaaaaaaaaaaaaa";

static void key(crypto_auth_hmacsha256_state *k) {
  unsigned char secret[32];
  memset(secret, 7, sizeof(secret));
  attach_url_key(secret, k);
}

/* Splits "...?c=X&exp=E&sig=S" into its values. */
static void parts(const char *url, char exp[24], char sig[40]) {
  const char *e = strstr(url, "&exp="), *s = strstr(url, "&sig=");
  assert_non_null(e);
  assert_non_null(s);
  snprintf(exp, 24, "%.*s", (int)(s - e - 5), e + 5);
  snprintf(sig, 40, "%s", s + 5);
}

static void a_url_opens_only_what_it_was_signed_for(void **state) {
  (void)state;
  crypto_auth_hmacsha256_state ks, *k = &ks;
  key(k);
  char url[ATTACH_URL_MAX], exp[24], sig[40];
  assert_int_equal(attach_url_sign(k, ID, 0, 'c', CONV, 1000, url, sizeof(url)), 0);
  static const char want[] =
      "/api/attachments/0123456789abcdef01234567?c=aaaaaaaaaaaaaaaaaaaaaaaa&exp=1000&sig=";
  assert_int_equal(strncmp(url, want, sizeof(want) - 1), 0);
  parts(url, exp, sig);
  assert_int_equal(strlen(sig), 32);
  assert_int_equal(attach_url_verify(k, ID, 0, 'c', CONV, exp, sig, 999), 0);
  assert_int_equal(attach_url_verify(k, ID, 0, 'c', CONV, exp, sig, 1000), 0);
  /* Expired; another file; the thumbnail; another scope; another expiry. */
  assert_int_equal(attach_url_verify(k, ID, 0, 'c', CONV, exp, sig, 1001), -1);
  assert_int_equal(attach_url_verify(k, "0123456789abcdef01234568", 0, 'c', CONV, exp, sig, 0), -1);
  assert_int_equal(attach_url_verify(k, ID, 1, 'c', CONV, exp, sig, 0), -1);
  assert_int_equal(attach_url_verify(k, ID, 0, 'u', CONV, exp, sig, 0), -1);
  assert_int_equal(attach_url_verify(k, ID, 0, 'c', "baaaaaaaaaaaaaaaaaaaaaaa", exp, sig, 0), -1);
  assert_int_equal(attach_url_verify(k, ID, 0, 'c', CONV, "1001", sig, 0), -1);
  assert_int_equal(attach_url_verify(k, ID, 0, 'c', CONV, "1000x", sig, 0), -1);
  /* Every altered digit of the signature. */
  for (size_t i = 0; i < 32; i++) {
    char bad[40];
    strcpy(bad, sig);
    bad[i] = bad[i] == '0' ? '1' : '0';
    assert_int_equal(attach_url_verify(k, ID, 0, 'c', CONV, exp, bad, 0), -1);
  }
  sig[31] = '\0';
  assert_int_equal(attach_url_verify(k, ID, 0, 'c', CONV, exp, sig, 0), -1);
  /* Another key (another server secret). */
  crypto_auth_hmacsha256_state other;
  unsigned char secret[32];
  memset(secret, 8, sizeof(secret));
  attach_url_key(secret, &other);
  parts(url, exp, sig);
  assert_int_equal(attach_url_verify(&other, ID, 0, 'c', CONV, exp, sig, 0), -1);
  /* Ids that are not ours are never signed. */
  assert_int_equal(attach_url_sign(k, "../etc/passwd", 0, 'c', CONV, 1, url, sizeof(url)), -1);
  assert_int_equal(attach_url_sign(k, ID, 0, 'x', CONV, 1, url, sizeof(url)), -1);
  assert_int_equal(attach_url_sign(k, ID, 0, 'c', CONV, 1, url, 20), -1);
}

/* The URL made with the keyed state is the one the key made before it was
 * kept keyed (crypto_auth_hmacsha256 with the key derived from the secret,
 * over the text snprintf wrote): URLs already handed out, and those of
 * instances not yet upgraded, stay valid. */
static void the_keyed_state_signs_as_the_key_did(void **state) {
  (void)state;
  static const char label[] = "parley attachment download urls v1";
  unsigned char secret[32], raw[32];
  memset(secret, 7, sizeof(secret));
  crypto_auth_hmacsha256(raw, (const unsigned char *)label, sizeof(label) - 1, secret);
  crypto_auth_hmacsha256_state k;
  key(&k);
  static const int64_t exps[] = {0, 7, 1000, 1764763200, 9223372036854775807LL, -5};
  static const char scopes[] = {'c', 'u', 'a'};
  for (size_t e = 0; e < sizeof(exps) / sizeof(exps[0]); e++)
    for (int thumb = 0; thumb < 2; thumb++)
      for (size_t s = 0; s < sizeof(scopes); s++) {
        char msg[128], url[ATTACH_URL_MAX], want[ATTACH_URL_MAX], hex[33];
        int n = snprintf(msg, sizeof(msg), "%s\n%s\n%c:%s\n%lld", ID, thumb ? "thumbnail" : "file",
                         scopes[s], CONV, (long long)exps[e]);
        unsigned char full[crypto_auth_hmacsha256_BYTES];
        crypto_auth_hmacsha256(full, (const unsigned char *)msg, (unsigned long long)n, raw);
        for (int i = 0; i < 16; i++) snprintf(hex + 2 * i, 3, "%02x", full[i]);
        snprintf(want, sizeof(want), "/api/attachments/%s%s?%c=%s&exp=%lld&sig=%s", ID,
                 thumb ? "/thumbnail" : "", scopes[s], CONV, (long long)exps[e], hex);
        assert_int_equal(attach_url_sign(&k, ID, thumb, scopes[s], CONV, exps[e], url, sizeof(url)),
                         0);
        assert_string_equal(url, want);
        /* Exactly the room it needs, and one byte less. */
        size_t len = strlen(want);
        assert_int_equal(attach_url_sign(&k, ID, thumb, scopes[s], CONV, exps[e], url, len + 1), 0);
        assert_string_equal(url, want);
        assert_int_equal(attach_url_sign(&k, ID, thumb, scopes[s], CONV, exps[e], url, len), -1);
      }
}

static void expiry_is_between_one_and_two_ttls_on_a_grid(void **state) {
  (void)state;
  for (int64_t now = 1000000; now < 1000700; now += 7) {
    int64_t e = attach_url_expiry(now, 300);
    assert_true(e - now > 300 && e - now <= 600);
    assert_int_equal(e % 300, 0);
  }
  assert_int_equal(attach_url_expiry(1000200, 300), attach_url_expiry(1000499, 300));
}

static void views_get_urls_and_lose_storage_fields(void **state) {
  (void)state;
  app_t app;
  memset(&app, 0, sizeof(app));
  app.cfg.attachment_url_ttl_s = 300;
  key(&app.url_key);
  json_t *m = json_pack(
      "{s:s, s:[{s:s, s:s, s:s}, {s:s, s:s, s:s}, {s:s, s:s}]}", "conversation_id", CONV,
      "attachments", "id", ID, "type", "image", "thumbnail_key", "0123456789abcdef01234567-t", "id",
      "bbbbbbbbbbbbbbbbbbbbbbbb", "type", "file", "user_id", "cccccccccccccccccccccccc", "type",
      "image", "url", "https://cdn.example/x.jpg");
  json_t *copy = attach_url_message_copy(&app, m);
  assert_ptr_not_equal(copy, m);
  json_t *a = json_array_get(json_object_get(copy, "attachments"), 0);
  assert_non_null(strstr(json_string_value(json_object_get(a, "url")), "?c=aaaa"));
  assert_non_null(strstr(json_string_value(json_object_get(a, "thumbnail_url")), "/thumbnail?c="));
  assert_null(json_object_get(a, "thumbnail_key"));
  json_t *b = json_array_get(json_object_get(copy, "attachments"), 1);
  assert_non_null(json_object_get(b, "url"));
  assert_null(json_object_get(b, "thumbnail_url"));
  assert_null(json_object_get(b, "user_id"));
  /* Meta's URL of an Instagram attachment stays as it is. */
  json_t *c = json_array_get(json_object_get(copy, "attachments"), 2);
  assert_string_equal(json_string_value(json_object_get(c, "url")), "https://cdn.example/x.jpg");
  /* The original is untouched. */
  assert_null(json_object_get(json_array_get(json_object_get(m, "attachments"), 0), "url"));
  json_decref(copy);
  json_t *plain = json_pack("{s:s, s:[]}", "conversation_id", CONV, "attachments");
  json_t *same = attach_url_message_copy(&app, plain);
  assert_ptr_equal(same, plain);
  json_decref(same);
  json_decref(plain);
  json_decref(m);
}

/* A page's conversations: the group's avatar and each participant's are
 * signed for their owner (a download with them opens), avatar_id goes, one
 * without an avatar keeps the store's avatar_url; a user in two conversations
 * of the page gets the one URL, shared. */
static void a_page_signs_each_owner_once(void **state) {
  (void)state;
  app_t app;
  memset(&app, 0, sizeof(app));
  key(&app.url_key);
  const char *g = "dddddddddddddddddddddddd", *u1 = "eeeeeeeeeeeeeeeeeeeeeeee";
  const char *pic = "ffffffffffffffffffffffff", *own = "999999999999999999999999";
  json_t *convs = json_pack("[{s:s, s:s, s:[{s:s, s:s}, {s:s, s:n}]}, {s:s, s:[{s:s, s:s}]}]", "id",
                            g, "avatar_id", pic, "participants", "id", u1, "avatar_id", own, "id",
                            "111111111111111111111111", "avatar_url", "id", CONV, "participants",
                            "id", u1, "avatar_id", own);
  attach_url_convs(&app, convs);
  json_t *c0 = json_array_get(convs, 0), *c1 = json_array_get(convs, 1);
  assert_null(json_object_get(c0, "avatar_id"));
  const char *url = json_string_value(json_object_get(c0, "avatar_url"));
  char exp[24], sig[40];
  assert_non_null(url);
  parts(url, exp, sig);
  assert_int_equal(attach_url_verify(&app.url_key, pic, 1, 'a', g, exp, sig, 0), 0);
  json_t *p0 = json_array_get(json_object_get(c0, "participants"), 0);
  json_t *p1 = json_array_get(json_object_get(c1, "participants"), 0);
  assert_null(json_object_get(p0, "avatar_id"));
  parts(json_string_value(json_object_get(p0, "avatar_url")), exp, sig);
  assert_int_equal(attach_url_verify(&app.url_key, own, 1, 'a', u1, exp, sig, 0), 0);
  assert_ptr_equal(json_object_get(p0, "avatar_url"), json_object_get(p1, "avatar_url"));
  assert_true(json_is_null(
      json_object_get(json_array_get(json_object_get(c0, "participants"), 1), "avatar_url")));
  assert_null(json_object_get(c1, "avatar_url")); /* the view writes null for it */
  json_decref(convs);
}

/* Instagram media not in storage yet (fetch "pending") or for good
 * ("failed"): shown with Meta's URL, never signed; stored: signed, Meta's URL
 * kept as source_url. */
static void instagram_media_show_meta_url_until_stored(void **state) {
  (void)state;
  app_t app;
  memset(&app, 0, sizeof(app));
  app.cfg.attachment_url_ttl_s = 300;
  key(&app.url_key);
  const char *meta = "https://lookaside.fbsbx.com/ig_messaging_cdn/?asset_id=1";
  json_t *m =
      json_pack("{s:s, s:[{s:s, s:s, s:s, s:s, s:s}, {s:s, s:s, s:s, s:s, s:s, s:I}]}",
                "conversation_id", CONV, "attachments", "id", ID, "type", "story_mention", "name",
                "instagram-story_mention", "source_url", meta, "fetch", "pending", "id",
                "bbbbbbbbbbbbbbbbbbbbbbbb", "type", "image", "name", "instagram-image",
                "source_url", meta, "content_type", "image/jpeg", "size", (json_int_t)10);
  attach_url_message(&app, m);
  json_t *a = json_array_get(json_object_get(m, "attachments"), 0);
  assert_string_equal(json_string_value(json_object_get(a, "url")), meta);
  assert_string_equal(json_string_value(json_object_get(a, "fetch")), "pending");
  assert_true(json_is_null(json_object_get(a, "content_type")));
  assert_true(json_is_null(json_object_get(a, "size")));
  assert_null(json_object_get(a, "thumbnail_url"));
  json_t *b = json_array_get(json_object_get(m, "attachments"), 1);
  assert_non_null(strstr(json_string_value(json_object_get(b, "url")), "/api/attachments/bbbb"));
  assert_string_equal(json_string_value(json_object_get(b, "source_url")), meta);
  json_decref(m);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(a_url_opens_only_what_it_was_signed_for),
      cmocka_unit_test(the_keyed_state_signs_as_the_key_did),
      cmocka_unit_test(expiry_is_between_one_and_two_ttls_on_a_grid),
      cmocka_unit_test(views_get_urls_and_lose_storage_fields),
      cmocka_unit_test(a_page_signs_each_owner_once),
      cmocka_unit_test(instagram_media_show_meta_url_until_stored),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
