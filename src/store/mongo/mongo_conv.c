/* Conversations in "conversations": participants (id, role, last_read_seq) are
 * an array in the document with last_seq and a copy of the last message, so a
 * list is one query. Creation, reads, the read marker and membership: each
 * membership change is one conditional update on the participants array, so
 * concurrent changes never duplicate a member. An instagram conversation is
 * also seen by the agents of its creator (the account's owner, "ig_agents"),
 * whose read markers live in the document's agent_reads {user id: seq}.
 * Worker thread. */
#include <string.h>

#include "parley/util.h"
#include "store/mongo/mongo_internal.h"

const char *mongo_conv_role(const bson_t *doc, const char *user_id) {
  bson_iter_t it, arr;
  if (!bson_iter_init_find(&it, doc, "participants") || !bson_iter_recurse(&it, &arr)) return NULL;
  while (bson_iter_next(&arr)) {
    bson_iter_t f;
    const char *id = NULL, *role = "member";
    if (!bson_iter_recurse(&arr, &f)) continue;
    while (bson_iter_next(&f)) {
      if (!strcmp(bson_iter_key(&f), "id") && BSON_ITER_HOLDS_UTF8(&f))
        id = bson_iter_utf8(&f, NULL);
      if (!strcmp(bson_iter_key(&f), "role") && BSON_ITER_HOLDS_UTF8(&f))
        role = bson_iter_utf8(&f, NULL);
    }
    if (id && !strcmp(id, user_id)) return role;
  }
  return NULL;
}

int mongo_conv_role_of(mongo_ctx_t *c, const bson_t *doc, const char *user_id, const char **role) {
  if (mongo_channel_is(doc))
    return mongo_channel_role(c, mongo_bson_str(doc, "_id"), user_id, role);
  *role = mongo_conv_role(doc, user_id);
  return *role != NULL;
}

json_t *mongo_conv_participant_ids(const bson_t *doc) {
  json_t *ids = json_array(), *parts = mongo_bson_json(doc, "participants");
  size_t i;
  json_t *pt;
  json_array_foreach(parts, i, pt) json_array_append(ids, json_object_get(pt, "id"));
  json_decref(parts);
  return ids;
}

static json_t *agent_owner(mongo_ctx_t *c, const bson_t *doc) {
  return mongo_bson_json(doc, "owner_id");
}

static json_t *agent_id(mongo_ctx_t *c, const bson_t *doc) {
  return mongo_bson_json(doc, "user_id");
}

json_t *mongo_conv_agent_ids(mongo_ctx_t *c, const bson_t *doc) {
  const char *type = mongo_bson_str(doc, "type"), *owner = mongo_bson_str(doc, "creator_id");
  json_t *ids = json_array();
  if (!type || strcmp(type, "instagram") != 0 || !owner) return ids;
  bson_t *filter = BCON_NEW("owner_id", BCON_UTF8(owner));
  bson_t *opts = BCON_NEW("sort", "{", "ord", BCON_INT32(1), "}");
  int rc = mongo_query_map(c, MC_AGENTS, filter, opts, agent_id, ids);
  bson_destroy(filter);
  bson_destroy(opts);
  if (rc < 0) {
    json_decref(ids);
    return NULL;
  }
  return ids;
}

json_t *mongo_conv_recipients(mongo_ctx_t *c, const bson_t *doc) {
  json_t *ids = mongo_conv_participant_ids(doc), *team = mongo_conv_agent_ids(c, doc);
  json_array_extend(ids, team);
  json_decref(team);
  return ids;
}

int mongo_conv_agent_of(mongo_ctx_t *c, const bson_t *doc, const char *user_id) {
  const char *type = mongo_bson_str(doc, "type"), *owner = mongo_bson_str(doc, "creator_id");
  if (!type || strcmp(type, "instagram") != 0 || !owner) return 0;
  bson_t *filter = BCON_NEW("owner_id", BCON_UTF8(owner), "user_id", BCON_UTF8(user_id));
  bson_t found;
  int rc = mongo_query_one(c, MC_AGENTS, filter, NULL, &found);
  bson_destroy(filter);
  if (rc == 1) bson_destroy(&found);
  return rc;
}

/* {user id: {name, avatar_url, avatar_id?}} for every participant and agent
 * of the given conversations, in one query. */
static int names_of(mongo_ctx_t *c, json_t *convs, json_t *names) {
  bson_t filter = BSON_INITIALIZER, in, arr;
  bson_append_document_begin(&filter, "_id", -1, &in);
  bson_append_array_begin(&in, "$in", -1, &arr);
  size_t i, j, n = 0;
  json_t *cv, *pt;
  json_array_foreach(convs, i, cv) json_array_foreach(json_object_get(cv, "participants"), j, pt) {
    char key[24];
    snprintf(key, sizeof(key), "%zu", n++);
    mongo_bson_append_json(&arr, key, json_object_get(pt, "id"));
  }
  json_array_foreach(convs, i, cv) json_array_foreach(json_object_get(cv, "agents"), j, pt) {
    char key[24];
    snprintf(key, sizeof(key), "%zu", n++);
    mongo_bson_append_json(&arr, key, json_object_get(pt, "id"));
  }
  bson_append_array_end(&in, &arr);
  bson_append_document_end(&filter, &in);
  bson_t *opts = BCON_NEW("projection", "{", "name", BCON_INT32(1), "avatar_url", BCON_INT32(1),
                          "avatar_id", BCON_INT32(1), "}");
  json_t *users = json_array();
  int rc = n ? mongo_query_map(c, MC_USERS, &filter, opts, mongo_user_json, users) : 0;
  json_array_foreach(users, i, pt) {
    const char *id = json_string_value(json_object_get(pt, "id"));
    json_t *a = json_object_get(pt, "avatar_id");
    if (id)
      json_object_set_new(
          names, id,
          json_pack("{s:O, s:O, s:O*}", "name", json_object_get(pt, "name"), "avatar_url",
                    json_object_get(pt, "avatar_url"), "avatar_id", a));
  }
  json_decref(users);
  bson_destroy(opts);
  bson_destroy(&filter);
  return rc < 0 ? rc : 0;
}

