/* Bots in "bots" (their user in "users", kind "bot") and their outbox in
 * "bot_deliveries" ({_id: "<bot id>:<key>", bot_id, ord, message_id,
 * payload, attempts}, the key the message id, or "<message id>:<fresh id>"
 * for a change to it); ord comes from the bot's own counter (next_ord), so a
 * bot's deliveries are ordered whatever instance queued them. A bot is leased
 * with one conditional findAndModify on its lease, so two instances never
 * claim the same one. Worker thread. */
#include <string.h>

#include "parley/util.h"
#include "store/mongo/mongo_internal.h"

static json_t *bot_json(mongo_ctx_t *c, const bson_t *doc) {
  (void)c;
  json_t *disabled = mongo_bson_json(doc, "disabled_at_ms");
  json_t *at = json_null();
  if (json_is_integer(disabled)) {
    char iso[32];
    util_iso8601(json_integer_value(disabled), iso);
    json_decref(at);
    at = json_string(iso);
  }
  json_decref(disabled);
  return json_pack("{s:o, s:o, s:o, s:o, s:o, s:I, s:o, s:o, s:I, s:o}", "id",
                   mongo_bson_json(doc, "_id"), "name", mongo_bson_json(doc, "name"), "owner_id",
                   mongo_bson_json(doc, "owner_id"), "webhook_url",
                   mongo_bson_json(doc, "webhook_url"), "status", mongo_bson_json(doc, "status"),
                   "failures", (json_int_t)mongo_bson_int(doc, "failures", 0), "last_error",
                   mongo_bson_json(doc, "last_error"), "disabled_at", at, "queued",
                   (json_int_t)mongo_bson_int(doc, "queued", 0), "created_at",
                   mongo_bson_iso(doc, "created_at"));
}

static int bot_load(mongo_ctx_t *c, const char *id, const char *owner, json_t **out) {
  bson_t *filter = owner ? BCON_NEW("_id", BCON_UTF8(id), "owner_id", BCON_UTF8(owner))
                         : BCON_NEW("_id", BCON_UTF8(id));
  bson_t doc;
  int rc = mongo_query_one(c, MC_BOTS, filter, NULL, &doc);
  bson_destroy(filter);
  if (rc <= 0) return rc == 0 ? STORE_ENOTFOUND : rc;
  *out = bot_json(c, &doc);
  bson_destroy(&doc);
  return STORE_OK;
}

int mongo_bot_create(mongo_ctx_t *c, json_t *p, json_t **r) {
  const char *owner = mongo_param_str(p, "owner_id"), *name = mongo_param_str(p, "name");
  const char *url = mongo_param_str(p, "webhook_url"), *hash = mongo_param_str(p, "token_hash");
  const char *secret = mongo_param_str(p, "secret_cipher");
  int64_t max = 0;
  if (!owner || !name || !url || !hash || !secret || mongo_param_int(p, "max", &max) != 0 ||
      max < 1)
    return STORE_EINVAL;
  bson_t *count_q = BCON_NEW("owner_id", BCON_UTF8(owner));
  bson_error_t e;
  int64_t n =
      mongoc_collection_count_documents(mongo_ctx_coll(c, MC_BOTS), count_q, NULL, NULL, NULL, &e);
  bson_destroy(count_q);
  if (n < 0) return mongo_ctx_error(c, &e);
  if (n >= max) return STORE_ECONFLICT;
  char id[25];
  util_new_id(id);
  int64_t now = util_now_ms();
  bson_t *user = BCON_NEW("_id", BCON_UTF8(id), "name", BCON_UTF8(name), "avatar_url", BCON_NULL,
                          "status", BCON_UTF8("online"), "created_at", BCON_DATE_TIME(now),
                          "email_verified", BCON_BOOL(true), "kind", BCON_UTF8("bot"));
  int rc = mongo_query_insert(c, MC_USERS, user);
  bson_destroy(user);
  if (rc != 1) return rc;
  bson_t *bot = BCON_NEW(
      "_id", BCON_UTF8(id), "name", BCON_UTF8(name), "owner_id", BCON_UTF8(owner), "webhook_url",
      BCON_UTF8(url), "token_hash", BCON_UTF8(hash), "secret_cipher", BCON_UTF8(secret), "status",
      BCON_UTF8("active"), "failures", BCON_INT64(0), "last_error", BCON_NULL, "queued",
      BCON_INT64(0), "next_at_ms", BCON_INT64(0), "lease_until_ms", BCON_INT64(0), "next_ord",
      BCON_INT64(0), "created_at", BCON_DATE_TIME(now));
  rc = mongo_query_insert(c, MC_BOTS, bot);
  if (rc == 1) *r = bot_json(c, bot);
  bson_destroy(bot);
  return rc == 1 ? STORE_OK : rc;
}

