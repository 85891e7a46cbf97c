/* The auth state: the generated key persists (mode 0600) and a configured one
 * wins; Argon2 jobs run off the loop and call back on it; revocation covers the
 * tokens issued before it and travels as a bus payload; refresh tokens hash. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "parley/auth.h"
#include "parley/util.h"

typedef struct fixture_s {
  config_t cfg;
  uv_loop_t loop;
  char dir[64];
} fixture_t;

static int setup(void **state) {
  fixture_t *f = calloc(1, sizeof(*f));
  snprintf(f->dir, sizeof(f->dir), "/tmp/parley-auth-XXXXXX");
  if (!mkdtemp(f->dir)) return -1;
  uv_loop_init(&f->loop);
  f->cfg.data_dir = f->dir;
  f->cfg.access_token_ttl = 900;
  f->cfg.argon2_opslimit = 1; /* the minimum: these tests check flow, not cost */
  f->cfg.argon2_memlimit = 8192;
  *state = f;
  return 0;
}

static int teardown(void **state) {
  fixture_t *f = *state;
  char path[128];
  snprintf(path, sizeof(path), "%s/jwt_secret", f->dir);
  unlink(path);
  rmdir(f->dir);
  uv_loop_close(&f->loop);
  free(f);
  return 0;
}

static void generated_key_persists_with_mode_0600(void **state) {
  fixture_t *f = *state;
  auth_t *a = auth_new(&f->loop, &f->cfg);
  assert_non_null(a);
  char path[128];
  snprintf(path, sizeof(path), "%s/jwt_secret", f->dir);
  struct stat st;
  assert_int_equal(stat(path, &st), 0);
  assert_int_equal(st.st_mode & 0777, 0600);
  char *t = auth_token_issue(a, "u1", "login1", util_now_ms() / 1000);
  auth_free(a);
  /* A restart reads the same key: the token still verifies. */
  a = auth_new(&f->loop, &f->cfg);
  assert_non_null(a);
  auth_claims_t c;
  assert_int_equal(auth_token_verify(a, t, util_now_ms() / 1000, &c), AUTH_TOKEN_OK);
  auth_free(a);
  /* A configured secret replaces the file's key: the old token is refused. */
  f->cfg.jwt_secret = "configured-secret-configured-secret";
  a = auth_new(&f->loop, &f->cfg);
  assert_int_equal(auth_token_verify(a, t, util_now_ms() / 1000, &c), AUTH_TOKEN_BAD_SIG);
  auth_free(a);
  f->cfg.jwt_secret = NULL;
  free(t);
}

static void corrupt_key_file_fails_start(void **state) {
  fixture_t *f = *state;
  char path[128];
  snprintf(path, sizeof(path), "%s/jwt_secret", f->dir);
  FILE *fp = fopen(path, "w");
  fputs("not hex\n", fp);
  fclose(fp);
  assert_null(auth_new(&f->loop, &f->cfg));
}

typedef struct result_s {
  int calls, status;
  char hash[crypto_pwhash_STRBYTES];
} result_t;

static void on_pw(void *ctx, int status, const char *hash) {
  result_t *r = ctx;
  r->calls++;
  r->status = status;
  if (hash) snprintf(r->hash, sizeof(r->hash), "%s", hash);
}

static void password_hash_and_verify(void **state) {
  fixture_t *f = *state;
  auth_t *a = auth_new(&f->loop, &f->cfg);
  result_t h = {0}, ok = {0}, bad = {0}, unknown = {0};
  assert_int_equal(auth_password_hash(a, "correct horse", 13, on_pw, &h), 0);
  assert_int_equal(auth_password_jobs(a), 1);
  assert_int_equal(h.calls, 0); /* never completes synchronously */
  uv_run(&f->loop, UV_RUN_DEFAULT);
  assert_int_equal(h.calls, 1);
  assert_int_equal(h.status, 0);
  assert_true(strncmp(h.hash, "$argon2id$", 10) == 0);
  assert_int_equal(auth_password_verify(a, h.hash, "correct horse", 13, on_pw, &ok), 0);
  assert_int_equal(auth_password_verify(a, h.hash, "correct horsf", 13, on_pw, &bad), 0);
  assert_int_equal(auth_password_verify(a, NULL, "correct horse", 13, on_pw, &unknown), 0);
  uv_run(&f->loop, UV_RUN_DEFAULT);
  assert_int_equal(ok.status, 0);
  assert_int_equal(bad.status, 1);
  assert_int_equal(unknown.status, 1);
  assert_int_equal(ok.calls + bad.calls + unknown.calls, 3);
  assert_int_equal(auth_password_jobs(a), 0);
  auth_free(a);
}

