/* Webhook events in "webhook_events": stored before processing, deduplicated by
 * Meta's mid (unique sparse index), listed while pending. The payload is kept as
 * JSON text: it is outside input, and its keys must never become field names.
 * Worker thread. */
#include <string.h>

#include "parley/util.h"
#include "store/mongo/mongo_internal.h"

static json_t *event_of(const bson_t *doc, int as_text) {
  json_t *e = json_object();
  json_object_set_new(e, "id", mongo_bson_json(doc, "_id"));
  json_object_set_new(e, "mid", mongo_bson_json(doc, "mid"));
  if (as_text)
    json_object_set_new(e, "payload_text", mongo_bson_json(doc, "payload"));
  else
    json_object_set_new(e, "payload", mongo_bson_parsed(doc, "payload", json_object()));
  json_object_set_new(e, "processed", json_boolean(mongo_bson_bool(doc, "processed")));
  json_object_set_new(e, "created_at", mongo_bson_iso(doc, "created_at"));
  return e;
}

static json_t *event_json(mongo_ctx_t *c, const bson_t *doc) { return event_of(doc, 0); }

/* The payload as stored (see sqlite_event_list_pending). */
static json_t *event_json_text(mongo_ctx_t *c, const bson_t *doc) { return event_of(doc, 1); }

/* Which of the n documents the server refused as duplicates (by index). */
static int mark_refused(const bson_t *reply, char *refused, size_t n) {
  bson_iter_t it, errs;
  if (!bson_iter_init_find(&it, reply, "writeErrors") || !bson_iter_recurse(&it, &errs)) return -1;
  while (bson_iter_next(&errs)) {
    bson_iter_t f;
    int64_t idx = -1, code = 0;
    if (bson_iter_recurse(&errs, &f))
      while (bson_iter_next(&f)) {
        if (!strcmp(bson_iter_key(&f), "index")) idx = bson_iter_as_int64(&f);
        if (!strcmp(bson_iter_key(&f), "code")) code = bson_iter_as_int64(&f);
      }
    if (code != 11000) return -1;
    if (idx >= 0 && (size_t)idx < n) refused[idx] = 1;
  }
  return 0;
}

/* The id the caller gave the event (see sqlite_event_insert), else a new one. */
static bson_t *event_doc(json_t *ev, int64_t now, int64_t ord, char id[25]) {
  const char *given = mongo_param_str(ev, "id");
  if (given && strlen(given) == 24)
    memcpy(id, given, 25);
  else
    util_new_ordered_id(id);
  bson_t *doc = BCON_NEW("_id", BCON_UTF8(id));
  const char *mid = mongo_param_str(ev, "mid");
  if (mid) BSON_APPEND_UTF8(doc, "mid", mid); /* absent otherwise: the index is sparse */
  mongo_bson_append_text(doc, "payload", json_object_get(ev, "payload"));
  BSON_APPEND_BOOL(doc, "processed", false);
  BSON_APPEND_DATE_TIME(doc, "created_at", now);
  BSON_APPEND_INT64(doc, "ord", ord);
  return doc;
}

int mongo_event_insert(mongo_ctx_t *c, json_t *p, json_t **r) {
  json_t *events = json_object_get(p, "events");
  size_t n = json_array_size(events);
  if (!json_is_array(events)) return STORE_EINVAL;
  if (n == 0) {
    *r = json_pack("{s:[], s:i}", "inserted", "duplicates", 0);
    return STORE_OK;
  }
  bson_t **docs = calloc(n, sizeof(*docs));
  char(*ids)[25] = calloc(n, 25), *refused = calloc(n, 1);
  int rc = STORE_EUNAVAILABLE;
  if (!docs || !ids || !refused) goto done;
  int64_t now = util_now_ms();
  for (size_t i = 0; i < n; i++)
    docs[i] = event_doc(json_array_get(events, i), now, mongo_ctx_order(c), ids[i]);
  bson_t *opts = BCON_NEW("ordered", BCON_BOOL(false));
  bson_t reply;
  bson_error_t e;
  rc = STORE_OK;
  if (!mongoc_collection_insert_many(mongo_ctx_coll(c, MC_EVENTS), (const bson_t **)docs, n, opts,
                                     &reply, &e) &&
      mark_refused(&reply, refused, n) < 0)
    rc = mongo_ctx_error(c, &e);
  bson_destroy(&reply);
  bson_destroy(opts);
  if (rc == STORE_OK) {
    json_t *inserted = json_array();
    int dups = 0;
    for (size_t i = 0; i < n; i++) {
      if (refused[i])
        dups++;
      else
        json_array_append_new(inserted, json_string(ids[i]));
    }
    *r = json_pack("{s:o, s:i}", "inserted", inserted, "duplicates", dups);
  }
done:
  for (size_t i = 0; docs && i < n; i++) bson_destroy(docs[i]);
  free(docs);
  free(ids);
  free(refused);
  return rc;
}

int mongo_event_list_pending(mongo_ctx_t *c, json_t *p, json_t **r) {
  int64_t limit = 100;
  mongo_param_int(p, "limit", &limit);
  if (limit < 1) return STORE_EINVAL;
  bson_t *filter = BCON_NEW("processed", BCON_BOOL(false));
  bson_t *opts = BCON_NEW("sort", "{", "ord", BCON_INT32(1), "}", "limit", BCON_INT64(limit));
  return mongo_query_list(
      c, MC_EVENTS, filter, opts,
      json_is_true(json_object_get(p, "payload_text")) ? event_json_text : event_json, "events", r);
}

int mongo_event_mark_processed(mongo_ctx_t *c, json_t *p, json_t **r) {
  const char *id = mongo_param_str(p, "id");
  if (!id) return STORE_EINVAL;
  bson_t *filter = BCON_NEW("_id", BCON_UTF8(id));
  bson_t *update = BCON_NEW("$set", "{", "processed", BCON_BOOL(true), "}");
  int rc = mongo_query_update(c, MC_EVENTS, filter, update, 0);
  bson_destroy(filter);
  bson_destroy(update);
  if (rc <= 0) return rc == 0 ? STORE_ENOTFOUND : rc;
  *r = json_object();
  return STORE_OK;
}
