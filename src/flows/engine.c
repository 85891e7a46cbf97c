/* The flow engine: a pure step function. One call moves a run across one node
 * and says what the runner must do; nothing here touches the network, the
 * store or the clock. At most FLOW_MAX_STEPS nodes a run, so a cycle ends. */
#include <stdlib.h>
#include <string.h>

#include "parley/flows.h"

static const char *sget(const json_t *o, const char *k) {
  return json_string_value(json_object_get(o, k));
}

static const json_t *node_by_id(const json_t *flow, const char *id) {
  const json_t *n;
  size_t i;
  json_array_foreach(json_object_get(flow, "nodes"), i,
                     n) if (id && strcmp(sget(n, "id"), id) == 0) return n;
  return NULL;
}

/* The node after `id`: the edge with the given label, or the unlabelled one. */
static const char *next_node(const json_t *flow, const char *id, const char *label) {
  const json_t *e;
  size_t i;
  json_array_foreach(json_object_get(flow, "edges"), i, e) {
    if (strcmp(sget(e, "from"), id) != 0) continue;
    const char *l = sget(e, "label");
    if ((label && l && strcmp(l, label) == 0) || (!label && !l)) return sget(e, "to");
  }
  return NULL;
}

json_t *flow_state_new(const json_t *flow, const json_t *contact) {
  json_t *vars = json_object_get(contact, "variables");
  json_t *tags = json_object_get(contact, "tags");
  return json_pack("{s:s, s:i, s:i, s:s, s:o, s:o, s:[]}", "node", sget(flow, "start"), "steps", 0,
                   "output", 0, "status", "running", "vars",
                   json_is_object(vars) ? json_deep_copy(vars) : json_object(), "tags",
                   json_is_array(tags) ? json_deep_copy(tags) : json_array(), "trace");
}

static void trace(json_t *state, const char *id, const char *type, json_t *result) {
  json_array_append_new(json_object_get(state, "trace"), json_pack("{s:s, s:s, s:o}", "node_id", id,
                                                                   "type", type, "result", result));
}

static const char *set_status(json_t *state, const char *status) {
  json_object_set_new(state, "status", json_string(status));
  return sget(state, "status");
}

/* Moves to `next` (or completes the run when there is none). */
static const char *advance(json_t *state, const char *next) {
  if (!next) {
    json_object_set_new(state, "node", json_null());
    return set_status(state, "completed");
  }
  json_object_set_new(state, "node", json_string(next));
  return set_status(state, "running");
}

static int has_tag(const json_t *state, const char *tag) {
  const json_t *t;
  size_t i;
  json_array_foreach(json_object_get(state, "tags"), i,
                     t) if (strcmp(json_string_value(t), tag) == 0) return 1;
  return 0;
}

static int condition_holds(const json_t *d, const json_t *state, const json_t *ctx) {
  const char *kind = sget(d, "kind");
  if (strcmp(kind, "keyword") == 0) {
    const char *text = sget(json_object_get(ctx, "message"), "text");
    return text && flow_text_contains(text, sget(d, "keyword"));
  }
  if (strcmp(kind, "tag") == 0) return has_tag(state, sget(d, "tag"));
  /* variable: equal as JSON, or as text when the variable holds a string. */
  const json_t *have = json_object_get(json_object_get(state, "vars"), sget(d, "name"));
  const json_t *want = json_object_get(d, "equals");
  if (!have) return 0;
  if (json_equal(have, want)) return 1;
  return json_is_string(have) && json_is_string(want) &&
         strcmp(json_string_value(have), json_string_value(want)) == 0;
}

/* ctx for templates: the caller's contact and message, plus the run's vars. */
static json_t *fill_ctx(const json_t *ctx, const json_t *state) {
  json_t *c = json_copy((json_t *)ctx);
  json_object_set(c, "vars", json_object_get(state, "vars"));
  return c;
}

/* Fills one template for the run, within both bounds: the template's own
 * result and what the run has rendered so far. NULL means a bound was hit (or
 * memory ran out), and the run must end as "output_limit". */
static char *render(json_t *state, const json_t *ctx, const char *tmpl, flow_fill_mode_t mode) {
  json_int_t used = json_integer_value(json_object_get(state, "output"));
  size_t left = used >= FLOW_MAX_RUN_OUTPUT ? 0 : (size_t)(FLOW_MAX_RUN_OUTPUT - used);
  json_t *c = fill_ctx(ctx, state);
  char *s =
      c ? flow_fill(tmpl, c, mode, left < FLOW_MAX_RENDER_BYTES ? left : FLOW_MAX_RENDER_BYTES)
        : NULL;
  json_decref(c);
  if (s) json_object_set_new(state, "output", json_integer(used + (json_int_t)strlen(s)));
  return s;
}

static const char *output_limit(json_t *state, const char *id, const char *type) {
  trace(state, id, type, json_pack("{s:s}", "error", "output_limit"));
  return set_status(state, "output_limit");
}

