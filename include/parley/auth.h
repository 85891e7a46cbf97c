/* Accounts' cryptography: the JWT signing key, access tokens (HS256 through
 * libjwt, algorithm pinned), refresh tokens (random, stored hashed), Argon2id
 * password hashing on libuv's thread pool, per-user access-token revocation, and
 * the small pure helper the auth handlers need (email rules).
 * Loop thread only, except the pure helpers, which are callable anywhere. */
#ifndef PARLEY_AUTH_H
#define PARLEY_AUTH_H

#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "parley/config.h"
#include "parley/http.h"

typedef struct auth_s auth_t;

/* Builds the auth state from cfg (borrowed for the call): the key is
 * cfg->jwt_secret, or 32 random bytes kept as hex in <data_dir>/jwt_secret (mode
 * 0600, created on first start, with a warning in the log). Also computes the
 * dummy password hash that login verifies against for unknown emails. Returns
 * NULL after logging why. */
auth_t *auth_new(uv_loop_t *loop, const config_t *cfg);
/* Frees it. Password jobs still in flight finish and call back with an error
 * status first only if the loop runs; call after the loop is done. */
void auth_free(auth_t *a);

/* The HTTP server's authenticate hook (auth is the auth_t): reads
 * "Authorization: Bearer <jwt>", verifies it, checks it is not revoked, and
 * fills req->user_id. Returns 0, -1 (the router then answers 401), or -2 while
 * the persisted revocations are not loaded yet (503: a token cannot be judged). */
int auth_authenticate(void *auth, http_req_t *req);

/* ---- access tokens (JWT HS256) ---- */

#define AUTH_ISSUER "parley"

/* A new access token for user_id valid cfg.access_token_ttl seconds from now_s,
 * tied to its login by the claim "sid" = login_id (the refresh-token family;
 * NULL for none), so ending that login ends the token. Returns a malloc'd
 * string (caller frees), or NULL. */
char *auth_token_issue(const auth_t *a, const char *user_id, const char *login_id, int64_t now_s);
/* Same with an explicit key and ttl (tests, tools). */
char *auth_token_issue_key(const unsigned char *key, size_t keylen, const char *user_id,
                           const char *login_id, int64_t now_s, int ttl_s);

#define AUTH_LOGIN_ID_MAX 32 /* a login id (sid) is shorter than this */

/* The claims of a verified token. sid is empty for tokens issued before logins
 * were tied to them: those end by deletion or expiry only. */
typedef struct auth_claims_s {
  char sub[64];
  char jti[64];
  char sid[AUTH_LOGIN_ID_MAX];
  int64_t iat, exp;
} auth_claims_t;

enum auth_token_status {
  AUTH_TOKEN_OK = 0,
  AUTH_TOKEN_MALFORMED = -1, /* not three base64url parts of JSON */
  AUTH_TOKEN_BAD_ALG = -2,   /* header alg is not exactly HS256 (none, RS256, ...) */
  AUTH_TOKEN_BAD_SIG = -3,   /* signature does not match the key */
  AUTH_TOKEN_EXPIRED = -4,
  AUTH_TOKEN_BAD_CLAIMS = -5, /* iss is not "parley", sub/iat/exp missing or mistyped */
  AUTH_TOKEN_REVOKED = -6,
  AUTH_TOKEN_NOT_READY = -7, /* revocations not loaded yet: try again shortly */
};

/* Verifies a token at time now_s with the instance's key and revocations; a
 * token verified before is found by its bytes (then only its times and the
 * revocations are checked again). Loop thread.
 * Fills *out when it returns AUTH_TOKEN_OK. sid, when present, must be a
 * non-empty string shorter than AUTH_LOGIN_ID_MAX. */
int auth_token_verify(auth_t *a, const char *token, int64_t now_s, auth_claims_t *out);
/* Verifies signature and claims with an explicit key (no revocation check). */
int auth_token_verify_key(const unsigned char *key, size_t keylen, const char *token, int64_t now_s,
                          auth_claims_t *out);
/* The instance's access-token lifetime in seconds (expires_in). */
int auth_token_ttl(const auth_t *a);

/* ---- refresh tokens ---- */

#define AUTH_REFRESH_LEN 43 /* 32 bytes in unpadded base64url */

/* A new refresh token (43 chars + NUL) and its hex SHA-256 (64 chars + NUL). */
void auth_refresh_new(char token[AUTH_REFRESH_LEN + 1], char hash_hex[65]);
/* The hex SHA-256 of a presented token. Returns 0, or -1 when it cannot be one
 * of ours (wrong length or alphabet): the caller answers as for an unknown one. */
int auth_refresh_hash(const char *token, size_t len, char hash_hex[65]);

/* ---- passwords (Argon2id, off the loop) ---- */

/* Completion on the loop thread. For a hash: status 0 and the encoded hash
 * (borrowed for the call), or -1. For a verification: status 0 when the password
 * matches, 1 when it does not, -1 on an internal error or cancellation. */
typedef void (*auth_password_cb)(void *ctx, int status, const char *hash);