int mongo_bot_list(mongo_ctx_t *c, json_t *p, json_t **r) {
  const char *owner = mongo_param_str(p, "owner_id");
  if (!owner) return STORE_EINVAL;
  bson_t *opts = BCON_NEW("sort", "{", "created_at", BCON_INT32(1), "_id", BCON_INT32(1), "}");
  return mongo_query_list(c, MC_BOTS, BCON_NEW("owner_id", BCON_UTF8(owner)), opts, bot_json,
                          "bots", r);
}

int mongo_bot_get(mongo_ctx_t *c, json_t *p, json_t **r) {
  const char *id = mongo_param_str(p, "id"), *owner = mongo_param_str(p, "owner_id");
  if (!id || !owner) return STORE_EINVAL;
  return bot_load(c, id, owner, r);
}

int mongo_bot_update(mongo_ctx_t *c, json_t *p, json_t **r) {
  const char *id = mongo_param_str(p, "id"), *owner = mongo_param_str(p, "owner_id");
  const char *name = mongo_param_str(p, "name"), *url = mongo_param_str(p, "webhook_url");
  if (!id || !owner) return STORE_EINVAL;
  bson_t set = BSON_INITIALIZER;
  if (name) BSON_APPEND_UTF8(&set, "name", name);
  if (url) BSON_APPEND_UTF8(&set, "webhook_url", url);
  if (url || json_is_true(json_object_get(p, "enable"))) {
    BSON_APPEND_UTF8(&set, "status", "active");
    BSON_APPEND_INT64(&set, "failures", 0);
    BSON_APPEND_NULL(&set, "last_error");
    BSON_APPEND_NULL(&set, "disabled_at_ms");
    BSON_APPEND_INT64(&set, "next_at_ms", 0);
  }
  int rc = STORE_OK;
  if (!bson_empty(&set)) {
    bson_t *q = BCON_NEW("_id", BCON_UTF8(id), "owner_id", BCON_UTF8(owner));
    bson_t u = BSON_INITIALIZER;
    BSON_APPEND_DOCUMENT(&u, "$set", &set);
    rc = mongo_query_update(c, MC_BOTS, q, &u, 0);
    bson_destroy(q);
    bson_destroy(&u);
    if (rc == 0) rc = STORE_ENOTFOUND;
    if (rc == 1 && name) {
      bson_t *uq = BCON_NEW("_id", BCON_UTF8(id));
      bson_t *uu = BCON_NEW("$set", "{", "name", BCON_UTF8(name), "}");
      rc = mongo_query_update(c, MC_USERS, uq, uu, 0);
      bson_destroy(uq);
      bson_destroy(uu);
    }
    if (rc >= 0) rc = STORE_OK;
  }
  bson_destroy(&set);
  return rc == STORE_OK ? bot_load(c, id, owner, r) : rc;
}

int mongo_bot_token(mongo_ctx_t *c, json_t *p, json_t **r) {
  const char *id = mongo_param_str(p, "id"), *owner = mongo_param_str(p, "owner_id");
  const char *hash = mongo_param_str(p, "token_hash");
  if (!id || !owner || !hash) return STORE_EINVAL;
  bson_t *q = BCON_NEW("_id", BCON_UTF8(id), "owner_id", BCON_UTF8(owner));
  bson_t *u = BCON_NEW("$set", "{", "token_hash", BCON_UTF8(hash), "}");
  int rc = mongo_query_update(c, MC_BOTS, q, u, 0);
  bson_destroy(q);
  bson_destroy(u);
  if (rc < 0) return rc;
  if (rc == 0) return STORE_ENOTFOUND;
  return bot_load(c, id, owner, r);
}

