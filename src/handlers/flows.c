/* API.md's Flows section: create, list, get, update, delete, the dry run, the
 * runs, and the seed SPA's aliases (save upserts by name). A flow is visible
 * only to its owner. Loop thread. */
#include <stdlib.h>
#include <string.h>

#include "flows/runner.h"
#include "handlers/common.h"
#include "handlers/handlers.h"
#include "parley/flows.h"
#include "parley/flows_instantchat.h"

static json_t *view(const json_t *flow) {
  json_t *f = json_deep_copy(flow);
  json_object_del(f, "owner_id");
  json_object_del(f, "live"); /* the published graph: GET .../versions/:n */
  return f;
}

/* 400 validation_failed naming the field, and the node when there is one. */
static void reply_invalid(http_req_t *req, const char *err, const char *field,
                          const char *node_id) {
  /* The envelope names the node too, so the builder can show the error on it. */
  json_t *e =
      json_pack("{s:s, s:s, s:s}", "code", "validation_failed", "message", err, "field", field);
  if (!e) { /* a message cut inside a UTF-8 sequence */
    http_reply_error(req, 400, "validation_failed", "the flow is not valid", field);
    return;
  }
  if (node_id[0]) json_object_set_new(e, "node_id", json_string(node_id));
  http_reply_json(req, 400, json_pack("{s:o}", "error", e));
}

/* Validates a body as a flow; replies 400 and returns NULL when it is not one.
 * Returns a new object holding only the fields of a flow definition. */
static json_t *definition(http_req_t *req, json_t *body) {
  flow_limits_t lim = {(size_t)req->app->cfg.flow_max_nodes,
                       (size_t)req->app->cfg.flow_max_text_bytes};
  char err[256], field[32], node_id[72];
  if (flow_validate_node(body, &lim, err, sizeof(err), field, sizeof(field), node_id,
                         sizeof(node_id)) != 0) {
    reply_invalid(req, err, field, node_id);
    return NULL;
  }
  json_t *status = json_object_get(body, "status"), *settings = json_object_get(body, "settings");
  return json_pack("{s:O, s:s, s:O, s:O, s:O, s:O, s:o}", "name", json_object_get(body, "name"),
                   "status", status ? json_string_value(status) : "draft", "trigger",
                   json_object_get(body, "trigger"), "nodes", json_object_get(body, "nodes"),
                   "edges", json_object_get(body, "edges"), "start", json_object_get(body, "start"),
                   "settings", settings ? json_incref(settings) : json_object());
}

/* Setting status "active" publishes the flow: its graph becomes an immutable
 * version that new runs start on (API.md, Flows: versions). */
static int publishes(const json_t *def) {
  const char *status = json_string_value(json_object_get(def, "status"));
  return status && strcmp(status, "active") == 0;
}

static void reply_flow(void *ctx, int status, json_t *result, int code) {
  http_req_t *req = ctx;
  if (status != STORE_OK)
    handlers_reply_store_error(req, status);
  else
    http_reply_json(req, code, json_pack("{s:o}", "flow", view(result)));
  json_decref(result);
  http_req_unref(req);
}
static void flow_201(void *ctx, int status, json_t *result) {
  reply_flow(ctx, status, result, 201);
}
static void flow_200(void *ctx, int status, json_t *result) {
  reply_flow(ctx, status, result, 200);
}

/* A change stored: the runners of every instance drop the owner's active
 * flows they hold, before the reply. */
static void changed(void *ctx, int status) {
  http_req_t *req = ctx;
  if (status == STORE_OK) flow_runner_flows_changed(req->app->runner, req->user_id);
}
static void changed_201(void *ctx, int status, json_t *result) {
  changed(ctx, status);
  flow_201(ctx, status, result);
}
static void changed_200(void *ctx, int status, json_t *result) {
  changed(ctx, status);
  flow_200(ctx, status, result);
}
static void changed_204(void *ctx, int status, json_t *result) {
  changed(ctx, status);
  handlers_reply_204(ctx, status, result);
}

static void create(http_req_t *req) {
  json_t *body = http_req_json(req);
  if (!body) return;
  json_t *def = definition(req, body);
  json_decref(body);
  if (!def) return;
  int pub = publishes(def);
  handlers_store_call(
      req, FLOW_CREATE,
      json_pack("{s:s, s:o, s:b}", "owner_id", req->user_id, "flow", def, "publish", pub),
      changed_201);
}

static void list_done(void *ctx, int status, json_t *result) {
  http_req_t *req = ctx;
  if (status != STORE_OK) {
    handlers_reply_store_error(req, status);
  } else {
    json_t *out = json_array(), *f;
    size_t i;
    json_array_foreach(json_object_get(result, "flows"), i, f) json_array_append_new(out, view(f));
    http_reply_json(req, 200, json_pack("{s:o}", "flows", out));
  }
  json_decref(result);
  http_req_unref(req);
}