/* Hashes a password on libuv's thread pool with cfg.argon2_* limits. The
 * password is copied (and wiped after use). Returns 0 (cb runs once), or -1 when
 * too many jobs are in flight (answer 503; cb is not called). */
int auth_password_hash(auth_t *a, const char *password, size_t len, auth_password_cb cb, void *ctx);
/* Verifies a password against an encoded hash; hash NULL verifies against the
 * start-up dummy hash, so an unknown account costs the same work and fails. */
int auth_password_verify(auth_t *a, const char *hash, const char *password, size_t len,
                         auth_password_cb cb, void *ctx);
/* Jobs submitted and not yet called back. */
int auth_password_jobs(const auth_t *a);

/* ---- revocation of access tokens ---- */

/* Ending an account (deletion) or a login (logout) revokes the access tokens it
 * covers: those of user_id (or, with login_id, of that login only) issued at or
 * before before_ms. The store keeps revocations until those tokens have expired
 * (REVOKE_SAVE, loaded at start with REVOKE_LIST), the bus spreads them. */
#define AUTH_REVOKE_CHANNEL "auth.revoke" /* account deletions */
#define AUTH_LOGOUT_CHANNEL                               \
  "auth.logout" /* ended logins (a channel of its own, so \
                 * that an older instance never reads one \
                 * as a deletion) */

typedef struct auth_revocation_s {
  char user_id[64];
  char login_id[AUTH_LOGIN_ID_MAX]; /* empty: every login of the user (deletion) */
  int64_t before_ms;
} auth_revocation_t;

/* Fills *r; returns 0, or -1 when an id is empty or too long. login_id NULL or
 * "" for a deletion. */
int auth_revocation_make(auth_revocation_t *r, const char *user_id, const char *login_id,
                         int64_t before_ms);
/* Applies r on this instance. Returns 1 when it revoked something not revoked
 * before (the caller then ends the sessions it covers), 0 when it was known,
 * -1 when memory ran out (not applied: the caller must not go on as if). At most
 * AUTH_REVOKE_MAX are kept; past that the oldest goes (its tokens expire within
 * one token lifetime). */
#define AUTH_REVOKE_MAX 65536
int auth_revoke(auth_t *a, const auth_revocation_t *r);
/* Forgets revocations whose tokens have all expired by now_ms. */
void auth_revoke_prune(auth_t *a, int64_t now_ms);
/* Revocations held. */
size_t auth_revoke_count(const auth_t *a);
/* Until when a revocation made at before_ms must be kept (ms). */
int64_t auth_revoke_keep_until(const auth_t *a, int64_t before_ms);
/* 1 when verified claims are revoked (their user's or their login's). */
int auth_is_revoked(const auth_t *a, const auth_claims_t *c);
/* The bus payload of r ({"user_id", "login_id"?, "before_ms"}), for
 * AUTH_REVOKE_CHANNEL or, with a login, AUTH_LOGOUT_CHANNEL. Malloc'd. */
char *auth_revoke_message(const auth_revocation_t *r);
const char *auth_revoke_channel(const auth_revocation_t *r);
/* Parses such a payload into *r. Returns 0, or -1 when malformed (ignored). */
int auth_revoke_parse(const char *payload, size_t len, auth_revocation_t *r);
/* Whether tokens can be judged: 0 from auth_set_ready(a, 0) until the persisted
 * revocations are loaded and auth_set_ready(a, 1) is called. Ready by default
 * (unit tests, tools). */
void auth_set_ready(auth_t *a, int ready);
int auth_ready(const auth_t *a);

/* ---- one-time codes mailed to users ---- */

#define AUTH_VERIFY_CODE_LEN 6   /* digits */
#define AUTH_RESET_CODE_LEN 20   /* Crockford base32 characters, 100 bits */
#define AUTH_CODE_SELECTOR_LEN 8 /* a reset code's first characters name it */

/* A new verification code: six random digits. */
void auth_code_digits(char out[AUTH_VERIFY_CODE_LEN + 1]);
/* A new reset code: AUTH_RESET_CODE_LEN characters of Crockford's base32. */
void auth_code_reset(char out[AUTH_RESET_CODE_LEN + 1]);
/* A code as typed: spaces and dashes dropped, upper-cased, O read as 0 and I,
 * L as 1. Returns 0 with out filled, or -1 when it holds anything else or does
 * not fit (outlen bytes with the NUL). */
int auth_code_normalize(const char *in, size_t len, char *out, size_t outlen);
/* The stored form of a code: hex HMAC-SHA256 under the instance's token key of
 * purpose ("verify", "reset"), subject (the user id for a verification code,
 * "" for a reset code) and the normalised code. */
void auth_code_hash(const auth_t *a, const char *purpose, const char *subject, const char *code,
                    char hex[65]);

/* ---- pure helpers ---- */

/* Trims ASCII whitespace, lower-cases, and checks that [in, in+len) looks like
 * an email (local@domain.tld, at most 254 bytes, printable ASCII, no spaces).
 * Writes the result into out (>= 255 bytes). Returns 0 or -1. */
int auth_email_normalize(const char *in, size_t len, char out[255]);

#endif