static json_t *raw_conv(mongo_ctx_t *c, const bson_t *doc) {
  json_t *cv = json_object();
  json_object_set_new(cv, "id", mongo_bson_json(doc, "_id"));
  json_object_set_new(cv, "type", mongo_bson_json(doc, "type"));
  json_object_set_new(cv, "name", mongo_bson_json(doc, "name"));
  json_object_set_new(cv, "participants", mongo_bson_json(doc, "participants"));
  json_object_set_new(cv, "last_seq", json_integer(mongo_bson_int(doc, "last_seq", 0)));
  bson_iter_t it;
  json_t *last = json_null();
  if (bson_iter_init_find(&it, doc, "last_message") && BSON_ITER_HOLDS_DOCUMENT(&it)) {
    uint32_t len;
    const uint8_t *data;
    bson_t m;
    bson_iter_document(&it, &len, &data);
    if (bson_init_static(&m, data, len)) last = mongo_msg_json(c, &m);
  }
  json_object_set_new(cv, "last_message", last);
  json_object_set_new(cv, "created_at", mongo_bson_iso(doc, "created_at"));
  json_object_set_new(cv, "updated_at", mongo_bson_iso(doc, "updated_at"));
  /* Only for the list's cursor; finish() removes it. */
  json_object_set_new(cv, "_activity", json_integer(mongo_bson_int(doc, "activity", 0)));
  if (mongo_bson_str(doc, "contact_id"))
    json_object_set_new(cv, "contact_id", mongo_bson_json(doc, "contact_id"));
  if (mongo_bson_str(doc, "avatar_id"))
    json_object_set_new(cv, "avatar_id", mongo_bson_json(doc, "avatar_id"));
  const char *type = mongo_bson_str(doc, "type");
  if (type && !strcmp(type, "channel")) {
    json_object_del(cv, "participants"); /* its members live in channel_members */
    json_object_set_new(cv, "public", json_boolean(mongo_bson_bool(doc, "public")));
    json_object_set_new(cv, "member_count", json_integer(mongo_bson_int(doc, "member_count", 0)));
    json_object_set_new(cv, "invite_token", mongo_bson_json(doc, "invite_token"));
  }
  if (type && !strcmp(type, "instagram")) {
    /* finish() turns these into agents and automation_paused_until. */
    json_object_set_new(cv, "owner_id", mongo_bson_json(doc, "creator_id"));
    json_object_set_new(cv, "assignee_id", mongo_bson_json(doc, "assignee_id"));
    json_object_set_new(cv, "_agent_reads", mongo_bson_json(doc, "agent_reads"));
  }
  return cv;
}

static json_t *agent_named(mongo_ctx_t *c, const bson_t *doc) {
  return json_pack("{s:o, s:o}", "id", mongo_bson_json(doc, "user_id"), "added_at",
                   mongo_bson_iso(doc, "added_at"));
}

/* An instagram conversation's agents (with names from names, filled in by the
 * caller's names_of) and its contact's pause. */
static int finish_instagram(mongo_ctx_t *c, json_t *cv, json_t *team_cache) {
  const char *owner = json_string_value(json_object_get(cv, "owner_id"));
  json_t *team = owner ? json_object_get(team_cache, owner) : NULL;
  int rc = 0;
  if (owner && !team) {
    team = json_array();
    bson_t *filter = BCON_NEW("owner_id", BCON_UTF8(owner));
    bson_t *opts = BCON_NEW("sort", "{", "ord", BCON_INT32(1), "}");
    rc = mongo_query_map(c, MC_AGENTS, filter, opts, agent_named, team);
    bson_destroy(filter);
    bson_destroy(opts);
    json_object_set_new(team_cache, owner, team);
  }
  json_t *reads = json_object_get(cv, "_agent_reads"), *agents = json_array(), *a;
  size_t i;
  json_array_foreach(team, i, a) {
    const char *id = json_string_value(json_object_get(a, "id"));
    json_t *seq = id && json_is_object(reads) ? json_object_get(reads, id) : NULL;
    json_array_append_new(agents,
                          json_pack("{s:O, s:n, s:I}", "id", json_object_get(a, "id"), "name",
                                    "last_read_seq", (json_int_t)json_integer_value(seq)));
  }
  json_object_set_new(cv, "agents", agents);
  json_object_del(cv, "_agent_reads");
  json_t *paused = json_null();
  const char *contact = json_string_value(json_object_get(cv, "contact_id"));
  if (rc >= 0 && contact) {
    bson_t *filter = BCON_NEW("_id", BCON_UTF8(contact));
    bson_t doc;
    int found = mongo_query_one(c, MC_CONTACTS, filter, NULL, &doc);
    bson_destroy(filter);
    if (found == 1) {
      int64_t until = mongo_bson_int(&doc, "automation_paused_until_ms", 0);
      char iso[32];
      util_iso8601(until, iso);
      if (until > util_now_ms()) paused = json_string(iso);
      bson_destroy(&doc);
    }
    if (found < 0) rc = found;
  }
  json_object_set_new(cv, "automation_paused_until", paused);
  return rc < 0 ? rc : 0;
}

/* Embeds each instagram conversation's contact (without owner_id), read in one query. */
static int contacts_of(mongo_ctx_t *c, json_t *convs) {
  bson_t filter = BSON_INITIALIZER, in, arr;
  bson_append_document_begin(&filter, "_id", -1, &in);
  bson_append_array_begin(&in, "$in", -1, &arr);
  size_t i, n = 0;
  json_t *cv, *ct;
  json_array_foreach(convs, i, cv) {
    json_t *id = json_object_get(cv, "contact_id");
    if (!json_is_string(id)) continue;
    char key[24];
    snprintf(key, sizeof(key), "%zu", n++);
    mongo_bson_append_json(&arr, key, id);
  }
  bson_append_array_end(&in, &arr);
  bson_append_document_end(&filter, &in);
  json_t *found = json_array();
  int rc = n ? mongo_query_map(c, MC_CONTACTS, &filter, NULL, mongo_contact_json, found) : 0;
  json_array_foreach(convs, i, cv) {
    const char *id = json_string_value(json_object_get(cv, "contact_id"));
    size_t j;
    json_array_foreach(found, j, ct) {
      if (!id || strcmp(id, json_string_value(json_object_get(ct, "id"))) != 0) continue;
      json_t *copy = json_copy(ct);
      json_object_del(copy, "owner_id");
      json_object_set_new(cv, "contact", copy);
      break;
    }
  }
  json_decref(found);
  bson_destroy(&filter);
  return rc < 0 ? rc : 0;
}

/* Fills in participant names, the contract's participant shape and contacts. */
static int finish(mongo_ctx_t *c, json_t *convs) {
  json_t *names = json_object(), *cv, *pt, *teams = json_object();
  char now[32];
  util_iso8601(util_now_ms(), now);
  size_t i, j;
  int rc = 0;
  json_array_foreach(convs, i, cv) if (rc == 0 && json_object_get(cv, "owner_id")) rc =
      finish_instagram(c, cv, teams);
  json_decref(teams);
  if (rc == 0) rc = names_of(c, convs, names);
  if (rc == 0) rc = contacts_of(c, convs);
  json_array_foreach(convs, i, cv) {
    json_array_foreach(json_object_get(cv, "agents"), j, pt) {
      json_t *u = json_object_get(names, json_string_value(json_object_get(pt, "id")));
      if (u) json_object_set(pt, "name", json_object_get(u, "name"));
    }
    json_object_del(cv, "_activity");
    if (!json_object_get(cv, "participants")) continue; /* a channel */
    json_t *parts = json_array();
    json_array_foreach(json_object_get(cv, "participants"), j, pt) {
      const char *id = json_string_value(json_object_get(pt, "id"));
      json_t *u = id ? json_object_get(names, id) : NULL, *name = json_object_get(u, "name");
      json_t *avatar_url = json_object_get(u, "avatar_url"),
             *avatar_id = json_object_get(u, "avatar_id");
      json_t *role = json_object_get(pt, "role");
      json_int_t read = json_integer_value(json_object_get(pt, "last_read_seq"));
      /* Documents from before delivered positions have none: reading implies it. */
      json_int_t delivered = json_integer_value(json_object_get(pt, "last_delivered_seq"));
      const char *muted = json_string_value(json_object_get(pt, "muted_until"));
      json_array_append_new(
          parts,
          json_pack("{s:O, s:O, s:O, s:O*, s:O, s:I, s:I, s:I, s:s?}", "id",
                    json_object_get(pt, "id"), "name", name ? name : json_null(), "avatar_url",
                    avatar_url ? avatar_url : json_null(), "avatar_id", avatar_id, "role",
                    role ? role : json_null(), "last_read_seq", read, "last_delivered_seq",
                    delivered > read ? delivered : read, "mention_count",
                    json_integer_value(json_object_get(pt, "mention_count")), "muted_until",
                    muted && strcmp(muted, now) > 0 ? muted : NULL));
    }
    json_object_set_new(cv, "participants", parts);
  }
  json_decref(names);
  return rc;
}

