/* Logins in "logins": {_id: the refresh family, family_id (the same, so that
 * revoking by family reaches it), user_id, device_name, ip, created_at_ms,
 * last_used_at_ms, expires_at_ms, ended}. Listing the live ones and ending
 * them, with their refresh tokens. Worker thread. */
#include <string.h>

#include "parley/util.h"
#include "store/mongo/mongo_internal.h"

static json_t *login_json(mongo_ctx_t *c, const bson_t *doc) {
  return json_pack("{s:o, s:o, s:o, s:o, s:o}", "id", mongo_bson_json(doc, "_id"), "device_name",
                   mongo_bson_json(doc, "device_name"), "ip", mongo_bson_json(doc, "ip"),
                   "created_at", mongo_bson_iso(doc, "created_at_ms"), "last_used_at",
                   mongo_bson_iso(doc, "last_used_at_ms"));
}

static json_t *id_json(mongo_ctx_t *c, const bson_t *doc) { return mongo_bson_json(doc, "_id"); }

static bson_t *live_filter(const char *user, int64_t now) {
  return BCON_NEW("user_id", BCON_UTF8(user), "ended", BCON_BOOL(false), "expires_at_ms", "{",
                  "$gt", BCON_INT64(now), "}");
}

static bson_t *recent_first(int64_t skip, int64_t limit) {
  bson_t *opts =
      BCON_NEW("sort", "{", "last_used_at_ms", BCON_INT32(-1), "_id", BCON_INT32(1), "}");
  if (skip) BSON_APPEND_INT64(opts, "skip", skip);
  if (limit) BSON_APPEND_INT64(opts, "limit", limit);
  return opts;
}

int mongo_login_record(mongo_ctx_t *c, json_t *p, json_t *ended) {
  const char *user = mongo_param_str(p, "user_id"), *family = mongo_param_str(p, "family_id");
  const char *ip = mongo_param_str(p, "ip");
  int64_t now = 0, exp = 0;
  mongo_param_int(p, "now_ms", &now);
  mongo_param_int(p, "expires_at_ms", &exp);
  bson_t *doc =
      BCON_NEW("_id", BCON_UTF8(family), "family_id", BCON_UTF8(family), "user_id", BCON_UTF8(user),
               "device_name", BCON_UTF8(mongo_param_str(p, "device_name")), "ip",
               BCON_UTF8(ip ? ip : ""), "created_at_ms", BCON_INT64(now), "last_used_at_ms",
               BCON_INT64(now), "expires_at_ms", BCON_INT64(exp), "ended", BCON_BOOL(false));
  int rc = mongo_query_insert(c, MC_LOGINS, doc);
  bson_destroy(doc);
  if (rc < 0) return rc;
  bson_t *filter = live_filter(user, now), *opts = recent_first(LOGINS_MAX, 0);
  rc = mongo_query_map(c, MC_LOGINS, filter, opts, id_json, ended);
  bson_destroy(filter);
  bson_destroy(opts);
  if (rc < 0) return rc;
  return mongo_login_end_families(c, ended);
}

int mongo_login_end_families(mongo_ctx_t *c, json_t *ended) {
  size_t i;
  json_t *v;
  json_array_foreach(ended, i, v) {
    /* a login's _id is its family's id (family_id_1 is refresh_tokens') */
    bson_t *filter = BCON_NEW("family_id", BCON_UTF8(json_string_value(v)));
    bson_t *login = BCON_NEW("_id", BCON_UTF8(json_string_value(v)));
    bson_t *revoke = BCON_NEW("$set", "{", "revoked", BCON_BOOL(true), "}");
    bson_t *end = BCON_NEW("$set", "{", "ended", BCON_BOOL(true), "}");
    int rc = mongo_query_update(c, MC_REFRESH, filter, revoke, 1);
    if (rc >= 0) rc = mongo_query_update(c, MC_LOGINS, login, end, 1);
    bson_destroy(filter);
    bson_destroy(login);
    bson_destroy(revoke);
    bson_destroy(end);
    if (rc < 0) return rc;
  }
  return 0;
}

int mongo_login_list(mongo_ctx_t *c, json_t *p, json_t **r) {
  const char *user = mongo_param_str(p, "user_id");
  int64_t now = 0;
  if (!user || mongo_param_int(p, "now_ms", &now) < 0) return STORE_EINVAL;
  return mongo_query_list(c, MC_LOGINS, live_filter(user, now), recent_first(0, LOGINS_MAX),
                          login_json, "logins", r);
}

/* Collects the distinct families of the live tokens the filter matches. */
static void add_family(void *arg, const bson_t *doc) {
  json_t *out = arg;
  const char *family = mongo_bson_str(doc, "family_id");
  if (!family) return;
  size_t i;
  json_t *v;
  json_array_foreach(out, i, v) if (strcmp(json_string_value(v), family) == 0) return;
  json_array_append_new(out, json_string(family));
}

int mongo_login_end(mongo_ctx_t *c, json_t *p, json_t **r) {
  const char *user = mongo_param_str(p, "user_id"), *id = mongo_param_str(p, "id");
  const char *except = mongo_param_str(p, "except_id");
  int64_t now = 0;
  if (!user || mongo_param_int(p, "now_ms", &now) < 0) return STORE_EINVAL;
  bson_t *filter = BCON_NEW("user_id", BCON_UTF8(user), "revoked", BCON_BOOL(false), "rotated",
                            BCON_BOOL(false), "expires_at_ms", "{", "$gt", BCON_INT64(now), "}");
  if (id) BSON_APPEND_UTF8(filter, "family_id", id);
  if (!id && except) BCON_APPEND(filter, "family_id", "{", "$ne", BCON_UTF8(except), "}");
  bson_t *opts = BCON_NEW("projection", "{", "family_id", BCON_INT32(1), "}");
  json_t *ended = json_array();
  int rc = mongo_query_each(c, MC_REFRESH, filter, opts, add_family, ended);
  bson_destroy(filter);
  bson_destroy(opts);
  if (rc >= 0 && id && json_array_size(ended) == 0) rc = STORE_ENOTFOUND;
  if (rc >= 0) rc = mongo_login_end_families(c, ended);
  if (rc < 0) {
    json_decref(ended);
    return rc;
  }
  *r = json_pack("{s:o}", "ended", ended);
  return STORE_OK;
}
