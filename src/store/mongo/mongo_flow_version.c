/* A flow's published versions in "flow_versions" (_id "<flow id>:<n>", the
 * graph as JSON text, never changed once written): publishing the draft,
 * listing, reading and restoring versions. Numbers come from a counter on the
 * flow's document ($inc), so two instances publishing at once get two
 * versions, and the flow points at the higher. Worker thread. */
#include <stdio.h>

#include "parley/util.h"
#include "store/mongo/mongo_internal.h"

static void version_key(char *out, size_t len, const char *id, int64_t n) {
  snprintf(out, len, "%s:%lld", id, (long long)n);
}

static void add_live_version(void *arg, const bson_t *doc) {
  int64_t v = mongo_bson_int(doc, "version", 0);
  if (v > 0) json_array_append_new(arg, json_integer(v));
}

/* Drops versions older than the FLOW_VERSIONS_KEPT most recent, except those
 * a running or waiting run started on (it finishes on its version). */
static int prune(mongo_ctx_t *c, const char *id, int64_t latest) {
  if (latest <= FLOW_VERSIONS_KEPT) return STORE_OK;
  json_t *held = json_array();
  bson_t *q = BCON_NEW("flow_id", BCON_UTF8(id), "status", "{", "$in", "[", BCON_UTF8("running"),
                       BCON_UTF8("waiting"), "]", "}");
  bson_t *opts = BCON_NEW("projection", "{", "version", BCON_INT32(1), "}");
  int rc = mongo_query_each(c, MC_RUNS, q, opts, add_live_version, held);
  bson_destroy(q);
  bson_destroy(opts);
  if (rc >= 0) {
    bson_t *f = BCON_NEW("flow_id", BCON_UTF8(id)), n, nin;
    bson_append_document_begin(f, "n", -1, &n);
    BSON_APPEND_INT64(&n, "$lte", latest - FLOW_VERSIONS_KEPT);
    bson_append_array_begin(&n, "$nin", -1, &nin);
    json_t *v;
    size_t i;
    json_array_foreach(held, i, v) {
      char k[24];
      snprintf(k, sizeof(k), "%zu", i);
      BSON_APPEND_INT64(&nin, k, json_integer_value(v));
    }
    bson_append_array_end(&n, &nin);
    bson_append_document_end(f, &n);
    rc = mongo_query_delete(c, MC_FLOW_VERSIONS, f, 1);
    bson_destroy(f);
    /* The contacts that reached a dropped version's nodes go with it. */
    f = BCON_NEW("flow_id", BCON_UTF8(id));
    bson_append_document_begin(f, "version", -1, &n);
    BSON_APPEND_INT64(&n, "$gte", 1);
    BSON_APPEND_INT64(&n, "$lte", latest - FLOW_VERSIONS_KEPT);
    bson_append_array_begin(&n, "$nin", -1, &nin);
    json_array_foreach(held, i, v) {
      char k[24];
      snprintf(k, sizeof(k), "%zu", i);
      BSON_APPEND_INT64(&nin, k, json_integer_value(v));
    }
    bson_append_array_end(&n, &nin);
    bson_append_document_end(f, &n);
    if (rc >= 0) rc = mongo_query_delete(c, MC_FLOW_REACHED, f, 1);
    bson_destroy(f);
  }
  json_decref(held);
  return rc < 0 ? rc : STORE_OK;
}

static int load(mongo_ctx_t *c, const char *id, const char *owner, bson_t *doc) {
  bson_t *q = BCON_NEW("_id", BCON_UTF8(id), "owner_id", BCON_UTF8(owner));
  int rc = mongo_query_one(c, MC_FLOWS, q, NULL, doc);
  bson_destroy(q);
  return rc <= 0 ? (rc == 0 ? STORE_ENOTFOUND : rc) : STORE_OK;
}

static int answer(mongo_ctx_t *c, const char *id, const char *owner, json_t **r) {
  bson_t doc;
  int rc = load(c, id, owner, &doc);
  if (rc != STORE_OK) return rc;
  *r = mongo_flow_json(c, &doc);
  bson_destroy(&doc);
  return STORE_OK;
}

