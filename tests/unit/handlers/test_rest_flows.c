/* Flows over REST without sockets (src/handlers/flows.c): validation errors
 * that name the field and the node, a flow visible only to its owner (404 for
 * anyone else, on every call), updates, the seed SPA's save-by-name upsert,
 * the dry run with its outputs, and deletion. Loopback harness of
 * rest_fixture.h. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "rest_fixture.h"

/* A valid flow of two messages named name. */
static const char *flow_body(const char *name, char *out, size_t len) {
  snprintf(out, len,
           "{\"name\":\"%s\",\"trigger\":{\"type\":\"keyword\",\"keywords\":[\"hi\"],"
           "\"match\":\"contains\"},\"start\":\"m1\",\"nodes\":["
           "{\"id\":\"m1\",\"type\":\"message\",\"data\":{\"text\":\"Hi {{contact.username}}\"}},"
           "{\"id\":\"m2\",\"type\":\"message\",\"data\":{\"text\":\"You said {{message.text}}\"}}"
           "],\"edges\":[{\"from\":\"m1\",\"to\":\"m2\"}]}",
           name);
  return out;
}

/* Creates a flow of owner; its id goes into id. */
static void create(rest_fx_t *fx, const char *owner, const char *name, char id[25]) {
  char body[1024];
  rest_reply_t *r = rest_call(fx, 201, "POST", "/api/flows", owner, flow_body(name, body, 1024));
  snprintf(id, 25, "%s", rest_str(r, "flow", "id", NULL));
  rest_reply_free(r);
}

static void an_invalid_flow_is_refused_naming_the_node(void **state) {
  rest_fx_t *fx = *state;
  rest_expect_error(fx, 400, "validation_failed", "name", "POST", "/api/flows", fx->a,
                    "{\"trigger\":{\"type\":\"keyword\",\"keywords\":[\"hi\"]},\"nodes\":[],"
                    "\"edges\":[]}");
  char body[1024];
  flow_body("bad", body, sizeof(body));
  char *text = strstr(body, "Hi {{contact.username}}");
  memmove(text, text + strlen("Hi {{contact.username}}"), strlen(text) - 22);
  rest_reply_t *r = rest_call(fx, 400, "POST", "/api/flows", fx->a, body);
  assert_string_equal(rest_str(r, "error", "code", NULL), "validation_failed");
  assert_string_equal(rest_str(r, "error", "node_id", NULL), "m1");
  assert_non_null(rest_str(r, "error", "field", NULL));
  rest_reply_free(r);
  r = rest_call(fx, 200, "GET", "/api/flows", fx->a, NULL);
  assert_int_equal(json_array_size(json_object_get(r->body, "flows")), 0);
  rest_reply_free(r);
}

static void a_flow_is_its_owners_alone(void **state) {
  rest_fx_t *fx = *state;
  char id[25], target[128], body[1024];
  create(fx, fx->a, "greet", id);
  snprintf(target, sizeof(target), "/api/flows/%s", id);
  rest_reply_t *r = rest_call(fx, 200, "GET", target, fx->a, NULL);
  assert_string_equal(rest_str(r, "flow", "name", NULL), "greet");
  assert_string_equal(rest_str(r, "flow", "status", NULL), "draft");
  assert_null(json_object_get(json_object_get(r->body, "flow"), "owner_id"));
  rest_reply_free(r);
  rest_expect_error(fx, 404, "not_found", NULL, "GET", target, fx->b, NULL);
  rest_expect_error(fx, 404, "not_found", NULL, "PUT", target, fx->b,
                    flow_body("stolen", body, sizeof(body)));
  rest_expect_error(fx, 404, "not_found", NULL, "DELETE", target, fx->b, NULL);
  strcat(target, "/runs");
  rest_expect_error(fx, 404, "not_found", NULL, "GET", target, fx->b, NULL);
  r = rest_call(fx, 200, "GET", target, fx->a, NULL);
  assert_int_equal(json_array_size(json_object_get(r->body, "runs")), 0);
  rest_reply_free(r);
  r = rest_call(fx, 200, "GET", "/api/flows", fx->b, NULL);
  assert_int_equal(json_array_size(json_object_get(r->body, "flows")), 0);
  rest_reply_free(r);
}

