/* Instagram media in "attachments" (ATTACH_MEDIA_*): the records of an
 * incoming message's attachments, fetched from Meta's URLs into files storage
 * in the background (instagram/media.c), and their message's copies in
 * "messages". Worker thread. */
#include <stdio.h>
#include <string.h>

#include "parley/util.h"
#include "store/mongo/mongo_internal.h"

int mongo_attach_media_add(mongo_ctx_t *c, json_t *p, json_t **r) {
  const char *msg = mongo_param_str(p, "message_id"), *user = mongo_param_str(p, "user_id");
  json_t *items = json_object_get(p, "items"), *it;
  if (!msg || !user || !json_is_array(items)) return STORE_EINVAL;
  size_t i;
  int added = 0;
  json_array_foreach(items, i, it) {
    const char *id = mongo_param_str(it, "id"), *type = mongo_param_str(it, "type");
    const char *name = mongo_param_str(it, "name"), *url = mongo_param_str(it, "source_url");
    if (!id || !type || !name || !url) return STORE_EINVAL;
    /* Inserted only when absent: a retried event leaves the record as it is. */
    bson_t *q = BCON_NEW("_id", BCON_UTF8(id));
    bson_t *u = BCON_NEW("$setOnInsert", "{", "user_id", BCON_UTF8(user), "type", BCON_UTF8(type),
                         "content_type", BCON_UTF8(""), "size", BCON_INT64(0), "name",
                         BCON_UTF8(name), "created_at", BCON_DATE_TIME(util_now_ms()), "sent",
                         BCON_BOOL(true), "refs", BCON_INT64(1), "source_url", BCON_UTF8(url),
                         "message_id", BCON_UTF8(msg), "fetch_state", BCON_UTF8("pending"),
                         "fetch_attempts", BCON_INT64(0), "fetch_after_ms", BCON_INT64(0), "}");
    bson_t before;
    int rc = mongo_query_modify(c, MC_ATTACH, q, u, 1, 0, &before);
    bson_destroy(q);
    bson_destroy(u);
    if (rc < 0) return rc;
    if (rc == 0)
      added++; /* upserted: nothing was there before */
    else
      bson_destroy(&before);
  }
  *r = json_pack("{s:i}", "added", added);
  return STORE_OK;
}

static json_t *claimed_json(const bson_t *doc) {
  return json_pack("{s:o, s:o, s:o, s:o, s:I}", "id", mongo_bson_json(doc, "_id"), "type",
                   mongo_bson_json(doc, "type"), "source_url", mongo_bson_json(doc, "source_url"),
                   "message_id", mongo_bson_json(doc, "message_id"), "attempts",
                   (json_int_t)mongo_bson_int(doc, "fetch_attempts", 0));
}

int mongo_attach_media_claim(mongo_ctx_t *c, json_t *p, json_t **r) {
  int64_t now, lease, limit;
  if (mongo_param_int(p, "now_ms", &now) < 0 || now < 0 ||
      mongo_param_int(p, "lease_ms", &lease) < 0 || lease < 1 ||
      mongo_param_int(p, "limit", &limit) < 0 || limit < 1 || limit > 100)
    return STORE_EINVAL;
  json_t *media = json_array();
  int rc = 0;
  /* One findAndModify per record: each is claimed by one instance. */
  for (int64_t n = 0; n < limit; n++) {
    bson_t *q = BCON_NEW("fetch_state", BCON_UTF8("pending"), "fetch_after_ms", "{", "$lte",
                         BCON_INT64(now), "}");
    bson_t *u = BCON_NEW("$set", "{", "fetch_after_ms", BCON_INT64(now + lease), "}");
    bson_t doc;
    rc = mongo_query_modify(c, MC_ATTACH, q, u, 0, 1, &doc);
    bson_destroy(q);
    bson_destroy(u);
    if (rc <= 0) break;
    json_array_append_new(media, claimed_json(&doc));
    bson_destroy(&doc);
  }
  if (rc < 0) {
    json_decref(media);
    return rc;
  }
  bson_t *q = BCON_NEW("fetch_state", BCON_UTF8("pending"), "fetch_after_ms", "{", "$gt",
                       BCON_INT64(now), "}");
  bson_t *opts = BCON_NEW("sort", "{", "fetch_after_ms", BCON_INT32(1), "}", "projection", "{",
                          "fetch_after_ms", BCON_INT32(1), "}");
  bson_t doc;
  rc = mongo_query_one(c, MC_ATTACH, q, opts, &doc);
  bson_destroy(q);
  bson_destroy(opts);
  if (rc < 0) {
    json_decref(media);
    return rc;
  }
  json_t *next = json_null();
  if (rc == 1) {
    json_decref(next);
    next = json_integer(mongo_bson_int(&doc, "fetch_after_ms", now));
    bson_destroy(&doc);
  }
  *r = json_pack("{s:o, s:o}", "media", media, "next_ms", next);
  return STORE_OK;
}

