/* Access tokens: HS256 JWTs issued through libjwt. Verification does not trust
 * the token's header: it checks that alg is exactly HS256 itself, recomputes
 * the HMAC and compares it in constant time, then lets libjwt decode as a second
 * opinion, then checks the claims with strict types. Pure; any thread. */
#include <jansson.h>
#include <jwt.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/auth_internal.h"
#include "parley/util.h"

#define TOKEN_MAX 4096
#define CLOCK_SKEW_S 60

char *auth_token_issue_key(const unsigned char *key, size_t keylen, const char *user_id,
                           const char *login_id, int64_t now_s, int ttl_s) {
  jwt_t *jwt = NULL;
  char *out = NULL;
  char jti[25];
  if (!key || keylen == 0 || keylen > 0x7fffffff) return NULL;
  if (login_id && (!login_id[0] || strlen(login_id) >= AUTH_LOGIN_ID_MAX)) return NULL;
  util_new_id(jti);
  if (jwt_new(&jwt) != 0) return NULL;
  if (jwt_add_grant(jwt, "sub", user_id) || jwt_add_grant(jwt, "iss", AUTH_ISSUER) ||
      jwt_add_grant(jwt, "jti", jti) || jwt_add_grant_int(jwt, "iat", (long)now_s) ||
      jwt_add_grant_int(jwt, "exp", (long)(now_s + ttl_s)) ||
      (login_id && jwt_add_grant(jwt, "sid", login_id)) ||
      jwt_set_alg(jwt, JWT_ALG_HS256, key, (int)keylen))
    goto done;
  out = jwt_encode_str(jwt);
done:
  jwt_free(jwt);
  return out;
}

char *auth_token_issue(const auth_t *a, const char *user_id, const char *login_id, int64_t now_s) {
  return auth_token_issue_key(a->key, a->keylen, user_id, login_id, now_s, a->token_ttl);
}

