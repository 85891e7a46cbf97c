/* The engine's blocks of issue 19 without I/O: triggers by kind, messages in
 * Meta's format (quick replies, buttons, media) and their limits, ask and save
 * (answer checks, invalid and timeout branches), the randomizer's weights,
 * conditions with operators and time of day, the new actions, run once and
 * cooldown, and the TZif reader. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "flows/tz.h"
#include "parley/flows.h"

static const flow_limits_t lim = {200, 4000};

static json_t *J(const char *text) {
  json_error_t e;
  json_t *j = json_loads(text, 0, &e);
  if (!j) fail_msg("bad JSON in test: %s: %s", e.text, text);
  return j;
}

/* A flow of the given nodes and edges, started at the first node. */
static json_t *flow_of(const char *nodes, const char *edges) {
  char buf[8192];
  snprintf(buf, sizeof(buf),
           "{\"name\":\"f\",\"trigger\":{\"type\":\"any_message\"},\"nodes\":%s,\"edges\":%s}",
           nodes, edges);
  json_t *f = J(buf);
  json_object_set(f, "start",
                  json_object_get(json_array_get(json_object_get(f, "nodes"), 0), "id"));
  return f;
}

static void valid(json_t *f) {
  char err[256], field[32], node[64];
  int rc = flow_validate_node(f, &lim, err, sizeof(err), field, sizeof(field), node, sizeof(node));
  if (rc != 0) fail_msg("unexpected error: %s", err);
}

static void invalid(json_t *f, const char *node_id, const char *needle) {
  char err[256], field[32], node[64];
  assert_int_equal(
      flow_validate_node(f, &lim, err, sizeof(err), field, sizeof(field), node, sizeof(node)), -1);
  if (!strstr(err, needle)) fail_msg("error '%s' does not mention '%s'", err, needle);
  assert_string_equal(node, node_id);
  json_decref(f);
}

/* Steps until the run is no longer running; the actions of all steps. */
static const char *run(json_t *f, json_t *st, json_t *ctx, json_t *actions) {
  const char *status;
  while (strcmp(status = flow_step(f, st, ctx, actions), "running") == 0) {}
  return status;
}

static int ev_matches(const char *trigger, const char *event) {
  json_t *t = J(trigger), *e = J(event);
  int hit = flow_trigger_matches(t, e);
  json_decref(t);
  json_decref(e);
  return hit;
}

static void triggers_by_kind(void **state) {
  (void)state;
  const char *kw = "{\"type\":\"keyword\",\"keywords\":[\"price\"]}";
  assert_true(ev_matches(kw, "{\"kind\":\"message\",\"text\":\"the price?\"}"));
  assert_true(ev_matches(kw, "{\"kind\":\"story_reply\",\"text\":\"price?\"}"));
  /* A button or quick reply is a postback: never a keyword. */
  assert_false(ev_matches(kw, "{\"kind\":\"postback\",\"text\":\"price\",\"payload\":\"price\"}"));
  assert_false(ev_matches(kw, "{\"kind\":\"comment\",\"text\":\"price\"}"));
  const char *pb = "{\"type\":\"postback\",\"payloads\":[\"CATEGORY_BAGS\"]}";
  assert_true(ev_matches(pb, "{\"kind\":\"postback\",\"payload\":\"CATEGORY_BAGS\"}"));
  assert_false(ev_matches(pb, "{\"kind\":\"postback\",\"payload\":\"category_bags\"}"));
  assert_false(ev_matches(pb, "{\"kind\":\"message\",\"text\":\"CATEGORY_BAGS\"}"));
  const char *cm =
      "{\"type\":\"comment\",\"media_ids\":[\"17900000000000001\"],\"keywords\":[\"link\"]}";
  assert_true(ev_matches(
      cm,
      "{\"kind\":\"comment\",\"text\":\"Send me the LINK\",\"media_id\":\"17900000000000001\"}"));
  assert_false(ev_matches(cm, "{\"kind\":\"comment\",\"text\":\"link\",\"media_id\":\"2\"}"));
  assert_false(ev_matches(
      cm, "{\"kind\":\"comment\",\"text\":\"nice\",\"media_id\":\"17900000000000001\"}"));
  assert_true(ev_matches("{\"type\":\"comment\"}", "{\"kind\":\"comment\",\"text\":\"x\"}"));
  assert_true(ev_matches("{\"type\":\"referral\",\"refs\":[\"spring_sale\"]}",
                         "{\"kind\":\"referral\",\"ref\":\"spring_sale\"}"));
  assert_false(ev_matches("{\"type\":\"referral\",\"refs\":[\"spring_sale\"]}",
                          "{\"kind\":\"referral\",\"ref\":\"autumn\"}"));
  assert_true(ev_matches("{\"type\":\"referral\"}", "{\"kind\":\"referral\"}"));
  assert_true(ev_matches("{\"type\":\"story_mention\"}", "{\"kind\":\"story_mention\"}"));
  assert_false(ev_matches("{\"type\":\"story_reply\"}", "{\"kind\":\"story_mention\"}"));
  assert_true(ev_matches("{\"type\":\"any_message\"}", "{\"kind\":\"story_reply\"}"));
  assert_false(ev_matches("{\"type\":\"any_message\"}", "{\"kind\":\"referral\"}"));
}