int mongo_bot_delete(mongo_ctx_t *c, json_t *p, json_t **r) {
  const char *id = mongo_param_str(p, "id"), *owner = mongo_param_str(p, "owner_id");
  if (!id || !owner) return STORE_EINVAL;
  bson_t *q = BCON_NEW("_id", BCON_UTF8(id), "owner_id", BCON_UTF8(owner));
  int rc = mongo_query_delete(c, MC_BOTS, q, 0);
  bson_destroy(q);
  if (rc < 0) return rc;
  if (rc == 0) return STORE_ENOTFOUND;
  bson_t *dq = BCON_NEW("bot_id", BCON_UTF8(id));
  rc = mongo_query_delete(c, MC_BOT_DELIVERIES, dq, 1);
  bson_destroy(dq);
  if (rc < 0) return rc;
  json_t *convs = json_array();
  if ((rc = mongo_conv_leave_all(c, id, convs)) != STORE_OK) {
    json_decref(convs);
    return rc;
  }
  bson_t *uq = BCON_NEW("_id", BCON_UTF8(id));
  bson_t *uu = BCON_NEW("$set", "{", "name", BCON_UTF8("Deleted user"), "avatar_url", BCON_NULL,
                        "status", BCON_UTF8("offline"), "deleted", BCON_BOOL(true), "}");
  rc = mongo_query_update(c, MC_USERS, uq, uu, 0);
  bson_destroy(uq);
  bson_destroy(uu);
  if (rc < 0) {
    json_decref(convs);
    return rc;
  }
  *r = json_pack("{s:o}", "conversations", convs);
  return STORE_OK;
}

int mongo_bot_auth(mongo_ctx_t *c, json_t *p, json_t **r) {
  const char *hash = mongo_param_str(p, "token_hash");
  if (!hash) return STORE_EINVAL;
  bson_t *filter = BCON_NEW("token_hash", BCON_UTF8(hash));
  bson_t doc;
  int rc = mongo_query_one(c, MC_BOTS, filter, NULL, &doc);
  bson_destroy(filter);
  if (rc <= 0) return rc == 0 ? STORE_ENOTFOUND : rc;
  *r = bot_json(c, &doc);
  bson_destroy(&doc);
  return STORE_OK;
}

static json_t *id_of(mongo_ctx_t *c, const bson_t *doc) {
  (void)c;
  return mongo_bson_json(doc, "_id");
}

int mongo_bot_ids(mongo_ctx_t *c, json_t *p, json_t **r) {
  (void)p;
  bson_t *opts = BCON_NEW("projection", "{", "_id", BCON_INT32(1), "}");
  return mongo_query_list(c, MC_BOTS, bson_new(), opts, id_of, "ids", r);
}

/* Queues one delivery to bot id: its order from the bot's counter (checked against the
 * queue's bound), the delivery, and only then the bot's count of queued
 * deliveries. In that order a claim on another worker or instance, which
 * leases bots whose count is above 0 and resets a count that finds no
 * delivery, can never see the count before the delivery exists (the other
 * order lost deliveries: a claim between the two zeroed the count, and the
 * bot was not looked at again). 1 queued, 2 full, 0 not an active bot or
 * queued already, or a negative status. */
