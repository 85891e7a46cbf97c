/* Automation flows in "flows" and their runs in "flow_runs". A flow's name,
 * status and owner are fields (they are queried); the rest of the flow (trigger,
 * nodes, edges, start, ...) and a run's trace and state are kept as JSON text,
 * since they are user-shaped and their keys must never become field names or
 * operators. Worker thread. */
#include <stdio.h>
#include <string.h>

#include "parley/util.h"
#include "store/mongo/mongo_internal.h"

json_t *mongo_flow_json(mongo_ctx_t *c, const bson_t *doc) {
  json_t *f = mongo_bson_parsed(doc, "body", json_object());
  if (!json_is_object(f)) {
    json_decref(f);
    f = json_object();
  }
  json_object_set_new(f, "id", mongo_bson_json(doc, "_id"));
  json_object_set_new(f, "owner_id", mongo_bson_json(doc, "owner_id"));
  json_object_set_new(f, "name", mongo_bson_json(doc, "name"));
  json_object_set_new(f, "status", mongo_bson_json(doc, "status"));
  json_object_set_new(f, "created_at", mongo_bson_iso(doc, "created_at"));
  json_object_set_new(f, "updated_at", mongo_bson_iso(doc, "updated_at"));
  bson_iter_t it;
  json_object_set_new(f, "version",
                      bson_iter_init_find(&it, doc, "version") && BSON_ITER_HOLDS_NUMBER(&it)
                          ? json_integer(bson_iter_as_int64(&it))
                          : json_null());
  if (bson_iter_init_find(&it, doc, "live") && BSON_ITER_HOLDS_UTF8(&it))
    json_object_set_new(f, "live", mongo_bson_parsed(doc, "live", json_object()));
  return f;
}

static const char *const graph_keys[] = {"trigger", "nodes", "edges", "start"};

json_t *mongo_flow_def(const json_t *flow) {
  json_t *def = json_object();
  for (size_t i = 0; i < sizeof(graph_keys) / sizeof(graph_keys[0]); i++) {
    json_t *v = json_object_get(flow, graph_keys[i]);
    if (v) json_object_set_new(def, graph_keys[i], json_deep_copy(v));
  }
  return def;
}

void mongo_flow_overlay(json_t *flow, const json_t *def) {
  for (size_t i = 0; i < sizeof(graph_keys) / sizeof(graph_keys[0]); i++) {
    json_t *v = json_object_get(def, graph_keys[i]);
    if (v) json_object_set(flow, graph_keys[i], v);
  }
}

/* FLOW_LIST with live: the runner's view, an active flow's published graph. */
static json_t *list_live_json(mongo_ctx_t *c, const bson_t *doc) {
  json_t *f = mongo_flow_json(c, doc);
  if (json_is_object(json_object_get(f, "live"))) mongo_flow_overlay(f, json_object_get(f, "live"));
  return f;
}
static json_t *list_json(mongo_ctx_t *c, const bson_t *doc) { return mongo_flow_json(c, doc); }

/* The fields a flow's document keeps from the caller's flow object. */
static void append_flow(bson_t *b, json_t *flow, int64_t now) {
  json_t *body = json_deep_copy(flow), *name = json_object_get(flow, "name");
  const char *status = mongo_param_str(flow, "status");
  static const char *const own[] = {"id",         "owner_id",   "name",    "status",
                                    "created_at", "updated_at", "version", "live"};
  for (size_t i = 0; i < sizeof(own) / sizeof(own[0]); i++) json_object_del(body, own[i]);
  mongo_bson_append_json(b, "name", json_is_string(name) ? name : NULL);
  BSON_APPEND_UTF8(b, "status", status ? status : "draft");
  mongo_bson_append_text(b, "body", body);
  BSON_APPEND_DATE_TIME(b, "updated_at", now);
  json_decref(body);
}

int mongo_flow_create(mongo_ctx_t *c, json_t *p, json_t **r) {
  const char *owner = mongo_param_str(p, "owner_id");
  json_t *flow = json_object_get(p, "flow");
  if (!owner || !json_is_object(flow)) return STORE_EINVAL;
  char id[25];
  util_new_id(id);
  int64_t now = util_now_ms();
  bson_t *doc = BCON_NEW("_id", BCON_UTF8(id), "owner_id", BCON_UTF8(owner), "created_at",
                         BCON_DATE_TIME(now), "ord", BCON_INT64(mongo_ctx_order(c)));
  append_flow(doc, flow, now);
  int rc = mongo_query_insert(c, MC_FLOWS, doc);
  if (rc == 1 && json_is_true(json_object_get(p, "publish"))) {
    bson_destroy(doc);
    return mongo_flow_publish(c, id, owner, r);
  }
  if (rc == 1) *r = mongo_flow_json(c, doc);
  bson_destroy(doc);
  return rc == 1 ? STORE_OK : rc;
}

