/* Fuzz target: a flow definition from a client: validation, and for valid
 * flows a full run of the engine (bounded by the step limit), must never crash
 * or leak. */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "parley/flows.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  json_t *flow = json_loadb((const char *)data, size, 0, NULL);
  if (!flow) return 0;
  flow_limits_t lim = {200, 4000};
  char err[256], field[32];
  if (flow_validate(flow, &lim, err, sizeof(err), field, sizeof(field)) == 0) {
    json_t *ctx =
        json_pack("{s:{s:s}, s:{s:s}}", "contact", "username", "x", "message", "text", "price?");
    /* On the bare flow, then on its graph: the same states and actions. */
    flow_graph_t *g = flow_graph_new(flow);
    json_t *state = flow_state_new(flow, json_object_get(ctx, "contact"));
    json_t *gstate = json_deep_copy(state);
    for (int rounds = 0; rounds < 200; rounds++) {
      json_t *actions = json_array(), *gactions = json_array();
      const char *st = flow_step(flow, state, ctx, actions);
      if (g && strcmp(flow_graph_step(g, gstate, ctx, gactions), st) != 0) abort();
      if (g && !json_equal(actions, gactions)) abort();
      json_decref(actions);
      json_decref(gactions);
      if (strcmp(st, "waiting") == 0) {
        json_t *r = json_pack("{s:s}", "price", "1");
        flow_resume(flow, state, r, NULL);
        if (g) flow_graph_resume(g, gstate, r, NULL);
        json_decref(r);
      } else if (strcmp(st, "running") != 0) {
        break;
      }
    }
    if (g && !json_equal(state, gstate)) abort();
    flow_graph_free(g);
    json_decref(gstate);
    char *s = flow_fill(json_string_value(json_object_get(flow, "name")), ctx, FLOW_FILL_URL, 4096);
    free(s);
    json_decref(state);
    json_decref(ctx);
  }
  json_t *ev =
      json_pack("{s:s, s:s, s:s}", "kind", "comment", "text", "Ça va? PRICE", "media_id", "1");
  flow_trigger_matches(json_object_get(flow, "trigger"), ev);
  json_decref(ev);
  json_decref(flow);
  return 0;
}