static void list(http_req_t *req) {
  handlers_store_call(req, FLOW_LIST, json_pack("{s:s}", "owner_id", req->user_id), list_done);
}

static void get(http_req_t *req) {
  handlers_store_call(
      req, FLOW_GET,
      json_pack("{s:s, s:s}", "id", http_req_param(req, "id"), "owner_id", req->user_id), flow_200);
}

static void get_by_name(http_req_t *req) {
  handlers_store_call(
      req, FLOW_GET,
      json_pack("{s:s, s:s}", "name", http_req_param(req, "name"), "owner_id", req->user_id),
      flow_200);
}

static void update(http_req_t *req) {
  json_t *body = http_req_json(req);
  if (!body) return;
  json_t *def = definition(req, body);
  json_decref(body);
  if (!def) return;
  int pub = publishes(def);
  handlers_store_call(req, FLOW_UPDATE,
                      json_pack("{s:s, s:s, s:o, s:b}", "id", http_req_param(req, "id"), "owner_id",
                                req->user_id, "flow", def, "publish", pub),
                      changed_200);
}

static void delete_flow(http_req_t *req) {
  handlers_store_call(
      req, FLOW_DELETE,
      json_pack("{s:s, s:s}", "id", http_req_param(req, "id"), "owner_id", req->user_id),
      changed_204);
}

/* save: an upsert by name (the seed SPA's builder saves without ids). */
typedef struct save_s {
  http_req_t *req;
  json_t *def;
} save_t;

static void save_found(void *ctx, int status, json_t *result) {
  save_t *s = ctx;
  http_req_t *req = s->req;
  int rc;
  if (status == STORE_OK)
    rc = store_call(
        req->app->store, FLOW_UPDATE,
        json_pack("{s:O, s:s, s:O, s:b}", "id", json_object_get(result, "id"), "owner_id",
                  req->user_id, "flow", s->def, "publish", publishes(s->def)),
        changed_200, req);
  else if (status == STORE_ENOTFOUND)
    rc = store_call(req->app->store, FLOW_CREATE,
                    json_pack("{s:s, s:O, s:b}", "owner_id", req->user_id, "flow", s->def,
                              "publish", publishes(s->def)),
                    changed_201, req);
  else
    rc = status;
  if (rc != 0) {
    handlers_reply_store_error(req, rc);
    http_req_unref(req);
  }
  json_decref(result);
  json_decref(s->def);
  free(s);
}

/* The seed SPA's save also takes InstantChat's React Flow JSON, converted
 * into the model; a flow saved without a trigger starts on any message, at
 * the node no edge leads to. */
static void save(http_req_t *req) {
  json_t *body = http_req_json(req);
  if (!body) return;
  if (json_is_object(body) && flow_is_instantchat(body)) {
    char err[256], field[32], node_id[72];
    json_t *model = flow_from_instantchat(body, err, sizeof(err), field, sizeof(field), node_id,
                                          sizeof(node_id));
    json_decref(body);
    if (!model) {
      reply_invalid(req, err, field, node_id);
      return;
    }
    body = model;
  }
  flow_default_entry(body);
  json_t *def = definition(req, body);
  json_decref(body);
  if (!def) return;
  save_t *s = malloc(sizeof(*s));
  if (!s) {
    json_decref(def);
    http_reply_error(req, 503, "unavailable", "out of memory", NULL);
    return;
  }
  s->req = req;
  s->def = def;
  http_req_ref(req);
  if (store_call(
          req->app->store, FLOW_GET,
          json_pack("{s:O, s:s}", "name", json_object_get(def, "name"), "owner_id", req->user_id),
          save_found, s) != 0) {
    handlers_reply_store_error(req, STORE_EBUSY);
    http_req_unref(req);
    json_decref(def);
    free(s);
  }
}

/* ---- dry run ---- */

typedef struct dry_s {
  http_req_t *req;
  json_t *ctx;
} dry_t;

/* Runs the flow without effects: sends become outputs, api_calls and delays
 * are skipped (recorded in the trace) and the run goes on. */
static json_t *dry_run(const json_t *flow, const json_t *ctx) {
  json_t *state = flow_state_new(flow, json_object_get(ctx, "contact"));
  json_t *outputs = json_array();
  const char *status;
  for (;;) {
    json_t *actions = json_array();
    status = flow_step(flow, state, ctx, actions);
    json_t *a;
    size_t i;
    json_array_foreach(actions, i, a) {
      if (strcmp(json_string_value(json_object_get(a, "type")), "send") == 0)
        json_array_append(outputs, json_object_get(a, "text"));
    }
    json_decref(actions);
    if (strcmp(status, "waiting") == 0) {
      json_t *tr = json_object_get(state, "trace");
      json_object_set_new(json_object_get(json_array_get(tr, json_array_size(tr) - 1), "result"),
                          "dry_run", json_string("skipped"));
      json_t *empty = json_object();
      flow_resume(flow, state, empty, NULL);
      json_decref(empty);
      status = json_string_value(json_object_get(state, "status"));
    }
    if (strcmp(status, "running") != 0) break;
  }
  json_t *out = json_pack("{s:O, s:o, s:s}", "trace", json_object_get(state, "trace"), "outputs",
                          outputs, "status", status);
  json_decref(state);
  return out;
}

