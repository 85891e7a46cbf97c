/* One-time codes in "email_codes": {_id, user_id, purpose, code_hash,
 * expires_at_ms, attempts, used}. Using one is a findAndModify on the code
 * still live with that hash, so of two uses one wins; a wrong hash counts an
 * attempt. Worker thread. */
#include <string.h>

#include "store/mongo/mongo_internal.h"

static int purpose_ok(const char *purpose) {
  return purpose && (strcmp(purpose, "verify") == 0 || strcmp(purpose, "reset") == 0);
}

int mongo_code_create(mongo_ctx_t *c, json_t *p, json_t **r) {
  const char *id = mongo_param_str(p, "id"), *user = mongo_param_str(p, "user_id");
  const char *purpose = mongo_param_str(p, "purpose"), *hash = mongo_param_str(p, "code_hash");
  int64_t exp;
  if (!id || !user || !purpose_ok(purpose) || !hash ||
      mongo_param_int(p, "expires_at_ms", &exp) < 0)
    return STORE_EINVAL;
  bson_t *filter = BCON_NEW("user_id", BCON_UTF8(user), "purpose", BCON_UTF8(purpose));
  int rc = mongo_query_delete(c, MC_CODES, filter, 1);
  bson_destroy(filter);
  if (rc < 0) return rc;
  bson_t *doc = BCON_NEW("_id", BCON_UTF8(id), "user_id", BCON_UTF8(user), "purpose",
                         BCON_UTF8(purpose), "code_hash", BCON_UTF8(hash), "expires_at_ms",
                         BCON_INT64(exp), "attempts", BCON_INT32(0), "used", BCON_BOOL(false));
  rc = mongo_query_insert(c, MC_CODES, doc);
  bson_destroy(doc);
  if (rc < 0) return rc;
  *r = json_object();
  return STORE_OK;
}

/* The live code, by id or by (user, purpose), optionally with a given hash. */
static bson_t *live(json_t *p, const char *purpose, int64_t now, int64_t max, const char *hash) {
  const char *id = mongo_param_str(p, "id"), *user = mongo_param_str(p, "user_id");
  bson_t *q =
      BCON_NEW("purpose", BCON_UTF8(purpose), "used", BCON_BOOL(false), "expires_at_ms", "{", "$gt",
               BCON_INT64(now), "}", "attempts", "{", "$lt", BCON_INT64(max), "}");
  if (id)
    BSON_APPEND_UTF8(q, "_id", id);
  else
    BSON_APPEND_UTF8(q, "user_id", user);
  if (hash) BSON_APPEND_UTF8(q, "code_hash", hash);
  return q;
}

int mongo_code_use(mongo_ctx_t *c, json_t *p, json_t **r) {
  const char *purpose = mongo_param_str(p, "purpose"), *hash = mongo_param_str(p, "code_hash");
  const char *password = mongo_param_str(p, "password_hash");
  int64_t now, max = 5;
  if (!purpose_ok(purpose) || !hash || mongo_param_int(p, "now_ms", &now) < 0 ||
      (!mongo_param_str(p, "id") && !mongo_param_str(p, "user_id")))
    return STORE_EINVAL;
  mongo_param_int(p, "max_attempts", &max);
  bson_t *q = live(p, purpose, now, max, hash);
  bson_t *used = BCON_NEW("$set", "{", "used", BCON_BOOL(true), "}");
  bson_t doc;
  int rc = mongo_query_modify(c, MC_CODES, q, used, 0, 0, &doc);
  bson_destroy(q);
  bson_destroy(used);
  if (rc < 0) return rc;
  if (rc == 0) {
    /* No live code with that hash: a wrong try counts on the live code, if any. */
    q = live(p, purpose, now, max, NULL);
    bson_t *inc = BCON_NEW("$inc", "{", "attempts", BCON_INT32(1), "}");
    rc = mongo_query_update(c, MC_CODES, q, inc, 0);
    bson_destroy(q);
    bson_destroy(inc);
    return rc < 0 ? rc : STORE_ENOTFOUND;
  }
  const char *user = mongo_bson_str(&doc, "user_id");
  bson_t *filter =
      BCON_NEW("_id", BCON_UTF8(user ? user : ""), "deleted", "{", "$ne", BCON_BOOL(true), "}");
  bson_t *set = password ? BCON_NEW("$set", "{", "email_verified", BCON_BOOL(true), "password_hash",
                                    BCON_UTF8(password), "}")
                         : BCON_NEW("$set", "{", "email_verified", BCON_BOOL(true), "}");
  bson_t udoc;
  rc = mongo_query_modify(c, MC_USERS, filter, set, 0, 1, &udoc);
  bson_destroy(filter);
  bson_destroy(set);
  bson_destroy(&doc);
  if (rc <= 0) return rc < 0 ? rc : STORE_ENOTFOUND;
  *r = mongo_user_json(c, &udoc);
  bson_destroy(&udoc);
  return STORE_OK;
}
