/* The flow model and engine without I/O: every validation error, trigger
 * matching (Unicode case folding), template filling, each node type, branches,
 * api_call resumption, delays and the step limit on a cycle. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "parley/flows.h"

static const flow_limits_t lim = {200, 4000};

static json_t *J(const char *text) {
  json_error_t e;
  json_t *j = json_loads(text, 0, &e);
  if (!j) fail_msg("bad JSON in test: %s: %s", e.text, text);
  return j;
}

static const char *FLOW =
    "{\"name\":\"price\",\"status\":\"active\",\"trigger\":{\"type\":\"keyword\",\"keywords\":["
    "\"price\"],"
    "\"match\":\"contains\"},\"start\":\"c1\",\"nodes\":["
    "{\"id\":\"c1\",\"type\":\"condition\",\"data\":{\"kind\":\"keyword\",\"keyword\":\"mug\"}},"
    "{\"id\":\"m1\",\"type\":\"message\",\"data\":{\"text\":\"Hi {{contact.username}}, the mug is "
    "{{vars.price}} ({{message.text}})\"}},"
    "{\"id\":\"m2\",\"type\":\"message\",\"data\":{\"text\":\"Which item?\"}},"
    "{\"id\":\"t1\",\"type\":\"action\",\"data\":{\"action\":\"tag_customer\",\"tag\":\"lead\"}}],"
    "\"edges\":[{\"from\":\"c1\",\"to\":\"m1\",\"label\":\"true\"},{\"from\":\"c1\",\"to\":\"m2\","
    "\"label\":\"false\"},"
    "{\"from\":\"m1\",\"to\":\"t1\"}]}";

/* flow_trigger_matches for an event of kind with text. */
static int matches(const json_t *trigger, const char *kind, const char *text) {
  json_t *ev = json_pack("{s:s, s:s}", "kind", kind, "text", text);
  int hit = flow_trigger_matches(trigger, ev);
  json_decref(ev);
  return hit;
}

static void expect_invalid(const char *flow, const char *needle) {
  json_t *f = J(flow);
  char err[256], field[32];
  assert_int_equal(flow_validate(f, &lim, err, sizeof(err), field, sizeof(field)), -1);
  if (!strstr(err, needle)) fail_msg("error '%s' does not mention '%s'", err, needle);
  json_decref(f);
}

static char *with(const char *from, const char *to) {
  const char *at = strstr(FLOW, from);
  assert_non_null(at);
  char *s = malloc(strlen(FLOW) + strlen(to) + 1);
  memcpy(s, FLOW, (size_t)(at - FLOW));
  strcpy(s + (at - FLOW), to);
  strcat(s, at + strlen(from));
  return s;
}

static void test_valid_flow(void **state) {
  (void)state;
  json_t *f = J(FLOW);
  char err[256], field[32];
  assert_int_equal(flow_validate(f, &lim, err, sizeof(err), field, sizeof(field)), 0);
  json_decref(f);
}