static void message_in_metas_format(void **state) {
  (void)state;
  json_t *f = flow_of(
      "[{\"id\":\"m\",\"type\":\"message\",\"data\":{\"text\":\"Pick, {{contact.username}}\","
      "\"media\":{\"type\":\"image\",\"url\":\"https://cdn.example/a.jpg\"},"
      "\"quick_replies\":[{\"title\":\"Bags\",\"payload\":\"BAGS\"}]}},"
      "{\"id\":\"b\",\"type\":\"message\",\"data\":{\"text\":\"More\",\"buttons\":["
      "{\"type\":\"postback\",\"title\":\"Shoes\",\"payload\":\"SHOES\"},"
      "{\"type\":\"url\",\"title\":\"Shop\",\"url\":\"https://shop.example\"}]}}]",
      "[{\"from\":\"m\",\"to\":\"b\"}]");
  valid(f);
  json_t *ctx = J("{\"contact\":{\"username\":\"mia\"},\"message\":{\"text\":\"hi\"}}");
  json_t *st = flow_state_new(f, json_object_get(ctx, "contact")), *acts = json_array();
  assert_string_equal(run(f, st, ctx, acts), "completed");
  assert_int_equal(json_array_size(acts), 3);
  json_t *want =
      J("[{\"type\":\"send\",\"text\":\"https://cdn.example/a.jpg\",\"message\":{"
        "\"attachment\":{\"type\":\"image\",\"payload\":{\"url\":"
        "\"https://cdn.example/a.jpg\"}}}},"
        "{\"type\":\"send\",\"text\":\"Pick, mia\",\"message\":{\"text\":\"Pick, mia\","
        "\"quick_replies\":[{\"content_type\":\"text\",\"title\":\"Bags\",\"payload\":"
        "\"BAGS\"}]}},"
        "{\"type\":\"send\",\"text\":\"More\",\"message\":{\"attachment\":{\"type\":"
        "\"template\",\"payload\":{\"template_type\":\"button\",\"text\":\"More\","
        "\"buttons\":[{\"type\":\"postback\",\"title\":\"Shoes\",\"payload\":\"SHOES\"},"
        "{\"type\":\"web_url\",\"url\":\"https://shop.example\",\"title\":\"Shop\"}]}}}}]");
  assert_true(json_equal(acts, want));
  json_decref(want);
  json_decref(acts);
  json_decref(st);
  json_decref(ctx);
  json_decref(f);
}

