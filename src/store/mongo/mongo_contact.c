/* Instagram contacts in "contacts", unique per (owner_id, ig_user_id): upsert
 * on each inbound message, tags as a set, variables as a subdocument. Worker
 * thread. Variable names become field paths, so names with '.' or a leading
 * '$' are refused (EINVAL) rather than misread as paths or operators. */
#include <string.h>

#include "parley/util.h"
#include "store/mongo/mongo_internal.h"

static json_t *contact_json(mongo_ctx_t *c, const bson_t *doc) {
  json_t *ct = json_object(), *tags = mongo_bson_json(doc, "tags"),
         *vars = mongo_bson_json(doc, "variables");
  json_object_set_new(ct, "id", mongo_bson_json(doc, "_id"));
  json_object_set_new(ct, "owner_id", mongo_bson_json(doc, "owner_id"));
  json_object_set_new(ct, "ig_user_id", mongo_bson_json(doc, "ig_user_id"));
  json_object_set_new(ct, "username", mongo_bson_json(doc, "username"));
  json_object_set_new(ct, "tags", json_is_array(tags) ? json_incref(tags) : json_array());
  json_object_set_new(ct, "variables", json_is_object(vars) ? json_incref(vars) : json_object());
  json_object_set_new(ct, "last_inbound_at", mongo_bson_iso(doc, "last_inbound_at"));
  int64_t until = mongo_bson_int(doc, "automation_paused_until_ms", 0);
  char iso[32];
  util_iso8601(until, iso);
  json_object_set_new(ct, "automation_paused_until",
                      until > util_now_ms() ? json_string(iso) : json_null());
  json_decref(tags);
  json_decref(vars);
  return ct;
}

static int answer(mongo_ctx_t *c, int rc, bson_t *doc, json_t **r) {
  if (rc <= 0) return rc == 0 ? STORE_ENOTFOUND : rc;
  *r = contact_json(c, doc);
  bson_destroy(doc);
  return STORE_OK;
}

static bson_t *upsert_update(json_t *p, const char *id) {
  json_t *username = json_object_get(p, "username");
  int64_t inbound = mongo_bson_time_param(json_object_get(p, "last_inbound_at"));
  bson_t *u = bson_new(), ins, set;
  bson_append_document_begin(u, "$setOnInsert", -1, &ins);
  BSON_APPEND_UTF8(&ins, "_id", id);
  bson_append_array_begin(&ins, "tags", -1, &set);
  bson_append_array_end(&ins, &set);
  bson_append_document_begin(&ins, "variables", -1, &set);
  bson_append_document_end(&ins, &set);
  if (!json_is_string(username)) BSON_APPEND_NULL(&ins, "username");
  if (inbound < 0) BSON_APPEND_NULL(&ins, "last_inbound_at");
  bson_append_document_end(u, &ins);
  if (json_is_string(username) || inbound >= 0) {
    bson_append_document_begin(u, "$set", -1, &set);
    if (json_is_string(username)) mongo_bson_append_json(&set, "username", username);
    if (inbound >= 0) BSON_APPEND_DATE_TIME(&set, "last_inbound_at", inbound);
    bson_append_document_end(u, &set);
  }
  return u;
}

int mongo_contact_upsert(mongo_ctx_t *c, json_t *p, json_t **r) {
  const char *owner = mongo_param_str(p, "owner_id"), *ig = mongo_param_str(p, "ig_user_id");
  if (!owner || !ig) return STORE_EINVAL;
  char id[25];
  util_new_id(id);
  bson_t *q = BCON_NEW("owner_id", BCON_UTF8(owner), "ig_user_id", BCON_UTF8(ig));
  bson_t *update = upsert_update(p, id);
  bson_t doc;
  int rc = mongo_query_modify(c, MC_CONTACTS, q, update, 1, 1, &doc);
  /* Two upserts of a new contact race on the unique index: the loser retries
   * and finds the winner's document. */
  if (rc == STORE_ECONFLICT) rc = mongo_query_modify(c, MC_CONTACTS, q, update, 1, 1, &doc);
  bson_destroy(q);
  bson_destroy(update);
  return answer(c, rc, &doc, r);
}