int mongo_flow_get(mongo_ctx_t *c, json_t *p, json_t **r) {
  const char *owner = mongo_param_str(p, "owner_id"), *id = mongo_param_str(p, "id");
  const char *name = mongo_param_str(p, "name");
  if (!owner || (!id && !name)) return STORE_EINVAL;
  bson_t *filter = id ? BCON_NEW("_id", BCON_UTF8(id), "owner_id", BCON_UTF8(owner))
                      : BCON_NEW("owner_id", BCON_UTF8(owner), "name", BCON_UTF8(name));
  bson_t *opts = BCON_NEW("sort", "{", "ord", BCON_INT32(1), "}");
  bson_t doc;
  int rc = mongo_query_one(c, MC_FLOWS, filter, opts, &doc);
  bson_destroy(filter);
  bson_destroy(opts);
  if (rc <= 0) return rc == 0 ? STORE_ENOTFOUND : rc;
  *r = mongo_flow_json(c, &doc);
  bson_destroy(&doc);
  json_t *ver = json_object_get(p, "version");
  if (id && json_is_integer(ver)) {
    /* A run resuming on the version it started on. */
    json_t *v = NULL,
           *q = json_pack("{s:s, s:s, s:O}", "id", id, "owner_id", owner, "version", ver);
    rc = q ? mongo_flow_version_get(c, q, &v) : STORE_EUNAVAILABLE;
    json_decref(q);
    if (rc != STORE_OK) {
      json_decref(*r);
      *r = NULL;
      return rc;
    }
    mongo_flow_overlay(*r, v);
    json_object_set(*r, "version", ver);
    json_decref(v);
  }
  return STORE_OK;
}

int mongo_flow_list(mongo_ctx_t *c, json_t *p, json_t **r) {
  const char *owner = mongo_param_str(p, "owner_id"), *status = mongo_param_str(p, "status");
  if (!owner) return STORE_EINVAL;
  bson_t *filter = BCON_NEW("owner_id", BCON_UTF8(owner));
  if (status) BSON_APPEND_UTF8(filter, "status", status);
  bson_t *opts = BCON_NEW("sort", "{", "ord", BCON_INT32(1), "}");
  return mongo_query_list(c, MC_FLOWS, filter, opts,
                          json_is_true(json_object_get(p, "live")) ? list_live_json : list_json,
                          "flows", r);
}

int mongo_flow_update(mongo_ctx_t *c, json_t *p, json_t **r) {
  const char *owner = mongo_param_str(p, "owner_id"), *id = mongo_param_str(p, "id");
  json_t *flow = json_object_get(p, "flow");
  if (!owner || !id || !json_is_object(flow)) return STORE_EINVAL;
  bson_t *q = BCON_NEW("_id", BCON_UTF8(id), "owner_id", BCON_UTF8(owner));
  bson_t *update = bson_new(), set;
  bson_append_document_begin(update, "$set", -1, &set);
  append_flow(&set, flow, util_now_ms());
  bson_append_document_end(update, &set);
  bson_t doc;
  int rc = mongo_query_modify(c, MC_FLOWS, q, update, 0, 1, &doc);
  bson_destroy(q);
  bson_destroy(update);
  if (rc <= 0) return rc == 0 ? STORE_ENOTFOUND : rc;
  if (json_is_true(json_object_get(p, "publish"))) {
    bson_destroy(&doc);
    return mongo_flow_publish(c, id, owner, r);
  }
  *r = mongo_flow_json(c, &doc);
  bson_destroy(&doc);
  return STORE_OK;
}

int mongo_flow_delete(mongo_ctx_t *c, json_t *p, json_t **r) {
  const char *owner = mongo_param_str(p, "owner_id"), *id = mongo_param_str(p, "id");
  if (!owner || !id) return STORE_EINVAL;
  bson_t *filter = BCON_NEW("_id", BCON_UTF8(id), "owner_id", BCON_UTF8(owner));
  int rc = mongo_query_delete(c, MC_FLOWS, filter, 0);
  bson_destroy(filter);
  if (rc <= 0) return rc == 0 ? STORE_ENOTFOUND : rc;
  /* Its versions, counters, reached sets and run-once claims go with it; a run waiting on it fails
   * on resuming.
   */
  filter = BCON_NEW("flow_id", BCON_UTF8(id));
  rc = mongo_query_delete(c, MC_FLOW_VERSIONS, filter, 1);
  if (rc >= 0) rc = mongo_query_delete(c, MC_FLOW_STATS, filter, 1);
  if (rc >= 0) rc = mongo_query_delete(c, MC_FLOW_CLAIMS, filter, 1);
  if (rc >= 0) rc = mongo_query_delete(c, MC_FLOW_REACHED, filter, 1);
  bson_destroy(filter);
  if (rc < 0) return rc;
  *r = json_object();
  return STORE_OK;
}

