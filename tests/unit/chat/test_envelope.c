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

/* The header with "u" and "i" as json_out_dumps writes it after setting them,
 * a newline and body: the payload of recipients that do not pack. */
static char *payload_as_before(const json_t *header, const json_t *users, const char *id,
                               const char *body, size_t *len) {
  json_t *h = json_deep_copy(header);
  json_object_set(h, "u", (json_t *)users);
  json_object_set_new(h, "i", json_string(id));
  size_t hlen;
  char *t = json_out_dumps(h, &hlen);
  json_decref(h);
  char *p = malloc(hlen + 1 + strlen(body) + 1);
  memcpy(p, t, hlen);
  p[hlen] = '\n';
  strcpy(p + hlen + 1, body);
  *len = hlen + 1 + strlen(body);
  free(t);
  return p;
}

/* envelope_parse gives back header's members, the recipients as they were,
 * "i" and the body. */
static void assert_round_trip(const char *p, size_t len, const json_t *header, const json_t *users,
                              const char *id, const char *body) {
  const char *b = NULL;
  size_t blen = 0;
  json_t *hdr = envelope_parse(p, len, &b, &blen);
  assert_non_null(hdr);
  assert_true(json_equal(json_object_get(hdr, "u"), (json_t *)users));
  assert_string_equal(json_string_value(json_object_get(hdr, "i")), id);
  const char *key;
  json_t *v;
  json_object_foreach((json_t *)header, key, v) {
    assert_true(json_equal(json_object_get(hdr, key), v));
  }
  assert_int_equal(blen, strlen(body));
  assert_memory_equal(b, body, blen);
  json_decref(hdr);
}

static void assert_payload(envelope_users_t *c, const json_t *header, const json_t *users,
                           const char *id, const char *body) {
  size_t want_len, len;
  char *want = payload_as_before(header, users, id, body, &want_len);
  char *got = envelope_payload(c, header, users, 1, id, body, strlen(body), &len);
  assert_non_null(got);
  assert_int_equal(len, want_len);
  assert_memory_equal(got, want, len);
  assert_int_equal(got[len], '\0');
  assert_round_trip(got, len, header, users, id, body);
  free(want);
  free(got);
}

/* Recipients that do not all pack keep the text they would have had, the
 * same bytes as before (dispatch.c reads the header's end), whether encoded
 * now or kept from an earlier message; ids that need escapes too. */
static void a_payload_with_kept_recipients_is_the_same_text(void **state) {
  envelope_users_t *c = envelope_users_new();
  assert_non_null(c);
  json_t *users = json_pack("[s,s,s]", "u1", "u\"2", "u\n3");
  json_t *other = json_pack("[s]", "u9");
  json_t *h = json_pack("{s:s, s:s, s:I}", "k", "m", "c", "c1", "s", (json_int_t)7);
  json_t *empty = json_object();
  json_t *none = json_array();
  for (int round = 0; round < 2; round++) { /* encoded, then kept */
    assert_payload(c, h, users, "instance-here", "{\"type\":\"message.new\"}");
    assert_payload(c, h, other, "instance-here", "");
    assert_payload(c, empty, users, "instance-here", "x");
    assert_payload(c, h, none, "instance-here", "x");
    assert_payload(NULL, h, users, "instance-here", "x"); /* nothing kept */
  }
  /* Kept texts hold their arrays: dropping ours leaves the text right. */
  json_t *gone = json_pack("[s,s]", "a", "b");
  assert_payload(c, h, gone, "i1", "");
  json_decref(gone);
  json_t *next = json_pack("[s]", "c"); /* may take gone's address: it cannot, gone is held */
  assert_payload(c, h, next, "i1", "");
  json_decref(next);
  envelope_users_free(c);
  json_decref(users);
  json_decref(other);
  json_decref(h);
  json_decref(empty);
  json_decref(none);
}

#define ID1 "0123456789abcdef01234567"
#define ID2 "ffffffff000000000a0b0c0d"
#define ID3 "656d4c0aa1b2c3d4e5f60708" /* its bytes hold a newline (0x0a) */

/* Ids of 24 lowercase hex characters travel as their 12 bytes after the
 * header's newline ("U": their number); they come back as the same strings,
 * kept or not, and the body after them is untouched. One id that is not of
 * that form (upper case, another length) sends the array as JSON text. */