int mongo_conv_render(mongo_ctx_t *c, const bson_t *doc, json_t **out) {
  json_t *one = json_array();
  json_array_append_new(one, raw_conv(c, doc));
  int rc = finish(c, one);
  if (rc == 0) *out = json_incref(json_array_get(one, 0));
  json_decref(one);
  return rc;
}

int mongo_conv_render_for(mongo_ctx_t *c, const bson_t *doc, const char *user, json_t **out) {
  int rc = mongo_conv_render(c, doc, out);
  if (rc != 0 || !user || !mongo_channel_is(doc)) return rc;
  json_t *me = mongo_channel_me(c, mongo_bson_str(doc, "_id"), user);
  if (!me) {
    json_decref(*out);
    return STORE_EUNAVAILABLE;
  }
  if (json_is_null(me))
    json_decref(me);
  else
    json_object_set_new(*out, "me", me);
  return 0;
}

/* Loads a conversation, visible to user_id when given: a participant (of a
 * channel, a member), or an agent of an instagram conversation's owner. */
int mongo_conv_load(mongo_ctx_t *c, const char *id, const char *user_id, bson_t *doc) {
  bson_t *filter = BCON_NEW("_id", BCON_UTF8(id));
  int rc = mongo_query_one(c, MC_CONVS, filter, NULL, doc);
  bson_destroy(filter);
  if (rc == 1 && user_id && !mongo_conv_role(doc, user_id)) {
    const char *role;
    rc = mongo_channel_is(doc) ? mongo_channel_role(c, id, user_id, &role)
                               : mongo_conv_agent_of(c, doc, user_id);
    if (rc != 1) bson_destroy(doc);
  }
  return rc == 1 ? STORE_OK : rc == 0 ? STORE_ENOTFOUND : rc;
}

int mongo_conv_get(mongo_ctx_t *c, json_t *p, json_t **r) {
  const char *id = mongo_param_str(p, "id"), *user = mongo_param_str(p, "user_id");
  if (!id) return STORE_EINVAL;
  bson_t doc;
  int rc = mongo_conv_load(c, id, user, &doc);
  if (rc != STORE_OK) return rc;
  rc = mongo_conv_render_for(c, &doc, user, r);
  bson_destroy(&doc);
  return rc;
}

/* The opaque cursor: "<activity>.<id>" of the last conversation returned.
 * activity is the order clock's value at the last change (mongo_ctx_order), so
 * conversations touched in the same millisecond still have one order. */
static int cursor_parse(const char *s, int64_t *ms, const char **id) {
  char *end;
  long long v = strtoll(s, &end, 10);
  if (end == s || *end != '.' || strlen(end + 1) != 24) return -1;
  *ms = v;
  *id = end + 1;
  return 0;
}

/* The owners whose agent user is, as a BSON array of ids in *owners; returns
 * their number or a negative status. */
static int owners_of(mongo_ctx_t *c, const char *user, json_t *owners) {
  bson_t *filter = BCON_NEW("user_id", BCON_UTF8(user));
  int rc = mongo_query_map(c, MC_AGENTS, filter, NULL, agent_owner, owners);
  bson_destroy(filter);
  return rc;
}

static void append_ids(bson_t *doc, const char *key, json_t *ids) {
  bson_t in, arr;
  bson_append_document_begin(doc, key, -1, &in);
  bson_append_array_begin(&in, "$in", -1, &arr);
  size_t i;
  json_t *o;
  json_array_foreach(ids, i, o) {
    char k[24];
    snprintf(k, sizeof(k), "%zu", i);
    mongo_bson_append_json(&arr, k, o);
  }
  bson_append_array_end(&in, &arr);
  bson_append_document_end(doc, &in);
}

/* An agent's list (or one filtered by assignee) also takes the instagram
 * conversations of the owners it serves, and a channel member's the channels
 * (found in channel_members); everyone else's stays on the participants.id
 * index. */
static bson_t *list_filter(const char *user, const char *type, const char *cursor, json_t *owners,
                           const char *assigned, json_t *channels) {
  bson_t *f;
  if (json_array_size(owners) > 0 || json_array_size(channels) > 0) {
    bson_t any, one, in, arr;
    f = bson_new();
    bson_append_array_begin(f, "$or", -1, &any);
    bson_append_document_begin(&any, "0", -1, &one);
    BSON_APPEND_UTF8(&one, "participants.id", user);
    bson_append_document_end(&any, &one);
    if (json_array_size(channels) > 0) {
      bson_append_document_begin(&any, "2", -1, &one);
      append_ids(&one, "_id", channels);
      bson_append_document_end(&any, &one);
    }
    if (json_array_size(owners) == 0) goto ors_done;
    bson_append_document_begin(&any, "1", -1, &one);
    BSON_APPEND_UTF8(&one, "type", "instagram");
    bson_append_document_begin(&one, "creator_id", -1, &in);
    bson_append_array_begin(&in, "$in", -1, &arr);
    size_t i;
    json_t *o;
    json_array_foreach(owners, i, o) {
      char k[24];
      snprintf(k, sizeof(k), "%zu", i);
      mongo_bson_append_json(&arr, k, o);
    }
    bson_append_array_end(&in, &arr);
    bson_append_document_end(&one, &in);
    bson_append_document_end(&any, &one);
  ors_done:
    bson_append_array_end(f, &any);
  } else {
    f = BCON_NEW("participants.id", BCON_UTF8(user));
  }
  if (assigned && !strcmp(assigned, "me")) BSON_APPEND_UTF8(f, "assignee_id", user);
  if (assigned && !strcmp(assigned, "none")) BSON_APPEND_NULL(f, "assignee_id");
  if (type) BSON_APPEND_UTF8(f, "type", type);
  int64_t ms;
  const char *id;
  if (cursor && cursor_parse(cursor, &ms, &id) == 0) {
    /* In $and: the agents' filter has an $or of its own. */
    bson_t *after = BCON_NEW("$and", "[", "{", "$or", "[", "{", "activity", "{", "$lt",
                             BCON_INT64(ms), "}", "}", "{", "activity", BCON_INT64(ms), "_id", "{",
                             "$lt", BCON_UTF8(id), "}", "}", "]", "}", "]");
    bson_concat(f, after);
    bson_destroy(after);
  }
  return f;
}