static void password_jobs_are_capped(void **state) {
  fixture_t *f = *state;
  auth_t *a = auth_new(&f->loop, &f->cfg);
  result_t r[100];
  memset(r, 0, sizeof(r));
  int accepted = 0;
  for (int i = 0; i < 100; i++)
    if (auth_password_verify(a, NULL, "pw", 2, on_pw, &r[i]) == 0) accepted++;
  assert_true(accepted < 100);
  assert_true(accepted > 0);
  uv_run(&f->loop, UV_RUN_DEFAULT);
  int calls = 0;
  for (int i = 0; i < 100; i++) calls += r[i].calls;
  assert_int_equal(calls, accepted);
  auth_free(a);
}

static auth_revocation_t revocation(const char *user, const char *login, int64_t before_ms) {
  auth_revocation_t r;
  assert_int_equal(auth_revocation_make(&r, user, login, before_ms), 0);
  return r;
}

/* A token verified once is remembered by its bytes (token_cache.c): a revocation
 * after that, or its expiry, still refuses it on the very next call, and a token
 * that differs by one byte is verified in full. */
static void remembered_tokens_still_expire_and_revoke(void **state) {
  fixture_t *f = *state;
  auth_t *a = auth_new(&f->loop, &f->cfg);
  int64_t now = util_now_ms() / 1000;
  char *t = auth_token_issue(a, "u1", "l1", now - 5);
  char *t2 = auth_token_issue(a, "u1", "l2", now - 5);
  auth_claims_t c;
  for (int i = 0; i < 3; i++) { /* the first verifies, the others are remembered */
    assert_int_equal(auth_token_verify(a, t, now, &c), AUTH_TOKEN_OK);
    assert_string_equal(c.sub, "u1");
    assert_string_equal(c.sid, "l1");
  }
  assert_int_equal(auth_token_verify(a, t2, now, &c), AUTH_TOKEN_OK);
  /* The same bytes but one character of the signature: refused, not remembered. */
  char *forged = strdup(t);
  char *last = forged + strlen(forged) - 5;
  *last = *last == 'A' ? 'B' : 'A';
  assert_int_equal(auth_token_verify(a, forged, now, &c), AUTH_TOKEN_BAD_SIG);
  /* Expiry: the remembered claims are judged at the time asked. */
  int64_t exp = now - 5 + auth_token_ttl(a);
  assert_int_equal(auth_token_verify(a, t, exp - 1, &c), AUTH_TOKEN_OK);
  assert_int_equal(auth_token_verify(a, t, exp, &c), AUTH_TOKEN_EXPIRED);
  /* Logout of login l1 (as a bus message from another instance would do it). */
  auth_revocation_t r = revocation("u1", "l1", now * 1000);
  assert_int_equal(auth_revoke(a, &r), 1);
  assert_int_equal(auth_token_verify(a, t, now, &c), AUTH_TOKEN_REVOKED);
  assert_int_equal(auth_token_verify(a, t2, now, &c), AUTH_TOKEN_OK);
  /* Deletion of the user: every token of theirs. */
  r = revocation("u1", NULL, now * 1000);
  assert_int_equal(auth_revoke(a, &r), 1);
  assert_int_equal(auth_token_verify(a, t2, now, &c), AUTH_TOKEN_REVOKED);
  /* Many tokens: the cache keeps its bound and still answers each one right. */
  for (int i = 0; i < 3000; i++) {
    char user[16];
    snprintf(user, sizeof(user), "v%d", i);
    char *v = auth_token_issue(a, user, "lv", now - 5 - i % 3);
    assert_int_equal(auth_token_verify(a, v, now, &c), AUTH_TOKEN_OK);
    assert_string_equal(c.sub, user);
    assert_int_equal(auth_token_verify(a, v, now, &c), AUTH_TOKEN_OK);
    assert_string_equal(c.sub, user);
    free(v);
  }
  free(forged);
  free(t);
  free(t2);
  auth_free(a);
}