static json_t *run_json(mongo_ctx_t *c, const bson_t *doc) {
  json_t *run = mongo_bson_parsed(doc, "body", json_object());
  if (!json_is_object(run)) {
    json_decref(run);
    run = json_object();
  }
  /* A trace that was its state's is stored once, inside the state (bodies
   * written before hold both). */
  json_t *in_state = json_object_get(json_object_get(run, "state"), "trace");
  if (!json_object_get(run, "trace") && json_is_array(in_state))
    json_object_set(run, "trace", in_state);
  static const char *const fields[] = {"flow_id", "owner_id", "contact_id", "status"};
  json_object_set_new(run, "id", mongo_bson_json(doc, "_id"));
  for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
    json_object_set_new(run, fields[i], mongo_bson_json(doc, fields[i]));
  json_object_set_new(run, "created_at", mongo_bson_iso(doc, "created_at"));
  json_object_set_new(run, "updated_at", mongo_bson_iso(doc, "updated_at"));
  return run;
}

static bson_t *run_update(json_t *run, const char *id, int64_t now, int64_t ord) {
  static const char *const fields[] = {"flow_id", "owner_id", "contact_id", "status"};
  /* The body: the run but its fields and stored columns, and its trace when
   * it is its state's (read back from there). Shared, not copied: only
   * dumped. */
  json_t *body = json_object(), *val;
  const char *key;
  const json_t *trace = json_object_get(run, "trace");
  const json_t *in_state = json_object_get(json_object_get(run, "state"), "trace");
  int trace_in_state = trace && in_state && (trace == in_state || json_equal(trace, in_state));
  json_object_foreach(run, key, val) {
    if (strcmp(key, "id") && strcmp(key, "created_at") && strcmp(key, "updated_at") &&
        !(trace_in_state && strcmp(key, "trace") == 0))
      json_object_set(body, key, val);
  }
  bson_t *u = BCON_NEW("$setOnInsert", "{", "_id", BCON_UTF8(id), "created_at", BCON_DATE_TIME(now),
                       "ord", BCON_INT64(ord), "}");
  bson_t set;
  bson_append_document_begin(u, "$set", -1, &set);
  for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
    json_t *v = json_object_get(run, fields[i]);
    mongo_bson_append_json(&set, fields[i], json_is_string(v) ? v : NULL);
    json_object_del(body, fields[i]);
  }
  /* The version a run started on is a field too: publishing keeps the
   * versions that running and waiting runs need. */
  json_t *ver = json_object_get(run, "version");
  if (json_is_integer(ver)) BSON_APPEND_INT64(&set, "version", json_integer_value(ver));
  mongo_bson_append_text(&set, "body", body);
  BSON_APPEND_DATE_TIME(&set, "updated_at", now);
  bson_append_document_end(u, &set);
  json_decref(body);
  return u;
}

/* Run once: the run claims (flow, contact) by inserting "<flow>:<contact>" in
 * flow_claims before the run is stored; the unique _id lets one insert win
 * whatever the instances racing, the others' duplicate key is ECONFLICT. */
static int claim_once(mongo_ctx_t *c, const json_t *run, const char *run_id, char key[64]) {
  const char *flow = mongo_param_str((json_t *)run, "flow_id");
  const char *contact = mongo_param_str((json_t *)run, "contact_id");
  if (!flow || !contact || strlen(flow) + strlen(contact) + 2 > 64) return STORE_EINVAL;
  size_t nf = strlen(flow);
  memcpy(key, flow, nf);
  key[nf] = ':';
  memcpy(key + nf + 1, contact, strlen(contact) + 1);
  bson_t *doc = BCON_NEW("_id", BCON_UTF8(key), "flow_id", BCON_UTF8(flow), "contact_id",
                         BCON_UTF8(contact), "run_id", BCON_UTF8(run_id));
  int rc = mongo_query_insert(c, MC_FLOW_CLAIMS, doc);
  bson_destroy(doc);
  if (rc < 0) key[0] = '\0';
  return rc < 0 ? rc : STORE_OK;
}

/* A cooldown: the claim "<flow>:<contact>" is inserted with the time it ends,
 * or, when one exists, taken over only if its cooldown is over (a run-once
 * claim has none and is never taken over). Each step is one document's atomic
 * write, so of two instances racing one gets it, the other ECONFLICT. */
