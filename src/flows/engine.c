/* The flow engine: a pure step function. One call moves a run across one node
 * and says what the runner must do; nothing here touches the network, the
 * store or the clock. At most FLOW_MAX_STEPS nodes a run, so a cycle ends. */
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "parley/flows.h"

static const char *sget(const json_t *o, const char *k) {
  return json_string_value(json_object_get(o, k));
}

/* A flow's nodes and edges as C pointers into its tree (which the graph
 * holds a reference to): a step looks a node and an edge up by strcmp over
 * these instead of a JSON member lookup per node and per edge. Without the
 * arrays (flow_step and flow_resume on a bare flow) the tree is walked. */
typedef struct node_ref_s {
  const char *id;
  const json_t *node;
} node_ref_t;

typedef struct edge_ref_s {
  const char *from, *label, *to;
} edge_ref_t;

struct flow_graph_s {
  json_t *flow;
  node_ref_t *nodes;
  edge_ref_t *edges;
  size_t n_nodes, n_edges;
};

static const json_t *node_by_id(const flow_graph_t *g, const char *id) {
  const json_t *n;
  size_t i;
  if (!id) return NULL;
  if (g->nodes) {
    for (i = 0; i < g->n_nodes; i++)
      if (g->nodes[i].id && strcmp(g->nodes[i].id, id) == 0) return g->nodes[i].node;
    return NULL;
  }
  json_array_foreach(json_object_get(g->flow, "nodes"), i,
                     n) if (strcmp(sget(n, "id"), id) == 0) return n;
  return NULL;
}

/* The node after `id`: the edge with the given label, or the unlabelled one. */
static const char *next_node(const flow_graph_t *g, const char *id, const char *label) {
  const json_t *e;
  size_t i;
  if (g->edges) {
    for (i = 0; i < g->n_edges; i++) {
      const edge_ref_t *r = &g->edges[i];
      if (!r->from || strcmp(r->from, id) != 0) continue;
      if ((label && r->label && strcmp(r->label, label) == 0) || (!label && !r->label))
        return r->to;
    }
    return NULL;
  }
  json_array_foreach(json_object_get(g->flow, "edges"), i, e) {
    if (strcmp(sget(e, "from"), id) != 0) continue;
    const char *l = sget(e, "label");
    if ((label && l && strcmp(l, label) == 0) || (!label && !l)) return sget(e, "to");
  }
  return NULL;
}

flow_graph_t *flow_graph_new(const json_t *flow) {
  const json_t *nodes = json_object_get(flow, "nodes"), *edges = json_object_get(flow, "edges");
  const json_t *x;
  size_t i;
  flow_graph_t *g = calloc(1, sizeof(*g));
  if (!g) return NULL;
  g->n_nodes = json_array_size(nodes);
  g->n_edges = json_array_size(edges);
  /* One more than needed: a flow without nodes or edges still gets arrays. */
  g->nodes = calloc(g->n_nodes + 1, sizeof(*g->nodes));
  g->edges = calloc(g->n_edges + 1, sizeof(*g->edges));
  if (!g->nodes || !g->edges) {
    free(g->nodes);
    free(g->edges);
    free(g);
    return NULL;
  }
  g->flow = json_incref((json_t *)flow);
  json_array_foreach(nodes, i, x) {
    g->nodes[i].id = sget(x, "id");
    g->nodes[i].node = x;
  }
  json_array_foreach(edges, i, x) {
    g->edges[i].from = sget(x, "from");
    g->edges[i].label = sget(x, "label");
    g->edges[i].to = sget(x, "to");
  }
  return g;
}

void flow_graph_free(flow_graph_t *g) {
  if (!g) return;
  json_decref(g->flow);
  free(g->nodes);
  free(g->edges);
  free(g);
}

/* vars and tags: copies of the contact's object and array (a step adds and
 * removes members); the values in them are shared, as no step changes a
 * value in place. */
json_t *flow_state_new(const json_t *flow, const json_t *contact) {
  json_t *vars = json_object_get(contact, "variables");
  json_t *tags = json_object_get(contact, "tags");
  return json_pack("{s:s, s:i, s:i, s:s, s:o, s:o, s:[]}", "node", sget(flow, "start"), "steps", 0,
                   "output", 0, "status", "running", "vars",
                   json_is_object(vars) ? json_copy(vars) : json_object(), "tags",
                   json_is_array(tags) ? json_copy(tags) : json_array(), "trace");
}