int mongo_conv_list(mongo_ctx_t *c, json_t *p, json_t **r) {
  const char *user = mongo_param_str(p, "user_id"), *type = mongo_param_str(p, "type");
  const char *cursor = mongo_param_str(p, "cursor");
  int64_t limit = 50, ms;
  const char *cid;
  mongo_param_int(p, "limit", &limit);
  if (!user || limit < 1 || (cursor && cursor_parse(cursor, &ms, &cid) < 0)) return STORE_EINVAL;
  json_t *owners = json_array();
  int known = owners_of(c, user, owners);
  if (known < 0) {
    json_decref(owners);
    return known;
  }
  json_t *channels = mongo_channel_ids(c, user);
  if (!channels) {
    json_decref(owners);
    return STORE_EUNAVAILABLE;
  }
  bson_t *filter =
      list_filter(user, type, cursor, owners, mongo_param_str(p, "assigned"), channels);
  json_decref(owners);
  json_decref(channels);
  bson_t *opts = BCON_NEW("sort", "{", "activity", BCON_INT32(-1), "_id", BCON_INT32(-1), "}",
                          "limit", BCON_INT64(limit + 1));
  json_t *convs = json_array();
  int rc = mongo_query_map(c, MC_CONVS, filter, opts, raw_conv, convs);
  bson_destroy(filter);
  bson_destroy(opts);
  json_t *next = json_null();
  if (rc >= 0 && json_array_size(convs) > (size_t)limit) {
    json_array_remove(convs, (size_t)limit);
    json_t *last = json_array_get(convs, (size_t)limit - 1);
    char buf[64];
    snprintf(buf, sizeof(buf), "%lld.%s",
             (long long)json_integer_value(json_object_get(last, "_activity")),
             json_string_value(json_object_get(last, "id")));
    next = json_string(buf);
  }
  if (rc >= 0) rc = finish(c, convs);
  json_t *cv;
  size_t i;
  json_array_foreach(convs, i, cv) {
    if (rc < 0 || !json_object_get(cv, "member_count")) continue;
    json_t *me = mongo_channel_me(c, json_string_value(json_object_get(cv, "id")), user);
    if (!me)
      rc = STORE_EUNAVAILABLE;
    else if (json_is_null(me))
      json_decref(me);
    else
      json_object_set_new(cv, "me", me);
  }
  if (rc < 0) {
    json_decref(convs);
    json_decref(next);
    return rc;
  }
  *r = json_pack("{s:o, s:o}", "conversations", convs, "next_cursor", next);
  return STORE_OK;
}

int64_t mongo_conv_participant_int(const bson_t *doc, const char *user, const char *key) {
  json_t *parts = mongo_bson_json(doc, "participants"), *pt;
  size_t i;
  int64_t v = 0;
  json_array_foreach(parts, i, pt) {
    const char *pid = json_string_value(json_object_get(pt, "id"));
    if (pid && !strcmp(pid, user)) v = json_integer_value(json_object_get(pt, key));
  }
  json_decref(parts);
  return v;
}

/* An agent's marker: agent_reads.<user id>, never backwards. */
static int agent_mark_read(mongo_ctx_t *c, const char *id, const char *user, int64_t seq,
                           json_t **r) {
  char field[96];
  snprintf(field, sizeof(field), "agent_reads.%s", user);
  bson_t *q = BCON_NEW("_id", BCON_UTF8(id));
  bson_t *update = BCON_NEW("$max", "{", field, BCON_INT64(seq), "}");
  bson_t doc;
  int rc = mongo_query_modify(c, MC_CONVS, q, update, 0, 1, &doc);
  bson_destroy(q);
  bson_destroy(update);
  if (rc <= 0) return rc == 0 ? STORE_ENOTFOUND : rc;
  *r = json_pack("{s:I}", "last_read_seq", (json_int_t)mongo_bson_int(&doc, field, seq));
  bson_destroy(&doc);
  return STORE_OK;
}

int mongo_conv_mark_read(mongo_ctx_t *c, json_t *p, json_t **r) {
  const char *id = mongo_param_str(p, "id"), *user = mongo_param_str(p, "user_id");
  int64_t seq;
  if (!id || !user || mongo_param_int(p, "seq", &seq) < 0) return STORE_EINVAL;
  bson_t doc;
  int rc = mongo_conv_load(c, id, user, &doc);
  if (rc != STORE_OK) return rc;
  /* last_seq only grows, so clamping to the value just read is safe. */
  int64_t last = mongo_bson_int(&doc, "last_seq", 0);
  int channel = mongo_channel_is(&doc);
  bson_destroy(&doc);
  if (seq > last) seq = last;
  if (seq < 0) seq = 0;
  if (channel) {
    int64_t now = seq;
    rc = mongo_channel_mark(c, id, user, seq, &now);
    if (rc <= 0) return rc == 0 ? STORE_ENOTFOUND : rc;
    *r = json_pack("{s:I}", "last_read_seq", (json_int_t)now);
    return STORE_OK;
  }
  /* $elemMatch names the element the positional $ updates. */
  bson_t *q = BCON_NEW("_id", BCON_UTF8(id), "participants", "{", "$elemMatch", "{", "id",
                       BCON_UTF8(user), "}", "}");
  bson_t *update = BCON_NEW("$max", "{", "participants.$.last_read_seq", BCON_INT64(seq),
                            "participants.$.last_delivered_seq", BCON_INT64(seq), "}");
  rc = mongo_query_modify(c, MC_CONVS, q, update, 0, 1, &doc);
  bson_destroy(q);
  bson_destroy(update);
  if (rc == 0) return agent_mark_read(c, id, user, seq, r); /* loaded: an agent */
  if (rc < 0) return rc;
  seq = mongo_conv_participant_int(&doc, user, "last_read_seq");
  int64_t mentions = mongo_conv_participant_int(&doc, user, "mention_count");
  bson_destroy(&doc);
  rc = mentions > 0 ? mongo_conv_recount_mentions(c, id, user, seq) : STORE_OK;
  if (rc != STORE_OK) return rc;
  *r = json_pack("{s:I}", "last_read_seq", (json_int_t)seq);
  return STORE_OK;
}

int mongo_conv_recount_mentions(mongo_ctx_t *c, const char *id, const char *user, int64_t read) {
  bson_t *filter = BCON_NEW("conversation_id", BCON_UTF8(id), "seq", "{", "$gt", BCON_INT64(read),
                            "}", "mentions", BCON_UTF8(user));
  bson_error_t e;
  int64_t n =
      mongoc_collection_count_documents(mongo_ctx_coll(c, MC_MSGS), filter, NULL, NULL, NULL, &e);
  bson_destroy(filter);
  if (n < 0) return mongo_ctx_error(c, &e);
  bson_t *q = BCON_NEW("_id", BCON_UTF8(id), "participants", "{", "$elemMatch", "{", "id",
                       BCON_UTF8(user), "}", "}");
  bson_t *update = BCON_NEW("$set", "{", "participants.$.mention_count", BCON_INT64(n), "}");
  int rc = mongo_query_update(c, MC_CONVS, q, update, 0);
  bson_destroy(q);
  bson_destroy(update);
  return rc < 0 ? rc : STORE_OK;
}

