/* MongoDB's MSG_SEARCH: one aggregation over "messages" with the text index
 * (mongo_index.c: on text, language "none", so no stemming or stop words, and
 * version 3's case and diacritic folding). $text matches any of the terms; the
 * newest `window` matches are kept (by created_at, then seq within a
 * conversation), ranked by textScore (ties newest first) and
 * paged. maxTimeMS bounds the server's work. Worker thread. */
#include <string.h>

#include "parley/buf.h"
#include "store/mongo/mongo_internal.h"

#define SEARCH_WINDOW_MAX 1000
#define SEARCH_MAX_TIME_MS 2000

typedef struct {
  json_t *excluded;
  const char *only;
  json_t *ids;
  int found;
} convs_t;

static void add_conv(void *arg, const bson_t *doc) {
  convs_t *cv = arg;
  const char *id = mongo_bson_str(doc, "_id"), *type = mongo_bson_str(doc, "type");
  size_t i;
  json_t *v;
  if (!id) return;
  json_array_foreach(cv->excluded, i, v) if (type && json_is_string(v) &&
                                             strcmp(type, json_string_value(v)) == 0) return;
  if (cv->only && strcmp(cv->only, id) != 0) return;
  cv->found = 1;
  json_array_append_new(cv->ids, json_string(id));
}

/* The conversations to search: the one asked for (ENOTFOUND unless the user is
 * in it) or every one the user is in, less the excluded types. */
static int searchable(mongo_ctx_t *c, json_t *p, json_t **out) {
  convs_t cv = {json_object_get(p, "exclude_types"), mongo_param_str(p, "conversation_id"),
                json_array(), 0};
  json_t *channels = mongo_channel_ids(c, mongo_param_str(p, "user_id"));
  if (!channels) {
    json_decref(cv.ids);
    return STORE_EUNAVAILABLE;
  }
  /* The user's conversations: participants', and the channels they are in. */
  bson_t *filter = bson_new(), any, one, in, arr;
  bson_append_array_begin(filter, "$or", -1, &any);
  bson_append_document_begin(&any, "0", -1, &one);
  BSON_APPEND_UTF8(&one, "participants.id", mongo_param_str(p, "user_id"));
  bson_append_document_end(&any, &one);
  bson_append_document_begin(&any, "1", -1, &one);
  bson_append_document_begin(&one, "_id", -1, &in);
  bson_append_array_begin(&in, "$in", -1, &arr);
  size_t i;
  json_t *v;
  json_array_foreach(channels, i, v) {
    char k[24];
    snprintf(k, sizeof(k), "%zu", i);
    mongo_bson_append_json(&arr, k, v);
  }
  bson_append_array_end(&in, &arr);
  bson_append_document_end(&one, &in);
  bson_append_document_end(&any, &one);
  bson_append_array_end(filter, &any);
  json_decref(channels);
  if (cv.only) BSON_APPEND_UTF8(filter, "_id", cv.only);
  bson_t *opts = BCON_NEW("projection", "{", "_id", BCON_INT32(1), "type", BCON_INT32(1), "}");
  int rc = mongo_query_each(c, MC_CONVS, filter, opts, add_conv, &cv);
  bson_destroy(filter);
  bson_destroy(opts);
  if (rc < 0 || (cv.only && !cv.found)) {
    json_decref(cv.ids);
    return rc < 0 ? rc : STORE_ENOTFOUND;
  }
  *out = cv.ids;
  return STORE_OK;
}

/* $search: the terms separated by spaces, which $text ORs. The terms are
 * folded words without punctuation, so none reads as a phrase or negation. */
static void search_string(json_t *terms, buf_t *b) {
  size_t i;
  json_t *t;
  json_array_foreach(terms, i, t) {
    if (i) buf_append_str(b, " ");
    buf_append_str(b, json_string_value(t));
  }
  buf_append(b, "", 1);
}

