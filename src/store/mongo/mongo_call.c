/* Calls in "calls", and each busy user's line in "call_lines" ({_id: user
 * id, call_id, until_ms}): a call takes both users' lines first, each with one
 * conditional upsert on the user's _id that only a free or expired line lets
 * through (a held one makes the upsert's insert a duplicate key), so two
 * instances starting calls with one user at once cannot both succeed. Ending a
 * call frees its lines; a call whose instance died frees them when the lease
 * the instance stopped renewing runs out. Worker thread. */
#include <string.h>

#include "store/mongo/mongo_internal.h"

static json_t *int_or_null(const bson_t *doc, const char *key) {
  bson_iter_t it;
  if (!bson_iter_init_find(&it, doc, key) || BSON_ITER_HOLDS_NULL(&it)) return json_null();
  return json_integer(mongo_bson_int(doc, key, 0));
}

static json_t *call_json(const bson_t *doc) {
  return json_pack(
      "{s:o, s:o, s:o, s:o, s:o, s:o, s:I, s:o, s:o, s:I}", "id", mongo_bson_json(doc, "_id"),
      "conversation_id", mongo_bson_json(doc, "conversation_id"), "caller_id",
      mongo_bson_json(doc, "caller_id"), "callee_id", mongo_bson_json(doc, "callee_id"), "media",
      mongo_bson_json(doc, "media"), "state", mongo_bson_json(doc, "state"), "created_at_ms",
      (json_int_t)mongo_bson_int(doc, "created_at_ms", 0), "answered_at_ms",
      int_or_null(doc, "answered_at_ms"), "ended_at_ms", int_or_null(doc, "ended_at_ms"),
      "lease_until_ms", (json_int_t)mongo_bson_int(doc, "lease_until_ms", 0));
}

static int call_load(mongo_ctx_t *c, const char *id, json_t **out) {
  bson_t *filter = BCON_NEW("_id", BCON_UTF8(id));
  bson_t doc;
  int rc = mongo_query_one(c, MC_CALLS, filter, NULL, &doc);
  bson_destroy(filter);
  if (rc < 0) return rc;
  if (rc == 0) return STORE_ENOTFOUND;
  *out = call_json(&doc);
  bson_destroy(&doc);
  return STORE_OK;
}

/* 1 when user's line is now the call's, 0 when another live call holds it, or
 * a negative status. */
static int take_line(mongo_ctx_t *c, const char *user, const char *id, int64_t now, int64_t until) {
  bson_t *q = BCON_NEW("_id", BCON_UTF8(user), "until_ms", "{", "$lte", BCON_INT64(now), "}");
  bson_t *u = BCON_NEW("$set", "{", "call_id", BCON_UTF8(id), "until_ms", BCON_INT64(until), "}");
  int rc = mongo_query_modify(c, MC_CALL_LINES, q, u, 1, 1, NULL);
  bson_destroy(q);
  bson_destroy(u);
  if (rc == STORE_ECONFLICT) return 0; /* the upsert met the held line's _id */
  return rc < 0 ? rc : 1;
}

static int free_lines(mongo_ctx_t *c, const char *id) {
  bson_t *f = BCON_NEW("call_id", BCON_UTF8(id));
  int rc = mongo_query_delete(c, MC_CALL_LINES, f, 1);
  bson_destroy(f);
  return rc < 0 ? rc : STORE_OK;
}

int mongo_call_create(mongo_ctx_t *c, json_t *p, json_t **r) {
  const char *id = mongo_param_str(p, "id"), *conv = mongo_param_str(p, "conversation_id");
  const char *caller = mongo_param_str(p, "caller_id"), *callee = mongo_param_str(p, "callee_id");
  const char *media = mongo_param_str(p, "media");
  int64_t now, lease;
  if (!id || !conv || !caller || !callee || !media || mongo_param_int(p, "now_ms", &now) < 0 ||
      mongo_param_int(p, "lease_until_ms", &lease) < 0)
    return STORE_EINVAL;
  int rc = take_line(c, caller, id, now, lease);
  if (rc == 1) {
    rc = take_line(c, callee, id, now, lease);
    if (rc != 1) free_lines(c, id);
  }
  if (rc != 1) return rc == 0 ? STORE_ECONFLICT : rc;
  bson_t *doc =
      BCON_NEW("_id", BCON_UTF8(id), "conversation_id", BCON_UTF8(conv), "caller_id",
               BCON_UTF8(caller), "callee_id", BCON_UTF8(callee), "media", BCON_UTF8(media),
               "state", BCON_UTF8("ringing"), "created_at_ms", BCON_INT64(now), "answered_at_ms",
               BCON_NULL, "ended_at_ms", BCON_NULL, "lease_until_ms", BCON_INT64(lease));
  rc = mongo_query_insert(c, MC_CALLS, doc);
  if (rc == 1) *r = call_json(doc);
  bson_destroy(doc);
  if (rc != 1) {
    free_lines(c, id);
    return rc;
  }
  return STORE_OK;
}

int mongo_call_get(mongo_ctx_t *c, json_t *p, json_t **r) {
  const char *id = mongo_param_str(p, "id");
  if (!id) return STORE_EINVAL;
  return call_load(c, id, r);
}