int mongo_contact_get(mongo_ctx_t *c, json_t *p, json_t **r) {
  const char *owner = mongo_param_str(p, "owner_id"), *id = mongo_param_str(p, "id");
  const char *ig = mongo_param_str(p, "ig_user_id");
  if (!owner || (!id && !ig)) return STORE_EINVAL;
  bson_t *filter = id ? BCON_NEW("_id", BCON_UTF8(id), "owner_id", BCON_UTF8(owner))
                      : BCON_NEW("owner_id", BCON_UTF8(owner), "ig_user_id", BCON_UTF8(ig));
  bson_t doc;
  int rc = mongo_query_one(c, MC_CONTACTS, filter, NULL, &doc);
  bson_destroy(filter);
  return answer(c, rc, &doc, r);
}

int mongo_contact_list(mongo_ctx_t *c, json_t *p, json_t **r) {
  const char *owner = mongo_param_str(p, "owner_id");
  if (!owner) return STORE_EINVAL;
  bson_t *filter = BCON_NEW("owner_id", BCON_UTF8(owner));
  bson_t *opts = BCON_NEW("sort", "{", "_id", BCON_INT32(1), "}");
  return mongo_query_list(c, MC_CONTACTS, filter, opts, contact_json, "contacts", r);
}

static int field_name_ok(const char *k) { return *k && *k != '$' && !strchr(k, '.'); }

static bson_t *update_doc(json_t *tags, json_t *vars) {
  bson_t *u = bson_new(), op, each;
  json_t *v;
  const char *k;
  if (json_array_size(tags)) {
    /* Distinct first: $each with a repeated value must still add it once. */
    json_t *distinct = json_array();
    size_t i, j;
    json_t *t, *d;
    json_array_foreach(tags, i, t) {
      int seen = 0;
      json_array_foreach(distinct, j, d) seen |= json_equal(t, d);
      if (!seen) json_array_append(distinct, t);
    }
    bson_append_document_begin(u, "$addToSet", -1, &op);
    bson_append_document_begin(&op, "tags", -1, &each);
    mongo_bson_append_json(&each, "$each", distinct);
    json_decref(distinct);
    bson_append_document_end(&op, &each);
    bson_append_document_end(u, &op);
  }
  if (json_object_size(vars)) {
    bson_append_document_begin(u, "$set", -1, &op);
    json_object_foreach(vars, k, v) {
      char *path = malloc(strlen(k) + 11);
      if (!path) continue;
      sprintf(path, "variables.%s", k);
      mongo_bson_append_json(&op, path, v);
      free(path);
    }
    bson_append_document_end(u, &op);
  }
  return u;
}

int mongo_contact_update(mongo_ctx_t *c, json_t *p, json_t **r) {
  const char *owner = mongo_param_str(p, "owner_id"), *id = mongo_param_str(p, "id");
  json_t *tags = json_object_get(p, "add_tags"), *vars = json_object_get(p, "set_variables"), *v;
  const char *k;
  size_t i;
  if (!owner || !id || (tags && !json_is_array(tags)) || (vars && !json_is_object(vars)))
    return STORE_EINVAL;
  json_array_foreach(tags, i, v) if (!json_is_string(v)) return STORE_EINVAL;
  json_object_foreach(vars, k, v) if (!field_name_ok(k)) return STORE_EINVAL;
  bson_t *filter = BCON_NEW("_id", BCON_UTF8(id), "owner_id", BCON_UTF8(owner));
  bson_t doc;
  int rc;
  if (!json_array_size(tags) && !json_object_size(vars)) {
    rc = mongo_query_one(c, MC_CONTACTS, filter, NULL, &doc);
  } else {
    bson_t *update = update_doc(tags, vars);
    rc = mongo_query_modify(c, MC_CONTACTS, filter, update, 0, 1, &doc);
    bson_destroy(update);
  }
  bson_destroy(filter);
  return answer(c, rc, &doc, r);
}