static int enqueue_one(mongo_ctx_t *c, const char *id, const char *msg, const char *key,
                       const char *payload, int64_t max) {
  bson_t *q = BCON_NEW("_id", BCON_UTF8(id), "status", BCON_UTF8("active"), "queued", "{", "$lt",
                       BCON_INT64(max), "}");
  bson_t *u = BCON_NEW("$inc", "{", "next_ord", BCON_INT64(1), "}");
  bson_t bot;
  int rc = mongo_query_modify(c, MC_BOTS, q, u, 0, 1, &bot);
  bson_destroy(q);
  bson_destroy(u);
  if (rc < 0) return rc;
  if (rc == 0) { /* full, or not an active bot */
    bson_t *f = BCON_NEW("_id", BCON_UTF8(id), "status", BCON_UTF8("active"));
    rc = mongo_query_one(c, MC_BOTS, f, NULL, NULL);
    bson_destroy(f);
    return rc < 0 ? rc : rc == 1 ? 2 : 0;
  }
  int64_t ord = mongo_bson_int(&bot, "next_ord", 0);
  bson_destroy(&bot);
  char did[160];
  snprintf(did, sizeof(did), "%s:%s", id, key);
  bson_t *doc =
      BCON_NEW("_id", BCON_UTF8(did), "bot_id", BCON_UTF8(id), "ord", BCON_INT64(ord), "message_id",
               BCON_UTF8(msg), "payload", BCON_UTF8(payload), "attempts", BCON_INT64(0));
  rc = mongo_query_insert(c, MC_BOT_DELIVERIES, doc);
  bson_destroy(doc);
  if (rc != 1) /* already queued (a retried call), or the insert failed */
    return rc == STORE_ECONFLICT ? 0 : rc;
  bson_t *bq = BCON_NEW("_id", BCON_UTF8(id));
  bson_t *bu = BCON_NEW("$inc", "{", "queued", BCON_INT64(1), "}");
  rc = mongo_query_update(c, MC_BOTS, bq, bu, 0);
  bson_destroy(bq);
  bson_destroy(bu);
  if (rc == 0) {
    /* The bot was deleted (BOT_DELETE on another worker or instance) since
     * its counter moved: its deletion may have run before this insert, so
     * the delivery is taken back rather than left for no one. */
    bson_t *dq = BCON_NEW("_id", BCON_UTF8(did));
    rc = mongo_query_delete(c, MC_BOT_DELIVERIES, dq, 0);
    bson_destroy(dq);
    return rc < 0 ? rc : 0;
  }
  return rc < 0 ? rc : 1;
}

static json_t *member_user(mongo_ctx_t *c, const bson_t *doc) {
  (void)c;
  return mongo_bson_json(doc, "user_id");
}

/* One event of BOT_ENQUEUE: the bots it was queued for to queued, those
 * whose queue is full to full. */
static int enqueue_item(mongo_ctx_t *c, json_t *p, json_t *queued, json_t *full) {
  json_t *given = json_object_get(p, "bot_ids");
  const char *msg = mongo_param_str(p, "message_id"), *payload = mongo_param_str(p, "payload");
  const char *key = mongo_param_str(p, "key"), *channel = mongo_param_str(p, "channel_id");
  const char *except = mongo_param_str(p, "except");
  int64_t max = 0;
  if (!json_is_array(given) || !msg || !payload || mongo_param_int(p, "queue_max", &max) != 0 ||
      max < 1 || (key && strlen(key) > 100))
    return STORE_EINVAL;
  /* The delivery's key: the message id for a new message, "<message
   * id>:<fresh id>" for a change, so a retried call queues nothing twice. */
  if (!key) key = msg;
  json_t *ids = json_copy(given);
  int rc = ids ? STORE_OK : STORE_EUNAVAILABLE;
  if (rc == STORE_OK && channel) {
    /* A channel's bots: its members marked bot (channel_members' partial index). */
    bson_t *f = BCON_NEW("conversation_id", BCON_UTF8(channel), "bot", BCON_BOOL(true));
    rc = mongo_query_map(c, MC_CHANNEL_MEMBERS, f, NULL, member_user, ids);
    bson_destroy(f);
    rc = rc < 0 ? rc : STORE_OK;
  }
  if (rc != STORE_OK) {
    json_decref(ids);
    return rc;
  }
  size_t i;
  json_t *v;
  json_array_foreach(ids, i, v) {
    const char *id = json_string_value(v);
    if (!id || strlen(id) > 40 || (except && channel && strcmp(id, except) == 0)) continue;
    rc = enqueue_one(c, id, msg, key, payload, max);
    if (rc < 0) break;
    if (rc == 1) json_array_append_new(queued, json_string(id));
    if (rc == 2) json_array_append_new(full, json_string(id));
    rc = STORE_OK;
  }
  json_decref(ids);
  return rc;
}

int mongo_bot_enqueue(mongo_ctx_t *c, json_t *p, json_t **r) {
  /* {items: [event]} queues each in turn, else p is one. */
  json_t *items = json_object_get(p, "items");
  if (items && (!json_is_array(items) || json_array_size(items) > BOTS_ENQUEUE_BATCH))
    return STORE_EINVAL;
  json_t *queued = json_array(), *full = json_array();
  int rc = STORE_OK;
  size_t i;
  json_t *item;
  if (items) {
    json_array_foreach(items, i, item) {
      if ((rc = enqueue_item(c, item, queued, full)) != STORE_OK) break;
    }
  } else {
    rc = enqueue_item(c, p, queued, full);
  }
  if (rc != STORE_OK) {
    json_decref(queued);
    json_decref(full);
    return rc;
  }
  *r = json_pack("{s:o, s:o}", "queued", queued, "full", full);
  return STORE_OK;
}

