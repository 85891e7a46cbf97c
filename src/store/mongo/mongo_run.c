/* Flow runs in "flow_runs" (their trace and state kept as JSON text) and the
 * scheduled steps of delayed runs in "scheduled_steps". Worker thread. */
#include "parley/util.h"
#include "store/mongo/mongo_internal.h"

static json_t *run_json(mongo_ctx_t *c, const bson_t *doc) {
  json_t *run = mongo_bson_parsed(doc, "body", json_object());
  if (!json_is_object(run)) {
    json_decref(run);
    run = json_object();
  }
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
  json_t *body = json_deep_copy(run);
  bson_t *u = BCON_NEW("$setOnInsert", "{", "_id", BCON_UTF8(id), "created_at", BCON_DATE_TIME(now),
                       "ord", BCON_INT64(ord), "}");
  bson_t set;
  bson_append_document_begin(u, "$set", -1, &set);
  for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
    json_t *v = json_object_get(run, fields[i]);
    mongo_bson_append_json(&set, fields[i], json_is_string(v) ? v : NULL);
    json_object_del(body, fields[i]);
  }
  json_object_del(body, "id");
  json_object_del(body, "created_at");
  json_object_del(body, "updated_at");
  mongo_bson_append_text(&set, "body", body);
  BSON_APPEND_DATE_TIME(&set, "updated_at", now);
  bson_append_document_end(u, &set);
  json_decref(body);
  return u;
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
  bson_t *q = BCON_NEW("_id", BCON_UTF8(given ? given : id));
  bson_t *update = run_update(run, id, util_now_ms(), mongo_ctx_order(c));
  bson_t doc;
  int rc = mongo_query_modify(c, MC_RUNS, q, update, 1, 1, &doc);
  bson_destroy(q);
  bson_destroy(update);
  if (rc <= 0) return rc == 0 ? STORE_EUNAVAILABLE : rc;
  *r = run_json(c, &doc);
  bson_destroy(&doc);
  return STORE_OK;
}

int mongo_flow_run_list(mongo_ctx_t *c, json_t *p, json_t **r) {
  const char *flow = mongo_param_str(p, "flow_id"), *owner = mongo_param_str(p, "owner_id");
  int64_t limit = 50;
  mongo_param_int(p, "limit", &limit);
  if (!flow || !owner || limit < 1) return STORE_EINVAL;
  bson_t *filter = BCON_NEW("flow_id", BCON_UTF8(flow), "owner_id", BCON_UTF8(owner));
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
