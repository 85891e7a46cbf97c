/* Refresh tokens in "refresh_tokens", keyed by the token's hash: creation,
 * rotation with reuse detection (a rotated token presented again revokes its
 * family), revocation. Worker thread. */
#include "parley/util.h"
#include "store/mongo/mongo_internal.h"

/* Rows that can no longer matter are dropped on the way, so that the collections
 * stay bounded by the logins and rotations of one token lifetime: a new login
 * drops the user's expired tokens and ended or expired logins, a rotation its
 * family's expired tokens. An expired token presented is refused whether or not
 * its document is still there. */
static int drop_expired(mongo_ctx_t *c, const char *field, const char *value, int64_t now) {
  bson_t *filter =
      BCON_NEW(field, BCON_UTF8(value), "expires_at_ms", "{", "$lte", BCON_INT64(now), "}");
  int rc = mongo_query_delete(c, MC_REFRESH, filter, 1);
  bson_destroy(filter);
  if (rc < 0 || strcmp(field, "user_id") != 0) return rc < 0 ? rc : STORE_OK;
  filter = BCON_NEW("user_id", BCON_UTF8(value), "$or", "[", "{", "ended", BCON_BOOL(true), "}",
                    "{", "expires_at_ms", "{", "$lte", BCON_INT64(now), "}", "}", "]");
  rc = mongo_query_delete(c, MC_LOGINS, filter, 1);
  bson_destroy(filter);
  return rc < 0 ? rc : STORE_OK;
}

int mongo_refresh_create(mongo_ctx_t *c, json_t *p, json_t **r) {
  const char *hash = mongo_param_str(p, "token_hash"), *user = mongo_param_str(p, "user_id");
  const char *family = mongo_param_str(p, "family_id");
  int64_t exp, now;
  if (!hash || !user || !family || mongo_param_int(p, "expires_at_ms", &exp) < 0)
    return STORE_EINVAL;
  if (mongo_param_int(p, "now_ms", &now) == 0) {
    int drc = drop_expired(c, "user_id", user, now);
    if (drc < 0) return drc;
  }
  bson_t *doc =
      BCON_NEW("_id", BCON_UTF8(hash), "user_id", BCON_UTF8(user), "family_id", BCON_UTF8(family),
               "expires_at_ms", BCON_INT64(exp), "rotated", BCON_BOOL(false), "revoked",
               BCON_BOOL(false), "created_at", BCON_DATE_TIME(util_now_ms()));
  int rc = mongo_query_insert(c, MC_REFRESH, doc);
  bson_destroy(doc);
  if (rc < 0) return rc;
  json_t *ended = json_array();
  if (mongo_param_str(p, "device_name")) rc = mongo_login_record(c, p, ended);
  if (rc < 0) {
    json_decref(ended);
    return rc;
  }
  *r = json_pack("{s:o}", "ended", ended);
  return STORE_OK;
}

/* Revokes the tokens whose field is value (a family or a user's), and ends the
 * logins they made. */
static int revoke_where(mongo_ctx_t *c, const char *field, const char *value) {
  bson_t *filter = BCON_NEW(field, BCON_UTF8(value));
  bson_t *update = BCON_NEW("$set", "{", "revoked", BCON_BOOL(true), "}");
  int rc = mongo_query_update(c, MC_REFRESH, filter, update, 1);
  bson_destroy(update);
  if (rc >= 0) {
    /* a login's _id is its family's id (family_id_1 is refresh_tokens') */
    bson_t *login = strcmp(field, "family_id") == 0 ? BCON_NEW("_id", BCON_UTF8(value)) : NULL;
    update = BCON_NEW("$set", "{", "ended", BCON_BOOL(true), "}");
    rc = mongo_query_update(c, MC_LOGINS, login ? login : filter, update, 1);
    bson_destroy(update);
    if (login) bson_destroy(login);
  }
  bson_destroy(filter);
  return rc < 0 ? rc : STORE_OK;
}

/* The token could not be rotated: tell unknown, expired and revoked (ENOTFOUND)
 * from a reuse of an already rotated token (EREVOKED, the family revoked). */
static int refused(mongo_ctx_t *c, const char *hash) {
  bson_t *filter = BCON_NEW("_id", BCON_UTF8(hash));
  bson_t doc;
  int rc = mongo_query_one(c, MC_REFRESH, filter, NULL, &doc);
  bson_destroy(filter);
  if (rc <= 0) return rc == 0 ? STORE_ENOTFOUND : rc;
  int reused = mongo_bson_bool(&doc, "rotated");
  const char *family = mongo_bson_str(&doc, "family_id");
  if (reused && family) rc = revoke_where(c, "family_id", family);
  bson_destroy(&doc);
  if (rc < 0) return rc;
  return reused ? STORE_EREVOKED : STORE_ENOTFOUND;
}