static void hex_ids_are_packed_and_come_back(void **state) {
  envelope_users_t *c = envelope_users_new();
  json_t *users = json_pack("[s,s,s]", ID1, ID2, ID3);
  json_t *h = json_pack("{s:s, s:s, s:I}", "k", "m", "c", "c1", "s", (json_int_t)7);
  const char *body = "{\"type\":\"message.new\",\"text\":\"a\\nb\"}";
  for (int round = 0; round < 3; round++) {
    size_t len;
    char *p = envelope_payload(round < 2 ? c : NULL, h, users, 1, "inst", body, strlen(body), &len);
    assert_non_null(p);
    const char *want = "{\"k\":\"m\",\"c\":\"c1\",\"s\":7,\"U\":3,\"i\":\"inst\"}\n";
    assert_int_equal(len, strlen(want) + 3 * 12 + strlen(body));
    assert_memory_equal(p, want, strlen(want));
    assert_memory_equal(p + strlen(want), "\x01\x23\x45\x67\x89\xab\xcd\xef\x01\x23\x45\x67", 12);
    assert_memory_equal(p + len - strlen(body), body, strlen(body));
    assert_round_trip(p, len, h, users, "inst", body);
    free(p);
  }
  /* An empty header and an empty body. */
  json_t *empty = json_object();
  size_t len;
  char *p = envelope_payload(c, empty, users, 1, "inst", NULL, 0, &len);
  assert_memory_equal(p, "{\"U\":3,\"i\":\"inst\"}\n", 19);
  assert_int_equal(len, 19 + 36);
  assert_round_trip(p, len, empty, users, "inst", "");
  free(p);
  /* Any id not of the form: JSON text, as before. */
  const char *odd[] = {"0123456789ABCDEF01234567", "0123456789abcdef0123456",
                       "0123456789abcdef012345678", "0123456789abcdef0123456g"};
  for (size_t i = 0; i < sizeof(odd) / sizeof(odd[0]); i++) {
    json_t *mixed = json_pack("[s,s]", ID1, odd[i]);
    assert_payload(c, h, mixed, "inst", body);
    json_decref(mixed);
  }
  json_decref(empty);
  json_decref(users);
  json_decref(h);
  envelope_users_free(c);
}

/* A message's payload, its header written without building it, is the bytes
 * envelope_payload gives for the header json_pack built before: seqs small
 * and large, a conversation id that needs escapes, recipients packed or not. */
static void a_message_payload_is_the_same_bytes(void **state) {
  envelope_users_t *c = envelope_users_new();
  json_t *packed = json_pack("[s,s]", ID1, ID2), *plain = json_pack("[s,s]", ID1, "x\"y");
  const char *convs[] = {"0123456789abcdef01234567", "c\"1\n\u00e9", ""};
  json_int_t seqs[] = {1, 9, 10, 123456789, INT64_MAX};
  const char *body = "{\"type\":\"message.new\"}";
  for (size_t k = 0; k < 3; k++)
    for (size_t j = 0; j < sizeof(seqs) / sizeof(seqs[0]); j++)
      for (int round = 0; round < 2; round++) {
        json_t *users = round ? plain : packed;
        json_t *h = json_pack("{s:s, s:s, s:I}", "k", "m", "c", convs[k], "s", seqs[j]);
        size_t want_len, len;
        char *want = envelope_payload(NULL, h, users, 1, "inst", body, strlen(body), &want_len);
        char *got = envelope_message_payload(c, convs[k], seqs[j], users, 1, "inst", body,
                                             strlen(body), &len);
        assert_non_null(got);
        assert_int_equal(len, want_len);
        assert_memory_equal(got, want, len);
        assert_round_trip(got, len, h, users, "inst", body);
        free(want);
        free(got);
        json_decref(h);
      }
  json_decref(packed);
  json_decref(plain);
  envelope_users_free(c);
}

/* With pack 0 (an instance of an earlier version is alive: presence.c) the
 * same ids go as the JSON array "u", which that version reads; a kept text
 * serves only the form it was written in. */
