/* InstantChat's React Flow JSON into Parley's model without I/O: each node
 * type, handles into labels, positions kept (React Flow's extra keys dropped),
 * the entry of a flow without a trigger or start, and every shape refused
 * with the node and field named. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "parley/flows.h"
#include "parley/flows_instantchat.h"

static const flow_limits_t lim = {200, 4000};

static json_t *J(const char *text) {
  json_error_t e;
  json_t *j = json_loads(text, 0, &e);
  if (!j) fail_msg("bad JSON in test: %s: %s", e.text, text);
  return j;
}

static const char *IC =
    "{\"name\":\"ic\",\"nodes\":["
    "{\"id\":\"1\",\"type\":\"conditionNode\",\"position\":{\"x\":1,\"y\":2},\"width\":180,"
    "\"data\":{\"keyword\":\"price\"}},"
    "{\"id\":\"2\",\"type\":\"messageNode\",\"position\":{\"x\":3.5,\"y\":4},"
    "\"data\":{\"content\":\"ten euros\"}},"
    "{\"id\":\"3\",\"type\":\"messageNode\",\"data\":{\"content\":\"ask me\"}},"
    "{\"id\":\"4\",\"type\":\"actionNode\",\"data\":{\"action\":\"tag_customer\",\"tag\":\"lead\"}}"
    "],"
    "\"edges\":[{\"id\":\"a\",\"source\":\"1\",\"target\":\"2\",\"sourceHandle\":\"true\"},"
    "{\"id\":\"b\",\"source\":\"1\",\"target\":\"3\",\"sourceHandle\":\"false\"},"
    "{\"id\":\"c\",\"source\":\"2\",\"target\":\"4\",\"sourceHandle\":null}]}";

static json_t *convert(json_t *in, char *err, char *field, char *node) {
  return flow_from_instantchat(in, err, 256, field, 32, node, 72);
}

static void test_converts_every_node_and_edge(void **state) {
  (void)state;
  json_t *in = J(IC);
  assert_true(flow_is_instantchat(in));
  char err[256], field[32], node[72];
  json_t *f = convert(in, err, field, node);
  assert_non_null(f);
  flow_default_entry(f);
  json_t *want = J(
      "{\"name\":\"ic\",\"trigger\":{\"type\":\"any_message\"},\"start\":\"1\",\"nodes\":["
      "{\"id\":\"1\",\"type\":\"condition\",\"position\":{\"x\":1,\"y\":2},"
      "\"data\":{\"kind\":\"keyword\",\"keyword\":\"price\"}},"
      "{\"id\":\"2\",\"type\":\"message\",\"position\":{\"x\":3.5,\"y\":4},"
      "\"data\":{\"text\":\"ten euros\"}},"
      "{\"id\":\"3\",\"type\":\"message\",\"data\":{\"text\":\"ask me\"}},"
      "{\"id\":\"4\",\"type\":\"action\",\"data\":{\"action\":\"tag_customer\",\"tag\":\"lead\"}}],"
      "\"edges\":[{\"from\":\"1\",\"to\":\"2\",\"label\":\"true\"},"
      "{\"from\":\"1\",\"to\":\"3\",\"label\":\"false\"},{\"from\":\"2\",\"to\":\"4\"}]}");
  if (!json_equal(f, want)) {
    char *got = json_dumps(f, JSON_SORT_KEYS);
    fail_msg("converted to %s", got);
  }
  assert_int_equal(flow_validate_node(f, &lim, err, 256, field, 32, node, 72), 0);
  json_decref(want);
  json_decref(f);
  json_decref(in);
}

static void test_parley_shape_is_not_instantchat(void **state) {
  (void)state;
  json_t *p =
      J("{\"nodes\":[{\"id\":\"m\",\"type\":\"message\",\"data\":{\"text\":\"x\"}}],"
        "\"edges\":[{\"from\":\"m\",\"to\":\"m\"}]}");
  assert_false(flow_is_instantchat(p));
  json_decref(p);
}

static void test_entry_defaults(void **state) {
  (void)state;
  /* The first node no edge leads to; a trigger and start given stay. */
  json_t *f =
      J("{\"nodes\":[{\"id\":\"b\"},{\"id\":\"a\"},{\"id\":\"c\"}],"
        "\"edges\":[{\"from\":\"a\",\"to\":\"b\"},{\"from\":\"b\",\"to\":\"c\"}]}");
  flow_default_entry(f);
  assert_string_equal(json_string_value(json_object_get(f, "start")), "a");
  json_decref(f);
  f = J("{\"trigger\":{\"type\":\"keyword\"},\"start\":\"c\",\"nodes\":[{\"id\":\"c\"}]}");
  flow_default_entry(f);
  assert_string_equal(json_string_value(json_object_get(f, "start")), "c");
  assert_string_equal(json_string_value(json_object_get(json_object_get(f, "trigger"), "type")),
                      "keyword");
  assert_int_equal(json_array_size(json_object_get(f, "edges")), 0);
  json_decref(f);
  /* Every node on a cycle: no start is made up, validation names it. */
  f = J("{\"nodes\":[{\"id\":\"a\"}],\"edges\":[{\"from\":\"a\",\"to\":\"a\"}]}");
  flow_default_entry(f);
  assert_null(json_object_get(f, "start"));
  json_decref(f);
}

static void expect_refused(const char *from, const char *to, const char *field, const char *node,
                           const char *words) {
  const char *at = strstr(IC, from);
  assert_non_null(at);
  char *s = malloc(strlen(IC) + strlen(to) + 1);
  memcpy(s, IC, (size_t)(at - IC));
  strcpy(s + (at - IC), to);
  strcat(s, at + strlen(from));
  json_t *in = J(s);
  char err[256], f[32], n[72];
  assert_null(convert(in, err, f, n));
  assert_string_equal(f, field);
  assert_string_equal(n, node);
  if (!strstr(err, words)) fail_msg("error '%s' does not mention '%s'", err, words);
  json_decref(in);
  free(s);
}

static void test_bad_shapes_name_node_and_field(void **state) {
  (void)state;
  expect_refused("{\"content\":\"ten euros\"}", "{}", "nodes", "2", "data.content");
  expect_refused("{\"content\":\"ask me\"}", "{\"content\":[1]}", "nodes", "3", "data.content");
  expect_refused("{\"keyword\":\"price\"}", "{\"kw\":\"price\"}", "nodes", "1", "data.keyword");
  expect_refused("\"action\":\"tag_customer\"", "\"action\":\"send\"", "nodes", "4",
                 "tag_customer");
  expect_refused("\"tag\":\"lead\"", "\"tag\":7", "nodes", "4", "data.tag");
  expect_refused("\"actionNode\"", "\"mysteryNode\"", "nodes", "4", "mysteryNode");
  expect_refused("\"data\":{\"content\":\"ask me\"}", "\"data\":\"ask me\"", "nodes", "3",
                 "data must be an object");
  expect_refused("{\"id\":\"3\",", "{\"id\":3,", "nodes", "", "id");
  expect_refused("\"sourceHandle\":\"false\"", "\"sourceHandle\":\"no\"", "edges", "1",
                 "sourceHandle");
  expect_refused("\"target\":\"4\"", "\"target\":4", "edges", "2", "edge 2");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_converts_every_node_and_edge),
      cmocka_unit_test(test_parley_shape_is_not_instantchat),
      cmocka_unit_test(test_entry_defaults),
      cmocka_unit_test(test_bad_shapes_name_node_and_field),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
