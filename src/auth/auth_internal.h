/* The auth module's private state, shared by the files of src/auth/. One per
 * process, owned by the app; loop thread only (password workers see only
 * their own job). */
#ifndef PARLEY_AUTH_INTERNAL_H
#define PARLEY_AUTH_INTERNAL_H

#include <sodium.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "parley/auth.h"
#include "parley/strmap.h"

/* Argon2 jobs queued on libuv's pool at once; above it the API answers 503. The
 * pool is shared with store jobs, so a login burst must not fill it unbounded. */
#define AUTH_MAX_PASSWORD_JOBS 64

/* Hashes running at once: one core fewer than the machine has, so the loop
 * thread always has a core of its own during a login burst, and the rest of
 * libuv's pool stays free for store jobs. */
int auth_password_parallelism(void);

struct auth_s {
  uv_loop_t *loop;
  unsigned char *key; /* the HS256 key, wiped on free */
  size_t keylen;
  int token_ttl;
  unsigned long long opslimit;
  size_t memlimit;
  char dummy_hash[crypto_pwhash_STRBYTES];
  int jobs;                                 /* accepted, not yet called back */
  int running, parallel;                    /* hashes on the pool now, and at most */
  struct pw_job_s *queue_head, *queue_tail; /* accepted, waiting for a slot */
  /* Revocations within one token lifetime: "u:<user id>" or "l:<login id>"
   * -> a malloc'd int64_t, the before_ms. */
  strmap_t revoked;
  int ready; /* 0 until the persisted revocations are loaded (auth_set_ready) */
  struct auth_token_cache_s *tokens; /* verified tokens (token_cache.c); NULL: none kept */
};

/* src/auth/token_cache.c: verified tokens by their bytes. Loop thread. */
#define AUTH_TOKEN_CACHE_SLOTS 1024
#define AUTH_TOKEN_CACHE_MAX_LEN 1024 /* longer tokens are verified every time */
typedef struct auth_token_cache_s auth_token_cache_t;
auth_token_cache_t *auth_token_cache_new(void);
void auth_token_cache_free(auth_token_cache_t *c);
/* AUTH_TOKEN_OK with *out when token was verified before and has not expired
 * since, AUTH_TOKEN_EXPIRED or AUTH_TOKEN_BAD_CLAIMS when it was and its
 * times no longer pass, 1 when it is not known (verify it). Revocation is the
 * caller's to check. */
int auth_token_cache_get(auth_token_cache_t *c, const char *token, int64_t now_s,
                         auth_claims_t *out);
/* Remembers token, just verified by auth_token_verify_key, with its claims. */
void auth_token_cache_put(auth_token_cache_t *c, const char *token, const auth_claims_t *claims);

/* src/auth/secret.c: fills a->key from cfg.jwt_secret or the data-dir file. */
int auth_secret_load(auth_t *a, const char *configured, const char *data_dir);

#endif