/* The message's copy of attachment id: failed (fetch "failed"), or the
 * stored file's fields from p. */
static void update_copy(json_t *list, const char *id, json_t *p, int failed) {
  size_t i;
  json_t *a;
  json_array_foreach(list, i, a) {
    const char *aid = json_string_value(json_object_get(a, "id"));
    if (!aid || strcmp(aid, id) != 0) continue;
    if (failed) {
      json_object_set_new(a, "fetch", json_string("failed"));
      continue;
    }
    json_object_del(a, "fetch");
    json_object_set(a, "content_type", json_object_get(p, "content_type"));
    json_object_set(a, "size", json_object_get(p, "size"));
    if (json_integer_value(json_object_get(p, "width")) > 0 &&
        json_integer_value(json_object_get(p, "height")) > 0) {
      json_object_set(a, "width", json_object_get(p, "width"));
      json_object_set(a, "height", json_object_get(p, "height"));
    }
    if (mongo_param_str(p, "thumbnail_key"))
      json_object_set(a, "thumbnail_key", json_object_get(p, "thumbnail_key"));
  }
}

static int update_message(mongo_ctx_t *c, const char *mid, const char *id, json_t *p, int failed,
                          json_t **r);

/* A failed fetch: due again at retry ({}), or failed for good (null: the
 * message, its copy marked failed). */
static int media_failed(mongo_ctx_t *c, const char *id, json_t *retry, json_t **r) {
  bson_t *q = BCON_NEW("_id", BCON_UTF8(id), "fetch_state", BCON_UTF8("pending"));
  if (json_is_integer(retry)) {
    bson_t *u =
        BCON_NEW("$set", "{", "fetch_after_ms", BCON_INT64((int64_t)json_integer_value(retry)), "}",
                 "$inc", "{", "fetch_attempts", BCON_INT64(1), "}");
    int rc = mongo_query_update(c, MC_ATTACH, q, u, 0);
    bson_destroy(q);
    bson_destroy(u);
    if (rc < 0) return rc;
    if (rc == 0) return STORE_ENOTFOUND;
    *r = json_object();
    return STORE_OK;
  }
  bson_t *u = BCON_NEW("$set", "{", "fetch_state", BCON_UTF8("failed"), "}", "$unset", "{",
                       "fetch_after_ms", BCON_UTF8(""), "}", "$inc", "{", "fetch_attempts",
                       BCON_INT64(1), "}");
  bson_t doc;
  int rc = mongo_query_modify(c, MC_ATTACH, q, u, 0, 1, &doc);
  bson_destroy(q);
  bson_destroy(u);
  if (rc <= 0) return rc == 0 ? STORE_ENOTFOUND : rc;
  char mid[25] = "";
  const char *m = mongo_bson_str(&doc, "message_id");
  if (m) snprintf(mid, sizeof(mid), "%s", m);
  bson_destroy(&doc);
  return update_message(c, mid, id, NULL, 1, r);
}

/* The stored file's fields on the message (mid) that shows it, and the
 * message with its participants in *r. */