int mongo_call_set_state(mongo_ctx_t *c, json_t *p, json_t **r) {
  const char *id = mongo_param_str(p, "id"), *state = mongo_param_str(p, "state");
  json_t *from = json_object_get(p, "from");
  int64_t now;
  if (!id || !state || !json_is_array(from) || mongo_param_int(p, "now_ms", &now) < 0 ||
      (strcmp(state, "active") != 0 && strcmp(state, "ended") != 0))
    return STORE_EINVAL;
  int active = strcmp(state, "active") == 0;
  bson_t q = BSON_INITIALIZER, in, arr;
  BSON_APPEND_UTF8(&q, "_id", id);
  bson_append_document_begin(&q, "state", -1, &in);
  bson_append_array_begin(&in, "$in", -1, &arr);
  size_t i;
  json_t *v;
  json_array_foreach(from, i, v) {
    char k[24];
    snprintf(k, sizeof(k), "%zu", i);
    if (json_is_string(v)) BSON_APPEND_UTF8(&arr, k, json_string_value(v));
  }
  bson_append_array_end(&in, &arr);
  bson_append_document_end(&q, &in);
  bson_t *u = BCON_NEW("$set", "{", "state", BCON_UTF8(state),
                       active ? "answered_at_ms" : "ended_at_ms", BCON_INT64(now), "}");
  bson_t doc;
  int rc = mongo_query_modify(c, MC_CALLS, &q, u, 0, 1, &doc);
  bson_destroy(&q);
  bson_destroy(u);
  if (rc < 0) return rc;
  if (rc == 0) {
    json_t *call = NULL;
    rc = call_load(c, id, &call);
    json_decref(call);
    return rc == STORE_OK ? STORE_ECONFLICT : rc;
  }
  *r = call_json(&doc);
  bson_destroy(&doc);
  if (!active && (rc = free_lines(c, id)) != STORE_OK) {
    json_decref(*r);
    *r = NULL;
    return rc;
  }
  return STORE_OK;
}

int mongo_call_renew(mongo_ctx_t *c, json_t *p, json_t **r) {
  json_t *ids = json_object_get(p, "ids");
  int64_t lease;
  if (!json_is_array(ids) || mongo_param_int(p, "lease_until_ms", &lease) < 0) return STORE_EINVAL;
  json_t *live = json_array();
  size_t i;
  json_t *v;
  json_array_foreach(ids, i, v) {
    if (!json_is_string(v)) continue;
    const char *id = json_string_value(v);
    bson_t *f = BCON_NEW("_id", BCON_UTF8(id), "state", "{", "$ne", BCON_UTF8("ended"), "}");
    bson_t *u = BCON_NEW("$max", "{", "lease_until_ms", BCON_INT64(lease), "}");
    int rc = mongo_query_update(c, MC_CALLS, f, u, 0);
    bson_destroy(f);
    bson_destroy(u);
    if (rc > 0) {
      f = BCON_NEW("call_id", BCON_UTF8(id));
      u = BCON_NEW("$max", "{", "until_ms", BCON_INT64(lease), "}");
      rc = mongo_query_update(c, MC_CALL_LINES, f, u, 1);
      bson_destroy(f);
      bson_destroy(u);
      if (rc >= 0) json_array_append(live, v);
    }
    if (rc < 0) {
      json_decref(live);
      return rc;
    }
  }
  *r = json_pack("{s:o}", "live", live);
  return STORE_OK;
}

static json_t *id_and_lease(mongo_ctx_t *c, const bson_t *doc) {
  (void)c;
  return json_pack("{s:o, s:I}", "id", mongo_bson_json(doc, "_id"), "lease",
                   (json_int_t)mongo_bson_int(doc, "lease_until_ms", 0));
}

int mongo_call_sweep(mongo_ctx_t *c, json_t *p, json_t **r) {
  int64_t now, limit;
  if (mongo_param_int(p, "now_ms", &now) < 0 || mongo_param_int(p, "limit", &limit) < 0 ||
      limit < 1)
    return STORE_EINVAL;
  bson_t *f = BCON_NEW("state", "{", "$ne", BCON_UTF8("ended"), "}", "lease_until_ms", "{", "$lte",
                       BCON_INT64(now), "}");
  bson_t *o = BCON_NEW("limit", BCON_INT64(limit));
  json_t *found = NULL;
  int rc = mongo_query_list(c, MC_CALLS, f, o, id_and_lease, "due", &found);
  if (rc != STORE_OK) return rc;
  json_t *calls = json_array();
  size_t i;
  json_t *v;
  json_array_foreach(json_object_get(found, "due"), i, v) {
    const char *id = json_string_value(json_object_get(v, "id"));
    json_int_t at = json_integer_value(json_object_get(v, "lease"));
    /* Once, whoever sweeps: only a call still not ended, with the lease read. */
    bson_t *q = BCON_NEW("_id", BCON_UTF8(id), "state", "{", "$ne", BCON_UTF8("ended"), "}",
                         "lease_until_ms", BCON_INT64(at));
    bson_t *u =
        BCON_NEW("$set", "{", "state", BCON_UTF8("ended"), "ended_at_ms", BCON_INT64(at), "}");
    bson_t doc;
    rc = mongo_query_modify(c, MC_CALLS, q, u, 0, 1, &doc);
    bson_destroy(q);
    bson_destroy(u);
    if (rc < 0) break;
    if (rc == 1) {
      json_array_append_new(calls, call_json(&doc));
      bson_destroy(&doc);
      if ((rc = free_lines(c, id)) != STORE_OK) break;
    }
    rc = STORE_OK;
  }
  json_decref(found);
  if (rc < 0) {
    json_decref(calls);
    return rc;
  }
  *r = json_pack("{s:o}", "calls", calls);
  return STORE_OK;
}