const char *flow_step(const json_t *flow, json_t *state, const json_t *ctx, json_t *actions) {
  const char *status = sget(state, "status");
  if (!status || strcmp(status, "running") != 0) return status;
  json_int_t steps = json_integer_value(json_object_get(state, "steps"));
  if (steps >= FLOW_MAX_STEPS) return set_status(state, "step_limit");
  json_object_set_new(state, "steps", json_integer(steps + 1));
  const char *id = sget(state, "node");
  const json_t *n = node_by_id(flow, id);
  if (!n) return set_status(state, "failed");
  const char *type = sget(n, "type");
  const json_t *d = json_object_get(n, "data");
  if (strcmp(type, "message") == 0) {
    char *text = render(state, ctx, sget(d, "text"), FLOW_FILL_TEXT);
    if (!text) return output_limit(state, id, type);
    json_array_append_new(actions, json_pack("{s:s, s:s}", "type", "send", "text", text));
    trace(state, id, type, json_pack("{s:s}", "text", text));
    free(text);
    return advance(state, next_node(flow, id, NULL));
  }
  if (strcmp(type, "condition") == 0) {
    int ok = condition_holds(d, state, ctx);
    trace(state, id, type, json_boolean(ok));
    return advance(state, next_node(flow, id, ok ? "true" : "false"));
  }
  if (strcmp(type, "delay") == 0) {
    json_int_t secs = json_integer_value(json_object_get(d, "seconds"));
    json_array_append_new(actions, json_pack("{s:s, s:I}", "type", "delay", "seconds", secs));
    trace(state, id, type, json_pack("{s:I}", "seconds", secs));
    return set_status(state, "waiting");
  }
  const char *a = sget(d, "action");
  if (strcmp(a, "tag_customer") == 0) {
    const char *tag = sget(d, "tag");
    if (!has_tag(state, tag))
      json_array_append_new(json_object_get(state, "tags"), json_string(tag));
    json_array_append_new(actions, json_pack("{s:s, s:s}", "type", "tag", "tag", tag));
    trace(state, id, a, json_pack("{s:s}", "tag", tag));
    return advance(state, next_node(flow, id, NULL));
  }
  if (strcmp(a, "set_variable") == 0) {
    char *value = render(state, ctx, sget(d, "value"), FLOW_FILL_TEXT);
    if (!value) return output_limit(state, id, a);
    json_object_set_new(json_object_get(state, "vars"), sget(d, "variable"), json_string(value));
    json_array_append_new(actions, json_pack("{s:s, s:s, s:s}", "type", "set_variable", "name",
                                             sget(d, "variable"), "value", value));
    trace(state, id, a, json_pack("{s:s, s:s}", "variable", sget(d, "variable"), "value", value));
    free(value);
    return advance(state, next_node(flow, id, NULL));
  }
  /* api_call: the runner performs it and calls flow_resume with the result.
   * Values are percent-encoded into the URL, and the scheme, host and port are
   * the template's own: checked again here, whatever validation let through. */
  const char *tmpl = sget(d, "url");
  size_t fixed = flow_url_authority_len(tmpl);
  char *url = render(state, ctx, tmpl, FLOW_FILL_URL);
  if (!url) return output_limit(state, id, a);
  if (fixed == 0 || strncmp(url, tmpl, fixed) != 0 || (url[fixed] && !strchr("/?#", url[fixed]))) {
    free(url);
    trace(state, id, a, json_pack("{s:s}", "error", "url_template"));
    return set_status(state, "failed");
  }
  const char *method = sget(d, "method");
  json_t *act = json_pack("{s:s, s:s, s:s, s:s?}", "type", "api_call", "url", url, "method",
                          method ? method : "GET", "save_as", sget(d, "save_as"));
  if (json_object_get(d, "body")) json_object_set(act, "body", json_object_get(d, "body"));
  json_array_append_new(actions, act);
  trace(state, id, a, json_pack("{s:s}", "url", url));
  free(url);
  return set_status(state, "waiting");
}

void flow_resume(const json_t *flow, json_t *state, json_t *result) {
  const char *id = sget(state, "node");
  const json_t *n = node_by_id(flow, id);
  if (!n || strcmp(sget(state, "status"), "waiting") != 0) return;
  const json_t *d = json_object_get(n, "data");
  if (strcmp(sget(n, "type"), "delay") == 0) {
    advance(state, next_node(flow, id, NULL));
    return;
  }
  const char *save_as = sget(d, "save_as");
  int ok = result && !json_is_null(result);
  json_t *tr = json_array_get(json_object_get(state, "trace"),
                              json_array_size(json_object_get(state, "trace")) - 1);
  if (tr) json_object_set_new(json_object_get(tr, "result"), "ok", json_boolean(ok));
  if (ok && save_as) json_object_set(json_object_get(state, "vars"), save_as, result);
  /* A failed call follows a "false" edge when the flow has one, else fails the run. */
  const char *next = ok ? next_node(flow, id, NULL) : next_node(flow, id, "false");
  if (ok && !next) next = next_node(flow, id, "true");
  if (!ok && !next) {
    set_status(state, "failed");
    return;
  }
  advance(state, next);
}