static void message_limits(void **state) {
  (void)state;
  char qr[4096] = "[";
  for (int i = 0; i < 14; i++)
    snprintf(qr + strlen(qr), sizeof(qr) - strlen(qr), "%s{\"title\":\"q%d\",\"payload\":\"P\"}",
             i ? "," : "", i);
  strcat(qr, "]");
  char nodes[8192];
  snprintf(nodes, sizeof(nodes),
           "[{\"id\":\"m1\",\"type\":\"message\",\"data\":{\"text\":\"x\",\"quick_replies\":%s}}]",
           qr);
  invalid(flow_of(nodes, "[]"), "m1", "quick_replies: 1 to 13");
  invalid(flow_of("[{\"id\":\"m1\",\"type\":\"message\",\"data\":{\"text\":\"x\",\"buttons\":["
                  "{\"type\":\"postback\",\"title\":\"a\",\"payload\":\"1\"},"
                  "{\"type\":\"postback\",\"title\":\"b\",\"payload\":\"2\"},"
                  "{\"type\":\"postback\",\"title\":\"c\",\"payload\":\"3\"},"
                  "{\"type\":\"postback\",\"title\":\"d\",\"payload\":\"4\"}]}}]",
                  "[]"),
          "m1", "buttons: 1 to 3");
  invalid(
      flow_of("[{\"id\":\"m1\",\"type\":\"message\",\"data\":{\"text\":\"x\",\"buttons\":["
              "{\"type\":\"postback\",\"title\":\"twenty-one characters\",\"payload\":\"1\"}]}}]",
              "[]"),
      "m1", "buttons[0].title: 1 to 20 characters");
  /* 20 characters of two bytes each is within Meta's limit. */
  json_t *f = flow_of(
      "[{\"id\":\"m1\",\"type\":\"message\",\"data\":{\"text\":\"x\",\"quick_replies\":["
      "{\"title\":\"éééééééééééééééééééé\",\"payload\":\"1\"}]}}]",
      "[]");
  valid(f);
  json_decref(f);
  invalid(flow_of("[{\"id\":\"m1\",\"type\":\"message\",\"data\":{\"text\":\"x\",\"buttons\":["
                  "{\"type\":\"call\",\"title\":\"a\",\"payload\":\"1\"}]}}]",
                  "[]"),
          "m1", "buttons[0].type must be postback or url");
  invalid(flow_of("[{\"id\":\"m1\",\"type\":\"message\",\"data\":{\"text\":\"x\",\"buttons\":["
                  "{\"type\":\"url\",\"title\":\"a\",\"url\":\"javascript:alert(1)\"}]}}]",
                  "[]"),
          "m1", "buttons[0].url");
  invalid(
      flow_of("[{\"id\":\"m1\",\"type\":\"message\",\"data\":{\"text\":\"x\",\"quick_replies\":["
              "{\"title\":\"a\",\"payload\":\"1\"}],\"buttons\":[{\"type\":\"postback\","
              "\"title\":\"a\",\"payload\":\"1\"}]}}]",
              "[]"),
      "m1", "cannot be sent in one message");
  invalid(flow_of("[{\"id\":\"m1\",\"type\":\"message\",\"data\":{\"media\":{\"type\":\"audio\","
                  "\"url\":\"https://x/a.mp3\"}}}]",
                  "[]"),
          "m1", "media.type must be image or video");
  invalid(flow_of("[{\"id\":\"m1\",\"type\":\"carousel\",\"data\":{}}]", "[]"), "m1",
          "unknown node type carousel");
}

static json_t *ask_flow(void) {
  return flow_of(
      "[{\"id\":\"a\",\"type\":\"ask\",\"data\":{\"text\":\"Your e-mail?\","
      "\"check\":\"email\",\"variable\":\"email\",\"timeout_seconds\":3600}},"
      "{\"id\":\"ok\",\"type\":\"message\",\"data\":{\"text\":\"Thanks {{vars.email}}\"}},"
      "{\"id\":\"bad\",\"type\":\"message\",\"data\":{\"text\":\"Not an e-mail\"}},"
      "{\"id\":\"late\",\"type\":\"message\",\"data\":{\"text\":\"Too late\"}}]",
      "[{\"from\":\"a\",\"to\":\"ok\"},{\"from\":\"a\",\"to\":\"bad\",\"label\":"
      "\"invalid\"},{\"from\":\"a\",\"to\":\"late\",\"label\":\"timeout\"}]");
}

/* The answer (NULL: the timeout) to the ask; returns the last send's text. */
static char *ask_with(const char *answer, json_t **vars) {
  json_t *f = ask_flow(), *ctx = J("{\"contact\":{},\"message\":{\"text\":\"hi\"}}");
  valid(f);
  json_t *st = flow_state_new(f, NULL), *acts = json_array();
  assert_string_equal(run(f, st, ctx, acts), "waiting");
  assert_string_equal(json_string_value(json_object_get(json_array_get(acts, 1), "type")), "wait");
  assert_int_equal(json_integer_value(json_object_get(json_array_get(acts, 1), "seconds")), 3600);
  json_array_clear(acts);
  json_t *a = answer ? json_string(answer) : NULL;
  flow_resume(f, st, a, acts);
  json_decref(a);
  assert_string_equal(run(f, st, ctx, acts), "completed");
  json_t *last = json_array_get(acts, json_array_size(acts) - 1);
  char *text = strdup(json_string_value(json_object_get(last, "text")));
  if (vars) *vars = json_incref(json_object_get(st, "vars"));
  json_decref(acts);
  json_decref(st);
  json_decref(ctx);
  json_decref(f);
  return text;
}