/* Decodes one unpadded base64url part into a new JSON object, or NULL. */
static json_t *decode_json_part(const char *part, size_t len) {
  unsigned char raw[TOKEN_MAX];
  size_t rawlen = 0;
  if (sodium_base642bin(raw, sizeof(raw), part, len, NULL, &rawlen, NULL,
                        sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0)
    return NULL;
  json_t *j = json_loadb((const char *)raw, rawlen, JSON_REJECT_DUPLICATES, NULL);
  if (j && !json_is_object(j)) {
    json_decref(j);
    return NULL;
  }
  return j;
}

/* Only {"alg":"HS256"} with an optional typ "JWT": none, RS256, HS512, or a
 * critical extension we do not implement are all refused. */
static int check_header(const json_t *h) {
  const json_t *alg = json_object_get(h, "alg");
  const json_t *typ = json_object_get(h, "typ");
  if (!json_is_string(alg) || strcmp(json_string_value(alg), "HS256") != 0) return -1;
  if (typ && (!json_is_string(typ) || strcmp(json_string_value(typ), "JWT") != 0)) return -1;
  if (json_object_get(h, "crit")) return -1;
  return 0;
}

static int check_signature(const unsigned char *key, size_t keylen, const char *token,
                           size_t signed_len, const char *sig, size_t siglen) {
  unsigned char given[crypto_auth_hmacsha256_BYTES], want[crypto_auth_hmacsha256_BYTES];
  size_t givenlen = 0;
  if (sodium_base642bin(given, sizeof(given), sig, siglen, NULL, &givenlen, NULL,
                        sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0 ||
      givenlen != sizeof(given))
    return -1;
  crypto_auth_hmacsha256_state st;
  crypto_auth_hmacsha256_init(&st, key, keylen);
  crypto_auth_hmacsha256_update(&st, (const unsigned char *)token, signed_len);
  crypto_auth_hmacsha256_final(&st, want);
  return util_ct_equal(given, want, sizeof(want)) ? 0 : -1;
}

/* libjwt's own verdict; it must agree that this is a valid HS256 token. */
static int check_libjwt(const unsigned char *key, size_t keylen, const char *token) {
  jwt_t *jwt = NULL;
  if (jwt_decode(&jwt, token, key, (int)keylen) != 0 || !jwt) return -1;
  int ok = jwt_get_alg(jwt) == JWT_ALG_HS256;
  jwt_free(jwt);
  return ok ? 0 : -1;
}

static int copy_string_claim(const json_t *p, const char *name, char *out, size_t outlen) {
  const json_t *v = json_object_get(p, name);
  if (!json_is_string(v) || json_string_length(v) == 0 || json_string_length(v) >= outlen ||
      strlen(json_string_value(v)) != json_string_length(v))
    return -1;
  memcpy(out, json_string_value(v), json_string_length(v) + 1);
  return 0;
}

static int check_claims(const json_t *p, int64_t now_s, auth_claims_t *out) {
  const json_t *iss = json_object_get(p, "iss");
  const json_t *iat = json_object_get(p, "iat");
  const json_t *exp = json_object_get(p, "exp");
  if (!json_is_string(iss) || strcmp(json_string_value(iss), AUTH_ISSUER) != 0)
    return AUTH_TOKEN_BAD_CLAIMS;
  if (!json_is_integer(iat) || !json_is_integer(exp)) return AUTH_TOKEN_BAD_CLAIMS;
  if (copy_string_claim(p, "sub", out->sub, sizeof(out->sub)) != 0 ||
      copy_string_claim(p, "jti", out->jti, sizeof(out->jti)) != 0)
    return AUTH_TOKEN_BAD_CLAIMS;
  if (json_object_get(p, "sid") && copy_string_claim(p, "sid", out->sid, sizeof(out->sid)) != 0)
    return AUTH_TOKEN_BAD_CLAIMS;
  out->iat = json_integer_value(iat);
  out->exp = json_integer_value(exp);
  if (out->iat > now_s + CLOCK_SKEW_S) return AUTH_TOKEN_BAD_CLAIMS;
  if (out->exp <= now_s) return AUTH_TOKEN_EXPIRED;
  return AUTH_TOKEN_OK;
}

int auth_token_verify_key(const unsigned char *key, size_t keylen, const char *token, int64_t now_s,
                          auth_claims_t *out) {
  json_t *header = NULL, *payload = NULL;
  int rc = AUTH_TOKEN_MALFORMED;
  size_t len = token ? strnlen(token, TOKEN_MAX + 1) : 0;
  if (!key || keylen == 0 || len == 0 || len > TOKEN_MAX) return AUTH_TOKEN_MALFORMED;
  const char *dot1 = memchr(token, '.', len);
  const char *dot2 = dot1 ? memchr(dot1 + 1, '.', len - (size_t)(dot1 + 1 - token)) : NULL;
  if (!dot2 || dot1 == token || dot2 == dot1 + 1 || dot2 + 1 == token + len ||
      memchr(dot2 + 1, '.', len - (size_t)(dot2 + 1 - token)))
    return AUTH_TOKEN_MALFORMED;
  header = decode_json_part(token, (size_t)(dot1 - token));
  payload = decode_json_part(dot1 + 1, (size_t)(dot2 - dot1 - 1));
  if (!header || !payload) goto done;
  rc = AUTH_TOKEN_BAD_ALG;
  if (check_header(header) != 0) goto done;
  rc = AUTH_TOKEN_BAD_SIG;
  if (check_signature(key, keylen, token, (size_t)(dot2 - token), dot2 + 1,
                      len - (size_t)(dot2 + 1 - token)) != 0)
    goto done;
  if (check_libjwt(key, keylen, token) != 0) goto done;
  memset(out, 0, sizeof(*out));
  rc = check_claims(payload, now_s, out);
done:
  json_decref(header);
  json_decref(payload);
  return rc;
}

int auth_token_verify(auth_t *a, const char *token, int64_t now_s, auth_claims_t *out) {
  int rc = auth_token_cache_get(a->tokens, token, now_s, out);
  if (rc == 1) {
    rc = auth_token_verify_key(a->key, a->keylen, token, now_s, out);
    if (rc == AUTH_TOKEN_OK) auth_token_cache_put(a->tokens, token, out);
  }
  if (rc == AUTH_TOKEN_OK && !auth_ready(a)) rc = AUTH_TOKEN_NOT_READY;
  if (rc == AUTH_TOKEN_OK && auth_is_revoked(a, out)) rc = AUTH_TOKEN_REVOKED;
  return rc;
}