int mongo_conv_settings(mongo_ctx_t *c, json_t *p, json_t **r) {
  const char *id = mongo_param_str(p, "id"), *user = mongo_param_str(p, "user_id");
  json_t *until = json_object_get(p, "muted_until");
  if (!id || !user || !until || (!json_is_string(until) && !json_is_null(until)))
    return STORE_EINVAL;
  bson_t doc;
  int rc = mongo_conv_load(c, id, user, &doc);
  if (rc != STORE_OK) return rc;
  if (mongo_channel_is(&doc)) {
    /* A channel member's settings live in channel_members. */
    rc = mongo_channel_mute(c, id, user, until);
    if (rc >= 0) rc = rc == 0 ? STORE_ENOTFOUND : mongo_conv_render_for(c, &doc, user, r);
    bson_destroy(&doc);
    return rc;
  }
  bson_destroy(&doc);
  bson_t *q = BCON_NEW("_id", BCON_UTF8(id), "participants", "{", "$elemMatch", "{", "id",
                       BCON_UTF8(user), "}", "}");
  bson_t *update = json_is_string(until)
                       ? BCON_NEW("$set", "{", "participants.$.muted_until",
                                  BCON_UTF8(json_string_value(until)), "}")
                       : BCON_NEW("$set", "{", "participants.$.muted_until", BCON_NULL, "}");
  rc = mongo_query_modify(c, MC_CONVS, q, update, 0, 1, &doc);
  bson_destroy(q);
  bson_destroy(update);
  if (rc <= 0) return rc == 0 ? STORE_ENOTFOUND : rc; /* agents have no settings */
  rc = mongo_conv_render(c, &doc, r);
  bson_destroy(&doc);
  return rc;
}

int mongo_conv_mark_delivered(mongo_ctx_t *c, json_t *p, json_t **r) {
  const char *id = mongo_param_str(p, "id"), *user = mongo_param_str(p, "user_id");
  int64_t seq;
  if (!id || !user || mongo_param_int(p, "seq", &seq) < 0) return STORE_EINVAL;
  bson_t *q = BCON_NEW("_id", BCON_UTF8(id), "participants", "{", "$elemMatch", "{", "id",
                       BCON_UTF8(user), "}", "}");
  bson_t doc;
  int rc = mongo_query_one(c, MC_CONVS, q, NULL, &doc);
  if (rc <= 0) {
    bson_destroy(q);
    return rc == 0 ? STORE_ENOTFOUND : rc; /* agents keep no delivered position */
  }
  /* last_seq only grows, and a read position only moves forward: clamping to
   * the values just read is safe. */
  int64_t last = mongo_bson_int(&doc, "last_seq", 0);
  int64_t read = mongo_conv_participant_int(&doc, user, "last_read_seq");
  bson_destroy(&doc);
  if (seq > last) seq = last;
  if (seq < read) seq = read;
  bson_t *update = BCON_NEW("$max", "{", "participants.$.last_delivered_seq", BCON_INT64(seq), "}");
  rc = mongo_query_modify(c, MC_CONVS, q, update, 0, 1, &doc);
  bson_destroy(q);
  bson_destroy(update);
  if (rc <= 0) return rc == 0 ? STORE_ENOTFOUND : rc;
  *r = json_pack("{s:I}", "last_delivered_seq",
                 (json_int_t)mongo_conv_participant_int(&doc, user, "last_delivered_seq"));
  bson_destroy(&doc);
  return STORE_OK;
}

static json_t *skip(mongo_ctx_t *c, const bson_t *doc) { return NULL; }

/* 1 when every id of the (distinct, string) ids is a user that is not deleted,
 * Instagram contacts ("ig:...") aside; 0 when one is not; a negative status on
 * failure. */
int mongo_conv_users_exist(mongo_ctx_t *c, json_t *ids) {
  bson_t filter = BSON_INITIALIZER, in, arr;
  bson_append_document_begin(&filter, "_id", -1, &in);
  bson_append_array_begin(&in, "$in", -1, &arr);
  size_t i;
  int n = 0;
  json_t *v;
  json_array_foreach(ids, i, v) {
    if (!strncmp(json_string_value(v), "ig:", 3)) continue;
    char key[24];
    snprintf(key, sizeof(key), "%d", n++);
    mongo_bson_append_json(&arr, key, v);
  }
  bson_append_array_end(&in, &arr);
  bson_append_document_end(&filter, &in);
  bson_append_document_begin(&filter, "deleted", -1, &in);
  BSON_APPEND_BOOL(&in, "$ne", true);
  bson_append_document_end(&filter, &in);
  json_t *none = json_array();
  int rc = n ? mongo_query_map(c, MC_USERS, &filter, NULL, skip, none) : 0;
  json_decref(none);
  bson_destroy(&filter);
  return rc < 0 ? rc : rc == n;
}

/* The distinct participant ids, creator first; NULL when one is not a string. */
static json_t *participant_ids(json_t *p, const char *creator) {
  json_t *ids = json_array(), *v;
  size_t i, j;
  json_array_append_new(ids, json_string(creator));
  json_array_foreach(json_object_get(p, "participant_ids"), i, v) {
    if (!json_is_string(v)) {
      json_decref(ids);
      return NULL;
    }
    int seen = 0;
    json_t *w;
    json_array_foreach(ids, j, w) seen |= json_equal(v, w);
    if (!seen) json_array_append(ids, v);
  }
  return ids;
}

/* Direct conversations are unique per pair, Instagram ones per (owner, contact):
 * a unique sparse index on pair_key makes that hold under concurrency. */
static int pair_key(const char *type, const char *creator, json_t *ids, const char *contact,
                    char *out, size_t n) {
  if (!strcmp(type, "direct") || !strcmp(type, "secret")) {
    if (json_array_size(ids) != 2) return -1;
    const char *a = json_string_value(json_array_get(ids, 0)),
               *b = json_string_value(json_array_get(ids, 1));
    if (strcmp(a, b) > 0) {
      const char *t = a;
      a = b;
      b = t;
    }
    /* A pair has one direct and one secret conversation, apart. */
    snprintf(out, n, "%s:%s:%s", type[0] == 's' ? "s" : "d", a, b);
  } else if (!strcmp(type, "instagram")) {
    if (!contact) return -1;
    snprintf(out, n, "i:%s:%s", creator, contact);
  } else if (strcmp(type, "group") && strcmp(type, "channel")) {
    return -1;
  } else {
    *out = 0;
  }
  return 0;
}