static void revocation_covers_earlier_tokens(void **state) {
  fixture_t *f = *state;
  auth_t *a = auth_new(&f->loop, &f->cfg);
  int64_t now = util_now_ms() / 1000;
  char *before = auth_token_issue(a, "u1", "l1", now - 5);
  char *old_style = auth_token_issue(a, "u1", NULL, now - 5); /* no sid */
  char *other = auth_token_issue(a, "u2", "l2", now - 5);
  auth_revocation_t r = revocation("u1", NULL, now * 1000);
  assert_int_equal(auth_revoke(a, &r), 1);
  assert_int_equal(auth_revoke(a, &r), 0); /* nothing new: no sessions to close again */
  auth_claims_t c;
  assert_int_equal(auth_token_verify(a, before, now, &c), AUTH_TOKEN_REVOKED);
  assert_int_equal(auth_token_verify(a, old_style, now, &c), AUTH_TOKEN_REVOKED);
  assert_int_equal(auth_token_verify(a, other, now, &c), AUTH_TOKEN_OK);
  char *after = auth_token_issue(a, "u1", "l3", now + 2);
  assert_int_equal(auth_token_verify(a, after, now + 2, &c), AUTH_TOKEN_OK);
  assert_string_equal(c.sid, "l3");

  /* The bus payload carries the same rule to another instance. */
  auth_t *b = auth_new(&f->loop, &f->cfg);
  char *msg = auth_revoke_message(&r);
  assert_string_equal(auth_revoke_channel(&r), AUTH_REVOKE_CHANNEL);
  auth_revocation_t got;
  assert_int_equal(auth_revoke_parse(msg, strlen(msg), &got), 0);
  assert_string_equal(got.user_id, "u1");
  assert_string_equal(got.login_id, "");
  assert_int_equal(auth_revoke(b, &got), 1);
  assert_int_equal(auth_token_verify(b, before, now, &c), AUTH_TOKEN_REVOKED);
  assert_int_equal(auth_revoke_parse("{\"user_id\":5}", 13, &got), -1);
  assert_int_equal(auth_revoke_parse("nope", 4, &got), -1);
  const char *bad_login = "{\"user_id\":\"u1\",\"login_id\":7,\"before_ms\":1}";
  assert_int_equal(auth_revoke_parse(bad_login, strlen(bad_login), &got), -1);
  free(msg);
  free(before);
  free(old_style);
  free(other);
  free(after);
  auth_free(a);
  auth_free(b);
}

/* Ending one login refuses that login's tokens only; tokens without a sid
 * (issued before logins were tied to tokens) are not covered by it. */
static void login_revocation_covers_that_login_only(void **state) {
  fixture_t *f = *state;
  auth_t *a = auth_new(&f->loop, &f->cfg);
  int64_t now = util_now_ms() / 1000;
  char *l1 = auth_token_issue(a, "u1", "l1", now - 5);
  char *l2 = auth_token_issue(a, "u1", "l2", now - 5);
  char *none = auth_token_issue(a, "u1", NULL, now - 5);
  auth_revocation_t r = revocation("u1", "l1", now * 1000);
  assert_int_equal(auth_revoke(a, &r), 1);
  auth_claims_t c;
  assert_int_equal(auth_token_verify(a, l1, now, &c), AUTH_TOKEN_REVOKED);
  assert_int_equal(auth_token_verify(a, l2, now, &c), AUTH_TOKEN_OK);
  assert_int_equal(auth_token_verify(a, none, now, &c), AUTH_TOKEN_OK);
  assert_string_equal(c.sid, "");
  /* Its own channel and payload. */
  char *msg = auth_revoke_message(&r);
  assert_string_equal(auth_revoke_channel(&r), AUTH_LOGOUT_CHANNEL);
  auth_revocation_t got;
  assert_int_equal(auth_revoke_parse(msg, strlen(msg), &got), 0);
  assert_string_equal(got.login_id, "l1");
  assert_int_equal(got.before_ms, now * 1000);
  /* Kept one token lifetime (and the skew) past before_ms, then forgotten. */
  assert_int_equal(auth_revoke_count(a), 1);
  auth_revoke_prune(a, auth_revoke_keep_until(a, now * 1000) - 1);
  assert_int_equal(auth_revoke_count(a), 1);
  auth_revoke_prune(a, auth_revoke_keep_until(a, now * 1000) + 1);
  assert_int_equal(auth_revoke_count(a), 0);
  assert_true(auth_revoke_keep_until(a, 0) >= 900 * 1000);
  /* A token too long for a login id is refused at issue. */
  assert_null(auth_token_issue(a, "u1", "0123456789012345678901234567890123456789", now));
  free(msg);
  free(l1);
  free(l2);
  free(none);
  auth_free(a);
}