static void ask_and_save(void **state) {
  (void)state;
  json_t *vars = NULL;
  char *t = ask_with(" mia@example.com ", &vars);
  assert_string_equal(t, "Thanks mia@example.com");
  assert_string_equal(json_string_value(json_object_get(vars, "email")), "mia@example.com");
  json_decref(vars);
  free(t);
  assert_string_equal((t = ask_with("not an address", NULL)), "Not an e-mail");
  free(t);
  assert_string_equal((t = ask_with(NULL, NULL)), "Too late");
  free(t);
  /* Each check. */
  const struct {
    const char *check, *answer, *saved;
  } cases[] = {{"number", "42", "42"}, {"number", "4.5", "4.5"},
               {"number", "4x", NULL}, {"phone", "+49 (30) 123-4567", "\"+49301234567\""},
               {"phone", "12", NULL},  {"text", "  hello ", "\"hello\""},
               {"text", "   ", NULL},  {"email", "a@b", NULL}};
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    json_t *f = ask_flow();
    json_object_set_new(json_object_get(json_array_get(json_object_get(f, "nodes"), 0), "data"),
                        "check", json_string(cases[i].check));
    json_t *ctx = J("{\"contact\":{},\"message\":{\"text\":\"hi\"}}");
    json_t *st = flow_state_new(f, NULL), *acts = json_array();
    run(f, st, ctx, acts);
    json_array_clear(acts);
    json_t *a = json_string(cases[i].answer);
    flow_resume(f, st, a, acts);
    json_decref(a);
    json_t *saved = json_object_get(json_object_get(st, "vars"), "email");
    if (!cases[i].saved) {
      assert_null(saved);
      assert_int_equal(json_array_size(acts), 0);
    } else {
      char *dump = json_dumps(saved, JSON_ENCODE_ANY);
      assert_string_equal(dump, cases[i].saved);
      free(dump);
      /* and kept on the contact */
      assert_string_equal(json_string_value(json_object_get(json_array_get(acts, 0), "type")),
                          "set_variable");
    }
    json_decref(acts);
    json_decref(st);
    json_decref(ctx);
    json_decref(f);
  }
  invalid(flow_of("[{\"id\":\"a\",\"type\":\"ask\",\"data\":{\"text\":\"?\",\"variable\":\"v\","
                  "\"timeout_seconds\":0}}]",
                  "[]"),
          "a", "timeout_seconds");
  invalid(flow_of("[{\"id\":\"a\",\"type\":\"ask\",\"data\":{\"text\":\"?\",\"variable\":\"v\","
                  "\"timeout_seconds\":60}},{\"id\":\"b\",\"type\":\"message\",\"data\":{\"text\":"
                  "\"x\"}}]",
                  "[{\"from\":\"a\",\"to\":\"b\",\"label\":\"true\"}]"),
          "a", "\"invalid\" or \"timeout\"");
}

static json_t *random_flow(int wa, int wb) {
  char nodes[1024];
  snprintf(nodes, sizeof(nodes),
           "[{\"id\":\"r\",\"type\":\"randomizer\",\"data\":{\"branches\":[{\"name\":\"A\","
           "\"weight\":%d},{\"name\":\"B\",\"weight\":%d}]}},"
           "{\"id\":\"a\",\"type\":\"message\",\"data\":{\"text\":\"A\"}},"
           "{\"id\":\"b\",\"type\":\"message\",\"data\":{\"text\":\"B\"}}]",
           wa, wb);
  return flow_of(nodes,
                 "[{\"from\":\"r\",\"to\":\"a\",\"label\":\"A\"},{\"from\":\"r\",\"to\":"
                 "\"b\",\"label\":\"B\"}]");
}