static bson_t *new_conv(const char *id, int64_t activity, json_t *p, const char *creator,
                        json_t *ids, const char *key) {
  const char *type = mongo_param_str(p, "type"), *contact = mongo_param_str(p, "contact_id");
  int64_t now = util_now_ms();
  bson_t *doc =
      BCON_NEW("_id", BCON_UTF8(id), "type", BCON_UTF8(type), "creator_id", BCON_UTF8(creator));
  json_t *name = json_object_get(p, "name");
  mongo_bson_append_json(doc, "name", json_is_string(name) ? name : NULL);
  bson_t arr, pt;
  size_t i;
  json_t *v;
  int channel = !strcmp(type, "channel");
  bson_append_array_begin(doc, "participants", -1, &arr);
  if (!channel) json_array_foreach(ids, i, v) {
      char k[24];
      snprintf(k, sizeof(k), "%zu", i);
      int admin = i == 0 && !strcmp(type, "group");
      bson_append_document_begin(&arr, k, -1, &pt);
      BSON_APPEND_UTF8(&pt, "id", json_string_value(v));
      BSON_APPEND_UTF8(&pt, "role", admin ? "admin" : "member");
      BSON_APPEND_INT64(&pt, "last_read_seq", 0);
      BSON_APPEND_INT64(&pt, "last_delivered_seq", 0);
      bson_append_document_end(&arr, &pt);
    }
  bson_append_array_end(doc, &arr);
  if (channel) {
    BSON_APPEND_BOOL(doc, "public", json_is_true(json_object_get(p, "public")));
    BSON_APPEND_INT64(doc, "member_count", 1);
  }
  BSON_APPEND_INT64(doc, "last_seq", 0);
  BSON_APPEND_NULL(doc, "last_message");
  BSON_APPEND_DATE_TIME(doc, "created_at", now);
  BSON_APPEND_DATE_TIME(doc, "updated_at", now);
  BSON_APPEND_INT64(doc, "activity", activity);
  if (contact) BSON_APPEND_UTF8(doc, "contact_id", contact);
  if (*key) BSON_APPEND_UTF8(doc, "pair_key", key);
  return doc;
}

static int existing(mongo_ctx_t *c, const char *key, json_t **r) {
  bson_t *filter = BCON_NEW("pair_key", BCON_UTF8(key));
  bson_t doc;
  int rc = mongo_query_one(c, MC_CONVS, filter, NULL, &doc);
  bson_destroy(filter);
  if (rc <= 0) return rc;
  json_t *cv;
  rc = mongo_conv_render(c, &doc, &cv);
  bson_destroy(&doc);
  if (rc < 0) return rc;
  *r = json_pack("{s:o, s:b}", "conversation", cv, "created", 0);
  return 1;
}

/* An instagram conversation takes its contact's name as stored after the
 * insert: a profile stored between the caller's read of the contact and the
 * insert renamed no conversation (there was none yet), so the name is read
 * again here, and whichever of the two writes comes last sees the other. 1, or
 * a negative status. */
static int contact_title(mongo_ctx_t *c, bson_t *doc) {
  const char *contact = mongo_bson_str(doc, "contact_id");
  if (!contact) return 1;
  bson_t *q = BCON_NEW("_id", BCON_UTF8(contact));
  bson_t found;
  int rc = mongo_query_one(c, MC_CONTACTS, q, NULL, &found);
  bson_destroy(q);
  if (rc <= 0) return rc < 0 ? rc : 1;
  const char *title = mongo_bson_str(&found, "name");
  if (!title || !*title) title = mongo_bson_str(&found, "username");
  const char *name = mongo_bson_str(doc, "name");
  if (title && *title && (!name || strcmp(name, title))) {
    bson_t *filter = BCON_NEW("_id", BCON_UTF8(mongo_bson_str(doc, "_id")));
    bson_t *update = BCON_NEW("$set", "{", "name", BCON_UTF8(title), "}");
    rc = mongo_query_update(c, MC_CONVS, filter, update, 0);
    bson_destroy(filter);
    bson_destroy(update);
    if (rc >= 0) {
      bson_t *copy = bson_new();
      bson_copy_to_excluding_noinit(doc, copy, "name", NULL);
      BSON_APPEND_UTF8(copy, "name", title);
      bson_reinit(doc);
      bson_concat(doc, copy);
      bson_destroy(copy);
      rc = 1;
    }
  } else {
    rc = 1;
  }
  bson_destroy(&found);
  return rc;
}

/* A secret conversation's ciphertext is for people's devices: no bot is in
 * one (EINVAL). ids holds every participant, the creator too. */
static int no_bots(mongo_ctx_t *c, json_t *ids) {
  size_t i;
  json_t *v;
  json_array_foreach(ids, i, v) {
    if (!json_is_string(v)) continue;
    bson_t *f = BCON_NEW("_id", BCON_UTF8(json_string_value(v)), "kind", BCON_UTF8("bot"));
    int rc = mongo_query_one(c, MC_USERS, f, NULL, NULL);
    bson_destroy(f);
    if (rc != 0) return rc < 0 ? rc : STORE_EINVAL;
  }
  return STORE_OK;
}

int mongo_conv_create(mongo_ctx_t *c, json_t *p, json_t **r) {
  const char *type = mongo_param_str(p, "type"), *creator = mongo_param_str(p, "creator_id");
  if (!type || !creator || !json_is_array(json_object_get(p, "participant_ids")))
    return STORE_EINVAL;
  json_t *ids = participant_ids(p, creator);
  char key[160], id[25];
  int rc = STORE_EINVAL;
  if (!ids || pair_key(type, creator, ids, mongo_param_str(p, "contact_id"), key, sizeof(key)) < 0)
    goto done;
  if (*key && (rc = existing(c, key, r)) != 0) goto done; /* 1: it exists */
  if ((rc = mongo_conv_users_exist(c, ids)) <= 0) {
    rc = rc == 0 ? STORE_EINVAL : rc;
    goto done;
  }
  if (!strcmp(type, "secret") && (rc = no_bots(c, ids)) != STORE_OK) goto done;
  util_new_id(id);
  if (!strcmp(type, "channel")) {
    /* The creator is its first admin; a member document first, so a failure
     * leaves no channel without one. */
    if ((rc = mongo_channel_add(c, id, creator, "admin", NULL, 1)) != STORE_OK) goto done;
    json_array_clear(ids);
    json_array_append_new(ids, json_string(creator));
  }
  bson_t *doc = new_conv(id, mongo_ctx_order(c), p, creator, ids, key);
  rc = mongo_query_insert(c, MC_CONVS, doc);
  if (rc == STORE_ECONFLICT && *key) {
    /* A concurrent create of the same pair won: answer with its conversation. */
    rc = existing(c, key, r);
    if (rc == 0) rc = STORE_EUNAVAILABLE;
  } else if (rc == 1) {
    json_t *cv;
    if ((rc = contact_title(c, doc)) == 1) rc = mongo_conv_render_for(c, doc, creator, &cv);
    if (rc == 0) *r = json_pack("{s:o, s:b}", "conversation", cv, "created", 1);
  }
  bson_destroy(doc);
done:
  json_decref(ids);
  return rc == 1 ? STORE_OK : rc;
}

/* 1 when user is an admin of the group or channel doc, 0 when not, or a
 * negative status. */
static int is_admin(mongo_ctx_t *c, const bson_t *doc, const char *user) {
  const char *role = NULL, *type = mongo_bson_str(doc, "type");
  if (!type || (strcmp(type, "group") && strcmp(type, "channel"))) return 0;
  int rc = mongo_conv_role_of(c, doc, user, &role);
  if (rc <= 0) return rc;
  return !strcmp(role, "admin");
}