/* A rotation is the login's use: its last use, address and expiry move. */
static int touch_login(mongo_ctx_t *c, const char *family, int64_t now, int64_t exp,
                       const char *ip) {
  bson_t *filter = BCON_NEW("_id", BCON_UTF8(family));
  bson_t *update = BCON_NEW("$set", "{", "last_used_at_ms", BCON_INT64(now), "expires_at_ms",
                            BCON_INT64(exp), "}");
  if (ip) {
    bson_t *with_ip = BCON_NEW("$set", "{", "last_used_at_ms", BCON_INT64(now), "expires_at_ms",
                               BCON_INT64(exp), "ip", BCON_UTF8(ip), "}");
    bson_destroy(update);
    update = with_ip;
  }
  int rc = mongo_query_update(c, MC_LOGINS, filter, update, 0);
  bson_destroy(filter);
  bson_destroy(update);
  return rc < 0 ? rc : STORE_OK;
}

int mongo_refresh_rotate(mongo_ctx_t *c, json_t *p, json_t **r) {
  const char *hash = mongo_param_str(p, "token_hash"), *next = mongo_param_str(p, "new_token_hash");
  int64_t exp, now;
  if (!hash || !next || mongo_param_int(p, "new_expires_at_ms", &exp) < 0 ||
      mongo_param_int(p, "now_ms", &now) < 0)
    return STORE_EINVAL;
  /* Marking the token rotated is the atomic step: of two concurrent rotations
   * of one token, one wins and the other is a reuse. */
  bson_t *q = BCON_NEW("_id", BCON_UTF8(hash), "rotated", BCON_BOOL(false), "revoked",
                       BCON_BOOL(false), "expires_at_ms", "{", "$gt", BCON_INT64(now), "}");
  bson_t *update = BCON_NEW("$set", "{", "rotated", BCON_BOOL(true), "}");
  bson_t doc;
  int rc = mongo_query_modify(c, MC_REFRESH, q, update, 0, 0, &doc);
  bson_destroy(q);
  bson_destroy(update);
  if (rc < 0) return rc;
  if (rc == 0) return refused(c, hash);
  const char *user = mongo_bson_str(&doc, "user_id"), *family = mongo_bson_str(&doc, "family_id");
  json_t *np = json_pack("{s:s, s:s, s:s, s:I}", "token_hash", next, "user_id", user ? user : "",
                         "family_id", family ? family : "", "expires_at_ms", (json_int_t)exp);
  json_t *created = NULL;
  rc = mongo_refresh_create(c, np, &created);
  json_decref(np);
  json_decref(created);
  if (rc == STORE_OK && family) rc = drop_expired(c, "family_id", family, now);
  if (rc == STORE_OK && family) rc = touch_login(c, family, now, exp, mongo_param_str(p, "ip"));
  if (rc == STORE_OK)
    *r = json_pack("{s:s, s:s}", "user_id", user ? user : "", "family_id", family ? family : "");
  bson_destroy(&doc);
  return rc;
}

/* Answers whose login it ended, so that its access tokens and sessions can end
 * too. */
int mongo_refresh_revoke(mongo_ctx_t *c, json_t *p, json_t **r) {
  const char *hash = mongo_param_str(p, "token_hash");
  if (!hash) return STORE_EINVAL;
  bson_t *filter = BCON_NEW("_id", BCON_UTF8(hash));
  bson_t doc;
  int rc = mongo_query_one(c, MC_REFRESH, filter, NULL, &doc);
  bson_destroy(filter);
  if (rc < 0) return rc;
  json_t *out = json_object();
  if (rc == 1) {
    const char *family = mongo_bson_str(&doc, "family_id");
    const char *user = mongo_bson_str(&doc, "user_id");
    rc = family ? revoke_where(c, "family_id", family) : STORE_OK;
    if (rc == STORE_OK && family && user) {
      json_object_set_new(out, "user_id", json_string(user));
      json_object_set_new(out, "family_id", json_string(family));
    }
    bson_destroy(&doc);
    if (rc < 0) {
      json_decref(out);
      return rc;
    }
  }
  *r = out;
  return STORE_OK;
}

int mongo_refresh_revoke_user(mongo_ctx_t *c, json_t *p, json_t **r) {
  const char *user = mongo_param_str(p, "user_id");
  if (!user) return STORE_EINVAL;
  int rc = revoke_where(c, "user_id", user);
  if (rc < 0) return rc;
  *r = json_object();
  return STORE_OK;
}
