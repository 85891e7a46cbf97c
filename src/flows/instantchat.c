/* InstantChat's React Flow JSON (messageNode, conditionNode, actionNode with
 * React Flow's source/target edges) converted into Parley's flow model, and the
 * defaults of a flow saved without a trigger or a start. Pure; any thread. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "flows/verr.h"
#include "parley/flows.h"

static const char *sget(const json_t *o, const char *k) {
  return json_string_value(json_object_get(o, k));
}

static int is_react_type(const char *t) {
  return t && (strcmp(t, "messageNode") == 0 || strcmp(t, "conditionNode") == 0 ||
               strcmp(t, "actionNode") == 0);
}

int flow_is_instantchat(const json_t *body) {
  const json_t *n, *e;
  size_t i;
  json_array_foreach(json_object_get(body, "nodes"), i,
                     n) if (is_react_type(sget(n, "type"))) return 1;
  json_array_foreach(json_object_get(body, "edges"), i,
                     e) if (json_object_get(e, "source") || json_object_get(e, "target")) return 1;
  return 0;
}

/* The node's id as a string for messages, or "(missing)". */
static const char *nid(const json_t *n) {
  const char *id = sget(n, "id");
  return id ? id : "(missing)";
}

/* A copy of the data field named from, under to; a string is required. */
static int copy_str(const json_t *data, const char *from, json_t *out, const char *to, verr_t *e,
                    const char *id, const char *what) {
  const json_t *v = json_object_get(data, from);
  if (!json_is_string(v))
    return flow_verr(e, "nodes", id, "node %s: %s needs data.%s as a string", id, what, from);
  json_object_set_new(out, to, json_string(json_string_value(v)));
  return 0;
}

static json_t *convert_node(const json_t *n, verr_t *e) {
  const char *type = sget(n, "type"), *id = nid(n);
  const json_t *data = json_object_get(n, "data"), *pos = json_object_get(n, "position");
  if (!json_is_object(n) || !json_is_string(json_object_get(n, "id"))) {
    flow_verr(e, "nodes", NULL, "every node needs an id");
    return NULL;
  }
  if (!json_is_object(data)) {
    flow_verr(e, "nodes", id, "node %s: data must be an object", id);
    return NULL;
  }
  json_t *d = json_object(), *out = NULL;
  const char *ptype = NULL;
  int rc = -1;
  if (!type) {
    flow_verr(e, "nodes", id, "node %s: type is missing", id);
  } else if (strcmp(type, "messageNode") == 0) {
    ptype = "message";
    rc = copy_str(data, "content", d, "text", e, id, "a messageNode");
  } else if (strcmp(type, "conditionNode") == 0) {
    ptype = "condition";
    json_object_set_new(d, "kind", json_string("keyword"));
    rc = copy_str(data, "keyword", d, "keyword", e, id, "a conditionNode");
  } else if (strcmp(type, "actionNode") == 0) {
    const char *action = sget(data, "action");
    ptype = "action";
    if (!action || strcmp(action, "tag_customer") != 0) {
      flow_verr(e, "nodes", id, "node %s: data.action must be tag_customer", id);
    } else {
      json_object_set_new(d, "action", json_string("tag_customer"));
      rc = copy_str(data, "tag", d, "tag", e, id, "a tag_customer action");
    }
  } else {
    flow_verr(e, "nodes", id, "node %s: unknown node type %s", id, type);
  }
  if (rc == 0) {
    out = json_pack("{s:s, s:s, s:O}", "id", id, "type", ptype, "data", d);
    /* React Flow adds width, height, selected, dragging...: only x and y are
     * the model's; validation checks them. */
    if (out && json_is_object(pos))
      json_object_set_new(out, "position",
                          json_pack("{s:O?, s:O?}", "x", json_object_get(pos, "x"), "y",
                                    json_object_get(pos, "y")));
    else if (out && pos && !json_is_null(pos))
      json_object_set(out, "position", (json_t *)pos); /* refused by validation */
  }
  json_decref(d);
  return out;
}