int mongo_conv_rename(mongo_ctx_t *c, json_t *p, json_t **r) {
  const char *id = mongo_param_str(p, "id"), *user = mongo_param_str(p, "user_id");
  const char *name = mongo_param_str(p, "name");
  if (!id || !user || !name) return STORE_EINVAL;
  bson_t doc;
  int rc = mongo_conv_load(c, id, user, &doc);
  if (rc != STORE_OK) return rc;
  int allowed = is_admin(c, &doc, user);
  bson_destroy(&doc);
  if (allowed < 0) return allowed;
  if (!allowed) return STORE_EFORBIDDEN;
  bson_t *q = BCON_NEW("_id", BCON_UTF8(id));
  bson_t *update = BCON_NEW("$set", "{", "name", BCON_UTF8(name), "}");
  rc = mongo_query_modify(c, MC_CONVS, q, update, 0, 1, &doc);
  bson_destroy(q);
  bson_destroy(update);
  if (rc <= 0) return rc == 0 ? STORE_ENOTFOUND : rc;
  rc = mongo_conv_render_for(c, &doc, user, r);
  bson_destroy(&doc);
  return rc;
}

int mongo_conv_avatar(mongo_ctx_t *c, json_t *p, json_t **r) {
  const char *id = mongo_param_str(p, "id"), *user = mongo_param_str(p, "user_id");
  json_t *att = json_object_get(p, "attachment_id");
  if (!id || !user || !att || (!json_is_string(att) && !json_is_null(att))) return STORE_EINVAL;
  bson_t doc;
  int rc = mongo_conv_load(c, id, user, &doc);
  if (rc != STORE_OK) return rc;
  const char *type = mongo_bson_str(&doc, "type");
  int group = type && strcmp(type, "group") == 0;
  int allowed = is_admin(c, &doc, user);
  bson_destroy(&doc);
  if (allowed < 0) return allowed;
  if (!allowed || !group) return STORE_EFORBIDDEN;
  const char *aid = json_string_value(att);
  if (aid) {
    bson_t *f = BCON_NEW("_id", BCON_UTF8(aid), "user_id", BCON_UTF8(user), "thumbnail_key", "{",
                         "$type", BCON_UTF8("string"), "}");
    bson_t *u = BCON_NEW("$set", "{", "sent", BCON_BOOL(true), "}");
    int n = mongo_query_update(c, MC_ATTACH, f, u, 0);
    bson_destroy(f);
    bson_destroy(u);
    if (n < 0) return n;
    if (n == 0) return STORE_EINVAL;
  }
  bson_t *q = BCON_NEW("_id", BCON_UTF8(id));
  bson_t *update = aid ? BCON_NEW("$set", "{", "avatar_id", BCON_UTF8(aid), "}")
                       : BCON_NEW("$unset", "{", "avatar_id", BCON_UTF8(""), "}");
  rc = mongo_query_modify(c, MC_CONVS, q, update, 0, 1, &doc);
  bson_destroy(q);
  bson_destroy(update);
  if (rc <= 0) return rc == 0 ? STORE_ENOTFOUND : rc;
  rc = mongo_conv_render_for(c, &doc, user, r);
  bson_destroy(&doc);
  return rc;
}

static int push_member(mongo_ctx_t *c, const char *id, const char *user) {
  bson_t *filter =
      BCON_NEW("_id", BCON_UTF8(id), "participants.id", "{", "$ne", BCON_UTF8(user), "}");
  bson_t *update = BCON_NEW("$push", "{", "participants", "{", "id", BCON_UTF8(user), "role",
                            BCON_UTF8("member"), "last_read_seq", BCON_INT64(0),
                            "last_delivered_seq", BCON_INT64(0), "}", "}");
  int rc = mongo_query_update(c, MC_CONVS, filter, update, 0);
  bson_destroy(filter);
  bson_destroy(update);
  return rc < 0 ? rc : 0;
}

static int reload(mongo_ctx_t *c, const char *id, const char *user, json_t **out) {
  bson_t doc;
  int rc = mongo_conv_load(c, id, NULL, &doc);
  if (rc != STORE_OK) return rc;
  rc = mongo_conv_render_for(c, &doc, user, out);
  bson_destroy(&doc);
  return rc;
}

int mongo_conv_add_members(mongo_ctx_t *c, json_t *p, json_t **r) {
  const char *id = mongo_param_str(p, "id"), *user = mongo_param_str(p, "user_id");
  json_t *ids = json_object_get(p, "user_ids"), *v;
  size_t i;
  if (!id || !user || !json_is_array(ids)) return STORE_EINVAL;
  json_array_foreach(ids, i, v) if (!json_is_string(v)) return STORE_EINVAL;
  bson_t doc;
  int rc = mongo_conv_load(c, id, user, &doc);
  if (rc != STORE_OK) return rc;
  int admin = is_admin(c, &doc, user), channel = mongo_channel_is(&doc);
  bson_destroy(&doc);
  if (admin < 0) return admin;
  if (!admin) return STORE_EFORBIDDEN;
  if ((rc = mongo_conv_users_exist(c, ids)) <= 0) return rc == 0 ? STORE_EINVAL : rc;
  json_array_foreach(ids, i, v) {
    rc = channel ? mongo_channel_add(c, id, json_string_value(v), "member", NULL, 0)
                 : push_member(c, id, json_string_value(v));
    if (rc >= 0 && channel) rc = mongo_channel_mark_bot(c, id, json_string_value(v));
    if (rc < 0) return rc;
  }
  return reload(c, id, user, r);
}

int mongo_conv_remove_member(mongo_ctx_t *c, json_t *p, json_t **r) {
  const char *id = mongo_param_str(p, "id"), *user = mongo_param_str(p, "user_id");
  const char *member = mongo_param_str(p, "member_id");
  if (!id || !user || !member) return STORE_EINVAL;
  bson_t doc;
  int rc = mongo_conv_load(c, id, user, &doc);
  if (rc != STORE_OK) return rc;
  const char *member_role = NULL;
  int known = mongo_conv_role_of(c, &doc, member, &member_role);
  int admin = is_admin(c, &doc, user), allowed = !strcmp(user, member) || admin > 0;
  if (known < 0 || admin < 0 || known == 0 || !allowed) {
    bson_destroy(&doc);
    return known < 0 ? known : admin < 0 ? admin : !known ? STORE_ENOTFOUND : STORE_EFORBIDDEN;
  }
  if (mongo_channel_is(&doc)) {
    rc = mongo_channel_remove(c, &doc, member, !strcmp(member_role, "admin"));
    bson_destroy(&doc);
    if (rc != STORE_OK) return rc;
    json_t *cv;
    if ((rc = reload(c, id, user, &cv)) != STORE_OK) return rc;
    *r = json_pack("{s:o, s:s}", "conversation", cv, "removed_id", member);
    return STORE_OK;
  }
  bson_destroy(&doc);
  bson_t *filter = BCON_NEW("_id", BCON_UTF8(id));
  bson_t *update = BCON_NEW("$pull", "{", "participants", "{", "id", BCON_UTF8(member), "}", "}");
  rc = mongo_query_update(c, MC_CONVS, filter, update, 0);
  bson_destroy(filter);
  bson_destroy(update);
  if (rc < 0) return rc;
  json_t *cv;
  if ((rc = reload(c, id, user, &cv)) != STORE_OK) return rc;
  *r = json_pack("{s:o, s:s}", "conversation", cv, "removed_id", member);
  return STORE_OK;
}