static int claim_until(mongo_ctx_t *c, const json_t *run, const char *run_id, int64_t until,
                       int64_t now, char key[64]) {
  const char *flow = mongo_param_str((json_t *)run, "flow_id");
  const char *contact = mongo_param_str((json_t *)run, "contact_id");
  if (!flow || !contact || strlen(flow) + strlen(contact) + 2 > 64) return STORE_EINVAL;
  size_t nf = strlen(flow);
  memcpy(key, flow, nf);
  key[nf] = ':';
  memcpy(key + nf + 1, contact, strlen(contact) + 1);
  bson_t *doc =
      BCON_NEW("_id", BCON_UTF8(key), "flow_id", BCON_UTF8(flow), "contact_id", BCON_UTF8(contact),
               "run_id", BCON_UTF8(run_id), "until_ms", BCON_INT64(until));
  int rc = mongo_query_insert(c, MC_FLOW_CLAIMS, doc);
  bson_destroy(doc);
  if (rc != STORE_ECONFLICT) return rc < 0 ? rc : STORE_OK;
  bson_t *f = BCON_NEW("_id", BCON_UTF8(key), "until_ms", "{", "$lte", BCON_INT64(now), "}");
  bson_t *u =
      BCON_NEW("$set", "{", "run_id", BCON_UTF8(run_id), "until_ms", BCON_INT64(until), "}");
  rc = mongo_query_update(c, MC_FLOW_CLAIMS, f, u, 0);
  bson_destroy(f);
  bson_destroy(u);
  if (rc < 0) return rc;
  return rc == 1 ? STORE_OK : STORE_ECONFLICT;
}

int mongo_flow_run_save(mongo_ctx_t *c, json_t *p, json_t **r) {
  json_t *run = json_object_get(p, "run");
  if (!json_is_object(run)) return STORE_EINVAL;
  const char *given = mongo_param_str(run, "id");
  char id[25];
  if (given)
    snprintf(id, sizeof(id), "%s", given);
  else
    util_new_id(id);
  char claim[64] = "";
  if (!given && json_is_true(json_object_get(p, "claim_once"))) {
    int rc = claim_once(c, run, id, claim);
    if (rc != STORE_OK) return rc;
  } else if (!given && json_is_integer(json_object_get(p, "claim_until_ms"))) {
    int64_t now = -1;
    if (mongo_param_int(p, "now_ms", &now) != 0 || now < 0) return STORE_EINVAL;
    int rc = claim_until(c, run, id, json_integer_value(json_object_get(p, "claim_until_ms")), now,
                         claim);
    if (rc != STORE_OK) {
      claim[0] = '\0';
      return rc;
    }
  }
  bson_t *q = BCON_NEW("_id", BCON_UTF8(given ? given : id));
  bson_t *update = run_update(run, id, util_now_ms(), mongo_ctx_order(c));
  bson_t doc;
  int rc = mongo_query_modify(c, MC_RUNS, q, update, 1, 1, &doc);
  bson_destroy(q);
  bson_destroy(update);
  if (rc <= 0 && claim[0]) {
    /* The run was not stored: its claim goes, so a later message may run it. */
    bson_t *f = BCON_NEW("_id", BCON_UTF8(claim));
    mongo_query_delete(c, MC_FLOW_CLAIMS, f, 0);
    bson_destroy(f);
  }
  if (rc <= 0) return rc == 0 ? STORE_EUNAVAILABLE : rc;
  *r = run_json(c, &doc);
  bson_destroy(&doc);
  if (json_is_true(json_object_get(p, "brief"))) {
    json_object_del(*r, "trace");
    json_object_del(*r, "state");
  }
  return STORE_OK;
}

int mongo_flow_run_list(mongo_ctx_t *c, json_t *p, json_t **r) {
  const char *flow = mongo_param_str(p, "flow_id"), *owner = mongo_param_str(p, "owner_id");
  int64_t limit = 50;
  mongo_param_int(p, "limit", &limit);
  if (!flow || !owner || limit < 1) return STORE_EINVAL;
  bson_t *filter = BCON_NEW("flow_id", BCON_UTF8(flow), "owner_id", BCON_UTF8(owner));
  const char *contact = mongo_param_str(p, "contact_id");
  if (contact) BSON_APPEND_UTF8(filter, "contact_id", contact);
  bson_t *opts = BCON_NEW("sort", "{", "ord", BCON_INT32(-1), "}", "limit", BCON_INT64(limit));
  return mongo_query_list(c, MC_RUNS, filter, opts, run_json, "runs", r);
}

int mongo_flow_run_get(mongo_ctx_t *c, json_t *p, json_t **r) {
  const char *id = mongo_param_str(p, "id");
  if (!id) return STORE_EINVAL;
  bson_t *filter = BCON_NEW("_id", BCON_UTF8(id));
  bson_t doc;
  int rc = mongo_query_one(c, MC_RUNS, filter, NULL, &doc);
  bson_destroy(filter);
  if (rc <= 0) return rc == 0 ? STORE_ENOTFOUND : rc;
  *r = run_json(c, &doc);
  bson_destroy(&doc);
  return STORE_OK;
}