/* An object of n string members (key, value, key, value, ...), as json_pack
 * "{s:s, ...}" makes it, without parsing a format on each of a run's steps:
 * NULL when a value is NULL or not UTF-8, or memory ran out. */
static json_t *strings(int n, ...) {
  va_list ap;
  json_t *o = json_object();
  va_start(ap, n);
  for (int i = 0; i < n && o; i++) {
    const char *k = va_arg(ap, const char *), *v = va_arg(ap, const char *);
    json_t *str = v ? json_string(v) : NULL;
    if (!str || json_object_set_new_nocheck(o, k, str) != 0) {
      json_decref(o);
      o = NULL;
    }
  }
  va_end(ap);
  return o;
}

static void trace(json_t *state, const char *id, const char *type, json_t *result) {
  /* Built directly: json_pack parses its format on every call, ten a run. */
  json_t *e = json_object();
  if (!e) {
    json_decref(result);
    return;
  }
  json_object_set_new_nocheck(e, "node_id", json_string(id));
  json_object_set_new_nocheck(e, "type", json_string(type));
  json_object_set_new_nocheck(e, "result", result ? result : json_null());
  json_array_append_new(json_object_get(state, "trace"), e);
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

/* A value as text for comparisons: a string as it is, a number or a boolean
 * written as JSON. Returns a new string, or NULL for none (null, missing). */
static char *as_text(const json_t *v) {
  if (!v || json_is_null(v)) return NULL;
  if (json_is_string(v)) return strdup(json_string_value(v));
  return json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
}

/* A value as a number: a JSON number, or a string that is one in full. */
static int as_number(const json_t *v, double *out) {
  if (json_is_number(v)) {
    *out = json_number_value(v);
    return 1;
  }
  const char *s = json_string_value(v);
  char *end = NULL;
  if (!s || !*s) return 0;
  *out = strtod(s, &end);
  while (end && *end == ' ') end++;
  return end && *end == '\0';
}

static int variable_holds(const json_t *d, const json_t *state) {
  const json_t *have = json_object_get(json_object_get(state, "vars"), sget(d, "name"));
  const char *op = sget(d, "op");
  const json_t *want = json_object_get(d, op ? "value" : "equals");
  if (!op) op = "equals";
  int set = have && !json_is_null(have) && !(json_is_string(have) && json_string_length(have) == 0);
  if (strcmp(op, "is_set") == 0) return set;
  if (strcmp(op, "is_not_set") == 0) return !set;
  if (!set) return 0;
  if (strcmp(op, "gt") == 0 || strcmp(op, "lt") == 0) {
    double a, b;
    if (!as_number(have, &a) || !as_number(want, &b)) return 0;
    return strcmp(op, "gt") == 0 ? a > b : a < b;
  }
  if (strcmp(op, "equals") == 0 && json_equal(have, want)) return 1;
  char *h = as_text(have), *w = as_text(want);
  int ok = 0;
  if (h && w) {
    if (strcmp(op, "contains") == 0)
      ok = flow_text_contains(h, w);
    else /* equals, not_equals: as text, case-sensitive */
      ok = strcmp(h, w) == 0;
  }
  free(h);
  free(w);
  return strcmp(op, "not_equals") == 0 ? !ok : ok;
}

/* "HH:MM" as minutes since midnight (validated by the model). */
static int minutes_of(const char *hhmm) {
  return hhmm ? ((hhmm[0] - '0') * 10 + (hhmm[1] - '0')) * 60 + (hhmm[3] - '0') * 10 +
                    (hhmm[4] - '0')
              : -1;
}

/* The time of day and weekday in the account's time zone, which the runner
 * computes and passes as ctx.local {weekday (0 = Sunday), minute}. */
static int time_holds(const json_t *d, const json_t *ctx) {
  const json_t *local = json_object_get(ctx, "local");
  if (!json_is_object(local)) return 0;
  json_int_t wd = json_integer_value(json_object_get(local, "weekday"));
  json_int_t m = json_integer_value(json_object_get(local, "minute"));
  const json_t *days = json_object_get(d, "weekdays");
  if (json_array_size(days)) {
    const json_t *x;
    size_t i;
    int found = 0;
    json_array_foreach(days, i, x) found |= json_integer_value(x) == wd;
    if (!found) return 0;
  }
  int from = minutes_of(sget(d, "from")), to = minutes_of(sget(d, "to"));
  if (from < 0 || to < 0) return 1;
  /* from > to wraps past midnight (22:00 to 06:00). */
  return from <= to ? m >= from && m < to : m >= from || m < to;
}

static int condition_holds(const json_t *d, const json_t *state, const json_t *ctx) {
  const char *kind = sget(d, "kind");
  if (strcmp(kind, "keyword") == 0) {
    const char *text = sget(json_object_get(ctx, "message"), "text");
    return text && flow_text_contains(text, sget(d, "keyword"));
  }
  if (strcmp(kind, "tag") == 0) {
    const char *op = sget(d, "op");
    int has = has_tag(state, sget(d, "tag"));
    return op && strcmp(op, "lacks") == 0 ? !has : has;
  }
  if (strcmp(kind, "time") == 0) return time_holds(d, ctx);
  return variable_holds(d, state);
}

/* Fills one template for the run, within both bounds: the template's own
 * result and what the run has rendered so far. NULL means a bound was hit (or
 * memory ran out), and the run must end as "output_limit". */
static char *render(json_t *state, const json_t *ctx, const char *tmpl, flow_fill_mode_t mode) {
  json_int_t used = json_integer_value(json_object_get(state, "output"));
  size_t left = used >= FLOW_MAX_RUN_OUTPUT ? 0 : (size_t)(FLOW_MAX_RUN_OUTPUT - used);
  /* The caller's contact and message, and the run's vars (no copy of ctx). */
  char *s = flow_fill_vars(tmpl, ctx, json_object_get(state, "vars"), mode,
                           left < FLOW_MAX_RENDER_BYTES ? left : FLOW_MAX_RENDER_BYTES);
  if (s) json_object_set_new(state, "output", json_integer(used + (json_int_t)strlen(s)));
  return s;
}

static const char *output_limit(json_t *state, const char *id, const char *type) {
  trace(state, id, type, strings(1, "error", "output_limit"));
  return set_status(state, "output_limit");
}

/* ---- message blocks ---- */

/* A send to the contact: the first one of a run started by a comment is the
 * private reply to that comment (Graph's recipient {comment_id}), which needs
 * no open messaging window; Meta allows one per comment. */
static json_t *send_action(json_t *state, const json_t *ctx, const char *text, json_t *message) {
  json_t *a = strings(2, "type", "send", "text", text);
  if (message) json_object_set_new(a, "message", message);
  const char *comment = sget(json_object_get(ctx, "event"), "comment_id");
  if (comment && !json_is_true(json_object_get(state, "comment_replied"))) {
    json_object_set_new(a, "comment_id", json_string(comment));
    json_object_set_new(state, "comment_replied", json_true());
  }
  return a;
}

/* Meta's quick_replies for a block's quick replies. */
static json_t *quick_replies_of(const json_t *list) {
  json_t *out = json_array(), *q;
  size_t i;
  json_array_foreach(list, i, q) json_array_append_new(
      out, json_pack("{s:s, s:O, s:O}", "content_type", "text", "title",
                     json_object_get(q, "title"), "payload", json_object_get(q, "payload")));
  return out;
}

/* Meta's button template buttons: postback or web_url. */
static json_t *buttons_of(const json_t *list) {
  json_t *out = json_array(), *b;
  size_t i;
  json_array_foreach(list, i, b) {
    if (strcmp(sget(b, "type"), "url") == 0)
      json_array_append_new(
          out, json_pack("{s:s, s:O, s:O}", "type", "web_url", "url", json_object_get(b, "url"),
                         "title", json_object_get(b, "title")));
    else
      json_array_append_new(
          out, json_pack("{s:s, s:O, s:O}", "type", "postback", "title",
                         json_object_get(b, "title"), "payload", json_object_get(b, "payload")));
  }
  return out;
}

/* The sends of a message (or an ask's question): its media first, then its
 * text with quick replies or buttons, each in Meta's message format. The
 * rendered text goes into tr (the trace result). -1: the output limit. */
static int message_sends(json_t *state, const json_t *ctx, const json_t *d, json_t *actions,
                         json_t *tr) {
  const json_t *media = json_object_get(d, "media");
  if (json_is_object(media)) {
    const char *url = sget(media, "url");
    json_array_append_new(actions,
                          send_action(state, ctx, url,
                                      json_pack("{s:{s:s, s:{s:s}}}", "attachment", "type",
                                                sget(media, "type"), "payload", "url", url)));
    json_object_set_new(tr, "media", json_string(url));
  }
  const char *tmpl = sget(d, "text");
  if (!tmpl) return 0;
  char *text = render(state, ctx, tmpl, FLOW_FILL_TEXT);
  if (!text) return -1;
  const json_t *qr = json_object_get(d, "quick_replies"), *bt = json_object_get(d, "buttons");
  json_t *message = NULL;
  if (json_array_size(bt))
    message = json_pack("{s:{s:s, s:{s:s, s:s, s:o}}}", "attachment", "type", "template", "payload",
                        "template_type", "button", "text", text, "buttons", buttons_of(bt));
  else if (json_array_size(qr))
    message = json_pack("{s:s, s:o}", "text", text, "quick_replies", quick_replies_of(qr));
  json_array_append_new(actions, send_action(state, ctx, text, message));
  json_object_set_new(tr, "text", json_string(text));
  free(text);
  return 0;
}

/* ---- randomizer ---- */

/* xorshift32 over state.seed (the runner seeds it): pure and replayable. */
static uint32_t next_random(json_t *state) {
  uint32_t x = (uint32_t)json_integer_value(json_object_get(state, "seed"));
  if (x == 0) x = 2463534242u;
  x ^= x << 13;
  x ^= x >> 17;
  x ^= x << 5;
  json_object_set_new(state, "seed", json_integer(x));
  return x;
}

static const char *pick_branch(const json_t *d, json_t *state) {
  uint32_t roll = next_random(state) % 100, sum = 0;
  const json_t *b;
  size_t i;
  json_array_foreach(json_object_get(d, "branches"), i, b) {
    sum += (uint32_t)json_integer_value(json_object_get(b, "weight"));
    if (roll < sum) return sget(b, "name");
  }
  return NULL; /* weights sum to 100 (validated): never reached */
}

/* ---- ask and save: checking the answer ---- */

static int is_email(const char *s) {
  const char *at = strchr(s, '@');
  if (!at || at == s || strchr(at + 1, '@') || strlen(s) > 254) return 0;
  const char *dot = strrchr(at + 1, '.');
  if (!dot || dot == at + 1 || !dot[1]) return 0;
  for (const char *p = s; *p; p++)
    if (*p == ' ' || *p == '\t' || *p == ',' || *p == ';' || *p == '<' || *p == '>') return 0;
  return 1;
}

/* A phone number: an optional '+', then 7 to 15 digits with spaces, dashes,
 * dots or parentheses between; saved as '+'? and the digits. */
static json_t *as_phone(const char *s) {
  char digits[20];
  size_t n = 0;
  int plus = *s == '+';
  for (const char *p = s + plus; *p; p++) {
    if (*p >= '0' && *p <= '9') {
      if (n >= 15) return NULL;
      digits[n++] = *p;
    } else if (!strchr(" -.()", *p)) {
      return NULL;
    }
  }
  if (n < 7) return NULL;
  digits[n] = '\0';
  return json_sprintf("%s%s", plus ? "+" : "", digits);
}

/* The answer as the ask's check takes it (a new reference), or NULL when it
 * fails the check. Surrounding spaces are trimmed. */
static json_t *checked_answer(const char *check, const char *answer) {
  size_t a = 0, b = strlen(answer);
  while (answer[a] == ' ' || answer[a] == '\n' || answer[a] == '\t') a++;
  while (b > a && (answer[b - 1] == ' ' || answer[b - 1] == '\n' || answer[b - 1] == '\t')) b--;
  if (b == a || b - a > FLOW_MAX_RENDER_BYTES) return NULL;
  char *s = strndup(answer + a, b - a);
  json_t *v = NULL;
  if (!s) return NULL;
  if (!check || strcmp(check, "text") == 0) {
    v = json_string(s);
  } else if (strcmp(check, "number") == 0) {
    json_t *tmp = json_string(s);
    double d;
    if (tmp && as_number(tmp, &d) && d == d && d < 1e300 && d > -1e300)
      v = d == (double)(json_int_t)d && d < 9e15 && d > -9e15 ? json_integer((json_int_t)d)
                                                              : json_real(d);
    json_decref(tmp);
  } else if (strcmp(check, "email") == 0) {
    v = is_email(s) ? json_string(s) : NULL;
  } else if (strcmp(check, "phone") == 0) {
    v = as_phone(s);
  }
  free(s);
  return v;
}

/* ---- stepping ---- */

/* What a run started by a comment does first: the optional public reply to
 * the comment (the trigger's public_reply, filled in). */
static int comment_start(const flow_graph_t *g, json_t *state, const json_t *ctx, json_t *actions) {
  const json_t *ev = json_object_get(ctx, "event");
  const char *reply = sget(json_object_get(g->flow, "trigger"), "public_reply");
  const char *comment = sget(ev, "comment_id");
  if (!reply || !comment || json_integer_value(json_object_get(state, "steps")) != 0) return 0;
  char *text = render(state, ctx, reply, FLOW_FILL_TEXT);
  if (!text) return -1;
  json_array_append_new(actions, json_pack("{s:s, s:s, s:s}", "type", "comment_reply", "comment_id",
                                           comment, "text", text));
  free(text);
  return 0;
}

static const char *step_action(const flow_graph_t *g, json_t *state, const json_t *ctx,
                               json_t *actions, const char *id, const json_t *d);

const char *flow_graph_step(const flow_graph_t *g, json_t *state, const json_t *ctx,
                            json_t *actions) {
  const char *status = sget(state, "status");
  if (!status || strcmp(status, "running") != 0) return status;
  if (comment_start(g, state, ctx, actions) != 0) return output_limit(state, "", "trigger");
  json_int_t steps = json_integer_value(json_object_get(state, "steps"));
  if (steps >= FLOW_MAX_STEPS) return set_status(state, "step_limit");
  json_object_set_new(state, "steps", json_integer(steps + 1));
  const char *id = sget(state, "node");
  const json_t *n = node_by_id(g, id);
  if (!n) return set_status(state, "failed");
  const char *type = sget(n, "type");
  const json_t *d = json_object_get(n, "data");
  if (strcmp(type, "message") == 0 || strcmp(type, "ask") == 0) {
    json_t *tr = json_object();
    if (message_sends(state, ctx, d, actions, tr) != 0) {
      json_decref(tr);
      return output_limit(state, id, type);
    }
    if (strcmp(type, "message") == 0) {
      trace(state, id, type, tr);
      return advance(state, next_node(g, id, NULL));
    }
    /* ask: the question is out; the run waits for the answer or the timeout. */
    json_int_t secs = json_integer_value(json_object_get(d, "timeout_seconds"));
    json_array_append_new(actions, json_pack("{s:s, s:I}", "type", "wait", "seconds", secs));
    json_object_set_new(tr, "waiting", json_string("answer"));
    trace(state, id, type, tr);
    return set_status(state, "waiting");
  }
  if (strcmp(type, "condition") == 0) {
    int ok = condition_holds(d, state, ctx);
    trace(state, id, type, json_boolean(ok));
    return advance(state, next_node(g, id, ok ? "true" : "false"));
  }
  if (strcmp(type, "randomizer") == 0) {
    const char *branch = pick_branch(d, state);
    trace(state, id, type, json_pack("{s:s?}", "branch", branch));
    return advance(state, branch ? next_node(g, id, branch) : NULL);
  }
  if (strcmp(type, "delay") == 0) {
    json_int_t secs = json_integer_value(json_object_get(d, "seconds"));
    json_array_append_new(actions, json_pack("{s:s, s:I}", "type", "delay", "seconds", secs));
    trace(state, id, type, json_pack("{s:I}", "seconds", secs));
    return set_status(state, "waiting");
  }
  return step_action(g, state, ctx, actions, id, d);
}

static void remove_tag(json_t *state, const char *tag) {
  json_t *tags = json_object_get(state, "tags");
  for (size_t i = json_array_size(tags); i-- > 0;)
    if (strcmp(json_string_value(json_array_get(tags, i)), tag) == 0) json_array_remove(tags, i);
}

static const char *step_api_call(const flow_graph_t *g, json_t *state, const json_t *ctx,
                                 json_t *actions, const char *id, const json_t *d);

static const char *step_action(const flow_graph_t *g, json_t *state, const json_t *ctx,
                               json_t *actions, const char *id, const json_t *d) {
  const char *a = sget(d, "action");
  if (strcmp(a, "tag_customer") == 0 || strcmp(a, "remove_tag") == 0) {
    const char *tag = sget(d, "tag");
    int add = strcmp(a, "tag_customer") == 0;
    if (add && !has_tag(state, tag))
      json_array_append_new(json_object_get(state, "tags"), json_string(tag));
    if (!add) remove_tag(state, tag);
    json_array_append_new(actions, strings(2, "type", add ? "tag" : "untag", "tag", tag));
    trace(state, id, a, strings(1, "tag", tag));
    return advance(state, next_node(g, id, NULL));
  }
  if (strcmp(a, "set_variable") == 0) {
    char *value = render(state, ctx, sget(d, "value"), FLOW_FILL_TEXT);
    if (!value) return output_limit(state, id, a);
    json_object_set_new(json_object_get(state, "vars"), sget(d, "variable"), json_string(value));
    json_array_append_new(
        actions, strings(3, "type", "set_variable", "name", sget(d, "variable"), "value", value));
    trace(state, id, a, strings(2, "variable", sget(d, "variable"), "value", value));
    free(value);
    return advance(state, next_node(g, id, NULL));
  }
  if (strcmp(a, "clear_variable") == 0) {
    json_object_del(json_object_get(state, "vars"), sget(d, "variable"));
    json_array_append_new(actions, json_pack("{s:s, s:s, s:n}", "type", "set_variable", "name",
                                             sget(d, "variable"), "value"));
    trace(state, id, a, json_pack("{s:s}", "variable", sget(d, "variable")));
    return advance(state, next_node(g, id, NULL));
  }
  if (strcmp(a, "notify_agent") == 0) {
    char *text = render(state, ctx, sget(d, "text"), FLOW_FILL_TEXT);
    if (!text) return output_limit(state, id, a);
    json_array_append_new(actions, strings(2, "type", "notify", "text", text));
    trace(state, id, a, strings(1, "text", text));
    free(text);
    return advance(state, next_node(g, id, NULL));
  }
  if (strcmp(a, "handover") == 0) {
    /* A person takes over: automation pauses for the contact and the run ends. */
    json_int_t secs = json_integer_value(json_object_get(d, "seconds"));
    json_array_append_new(actions, json_pack("{s:s, s:I}", "type", "handover", "seconds", secs));
    trace(state, id, a, json_pack("{s:I}", "seconds", secs));
    return advance(state, NULL);
  }
  return step_api_call(g, state, ctx, actions, id, d);
}

/* api_call: the runner performs it and calls flow_resume with the result.
 * Values are percent-encoded into the URL, and the scheme, host and port are
 * the template's own: checked again here, whatever validation let through. */
static const char *step_api_call(const flow_graph_t *g, json_t *state, const json_t *ctx,
                                 json_t *actions, const char *id, const json_t *d) {
  (void)g;
  const char *a = sget(d, "action");
  const char *tmpl = sget(d, "url");
  size_t fixed = flow_url_authority_len(tmpl);
  char *url = render(state, ctx, tmpl, FLOW_FILL_URL);
  if (!url) return output_limit(state, id, a);
  if (fixed == 0 || strncmp(url, tmpl, fixed) != 0 || (url[fixed] && !strchr("/?#", url[fixed]))) {
    free(url);
    trace(state, id, a, strings(1, "error", "url_template"));
    return set_status(state, "failed");
  }
  const char *method = sget(d, "method");
  json_t *act = json_pack("{s:s, s:s, s:s, s:s?}", "type", "api_call", "url", url, "method",
                          method ? method : "GET", "save_as", sget(d, "save_as"));
  if (json_object_get(d, "body")) json_object_set(act, "body", json_object_get(d, "body"));
  const json_t *headers = json_object_get(d, "headers"), *h;
  size_t i;
  if (json_array_size(headers)) {
    /* "Name: value", both checked by the model (a token; no CR, LF or NUL). */
    json_t *list = json_array();
    json_array_foreach(headers, i, h)
        json_array_append_new(list, json_sprintf("%s: %s", sget(h, "name"), sget(h, "value")));
    json_object_set_new(act, "headers", list);
  }
  json_array_append_new(actions, act);
  trace(state, id, a, strings(1, "url", url));
  free(url);
  return set_status(state, "waiting");
}

/* The value at a dotted path of a JSON response ("data.items.0.id": object
 * keys, and array indexes as numbers), or NULL. */
static const json_t *at_path(const json_t *v, const char *path) {
  char key[256];
  size_t len = strlen(path);
  if (len >= sizeof(key)) return NULL;
  memcpy(key, path, len + 1);
  char *save = NULL;
  for (char *part = strtok_r(key, ".", &save); part && v; part = strtok_r(NULL, ".", &save)) {
    if (json_is_array(v)) {
      char *end = NULL;
      unsigned long idx = strtoul(part, &end, 10);
      v = end && *end == '\0' && end != part ? json_array_get(v, idx) : NULL;
    } else {
      v = json_object_get(v, part);
    }
  }
  return v;
}

/* The last trace entry's result object (the waiting node's). */
static json_t *last_result(json_t *state) {
  json_t *tr = json_object_get(state, "trace");
  return json_object_get(json_array_get(tr, json_array_size(tr) - 1), "result");
}

static void set_var(json_t *state, json_t *actions, const char *name, json_t *value) {
  json_object_set(json_object_get(state, "vars"), name, value);
  if (actions)
    json_array_append_new(actions, json_pack("{s:s, s:s, s:O}", "type", "set_variable", "name",
                                             name, "value", value));
}

/* An ask resumed: the answer (a string) or the timeout (anything else). */
static void resume_ask(const flow_graph_t *g, json_t *state, const json_t *d, const char *id,
                       json_t *result, json_t *actions) {
  json_t *tr = last_result(state);
  if (!json_is_string(result)) {
    if (json_is_object(tr)) json_object_set_new(tr, "timeout", json_true());
    advance(state, next_node(g, id, "timeout"));
    return;
  }
  json_t *value = checked_answer(sget(d, "check"), json_string_value(result));
  if (json_is_object(tr)) {
    json_object_set(tr, "answer", result);
    json_object_set_new(tr, "valid", json_boolean(value != NULL));
  }
  if (!value) {
    advance(state, next_node(g, id, "invalid"));
    return;
  }
  set_var(state, actions, sget(d, "variable"), value);
  json_decref(value);
  advance(state, next_node(g, id, NULL));
}

void flow_graph_resume(const flow_graph_t *g, json_t *state, json_t *result, json_t *actions) {
  const char *id = sget(state, "node");
  const json_t *n = node_by_id(g, id);
  if (!n || strcmp(sget(state, "status"), "waiting") != 0) return;
  const json_t *d = json_object_get(n, "data");
  if (strcmp(sget(n, "type"), "delay") == 0) {
    advance(state, next_node(g, id, NULL));
    return;
  }
  if (strcmp(sget(n, "type"), "ask") == 0) {
    resume_ask(g, state, d, id, result, actions);
    return;
  }
  const char *save_as = sget(d, "save_as");
  int ok = result && !json_is_null(result);
  json_t *tr = last_result(state);
  if (tr) json_object_set_new(tr, "ok", json_boolean(ok));
  if (ok && save_as) json_object_set(json_object_get(state, "vars"), save_as, result);
  /* map {variable: "path"}: values of the response saved on the contact. */
  const char *var;
  const json_t *path;
  if (ok) json_object_foreach((json_t *)json_object_get(d, "map"), var, path) {
      const json_t *v = at_path(result, json_string_value(path));
      if (v) set_var(state, actions, var, (json_t *)v);
    }
  /* A failed call follows a "false" edge when the flow has one, else fails the run. */
  const char *next = ok ? next_node(g, id, NULL) : next_node(g, id, "false");
  if (ok && !next) next = next_node(g, id, "true");
  if (!ok && !next) {
    set_status(state, "failed");
    return;
  }
  advance(state, next);
}

/* On a bare flow: the same steps, looked up in the tree. */
const char *flow_step(const json_t *flow, json_t *state, const json_t *ctx, json_t *actions) {
  flow_graph_t g = {.flow = (json_t *)flow};
  return flow_graph_step(&g, state, ctx, actions);
}

void flow_resume(const json_t *flow, json_t *state, json_t *result, json_t *actions) {
  flow_graph_t g = {.flow = (json_t *)flow};
  flow_graph_resume(&g, state, result, actions);
}