static void test_found(void *ctx, int status, json_t *result) {
  dry_t *d = ctx;
  if (status != STORE_OK)
    handlers_reply_store_error(d->req, status);
  else
    http_reply_json(d->req, 200, dry_run(result, d->ctx));
  json_decref(result);
  json_decref(d->ctx);
  http_req_unref(d->req);
  free(d);
}

static void test(http_req_t *req) {
  json_t *body = http_req_json(req);
  if (!body) return;
  int failed = 0;
  const char *text = handlers_string_field(req, body, "text", 1, 1, 4000, &failed);
  json_t *contact = json_object_get(body, "contact");
  if (!failed && contact && !json_is_object(contact) && !json_is_null(contact)) {
    http_reply_error(req, 400, "validation_failed", "contact must be an object", "contact");
    failed = 1;
  }
  if (failed) {
    json_decref(body);
    return;
  }
  dry_t *d = malloc(sizeof(*d));
  if (!d) {
    json_decref(body);
    http_reply_error(req, 503, "unavailable", "out of memory", NULL);
    return;
  }
  d->req = req;
  d->ctx = json_pack("{s:o, s:{s:s}}", "contact",
                     json_is_object(contact) ? json_incref(contact) : json_object(), "message",
                     "text", text);
  json_decref(body);
  http_req_ref(req);
  if (store_call(req->app->store, FLOW_GET,
                 json_pack("{s:s, s:s}", "id", http_req_param(req, "id"), "owner_id", req->user_id),
                 test_found, d) != 0) {
    handlers_reply_store_error(req, STORE_EBUSY);
    json_decref(d->ctx);
    free(d);
    http_req_unref(req);
  }
}

static void runs_done(void *ctx, int status, json_t *result) {
  http_req_t *req = ctx;
  if (status != STORE_OK) {
    handlers_reply_store_error(req, status);
  } else {
    json_t *out = json_array(), *r;
    size_t i;
    json_array_foreach(json_object_get(result, "runs"), i, r) {
      json_t *v = json_deep_copy(r);
      json_object_del(v, "owner_id");
      /* A failed run says why (reconnect_needed, outside_messaging_window, ...). */
      json_t *why = json_object_get(json_object_get(v, "state"), "error");
      if (json_is_string(why)) json_object_set(v, "error", why);
      /* What started it and why this flow (priority, run once, cooldown). */
      json_t *start = json_object_get(json_object_get(v, "state"), "start");
      if (json_is_object(start)) json_object_set(v, "start", start);
      json_object_del(v, "state");
      json_array_append_new(out, v);
    }
    http_reply_json(req, 200, json_pack("{s:o}", "runs", out));
  }
  json_decref(result);
  http_req_unref(req);
}

/* The flow is looked up first, so another user's flow answers 404 like every
 * resource the caller does not own, rather than an empty list of runs. */
static void runs_flow_found(void *ctx, int status, json_t *result) {
  http_req_t *req = ctx;
  json_decref(result);
  if (status != STORE_OK)
    handlers_reply_store_error(req, status);
  else
    handlers_store_call(req, FLOW_RUN_LIST,
                        json_pack("{s:s, s:s, s:i}", "flow_id", http_req_param(req, "id"),
                                  "owner_id", req->user_id, "limit", 100),
                        runs_done);
  http_req_unref(req);
}

static void runs(http_req_t *req) {
  handlers_store_call(
      req, FLOW_GET,
      json_pack("{s:s, s:s}", "id", http_req_param(req, "id"), "owner_id", req->user_id),
      runs_flow_found);
}

static const route_t routes[] = {
    {"POST", "/api/flows", 1, create},
    {"GET", "/api/flows", 1, list},
    {"GET", "/api/flows/:id", 1, get},
    {"PUT", "/api/flows/:id", 1, update},
    {"DELETE", "/api/flows/:id", 1, delete_flow},
    {"POST", "/api/flows/:id/test", 1, test},
    {"GET", "/api/flows/:id/runs", 1, runs},
    {"POST", "/api/flow/save", 1, save},
    {"GET", "/api/flow/get/:name", 1, get_by_name},
    {"GET", "/api/flow/user", 1, list},
    {"DELETE", "/api/flow/:id", 1, delete_flow},
};

const route_table_t flows_routes = ROUTE_TABLE(routes);