int mongo_flow_publish(mongo_ctx_t *c, const char *id, const char *owner, json_t **r) {
  json_t *flow = NULL;
  int rc = answer(c, id, owner, &flow);
  if (rc != STORE_OK) return rc;
  json_t *def = mongo_flow_def(flow), *live = json_object_get(flow, "live");
  bson_t *q = BCON_NEW("_id", BCON_UTF8(id));
  if (json_is_object(live) && json_equal(live, def)) {
    /* The live graph again: no new version, the flow is active. */
    bson_t *u = BCON_NEW("$set", "{", "status", BCON_UTF8("active"), "}");
    rc = mongo_query_update(c, MC_FLOWS, q, u, 0);
    bson_destroy(u);
    goto done;
  }
  bson_t *u = BCON_NEW("$inc", "{", "version_seq", BCON_INT64(1), "}"), after;
  rc = mongo_query_modify(c, MC_FLOWS, q, u, 0, 1, &after);
  bson_destroy(u);
  if (rc <= 0) {
    rc = rc == 0 ? STORE_ENOTFOUND : rc;
    goto done;
  }
  int64_t n = mongo_bson_int(&after, "version_seq", 1);
  bson_destroy(&after);
  char key[96];
  version_key(key, sizeof(key), id, n);
  int64_t now = util_now_ms();
  bson_t *v = BCON_NEW("_id", BCON_UTF8(key), "flow_id", BCON_UTF8(id), "owner_id",
                       BCON_UTF8(owner), "n", BCON_INT64(n), "created_at", BCON_DATE_TIME(now));
  mongo_bson_append_text(v, "def", def);
  rc = mongo_query_insert(c, MC_FLOW_VERSIONS, v);
  bson_destroy(v);
  if (rc < 0) goto done;
  /* The version exists before the flow names it: a run never starts on a
   * version it cannot resume on. A later publish that landed first keeps
   * the flow; this one is still recorded. */
  bson_t *newer = BCON_NEW("_id", BCON_UTF8(id), "$or", "[", "{", "version", BCON_NULL, "}", "{",
                           "version", "{", "$lt", BCON_INT64(n), "}", "}", "]");
  bson_t *set = bson_new(), setdoc;
  bson_append_document_begin(set, "$set", -1, &setdoc);
  BSON_APPEND_UTF8(&setdoc, "status", "active");
  BSON_APPEND_INT64(&setdoc, "version", n);
  mongo_bson_append_text(&setdoc, "live", def);
  bson_append_document_end(set, &setdoc);
  rc = mongo_query_update(c, MC_FLOWS, newer, set, 0);
  bson_destroy(newer);
  bson_destroy(set);
  if (rc == 0) {
    bson_t *active = BCON_NEW("$set", "{", "status", BCON_UTF8("active"), "}");
    rc = mongo_query_update(c, MC_FLOWS, q, active, 0);
    bson_destroy(active);
  }
  if (rc >= 0) rc = prune(c, id, n);
done:
  bson_destroy(q);
  json_decref(def);
  json_decref(flow);
  if (rc < 0) return rc;
  return answer(c, id, owner, r);
}

int mongo_flow_version_publish(mongo_ctx_t *c, json_t *p, json_t **r) {
  const char *owner = mongo_param_str(p, "owner_id"), *id = mongo_param_str(p, "id");
  if (!owner || !id) return STORE_EINVAL;
  return mongo_flow_publish(c, id, owner, r);
}

static json_t *version_json(mongo_ctx_t *c, const bson_t *doc) {
  (void)c;
  return json_pack("{s:I, s:o}", "version", (json_int_t)mongo_bson_int(doc, "n", 0), "created_at",
                   mongo_bson_iso(doc, "created_at"));
}

int mongo_flow_version_list(mongo_ctx_t *c, json_t *p, json_t **r) {
  const char *owner = mongo_param_str(p, "owner_id"), *id = mongo_param_str(p, "id");
  if (!owner || !id) return STORE_EINVAL;
  bson_t *filter = BCON_NEW("flow_id", BCON_UTF8(id), "owner_id", BCON_UTF8(owner));
  bson_t *opts =
      BCON_NEW("sort", "{", "n", BCON_INT32(-1), "}", "projection", "{", "def", BCON_INT32(0), "}");
  return mongo_query_list(c, MC_FLOW_VERSIONS, filter, opts, version_json, "versions", r);
}

int mongo_flow_version_get(mongo_ctx_t *c, json_t *p, json_t **r) {
  const char *owner = mongo_param_str(p, "owner_id"), *id = mongo_param_str(p, "id");
  int64_t n = 0;
  mongo_param_int(p, "version", &n);
  if (!owner || !id || n < 1) return STORE_EINVAL;
  char key[96];
  version_key(key, sizeof(key), id, n);
  bson_t *q = BCON_NEW("_id", BCON_UTF8(key), "owner_id", BCON_UTF8(owner)), doc;
  int rc = mongo_query_one(c, MC_FLOW_VERSIONS, q, NULL, &doc);
  bson_destroy(q);
  if (rc <= 0) return rc == 0 ? STORE_ENOTFOUND : rc;
  json_t *v = mongo_bson_parsed(&doc, "def", json_object());
  if (!json_is_object(v)) {
    json_decref(v);
    v = json_object();
  }
  json_object_set_new(v, "version", json_integer(n));
  json_object_set_new(v, "created_at", mongo_bson_iso(&doc, "created_at"));
  bson_destroy(&doc);
  *r = v;
  return STORE_OK;
}

int mongo_flow_version_restore(mongo_ctx_t *c, json_t *p, json_t **r) {
  const char *owner = mongo_param_str(p, "owner_id"), *id = mongo_param_str(p, "id");
  json_t *v = NULL;
  int rc = mongo_flow_version_get(c, p, &v);
  if (rc != STORE_OK) return rc;
  bson_t doc;
  rc = load(c, id, owner, &doc);
  if (rc != STORE_OK) {
    json_decref(v);
    return rc;
  }
  /* The draft (the document's body) takes the version's graph; only the
   * draft changes: live runs and new ones keep the published graph. */
  json_t *body = mongo_bson_parsed(&doc, "body", json_object());
  bson_destroy(&doc);
  if (!json_is_object(body)) {
    json_decref(body);
    body = json_object();
  }
  json_object_del(v, "version");
  json_object_del(v, "created_at");
  json_object_update(body, v);
  json_decref(v);
  bson_t *q = BCON_NEW("_id", BCON_UTF8(id), "owner_id", BCON_UTF8(owner));
  bson_t *u = bson_new(), set;
  bson_append_document_begin(u, "$set", -1, &set);
  mongo_bson_append_text(&set, "body", body);
  BSON_APPEND_DATE_TIME(&set, "updated_at", util_now_ms());
  bson_append_document_end(u, &set);
  rc = mongo_query_update(c, MC_FLOWS, q, u, 0);
  bson_destroy(q);
  bson_destroy(u);
  json_decref(body);
  if (rc <= 0) return rc == 0 ? STORE_ENOTFOUND : rc;
  return answer(c, id, owner, r);
}