static void randomizer(void **state) {
  (void)state;
  json_t *f = random_flow(30, 70), *ctx = J("{\"contact\":{},\"message\":{\"text\":\"\"}}");
  valid(f);
  int a = 0;
  for (int i = 0; i < 2000; i++) {
    json_t *st = flow_state_new(f, NULL), *acts = json_array();
    json_object_set_new(st, "seed", json_integer(i * 2654435761u % 4294967291u + 1));
    assert_string_equal(run(f, st, ctx, acts), "completed");
    const char *sent = json_string_value(json_object_get(json_array_get(acts, 0), "text"));
    const char *branch = json_string_value(json_object_get(
        json_object_get(json_array_get(json_object_get(st, "trace"), 0), "result"), "branch"));
    assert_string_equal(sent, branch); /* the choice is recorded in the trace */
    a += strcmp(sent, "A") == 0;
    json_decref(acts);
    json_decref(st);
  }
  assert_in_range(a, 500, 700); /* about 30% */
  json_decref(f);
  f = random_flow(100, 0);
  json_t *st = flow_state_new(f, NULL), *acts = json_array();
  run(f, st, ctx, acts);
  assert_string_equal(json_string_value(json_object_get(json_array_get(acts, 0), "text")), "A");
  json_decref(acts);
  json_decref(st);
  json_decref(f);
  json_decref(ctx);
  invalid(random_flow(50, 49), "r", "the weights sum to 99, not 100");
  invalid(random_flow(150, -50), "r", "weight");
}

static int holds(const char *cond, const char *vars, const char *local) {
  char nodes[2048], ctxs[512];
  snprintf(nodes, sizeof(nodes),
           "[{\"id\":\"c\",\"type\":\"condition\",\"data\":%s},"
           "{\"id\":\"t\",\"type\":\"message\",\"data\":{\"text\":\"T\"}},"
           "{\"id\":\"f\",\"type\":\"message\",\"data\":{\"text\":\"F\"}}]",
           cond);
  json_t *f = flow_of(nodes,
                      "[{\"from\":\"c\",\"to\":\"t\",\"label\":\"true\"},{\"from\":\"c\","
                      "\"to\":\"f\",\"label\":\"false\"}]");
  valid(f);
  snprintf(ctxs, sizeof(ctxs), "{\"contact\":{\"variables\":%s,\"tags\":[\"vip\"]},\"local\":%s}",
           vars, local);
  json_t *ctx = J(ctxs);
  json_t *st = flow_state_new(f, json_object_get(ctx, "contact")), *acts = json_array();
  run(f, st, ctx, acts);
  int t = strcmp(json_string_value(json_object_get(json_array_get(acts, 0), "text")), "T") == 0;
  json_decref(acts);
  json_decref(st);
  json_decref(ctx);
  json_decref(f);
  return t;
}

static void conditions(void **state) {
  (void)state;
  const char *v = "{\"age\":\"42\",\"city\":\"Berlin\",\"n\":7}",
             *noon = "{\"weekday\":1,\"minute\":720}";
  assert_true(
      holds("{\"kind\":\"variable\",\"name\":\"age\",\"op\":\"gt\",\"value\":18}", v, noon));
  assert_false(
      holds("{\"kind\":\"variable\",\"name\":\"age\",\"op\":\"lt\",\"value\":18}", v, noon));
  assert_true(
      holds("{\"kind\":\"variable\",\"name\":\"n\",\"op\":\"lt\",\"value\":\"10\"}", v, noon));
  assert_true(holds(
      "{\"kind\":\"variable\",\"name\":\"city\",\"op\":\"contains\",\"value\":\"ERL\"}", v, noon));
  assert_true(holds("{\"kind\":\"variable\",\"name\":\"city\",\"op\":\"is_set\"}", v, noon));
  assert_false(holds("{\"kind\":\"variable\",\"name\":\"zip\",\"op\":\"is_set\"}", v, noon));
  assert_true(holds("{\"kind\":\"variable\",\"name\":\"zip\",\"op\":\"is_not_set\"}", v, noon));
  assert_true(
      holds("{\"kind\":\"variable\",\"name\":\"n\",\"op\":\"equals\",\"value\":\"7\"}", v, noon));
  assert_true(holds("{\"kind\":\"variable\",\"name\":\"city\",\"equals\":\"Berlin\"}", v, noon));
  assert_true(holds("{\"kind\":\"tag\",\"tag\":\"vip\"}", v, noon));
  assert_true(holds("{\"kind\":\"tag\",\"tag\":\"new\",\"op\":\"lacks\"}", v, noon));
  const char *hours =
      "{\"kind\":\"time\",\"from\":\"09:00\",\"to\":\"17:30\",\"weekdays\":[1,2,3,4,5]}";
  assert_true(holds(hours, v, noon));
  assert_false(holds(hours, v, "{\"weekday\":0,\"minute\":720}"));
  assert_false(holds(hours, v, "{\"weekday\":1,\"minute\":1050}")); /* 17:30: closed */
  const char *night = "{\"kind\":\"time\",\"from\":\"22:00\",\"to\":\"06:00\"}";
  assert_true(holds(night, v, "{\"weekday\":3,\"minute\":1380}"));
  assert_true(holds(night, v, "{\"weekday\":3,\"minute\":60}"));
  assert_false(holds(night, v, noon));
  invalid(flow_of("[{\"id\":\"c\",\"type\":\"condition\",\"data\":{\"kind\":\"time\",\"from\":"
                  "\"25:00\",\"to\":\"06:00\"}}]",
                  "[]"),
          "c", "HH:MM");
  invalid(flow_of("[{\"id\":\"c\",\"type\":\"condition\",\"data\":{\"kind\":\"variable\",\"name\":"
                  "\"a\",\"op\":\"matches\",\"value\":1}}]",
                  "[]"),
          "c", "op must be");
}

