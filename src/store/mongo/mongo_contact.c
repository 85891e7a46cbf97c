/* Instagram contacts in "contacts", unique per (owner_id, ig_user_id): upsert
 * on each inbound message, the profile Graph answers, tags as a set, variables
 * as a subdocument, the contact's read position. Worker thread. Variable names become field paths,
 * so names with '.' or a leading
 * '$' are refused (EINVAL) rather than misread as paths or operators. */
#include <stdlib.h>
#include <string.h>

#include "parley/util.h"
#include "store/mongo/mongo_internal.h"

json_t *mongo_contact_json(mongo_ctx_t *c, const bson_t *doc) {
  json_t *ct = json_object(), *tags = mongo_bson_json(doc, "tags"),
         *vars = mongo_bson_json(doc, "variables");
  json_object_set_new(ct, "id", mongo_bson_json(doc, "_id"));
  json_object_set_new(ct, "owner_id", mongo_bson_json(doc, "owner_id"));
  json_object_set_new(ct, "ig_user_id", mongo_bson_json(doc, "ig_user_id"));
  json_object_set_new(ct, "username", mongo_bson_json(doc, "username"));
  json_object_set_new(ct, "tags", json_is_array(tags) ? json_incref(tags) : json_array());
  json_object_set_new(ct, "variables", json_is_object(vars) ? json_incref(vars) : json_object());
  json_object_set_new(ct, "last_inbound_at", mongo_bson_iso(doc, "last_inbound_at"));
  json_object_set_new(ct, "name", mongo_bson_json(doc, "name"));
  json_object_set_new(ct, "profile_pic", mongo_bson_json(doc, "profile_pic"));
  json_object_set_new(ct, "profile_fetched_at", mongo_bson_iso(doc, "profile_fetched_at"));
  json_object_set_new(ct, "last_read_seq", json_integer(mongo_bson_int(doc, "last_read_seq", 0)));
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
  *r = mongo_contact_json(c, doc);
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

/* The owner of contact id when user may act on it: its owner, or an agent of
 * its owner (the team inbox). 1 with owner set, 0 when not found or not allowed,
 * or a store error. */
static int owner_for(mongo_ctx_t *c, const char *id, const char *user, char owner[32]) {
  bson_t *q = BCON_NEW("_id", BCON_UTF8(id));
  bson_t doc;
  int rc = mongo_query_one(c, MC_CONTACTS, q, NULL, &doc);
  bson_destroy(q);
  if (rc <= 0) return rc;
  const char *o = mongo_bson_str(&doc, "owner_id");
  snprintf(owner, 32, "%s", o ? o : "");
  bson_destroy(&doc);
  if (!o || strcmp(owner, user) == 0) return o ? 1 : 0;
  bson_t *a = BCON_NEW("owner_id", BCON_UTF8(owner), "user_id", BCON_UTF8(user));
  bson_t found;
  rc = mongo_query_one(c, MC_AGENTS, a, NULL, &found);
  bson_destroy(a);
  if (rc == 1) bson_destroy(&found);
  return rc;
}

/* By id or ig_user_id under owner_id, or by id for user_id (the owner or one
 * of its agents). */
int mongo_contact_get(mongo_ctx_t *c, json_t *p, json_t **r) {
  const char *owner = mongo_param_str(p, "owner_id"), *id = mongo_param_str(p, "id");
  const char *ig = mongo_param_str(p, "ig_user_id"), *user = mongo_param_str(p, "user_id");
  char found[32];
  if (!owner && user && id) {
    int rc = owner_for(c, id, user, found);
    if (rc <= 0) return rc < 0 ? rc : STORE_ENOTFOUND;
    owner = found;
  }
  if (!owner || (!id && !ig)) return STORE_EINVAL;
  bson_t *filter = id ? BCON_NEW("_id", BCON_UTF8(id), "owner_id", BCON_UTF8(owner))
                      : BCON_NEW("owner_id", BCON_UTF8(owner), "ig_user_id", BCON_UTF8(ig));
  bson_t doc;
  int rc = mongo_query_one(c, MC_CONTACTS, filter, NULL, &doc);
  bson_destroy(filter);
  return answer(c, rc, &doc, r);
}

/* Pages in _id order (ids grow with time); the cursor is the last id given.
 * tag: contacts carrying it; q: a case-insensitive substring of the username
 * or the name (regex metacharacters escaped). */
static char *regex_escape(const char *q) {
  char *out = malloc(strlen(q) * 2 + 1), *o = out;
  if (!out) return NULL;
  for (; *q; q++) {
    if (strchr("\\^$.|?*+()[]{}", *q)) *o++ = '\\';
    *o++ = *q;
  }
  *o = '\0';
  return out;
}

int mongo_contact_list(mongo_ctx_t *c, json_t *p, json_t **r) {
  const char *owner = mongo_param_str(p, "owner_id"), *cursor = mongo_param_str(p, "cursor");
  const char *tag = mongo_param_str(p, "tag"), *q = mongo_param_str(p, "q");
  json_int_t limit = json_is_integer(json_object_get(p, "limit"))
                         ? json_integer_value(json_object_get(p, "limit"))
                         : 1000;
  if (!owner || limit < 1) return STORE_EINVAL;
  bson_t *filter = BCON_NEW("owner_id", BCON_UTF8(owner));
  if (cursor) BCON_APPEND(filter, "_id", "{", "$gt", BCON_UTF8(cursor), "}");
  if (tag) BCON_APPEND(filter, "tags", BCON_UTF8(tag));
  char *re = q ? regex_escape(q) : NULL;
  if (q && !re) {
    bson_destroy(filter);
    return STORE_EUNAVAILABLE;
  }
  if (re)
    BCON_APPEND(filter, "$or", "[", "{", "username", "{", "$regex", BCON_UTF8(re), "$options",
                BCON_UTF8("i"), "}", "}", "{", "name", "{", "$regex", BCON_UTF8(re), "$options",
                BCON_UTF8("i"), "}", "}", "]");
  free(re);
  bson_t *opts = BCON_NEW("sort", "{", "_id", BCON_INT32(1), "}", "limit", BCON_INT64(limit + 1));
  int rc = mongo_query_list(c, MC_CONTACTS, filter, opts, mongo_contact_json, "contacts", r);
  if (rc != STORE_OK) return rc;
  json_t *list = json_object_get(*r, "contacts"), *next = json_null();
  if ((json_int_t)json_array_size(list) > limit) {
    json_array_remove(list, (size_t)limit);
    next = json_incref(json_object_get(json_array_get(list, (size_t)limit - 1), "id"));
  }
  json_object_set_new(*r, "next_cursor", next);
  return STORE_OK;
}

static int field_name_ok(const char *k) { return *k && *k != '$' && !strchr(k, '.'); }

/* Distinct strings of tags, in order: $each with a repeated value must still
 * add it once, and a replaced list holds each tag once. */
static json_t *distinct_of(json_t *tags) {
  json_t *distinct = json_array(), *t, *d;
  size_t i, j;
  json_array_foreach(tags, i, t) {
    int seen = 0;
    json_array_foreach(distinct, j, d) seen |= json_equal(t, d);
    if (!seen) json_array_append(distinct, t);
  }
  return distinct;
}

/* add_tags adds to the set, tags replaces it; variables merge, a null value
 * deletes the variable ($unset). */
static bson_t *update_doc(json_t *add, json_t *replace, json_t *vars) {
  bson_t *u = bson_new(), op, each;
  json_t *v;
  const char *k;
  int sets = replace != NULL, unsets = 0;
  json_object_foreach(vars, k, v) {
    if (json_is_null(v))
      unsets++;
    else
      sets++;
  }
  if (!replace && json_array_size(add)) {
    json_t *distinct = distinct_of(add);
    bson_append_document_begin(u, "$addToSet", -1, &op);
    bson_append_document_begin(&op, "tags", -1, &each);
    mongo_bson_append_json(&each, "$each", distinct);
    json_decref(distinct);
    bson_append_document_end(&op, &each);
    bson_append_document_end(u, &op);
  }
  for (int pass = 0; pass < 2; pass++) {
    if (pass == 0 ? !sets : !unsets) continue;
    bson_append_document_begin(u, pass == 0 ? "$set" : "$unset", -1, &op);
    if (pass == 0 && replace) {
      json_t *distinct = distinct_of(replace);
      if (add) json_array_extend(distinct, add);
      json_t *all = distinct_of(distinct);
      mongo_bson_append_json(&op, "tags", all);
      json_decref(all);
      json_decref(distinct);
    }
    json_object_foreach(vars, k, v) {
      if (json_is_null(v) != (pass == 1)) continue;
      char *path = malloc(strlen(k) + 11);
      if (!path) continue;
      sprintf(path, "variables.%s", k);
      if (pass == 0)
        mongo_bson_append_json(&op, path, v);
      else
        BSON_APPEND_UTF8(&op, path, "");
      free(path);
    }
    bson_append_document_end(u, &op);
  }
  return u;
}

/* 1 when the contact in doc, changed as asked, keeps at most CONTACT_TAGS_MAX
 * tags and CONTACT_VARS_MAX variables. */
static int within_bounds(const bson_t *doc, json_t *add, json_t *replace, json_t *set) {
  json_t *have = mongo_bson_json(doc, "tags"), *vars = mongo_bson_json(doc, "variables"), *v;
  json_t *tags = distinct_of(replace ? replace : json_is_array(have) ? have : NULL);
  if (add) json_array_extend(tags, add);
  json_t *all = distinct_of(tags);
  json_t *merged = json_is_object(vars) ? json_copy(vars) : json_object();
  const char *k;
  json_object_foreach(set, k, v) {
    if (json_is_null(v))
      json_object_del(merged, k);
    else
      json_object_set(merged, k, v);
  }
  int ok = json_array_size(all) <= CONTACT_TAGS_MAX && json_object_size(merged) <= CONTACT_VARS_MAX;
  json_decref(have);
  json_decref(vars);
  json_decref(tags);
  json_decref(all);
  json_decref(merged);
  return ok;
}

int mongo_contact_update(mongo_ctx_t *c, json_t *p, json_t **r) {
  const char *owner = mongo_param_str(p, "owner_id"), *id = mongo_param_str(p, "id");
  const char *user = mongo_param_str(p, "user_id");
  json_t *tags = json_object_get(p, "add_tags"), *vars = json_object_get(p, "set_variables"), *v;
  json_t *replace = json_object_get(p, "tags");
  const char *k;
  size_t i;
  char found[32];
  if (!owner && user && id) {
    int rc = owner_for(c, id, user, found);
    if (rc <= 0) return rc < 0 ? rc : STORE_ENOTFOUND;
    owner = found;
  }
  if (!owner || !id || (tags && !json_is_array(tags)) || (vars && !json_is_object(vars)) ||
      (replace && !json_is_array(replace)))
    return STORE_EINVAL;
  json_array_foreach(tags, i, v) if (!json_is_string(v)) return STORE_EINVAL;
  json_array_foreach(replace, i, v) if (!json_is_string(v)) return STORE_EINVAL;
  json_object_foreach(vars, k, v) if (!field_name_ok(k)) return STORE_EINVAL;
  bson_t *filter = BCON_NEW("_id", BCON_UTF8(id), "owner_id", BCON_UTF8(owner));
  bson_t doc;
  int rc = mongo_query_one(c, MC_CONTACTS, filter, NULL, &doc);
  if (rc == 1 && !within_bounds(&doc, tags, replace, vars)) {
    bson_destroy(&doc);
    rc = STORE_EINVAL; /* bounded: the change is refused whole */
  } else if (rc == 1 && (replace || json_array_size(tags) || json_object_size(vars))) {
    bson_destroy(&doc);
    bson_t *update = update_doc(tags, replace, vars);
    rc = mongo_query_modify(c, MC_CONTACTS, filter, update, 0, 1, &doc);
    bson_destroy(update);
  }
  bson_destroy(filter);
  return answer(c, rc, &doc, r);
}

static json_t *id_of(mongo_ctx_t *c, const bson_t *doc) { return mongo_bson_json(doc, "_id"); }

/* The contact's instagram conversations, renamed to title when it is given,
 * rendered into convs. */
static int rename_conversations(mongo_ctx_t *c, const char *contact_id, const char *title,
                                json_t *convs) {
  bson_t *filter = BCON_NEW("contact_id", BCON_UTF8(contact_id), "type", BCON_UTF8("instagram"));
  int rc = 0;
  if (title && *title) {
    bson_t *update = BCON_NEW("$set", "{", "name", BCON_UTF8(title), "}");
    rc = mongo_query_update(c, MC_CONVS, filter, update, 1);
    bson_destroy(update);
  }
  json_t *ids = json_array(), *id;
  if (rc >= 0) rc = mongo_query_map(c, MC_CONVS, filter, NULL, id_of, ids);
  bson_destroy(filter);
  size_t i;
  json_array_foreach(ids, i, id) {
    bson_t doc;
    json_t *conv = NULL;
    if (rc < 0 || !json_is_string(id)) break;
    rc = mongo_conv_load(c, json_string_value(id), NULL, &doc);
    if (rc != STORE_OK) break;
    rc = mongo_conv_render(c, &doc, &conv);
    bson_destroy(&doc);
    if (rc == 0 && conv) json_array_append_new(convs, conv);
  }
  json_decref(ids);
  return rc < 0 ? rc : STORE_OK;
}

int mongo_contact_profile(mongo_ctx_t *c, json_t *p, json_t **r) {
  const char *owner = mongo_param_str(p, "owner_id"), *id = mongo_param_str(p, "id");
  const char *name = mongo_param_str(p, "name"), *username = mongo_param_str(p, "username");
  const char *pic = mongo_param_str(p, "profile_pic");
  if (!owner || !id) return STORE_EINVAL;
  bson_t *filter = BCON_NEW("_id", BCON_UTF8(id), "owner_id", BCON_UTF8(owner));
  bson_t *update = bson_new(), set;
  bson_append_document_begin(update, "$set", -1, &set);
  if (name)
    BSON_APPEND_UTF8(&set, "name", name);
  else
    BSON_APPEND_NULL(&set, "name");
  if (pic)
    BSON_APPEND_UTF8(&set, "profile_pic", pic);
  else
    BSON_APPEND_NULL(&set, "profile_pic");
  if (username) BSON_APPEND_UTF8(&set, "username", username);
  BSON_APPEND_DATE_TIME(&set, "profile_fetched_at", util_now_ms());
  bson_append_document_end(update, &set);
  bson_t doc;
  int rc = mongo_query_modify(c, MC_CONTACTS, filter, update, 0, 1, &doc);
  bson_destroy(filter);
  bson_destroy(update);
  json_t *contact = NULL;
  if ((rc = answer(c, rc, &doc, &contact)) != STORE_OK) return rc;
  const char *title =
      name && *name ? name : json_string_value(json_object_get(contact, "username"));
  json_t *convs = json_array();
  rc = rename_conversations(c, id, title, convs);
  if (rc != STORE_OK) {
    json_decref(contact);
    json_decref(convs);
    return rc;
  }
  *r = json_pack("{s:o, s:o}", "contact", contact, "conversations", convs);
  return STORE_OK;
}

/* The contact's read position, never backwards; named by id or ig_user_id. */
int mongo_contact_mark_read(mongo_ctx_t *c, json_t *p, json_t **r) {
  const char *owner = mongo_param_str(p, "owner_id"), *id = mongo_param_str(p, "id");
  const char *ig = mongo_param_str(p, "ig_user_id");
  json_t *seq = json_object_get(p, "seq");
  if (!owner || (!id && !ig) || !json_is_integer(seq) || json_integer_value(seq) < 0)
    return STORE_EINVAL;
  bson_t *filter = id ? BCON_NEW("_id", BCON_UTF8(id), "owner_id", BCON_UTF8(owner))
                      : BCON_NEW("owner_id", BCON_UTF8(owner), "ig_user_id", BCON_UTF8(ig));
  bson_t *update =
      BCON_NEW("$max", "{", "last_read_seq", BCON_INT64((int64_t)json_integer_value(seq)), "}");
  bson_t doc;
  int rc = mongo_query_modify(c, MC_CONTACTS, filter, update, 0, 1, &doc);
  bson_destroy(filter);
  bson_destroy(update);
  return answer(c, rc, &doc, r);
}

static void collect_conv_id(void *arg, const bson_t *doc) {
  const char *id = mongo_bson_str(doc, "_id");
  if (id) json_array_append_new(arg, json_string(id));
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
  char owner[32];
  *rc = owner_for(c, id, user, owner);
  return *rc > 0 ? BCON_NEW("_id", BCON_UTF8(id)) : NULL;
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
  if ((rc = answer(c, rc, &doc, r)) != STORE_OK) return rc;
  /* The conversations that show the pause, for their announcement. */
  json_t *ids = json_array();
  bson_t *q = BCON_NEW("contact_id", BCON_UTF8(json_string_value(json_object_get(*r, "id"))),
                       "type", BCON_UTF8("instagram"));
  bson_t *opts = BCON_NEW("projection", "{", "_id", BCON_INT32(1), "}");
  rc = mongo_query_each(c, MC_CONVS, q, opts, collect_conv_id, ids);
  bson_destroy(q);
  bson_destroy(opts);
  json_object_set_new(*r, "conversation_ids", ids);
  if (rc < 0) {
    json_decref(*r);
    *r = NULL;
    return rc;
  }
  return STORE_OK;
}