static int update_message(mongo_ctx_t *c, const char *mid, const char *id, json_t *p, int failed,
                          json_t **r) {
  bson_t *q = BCON_NEW("_id", BCON_UTF8(mid));
  bson_t msg, conv;
  int rc = mongo_query_one(c, MC_MSGS, q, NULL, &msg);
  if (rc <= 0) {
    bson_destroy(q);
    return rc == 0 ? STORE_ENOTFOUND : rc;
  }
  json_t *list = mongo_bson_json(&msg, "attachments");
  int deleted = mongo_bson_bool(&msg, "deleted");
  const char *cid = mongo_bson_str(&msg, "conversation_id");
  rc = deleted || !cid || !json_is_array(list) ? STORE_ENOTFOUND
                                               : mongo_conv_load(c, cid, NULL, &conv);
  bson_destroy(&msg);
  if (rc != STORE_OK) {
    json_decref(list);
    bson_destroy(q);
    return rc;
  }
  update_copy(list, id, p, failed);
  bson_t u, set;
  bson_init(&u);
  bson_append_document_begin(&u, "$set", -1, &set);
  mongo_bson_append_json(&set, "attachments", list);
  bson_append_document_end(&u, &set);
  json_decref(list);
  rc = mongo_query_modify(c, MC_MSGS, q, &u, 0, 1, &msg);
  bson_destroy(&u);
  bson_destroy(q);
  if (rc == 1) {
    *r = json_pack("{s:o, s:o}", "message", mongo_msg_json(c, &msg), "participant_ids",
                   mongo_conv_recipients(c, &conv));
    bson_destroy(&msg);
  }
  bson_destroy(&conv);
  return rc == 1 ? STORE_OK : rc == 0 ? STORE_ENOTFOUND : rc;
}

int mongo_attach_media_done(mongo_ctx_t *c, json_t *p, json_t **r) {
  const char *id = mongo_param_str(p, "id");
  if (!id) return STORE_EINVAL;
  if (json_object_get(p, "retry_at_ms"))
    return media_failed(c, id, json_object_get(p, "retry_at_ms"), r);
  const char *ctype = mongo_param_str(p, "content_type"),
             *tkey = mongo_param_str(p, "thumbnail_key");
  const char *tctype = mongo_param_str(p, "thumbnail_content_type");
  int64_t size, w = 0, h = 0, tsize = 0;
  if (!ctype || mongo_param_int(p, "size", &size) < 0 || size < 0) return STORE_EINVAL;
  if ((json_object_get(p, "width") && mongo_param_int(p, "width", &w) < 0) ||
      (json_object_get(p, "height") && mongo_param_int(p, "height", &h) < 0) || w < 0 || h < 0 ||
      (tkey && (!tctype || mongo_param_int(p, "thumbnail_size", &tsize) < 0 || tsize < 0)))
    return STORE_EINVAL;
  bson_t *q = BCON_NEW("_id", BCON_UTF8(id), "fetch_state", BCON_UTF8("pending"));
  bson_t set, unset;
  bson_t *u = bson_new();
  bson_append_document_begin(u, "$set", -1, &set);
  BSON_APPEND_UTF8(&set, "fetch_state", "stored");
  BSON_APPEND_UTF8(&set, "content_type", ctype);
  BSON_APPEND_INT64(&set, "size", size);
  if (w > 0 && h > 0) {
    BSON_APPEND_INT64(&set, "width", w);
    BSON_APPEND_INT64(&set, "height", h);
  }
  if (tkey) {
    BSON_APPEND_UTF8(&set, "thumbnail_key", tkey);
    BSON_APPEND_INT64(&set, "thumbnail_size", tsize);
    BSON_APPEND_UTF8(&set, "thumbnail_content_type", tctype);
  }
  bson_append_document_end(u, &set);
  bson_append_document_begin(u, "$unset", -1, &unset);
  BSON_APPEND_UTF8(&unset, "fetch_after_ms", "");
  bson_append_document_end(u, &unset);
  bson_t doc;
  int rc = mongo_query_modify(c, MC_ATTACH, q, u, 0, 1, &doc);
  bson_destroy(q);
  bson_destroy(u);
  if (rc <= 0) return rc == 0 ? STORE_ENOTFOUND : rc;
  char mid[25] = "";
  const char *m = mongo_bson_str(&doc, "message_id");
  if (m) snprintf(mid, sizeof(mid), "%s", m);
  bson_destroy(&doc);
  return update_message(c, mid, id, p, 0, r);
}