static void update_save_and_delete(void **state) {
  rest_fx_t *fx = *state;
  char id[25], target[128], body[1024];
  create(fx, fx->a, "greet", id);
  snprintf(target, sizeof(target), "/api/flows/%s", id);
  rest_reply_t *r = rest_call(fx, 200, "PUT", target, fx->a, flow_body("renamed", body, 1024));
  assert_string_equal(rest_str(r, "flow", "name", NULL), "renamed");
  rest_reply_free(r);
  /* save: by name, an update when the name exists, else a creation. */
  r = rest_call(fx, 200, "POST", "/api/flow/save", fx->a, flow_body("renamed", body, 1024));
  assert_string_equal(rest_str(r, "flow", "id", NULL), id);
  rest_reply_free(r);
  r = rest_call(fx, 201, "POST", "/api/flow/save", fx->a, flow_body("second", body, 1024));
  assert_string_not_equal(rest_str(r, "flow", "id", NULL), id);
  rest_reply_free(r);
  r = rest_call(fx, 200, "GET", "/api/flow/get/second", fx->a, NULL);
  assert_string_equal(rest_str(r, "flow", "name", NULL), "second");
  rest_reply_free(r);
  rest_expect_error(fx, 404, "not_found", NULL, "GET", "/api/flow/get/second", fx->b, NULL);
  rest_reply_free(rest_call(fx, 204, "DELETE", target, fx->a, NULL));
  rest_expect_error(fx, 404, "not_found", NULL, "GET", target, fx->a, NULL);
  r = rest_call(fx, 200, "GET", "/api/flow/user", fx->a, NULL);
  assert_int_equal(json_array_size(json_object_get(r->body, "flows")), 1);
  rest_reply_free(r);
}

static void the_dry_run_shows_what_would_be_sent(void **state) {
  rest_fx_t *fx = *state;
  char id[25], target[128];
  create(fx, fx->a, "greet", id);
  snprintf(target, sizeof(target), "/api/flows/%s/test", id);
  rest_expect_error(fx, 400, "validation_failed", "text", "POST", target, fx->a, "{}");
  rest_expect_error(fx, 400, "validation_failed", "contact", "POST", target, fx->a,
                    "{\"text\":\"hi\",\"contact\":[1]}");
  rest_expect_error(fx, 404, "not_found", NULL, "POST", target, fx->b, "{\"text\":\"hi\"}");
  rest_reply_t *r = rest_call(fx, 200, "POST", target, fx->a,
                              "{\"text\":\"hi there\",\"contact\":{\"username\":\"ann\"}}");
  json_t *outputs = json_object_get(r->body, "outputs");
  assert_int_equal(json_array_size(outputs), 2);
  assert_string_equal(json_string_value(json_array_get(outputs, 0)), "Hi ann");
  assert_string_equal(json_string_value(json_array_get(outputs, 1)), "You said hi there");
  assert_string_equal(rest_str(r, "status", NULL), "completed");
  assert_int_equal(json_array_size(json_object_get(r->body, "trace")), 2);
  rest_reply_free(r);
  /* A dry run records no run. */
  snprintf(target, sizeof(target), "/api/flows/%s/runs", id);
  r = rest_call(fx, 200, "GET", target, fx->a, NULL);
  assert_int_equal(json_array_size(json_object_get(r->body, "runs")), 0);
  rest_reply_free(r);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(an_invalid_flow_is_refused_naming_the_node, rest_setup,
                                      rest_teardown),
      cmocka_unit_test_setup_teardown(a_flow_is_its_owners_alone, rest_setup, rest_teardown),
      cmocka_unit_test_setup_teardown(update_save_and_delete, rest_setup, rest_teardown),
      cmocka_unit_test_setup_teardown(the_dry_run_shows_what_would_be_sent, rest_setup,
                                      rest_teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