static void test_validation_errors(void **state) {
  (void)state;
  char *s;
  expect_invalid((s = with("\"type\":\"message\",\"data\":{\"text\":\"Which",
                           "\"type\":\"teleport\",\"data\":{\"text\":\"Which")),
                 "node m2: unknown node type");
  free(s);
  expect_invalid((s = with("{\"id\":\"m2\"", "{\"id\":\"m1\"")), "node m1: duplicate");
  free(s);
  expect_invalid(
      (s = with("{\"from\":\"m1\",\"to\":\"t1\"}", "{\"from\":\"m1\",\"to\":\"nowhere\"}")),
      "node m1: edge to nowhere");
  free(s);
  expect_invalid((s = with("\"start\":\"c1\",", "")), "start is missing");
  free(s);
  expect_invalid((s = with("\"start\":\"c1\",", "\"start\":\"zz\",")), "start node zz");
  free(s);
  expect_invalid((s = with("{\"from\":\"c1\",\"to\":\"m2\",\"label\":\"false\"},", "")),
                 "node c1: a condition needs");
  free(s);
  expect_invalid((s = with("{\"id\":\"t1\",\"type\":\"action\",\"data\":{\"action\":\"tag_"
                           "customer\",\"tag\":\"lead\"}}",
                           "{\"id\":\"t1\",\"type\":\"delay\",\"data\":{\"seconds\":86401}}")),
                 "node t1: a delay");
  free(s);
  expect_invalid((s = with("\"keywords\":[\"price\"]", "\"keywords\":[]")), "keywords");
  free(s);
  expect_invalid((s = with("\"type\":\"keyword\"", "\"type\":\"cron\"")), "unknown trigger type");
  free(s);
  expect_invalid((s = with("\"action\":\"tag_customer\"", "\"action\":\"launch\"")),
                 "node t1: unknown action");
  free(s);
  /* oversized text */
  char *big = malloc(6000);
  memset(big, 'x', 5000);
  big[5000] = '\0';
  char repl[6100];
  snprintf(repl, sizeof(repl), "\"text\":\"%s\"", big);
  expect_invalid((s = with("\"text\":\"Which item?\"", repl)),
                 "node m2: text must be 1 to 4000 bytes");
  free(s);
  free(big);
}

static void test_triggers(void **state) {
  (void)state;
  json_t *t = J("{\"type\":\"keyword\",\"keywords\":[\"price\",\"ÇA VA\"],\"match\":\"contains\"}");
  assert_true(matches(t, "message", "What is the PRICE?"));
  assert_true(matches(t, "message", "oui, ça va bien"));
  assert_false(matches(t, "message", "prize"));
  json_decref(t);
  t = J("{\"type\":\"keyword\",\"keywords\":[\"привет\"],\"match\":\"exact\"}");
  assert_true(matches(t, "message", "  ПРИВЕТ "));
  assert_false(matches(t, "message", "привет всем"));
  json_decref(t);
  t = J("{\"type\":\"keyword\",\"keywords\":[\"hello\"],\"match\":\"starts_with\"}");
  assert_true(matches(t, "message", "Hello there"));
  assert_false(matches(t, "message", "oh hello"));
  json_decref(t);
  t = J("{\"type\":\"any_message\"}");
  assert_true(matches(t, "message", "anything"));
  json_decref(t);
}

static void test_fill(void **state) {
  (void)state;
  json_t *ctx =
      J("{\"contact\":{\"username\":\"ana\"},\"message\":{\"text\":\"{{vars.secret}}\"},"
        "\"vars\":{\"price\":\"12 EUR\",\"secret\":\"no\",\"quote\":{\"amount\":12}}}");
  char *s = flow_fill(
      "Hi {{contact.username}}, {{vars.price}} / {{ vars.quote.amount }} / [{{vars.missing}}] / "
      "{{message.text}} / {{nope}}",
      ctx, FLOW_FILL_TEXT, 1000);
  /* The message text is inserted as is, never expanded again. */
  assert_string_equal(s, "Hi ana, 12 EUR / 12 / [] / {{vars.secret}} / ");
  free(s);
  s = flow_fill("unclosed {{contact.username", ctx, FLOW_FILL_TEXT, 1000);
  assert_string_equal(s, "unclosed {{contact.username");
  free(s);
  /* vars given apart (a run's step): read from them, never from ctx's own. */
  json_t *vars = J("{\"price\":\"9 EUR\",\"quote\":{\"amount\":9}}");
  s = flow_fill_vars("{{contact.username}} {{vars.price}} {{vars..quote.amount}} [{{vars.secret}}]",
                     ctx, vars, FLOW_FILL_TEXT, 1000);
  assert_string_equal(s, "ana 9 EUR 9 []");
  free(s);
  s = flow_fill_vars("[{{vars.price}}]", ctx, NULL, FLOW_FILL_TEXT, 1000);
  assert_string_equal(s, "[]");
  free(s);
  json_decref(vars);
  json_decref(ctx);
}