static void actions(void **state) {
  (void)state;
  json_t *f = flow_of(
      "[{\"id\":\"r\",\"type\":\"action\",\"data\":{\"action\":\"remove_tag\",\"tag\":\"vip\"}},"
      "{\"id\":\"c\",\"type\":\"action\",\"data\":{\"action\":\"clear_variable\",\"variable\":"
      "\"city\"}},"
      "{\"id\":\"n\",\"type\":\"action\",\"data\":{\"action\":\"notify_agent\",\"text\":\"{{"
      "contact.username}} needs help\"}},"
      "{\"id\":\"a\",\"type\":\"action\",\"data\":{\"action\":\"api_call\",\"url\":\"https://"
      "crm.example/x\","
      "\"headers\":[{\"name\":\"Authorization\",\"value\":\"Bearer "
      "k\"}],\"map\":{\"tier\":\"data.tier\",\"first\":\"items.0.id\"}}},"
      "{\"id\":\"h\",\"type\":\"action\",\"data\":{\"action\":\"handover\"}}]",
      "[{\"from\":\"r\",\"to\":\"c\"},{\"from\":\"c\",\"to\":\"n\"},{\"from\":\"n\",\"to\":\"a\"},"
      "{\"from\":\"a\",\"to\":\"h\"}]");
  valid(f);
  json_t *ctx =
      J("{\"contact\":{\"username\":\"mia\",\"tags\":[\"vip\",\"x\"],\"variables\":{\"city\":\"B\"}"
        "}}");
  json_t *st = flow_state_new(f, json_object_get(ctx, "contact")), *acts = json_array();
  assert_string_equal(run(f, st, ctx, acts), "waiting");
  json_t *want =
      J("[{\"type\":\"untag\",\"tag\":\"vip\"},{\"type\":\"set_variable\",\"name\":\"city\","
        "\"value\":null},{\"type\":\"notify\",\"text\":\"mia needs help\"},{\"type\":"
        "\"api_call\",\"url\":\"https://crm.example/"
        "x\",\"method\":\"GET\",\"save_as\":null,\"headers\":["
        "\"Authorization: Bearer k\"]}]");
  assert_true(json_equal(acts, want));
  json_decref(want);
  assert_int_equal(json_array_size(json_object_get(st, "tags")), 1);
  assert_string_equal(json_string_value(json_array_get(json_object_get(st, "tags"), 0)), "x");
  assert_null(json_object_get(json_object_get(st, "vars"), "city"));
  json_array_clear(acts);
  json_t *resp = J("{\"data\":{\"tier\":\"gold\"},\"items\":[{\"id\":7}]}");
  flow_resume(f, st, resp, acts);
  json_decref(resp);
  assert_string_equal(run(f, st, ctx, acts), "completed");
  /* The mapped values (in the map's order), then the handover. */
  assert_int_equal(json_array_size(acts), 3);
  assert_string_equal(json_string_value(json_object_get(json_array_get(acts, 2), "type")),
                      "handover");
  json_t *vars = json_object_get(st, "vars");
  assert_string_equal(json_string_value(json_object_get(vars, "tier")), "gold");
  assert_int_equal(json_integer_value(json_object_get(vars, "first")), 7);
  json_decref(acts);
  json_decref(st);
  json_decref(ctx);
  json_decref(f);
  invalid(flow_of("[{\"id\":\"a\",\"type\":\"action\",\"data\":{\"action\":\"api_call\",\"url\":"
                  "\"https://x.example\",\"headers\":[{\"name\":\"X-A\",\"value\":\"a\\r\\nHost: "
                  "evil\"}]}}]",
                  "[]"),
          "a", "headers[0].value");
  invalid(flow_of("[{\"id\":\"a\",\"type\":\"action\",\"data\":{\"action\":\"api_call\",\"url\":"
                  "\"https://x.example\",\"headers\":[{\"name\":\"Host\",\"value\":\"a\"}]}}]",
                  "[]"),
          "a", "is set by Parley");
  invalid(flow_of("[{\"id\":\"h\",\"type\":\"action\",\"data\":{\"action\":\"handover\"}},"
                  "{\"id\":\"m\",\"type\":\"message\",\"data\":{\"text\":\"x\"}}]",
                  "[{\"from\":\"h\",\"to\":\"m\"}]"),
          "h", "a handover ends the run");
}

