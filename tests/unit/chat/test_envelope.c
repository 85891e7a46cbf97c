/* The bus envelope of the messaging domain (src/chat/envelope.c): a header, a
 * newline, the body bytes as sessions get them; malformed payloads refused;
 * nothing published on the in-process bus, where there is no other instance. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "chat/envelope.h"
#include "chat_fixture.h"
#include "parley/json_out.h"

static void a_payload_splits_into_header_and_body(void **state) {
  const char *p = "{\"k\":\"m\",\"c\":\"c1\",\"s\":3}\n{\"type\":\"message.new\"}";
  const char *body = NULL;
  size_t len = 0;
  json_t *hdr = envelope_parse(p, strlen(p), &body, &len);
  assert_non_null(hdr);
  assert_string_equal(json_string_value(json_object_get(hdr, "k")), "m");
  assert_int_equal(json_integer_value(json_object_get(hdr, "s")), 3);
  assert_int_equal(len, strlen("{\"type\":\"message.new\"}"));
  assert_memory_equal(body, "{\"type\":\"message.new\"}", len);
  json_decref(hdr);
  /* The body may be empty, and is never parsed here. */
  hdr = envelope_parse("{}\n", 3, &body, &len);
  assert_non_null(hdr);
  assert_int_equal(len, 0);
  json_decref(hdr);
  hdr = envelope_parse("{}\nnot json at all", 17, &body, &len);
  assert_non_null(hdr);
  json_decref(hdr);
}

static void malformed_payloads_are_refused(void **state) {
  const char *body = NULL;
  size_t len = 0;
  assert_null(envelope_parse("{\"k\":\"m\"}", 9, &body, &len)); /* no newline */
  assert_null(envelope_parse("[1]\n{}", 6, &body, &len));       /* not an object */
  assert_null(envelope_parse("{\"k\":\n{}", 8, &body, &len));   /* not JSON */
  assert_null(envelope_parse("", 0, &body, &len));
}

static void the_in_process_bus_has_no_one_to_tell(void **state) {
  chat_fx_t *f = chat_fx_new(0);
  assert_int_equal(envelope_remote(&f->app), 0);
  json_t *hdr = json_pack("{s:s}", "k", "e");
  envelope_publish(&f->app, hdr, "{}", 2);
  assert_null(json_object_get(hdr, "i")); /* not stamped: not sent */
  assert_int_equal(f->app.metrics->bus_published, 0);
  json_decref(hdr);
  chat_fx_free(f);
}

/* The header with "u" and "i" as json_out_dumps writes it after setting them. */
static char *header_as_before(const json_t *header, const json_t *users, const char *id,
                              size_t *len) {
  json_t *h = json_deep_copy(header);
  json_object_set(h, "u", (json_t *)users);
  json_object_set_new(h, "i", json_string(id));
  char *t = json_out_dumps(h, len);
  json_decref(h);
  return t;
}

static void assert_header(envelope_users_t *c, const json_t *header, const json_t *users,
                          const char *id) {
  size_t want_len, len;
  char *want = header_as_before(header, users, id, &want_len);
  char *got = envelope_header(c, header, users, id, &len);
  assert_non_null(got);
  assert_int_equal(len, want_len);
  assert_memory_equal(got, want, len);
  assert_int_equal(got[len], '\0');
  free(want);
  free(got);
}

/* The recipients' text kept for an array is the text it would have had, the
 * same bytes as before (dispatch.c reads the header's end), whether encoded
 * now or kept from an earlier message; ids that need escapes too. */
static void a_header_with_kept_recipients_is_the_same_text(void **state) {
  envelope_users_t *c = envelope_users_new();
  assert_non_null(c);
  json_t *users = json_pack("[s,s,s]", "u1", "u\"2", "u\n3");
  json_t *other = json_pack("[s]", "u9");
  json_t *h = json_pack("{s:s, s:s, s:I}", "k", "m", "c", "c1", "s", (json_int_t)7);
  json_t *empty = json_object();
  for (int round = 0; round < 2; round++) { /* encoded, then kept */
    assert_header(c, h, users, "instance-here");
    assert_header(c, h, other, "instance-here");
    assert_header(c, empty, users, "instance-here");
    assert_header(NULL, h, users, "instance-here"); /* nothing kept */
  }
  /* Kept texts hold their arrays: dropping ours leaves the text right. */
  json_t *gone = json_pack("[s,s]", "a", "b");
  assert_header(c, h, gone, "i1");
  json_decref(gone);
  json_t *next = json_pack("[s]", "c"); /* may take gone's address: it cannot, gone is held */
  assert_header(c, h, next, "i1");
  json_decref(next);
  envelope_users_free(c);
  json_decref(users);
  json_decref(other);
  json_decref(h);
  json_decref(empty);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(a_payload_splits_into_header_and_body),
      cmocka_unit_test(malformed_payloads_are_refused),
      cmocka_unit_test(the_in_process_bus_has_no_one_to_tell),
      cmocka_unit_test(a_header_with_kept_recipients_is_the_same_text),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