static const char *run_all(json_t *flow, json_t *st, json_t *ctx, json_t *actions) {
  const char *status;
  while (strcmp(status = flow_step(flow, st, ctx, actions), "running") == 0) {}
  return status;
}

static void test_run_true_branch(void **state) {
  (void)state;
  json_t *flow = J(FLOW);
  json_t *contact = J("{\"username\":\"ana\",\"tags\":[],\"variables\":{\"price\":\"12 EUR\"}}");
  json_t *ctx =
      json_pack("{s:O, s:{s:s}}", "contact", contact, "message", "text", "price of the MUG?");
  json_t *st = flow_state_new(flow, contact);
  json_t *actions = json_array();
  assert_string_equal(run_all(flow, st, ctx, actions), "completed");
  assert_int_equal(json_array_size(actions), 2);
  assert_string_equal(json_string_value(json_object_get(json_array_get(actions, 0), "text")),
                      "Hi ana, the mug is 12 EUR (price of the MUG?)");
  assert_string_equal(json_string_value(json_object_get(json_array_get(actions, 1), "tag")),
                      "lead");
  assert_int_equal(json_array_size(json_object_get(st, "trace")), 3);
  assert_string_equal(json_string_value(json_array_get(json_object_get(st, "tags"), 0)), "lead");
  json_decref(actions);
  json_decref(st);
  json_decref(ctx);
  json_decref(contact);
  json_decref(flow);
}

static void test_run_false_branch(void **state) {
  (void)state;
  json_t *flow = J(FLOW);
  json_t *ctx = J("{\"contact\":{},\"message\":{\"text\":\"price?\"}}");
  json_t *st = flow_state_new(flow, json_object_get(ctx, "contact"));
  json_t *actions = json_array();
  assert_string_equal(run_all(flow, st, ctx, actions), "completed");
  assert_int_equal(json_array_size(actions), 1);
  assert_string_equal(json_string_value(json_object_get(json_array_get(actions, 0), "text")),
                      "Which item?");
  json_decref(actions);
  json_decref(st);
  json_decref(ctx);
  json_decref(flow);
}

static void test_tag_and_variable_conditions_and_set(void **state) {
  (void)state;
  json_t *flow =
      J("{\"name\":\"v\",\"trigger\":{\"type\":\"any_message\"},\"start\":\"s\",\"nodes\":["
        "{\"id\":\"s\",\"type\":\"action\",\"data\":{\"action\":\"set_variable\",\"variable\":"
        "\"lang\",\"value\":\"fr-{{contact.username}}\"}},"
        "{\"id\":\"c\",\"type\":\"condition\",\"data\":{\"kind\":\"variable\",\"name\":\"lang\","
        "\"equals\":\"fr-ana\"}},"
        "{\"id\":\"g\",\"type\":\"condition\",\"data\":{\"kind\":\"tag\",\"tag\":\"vip\"}},"
        "{\"id\":\"yes\",\"type\":\"message\",\"data\":{\"text\":\"vip {{vars.lang}}\"}},"
        "{\"id\":\"no\",\"type\":\"message\",\"data\":{\"text\":\"no\"}}],"
        "\"edges\":[{\"from\":\"s\",\"to\":\"c\"},{\"from\":\"c\",\"to\":\"g\",\"label\":\"true\"},"
        "{\"from\":\"c\",\"to\":\"no\",\"label\":\"false\"},{\"from\":\"g\",\"to\":\"yes\","
        "\"label\":\"true\"},"
        "{\"from\":\"g\",\"to\":\"no\",\"label\":\"false\"}]}");
  char err[256], field[32];
  assert_int_equal(flow_validate(flow, &lim, err, sizeof(err), field, sizeof(field)), 0);
  json_t *contact = J("{\"username\":\"ana\",\"tags\":[\"vip\"]}");
  json_t *ctx = json_pack("{s:O, s:{s:s}}", "contact", contact, "message", "text", "hi");
  json_t *st = flow_state_new(flow, contact);
  json_t *actions = json_array();
  assert_string_equal(run_all(flow, st, ctx, actions), "completed");
  assert_string_equal(json_string_value(json_object_get(json_array_get(actions, 0), "type")),
                      "set_variable");
  assert_string_equal(json_string_value(json_object_get(json_array_get(actions, 1), "text")),
                      "vip fr-ana");
  json_decref(actions);
  json_decref(st);
  json_decref(ctx);
  json_decref(contact);
  json_decref(flow);
}

