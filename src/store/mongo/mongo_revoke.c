/* Access-token revocations in "revocations", keyed by "user:<id>" (a deleted
 * account) or "login:<id>" (an ended login), kept until the tokens they cover
 * have expired. Worker thread. */
#include <stdio.h>

#include "store/mongo/mongo_internal.h"

static int subject_of(char *out, size_t n, const char *user, const char *login) {
  int w = login ? snprintf(out, n, "login:%s", login) : snprintf(out, n, "user:%s", user);
  return w > 0 && (size_t)w < n ? 0 : -1;
}

static int drop_expired(mongo_ctx_t *c, int64_t now) {
  bson_t *filter = BCON_NEW("expires_at_ms", "{", "$lte", BCON_INT64(now), "}");
  int rc = mongo_query_delete(c, MC_REVOKED, filter, 1);
  bson_destroy(filter);
  return rc < 0 ? rc : STORE_OK;
}

/* An upsert with $max: saving one again (two instances, a retried call) keeps
 * the later times and never moves them back. */
int mongo_revoke_save(mongo_ctx_t *c, json_t *p, json_t **r) {
  const char *user = mongo_param_str(p, "user_id"), *login = mongo_param_str(p, "login_id");
  int64_t before, expires;
  char subject[160];
  if (!user || mongo_param_int(p, "before_ms", &before) < 0 ||
      mongo_param_int(p, "expires_at_ms", &expires) < 0 ||
      subject_of(subject, sizeof(subject), user, login) != 0)
    return STORE_EINVAL;
  int rc = drop_expired(c, before);
  if (rc < 0) return rc;
  bson_t *q = BCON_NEW("_id", BCON_UTF8(subject));
  bson_t *update = BCON_NEW("$set", "{", "user_id", BCON_UTF8(user), "}", "$max", "{", "before_ms",
                            BCON_INT64(before), "expires_at_ms", BCON_INT64(expires), "}");
  if (login) {
    bson_destroy(update);
    update =
        BCON_NEW("$set", "{", "user_id", BCON_UTF8(user), "login_id", BCON_UTF8(login), "}", "$max",
                 "{", "before_ms", BCON_INT64(before), "expires_at_ms", BCON_INT64(expires), "}");
  }
  rc = mongo_query_modify(c, MC_REVOKED, q, update, 1, 0, NULL);
  bson_destroy(q);
  bson_destroy(update);
  if (rc < 0) return rc;
  *r = json_object();
  return STORE_OK;
}

static json_t *revocation_json(mongo_ctx_t *c, const bson_t *doc) {
  return json_pack("{s:o, s:o, s:I}", "user_id", mongo_bson_json(doc, "user_id"), "login_id",
                   mongo_bson_json(doc, "login_id"), "before_ms",
                   (json_int_t)mongo_bson_int(doc, "before_ms", 0));
}

int mongo_revoke_list(mongo_ctx_t *c, json_t *p, json_t **r) {
  int64_t now, since = 0, limit = 1000;
  mongo_param_int(p, "limit", &limit);
  mongo_param_int(p, "since_ms", &since);
  if (mongo_param_int(p, "now_ms", &now) < 0 || limit < 1) return STORE_EINVAL;
  bson_t *filter = BCON_NEW("expires_at_ms", "{", "$gt", BCON_INT64(now), "}", "before_ms", "{",
                            "$gte", BCON_INT64(since), "}");
  bson_t *opts =
      BCON_NEW("sort", "{", "before_ms", BCON_INT32(-1), "}", "limit", BCON_INT64(limit));
  return mongo_query_list(c, MC_REVOKED, filter, opts, revocation_json, "revocations", r);
}