typedef struct {
  json_t *due;
  int64_t now, next;
} scan_t;

static void scan_one(void *arg, const bson_t *doc) {
  scan_t *s = arg;
  int64_t at = mongo_bson_int(doc, "next_at_ms", 0),
          lease = mongo_bson_int(doc, "lease_until_ms", 0);
  int64_t when = at > lease ? at : lease;
  if (when <= s->now)
    json_array_append_new(s->due, mongo_bson_json(doc, "_id"));
  else if (s->next < 0 || when < s->next)
    s->next = when;
}

/* The oldest delivery of bot into out (1), none (0), or a negative status. */
static int head(mongo_ctx_t *c, const char *bot, json_t *out) {
  bson_t *f = BCON_NEW("bot_id", BCON_UTF8(bot));
  bson_t *opts = BCON_NEW("sort", "{", "ord", BCON_INT32(1), "}");
  bson_t doc;
  int rc = mongo_query_one(c, MC_BOT_DELIVERIES, f, opts, &doc);
  bson_destroy(f);
  bson_destroy(opts);
  if (rc <= 0) return rc;
  json_object_set_new(out, "id", mongo_bson_json(&doc, "_id"));
  json_object_set_new(out, "message_id", mongo_bson_json(&doc, "message_id"));
  json_object_set_new(out, "payload", mongo_bson_json(&doc, "payload"));
  json_object_set_new(out, "attempts", json_integer(mongo_bson_int(&doc, "attempts", 0)));
  bson_destroy(&doc);
  return 1;
}

int mongo_bot_claim(mongo_ctx_t *c, json_t *p, json_t **r) {
  int64_t now = -1, lease = -1, limit = 0;
  if (mongo_param_int(p, "now_ms", &now) != 0 || mongo_param_int(p, "lease_ms", &lease) != 0 ||
      mongo_param_int(p, "limit", &limit) != 0 || now < 0 || lease < 1 || limit < 1 || limit > 1000)
    return STORE_EINVAL;
  /* Bots with something queued are few next to the messages: each is looked
   * at, and those due are leased one by one, each only if still free. */
  scan_t s = {json_array(), now, -1};
  bson_t *f = BCON_NEW("status", BCON_UTF8("active"), "queued", "{", "$gt", BCON_INT64(0), "}");
  bson_t *opts = BCON_NEW("projection", "{", "next_at_ms", BCON_INT32(1), "lease_until_ms",
                          BCON_INT32(1), "}", "limit", BCON_INT64(10000));
  int rc = mongo_query_each(c, MC_BOTS, f, opts, scan_one, &s);
  bson_destroy(f);
  bson_destroy(opts);
  json_t *out = json_array();
  size_t i;
  json_t *v;
  json_array_foreach(s.due, i, v) {
    if (rc < 0 || (int64_t)json_array_size(out) >= limit) break;
    const char *id = json_string_value(v);
    bson_t *q =
        BCON_NEW("_id", BCON_UTF8(id), "status", BCON_UTF8("active"), "next_at_ms", "{", "$lte",
                 BCON_INT64(now), "}", "lease_until_ms", "{", "$lte", BCON_INT64(now), "}");
    bson_t *u = BCON_NEW("$set", "{", "lease_until_ms", BCON_INT64(now + lease), "}");
    bson_t bot;
    rc = mongo_query_modify(c, MC_BOTS, q, u, 0, 1, &bot);
    bson_destroy(q);
    bson_destroy(u);
    if (rc <= 0) continue; /* another instance took it first */
    json_t *d = json_pack("{s:s, s:o, s:o, s:I}", "bot_id", id, "webhook_url",
                          mongo_bson_json(&bot, "webhook_url"), "secret_cipher",
                          mongo_bson_json(&bot, "secret_cipher"), "lease_until_ms",
                          (json_int_t)(now + lease));
    bson_destroy(&bot);
    rc = head(c, id, d);
    if (rc == 1) {
      json_array_append_new(out, d);
      continue;
    }
    json_decref(d);
    if (rc == 0) { /* the count drifted: nothing is queued after all */
      bson_t *bq = BCON_NEW("_id", BCON_UTF8(id));
      bson_t *bu =
          BCON_NEW("$set", "{", "queued", BCON_INT64(0), "lease_until_ms", BCON_INT64(0), "}");
      rc = mongo_query_update(c, MC_BOTS, bq, bu, 0);
      bson_destroy(bq);
      bson_destroy(bu);
    }
  }
  json_decref(s.due);
  if (rc < 0) {
    json_decref(out);
    return rc;
  }
  *r = json_pack("{s:o, s:o}", "deliveries", out, "next_due_ms",
                 s.next < 0 ? json_null() : json_integer(s.next));
  return STORE_OK;
}