/* Until the saved revocations are loaded no token is judged. */
static void not_ready_refuses_to_judge(void **state) {
  fixture_t *f = *state;
  auth_t *a = auth_new(&f->loop, &f->cfg);
  int64_t now = util_now_ms() / 1000;
  char *t = auth_token_issue(a, "u1", "l1", now);
  auth_claims_t c;
  assert_true(auth_ready(a));
  auth_set_ready(a, 0);
  assert_int_equal(auth_token_verify(a, t, now, &c), AUTH_TOKEN_NOT_READY);
  /* A bad token is still bad. */
  assert_int_equal(auth_token_verify(a, "x.y.z", now, &c), AUTH_TOKEN_MALFORMED);
  auth_set_ready(a, 1);
  assert_int_equal(auth_token_verify(a, t, now, &c), AUTH_TOKEN_OK);
  free(t);
  auth_free(a);
}

static void refresh_tokens_hash(void **state) {
  char t1[AUTH_REFRESH_LEN + 1], h1[65], t2[AUTH_REFRESH_LEN + 1], h2[65], again[65];
  auth_refresh_new(t1, h1);
  auth_refresh_new(t2, h2);
  assert_int_equal(strlen(t1), AUTH_REFRESH_LEN);
  assert_int_equal(strlen(h1), 64);
  assert_string_not_equal(t1, t2);
  assert_string_not_equal(h1, h2);
  /* The stored form is not the token, and hashing the presented token finds it. */
  assert_null(strstr(h1, t1));
  assert_int_equal(auth_refresh_hash(t1, strlen(t1), again), 0);
  assert_string_equal(again, h1);
  /* Known vector: SHA-256 of 43 'A's. */
  char as[AUTH_REFRESH_LEN + 1];
  memset(as, 'A', AUTH_REFRESH_LEN);
  as[AUTH_REFRESH_LEN] = '\0';
  unsigned char d[32];
  char hex[65];
  crypto_hash_sha256(d, (const unsigned char *)as, AUTH_REFRESH_LEN);
  util_hex(d, 32, hex);
  assert_int_equal(auth_refresh_hash(as, AUTH_REFRESH_LEN, again), 0);
  assert_string_equal(again, hex);
  /* Anything that cannot be ours is refused before reaching the store. */
  assert_int_equal(auth_refresh_hash("short", 5, again), -1);
  char bad[AUTH_REFRESH_LEN + 1];
  memcpy(bad, t1, sizeof(bad));
  bad[3] = '$';
  assert_int_equal(auth_refresh_hash(bad, AUTH_REFRESH_LEN, again), -1);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(generated_key_persists_with_mode_0600, setup, teardown),
      cmocka_unit_test_setup_teardown(corrupt_key_file_fails_start, setup, teardown),
      cmocka_unit_test_setup_teardown(password_hash_and_verify, setup, teardown),
      cmocka_unit_test_setup_teardown(password_jobs_are_capped, setup, teardown),
      cmocka_unit_test_setup_teardown(revocation_covers_earlier_tokens, setup, teardown),
      cmocka_unit_test_setup_teardown(remembered_tokens_still_expire_and_revoke, setup, teardown),
      cmocka_unit_test_setup_teardown(login_revocation_covers_that_login_only, setup, teardown),
      cmocka_unit_test_setup_teardown(not_ready_refuses_to_judge, setup, teardown),
      cmocka_unit_test_setup_teardown(refresh_tokens_hash, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