static void test_api_call_and_delay(void **state) {
  (void)state;
  json_t *flow =
      J("{\"name\":\"a\",\"trigger\":{\"type\":\"any_message\"},\"start\":\"a\",\"nodes\":["
        "{\"id\":\"a\",\"type\":\"action\",\"data\":{\"action\":\"api_call\",\"url\":\"http://x/"
        "{{contact.username}}\",\"method\":\"POST\",\"body\":{\"k\":1},\"save_as\":\"quote\"}},"
        "{\"id\":\"d\",\"type\":\"delay\",\"data\":{\"seconds\":2}},"
        "{\"id\":\"m\",\"type\":\"message\",\"data\":{\"text\":\"{{vars.quote.price}}\"}}],"
        "\"edges\":[{\"from\":\"a\",\"to\":\"d\"},{\"from\":\"d\",\"to\":\"m\"}]}");
  char err[256], field[32];
  assert_int_equal(flow_validate(flow, &lim, err, sizeof(err), field, sizeof(field)), 0);
  json_t *ctx = J("{\"contact\":{\"username\":\"ana\"},\"message\":{\"text\":\"hi\"}}");
  json_t *st = flow_state_new(flow, json_object_get(ctx, "contact"));
  json_t *actions = json_array();
  assert_string_equal(run_all(flow, st, ctx, actions), "waiting");
  json_t *call = json_array_get(actions, 0);
  assert_string_equal(json_string_value(json_object_get(call, "url")), "http://x/ana");
  assert_string_equal(json_string_value(json_object_get(call, "method")), "POST");
  json_t *result = J("{\"price\":\"9 EUR\"}");
  flow_resume(flow, st, result, NULL);
  json_decref(result);
  assert_string_equal(run_all(flow, st, ctx, actions), "waiting");
  assert_int_equal(json_integer_value(json_object_get(json_array_get(actions, 1), "seconds")), 2);
  flow_resume(flow, st, NULL, NULL);
  assert_string_equal(run_all(flow, st, ctx, actions), "completed");
  assert_string_equal(json_string_value(json_object_get(json_array_get(actions, 2), "text")),
                      "9 EUR");
  /* a failed call without a "false" edge fails the run */
  json_t *st2 = flow_state_new(flow, json_object_get(ctx, "contact"));
  json_t *a2 = json_array();
  run_all(flow, st2, ctx, a2);
  flow_resume(flow, st2, NULL, NULL);
  assert_string_equal(json_string_value(json_object_get(st2, "status")), "failed");
  json_decref(a2);
  json_decref(st2);
  json_decref(actions);
  json_decref(st);
  json_decref(ctx);
  json_decref(flow);
}

static void test_step_limit_on_cycle(void **state) {
  (void)state;
  json_t *flow =
      J("{\"name\":\"loop\",\"trigger\":{\"type\":\"any_message\"},\"start\":\"a\",\"nodes\":["
        "{\"id\":\"a\",\"type\":\"action\",\"data\":{\"action\":\"tag_customer\",\"tag\":\"x\"}},"
        "{\"id\":\"b\",\"type\":\"action\",\"data\":{\"action\":\"tag_customer\",\"tag\":\"y\"}}],"
        "\"edges\":[{\"from\":\"a\",\"to\":\"b\"},{\"from\":\"b\",\"to\":\"a\"}]}");
  char err[256], field[32];
  assert_int_equal(flow_validate(flow, &lim, err, sizeof(err), field, sizeof(field)), 0);
  json_t *ctx = J("{\"contact\":{},\"message\":{\"text\":\"hi\"}}");
  json_t *st = flow_state_new(flow, NULL);
  json_t *actions = json_array();
  assert_string_equal(run_all(flow, st, ctx, actions), "step_limit");
  assert_int_equal(json_array_size(actions), FLOW_MAX_STEPS);
  assert_int_equal(json_array_size(json_object_get(st, "tags")), 2);
  json_decref(actions);
  json_decref(st);
  json_decref(ctx);
  json_decref(flow);
}