static json_t *convert_edge(const json_t *ed, size_t i, verr_t *e) {
  const char *from = sget(ed, "source"), *to = sget(ed, "target");
  const json_t *h = json_object_get(ed, "sourceHandle");
  if (!json_is_object(ed) || !from || !to) {
    flow_verr(e, "edges", from, "edge %zu: source and target must be node ids", i);
    return NULL;
  }
  json_t *out = json_pack("{s:s, s:s}", "from", from, "to", to);
  if (h && !json_is_null(h)) {
    const char *hs = json_string_value(h);
    if (!hs || (strcmp(hs, "true") != 0 && strcmp(hs, "false") != 0)) {
      json_decref(out);
      flow_verr(e, "edges", from, "node %s: sourceHandle must be \"true\" or \"false\"", from);
      return NULL;
    }
    json_object_set_new(out, "label", json_string(hs));
  }
  return out;
}

json_t *flow_from_instantchat(const json_t *body, char *err, size_t errlen, char *field,
                              size_t fieldlen, char *node_id, size_t node_idlen) {
  verr_t ctx = {err, errlen, field, fieldlen, node_id, node_idlen}, *e = &ctx;
  if (node_id && node_idlen) node_id[0] = '\0';
  const json_t *nodes = json_object_get(body, "nodes"), *edges = json_object_get(body, "edges");
  if (!json_is_array(nodes)) {
    flow_verr(e, "nodes", NULL, "nodes must be an array");
    return NULL;
  }
  if (edges && !json_is_array(edges)) {
    flow_verr(e, "edges", NULL, "edges must be an array");
    return NULL;
  }
  json_t *out = json_object(), *pn = json_array(), *pe = json_array(), *x;
  const json_t *n;
  size_t i;
  json_object_set_new(out, "nodes", pn);
  json_object_set_new(out, "edges", pe);
  json_array_foreach(nodes, i, n) {
    if (!(x = convert_node(n, e))) goto fail;
    json_array_append_new(pn, x);
  }
  json_array_foreach(edges, i, n) {
    if (!(x = convert_edge(n, i, e))) goto fail;
    json_array_append_new(pe, x);
  }
  /* What is not the graph passes through as given; validation judges it. */
  const char *keep[] = {"name", "status", "trigger", "start"};
  for (i = 0; i < sizeof(keep) / sizeof(keep[0]); i++)
    if ((x = json_object_get(body, keep[i]))) json_object_set(out, keep[i], x);
  return out;
fail:
  json_decref(out);
  return NULL;
}

/* The first node, in the order given, that no edge leads to. */
static const char *root(const json_t *nodes, const json_t *edges) {
  const json_t *n, *ed;
  size_t i, k;
  json_array_foreach(nodes, i, n) {
    const char *id = sget(n, "id");
    int incoming = 0;
    json_array_foreach(edges, k, ed) {
      const char *to = sget(ed, "to");
      if (id && to && strcmp(id, to) == 0) incoming = 1;
    }
    if (id && !incoming) return id;
  }
  return NULL;
}

void flow_default_entry(json_t *flow) {
  if (!json_is_object(flow)) return;
  if (!json_object_get(flow, "trigger") || json_is_null(json_object_get(flow, "trigger")))
    json_object_set_new(flow, "trigger", json_pack("{s:s}", "type", "any_message"));
  if (!json_object_get(flow, "edges") && json_is_array(json_object_get(flow, "nodes")))
    json_object_set_new(flow, "edges", json_array());
  if (!json_object_get(flow, "start") || json_is_null(json_object_get(flow, "start"))) {
    const char *r = root(json_object_get(flow, "nodes"), json_object_get(flow, "edges"));
    if (r) json_object_set_new(flow, "start", json_string(r));
  }
}