int mongo_bot_done(mongo_ctx_t *c, json_t *p, json_t **r) {
  const char *bot = mongo_param_str(p, "bot_id"), *did = mongo_param_str(p, "delivery_id");
  const char *error = mongo_param_str(p, "error");
  int64_t lease = -1, now = 0, next = 0, max = 0;
  mongo_param_int(p, "now_ms", &now);
  mongo_param_int(p, "next_at_ms", &next);
  if (!bot || !did || mongo_param_int(p, "lease_until_ms", &lease) != 0 ||
      mongo_param_int(p, "max_failures", &max) != 0 || max < 1)
    return STORE_EINVAL;
  int ok = json_is_true(json_object_get(p, "ok"));
  bson_t *q = BCON_NEW("_id", BCON_UTF8(bot), "lease_until_ms", BCON_INT64(lease));
  bson_t cur;
  int rc = mongo_query_one(c, MC_BOTS, q, NULL, &cur);
  if (rc <= 0) {
    bson_destroy(q);
    return rc == 0 ? STORE_ENOTFOUND : rc;
  }
  int64_t failures = mongo_bson_int(&cur, "failures", 0);
  bson_destroy(&cur);
  int disabled = 0;
  bson_t *u;
  if (ok) {
    bson_t *dq = BCON_NEW("_id", BCON_UTF8(did), "bot_id", BCON_UTF8(bot));
    rc = mongo_query_delete(c, MC_BOT_DELIVERIES, dq, 0);
    bson_destroy(dq);
    if (rc < 0) {
      bson_destroy(q);
      return rc;
    }
    u = BCON_NEW("$set", "{", "failures", BCON_INT64(0), "last_error", BCON_NULL, "next_at_ms",
                 BCON_INT64(0), "lease_until_ms", BCON_INT64(0), "}", "$inc", "{", "queued",
                 BCON_INT64(-rc), "}");
  } else {
    disabled = failures + 1 >= max;
    bson_t *dq = BCON_NEW("_id", BCON_UTF8(did));
    bson_t *du = BCON_NEW("$inc", "{", "attempts", BCON_INT64(1), "}");
    rc = mongo_query_update(c, MC_BOT_DELIVERIES, dq, du, 0);
    bson_destroy(dq);
    bson_destroy(du);
    if (rc < 0) {
      bson_destroy(q);
      return rc;
    }
    u = BCON_NEW("$set", "{", "last_error", BCON_UTF8(error ? error : "failed"), "next_at_ms",
                 BCON_INT64(next), "lease_until_ms", BCON_INT64(0), "}", "$inc", "{", "failures",
                 BCON_INT64(1), "}");
    if (disabled) {
      bson_t *du2 = BCON_NEW("$set", "{", "status", BCON_UTF8("disabled"), "disabled_at_ms",
                             BCON_INT64(now), "}");
      bson_t *dq2 = BCON_NEW("_id", BCON_UTF8(bot));
      rc = mongo_query_update(c, MC_BOTS, dq2, du2, 0);
      bson_destroy(dq2);
      bson_destroy(du2);
      if (rc < 0) {
        bson_destroy(q);
        bson_destroy(u);
        return rc;
      }
    }
  }
  rc = mongo_query_update(c, MC_BOTS, q, u, 0);
  bson_destroy(q);
  bson_destroy(u);
  if (rc < 0) return rc;
  json_t *b = NULL;
  if ((rc = bot_load(c, bot, NULL, &b)) != STORE_OK) return rc;
  *r = json_pack("{s:o, s:b}", "bot", b, "disabled", disabled);
  return STORE_OK;
}