static void append_match(bson_t *pipeline, json_t *p, json_t *convs, const char *search) {
  bson_t stage, match, text, in, range;
  BSON_APPEND_DOCUMENT_BEGIN(pipeline, "0", &stage);
  BSON_APPEND_DOCUMENT_BEGIN(&stage, "$match", &match);
  BSON_APPEND_DOCUMENT_BEGIN(&match, "$text", &text);
  BSON_APPEND_UTF8(&text, "$search", search);
  bson_append_document_end(&match, &text);
  BSON_APPEND_DOCUMENT_BEGIN(&match, "conversation_id", &in);
  mongo_bson_append_json(&in, "$in", convs);
  bson_append_document_end(&match, &in);
  BSON_APPEND_BOOL(&match, "deleted", false);
  const char *sender = mongo_param_str(p, "sender_id");
  if (sender) BSON_APPEND_UTF8(&match, "sender_id", sender);
  int64_t before = mongo_bson_time_param(json_object_get(p, "before")),
          after = mongo_bson_time_param(json_object_get(p, "after"));
  if (before >= 0 || after >= 0) {
    BSON_APPEND_DOCUMENT_BEGIN(&match, "created_at", &range);
    if (before >= 0) BSON_APPEND_DATE_TIME(&range, "$lt", before);
    if (after >= 0) BSON_APPEND_DATE_TIME(&range, "$gt", after);
    bson_append_document_end(&match, &range);
  }
  bson_append_document_end(&stage, &match);
  bson_append_document_end(pipeline, &stage);
}

/* [$match, score, newest window, rank, skip, limit + 1]. */
static bson_t *pipeline_for(json_t *p, json_t *convs, const char *search, int64_t window,
                            int64_t offset, int64_t limit) {
  bson_t *pl = bson_new();
  append_match(pl, p, convs, search);
  bson_t *rest =
      BCON_NEW("1", "{", "$addFields", "{", "score", "{", "$meta", BCON_UTF8("textScore"), "}", "}",
               "}", "2", "{", "$sort", "{", "created_at", BCON_INT32(-1), "seq", BCON_INT32(-1),
               "_id", BCON_INT32(-1), "}", "}", "3", "{", "$limit", BCON_INT64(window), "}", "4",
               "{", "$sort", "{", "score", BCON_INT32(-1), "created_at", BCON_INT32(-1), "seq",
               BCON_INT32(-1), "_id", BCON_INT32(-1), "}", "}", "5", "{", "$skip",
               BCON_INT64(offset), "}", "6", "{", "$limit", BCON_INT64(limit + 1), "}");
  bson_concat(pl, rest);
  bson_destroy(rest);
  return pl;
}

static int run(mongo_ctx_t *c, bson_t *pl, int64_t limit, json_t *results) {
  bson_t *opts = BCON_NEW("maxTimeMS", BCON_INT32(SEARCH_MAX_TIME_MS));
  mongoc_cursor_t *cur =
      mongoc_collection_aggregate(mongo_ctx_coll(c, MC_MSGS), MONGOC_QUERY_NONE, pl, opts, NULL);
  const bson_t *doc;
  int n = 0;
  while (mongoc_cursor_next(cur, &doc)) {
    if (n++ >= limit) continue;
    bson_iter_t it;
    double score = bson_iter_init_find(&it, doc, "score") ? bson_iter_as_double(&it) : 0;
    json_array_append_new(
        results, json_pack("{s:o, s:f}", "message", mongo_msg_json(c, doc), "score", score));
  }
  bson_error_t e;
  if (mongoc_cursor_error(cur, &e)) n = mongo_ctx_error(c, &e);
  mongoc_cursor_destroy(cur);
  bson_destroy(opts);
  return n;
}

int mongo_msg_search(mongo_ctx_t *c, json_t *p, json_t **r) {
  json_t *terms = json_object_get(p, "terms");
  int64_t offset = 0, limit = 20, window = SEARCH_WINDOW_MAX;
  mongo_param_int(p, "offset", &offset);
  mongo_param_int(p, "limit", &limit);
  mongo_param_int(p, "window", &window);
  if (!mongo_param_str(p, "user_id") || !json_is_array(terms) || json_array_size(terms) == 0 ||
      offset < 0 || limit <= 0 || window <= 0 || window > SEARCH_WINDOW_MAX)
    return STORE_EINVAL;
  json_t *convs = NULL;
  int rc = searchable(c, p, &convs);
  if (rc != STORE_OK) return rc;
  json_t *results = json_array();
  int n = 0;
  if (json_array_size(convs) > 0 && offset < window) {
    buf_t search;
    buf_init(&search);
    search_string(terms, &search);
    bson_t *pl = pipeline_for(p, convs, search.data, window, offset, limit);
    n = run(c, pl, limit, results);
    bson_destroy(pl);
    buf_free(&search);
  }
  json_decref(convs);
  if (n < 0) {
    json_decref(results);
    return n;
  }
  *r = json_pack("{s:o, s:b}", "results", results, "has_more", n > limit);
  return STORE_OK;
}