/* A set_variable that doubles its variable on every step, in a cycle: the run
 * ends at the render bound, long before the step limit, having built nothing
 * larger than the bound. */
static void test_doubling_variable_hits_output_limit(void **state) {
  (void)state;
  json_t *flow = J(
      "{\"name\":\"double\",\"trigger\":{\"type\":\"any_message\"},\"start\":\"a\",\"nodes\":["
      "{\"id\":\"a\",\"type\":\"action\",\"data\":{\"action\":\"set_variable\",\"variable\":\"x\","
      "\"value\":\"{{vars.x}}{{vars.x}}\"}}],\"edges\":[{\"from\":\"a\",\"to\":\"a\"}]}");
  char err[256], field[32];
  assert_int_equal(flow_validate(flow, &lim, err, sizeof(err), field, sizeof(field)), 0);
  json_t *contact = J("{\"variables\":{\"x\":\"abcdefgh\"}}");
  json_t *ctx = json_pack("{s:O, s:{s:s}}", "contact", contact, "message", "text", "hi");
  json_t *st = flow_state_new(flow, contact);
  json_t *actions = json_array();
  assert_string_equal(run_all(flow, st, ctx, actions), "output_limit");
  const char *x = json_string_value(json_object_get(json_object_get(st, "vars"), "x"));
  assert_true(strlen(x) <= FLOW_MAX_RENDER_BYTES);
  assert_true(json_integer_value(json_object_get(st, "steps")) < 20);
  json_t *last = json_array_get(json_object_get(st, "trace"),
                                json_array_size(json_object_get(st, "trace")) - 1);
  assert_string_equal(json_string_value(json_object_get(json_object_get(last, "result"), "error")),
                      "output_limit");
  json_decref(actions);
  json_decref(st);
  json_decref(ctx);
  json_decref(contact);
  json_decref(flow);
}

/* Many messages each just under the per-template bound: the run's total bound
 * ends it once their sum passes FLOW_MAX_RUN_OUTPUT. */
static void test_run_output_total_is_bounded(void **state) {
  (void)state;
  json_t *flow =
      J("{\"name\":\"spam\",\"trigger\":{\"type\":\"any_message\"},\"start\":\"a\",\"nodes\":["
        "{\"id\":\"a\",\"type\":\"message\",\"data\":{\"text\":\"{{vars.big}}\"}}],"
        "\"edges\":[{\"from\":\"a\",\"to\":\"a\"}]}");
  char *big = malloc(FLOW_MAX_RENDER_BYTES);
  memset(big, 'z', FLOW_MAX_RENDER_BYTES - 1);
  big[FLOW_MAX_RENDER_BYTES - 1] = '\0';
  json_t *contact = json_pack("{s:{s:s}}", "variables", "big", big);
  free(big);
  json_t *ctx = json_pack("{s:O, s:{s:s}}", "contact", contact, "message", "text", "hi");
  json_t *st = flow_state_new(flow, contact);
  json_t *actions = json_array();
  assert_string_equal(run_all(flow, st, ctx, actions), "output_limit");
  size_t total = 0;
  json_t *a;
  size_t i;
  json_array_foreach(actions, i, a) total += strlen(json_string_value(json_object_get(a, "text")));
  assert_true(total <= FLOW_MAX_RUN_OUTPUT);
  assert_true(json_array_size(actions) >= 7);
  json_decref(actions);
  json_decref(st);
  json_decref(ctx);
  json_decref(contact);
  json_decref(flow);
}