static json_t *conv_id_of(mongo_ctx_t *c, const bson_t *doc) {
  (void)c;
  return mongo_bson_json(doc, "conversation_id");
}

static json_t *id_of(mongo_ctx_t *c, const bson_t *doc) {
  (void)c;
  return mongo_bson_json(doc, "_id");
}

int mongo_conv_leave_all(mongo_ctx_t *c, const char *user, json_t *convs) {
  json_t *ids = json_array(), *v;
  size_t i;
  bson_t *f = BCON_NEW("participants.id", BCON_UTF8(user));
  bson_t *opts = BCON_NEW("projection", "{", "_id", BCON_INT32(1), "}");
  int rc = mongo_query_map(c, MC_CONVS, f, opts, id_of, ids);
  bson_destroy(f);
  bson_destroy(opts);
  json_array_foreach(ids, i, v) {
    if (rc < 0) break;
    const char *id = json_string_value(v);
    bson_t *q = BCON_NEW("_id", BCON_UTF8(id));
    bson_t *u = BCON_NEW("$pull", "{", "participants", "{", "id", BCON_UTF8(user), "}", "}");
    rc = mongo_query_update(c, MC_CONVS, q, u, 0);
    bson_destroy(q);
    bson_destroy(u);
    json_t *cv = NULL;
    if (rc >= 0 && (rc = reload(c, id, NULL, &cv)) == STORE_OK) json_array_append_new(convs, cv);
  }
  /* Its channels: it leaves each as a member does (the count moves; being an
   * admin holds nothing back). */
  json_array_clear(ids);
  if (rc >= 0) {
    f = BCON_NEW("user_id", BCON_UTF8(user));
    rc = mongo_query_map(c, MC_CHANNEL_MEMBERS, f, NULL, conv_id_of, ids);
    bson_destroy(f);
  }
  json_array_foreach(ids, i, v) {
    if (rc < 0) break;
    bson_t doc;
    rc = mongo_conv_load(c, json_string_value(v), NULL, &doc);
    if (rc == STORE_ENOTFOUND) {
      rc = STORE_OK;
      continue;
    }
    if (rc != STORE_OK) break;
    rc = mongo_channel_remove(c, &doc, user, 0);
    bson_destroy(&doc);
  }
  json_decref(ids);
  return rc < 0 ? rc : STORE_OK;
}

/* A group's participants are few (a request's worth): sorted and sliced here.
 * A channel's are paged in channel_members by user id. */
int mongo_conv_members(mongo_ctx_t *c, json_t *p, json_t **r) {
  const char *id = mongo_param_str(p, "id"), *user = mongo_param_str(p, "user_id");
  const char *cursor = mongo_param_str(p, "cursor");
  int64_t limit = 50;
  mongo_param_int(p, "limit", &limit);
  if (!id || !user || limit < 1 || limit > 1000) return STORE_EINVAL;
  bson_t doc;
  int rc = mongo_conv_load(c, id, user, &doc);
  if (rc != STORE_OK) return rc;
  json_t *page = json_array(), *all = NULL, *m;
  size_t i;
  if (mongo_channel_is(&doc)) {
    rc = mongo_channel_members_page(c, id, cursor, limit, page);
  } else {
    rc = mongo_conv_render(c, &doc, &all);
    json_t *parts = rc == 0 ? json_object_get(all, "participants") : NULL;
    /* Sorted by id: a selection of the next limit + 1 after the cursor. */
    const char *floor = cursor ? cursor : "";
    while (rc == 0 && json_array_size(page) < (size_t)limit + 1) {
      json_t *best = NULL;
      json_array_foreach(parts, i, m) {
        const char *mid = json_string_value(json_object_get(m, "id"));
        if (mid && strcmp(mid, floor) > 0 &&
            (!best || strcmp(mid, json_string_value(json_object_get(best, "id"))) < 0))
          best = m;
      }
      if (!best) break;
      json_array_append_new(
          page, json_pack("{s:O, s:O, s:O, s:O, s:O*}", "id", json_object_get(best, "id"), "name",
                          json_object_get(best, "name"), "role", json_object_get(best, "role"),
                          "avatar_url", json_object_get(best, "avatar_url"), "avatar_id",
                          json_object_get(best, "avatar_id")));
      floor = json_string_value(json_object_get(best, "id"));
    }
  }
  bson_destroy(&doc);
  json_t *names = json_object();
  if (rc == 0 && !all) {
    /* A channel's page: names in one query. */
    json_t *wrap = json_pack("[{s:O}]", "participants", page);
    rc = names_of(c, wrap, names);
    json_decref(wrap);
    json_array_foreach(page, i, m) {
      json_t *u = json_object_get(names, json_string_value(json_object_get(m, "id")));
      if (u) json_object_set(m, "name", json_object_get(u, "name"));
      json_t *url = json_object_get(u, "avatar_url"), *aid = json_object_get(u, "avatar_id");
      json_object_set(m, "avatar_url", url ? url : json_null());
      if (aid) json_object_set(m, "avatar_id", aid);
    }
  }
  json_decref(names);
  json_decref(all);
  if (rc < 0) {
    json_decref(page);
    return rc;
  }
  json_t *next = json_null();
  if (json_array_size(page) > (size_t)limit) {
    json_array_remove(page, (size_t)limit);
    next = json_incref(json_object_get(json_array_get(page, (size_t)limit - 1), "id"));
  }
  *r = json_pack("{s:o, s:o}", "members", page, "next_cursor", next);
  return STORE_OK;
}

int mongo_conv_assign(mongo_ctx_t *c, json_t *p, json_t **r) {
  const char *id = mongo_param_str(p, "id"), *user = mongo_param_str(p, "user_id");
  json_t *assignee = json_object_get(p, "assignee_id");
  if (!id || !user || !assignee || (!json_is_string(assignee) && !json_is_null(assignee)))
    return STORE_EINVAL;
  bson_t doc;
  int rc = mongo_conv_load(c, id, user, &doc);
  if (rc != STORE_OK) return rc;
  const char *type = mongo_bson_str(&doc, "type"), *owner = mongo_bson_str(&doc, "creator_id");
  const char *to = json_string_value(assignee);
  if (!type || strcmp(type, "instagram") != 0)
    rc = STORE_EFORBIDDEN;
  else if (to && !(owner && !strcmp(owner, to)))
    rc = mongo_conv_agent_of(c, &doc, to) == 1 ? STORE_OK : STORE_EINVAL;
  bson_destroy(&doc);
  if (rc != STORE_OK) return rc;
  bson_t *q = BCON_NEW("_id", BCON_UTF8(id));
  bson_t *update = bson_new(), set;
  bson_append_document_begin(update, "$set", -1, &set);
  mongo_bson_append_json(&set, "assignee_id", assignee);
  bson_append_document_end(update, &set);
  rc = mongo_query_modify(c, MC_CONVS, q, update, 0, 1, &doc);
  bson_destroy(q);
  bson_destroy(update);
  if (rc <= 0) return rc == 0 ? STORE_ENOTFOUND : rc;
  rc = mongo_conv_render(c, &doc, r);
  bson_destroy(&doc);
  return rc;
}
