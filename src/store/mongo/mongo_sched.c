/* Scheduled steps (flow delays) in "scheduled_steps": {run_id, due_at_ms},
 * read in due order by the flow runner. Worker thread. */
#include "parley/util.h"
#include "store/mongo/mongo_internal.h"

static json_t *step_json(mongo_ctx_t *c, const bson_t *doc) {
  return json_pack("{s:o, s:o, s:I}", "id", mongo_bson_json(doc, "_id"), "run_id",
                   mongo_bson_json(doc, "run_id"), "due_at_ms",
                   (json_int_t)mongo_bson_int(doc, "due_at_ms", 0));
}

int mongo_sched_insert(mongo_ctx_t *c, json_t *p, json_t **r) {
  const char *run = mongo_param_str(p, "run_id");
  int64_t due;
  if (!run || mongo_param_int(p, "due_at_ms", &due) < 0) return STORE_EINVAL;
  char id[25];
  util_new_id(id);
  bson_t *doc = BCON_NEW("_id", BCON_UTF8(id), "run_id", BCON_UTF8(run), "due_at_ms",
                         BCON_INT64(due), "ord", BCON_INT64(mongo_ctx_order(c)));
  const char *held = mongo_param_str(p, "held_for");
  if (held) BSON_APPEND_UTF8(doc, "held_for", held);
  const char *wait = mongo_param_str(p, "wait_for");
  if (wait) BSON_APPEND_UTF8(doc, "wait_for", wait);
  int rc = mongo_query_insert(c, MC_STEPS, doc);
  if (rc == 1) *r = step_json(c, doc);
  bson_destroy(doc);
  return rc == 1 ? STORE_OK : rc;
}

int mongo_sched_due(mongo_ctx_t *c, json_t *p, json_t **r) {
  int64_t now, limit = 100;
  mongo_param_int(p, "limit", &limit);
  if (mongo_param_int(p, "now_ms", &now) < 0 || limit < 1) return STORE_EINVAL;
  bson_t *filter = BCON_NEW("due_at_ms", "{", "$lte", BCON_INT64(now), "}");
  bson_t *opts = BCON_NEW("sort", "{", "due_at_ms", BCON_INT32(1), "ord", BCON_INT32(1), "}",
                          "limit", BCON_INT64(limit));
  return mongo_query_list(c, MC_STEPS, filter, opts, step_json, "steps", r);
}

int mongo_sched_delete(mongo_ctx_t *c, json_t *p, json_t **r) {
  const char *id = mongo_param_str(p, "id");
  if (!id) return STORE_EINVAL;
  bson_t *filter = BCON_NEW("_id", BCON_UTF8(id));
  int rc = mongo_query_delete(c, MC_STEPS, filter, 0);
  bson_destroy(filter);
  if (rc < 0) return rc;
  if (rc == 0) return STORE_ENOTFOUND; /* claimed by someone else */
  *r = json_object();
  return STORE_OK;
}

int mongo_sched_take_wait(mongo_ctx_t *c, json_t *p, json_t **r) {
  const char *contact = mongo_param_str(p, "wait_for");
  if (!contact) return STORE_EINVAL;
  bson_t *filter = BCON_NEW("wait_for", BCON_UTF8(contact));
  bson_t *opts = BCON_NEW("sort", "{", "ord", BCON_INT32(-1), "}");
  bson_t doc;
  int rc = mongo_query_one(c, MC_STEPS, filter, opts, &doc);
  bson_destroy(filter);
  bson_destroy(opts);
  if (rc <= 0) return rc == 0 ? STORE_ENOTFOUND : rc;
  json_t *step = step_json(c, &doc);
  bson_destroy(&doc);
  /* The delete is the claim: a timeout claimed first leaves nothing here. */
  bson_t *byid = BCON_NEW("_id", BCON_UTF8(json_string_value(json_object_get(step, "id"))));
  rc = mongo_query_delete(c, MC_STEPS, byid, 0);
  bson_destroy(byid);
  if (rc <= 0) {
    json_decref(step);
    return rc == 0 ? STORE_ENOTFOUND : rc;
  }
  *r = step;
  return STORE_OK;
}