static void test_fill_bound_and_json_values(void **state) {
  (void)state;
  json_t *ctx = J("{\"vars\":{\"s\":\"0123456789\",\"o\":{\"k\":[1,2,3]}}}");
  char *s = flow_fill("{{vars.s}}{{vars.s}}", ctx, FLOW_FILL_TEXT, 20);
  assert_string_equal(s, "01234567890123456789");
  free(s);
  assert_null(flow_fill("{{vars.s}}{{vars.s}}!", ctx, FLOW_FILL_TEXT, 20));
  assert_null(flow_fill("{{vars.o}}", ctx, FLOW_FILL_TEXT, 10));
  s = flow_fill("{{vars.o}}", ctx, FLOW_FILL_TEXT, 15);
  assert_string_equal(s, "{\"k\":[1,2,3]}");
  free(s);
  json_decref(ctx);
}

/* Customer text cannot add query parameters, path segments or a fragment, nor
 * choose the host. */
static void test_url_values_are_encoded(void **state) {
  (void)state;
  json_t *ctx =
      J("{\"message\":{\"text\":\"../../admin/delete\"},"
        "\"vars\":{\"q\":\"x&admin=1#frag\",\"dots\":\"..\",\"u\":\"caf\\u00e9 ~a.b_c-d\"}}");
  char *s = flow_fill("https://api.example.com/items/{{message.text}}?q={{vars.q}}", ctx,
                      FLOW_FILL_URL, 2048);
  assert_string_equal(
      s, "https://api.example.com/items/..%2F..%2Fadmin%2Fdelete?q=x%26admin%3D1%23frag");
  free(s);
  s = flow_fill("https://h/a/{{vars.dots}}/b?u={{vars.u}}", ctx, FLOW_FILL_URL, 2048);
  assert_string_equal(s, "https://h/a/%2E%2E/b?u=caf%C3%A9%20~a.b_c-d");
  free(s);
  /* Encoding counts against the bound: 3 bytes per encoded byte. */
  assert_null(flow_fill("{{vars.q}}", ctx, FLOW_FILL_URL, 19)); /* 20 encoded */
  assert_int_equal(flow_url_authority_len("https://api.example.com:8443/x/{{vars.q}}"),
                   strlen("https://api.example.com:8443"));
  assert_int_equal(flow_url_authority_len("https://api.example.com"),
                   strlen("https://api.example.com"));
  assert_int_equal(flow_url_authority_len("https://{{vars.host}}/x"), 0);
  assert_int_equal(flow_url_authority_len("https://api.example.com:{{vars.port}}/x"), 0);
  assert_int_equal(flow_url_authority_len("https://u:{{vars.p}}@h/x"), 0);
  assert_int_equal(flow_url_authority_len("ftp://h/x"), 0);
  json_decref(ctx);

  const char *bad[] = {"https://{{vars.host}}/x", "http://h:{{vars.port}}/", "https://{{vars.h}}"};
  char err[256], field[32], text[512];
  for (size_t i = 0; i < 3; i++) {
    snprintf(
        text, sizeof(text),
        "{\"name\":\"u\",\"trigger\":{\"type\":\"any_message\"},\"start\":\"a\",\"nodes\":["
        "{\"id\":\"a\",\"type\":\"action\",\"data\":{\"action\":\"api_call\",\"url\":\"%s\"}}],"
        "\"edges\":[]}",
        bad[i]);
    json_t *flow = J(text);
    assert_int_equal(flow_validate(flow, &lim, err, sizeof(err), field, sizeof(field)), -1);
    assert_non_null(strstr(err, "node a"));
    json_decref(flow);
  }
}

/* Runs flow to its end both ways, on the bare flow and on its graph, resuming
 * each wait with result; the states and actions must be equal. */