/* A run started by a comment: the public reply first, then the first send is
 * the private reply to the comment, later ones are plain. */
static void comment_replies(void **state) {
  (void)state;
  json_t *f = flow_of(
      "[{\"id\":\"m\",\"type\":\"message\",\"data\":{\"text\":\"Here is the link\"}},"
      "{\"id\":\"n\",\"type\":\"message\",\"data\":{\"text\":\"Anything else?\"}}]",
      "[{\"from\":\"m\",\"to\":\"n\"}]");
  json_object_set_new(
      f, "trigger",
      J("{\"type\":\"comment\",\"public_reply\":\"Sent you a DM, {{contact.username}}!\"}"));
  valid(f);
  json_t *ctx =
      J("{\"contact\":{\"username\":\"mia\"},\"event\":{\"kind\":\"comment\",\"comment_id\":"
        "\"179\"}}");
  json_t *st = flow_state_new(f, NULL), *acts = json_array();
  assert_string_equal(run(f, st, ctx, acts), "completed");
  json_t *want =
      J("[{\"type\":\"comment_reply\",\"comment_id\":\"179\",\"text\":\"Sent you a DM, mia!\"},"
        "{\"type\":\"send\",\"text\":\"Here is the link\",\"comment_id\":\"179\"},"
        "{\"type\":\"send\",\"text\":\"Anything else?\"}]");
  assert_true(json_equal(acts, want));
  json_decref(want);
  json_decref(acts);
  json_decref(st);
  json_decref(ctx);
  json_decref(f);
}

static void settings(void **state) {
  (void)state;
  json_t *f = J("{\"settings\":{\"run_once\":true}}");
  json_t *last = J("{\"created_at\":\"2026-01-01T00:00:00.000Z\"}");
  const char *why;
  assert_true(flow_settings_allow(f, NULL, 0, &why));
  assert_false(flow_settings_allow(f, last, 0, &why));
  assert_string_equal(why, "run_once");
  json_decref(f);
  f = J("{\"settings\":{\"cooldown_seconds\":3600,\"priority\":5}}");
  int64_t at = 1767225600000LL; /* 2026-01-01T00:00:00Z */
  assert_false(flow_settings_allow(f, last, at + 3599 * 1000, &why));
  assert_string_equal(why, "cooldown");
  assert_true(flow_settings_allow(f, last, at + 3600 * 1000, &why));
  assert_int_equal(flow_priority(f), 5);
  json_decref(f);
  json_decref(last);
  json_t *bad = flow_of("[{\"id\":\"m\",\"type\":\"message\",\"data\":{\"text\":\"x\"}}]", "[]");
  json_object_set_new(bad, "settings", J("{\"priority\":5000}"));
  invalid(bad, "", "settings.priority");
}

static void zone_in(void *arg) { (*(int *)arg)++; }

/* Loads zone through a loop's thread pool, as the runner does. */
static void load_zone(flow_tz_t *tz, const char *zone) {
  uv_loop_t loop;
  assert_int_equal(uv_loop_init(&loop), 0);
  int loaded = 0;
  int rc = flow_tz_load(tz, &loop, zone, zone_in, &loaded);
  assert_true(rc == 0 || rc == 1);
  assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
  assert_int_equal(loaded, rc == 0 ? 1 : 0);
  assert_int_equal(uv_loop_close(&loop), 0);
}

/* The loop thread never reads a zone's file: flow_tz_local gives UTC until
 * the thread pool has loaded it, loaded runs on the loop, and a loaded (or
 * known unknown) zone needs no second load. */
