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

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(a_payload_splits_into_header_and_body),
      cmocka_unit_test(malformed_payloads_are_refused),
      cmocka_unit_test(the_in_process_bus_has_no_one_to_tell),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