/* The contact a pause is about: the contact of an instagram conversation, or
 * one of the user's own or of an owner the user is an agent of. */
static bson_t *pause_filter(mongo_ctx_t *c, json_t *p, int *rc) {
  const char *conv = mongo_param_str(p, "conversation_id"), *user = mongo_param_str(p, "user_id");
  const char *id = mongo_param_str(p, "id");
  bson_t doc;
  if (conv) {
    bson_t *q = BCON_NEW("_id", BCON_UTF8(conv), "type", BCON_UTF8("instagram"));
    *rc = mongo_query_one(c, MC_CONVS, q, NULL, &doc);
    bson_destroy(q);
    if (*rc <= 0) return NULL;
    const char *contact = mongo_bson_str(&doc, "contact_id");
    bson_t *f = contact ? BCON_NEW("_id", BCON_UTF8(contact)) : NULL;
    bson_destroy(&doc);
    *rc = f ? 1 : 0;
    return f;
  }
  bson_t *q = BCON_NEW("_id", BCON_UTF8(id));
  *rc = mongo_query_one(c, MC_CONTACTS, q, NULL, &doc);
  if (*rc <= 0) {
    bson_destroy(q);
    return NULL;
  }
  const char *owner = mongo_bson_str(&doc, "owner_id");
  if (!owner || strcmp(owner, user) != 0) {
    bson_t *a = BCON_NEW("owner_id", BCON_UTF8(owner ? owner : ""), "user_id", BCON_UTF8(user));
    bson_t found;
    *rc = mongo_query_one(c, MC_AGENTS, a, NULL, &found);
    bson_destroy(a);
    if (*rc == 1) bson_destroy(&found);
  }
  bson_destroy(&doc);
  if (*rc <= 0) {
    bson_destroy(q);
    return NULL;
  }
  return q;
}

int mongo_contact_pause(mongo_ctx_t *c, json_t *p, json_t **r) {
  json_t *until = json_object_get(p, "until_ms");
  if (!until || (!json_is_integer(until) && !json_is_null(until)) ||
      (!mongo_param_str(p, "conversation_id") &&
       (!mongo_param_str(p, "id") || !mongo_param_str(p, "user_id"))))
    return STORE_EINVAL;
  int rc;
  bson_t *filter = pause_filter(c, p, &rc);
  if (!filter) return rc < 0 ? rc : STORE_ENOTFOUND;
  const char *id = NULL;
  bson_iter_t it;
  if (bson_iter_init_find(&it, filter, "_id")) id = bson_iter_utf8(&it, NULL);
  bson_t *update = json_is_integer(until)
                       ? BCON_NEW("$set", "{", "automation_paused_until_ms",
                                  BCON_INT64(json_integer_value(until)), "}")
                       : BCON_NEW("$unset", "{", "automation_paused_until_ms", BCON_UTF8(""), "}");
  bson_t doc;
  rc = mongo_query_modify(c, MC_CONTACTS, filter, update, 0, 1, &doc);
  bson_destroy(update);
  if (rc == 1 && !json_is_integer(until)) {
    /* Resumed: the steps the pause held are due now. */
    bson_t *held = BCON_NEW("held_for", BCON_UTF8(id));
    bson_t *release = BCON_NEW("$set", "{", "due_at_ms", BCON_INT64(util_now_ms()), "}", "$unset",
                               "{", "held_for", BCON_UTF8(""), "}");
    int n = mongo_query_update(c, MC_STEPS, held, release, 1);
    bson_destroy(held);
    bson_destroy(release);
    if (n < 0) {
      bson_destroy(&doc);
      rc = n;
    }
  }
  bson_destroy(filter);
  return answer(c, rc, &doc, r);
}
