/* Flow analytics without I/O: what a run's pieces add to the counters (nodes
 * once per run, sends, start and end), the stats view with click-through, and
 * which message node a postback's payload names. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "parley/flows_stats.h"

static json_t *J(const char *text) {
  json_error_t e;
  json_t *j = json_loads(text, 0, &e);
  if (!j) fail_msg("bad JSON in test: %s: %s", e.text, text);
  return j;
}

static void assert_json(json_t *got, const char *want) {
  json_t *w = J(want);
  if (!json_equal(got, w)) {
    char *g = json_dumps(got, JSON_SORT_KEYS);
    fail_msg("got %s, want %s", g, want);
  }
  json_decref(w);
}

static const char *TRACE =
    "[{\"node_id\":\"c\",\"type\":\"condition\",\"result\":true},"
    "{\"node_id\":\"m\",\"type\":\"message\",\"result\":{\"text\":\"hi\"}},"
    "{\"node_id\":\"d\",\"type\":\"delay\",\"result\":{\"seconds\":5}},"
    "{\"node_id\":\"m\",\"type\":\"message\",\"result\":{\"text\":\"hi again\"}},"
    "{\"node_id\":\"x\",\"type\":\"message\",\"result\":{\"error\":\"output_limit\"}}]";

static void test_delta_of_pieces(void **state) {
  (void)state;
  json_t *trace = J(TRACE);
  /* The first piece, up to the delay: started, three nodes, one send. */
  json_t *t3 = json_array();
  for (size_t i = 0; i < 3; i++) json_array_append(t3, json_array_get(trace, i));
  json_t *d = flow_stats_delta(t3, 0, 1, "2026-12-02", "waiting");
  assert_json(d,
              "{\"started\":1,\"day:2026-12-02\":1,\"node:c\":1,\"node:m\":1,\"node:d\":1,"
              "\"sent:m\":1}");
  json_decref(d);
  /* The piece after the delay: m again (no new reach, one more send), x cut
   * by output_limit (reached, not sent), and the end. */
  d = flow_stats_delta(trace, 3, 0, "2026-12-02", "output_limit");
  assert_json(d, "{\"sent:m\":1,\"node:x\":1,\"output_limit\":1}");
  json_decref(d);
  d = flow_stats_delta(trace, 5, 0, NULL, "completed");
  assert_json(d, "{\"completed\":1}");
  json_decref(d);
  json_decref(t3);
  json_decref(trace);
}

static const char *FLOW =
    "{\"nodes\":[{\"id\":\"m\",\"type\":\"message\",\"data\":{\"text\":\"pick\","
    "\"buttons\":[{\"type\":\"postback\",\"title\":\"Buy\",\"payload\":\"BUY\"},"
    "{\"type\":\"url\",\"title\":\"Site\",\"url\":\"https://x.example\"}]}},"
    "{\"id\":\"q\",\"type\":\"message\",\"data\":{\"text\":\"size?\","
    "\"quick_replies\":[{\"title\":\"S\",\"payload\":\"SIZE_S\"}]}},"
    "{\"id\":\"t\",\"type\":\"action\",\"data\":{\"payload\":\"BUY\"}},"
    "{\"id\":\"a\",\"type\":\"ask\",\"data\":{\"text\":\"sure?\","
    "\"quick_replies\":[{\"title\":\"Yes\",\"payload\":\"YES\"}]}}]}";

static void test_view_and_click_through(void **state) {
  (void)state;
  json_t *flow = J(FLOW), *ver = json_integer(2);
  /* Four runs reached m, by three contacts (one came back); "contacts_all"
   * (over every version) is not this version's. */
  json_t *counters =
      J("{\"started\":4,\"completed\":3,\"failed\":1,\"node:m\":4,\"contacts:m\":3,"
        "\"contacts_all:m\":9,\"sent:m\":4,\"click:m\":1,\"node:q\":2,\"contacts:q\":2,"
        "\"day:2026-12-02\":3,\"day:2026-11-30\":1}");
  json_t *v = flow_stats_view(flow, counters, ver);
  assert_json(v,
              "{\"version\":2,\"runs\":{\"started\":4,\"completed\":3,\"failed\":1,"
              "\"step_limit\":0,\"output_limit\":0},\"nodes\":["
              "{\"node_id\":\"m\",\"type\":\"message\",\"reached\":3,\"runs\":4,\"sent\":4,"
              "\"clicks\":1,\"click_through\":0.25},"
              "{\"node_id\":\"q\",\"type\":\"message\",\"reached\":2,\"runs\":2,\"sent\":0,"
              "\"clicks\":0,\"click_through\":null},"
              "{\"node_id\":\"t\",\"type\":\"action\",\"reached\":0,\"runs\":0,\"sent\":0,"
              "\"clicks\":0,\"click_through\":null},"
              "{\"node_id\":\"a\",\"type\":\"ask\",\"reached\":0,\"runs\":0,\"sent\":0,"
              "\"clicks\":0,\"click_through\":null}],"
              "\"days\":[{\"date\":\"2026-11-30\",\"started\":1},"
              "{\"date\":\"2026-12-02\",\"started\":3}]}");
  json_decref(v);
  /* Over every version: the flow's distinct contacts. */
  v = flow_stats_view(flow, counters, NULL);
  assert_int_equal(json_integer_value(
                       json_object_get(json_array_get(json_object_get(v, "nodes"), 0), "reached")),
                   9);
  json_decref(v);
  json_decref(counters);
  json_decref(ver);
  json_decref(flow);
}

static void test_click_node(void **state) {
  (void)state;
  json_t *flow = J(FLOW);
  assert_string_equal(flow_stats_click_node(flow, "BUY"), "m");
  assert_string_equal(flow_stats_click_node(flow, "SIZE_S"), "q");
  assert_string_equal(flow_stats_click_node(flow, "YES"), "a"); /* an ask's quick reply */
  /* Only a message's buttons count: the action's "payload" is no button. */
  assert_null(flow_stats_click_node(flow, "buy"));
  assert_null(flow_stats_click_node(flow, "https://x.example"));
  assert_null(flow_stats_click_node(flow, NULL));
  json_decref(flow);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_delta_of_pieces),
      cmocka_unit_test(test_view_and_click_through),
      cmocka_unit_test(test_click_node),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