static void same_both_ways(json_t *flow, json_t *ctx, json_t *result, const char *want) {
  flow_graph_t *g = flow_graph_new(flow);
  assert_non_null(g);
  json_t *st[2], *acts[2];
  const char *status[2];
  for (int k = 0; k < 2; k++) {
    st[k] = flow_state_new(flow, json_object_get(ctx, "contact"));
    acts[k] = json_array();
    for (int rounds = 0; rounds < 20; rounds++) {
      status[k] =
          k ? flow_graph_step(g, st[k], ctx, acts[k]) : flow_step(flow, st[k], ctx, acts[k]);
      if (strcmp(status[k], "waiting") == 0) {
        if (k)
          flow_graph_resume(g, st[k], result, acts[k]);
        else
          flow_resume(flow, st[k], result, acts[k]);
      } else if (strcmp(status[k], "running") != 0) {
        break;
      }
    }
  }
  assert_string_equal(status[0], want);
  assert_string_equal(status[1], want);
  assert_true(json_equal(st[0], st[1]));
  assert_true(json_equal(acts[0], acts[1]));
  assert_true(json_array_size(json_object_get(st[1], "trace")) > 1);
  for (int k = 0; k < 2; k++) {
    json_decref(st[k]);
    json_decref(acts[k]);
  }
  flow_graph_free(g);
}

/* An indexed flow takes the same edges as the bare one: labelled condition
 * edges, an api_call's "true" and "false", a randomizer's branches. */
static void test_graph_steps_as_flow(void **state) {
  (void)state;
  json_t *flow = J(FLOW);
  json_t *yes = J("{\"contact\":{\"username\":\"ana\"},\"message\":{\"text\":\"a mug?\"}}");
  json_t *no = J("{\"contact\":{\"username\":\"ana\"},\"message\":{\"text\":\"a cup?\"}}");
  same_both_ways(flow, yes, NULL, "completed");
  same_both_ways(flow, no, NULL, "completed");
  json_decref(flow);
  flow =
      J("{\"name\":\"a\",\"trigger\":{\"type\":\"any_message\"},\"start\":\"a\",\"nodes\":["
        "{\"id\":\"a\",\"type\":\"action\",\"data\":{\"action\":\"api_call\",\"url\":"
        "\"http://x/\",\"save_as\":\"q\"}},"
        "{\"id\":\"r\",\"type\":\"randomizer\",\"data\":{\"branches\":[{\"name\":\"A\","
        "\"weight\":50},{\"name\":\"B\",\"weight\":50}]}},"
        "{\"id\":\"ma\",\"type\":\"message\",\"data\":{\"text\":\"A\"}},"
        "{\"id\":\"mb\",\"type\":\"message\",\"data\":{\"text\":\"B\"}},"
        "{\"id\":\"f\",\"type\":\"message\",\"data\":{\"text\":\"failed\"}}],"
        "\"edges\":[{\"from\":\"a\",\"to\":\"r\",\"label\":\"true\"},"
        "{\"from\":\"a\",\"to\":\"f\",\"label\":\"false\"},"
        "{\"from\":\"r\",\"to\":\"ma\",\"label\":\"A\"},"
        "{\"from\":\"r\",\"to\":\"mb\",\"label\":\"B\"}]}");
  char err[256], field[32];
  assert_int_equal(flow_validate(flow, &lim, err, sizeof(err), field, sizeof(field)), 0);
  json_t *ok = J("{\"price\":1}");
  same_both_ways(flow, yes, ok, "completed");
  same_both_ways(flow, yes, NULL, "completed");
  json_decref(ok);
  json_decref(yes);
  json_decref(no);
  json_decref(flow);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_valid_flow),
      cmocka_unit_test(test_validation_errors),
      cmocka_unit_test(test_triggers),
      cmocka_unit_test(test_fill),
      cmocka_unit_test(test_run_true_branch),
      cmocka_unit_test(test_run_false_branch),
      cmocka_unit_test(test_tag_and_variable_conditions_and_set),
      cmocka_unit_test(test_api_call_and_delay),
      cmocka_unit_test(test_step_limit_on_cycle),
      cmocka_unit_test(test_doubling_variable_hits_output_limit),
      cmocka_unit_test(test_run_output_total_is_bounded),
      cmocka_unit_test(test_fill_bound_and_json_values),
      cmocka_unit_test(test_url_values_are_encoded),
      cmocka_unit_test(test_graph_steps_as_flow),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