static void time_zone_loads_off_the_loop(void **state) {
  (void)state;
  flow_tz_t *tz = flow_tz_new(NULL);
  int wd, min, loaded = 0;
  int64_t t = 1782907200; /* 2026-07-01T12:00:00Z: 14:00 in Berlin */
  uv_loop_t loop;
  assert_int_equal(uv_loop_init(&loop), 0);
  assert_int_equal(flow_tz_local(tz, "Europe/Berlin", t, &wd, &min), -1);
  assert_int_equal(min, 12 * 60);
  assert_int_equal(flow_tz_load(tz, &loop, "Europe/Berlin", zone_in, &loaded), 0);
  assert_int_equal(flow_tz_load(tz, &loop, "Mars/Olympus", zone_in, &loaded), 0);
  /* Queued, not read: still UTC and nothing called back before the loop runs. */
  assert_int_equal(flow_tz_local(tz, "Europe/Berlin", t, &wd, &min), -1);
  assert_int_equal(loaded, 0);
  assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
  assert_int_equal(loaded, 2);
  assert_int_equal(flow_tz_local(tz, "Europe/Berlin", t, &wd, &min), 0);
  assert_int_equal(min, 14 * 60);
  assert_int_equal(flow_tz_local(tz, "Mars/Olympus", t, &wd, &min), -1);
  assert_int_equal(flow_tz_load(tz, &loop, "Europe/Berlin", zone_in, &loaded), 1);
  assert_int_equal(flow_tz_load(tz, &loop, "Mars/Olympus", zone_in, &loaded), 1);
  assert_int_equal(flow_tz_load(tz, &loop, "../../etc/passwd", zone_in, &loaded), 1);
  assert_int_equal(flow_tz_load(tz, &loop, NULL, zone_in, &loaded), 1);
  assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
  assert_int_equal(loaded, 2);
  assert_int_equal(uv_loop_close(&loop), 0);
  flow_tz_free(tz);
}

static void time_zones(void **state) {
  (void)state;
  flow_tz_t *tz = flow_tz_new(NULL);
  int wd, min;
  const char *zones[] = {"Europe/Berlin", "America/New_York", "Asia/Tokyo", "../../etc/passwd",
                         "Mars/Olympus"};
  for (size_t i = 0; i < sizeof(zones) / sizeof(zones[0]); i++) load_zone(tz, zones[i]);
  /* 2026-07-01T12:00:00Z, a Wednesday: 14:00 in Berlin (CEST), 08:00 in New York (EDT). */
  int64_t t = 1782907200;
  assert_int_equal(flow_tz_local(tz, "Europe/Berlin", t, &wd, &min), 0);
  assert_int_equal(wd, 3);
  assert_int_equal(min, 14 * 60);
  assert_int_equal(flow_tz_local(tz, "America/New_York", t, &wd, &min), 0);
  assert_int_equal(min, 8 * 60);
  /* 2026-01-15T23:30:00Z, a Thursday: Friday 08:30 in Tokyo, 00:30 in Berlin (CET). */
  t = 1768519800;
  assert_int_equal(flow_tz_local(tz, "Asia/Tokyo", t, &wd, &min), 0);
  assert_int_equal(wd, 5);
  assert_int_equal(min, 8 * 60 + 30);
  assert_int_equal(flow_tz_local(tz, "Europe/Berlin", t, &wd, &min), 0);
  assert_int_equal(wd, 5);
  assert_int_equal(min, 30);
  /* Unknown or hostile names are UTC. */
  assert_int_equal(flow_tz_local(tz, "../../etc/passwd", t, &wd, &min), -1);
  assert_int_equal(wd, 4);
  assert_int_equal(min, 23 * 60 + 30);
  assert_int_equal(flow_tz_local(tz, "Mars/Olympus", t, &wd, &min), -1);
  assert_false(flow_tz_name_ok("/etc/passwd"));
  assert_true(flow_tz_name_ok("America/Argentina/Buenos_Aires"));
  int32_t off;
  assert_int_equal(flow_tz_offset((const unsigned char *)"TZif-not-really", 15, 0, &off), -1);
  flow_tz_free(tz);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(triggers_by_kind),
      cmocka_unit_test(message_in_metas_format),
      cmocka_unit_test(message_limits),
      cmocka_unit_test(ask_and_save),
      cmocka_unit_test(randomizer),
      cmocka_unit_test(conditions),
      cmocka_unit_test(time_zone_loads_off_the_loop),
      cmocka_unit_test(actions),
      cmocka_unit_test(comment_replies),
      cmocka_unit_test(settings),
      cmocka_unit_test(time_zones),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