static void ids_go_as_json_while_another_version_listens(void **state) {
  (void)state;
  envelope_users_t *c = envelope_users_new();
  json_t *users = json_pack("[s,s,s]", ID1, ID2, ID3);
  json_t *h = json_pack("{s:s, s:s, s:I}", "k", "m", "c", "c1", "s", (json_int_t)7);
  const char *body = "{\"type\":\"message.new\"}";
  for (int round = 0; round < 4; round++) {
    int pack = round % 2;
    size_t len;
    char *p = envelope_payload(c, h, users, pack, "inst", body, strlen(body), &len);
    assert_non_null(p);
    const char *json = "{\"k\":\"m\",\"c\":\"c1\",\"s\":7,\"u\":[\"" ID1 "\",\"" ID2 "\",\"" ID3
                       "\"],\"i\":\"inst\"}\n";
    if (pack) {
      assert_non_null(strstr(p, "\"U\":3"));
    } else {
      assert_int_equal(len, strlen(json) + strlen(body));
      assert_memory_equal(p, json, strlen(json));
    }
    assert_round_trip(p, len, h, users, "inst", body);
    free(p);
    p = envelope_message_payload(c, "c1", 7, users, pack, "inst", body, strlen(body), &len);
    assert_non_null(p);
    if (pack)
      assert_non_null(strstr(p, "\"U\":3"));
    else
      assert_memory_equal(p, json, strlen(json));
    free(p);
  }
  json_decref(h);
  json_decref(users);
  envelope_users_free(c);
}

/* A packed list the payload does not hold, a count that is not one, or a "U"
 * beside a "u": the envelope is refused, nothing read past its end. */
static void bad_packed_recipients_are_refused(void **state) {
  json_t *users = json_pack("[s,s]", ID1, ID2);
  json_t *h = json_pack("{s:s, s:s, s:I}", "k", "m", "c", "c1", "s", (json_int_t)7);
  size_t len;
  char *p = envelope_payload(NULL, h, users, 1, "inst", "", 0, &len);
  const char *body;
  size_t blen;
  /* Cut anywhere inside the ids: refused; cut after them: the empty body. */
  size_t hlen = (size_t)((char *)memchr(p, '\n', len) - p) + 1;
  for (size_t cut = hlen; cut < len; cut++) {
    char *t = malloc(cut ? cut : 1); /* ASan sees a read past the cut */
    memcpy(t, p, cut);
    assert_null(envelope_parse(t, cut, &body, &blen));
    free(t);
  }
  json_t *hdr = envelope_parse(p, len, &body, &blen);
  assert_non_null(hdr);
  assert_int_equal(blen, 0);
  json_decref(hdr);
  free(p);
  const char *bad[] = {
      "{\"k\":\"m\",\"U\":-1,\"i\":\"x\"}\n",
      "{\"k\":\"m\",\"U\":\"2\",\"i\":\"x\"}\n012345678901012345678901",
      "{\"k\":\"m\",\"U\":1.5,\"i\":\"x\"}\n012345678901012345678901",
      "{\"k\":\"m\",\"U\":null,\"i\":\"x\"}\n012345678901",
      "{\"k\":\"m\",\"U\":9223372036854775807,\"i\":\"x\"}\n012345678901",
      "{\"k\":\"m\",\"U\":3,\"i\":\"x\"}\n012345678901012345678901",
      "{\"k\":\"m\",\"U\":1,\"u\":[],\"i\":\"x\"}\n012345678901",
  };
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
    assert_null(envelope_parse(bad[i], strlen(bad[i]), &body, &blen));
  /* Any 12 bytes are an id: they come back as its hex. */
  const char *ok = "{\"U\":1}\n\xff\x00\n\"\\\x7f\x80\x01\x02\x03\x04\x05rest";
  hdr = envelope_parse(ok, 8 + 12 + 4, &body, &blen);
  assert_non_null(hdr);
  assert_string_equal(json_string_value(json_array_get(json_object_get(hdr, "u"), 0)),
                      "ff000a225c7f800102030405");
  assert_int_equal(blen, 4);
  assert_memory_equal(body, "rest", 4);
  json_decref(hdr);
  json_decref(users);
  json_decref(h);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(a_payload_splits_into_header_and_body),
      cmocka_unit_test(malformed_payloads_are_refused),
      cmocka_unit_test(the_in_process_bus_has_no_one_to_tell),
      cmocka_unit_test(a_payload_with_kept_recipients_is_the_same_text),
      cmocka_unit_test(hex_ids_are_packed_and_come_back),
      cmocka_unit_test(ids_go_as_json_while_another_version_listens),
      cmocka_unit_test(bad_packed_recipients_are_refused),
      cmocka_unit_test(a_message_payload_is_the_same_bytes),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
