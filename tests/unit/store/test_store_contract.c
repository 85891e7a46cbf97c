/* The store contract suite: every operation of include/parley/store.h, its
 * uniqueness rules, seq under concurrent writers, pagination, permissions, the job
 * cap and close. The same tests run against SQLite (a temp file, always) and
 * MongoDB (when PARLEY_TEST_MONGO_URI is set, a fresh database per test). */
#include <unistd.h>

#include <pthread.h>

#include "store_fixture.h"

/* A conversation's id; type "direct" or "group" with the creator first. */
static void new_conv(fx_t *f, const char *type, const char *creator, const char *other,
                     const char *third, char id[25]) {
  json_t *r = NULL;
  json_t *ids = json_pack("[s,s]", creator, other);
  if (third) json_array_append_new(ids, json_string(third));
  assert_int_equal(call(f, CONV_CREATE,
                        json_pack("{s:s,s:s,s:s,s:o}", "type", type, "name", "room", "creator_id",
                                  creator, "participant_ids", ids),
                        &r),
                   STORE_OK);
  strcpy(id, str(json_object_get(r, "conversation"), "id"));
  json_decref(r);
}

static json_t *send_msg(fx_t *f, const char *conv, const char *sender, const char *text,
                        const char *client_id, int *status) {
  json_t *r = NULL;
  *status =
      call(f, MSG_INSERT,
           json_pack("{s:s,s:s,s:s,s:s?,s:s,s:b}", "conversation_id", conv, "sender_id", sender,
                     "text", text, "client_id", client_id, "source", "web", "check_member", 1),
           &r);
  return r;
}

static json_int_t send_seq(fx_t *f, const char *conv, const char *sender, const char *text) {
  int status;
  json_t *r = send_msg(f, conv, sender, text, NULL, &status);
  assert_int_equal(status, STORE_OK);
  json_int_t seq = num(json_object_get(r, "message"), "seq");
  json_decref(r);
  return seq;
}

/* ---- users and refresh tokens ---- */

static void test_users(void **state) {
  fx_t *f = *state;
  char ann[25], bob[25], id2[25];
  new_user(f, "ann@example.com", "Ann", ann);
  new_user(f, "bob@example.com", "bob", bob);
  json_t *r = NULL;
  assert_int_equal(call(f, USER_CREATE,
                        json_pack("{s:s,s:s,s:s}", "email", "ann@example.com", "name", "Ann 2",
                                  "password_hash", "h"),
                        NULL),
                   STORE_ECONFLICT);

  assert_int_equal(call(f, USER_GET_BY_EMAIL, json_pack("{s:s}", "email", "ann@example.com"), &r),
                   STORE_OK);
  assert_string_equal(str(r, "id"), ann);
  assert_string_equal(str(r, "password_hash"), "$argon2id$x");
  assert_string_equal(str(r, "status"), "online"); /* what a new user has chosen */
  assert_true(json_is_null(json_object_get(r, "last_seen")));
  int64_t ms;
  assert_int_equal(util_parse_iso8601(str(r, "created_at"), &ms), 0);
  json_decref(r);
  assert_int_equal(call(f, USER_GET, json_pack("{s:s}", "id", ann), &r), STORE_OK);
  assert_null(json_object_get(r, "password_hash"));
  assert_string_equal(str(r, "email"), "ann@example.com");
  assert_true(json_is_null(json_object_get(r, "avatar_url")));
  json_decref(r);
  assert_int_equal(call(f, USER_GET, json_pack("{s:s}", "id", "000000000000000000000000"), NULL),
                   STORE_ENOTFOUND);

  /* Search: case-insensitive name prefix or exact email, ordered by name. */
  new_user(f, "anna@example.com", "anna", id2);
  assert_int_equal(call(f, USER_SEARCH, json_pack("{s:s,s:i}", "q", "AN", "limit", 20), &r),
                   STORE_OK);
  json_t *users = json_object_get(r, "users");
  assert_int_equal(json_array_size(users), 2);
  assert_string_equal(str(json_array_get(users, 0), "name"), "Ann");
  assert_string_equal(str(json_array_get(users, 1), "name"), "anna");
  json_decref(r);
  assert_int_equal(
      call(f, USER_SEARCH, json_pack("{s:s,s:i}", "q", "bob@example.com", "limit", 20), &r),
      STORE_OK);
  assert_int_equal(json_array_size(json_object_get(r, "users")), 1);
  json_decref(r);
  assert_int_equal(call(f, USER_SEARCH, json_pack("{s:s,s:i}", "q", "nn", "limit", 20), &r),
                   STORE_OK);
  assert_int_equal(json_array_size(json_object_get(r, "users")), 0);
  json_decref(r);

  assert_int_equal(call(f, USER_UPDATE,
                        json_pack("{s:s,s:s,s:s,s:s}", "id", ann, "name", "Annie", "avatar_url",
                                  "https://x/a.png", "status", "away"),
                        &r),
                   STORE_OK);
  assert_string_equal(str(r, "name"), "Annie");
  assert_string_equal(str(r, "avatar_url"), "https://x/a.png");
  assert_string_equal(str(r, "status"), "away");
  json_decref(r);
  assert_int_equal(call(f, USER_UPDATE, json_pack("{s:s,s:n}", "id", ann, "avatar_url"), &r),
                   STORE_OK);
  assert_true(json_is_null(json_object_get(r, "avatar_url")));
  assert_string_equal(str(r, "name"), "Annie"); /* absent keys are kept */
  json_decref(r);

  /* Presence: last_seen only moves forward (two instances may both record one
   * departure); many users at once, unknown ids left out. */
  assert_int_equal(
      call(f, USER_SEEN, json_pack("{s:s,s:I}", "id", ann, "at_ms", (json_int_t)1767225600000), &r),
      STORE_OK);
  json_decref(r);
  assert_int_equal(
      call(f, USER_SEEN, json_pack("{s:s,s:I}", "id", ann, "at_ms", (json_int_t)1767225500000), &r),
      STORE_OK);
  json_decref(r);
  assert_int_equal(call(f, USER_SEEN,
                        json_pack("{s:s,s:I}", "id", "000000000000000000000000", "at_ms",
                                  (json_int_t)1767225600000),
                        NULL),
                   STORE_ENOTFOUND);
  assert_int_equal(call(f, USER_SEEN, json_pack("{s:s}", "id", ann), NULL), STORE_EINVAL);
  assert_int_equal(call(f, USER_GET_MANY,
                        json_pack("{s:[s,s,s]}", "ids", ann, id2, "000000000000000000000000"), &r),
                   STORE_OK);
  json_t *many = json_object_get(r, "users");
  assert_int_equal(json_array_size(many), 2);
  for (size_t i = 0; i < 2; i++) {
    json_t *u = json_array_get(many, i);
    if (strcmp(str(u, "id"), ann) == 0) {
      assert_string_equal(str(u, "last_seen"), "2026-01-01T00:00:00.000Z");
      assert_string_equal(str(u, "status"), "away");
      assert_null(json_object_get(u, "password_hash"));
    } else {
      assert_string_equal(str(u, "id"), id2);
      assert_true(json_is_null(json_object_get(u, "last_seen")));
    }
  }
  json_decref(r);
  assert_int_equal(call(f, USER_GET_MANY, json_pack("{s:[]}", "ids"), &r), STORE_OK);
  assert_int_equal(json_array_size(json_object_get(r, "users")), 0);
  json_decref(r);

  /* Delete anonymises, frees the email and revokes the tokens. */
  assert_int_equal(
      call(f, REFRESH_CREATE,
           json_pack("{s:s,s:s,s:s,s:I}", "token_hash", "t-ann", "user_id", ann, "family_id",
                     "fam-ann", "expires_at_ms", (json_int_t)util_now_ms() + 60000),
           NULL),
      STORE_OK);
  assert_int_equal(call(f, USER_DELETE, json_pack("{s:s}", "id", ann), NULL), STORE_OK);
  assert_int_equal(call(f, USER_GET_BY_EMAIL, json_pack("{s:s}", "email", "ann@example.com"), NULL),
                   STORE_ENOTFOUND);
  assert_int_equal(call(f, USER_GET, json_pack("{s:s}", "id", ann), &r), STORE_OK);
  assert_true(json_is_true(json_object_get(r, "deleted")));
  assert_string_equal(str(r, "name"), "Deleted user");
  json_decref(r);
  assert_int_equal(call(f, USER_GET_MANY, json_pack("{s:[s]}", "ids", ann), &r), STORE_OK);
  assert_int_equal(json_array_size(json_object_get(r, "users")), 0); /* deleted: left out */
  json_decref(r);
  assert_int_equal(call(f, REFRESH_ROTATE,
                        json_pack("{s:s,s:s,s:I,s:I}", "token_hash", "t-ann", "new_token_hash",
                                  "t-ann2", "new_expires_at_ms", (json_int_t)util_now_ms() + 60000,
                                  "now_ms", (json_int_t)util_now_ms()),
                        NULL),
                   STORE_ENOTFOUND);
  new_user(f, "ann@example.com", "Ann again", id2);
  assert_string_not_equal(id2, ann);
}

static int rotate(fx_t *f, const char *old, const char *fresh, json_t **out) {
  int64_t now = util_now_ms();
  return call(f, REFRESH_ROTATE,
              json_pack("{s:s,s:s,s:I,s:I}", "token_hash", old, "new_token_hash", fresh,
                        "new_expires_at_ms", (json_int_t)now + 60000, "now_ms", (json_int_t)now),
              out);
}

static void refresh_create(fx_t *f, const char *hash, const char *user, const char *family,
                           int64_t expires) {
  assert_int_equal(call(f, REFRESH_CREATE,
                        json_pack("{s:s,s:s,s:s,s:I}", "token_hash", hash, "user_id", user,
                                  "family_id", family, "expires_at_ms", (json_int_t)expires),
                        NULL),
                   STORE_OK);
}

static void test_refresh_tokens(void **state) {
  fx_t *f = *state;
  char u[25];
  json_t *r = NULL;
  new_user(f, "r@example.com", "R", u);
  int64_t later = util_now_ms() + 60000;
  refresh_create(f, "a1", u, "famA", later);
  assert_int_equal(rotate(f, "a1", "a2", &r), STORE_OK);
  assert_string_equal(str(r, "user_id"), u);
  assert_string_equal(str(r, "family_id"), "famA");
  json_decref(r);
  assert_int_equal(rotate(f, "a2", "a3", NULL), STORE_OK);
  /* a1 presented again: reuse; the whole family, a3 included, is revoked. */
  assert_int_equal(rotate(f, "a1", "a9", NULL), STORE_EREVOKED);
  assert_int_equal(rotate(f, "a3", "a4", NULL), STORE_ENOTFOUND);
  assert_int_equal(rotate(f, "nope", "a5", NULL), STORE_ENOTFOUND);

  refresh_create(f, "old", u, "famB", util_now_ms() - 1); /* expired */
  assert_int_equal(rotate(f, "old", "b2", NULL), STORE_ENOTFOUND);

  refresh_create(f, "c1", u, "famC", later);
  assert_int_equal(rotate(f, "c1", "c2", NULL), STORE_OK);
  /* Logout answers whose login it ended; an unknown token ends none. */
  assert_int_equal(call(f, REFRESH_REVOKE, json_pack("{s:s}", "token_hash", "c2"), &r), STORE_OK);
  assert_string_equal(str(r, "user_id"), u);
  assert_string_equal(str(r, "family_id"), "famC");
  json_decref(r);
  assert_int_equal(rotate(f, "c2", "c3", NULL), STORE_ENOTFOUND);
  assert_int_equal(call(f, REFRESH_REVOKE, json_pack("{s:s}", "token_hash", "zz"), &r), STORE_OK);
  assert_int_equal(json_object_size(r), 0);
  json_decref(r);

  refresh_create(f, "d1", u, "famD", later);
  refresh_create(f, "e1", u, "famE", later);
  assert_int_equal(call(f, REFRESH_REVOKE_USER, json_pack("{s:s}", "user_id", u), NULL), STORE_OK);
  assert_int_equal(rotate(f, "d1", "d2", NULL), STORE_ENOTFOUND);
  assert_int_equal(rotate(f, "e1", "e2", NULL), STORE_ENOTFOUND);
}

/* A new login: a family with its device; answers the families it ended. */
static int rotate_at(fx_t *f, const char *hash, const char *next, int64_t now) {
  return call(f, REFRESH_ROTATE,
              json_pack("{s:s,s:s,s:I,s:I}", "token_hash", hash, "new_token_hash", next,
                        "new_expires_at_ms", (json_int_t)now + 60000, "now_ms", (json_int_t)now),
              NULL);
}

static json_t *login_create(fx_t *f, const char *hash, const char *user, const char *family,
                            const char *device, int64_t now) {
  json_t *r = NULL;
  assert_int_equal(
      call(f, REFRESH_CREATE,
           json_pack("{s:s,s:s,s:s,s:I,s:s,s:s,s:I}", "token_hash", hash, "user_id", user,
                     "family_id", family, "expires_at_ms", (json_int_t)now + 60000, "device_name",
                     device, "ip", "192.0.2.7", "now_ms", (json_int_t)now),
           &r),
      STORE_OK);
  return r;
}

/* Expired tokens are dropped on the way (a rotation drops its family's, a new
 * login its user's), so the tokens kept are bounded by one token lifetime. An
 * old rotated token presented after its row went is refused as unknown, and the
 * family it came from lives on; while its row lived, that was a reuse. */
static void test_refresh_drops_expired(void **state) {
  fx_t *f = *state;
  char u[25];
  new_user(f, "x@example.com", "X", u);
  int64_t now = util_now_ms();
  refresh_create(f, "x1", u, "famX", now + 100);
  assert_int_equal(rotate_at(f, "x1", "x2", now), STORE_OK);
  assert_int_equal(rotate_at(f, "x2", "x3", now + 200), STORE_OK); /* drops x1 */
  assert_int_equal(rotate_at(f, "x1", "x9", now + 300), STORE_ENOTFOUND);
  assert_int_equal(rotate_at(f, "x3", "x4", now + 400), STORE_OK);
  /* A new login drops the user's expired tokens too. */
  refresh_create(f, "y1", u, "famY", now + 100);
  assert_int_equal(rotate_at(f, "y1", "y2", now), STORE_OK);
  json_decref(login_create(f, "z1", u, "famZ", "tablet", now + 500));
  assert_int_equal(rotate_at(f, "y1", "y9", now + 600), STORE_ENOTFOUND);
  assert_int_equal(rotate_at(f, "y2", "y3", now + 600), STORE_OK);
}

static json_t *logins_of(fx_t *f, const char *user) {
  json_t *r = NULL;
  assert_int_equal(
      call(f, LOGIN_LIST,
           json_pack("{s:s,s:I}", "user_id", user, "now_ms", (json_int_t)util_now_ms()), &r),
      STORE_OK);
  json_t *l = json_incref(json_object_get(r, "logins"));
  json_decref(r);
  return l;
}

static json_t *login_end(fx_t *f, json_t *params, int want) {
  json_t *r = NULL;
  json_object_set_new(params, "now_ms", json_integer(util_now_ms()));
  assert_int_equal(call(f, LOGIN_END, params, &r), want);
  json_t *ended = json_incref(json_object_get(r, "ended"));
  json_decref(r);
  return ended;
}

static void test_logins(void **state) {
  fx_t *f = *state;
  char u[25], v[25];
  new_user(f, "l@example.com", "L", u);
  new_user(f, "m@example.com", "M", v);
  int64_t now = util_now_ms();
  json_decref(login_create(f, "p1", u, "famP", "phone", now - 3000));
  json_decref(login_create(f, "q1", u, "famQ", "laptop", now - 2000));
  json_t *r = login_create(f, "w1", v, "famW", "work", now - 1000);
  assert_int_equal(json_array_size(json_object_get(r, "ended")), 0);
  json_decref(r);
  /* A family from before logins were recorded: not listed, but ended with the rest. */
  refresh_create(f, "z1", u, "famZ", now + 60000);

  json_t *l = logins_of(f, u);
  assert_int_equal(json_array_size(l), 2);
  json_t *first = json_array_get(l, 0);
  assert_string_equal(str(first, "id"), "famQ");
  assert_string_equal(str(first, "device_name"), "laptop");
  assert_string_equal(str(first, "ip"), "192.0.2.7");
  assert_string_equal(str(first, "created_at"), str(first, "last_used_at"));
  assert_string_equal(str(json_array_get(l, 1), "id"), "famP");
  json_decref(l);

  /* A rotation is a use: the phone moves first, with its new address. */
  assert_int_equal(call(f, REFRESH_ROTATE,
                        json_pack("{s:s,s:s,s:I,s:I,s:s}", "token_hash", "p1", "new_token_hash",
                                  "p2", "new_expires_at_ms", (json_int_t)now + 60000, "now_ms",
                                  (json_int_t)now, "ip", "198.51.100.1"),
                        NULL),
                   STORE_OK);
  l = logins_of(f, u);
  assert_string_equal(str(json_array_get(l, 0), "id"), "famP");
  assert_string_equal(str(json_array_get(l, 0), "ip"), "198.51.100.1");
  assert_string_not_equal(str(json_array_get(l, 0), "created_at"),
                          str(json_array_get(l, 0), "last_used_at"));
  json_decref(l);

  /* One login: only the owner's, only a live one. */
  json_decref(login_end(f, json_pack("{s:s,s:s}", "user_id", v, "id", "famP"), STORE_ENOTFOUND));
  json_t *ended = login_end(f, json_pack("{s:s,s:s}", "user_id", u, "id", "famP"), STORE_OK);
  assert_int_equal(json_array_size(ended), 1);
  assert_string_equal(json_string_value(json_array_get(ended, 0)), "famP");
  json_decref(ended);
  json_decref(login_end(f, json_pack("{s:s,s:s}", "user_id", u, "id", "famP"), STORE_ENOTFOUND));
  assert_int_equal(rotate(f, "p2", "p3", NULL), STORE_ENOTFOUND);

  /* All but one: famZ too; the other user's stay. */
  json_decref(login_create(f, "k1", u, "famK", "kiosk", now));
  ended = login_end(f, json_pack("{s:s,s:s}", "user_id", u, "except_id", "famK"), STORE_OK);
  assert_int_equal(json_array_size(ended), 2); /* famQ and famZ */
  json_decref(ended);
  assert_int_equal(rotate(f, "z1", "z2", NULL), STORE_ENOTFOUND);
  assert_int_equal(rotate(f, "q1", "q2", NULL), STORE_ENOTFOUND);
  l = logins_of(f, u);
  assert_int_equal(json_array_size(l), 1);
  assert_string_equal(str(json_array_get(l, 0), "id"), "famK");
  json_decref(l);
  l = logins_of(f, v);
  assert_int_equal(json_array_size(l), 1);
  json_decref(l);

  /* Past LOGINS_MAX live logins, the least recently used end. */
  char hash[32], fam[32];
  for (int i = 0; i < LOGINS_MAX; i++) {
    snprintf(hash, sizeof(hash), "many%d", i);
    snprintf(fam, sizeof(fam), "famMany%d", i);
    r = login_create(f, hash, u, fam, "bot", now + 1 + i);
    assert_int_equal(json_array_size(json_object_get(r, "ended")), i == LOGINS_MAX - 1 ? 1 : 0);
    if (i == LOGINS_MAX - 1)
      assert_string_equal(json_string_value(json_array_get(json_object_get(r, "ended"), 0)),
                          "famK");
    json_decref(r);
  }
  l = logins_of(f, u);
  assert_int_equal(json_array_size(l), LOGINS_MAX);
  json_decref(l);
  assert_int_equal(rotate(f, "k1", "k2", NULL), STORE_ENOTFOUND);

  /* Deleting the account ends every login. */
  assert_int_equal(call(f, USER_DELETE, json_pack("{s:s}", "id", v), NULL), STORE_OK);
  l = logins_of(f, v);
  assert_int_equal(json_array_size(l), 0);
  json_decref(l);
}

/* ---- one-time codes ---- */

static void code_create(fx_t *f, const char *id, const char *user, const char *purpose,
                        const char *hash, int64_t expires) {
  assert_int_equal(call(f, CODE_CREATE,
                        json_pack("{s:s,s:s,s:s,s:s,s:I}", "id", id, "user_id", user, "purpose",
                                  purpose, "code_hash", hash, "expires_at_ms", (json_int_t)expires),
                        NULL),
                   STORE_OK);
}

/* Uses a code by user (verify) or by id (reset, with a new password). */
static int code_use(fx_t *f, const char *purpose, const char *key, const char *hash,
                    const char *password, json_t **out) {
  json_t *p = json_pack("{s:s,s:s,s:s,s:I,s:i}", "purpose", purpose,
                        strcmp(purpose, "verify") == 0 ? "user_id" : "id", key, "code_hash", hash,
                        "now_ms", (json_int_t)util_now_ms(), "max_attempts", 3);
  if (password) json_object_set_new(p, "password_hash", json_string(password));
  return call(f, CODE_USE, p, out);
}

static void test_codes(void **state) {
  fx_t *f = *state;
  char u[25], v[25];
  json_t *r = NULL;
  new_user(f, "c@example.com", "C", u);
  new_user(f, "d@example.com", "D", v);
  assert_int_equal(call(f, USER_GET, json_pack("{s:s}", "id", u), &r), STORE_OK);
  assert_true(json_is_false(json_object_get(r, "email_verified"))); /* the default */
  json_decref(r);
  int64_t later = util_now_ms() + 60000;

  /* Verification: wrong, then right; once only. */
  code_create(f, "v1", u, "verify", "h-right", later);
  assert_int_equal(code_use(f, "verify", u, "h-wrong", NULL, NULL), STORE_ENOTFOUND);
  assert_int_equal(code_use(f, "verify", v, "h-right", NULL, NULL), STORE_ENOTFOUND);
  assert_int_equal(code_use(f, "reset", "v1", "h-right", NULL, NULL), STORE_ENOTFOUND);
  assert_int_equal(code_use(f, "verify", u, "h-right", NULL, &r), STORE_OK);
  assert_string_equal(str(r, "id"), u);
  assert_true(json_is_true(json_object_get(r, "email_verified")));
  json_decref(r);
  assert_int_equal(code_use(f, "verify", u, "h-right", NULL, NULL), STORE_ENOTFOUND);

  /* max_attempts wrong tries kill the code; a new one replaces the old. */
  code_create(f, "v2", v, "verify", "h-two", later);
  for (int i = 0; i < 3; i++)
    assert_int_equal(code_use(f, "verify", v, "h-bad", NULL, NULL), STORE_ENOTFOUND);
  assert_int_equal(code_use(f, "verify", v, "h-two", NULL, NULL), STORE_ENOTFOUND);
  code_create(f, "v3", v, "verify", "h-three", later);
  code_create(f, "v4", v, "verify", "h-four", later);
  assert_int_equal(code_use(f, "verify", v, "h-three", NULL, NULL), STORE_ENOTFOUND);
  assert_int_equal(code_use(f, "verify", v, "h-four", NULL, NULL), STORE_OK);

  /* Expired. */
  code_create(f, "v5", u, "verify", "h-old", util_now_ms() - 1);
  assert_int_equal(code_use(f, "verify", u, "h-old", NULL, NULL), STORE_ENOTFOUND);

  /* Reset by id: the password changes; a wrong try counts on that code. */
  code_create(f, "RSEL0001", u, "reset", "h-reset", later);
  assert_int_equal(code_use(f, "reset", "RSEL0001", "h-nope", "$argon2id$new", NULL),
                   STORE_ENOTFOUND);
  assert_int_equal(call(f, USER_GET_BY_EMAIL, json_pack("{s:s}", "email", "c@example.com"), &r),
                   STORE_OK);
  assert_string_equal(str(r, "password_hash"), "$argon2id$x");
  json_decref(r);
  assert_int_equal(code_use(f, "reset", "RSEL0001", "h-reset", "$argon2id$new", &r), STORE_OK);
  assert_string_equal(str(r, "id"), u);
  assert_null(json_object_get(r, "password_hash"));
  json_decref(r);
  assert_int_equal(call(f, USER_GET_BY_EMAIL, json_pack("{s:s}", "email", "c@example.com"), &r),
                   STORE_OK);
  assert_string_equal(str(r, "password_hash"), "$argon2id$new");
  json_decref(r);
  assert_int_equal(code_use(f, "reset", "RSEL0001", "h-reset", "$argon2id$again", NULL),
                   STORE_ENOTFOUND);

  /* A deleted user's code is dead; bad parameters are refused. */
  code_create(f, "v6", v, "verify", "h-six", later);
  assert_int_equal(call(f, USER_DELETE, json_pack("{s:s}", "id", v), NULL), STORE_OK);
  assert_int_equal(code_use(f, "verify", v, "h-six", NULL, NULL), STORE_ENOTFOUND);
  assert_int_equal(call(f, CODE_CREATE,
                        json_pack("{s:s,s:s,s:s,s:s,s:I}", "id", "x", "user_id", u, "purpose",
                                  "other", "code_hash", "h", "expires_at_ms", (json_int_t)later),
                        NULL),
                   STORE_EINVAL);

  /* A user created verified says so. */
  assert_int_equal(call(f, USER_CREATE,
                        json_pack("{s:s,s:s,s:s,s:b}", "email", "e@example.com", "name", "E",
                                  "password_hash", "$argon2id$x", "email_verified", 1),
                        &r),
                   STORE_OK);
  assert_true(json_is_true(json_object_get(r, "email_verified")));
  json_decref(r);
}

/* ---- revocations ---- */

static int revoke_save(fx_t *f, const char *user, const char *login, int64_t before,
                       int64_t expires) {
  json_t *p = json_pack("{s:s, s:I, s:I}", "user_id", user, "before_ms", (json_int_t)before,
                        "expires_at_ms", (json_int_t)expires);
  if (login) json_object_set_new(p, "login_id", json_string(login));
  return call(f, REVOKE_SAVE, p, NULL);
}

static json_t *revoke_list(fx_t *f, int64_t now) {
  json_t *r = NULL;
  assert_int_equal(
      call(f, REVOKE_LIST, json_pack("{s:I, s:i}", "now_ms", (json_int_t)now, "limit", 100), &r),
      STORE_OK);
  return r;
}

static void test_revocations(void **state) {
  fx_t *f = *state;
  int64_t t = 1700000000000;
  /* A deletion and two ended logins of one user, one of another user. */
  assert_int_equal(revoke_save(f, "u1", NULL, t, t + 1000000), STORE_OK);
  assert_int_equal(revoke_save(f, "u1", "l1", t + 10, t + 1000010), STORE_OK);
  assert_int_equal(revoke_save(f, "u1", "l2", t + 20, t + 1000020), STORE_OK);
  assert_int_equal(revoke_save(f, "u2", NULL, t + 30, t + 1000030), STORE_OK);
  /* Saving one again keeps the later times; an earlier one moves nothing back. */
  assert_int_equal(revoke_save(f, "u1", "l1", t + 40, t + 1000040), STORE_OK);
  assert_int_equal(revoke_save(f, "u1", "l1", t + 5, t + 1000005), STORE_OK);
  json_t *r = revoke_list(f, t + 100);
  json_t *list = json_object_get(r, "revocations");
  assert_int_equal(json_array_size(list), 4);
  /* Newest first. */
  json_t *first = json_array_get(list, 0);
  assert_string_equal(str(first, "user_id"), "u1");
  assert_string_equal(str(first, "login_id"), "l1");
  assert_int_equal(json_integer_value(json_object_get(first, "before_ms")), t + 40);
  json_t *del = json_array_get(list, 3);
  assert_string_equal(str(del, "user_id"), "u1");
  assert_true(json_is_null(json_object_get(del, "login_id")));
  assert_int_equal(json_integer_value(json_object_get(del, "before_ms")), t);
  json_decref(r);
  /* since_ms: only those made at or after it. */
  assert_int_equal(call(f, REVOKE_LIST,
                        json_pack("{s:I, s:I, s:i}", "now_ms", (json_int_t)(t + 100), "since_ms",
                                  (json_int_t)(t + 15), "limit", 100),
                        &r),
                   STORE_OK);
  assert_int_equal(json_array_size(json_object_get(r, "revocations")), 3);
  json_decref(r);
  /* Expired ones are not listed, and a later save drops them. */
  r = revoke_list(f, t + 1000025);
  assert_int_equal(json_array_size(json_object_get(r, "revocations")), 2);
  json_decref(r);
  assert_int_equal(revoke_save(f, "u3", NULL, t + 1000035, t + 2000000), STORE_OK);
  r = revoke_list(f, 0);
  assert_int_equal(json_array_size(json_object_get(r, "revocations")), 2);
  json_decref(r);
  /* Bad input changes nothing. */
  assert_int_equal(call(f, REVOKE_SAVE, json_pack("{s:I}", "before_ms", (json_int_t)t), NULL),
                   STORE_EINVAL);
  assert_int_equal(call(f, REVOKE_SAVE,
                        json_pack("{s:s, s:s, s:I}", "user_id", "u9", "before_ms", "x",
                                  "expires_at_ms", (json_int_t)t),
                        NULL),
                   STORE_EINVAL);
}

/* ---- conversations ---- */

static json_t *participant(json_t *conv, const char *user) {
  size_t i;
  json_t *p;
  json_array_foreach(json_object_get(conv, "participants"), i,
                     p) if (strcmp(str(p, "id"), user) == 0) return p;
  return NULL;
}

static void test_conv_create_and_get(void **state) {
  fx_t *f = *state;
  char a[25], b[25], c[25], dm[25], grp[25];
  new_user(f, "a@x.io", "A", a);
  new_user(f, "b@x.io", "B", b);
  new_user(f, "c@x.io", "C", c);
  json_t *r = NULL;
  assert_int_equal(call(f, CONV_CREATE,
                        json_pack("{s:s,s:n,s:s,s:[s,s]}", "type", "direct", "name", "creator_id",
                                  a, "participant_ids", a, b),
                        &r),
                   STORE_OK);
  assert_true(json_is_true(json_object_get(r, "created")));
  json_t *conv = json_object_get(r, "conversation");
  strcpy(dm, str(conv, "id"));
  assert_string_equal(str(conv, "type"), "direct");
  assert_int_equal(num(conv, "last_seq"), 0);
  assert_true(json_is_null(json_object_get(conv, "last_message")));
  assert_int_equal(json_array_size(json_object_get(conv, "participants")), 2);
  assert_string_equal(str(participant(conv, b), "name"), "B");
  assert_int_equal(num(participant(conv, b), "last_read_seq"), 0);
  json_decref(r);

  /* The same pair from the other side: the existing conversation. */
  assert_int_equal(call(f, CONV_CREATE,
                        json_pack("{s:s,s:n,s:s,s:[s,s]}", "type", "direct", "name", "creator_id",
                                  b, "participant_ids", b, a),
                        &r),
                   STORE_OK);
  assert_true(json_is_false(json_object_get(r, "created")));
  assert_string_equal(str(json_object_get(r, "conversation"), "id"), dm);
  json_decref(r);

  assert_int_equal(
      call(f, CONV_CREATE,
           json_pack("{s:s,s:s,s:s,s:[s,s]}", "type", "group", "name", "g", "creator_id", a,
                     "participant_ids", a, "000000000000000000000000"),
           NULL),
      STORE_EINVAL);

  new_conv(f, "group", a, b, NULL, grp);
  assert_int_equal(call(f, CONV_GET, json_pack("{s:s,s:s}", "id", grp, "user_id", b), &r),
                   STORE_OK);
  assert_string_equal(str(participant(r, a), "role"), "admin");
  assert_string_equal(str(participant(r, b), "role"), "member");
  assert_string_equal(str(r, "name"), "room");
  json_decref(r);
  assert_int_equal(call(f, CONV_GET, json_pack("{s:s,s:s}", "id", grp, "user_id", c), NULL),
                   STORE_ENOTFOUND);
  assert_int_equal(call(f, CONV_GET, json_pack("{s:s}", "id", grp), NULL), STORE_OK);
  assert_int_equal(call(f, CONV_GET, json_pack("{s:s}", "id", "000000000000000000000000"), NULL),
                   STORE_ENOTFOUND);

  /* Instagram: one conversation per (owner, contact). */
  char first[25];
  for (int i = 0; i < 2; i++) {
    assert_int_equal(
        call(f, CONV_CREATE,
             json_pack("{s:s,s:s,s:s,s:[s],s:s}", "type", "instagram", "name", "ig", "creator_id",
                       c, "participant_ids", c, "contact_id", "contact-1"),
             &r),
        STORE_OK);
    json_t *ic = json_object_get(r, "conversation");
    assert_string_equal(str(ic, "contact_id"), "contact-1");
    if (i == 0)
      strcpy(first, str(ic, "id"));
    else
      assert_string_equal(str(ic, "id"), first);
    assert_int_equal(json_is_true(json_object_get(r, "created")), i == 0);
    json_decref(r);
  }
}

static void test_conv_permissions(void **state) {
  fx_t *f = *state;
  char a[25], b[25], c[25], d[25], grp[25], dm[25];
  new_user(f, "a@x.io", "A", a);
  new_user(f, "b@x.io", "B", b);
  new_user(f, "c@x.io", "C", c);
  new_user(f, "d@x.io", "D", d);
  new_conv(f, "group", a, b, NULL, grp);
  new_conv(f, "direct", a, b, NULL, dm);
  json_t *r = NULL;
  assert_int_equal(
      call(f, CONV_RENAME, json_pack("{s:s,s:s,s:s}", "id", grp, "user_id", b, "name", "x"), NULL),
      STORE_EFORBIDDEN);
  assert_int_equal(
      call(f, CONV_RENAME, json_pack("{s:s,s:s,s:s}", "id", grp, "user_id", c, "name", "x"), NULL),
      STORE_ENOTFOUND);
  assert_int_equal(
      call(f, CONV_RENAME, json_pack("{s:s,s:s,s:s}", "id", dm, "user_id", a, "name", "x"), NULL),
      STORE_EFORBIDDEN);
  assert_int_equal(
      call(f, CONV_RENAME, json_pack("{s:s,s:s,s:s}", "id", grp, "user_id", a, "name", "new"), &r),
      STORE_OK);
  assert_string_equal(str(r, "name"), "new");
  json_decref(r);

  assert_int_equal(call(f, CONV_ADD_MEMBERS,
                        json_pack("{s:s,s:s,s:[s]}", "id", grp, "user_id", b, "user_ids", c), NULL),
                   STORE_EFORBIDDEN);
  assert_int_equal(call(f, CONV_ADD_MEMBERS,
                        json_pack("{s:s,s:s,s:[s]}", "id", grp, "user_id", a, "user_ids",
                                  "000000000000000000000000"),
                        NULL),
                   STORE_EINVAL);
  assert_int_equal(
      call(f, CONV_ADD_MEMBERS,
           json_pack("{s:s,s:s,s:[s,s,s]}", "id", grp, "user_id", a, "user_ids", c, d, b), &r),
      STORE_OK);
  assert_int_equal(json_array_size(json_object_get(r, "participants")), 4);
  assert_string_equal(str(participant(r, a), "role"), "admin");
  json_decref(r);

  /* Remove: a member may not remove another; a member may leave; an admin may remove. */
  assert_int_equal(call(f, CONV_REMOVE_MEMBER,
                        json_pack("{s:s,s:s,s:s}", "id", grp, "user_id", b, "member_id", c), NULL),
                   STORE_EFORBIDDEN);
  assert_int_equal(call(f, CONV_REMOVE_MEMBER,
                        json_pack("{s:s,s:s,s:s}", "id", grp, "user_id", c, "member_id", c), &r),
                   STORE_OK);
  assert_string_equal(str(r, "removed_id"), c);
  assert_null(participant(json_object_get(r, "conversation"), c));
  json_decref(r);
  assert_int_equal(call(f, CONV_GET, json_pack("{s:s,s:s}", "id", grp, "user_id", c), NULL),
                   STORE_ENOTFOUND);
  assert_int_equal(call(f, CONV_REMOVE_MEMBER,
                        json_pack("{s:s,s:s,s:s}", "id", grp, "user_id", a, "member_id", c), NULL),
                   STORE_ENOTFOUND);
  assert_int_equal(call(f, CONV_REMOVE_MEMBER,
                        json_pack("{s:s,s:s,s:s}", "id", grp, "user_id", a, "member_id", d), NULL),
                   STORE_OK);
}

static void test_conv_list(void **state) {
  fx_t *f = *state;
  char a[25], b[25], c[25], ids[5][25];
  new_user(f, "a@x.io", "A", a);
  new_user(f, "b@x.io", "B", b);
  new_user(f, "c@x.io", "C", c);
  for (int i = 0; i < 5; i++) new_conv(f, "group", a, b, NULL, ids[i]);
  char other[25];
  new_conv(f, "direct", b, c, NULL, other); /* not a's */
  /* Activity in the order 3, 0, 4, 1, 2: the list is most recent first. */
  const int order[5] = {3, 0, 4, 1, 2};
  for (int i = 0; i < 5; i++) {
    uv_sleep(3); /* distinct updated_at */
    send_seq(f, ids[order[i]], b, "hi");
  }
  json_t *r = NULL;
  const char *cursor = NULL;
  json_t *cursor_owner = NULL;
  int seen = 0;
  for (int page = 0; page < 3; page++) {
    json_t *p = json_pack("{s:s,s:i}", "user_id", a, "limit", 2);
    if (cursor) json_object_set_new(p, "cursor", json_string(cursor));
    assert_int_equal(call(f, CONV_LIST, p, &r), STORE_OK);
    json_t *convs = json_object_get(r, "conversations"), *cv;
    size_t i;
    json_array_foreach(convs, i, cv) {
      assert_true(seen < 5);
      assert_string_equal(str(cv, "id"), ids[order[4 - seen]]);
      assert_int_equal(num(cv, "last_seq"), 1);
      assert_string_equal(str(json_object_get(cv, "last_message"), "text"), "hi");
      seen++;
    }
    json_decref(cursor_owner);
    cursor_owner = r;
    cursor = str(r, "next_cursor");
    assert_int_equal(cursor == NULL, page == 2);
  }
  json_decref(cursor_owner);
  assert_int_equal(seen, 5);
  assert_int_equal(
      call(f, CONV_LIST, json_pack("{s:s,s:i,s:s}", "user_id", a, "limit", 10, "type", "direct"),
           &r),
      STORE_OK);
  assert_int_equal(json_array_size(json_object_get(r, "conversations")), 0);
  json_decref(r);
}

/* store_call_then: the function runs once, off the loop thread, on a
 * successful result only, and the callback gets what it returned. */
typedef struct then_seen_s {
  pthread_t loop_thread;
  int calls, off_loop;
} then_seen_t;

static json_t *then_count(void *arg, const json_t *params, json_t *result) {
  then_seen_t *seen = arg;
  seen->calls++;
  seen->off_loop = !pthread_equal(pthread_self(), seen->loop_thread);
  json_t *out = json_pack("{s:I, s:O}", "n",
                          (json_int_t)json_array_size(json_object_get(result, "conversations")),
                          "user", json_object_get(params, "user_id"));
  json_decref(result);
  return out;
}

static void test_call_then(void **state) {
  fx_t *f = *state;
  char a[25], b[25], id[25];
  new_user(f, "a@x.io", "A", a);
  new_user(f, "b@x.io", "B", b);
  new_conv(f, "group", a, b, NULL, id);
  then_seen_t seen = {pthread_self(), 0, 0};
  store_reply_t r = {0, 0, NULL};
  assert_int_equal(store_call_then(f->store, CONV_LIST, json_pack("{s:s}", "user_id", a),
                                   then_count, &seen, store_sync_on_reply, &r),
                   0);
  while (!r.done) uv_run(&f->loop, UV_RUN_ONCE);
  assert_int_equal(r.status, STORE_OK);
  assert_int_equal(seen.calls, 1);
  assert_true(seen.off_loop);
  assert_int_equal(json_integer_value(json_object_get(r.result, "n")), 1);
  assert_string_equal(str(r.result, "user"), a);
  json_decref(r.result);
  /* A failed operation: the callback gets the status, the function never runs. */
  memset(&r, 0, sizeof(r));
  assert_int_equal(store_call_then(f->store, CONV_LIST,
                                   json_pack("{s:s, s:s}", "user_id", a, "cursor", "not a cursor"),
                                   then_count, &seen, store_sync_on_reply, &r),
                   0);
  while (!r.done) uv_run(&f->loop, UV_RUN_ONCE);
  assert_int_equal(r.status, STORE_EINVAL);
  assert_null(r.result);
  assert_int_equal(seen.calls, 1);
}

/* The inbox mixes channels with the other conversations by activity, page by
 * page, and a member added later finds the conversation where its activity
 * puts it (issue 21: SQLite reads non-channels in order from an index kept by
 * triggers, and a user's channels beside them). */
static void test_conv_list_mixes_channels(void **state) {
  fx_t *f = *state;
  char a[25], b[25], c[25], ids[5][25];
  new_user(f, "a@x.io", "A", a);
  new_user(f, "b@x.io", "B", b);
  new_user(f, "c@x.io", "C", c);
  for (int i = 0; i < 5; i++) {
    json_t *r = NULL;
    if (i % 2) {
      assert_int_equal(call(f, CONV_CREATE,
                            json_pack("{s:s,s:s,s:s,s:[s],s:b}", "type", "channel", "name", "ch",
                                      "creator_id", a, "participant_ids", a, "public", 1),
                            &r),
                       STORE_OK);
      strcpy(ids[i], str(json_object_get(r, "conversation"), "id"));
      json_decref(r);
    } else {
      new_conv(f, "group", a, b, NULL, ids[i]);
    }
  }
  /* Activity in the order 1, 4, 3, 0, 2 (channels 1 and 3 among groups). */
  const int order[5] = {1, 4, 3, 0, 2};
  for (int i = 0; i < 5; i++) {
    uv_sleep(3); /* distinct updated_at */
    send_seq(f, ids[order[i]], a, "hi");
  }
  for (int limit = 1; limit <= 3; limit++) {
    char cursor[128] = "";
    int seen = 0;
    for (int page = 0; page < 6 && seen < 5; page++) {
      json_t *r = NULL, *p = json_pack("{s:s,s:i}", "user_id", a, "limit", limit);
      if (*cursor) json_object_set_new(p, "cursor", json_string(cursor));
      assert_int_equal(call(f, CONV_LIST, p, &r), STORE_OK);
      json_t *cv;
      size_t i;
      json_array_foreach(json_object_get(r, "conversations"), i, cv) {
        assert_true(seen < 5);
        assert_string_equal(str(cv, "id"), ids[order[4 - seen]]);
        seen++;
      }
      const char *next = str(r, "next_cursor");
      assert_int_equal(next == NULL, seen == 5);
      snprintf(cursor, sizeof(cursor), "%s", next ? next : "");
      json_decref(r);
    }
    assert_int_equal(seen, 5);
  }
  /* A type: the channels alone, in their order, paged. */
  json_t *r = NULL;
  assert_int_equal(
      call(f, CONV_LIST, json_pack("{s:s,s:i,s:s}", "user_id", a, "limit", 1, "type", "channel"),
           &r),
      STORE_OK);
  assert_int_equal(json_array_size(json_object_get(r, "conversations")), 1);
  assert_string_equal(str(json_array_get(json_object_get(r, "conversations"), 0), "id"), ids[3]);
  assert_non_null(str(r, "next_cursor"));
  json_decref(r);
  assert_int_equal(
      call(f, CONV_LIST, json_pack("{s:s,s:i,s:s}", "user_id", a, "limit", 5, "type", "group"), &r),
      STORE_OK);
  assert_int_equal(json_array_size(json_object_get(r, "conversations")), 3);
  assert_string_equal(str(json_array_get(json_object_get(r, "conversations"), 0), "id"), ids[2]);
  assert_string_equal(str(json_array_get(json_object_get(r, "conversations"), 2), "id"), ids[4]);
  json_decref(r);
  /* c joins group 4 (older) and group 2 (newer): in their order for c. */
  assert_int_equal(
      call(f, CONV_ADD_MEMBERS,
           json_pack("{s:s,s:s,s:[s]}", "id", ids[4], "user_id", a, "user_ids", c), NULL),
      STORE_OK);
  assert_int_equal(
      call(f, CONV_ADD_MEMBERS,
           json_pack("{s:s,s:s,s:[s]}", "id", ids[2], "user_id", a, "user_ids", c), NULL),
      STORE_OK);
  uv_sleep(3);
  send_seq(f, ids[4], b, "again"); /* 4 is now the newest */
  assert_int_equal(call(f, CONV_LIST, json_pack("{s:s,s:i}", "user_id", c, "limit", 1), &r),
                   STORE_OK);
  assert_string_equal(str(json_array_get(json_object_get(r, "conversations"), 0), "id"), ids[4]);
  const char *next = str(r, "next_cursor");
  assert_non_null(next);
  json_t *r2 = NULL;
  assert_int_equal(
      call(f, CONV_LIST, json_pack("{s:s,s:i,s:s}", "user_id", c, "limit", 5, "cursor", next), &r2),
      STORE_OK);
  assert_int_equal(json_array_size(json_object_get(r2, "conversations")), 1);
  assert_string_equal(str(json_array_get(json_object_get(r2, "conversations"), 0), "id"), ids[2]);
  assert_null(str(r2, "next_cursor"));
  json_decref(r2);
  json_decref(r);
}

static void test_mark_read(void **state) {
  fx_t *f = *state;
  char a[25], b[25], c[25], dm[25];
  new_user(f, "a@x.io", "A", a);
  new_user(f, "b@x.io", "B", b);
  new_user(f, "c@x.io", "C", c);
  new_conv(f, "direct", a, b, NULL, dm);
  for (int i = 0; i < 5; i++) send_seq(f, dm, a, "m");
  json_t *r = NULL;
  const struct { int seq, want; } steps[] = {{3, 3}, {2, 3}, {99, 5}, {0, 5}};
  for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
    assert_int_equal(
        call(f, CONV_MARK_READ,
             json_pack("{s:s,s:s,s:i}", "id", dm, "user_id", b, "seq", steps[i].seq), &r),
        STORE_OK);
    assert_int_equal(num(r, "last_read_seq"), steps[i].want);
    json_decref(r);
  }
  assert_int_equal(call(f, CONV_GET, json_pack("{s:s}", "id", dm), &r), STORE_OK);
  assert_int_equal(num(participant(r, b), "last_read_seq"), 5);
  assert_int_equal(num(participant(r, a), "last_read_seq"),
                   5); /* the sender read what they wrote */
  json_decref(r);
  assert_int_equal(
      call(f, CONV_MARK_READ, json_pack("{s:s,s:s,s:i}", "id", dm, "user_id", c, "seq", 1), NULL),
      STORE_ENOTFOUND);
}

/* Delivered positions: forward only, at most last_seq, never behind the read
 * marker (a read and the sender's own message move it too). */
static void test_conv_mark_delivered(void **state) {
  fx_t *f = *state;
  char a[25], b[25], c[25], dm[25];
  new_user(f, "a@x.io", "A", a);
  new_user(f, "b@x.io", "B", b);
  new_user(f, "c@x.io", "C", c);
  new_conv(f, "direct", a, b, NULL, dm);
  for (int i = 0; i < 5; i++) send_seq(f, dm, a, "m");
  json_t *r = NULL;
  const struct { int seq, want; } steps[] = {{2, 2}, {1, 2}, {99, 5}};
  for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
    assert_int_equal(
        call(f, CONV_MARK_DELIVERED,
             json_pack("{s:s,s:s,s:i}", "id", dm, "user_id", b, "seq", steps[i].seq), &r),
        STORE_OK);
    assert_int_equal(num(r, "last_delivered_seq"), steps[i].want);
    json_decref(r);
  }
  assert_int_equal(call(f, CONV_GET, json_pack("{s:s}", "id", dm), &r), STORE_OK);
  assert_int_equal(num(participant(r, b), "last_delivered_seq"), 5);
  assert_int_equal(num(participant(r, b), "last_read_seq"), 0);
  assert_int_equal(num(participant(r, a), "last_delivered_seq"), 5); /* their own */
  json_decref(r);
  /* Reading moves delivery along; delivery never goes behind a read. */
  send_seq(f, dm, a, "m");
  send_seq(f, dm, a, "m");
  assert_int_equal(
      call(f, CONV_MARK_READ, json_pack("{s:s,s:s,s:i}", "id", dm, "user_id", b, "seq", 7), NULL),
      STORE_OK);
  assert_int_equal(call(f, CONV_MARK_DELIVERED,
                        json_pack("{s:s,s:s,s:i}", "id", dm, "user_id", b, "seq", 6), &r),
                   STORE_OK);
  assert_int_equal(num(r, "last_delivered_seq"), 7);
  json_decref(r);
  assert_int_equal(call(f, CONV_MARK_DELIVERED,
                        json_pack("{s:s,s:s,s:i}", "id", dm, "user_id", c, "seq", 1), NULL),
                   STORE_ENOTFOUND);
}

/* Replies and mentions: the preview taken at send time, the checks that store
 * nothing, mention counts apart from unread and brought down by reading; and
 * a participant's mute. */
static json_t *send_extra(fx_t *f, const char *conv, const char *sender, const char *text,
                          const char *reply_to, json_t *mentions, int *status) {
  json_t *r = NULL;
  *status = call(f, MSG_INSERT,
                 json_pack("{s:s,s:s,s:s,s:s,s:b,s:s?,s:o?}", "conversation_id", conv, "sender_id",
                           sender, "text", text, "source", "web", "check_member", 1, "reply_to",
                           reply_to, "mentions", mentions),
                 &r);
  return r;
}

static void test_replies_mentions_mute(void **state) {
  fx_t *f = *state;
  char a[25], b[25], c[25], g[25], dm[25];
  new_user(f, "a@x.io", "A", a);
  new_user(f, "b@x.io", "B", b);
  new_user(f, "c@x.io", "C", c);
  new_conv(f, "group", a, b, c, g);
  new_conv(f, "direct", a, b, NULL, dm);
  int status;
  json_t *q = send_extra(f, g, a, "the question", NULL, NULL, &status);
  assert_int_equal(status, STORE_OK);
  const char *qid = str(json_object_get(q, "message"), "id");
  assert_null(json_object_get(json_object_get(q, "message"), "reply_to"));
  json_t *r = send_extra(f, g, b, "@a answer", qid, json_pack("[s]", a), &status);
  assert_int_equal(status, STORE_OK);
  json_t *m = json_object_get(r, "message"), *pv = json_object_get(m, "reply_to");
  assert_string_equal(str(pv, "id"), qid);
  assert_string_equal(str(pv, "sender_id"), a);
  assert_string_equal(str(pv, "text"), "the question");
  assert_int_equal(num(pv, "seq"), 1);
  assert_string_equal(json_string_value(json_array_get(json_object_get(m, "mentions"), 0)), a);
  /* The stored message reads back the same. */
  json_t *got = NULL;
  assert_int_equal(call(f, MSG_GET, json_pack("{s:s}", "id", str(m, "id")), &got), STORE_OK);
  assert_true(json_equal(json_object_get(json_object_get(got, "message"), "reply_to"), pv));
  json_decref(got);
  json_decref(r);
  /* Refused, nothing stored: another conversation's message, a stranger, too many. */
  json_t *other = send_extra(f, dm, a, "elsewhere", NULL, NULL, &status);
  const char *oid = str(json_object_get(other, "message"), "id");
  assert_null(send_extra(f, g, b, "x", oid, NULL, &status));
  assert_int_equal(status, STORE_EINVAL);
  assert_null(send_extra(f, dm, a, "x", NULL, json_pack("[s]", c), &status));
  assert_int_equal(status, STORE_EINVAL);
  json_t *many = json_array();
  for (int i = 0; i <= MSG_MENTIONS_MAX; i++) json_array_append_new(many, json_string(b));
  assert_null(send_extra(f, g, a, "x", NULL, many, &status));
  assert_int_equal(status, STORE_EINVAL);
  assert_null(send_extra(f, g, a, "x", NULL, json_pack("[s,s]", b, b), &status));
  assert_int_equal(status, STORE_EINVAL);
  json_decref(other);
  json_decref(q);
  assert_int_equal(call(f, CONV_GET, json_pack("{s:s}", "id", g), &r), STORE_OK);
  assert_int_equal(num(r, "last_seq"), 2);
  assert_int_equal(num(participant(r, a), "mention_count"), 1);
  json_decref(r);
  /* Two more mentions of c; reading past the first leaves one. */
  json_decref(send_extra(f, g, a, "@c one", NULL, json_pack("[s]", c), &status));
  json_decref(send_extra(f, g, b, "@c two", NULL, json_pack("[s,s]", c, b), &status));
  assert_int_equal(
      call(f, CONV_MARK_READ, json_pack("{s:s,s:s,s:i}", "id", g, "user_id", c, "seq", 3), NULL),
      STORE_OK);
  assert_int_equal(call(f, CONV_GET, json_pack("{s:s}", "id", g), &r), STORE_OK);
  assert_int_equal(num(participant(r, c), "mention_count"), 1);
  assert_int_equal(num(participant(r, b), "mention_count"), 0); /* own mention */
  json_decref(r);
  /* Sending reads: a's mention goes with a's next message. */
  send_seq(f, g, a, "thanks");
  assert_int_equal(call(f, CONV_GET, json_pack("{s:s}", "id", g), &r), STORE_OK);
  assert_int_equal(num(participant(r, a), "mention_count"), 0);
  assert_true(json_is_null(json_object_get(participant(r, a), "muted_until")));
  json_decref(r);
  /* Mute: a participant's own, shown while in the future. */
  assert_int_equal(call(f, CONV_SETTINGS,
                        json_pack("{s:s,s:s,s:s}", "id", g, "user_id", b, "muted_until",
                                  "2999-01-01T00:00:00.000Z"),
                        &r),
                   STORE_OK);
  assert_string_equal(str(participant(r, b), "muted_until"), "2999-01-01T00:00:00.000Z");
  assert_true(json_is_null(json_object_get(participant(r, a), "muted_until")));
  json_decref(r);
  assert_int_equal(call(f, CONV_SETTINGS,
                        json_pack("{s:s,s:s,s:s}", "id", g, "user_id", b, "muted_until",
                                  "2001-01-01T00:00:00.000Z"),
                        &r),
                   STORE_OK);
  assert_true(json_is_null(json_object_get(participant(r, b), "muted_until")));
  json_decref(r);
  assert_int_equal(call(f, CONV_SETTINGS,
                        json_pack("{s:s,s:s,s:n}", "id", dm, "user_id", c, "muted_until"), NULL),
                   STORE_ENOTFOUND);
}

/* ---- messages ---- */

static void test_msg_insert_rules(void **state) {
  fx_t *f = *state;
  char a[25], b[25], c[25], dm[25];
  new_user(f, "a@x.io", "A", a);
  new_user(f, "b@x.io", "B", b);
  new_user(f, "c@x.io", "C", c);
  new_conv(f, "direct", a, b, NULL, dm);
  int status;
  json_t *r = send_msg(f, dm, a, "hello", "cid-1", &status);
  assert_int_equal(status, STORE_OK);
  assert_true(json_is_true(json_object_get(r, "created")));
  json_t *m = json_object_get(r, "message");
  assert_int_equal(num(m, "seq"), 1);
  assert_string_equal(str(m, "text"), "hello");
  assert_string_equal(str(m, "client_id"), "cid-1");
  assert_string_equal(str(m, "source"), "web");
  assert_true(json_is_null(json_object_get(m, "edited_at")));
  assert_true(json_is_false(json_object_get(m, "deleted")));
  assert_int_equal(json_array_size(json_object_get(m, "reactions")), 0);
  assert_int_equal(json_array_size(json_object_get(m, "attachments")), 0);
  assert_int_equal(json_array_size(json_object_get(r, "participant_ids")), 2);
  char first[25];
  strcpy(first, str(m, "id"));
  json_decref(r);

  /* The same client_id again: the original, nothing new stored. */
  r = send_msg(f, dm, a, "hello again", "cid-1", &status);
  assert_int_equal(status, STORE_OK);
  assert_true(json_is_false(json_object_get(r, "created")));
  assert_string_equal(str(json_object_get(r, "message"), "id"), first);
  assert_string_equal(str(json_object_get(r, "message"), "text"), "hello");
  json_decref(r);
  /* The same client_id from another sender is another message. */
  r = send_msg(f, dm, b, "mine", "cid-1", &status);
  assert_int_equal(status, STORE_OK);
  assert_int_equal(num(json_object_get(r, "message"), "seq"), 2);
  json_decref(r);

  /* Outsiders and unknown conversations. */
  r = send_msg(f, dm, c, "intruder", NULL, &status);
  assert_int_equal(status, STORE_ENOTFOUND);
  r = send_msg(f, "000000000000000000000000", a, "void", NULL, &status);
  assert_int_equal(status, STORE_ENOTFOUND);
  assert_int_equal(send_seq(f, dm, a, "third"), 3); /* no gap left by the refusals */

  /* external_id (Instagram mid) is unique: a retried webhook gets the original. */
  for (int i = 0; i < 2; i++) {
    assert_int_equal(
        call(f, MSG_INSERT,
             json_pack("{s:s,s:s,s:n,s:s,s:s,s:[{s:s,s:s}]}", "conversation_id", dm, "sender_id",
                       "ig:123", "text", "source", "instagram", "external_id", "mid.1",
                       "attachments", "type", "image", "url", "https://x/i.png"),
             &r),
        STORE_OK);
    m = json_object_get(r, "message");
    assert_int_equal(json_is_true(json_object_get(r, "created")), i == 0);
    assert_int_equal(num(m, "seq"), 4);
    assert_true(json_is_null(json_object_get(m, "text")));
    assert_string_equal(str(m, "external_id"), "mid.1");
    assert_string_equal(str(json_array_get(json_object_get(m, "attachments"), 0), "url"),
                        "https://x/i.png");
    json_decref(r);
  }
  assert_int_equal(call(f, MSG_GET, json_pack("{s:s}", "external_id", "mid.1"), &r), STORE_OK);
  assert_int_equal(num(json_object_get(r, "message"), "seq"), 4);
  json_decref(r);
  assert_int_equal(call(f, MSG_GET, json_pack("{s:s}", "id", first), &r), STORE_OK);
  assert_string_equal(str(json_object_get(r, "message"), "text"), "hello");
  assert_int_equal(json_array_size(json_object_get(r, "participant_ids")), 2);
  json_decref(r);
  assert_int_equal(call(f, MSG_GET, json_pack("{s:s}", "id", "000000000000000000000000"), NULL),
                   STORE_ENOTFOUND);

  assert_int_equal(call(f, CONV_GET, json_pack("{s:s}", "id", dm), &r), STORE_OK);
  assert_int_equal(num(r, "last_seq"), 4);
  assert_int_equal(num(json_object_get(r, "last_message"), "seq"), 4);
  json_decref(r);
}

static void check_page(fx_t *f, const char *conv, const char *user, json_t *params, int first,
                       int last, int more) {
  json_t *r = NULL;
  json_object_set_new(params, "conversation_id", json_string(conv));
  json_object_set_new(params, "user_id", json_string(user));
  assert_int_equal(call(f, MSG_LIST, params, &r), STORE_OK);
  json_t *msgs = json_object_get(r, "messages");
  assert_int_equal(json_array_size(msgs), last - first + 1);
  for (int i = first; i <= last; i++)
    assert_int_equal(num(json_array_get(msgs, i - first), "seq"), i);
  assert_int_equal(json_is_true(json_object_get(r, "has_more")), more);
  json_decref(r);
}

static void test_msg_pagination(void **state) {
  fx_t *f = *state;
  char a[25], b[25], c[25], dm[25];
  new_user(f, "a@x.io", "A", a);
  new_user(f, "b@x.io", "B", b);
  new_user(f, "c@x.io", "C", c);
  new_conv(f, "direct", a, b, NULL, dm);
  for (int i = 0; i < 25; i++) send_seq(f, dm, i % 2 ? a : b, "m");
  check_page(f, dm, a, json_pack("{s:i}", "limit", 10), 16, 25, 1);
  check_page(f, dm, b, json_pack("{s:i,s:i}", "limit", 10, "before_seq", 16), 6, 15, 1);
  check_page(f, dm, b, json_pack("{s:i,s:i}", "limit", 10, "before_seq", 6), 1, 5, 0);
  check_page(f, dm, a, json_pack("{s:i,s:i}", "limit", 10, "after_seq", 0), 1, 10, 1);
  check_page(f, dm, a, json_pack("{s:i,s:i}", "limit", 10, "after_seq", 20), 21, 25, 0);
  check_page(f, dm, a, json_pack("{s:i,s:i}", "limit", 5, "after_seq", 20), 21, 25, 0);
  check_page(f, dm, a, json_pack("{s:i}", "limit", 30), 1, 25, 0);
  json_t *p = json_pack("{s:s,s:s,s:i}", "conversation_id", dm, "user_id", c, "limit", 10);
  assert_int_equal(call(f, MSG_LIST, p, NULL), STORE_ENOTFOUND);
}

static void test_msg_edit_delete_react(void **state) {
  fx_t *f = *state;
  char a[25], b[25], c[25], d[25], grp[25];
  new_user(f, "a@x.io", "A", a);
  new_user(f, "b@x.io", "B", b);
  new_user(f, "c@x.io", "C", c);
  new_user(f, "d@x.io", "D", d);
  new_conv(f, "group", a, b, c, grp); /* a admin; b, c members */
  int status;
  json_t *r = send_msg(f, grp, b, "typo", NULL, &status), *m;
  char mid[25];
  strcpy(mid, str(json_object_get(r, "message"), "id"));
  json_decref(r);

  assert_int_equal(
      call(f, MSG_EDIT, json_pack("{s:s,s:s,s:s}", "id", mid, "user_id", c, "text", "x"), NULL),
      STORE_EFORBIDDEN);
  assert_int_equal(
      call(f, MSG_EDIT, json_pack("{s:s,s:s,s:s}", "id", mid, "user_id", d, "text", "x"), NULL),
      STORE_ENOTFOUND);
  assert_int_equal(
      call(f, MSG_EDIT, json_pack("{s:s,s:s,s:s}", "id", mid, "user_id", b, "text", "fixed"), &r),
      STORE_OK);
  m = json_object_get(r, "message");
  assert_string_equal(str(m, "text"), "fixed");
  assert_true(json_is_string(json_object_get(m, "edited_at")));
  assert_int_equal(json_array_size(json_object_get(r, "participant_ids")), 3);
  json_decref(r);

  /* Reactions: grouped by emoji, one entry per user, removable. */
  const struct {
    const char *user, *emoji;
    int add;
  } steps[] = {{a, "+1", 1}, {c, "+1", 1}, {a, "+1", 1}, {b, "ok", 1}, {c, "+1", 0}};
  for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
    assert_int_equal(call(f, MSG_REACT,
                          json_pack("{s:s,s:s,s:s,s:b}", "id", mid, "user_id", steps[i].user,
                                    "emoji", steps[i].emoji, "add", steps[i].add),
                          &r),
                     STORE_OK);
    if (i + 1 < sizeof(steps) / sizeof(steps[0])) json_decref(r);
  }
  json_t *reactions = json_object_get(json_object_get(r, "message"), "reactions");
  assert_int_equal(json_array_size(reactions), 2);
  json_t *plus = json_array_get(reactions, 0);
  assert_string_equal(str(plus, "emoji"), "+1");
  assert_int_equal(json_array_size(json_object_get(plus, "user_ids")), 1);
  assert_string_equal(json_string_value(json_array_get(json_object_get(plus, "user_ids"), 0)), a);
  assert_string_equal(str(json_array_get(reactions, 1), "emoji"), "ok");
  json_decref(r);
  assert_int_equal(
      call(f, MSG_REACT,
           json_pack("{s:s,s:s,s:s,s:b}", "id", mid, "user_id", d, "emoji", "x", "add", 1), NULL),
      STORE_ENOTFOUND);

  /* Delete: not by another member; by the group admin; then it cannot be edited. */
  assert_int_equal(call(f, MSG_DELETE, json_pack("{s:s,s:s}", "id", mid, "user_id", c), NULL),
                   STORE_EFORBIDDEN);
  assert_int_equal(call(f, MSG_DELETE, json_pack("{s:s,s:s}", "id", mid, "user_id", a), &r),
                   STORE_OK);
  m = json_object_get(r, "message");
  assert_true(json_is_true(json_object_get(m, "deleted")));
  assert_true(json_is_null(json_object_get(m, "text")));
  json_decref(r);
  assert_int_equal(
      call(f, MSG_EDIT, json_pack("{s:s,s:s,s:s}", "id", mid, "user_id", b, "text", "back"), NULL),
      STORE_EFORBIDDEN);
  check_page(f, grp, c, json_pack("{s:i}", "limit", 10), 1, 1, 0);
}

/* Writers on 8 conversations at once: per conversation, seq is exactly 1..N and
 * each message is stored once, whether the inserts arrive in one loop turn or
 * spread over many. */
#define CONVS 8
#define PER_CONV 500

typedef struct burst_s {
  int done, failed, created;
  unsigned char seen[CONVS][PER_CONV + 1];
  char convs[CONVS][25];
} burst_t;

typedef struct burst_job_s {
  burst_t *b;
  int conv;
} burst_job_t;

static void on_burst(void *ctx, int status, json_t *result) {
  burst_job_t *j = ctx;
  burst_t *b = j->b;
  b->done++;
  if (status != STORE_OK) {
    b->failed++;
  } else {
    json_int_t seq = num(json_object_get(result, "message"), "seq");
    if (seq >= 1 && seq <= PER_CONV)
      b->seen[j->conv][seq]++;
    else
      b->failed++;
    b->created += json_is_true(json_object_get(result, "created"));
  }
  json_decref(result);
  free(j);
}

static void submit_burst(fx_t *f, burst_t *b, const char *sender, int i) {
  burst_job_t *j = malloc(sizeof(*j));
  j->b = b;
  j->conv = i % CONVS;
  char cid[32];
  snprintf(cid, sizeof(cid), "c-%d", i / CONVS);
  assert_int_equal(
      store_call(f->store, MSG_INSERT,
                 json_pack("{s:s,s:s,s:s,s:s,s:s}", "conversation_id", b->convs[j->conv],
                           "sender_id", sender, "text", "burst", "client_id", cid, "source", "web"),
                 on_burst, j),
      0);
}

static void check_burst(fx_t *f, burst_t *b, const char *reader) {
  assert_int_equal(b->failed, 0);
  assert_int_equal(b->created, CONVS * PER_CONV);
  for (int c = 0; c < CONVS; c++) {
    for (int s = 1; s <= PER_CONV; s++) assert_int_equal(b->seen[c][s], 1);
    /* What a reader pages through: 1..N in order, each client_id once. */
    json_t *r = NULL;
    assert_int_equal(call(f, MSG_LIST,
                          json_pack("{s:s,s:s,s:i,s:i}", "conversation_id", b->convs[c], "user_id",
                                    reader, "limit", 1000, "after_seq", 0),
                          &r),
                     STORE_OK);
    json_t *msgs = json_object_get(r, "messages");
    assert_int_equal(json_array_size(msgs), PER_CONV);
    unsigned char once[PER_CONV] = {0};
    for (int s = 0; s < PER_CONV; s++) {
      json_t *m = json_array_get(msgs, s);
      int k = -1;
      assert_int_equal(num(m, "seq"), s + 1);
      assert_int_equal(sscanf(str(m, "client_id"), "c-%d", &k), 1);
      assert_true(k >= 0 && k < PER_CONV);
      once[k]++;
    }
    for (int k = 0; k < PER_CONV; k++) assert_int_equal(once[k], 1);
    json_decref(r);
    assert_int_equal(call(f, CONV_GET, json_pack("{s:s}", "id", b->convs[c]), &r), STORE_OK);
    assert_int_equal(num(r, "last_seq"), PER_CONV);
    json_decref(r);
  }
}

static void make_burst_convs(fx_t *f, burst_t *b, char a[25], char u[25]) {
  new_user(f, "a@x.io", "A", a);
  new_user(f, "b@x.io", "B", u);
  for (int c = 0; c < CONVS; c++) new_conv(f, "group", a, u, NULL, b->convs[c]);
}

static void test_seq_one_turn(void **state) {
  fx_t *f = *state;
  burst_t *b = calloc(1, sizeof(*b));
  char a[25], u[25];
  make_burst_convs(f, b, a, u);
  for (int i = 0; i < CONVS * PER_CONV; i++) submit_burst(f, b, u, i);
  assert_int_equal(store_jobs_in_flight(f->store), CONVS * PER_CONV);
  while (b->done < CONVS * PER_CONV) uv_run(&f->loop, UV_RUN_ONCE);
  check_burst(f, b, a);
  /* Every one again, same client_ids: all originals, nothing new. */
  memset(b->seen, 0, sizeof(b->seen));
  b->done = b->created = 0;
  for (int i = 0; i < CONVS * PER_CONV; i++) submit_burst(f, b, u, i);
  while (b->done < CONVS * PER_CONV) uv_run(&f->loop, UV_RUN_ONCE);
  assert_int_equal(b->failed, 0);
  assert_int_equal(b->created, 0);
  for (int c = 0; c < CONVS; c++)
    for (int s = 1; s <= PER_CONV; s++) assert_int_equal(b->seen[c][s], 1);
  free(b);
}

static void test_seq_many_turns(void **state) {
  fx_t *f = *state;
  burst_t *b = calloc(1, sizeof(*b));
  char a[25], u[25];
  make_burst_convs(f, b, a, u);
  int next = 0;
  while (b->done < CONVS * PER_CONV) {
    for (int k = 0; k < 37 && next < CONVS * PER_CONV; k++) submit_burst(f, b, u, next++);
    uv_run(&f->loop, next < CONVS * PER_CONV ? UV_RUN_NOWAIT : UV_RUN_ONCE);
  }
  check_burst(f, b, a);
  free(b);
}

/* ---- Instagram accounts, contacts, webhook events ---- */

static void test_instagram_accounts(void **state) {
  fx_t *f = *state;
  char a[25], b[25];
  new_user(f, "a@x.io", "A", a);
  new_user(f, "b@x.io", "B", b);
  json_t *r = NULL;
  assert_int_equal(call(f, IG_ACCOUNT_UPSERT,
                        json_pack("{s:s,s:s,s:s,s:s}", "user_id", a, "ig_user_id", "1784",
                                  "username", "shop", "token_cipher", "c2VjcmV0"),
                        &r),
                   STORE_OK);
  assert_string_equal(str(r, "ig_user_id"), "1784");
  assert_string_equal(str(r, "username"), "shop");
  assert_null(json_object_get(r, "token_cipher"));
  json_decref(r);
  assert_int_equal(call(f, IG_ACCOUNT_UPSERT,
                        json_pack("{s:s,s:s,s:n,s:s}", "user_id", b, "ig_user_id", "1784",
                                  "username", "token_cipher", "eA=="),
                        NULL),
                   STORE_ECONFLICT);
  /* Reconnecting replaces the user's own account. */
  assert_int_equal(call(f, IG_ACCOUNT_UPSERT,
                        json_pack("{s:s,s:s,s:s,s:s}", "user_id", a, "ig_user_id", "1784",
                                  "username", "shop2", "token_cipher", "bmV3"),
                        NULL),
                   STORE_OK);
  assert_int_equal(
      call(f, IG_ACCOUNT_GET, json_pack("{s:s,s:b}", "ig_user_id", "1784", "with_token", 1), &r),
      STORE_OK);
  assert_string_equal(str(r, "user_id"), a);
  assert_string_equal(str(r, "username"), "shop2");
  assert_string_equal(str(r, "token_cipher"), "bmV3");
  json_decref(r);
  assert_int_equal(call(f, IG_ACCOUNT_GET, json_pack("{s:s}", "user_id", b), NULL),
                   STORE_ENOTFOUND);
  assert_int_equal(call(f, IG_ACCOUNT_DELETE, json_pack("{s:s}", "user_id", a), NULL), STORE_OK);
  assert_int_equal(call(f, IG_ACCOUNT_DELETE, json_pack("{s:s}", "user_id", a), NULL),
                   STORE_ENOTFOUND);
  assert_int_equal(call(f, IG_ACCOUNT_UPSERT,
                        json_pack("{s:s,s:s,s:s,s:s}", "user_id", b, "ig_user_id", "1784",
                                  "username", "b", "token_cipher", "eA=="),
                        NULL),
                   STORE_OK);
}

static void test_contacts(void **state) {
  fx_t *f = *state;
  char a[25], b[25], cid[25];
  new_user(f, "a@x.io", "A", a);
  new_user(f, "b@x.io", "B", b);
  json_t *r = NULL;
  assert_int_equal(
      call(f, CONTACT_UPSERT,
           json_pack("{s:s,s:s,s:s}", "owner_id", a, "ig_user_id", "99", "username", "zed"), &r),
      STORE_OK);
  strcpy(cid, str(r, "id"));
  assert_int_equal(json_array_size(json_object_get(r, "tags")), 0);
  assert_true(json_is_object(json_object_get(r, "variables")));
  assert_true(json_is_null(json_object_get(r, "last_inbound_at")));
  json_decref(r);
  assert_int_equal(call(f, CONTACT_UPSERT,
                        json_pack("{s:s,s:s,s:s}", "owner_id", a, "ig_user_id", "99",
                                  "last_inbound_at", "2026-11-21T10:00:00.000Z"),
                        &r),
                   STORE_OK);
  assert_string_equal(str(r, "id"), cid);
  assert_string_equal(str(r, "username"), "zed");
  assert_string_equal(str(r, "last_inbound_at"), "2026-11-21T10:00:00.000Z");
  json_decref(r);
  assert_int_equal(
      call(f, CONTACT_UPSERT, json_pack("{s:s,s:s}", "owner_id", b, "ig_user_id", "99"), &r),
      STORE_OK);
  assert_string_not_equal(str(r, "id"), cid); /* contacts are per owner */
  json_decref(r);

  assert_int_equal(call(f, CONTACT_UPDATE,
                        json_pack("{s:s,s:s,s:[s,s],s:{s:s}}", "id", cid, "owner_id", a, "add_tags",
                                  "vip", "new", "set_variables", "size", "M"),
                        NULL),
                   STORE_OK);
  assert_int_equal(call(f, CONTACT_UPDATE,
                        json_pack("{s:s,s:s,s:[s],s:{s:s}}", "id", cid, "owner_id", a, "add_tags",
                                  "vip", "set_variables", "color", "red"),
                        &r),
                   STORE_OK);
  assert_int_equal(json_array_size(json_object_get(r, "tags")), 2);
  assert_string_equal(str(json_object_get(r, "variables"), "size"), "M");
  assert_string_equal(str(json_object_get(r, "variables"), "color"), "red");
  /* The updated contact answered is the contact as stored. */
  json_t *stored = NULL;
  assert_int_equal(call(f, CONTACT_GET, json_pack("{s:s,s:s}", "id", cid, "owner_id", a), &stored),
                   STORE_OK);
  assert_true(json_equal(r, stored));
  json_decref(stored);
  json_decref(r);
  assert_int_equal(call(f, CONTACT_GET, json_pack("{s:s,s:s}", "id", cid, "owner_id", b), NULL),
                   STORE_ENOTFOUND);
  assert_int_equal(
      call(f, CONTACT_GET, json_pack("{s:s,s:s}", "ig_user_id", "99", "owner_id", a), &r),
      STORE_OK);
  assert_string_equal(str(r, "id"), cid);
  json_decref(r);
  assert_int_equal(
      call(f, CONTACT_UPSERT, json_pack("{s:s,s:s}", "owner_id", a, "ig_user_id", "100"), NULL),
      STORE_OK);
  assert_int_equal(call(f, CONTACT_LIST, json_pack("{s:s}", "owner_id", a), &r), STORE_OK);
  assert_int_equal(json_array_size(json_object_get(r, "contacts")), 2);
  json_decref(r);
}

/* What an Instagram event's CONTACT_UPSERT answers is the contact as stored
 * after every other write to it (SQLite answers repeated upserts from a cache
 * of the rows it read: each write must reach it). */
static json_t *upsert_seen(fx_t *f, const char *owner, const char *inbound) {
  json_t *r = NULL, *stored = NULL;
  assert_int_equal(call(f, CONTACT_UPSERT,
                        json_pack("{s:s,s:s,s:s?}", "owner_id", owner, "ig_user_id", "77",
                                  "last_inbound_at", inbound),
                        &r),
                   STORE_OK);
  assert_int_equal(
      call(f, CONTACT_GET, json_pack("{s:s,s:s}", "ig_user_id", "77", "owner_id", owner), &stored),
      STORE_OK);
  assert_true(json_equal(r, stored));
  json_decref(stored);
  return r;
}

static void test_contact_upsert_sees_every_write(void **state) {
  fx_t *f = *state;
  char a[25], cid[25];
  new_user(f, "cache@x.io", "C", a);
  json_t *r = upsert_seen(f, a, "2026-11-21T10:00:00.000Z");
  strcpy(cid, str(r, "id"));
  json_decref(r);
  r = upsert_seen(f, a, "2026-11-21T10:00:01.000Z");
  assert_string_equal(str(r, "last_inbound_at"), "2026-11-21T10:00:01.000Z");
  json_decref(r);
  r = upsert_seen(f, a, NULL); /* an echo: the last inbound time stays */
  assert_string_equal(str(r, "last_inbound_at"), "2026-11-21T10:00:01.000Z");
  json_decref(r);
  /* Tags and variables (the REST API, a flow's step). */
  assert_int_equal(call(f, CONTACT_UPDATE,
                        json_pack("{s:s,s:s,s:[s],s:{s:s}}", "id", cid, "owner_id", a, "add_tags",
                                  "vip", "set_variables", "size", "M"),
                        NULL),
                   STORE_OK);
  r = upsert_seen(f, a, "2026-11-21T10:00:02.000Z");
  assert_string_equal(json_string_value(json_array_get(json_object_get(r, "tags"), 0)), "vip");
  assert_string_equal(str(json_object_get(r, "variables"), "size"), "M");
  json_decref(r);
  /* The profile. */
  assert_int_equal(call(f, CONTACT_PROFILE,
                        json_pack("{s:s,s:s,s:s,s:s}", "owner_id", a, "id", cid, "name", "Ann",
                                  "username", "ann"),
                        NULL),
                   STORE_OK);
  r = upsert_seen(f, a, NULL);
  assert_string_equal(str(r, "name"), "Ann");
  assert_string_equal(str(r, "username"), "ann");
  json_decref(r);
  /* A pause, its end, and a pause that runs out by itself. */
  assert_int_equal(call(f, CONTACT_PAUSE,
                        json_pack("{s:s,s:s,s:I}", "id", cid, "user_id", a, "until_ms",
                                  (json_int_t)util_now_ms() + 60000),
                        NULL),
                   STORE_OK);
  r = upsert_seen(f, a, NULL);
  assert_true(json_is_string(json_object_get(r, "automation_paused_until")));
  json_decref(r);
  assert_int_equal(
      call(f, CONTACT_PAUSE, json_pack("{s:s,s:s,s:n}", "id", cid, "user_id", a, "until_ms"), NULL),
      STORE_OK);
  r = upsert_seen(f, a, NULL);
  assert_true(json_is_null(json_object_get(r, "automation_paused_until")));
  json_decref(r);
  assert_int_equal(call(f, CONTACT_PAUSE,
                        json_pack("{s:s,s:s,s:I}", "id", cid, "user_id", a, "until_ms",
                                  (json_int_t)util_now_ms() + 50),
                        NULL),
                   STORE_OK);
  r = upsert_seen(f, a, NULL);
  assert_true(json_is_string(json_object_get(r, "automation_paused_until")));
  json_decref(r);
  usleep(100 * 1000);
  r = upsert_seen(f, a, NULL);
  assert_true(json_is_null(json_object_get(r, "automation_paused_until")));
  json_decref(r);
  /* A flow's update names the contact's ig_user_id (SQLite then changes its
   * cached row): it answers the contact as stored, and so does the next upsert,
   * a pause that ran out included. */
  assert_int_equal(call(f, CONTACT_PAUSE,
                        json_pack("{s:s,s:s,s:I}", "id", cid, "user_id", a, "until_ms",
                                  (json_int_t)util_now_ms() + 50),
                        NULL),
                   STORE_OK);
  json_decref(upsert_seen(f, a, NULL));
  usleep(100 * 1000);
  json_t *stored = NULL;
  assert_int_equal(
      call(f, CONTACT_UPDATE,
           json_pack("{s:s,s:s,s:s,s:[s],s:{s:s}}", "id", cid, "owner_id", a, "ig_user_id", "77",
                     "add_tags", "lead", "set_variables", "size", "L"),
           &r),
      STORE_OK);
  assert_int_equal(call(f, CONTACT_GET, json_pack("{s:s,s:s}", "id", cid, "owner_id", a), &stored),
                   STORE_OK);
  assert_true(json_equal(r, stored));
  assert_true(json_is_null(json_object_get(r, "automation_paused_until")));
  assert_string_equal(json_string_value(json_array_get(json_object_get(r, "tags"), 1)), "lead");
  json_decref(stored);
  json_decref(r);
  r = upsert_seen(f, a, NULL);
  assert_string_equal(str(json_object_get(r, "variables"), "size"), "L");
  json_decref(r);
  /* The read position. */
  assert_int_equal(
      call(f, CONTACT_MARK_READ,
           json_pack("{s:s,s:s,s:i}", "owner_id", a, "ig_user_id", "77", "seq", 5), NULL),
      STORE_OK);
  r = upsert_seen(f, a, NULL);
  assert_int_equal(json_integer_value(json_object_get(r, "last_read_seq")), 5);
  json_decref(r);
}

/* A profile stored before the contact's first conversation exists (the fetch
 * runs beside the event) names that conversation, whatever name the caller
 * read from the contact before. */
static void test_contact_profile_before_conversation(void **state) {
  fx_t *f = *state;
  char a[25], cid[25];
  new_user(f, "q@x.io", "Q", a);
  json_t *r = NULL;
  assert_int_equal(
      call(f, CONTACT_UPSERT, json_pack("{s:s,s:s}", "owner_id", a, "ig_user_id", "502"), &r),
      STORE_OK);
  strcpy(cid, str(r, "id"));
  json_decref(r);
  assert_int_equal(call(f, CONTACT_PROFILE,
                        json_pack("{s:s,s:s,s:s,s:s}", "id", cid, "owner_id", a, "name", "Bea",
                                  "username", "bea.c"),
                        &r),
                   STORE_OK);
  assert_int_equal(json_array_size(json_object_get(r, "conversations")), 0);
  json_decref(r);
  assert_int_equal(call(f, CONV_CREATE,
                        json_pack("{s:s,s:s,s:s,s:[s],s:s}", "type", "instagram", "name", "502",
                                  "creator_id", a, "participant_ids", a, "contact_id", cid),
                        &r),
                   STORE_OK);
  char conv[25];
  strcpy(conv, str(json_object_get(r, "conversation"), "id"));
  assert_string_equal(str(json_object_get(r, "conversation"), "name"), "Bea");
  json_decref(r);
  assert_int_equal(call(f, CONV_GET, json_pack("{s:s}", "id", conv), &r), STORE_OK);
  assert_string_equal(str(r, "name"), "Bea");
  json_decref(r);
}

/* Profiles, read positions, hand edits, the paged list, and the contact an
 * instagram conversation embeds. */
static void test_contact_profile_list_edit(void **state) {
  fx_t *f = *state;
  char a[25], cid[25];
  new_user(f, "p@x.io", "P", a);
  json_t *r = NULL;
  assert_int_equal(
      call(f, CONTACT_UPSERT, json_pack("{s:s,s:s}", "owner_id", a, "ig_user_id", "501"), &r),
      STORE_OK);
  strcpy(cid, str(r, "id"));
  assert_true(json_is_null(json_object_get(r, "name")));
  assert_true(json_is_null(json_object_get(r, "profile_fetched_at")));
  assert_int_equal(json_integer_value(json_object_get(r, "last_read_seq")), 0);
  json_decref(r);
  assert_int_equal(call(f, CONV_CREATE,
                        json_pack("{s:s,s:s,s:s,s:[s],s:s}", "type", "instagram", "name", "501",
                                  "creator_id", a, "participant_ids", a, "contact_id", cid),
                        &r),
                   STORE_OK);
  char conv[25];
  strcpy(conv, str(json_object_get(r, "conversation"), "id"));
  json_decref(r);
  /* The profile renames the contact's conversations and returns them. */
  assert_int_equal(call(f, CONTACT_PROFILE,
                        json_pack("{s:s,s:s,s:s,s:s,s:s}", "id", cid, "owner_id", a, "name", "Ana",
                                  "username", "ana.b", "profile_pic", "https://p/a.jpg"),
                        &r),
                   STORE_OK);
  json_t *ct = json_object_get(r, "contact");
  assert_string_equal(str(ct, "name"), "Ana");
  assert_string_equal(str(ct, "username"), "ana.b");
  assert_string_equal(str(ct, "profile_pic"), "https://p/a.jpg");
  assert_non_null(str(ct, "profile_fetched_at"));
  json_t *cv = json_array_get(json_object_get(r, "conversations"), 0);
  assert_string_equal(str(cv, "id"), conv);
  assert_string_equal(str(cv, "name"), "Ana");
  json_decref(r);
  /* Read positions never move back; by id or by ig_user_id. */
  assert_int_equal(
      call(f, CONTACT_MARK_READ,
           json_pack("{s:s,s:s,s:i}", "owner_id", a, "ig_user_id", "501", "seq", 5), NULL),
      STORE_OK);
  assert_int_equal(call(f, CONTACT_MARK_READ,
                        json_pack("{s:s,s:s,s:i}", "owner_id", a, "id", cid, "seq", 3), &r),
                   STORE_OK);
  assert_int_equal(json_integer_value(json_object_get(r, "last_read_seq")), 5);
  json_decref(r);
  /* The conversation embeds the contact, without owner_id. */
  assert_int_equal(call(f, CONV_GET, json_pack("{s:s}", "id", conv), &r), STORE_OK);
  ct = json_object_get(r, "contact");
  assert_string_equal(str(ct, "name"), "Ana");
  assert_int_equal(json_integer_value(json_object_get(ct, "last_read_seq")), 5);
  assert_null(json_object_get(ct, "owner_id"));
  json_decref(r);
  assert_int_equal(call(f, CONV_LIST, json_pack("{s:s,s:i}", "user_id", a, "limit", 10), &r),
                   STORE_OK);
  ct = json_object_get(json_array_get(json_object_get(r, "conversations"), 0), "contact");
  assert_string_equal(str(ct, "username"), "ana.b");
  json_decref(r);
  /* tags replaces, a null variable deletes; past the bounds nothing changes. */
  assert_int_equal(call(f, CONTACT_UPDATE,
                        json_pack("{s:s,s:s,s:[s,s],s:{s:s,s:s}}", "id", cid, "owner_id", a, "tags",
                                  "x", "y", "set_variables", "k", "v", "j", "w"),
                        NULL),
                   STORE_OK);
  assert_int_equal(call(f, CONTACT_UPDATE,
                        json_pack("{s:s,s:s,s:[s],s:{s:n}}", "id", cid, "owner_id", a, "tags", "z",
                                  "set_variables", "k"),
                        &r),
                   STORE_OK);
  assert_int_equal(json_array_size(json_object_get(r, "tags")), 1);
  assert_string_equal(json_string_value(json_array_get(json_object_get(r, "tags"), 0)), "z");
  assert_null(json_object_get(json_object_get(r, "variables"), "k"));
  assert_string_equal(str(json_object_get(r, "variables"), "j"), "w");
  json_decref(r);
  json_t *many = json_object();
  for (int i = 0; i < CONTACT_VARS_MAX; i++) {
    char k[16];
    snprintf(k, sizeof(k), "v%d", i);
    json_object_set_new(many, k, json_integer(i));
  }
  assert_int_equal(
      call(f, CONTACT_UPDATE,
           json_pack("{s:s,s:s,s:o}", "id", cid, "owner_id", a, "set_variables", many), NULL),
      STORE_EINVAL); /* 100 new + "j" */
  assert_int_equal(call(f, CONTACT_GET, json_pack("{s:s,s:s}", "id", cid, "owner_id", a), &r),
                   STORE_OK);
  assert_int_equal(json_object_size(json_object_get(r, "variables")), 1);
  json_decref(r);
  /* The list: pages in id order, tag filter, case-insensitive substring search. */
  for (int i = 0; i < 4; i++) {
    char ig[16];
    snprintf(ig, sizeof(ig), "60%d", i);
    assert_int_equal(call(f, CONTACT_UPSERT,
                          json_pack("{s:s,s:s,s:s}", "owner_id", a, "ig_user_id", ig, "username",
                                    i % 2 ? "Shop.Fan" : "other"),
                          NULL),
                     STORE_OK);
  }
  assert_int_equal(call(f, CONTACT_LIST, json_pack("{s:s,s:i}", "owner_id", a, "limit", 3), &r),
                   STORE_OK);
  assert_int_equal(json_array_size(json_object_get(r, "contacts")), 3);
  char next[25];
  strcpy(next, str(r, "next_cursor"));
  json_decref(r);
  assert_int_equal(call(f, CONTACT_LIST,
                        json_pack("{s:s,s:i,s:s}", "owner_id", a, "limit", 3, "cursor", next), &r),
                   STORE_OK);
  assert_int_equal(json_array_size(json_object_get(r, "contacts")), 2);
  assert_true(json_is_null(json_object_get(r, "next_cursor")));
  json_decref(r);
  assert_int_equal(call(f, CONTACT_LIST, json_pack("{s:s,s:s}", "owner_id", a, "q", "p.f"), &r),
                   STORE_OK);
  assert_int_equal(json_array_size(json_object_get(r, "contacts")), 2);
  json_decref(r);
  assert_int_equal(call(f, CONTACT_LIST, json_pack("{s:s,s:s}", "owner_id", a, "q", "ANA"), &r),
                   STORE_OK); /* the name "Ana" */
  assert_int_equal(json_array_size(json_object_get(r, "contacts")), 1);
  json_decref(r);
  assert_int_equal(call(f, CONTACT_LIST, json_pack("{s:s,s:s}", "owner_id", a, "tag", "z"), &r),
                   STORE_OK);
  assert_int_equal(json_array_size(json_object_get(r, "contacts")), 1);
  assert_string_equal(str(json_array_get(json_object_get(r, "contacts"), 0), "id"), cid);
  json_decref(r);
}

static void test_webhook_events(void **state) {
  fx_t *f = *state;
  json_t *r = NULL;
  assert_int_equal(
      call(f, EVENT_INSERT,
           json_pack("{s:[{s:s,s:{s:i}},{s:s,s:{s:i}},{s:n,s:{s:i}}]}", "events", "mid", "m1",
                     "payload", "n", 1, "mid", "m1", "payload", "n", 2, "mid", "payload", "n", 3),
           &r),
      STORE_OK);
  assert_int_equal(json_array_size(json_object_get(r, "inserted")), 2);
  assert_int_equal(num(r, "duplicates"), 1);
  json_decref(r);
  assert_int_equal(call(f, EVENT_INSERT,
                        json_pack("{s:[{s:s,s:{}},{s:s,s:{}}]}", "events", "mid", "m1", "payload",
                                  "mid", "m2", "payload"),
                        &r),
                   STORE_OK);
  assert_int_equal(json_array_size(json_object_get(r, "inserted")), 1);
  assert_int_equal(num(r, "duplicates"), 1);
  json_decref(r);
  assert_int_equal(call(f, EVENT_LIST_PENDING, json_pack("{s:i}", "limit", 10), &r), STORE_OK);
  json_t *events = json_object_get(r, "events");
  assert_int_equal(json_array_size(events), 3);
  json_t *e0 = json_array_get(events, 0);
  assert_string_equal(str(e0, "mid"), "m1");
  assert_int_equal(num(json_object_get(e0, "payload"), "n"), 1);
  assert_true(json_is_false(json_object_get(e0, "processed")));
  assert_true(json_is_null(json_object_get(json_array_get(events, 1), "mid")));
  char id[25];
  strcpy(id, str(e0, "id"));
  json_decref(r);
  assert_int_equal(call(f, EVENT_MARK_PROCESSED, json_pack("{s:s}", "id", id), NULL), STORE_OK);
  assert_int_equal(call(f, EVENT_LIST_PENDING, json_pack("{s:i}", "limit", 10), &r), STORE_OK);
  events = json_object_get(r, "events");
  assert_int_equal(json_array_size(events), 2);
  char left[2][25];
  strcpy(left[0], str(json_array_get(events, 0), "id"));
  strcpy(left[1], str(json_array_get(events, 1), "id"));
  json_decref(r);

  /* MSG_INSERT with event_id marks the event processed once its message is
   * stored, new or the original of a retry; a refused insert marks nothing. */
  char a[25], conv[25];
  new_user(f, "owner@x.io", "Owner", a);
  new_conv(f, "group", a, a, NULL, conv);
  const char *into[3] = {"000000000000000000000000", conv, conv};
  const char *event[3] = {left[0], left[0], left[1]};
  const int want[3] = {STORE_ENOTFOUND, STORE_OK, STORE_OK};
  const size_t pending[3] = {2, 1, 0};
  for (int i = 0; i < 3; i++) {
    assert_int_equal(call(f, MSG_INSERT,
                          json_pack("{s:s,s:s,s:s,s:s,s:s,s:s}", "conversation_id", into[i],
                                    "sender_id", "ig:9", "text", "hi", "source", "instagram",
                                    "external_id", "mid.e", "event_id", event[i]),
                          &r),
                     want[i]);
    if (want[i] == STORE_OK) {
      assert_true(json_is_true(json_object_get(r, "event_processed")));
      assert_int_equal(json_is_true(json_object_get(r, "created")), i == 1);
      json_decref(r);
    }
    assert_int_equal(call(f, EVENT_LIST_PENDING, json_pack("{s:i}", "limit", 10), &r), STORE_OK);
    assert_int_equal(json_array_size(json_object_get(r, "events")), pending[i]);
    json_decref(r);
  }
  /* Without event_id, nothing is said about events. */
  int status;
  r = send_msg(f, conv, a, "plain", NULL, &status);
  assert_int_equal(status, STORE_OK);
  assert_null(json_object_get(r, "event_processed"));
  json_decref(r);
}

/* ---- flows, runs, scheduled steps ---- */

static json_t *flow_body(const char *name, const char *status) {
  return json_pack("{s:s,s:s,s:{s:s},s:[{s:s,s:s,s:{s:s}}],s:[],s:s}", "name", name, "status",
                   status, "trigger", "type", "any_message", "nodes", "id", "n1", "type", "message",
                   "data", "text", "hi", "edges", "start", "n1");
}

static void test_flows(void **state) {
  fx_t *f = *state;
  char a[25], b[25], fid[25], fid2[25];
  new_user(f, "a@x.io", "A", a);
  new_user(f, "b@x.io", "B", b);
  json_t *r = NULL;
  assert_int_equal(
      call(f, FLOW_CREATE,
           json_pack("{s:s,s:o}", "owner_id", a, "flow", flow_body("welcome", "active")), &r),
      STORE_OK);
  strcpy(fid, str(r, "id"));
  assert_string_equal(str(r, "start"), "n1");
  assert_string_equal(str(json_object_get(r, "trigger"), "type"), "any_message");
  assert_int_equal(json_array_size(json_object_get(r, "nodes")), 1);
  json_decref(r);
  uv_sleep(2);
  assert_int_equal(
      call(f, FLOW_CREATE,
           json_pack("{s:s,s:o}", "owner_id", a, "flow", flow_body("draft1", "draft")), &r),
      STORE_OK);
  strcpy(fid2, str(r, "id"));
  json_decref(r);
  assert_int_equal(call(f, FLOW_GET, json_pack("{s:s,s:s}", "id", fid, "owner_id", b), NULL),
                   STORE_ENOTFOUND);
  assert_int_equal(call(f, FLOW_GET, json_pack("{s:s,s:s}", "name", "welcome", "owner_id", a), &r),
                   STORE_OK);
  assert_string_equal(str(r, "id"), fid);
  json_decref(r);
  assert_int_equal(call(f, FLOW_LIST, json_pack("{s:s}", "owner_id", a), &r), STORE_OK);
  assert_int_equal(json_array_size(json_object_get(r, "flows")), 2);
  assert_string_equal(str(json_array_get(json_object_get(r, "flows"), 0), "id"),
                      fid); /* oldest first */
  json_decref(r);
  assert_int_equal(
      call(f, FLOW_LIST, json_pack("{s:s,s:s}", "owner_id", a, "status", "active"), &r), STORE_OK);
  assert_int_equal(json_array_size(json_object_get(r, "flows")), 1);
  json_decref(r);
  assert_int_equal(call(f, FLOW_UPDATE,
                        json_pack("{s:s,s:s,s:o}", "id", fid2, "owner_id", a, "flow",
                                  flow_body("renamed", "archived")),
                        &r),
                   STORE_OK);
  assert_string_equal(str(r, "name"), "renamed");
  assert_string_equal(str(r, "status"), "archived");
  json_decref(r);
  assert_int_equal(
      call(f, FLOW_UPDATE,
           json_pack("{s:s,s:s,s:o}", "id", fid2, "owner_id", b, "flow", flow_body("x", "draft")),
           NULL),
      STORE_ENOTFOUND);
  assert_int_equal(call(f, FLOW_DELETE, json_pack("{s:s,s:s}", "id", fid2, "owner_id", b), NULL),
                   STORE_ENOTFOUND);
  assert_int_equal(call(f, FLOW_DELETE, json_pack("{s:s,s:s}", "id", fid2, "owner_id", a), NULL),
                   STORE_OK);
  assert_int_equal(call(f, FLOW_GET, json_pack("{s:s,s:s}", "id", fid2, "owner_id", a), NULL),
                   STORE_ENOTFOUND);

  /* Runs: insert, replace, newest first. */
  char run1[25], run2[25];
  assert_int_equal(
      call(f, FLOW_RUN_SAVE,
           json_pack("{s:{s:s,s:s,s:s,s:s,s:[],s:{}}}", "run", "flow_id", fid, "owner_id", a,
                     "contact_id", "c1", "status", "running", "trace", "state"),
           &r),
      STORE_OK);
  strcpy(run1, str(r, "id"));
  json_decref(r);
  uv_sleep(2);
  assert_int_equal(
      call(f, FLOW_RUN_SAVE,
           json_pack("{s:{s:s,s:s,s:s,s:s,s:[],s:{}}}", "run", "flow_id", fid, "owner_id", a,
                     "contact_id", "c2", "status", "running", "trace", "state"),
           &r),
      STORE_OK);
  strcpy(run2, str(r, "id"));
  json_decref(r);
  assert_int_equal(call(f, FLOW_RUN_SAVE,
                        json_pack("{s:{s:s,s:s,s:s,s:s,s:s,s:[{s:s}],s:{s:i}}}", "run", "id", run1,
                                  "flow_id", fid, "owner_id", a, "contact_id", "c1", "status",
                                  "completed", "trace", "node_id", "n1", "state", "step", 1),
                        &r),
                   STORE_OK);
  assert_string_equal(str(r, "status"), "completed");
  assert_int_equal(json_array_size(json_object_get(r, "trace")), 1);
  json_decref(r);
  assert_int_equal(call(f, FLOW_RUN_GET, json_pack("{s:s}", "id", run1), &r), STORE_OK);
  assert_int_equal(num(json_object_get(r, "state"), "step"), 1);
  json_decref(r);
  assert_int_equal(call(f, FLOW_RUN_LIST,
                        json_pack("{s:s,s:s,s:i}", "flow_id", fid, "owner_id", a, "limit", 10), &r),
                   STORE_OK);
  assert_int_equal(json_array_size(json_object_get(r, "runs")), 2);
  assert_string_equal(str(json_array_get(json_object_get(r, "runs"), 0), "id"), run2);
  json_decref(r);
  /* A trace that is its state's (as the runner saves it) is stored once and
   * read back in both places; brief answers without them. */
  {
    json_t *st = json_pack("{s:s,s:[{s:s,s:s}]}", "status", "running", "trace", "node_id", "n1",
                           "type", "condition");
    json_t *run =
        json_pack("{s:s,s:s,s:s,s:s,s:O,s:O}", "flow_id", fid, "owner_id", a, "contact_id", "c3",
                  "status", "running", "trace", json_object_get(st, "trace"), "state", st);
    assert_int_equal(call(f, FLOW_RUN_SAVE, json_pack("{s:O,s:b}", "run", run, "brief", 1), &r),
                     STORE_OK);
    assert_non_null(str(r, "id"));
    assert_null(json_object_get(r, "trace"));
    assert_null(json_object_get(r, "state"));
    json_object_set(run, "id", json_object_get(r, "id"));
    json_decref(r);
    json_array_append_new(json_object_get(st, "trace"), json_pack("{s:s}", "node_id", "n2"));
    json_object_set_new(st, "status", json_string("completed"));
    json_object_set_new(run, "status", json_string("completed"));
    assert_int_equal(call(f, FLOW_RUN_SAVE, json_pack("{s:O,s:b}", "run", run, "brief", 1), &r),
                     STORE_OK);
    assert_string_equal(str(r, "status"), "completed");
    json_decref(r);
    assert_int_equal(
        call(f, FLOW_RUN_GET, json_pack("{s:O}", "id", json_object_get(run, "id")), &r), STORE_OK);
    assert_string_equal(str(r, "status"), "completed");
    assert_string_equal(str(r, "contact_id"), "c3");
    assert_int_equal(json_array_size(json_object_get(r, "trace")), 2);
    assert_true(json_equal(json_object_get(r, "trace"), json_object_get(st, "trace")));
    assert_true(json_equal(json_object_get(r, "state"), st));
    json_decref(r);
    assert_int_equal(call(f, FLOW_RUN_LIST,
                          json_pack("{s:s,s:s,s:i,s:s}", "flow_id", fid, "owner_id", a, "limit", 10,
                                    "contact_id", "c3"),
                          &r),
                     STORE_OK);
    json_t *listed = json_array_get(json_object_get(r, "runs"), 0);
    assert_true(json_equal(json_object_get(listed, "trace"), json_object_get(st, "trace")));
    json_decref(r);
    json_decref(run);
    json_decref(st);
  }
  /* One contact's runs (run once, cooldown). */
  assert_int_equal(call(f, FLOW_RUN_LIST,
                        json_pack("{s:s,s:s,s:i,s:s}", "flow_id", fid, "owner_id", a, "limit", 10,
                                  "contact_id", "c1"),
                        &r),
                   STORE_OK);
  assert_int_equal(json_array_size(json_object_get(r, "runs")), 1);
  assert_string_equal(str(json_array_get(json_object_get(r, "runs"), 0), "id"), run1);
  json_decref(r);

  /* Run once: the first run to claim (flow, contact) is stored, a second
   * is refused with nothing stored; another contact's claim is its own. */
  for (int i = 0; i < 3; i++) {
    const char *who = i == 2 ? "c2" : "c1";
    assert_int_equal(
        call(f, FLOW_RUN_SAVE,
             json_pack("{s:{s:s,s:s,s:s,s:s,s:[],s:{}}, s:b}", "run", "flow_id", fid, "owner_id", a,
                       "contact_id", who, "status", "running", "trace", "state", "claim_once", 1),
             NULL),
        i == 1 ? STORE_ECONFLICT : STORE_OK);
  }
  assert_int_equal(call(f, FLOW_RUN_LIST,
                        json_pack("{s:s,s:s,s:i,s:s}", "flow_id", fid, "owner_id", a, "limit", 10,
                                  "contact_id", "c1"),
                        &r),
                   STORE_OK);
  assert_int_equal(json_array_size(json_object_get(r, "runs")), 2); /* run1 and the claimed one */
  json_decref(r);

  /* Scheduled steps: due ones oldest first. */
  char s1[25];
  assert_int_equal(call(f, SCHED_INSERT,
                        json_pack("{s:s,s:I}", "run_id", run1, "due_at_ms", (json_int_t)2000), &r),
                   STORE_OK);
  strcpy(s1, str(r, "id"));
  json_decref(r);
  assert_int_equal(
      call(f, SCHED_INSERT, json_pack("{s:s,s:I}", "run_id", run2, "due_at_ms", (json_int_t)1000),
           NULL),
      STORE_OK);
  assert_int_equal(
      call(f, SCHED_INSERT, json_pack("{s:s,s:I}", "run_id", run2, "due_at_ms", (json_int_t)9000),
           NULL),
      STORE_OK);
  assert_int_equal(
      call(f, SCHED_DUE, json_pack("{s:I,s:i}", "now_ms", (json_int_t)5000, "limit", 10), &r),
      STORE_OK);
  json_t *steps = json_object_get(r, "steps");
  assert_int_equal(json_array_size(steps), 2);
  assert_int_equal(num(json_array_get(steps, 0), "due_at_ms"), 1000);
  assert_string_equal(str(json_array_get(steps, 1), "id"), s1);
  json_decref(r);
  assert_int_equal(call(f, SCHED_DELETE, json_pack("{s:s}", "id", s1), NULL), STORE_OK);
  assert_int_equal(
      call(f, SCHED_DUE, json_pack("{s:I,s:i}", "now_ms", (json_int_t)5000, "limit", 10), &r),
      STORE_OK);
  assert_int_equal(json_array_size(json_object_get(r, "steps")), 1);
  json_decref(r);
  /* A step is claimed once: deleting it again finds nothing. */
  assert_int_equal(call(f, SCHED_DELETE, json_pack("{s:s}", "id", s1), NULL), STORE_ENOTFOUND);

  /* An ask's wait: taken (claimed) by the contact's answer, once. */
  assert_int_equal(call(f, SCHED_INSERT,
                        json_pack("{s:s,s:I,s:s}", "run_id", run1, "due_at_ms", (json_int_t)99000,
                                  "wait_for", "c1"),
                        &r),
                   STORE_OK);
  char w1[25];
  strcpy(w1, str(r, "id"));
  json_decref(r);
  assert_int_equal(call(f, SCHED_TAKE_WAIT, json_pack("{s:s}", "wait_for", "c2"), NULL),
                   STORE_ENOTFOUND);
  assert_int_equal(call(f, SCHED_TAKE_WAIT, json_pack("{s:s}", "wait_for", "c1"), &r), STORE_OK);
  assert_string_equal(str(r, "id"), w1);
  assert_string_equal(str(r, "run_id"), run1);
  json_decref(r);
  assert_int_equal(call(f, SCHED_TAKE_WAIT, json_pack("{s:s}", "wait_for", "c1"), NULL),
                   STORE_ENOTFOUND);
  assert_int_equal(call(f, SCHED_DELETE, json_pack("{s:s}", "id", w1), NULL), STORE_ENOTFOUND);

  /* Analytics: a node's contacts count once per version and once over all
   * versions, its runs every time; with no contact, only the runs. */
  static const struct {
    int version;
    const char *contact;
  } reach[] = {{1, "c1"}, {1, "c1"}, {1, "c2"}, {2, "c1"}, {2, NULL}};
  for (size_t i = 0; i < sizeof(reach) / sizeof(reach[0]); i++)
    assert_int_equal(
        call(f, FLOW_STATS_INC,
             json_pack("{s:s,s:i,s:{s:i},s:s?}", "flow_id", fid, "version", reach[i].version, "inc",
                       "node:n1", 1, "contact_id", reach[i].contact),
             NULL),
        STORE_OK);
  assert_int_equal(
      call(f, FLOW_STATS_GET, json_pack("{s:s,s:i}", "flow_id", fid, "version", 1), &r), STORE_OK);
  json_t *ctr = json_object_get(r, "counters");
  assert_int_equal(num(ctr, "node:n1"), 3);
  assert_int_equal(num(ctr, "contacts:n1"), 2);
  json_decref(r);
  assert_int_equal(
      call(f, FLOW_STATS_GET, json_pack("{s:s,s:i}", "flow_id", fid, "version", 2), &r), STORE_OK);
  ctr = json_object_get(r, "counters");
  assert_int_equal(num(ctr, "node:n1"), 2);
  assert_int_equal(num(ctr, "contacts:n1"), 1);
  json_decref(r);
  assert_int_equal(call(f, FLOW_STATS_GET, json_pack("{s:s}", "flow_id", fid), &r), STORE_OK);
  assert_int_equal(num(json_object_get(r, "counters"), "contacts_all:n1"), 2); /* c1, c2 */
  json_decref(r);

  /* The runner's batch: many contacts a node at once, each new one counted
   * once per set (c1 is in version 2's set and the flow's already; c3 twice in
   * one batch counts once); a contact that is not a string changes nothing. */
  assert_int_equal(
      call(f, FLOW_STATS_INC,
           json_pack("{s:s,s:i,s:{s:i},s:{s:[sss],s:[s]}}", "flow_id", fid, "version", 2, "inc",
                     "node:n1", 4, "reached", "n1", "c1", "c3", "c3", "n2", "c1"),
           NULL),
      STORE_OK);
  assert_int_equal(call(f, FLOW_STATS_INC,
                        json_pack("{s:s,s:i,s:{s:i},s:{s:[si]}}", "flow_id", fid, "version", 2,
                                  "inc", "started", 1, "reached", "n1", "c4", 7),
                        NULL),
                   STORE_EINVAL);
  assert_int_equal(
      call(f, FLOW_STATS_GET, json_pack("{s:s,s:i}", "flow_id", fid, "version", 2), &r), STORE_OK);
  ctr = json_object_get(r, "counters");
  assert_int_equal(num(ctr, "node:n1"), 6);
  assert_int_equal(num(ctr, "contacts:n1"), 2); /* c1, c3 */
  assert_int_equal(num(ctr, "contacts:n2"), 1);
  assert_int_equal(num(ctr, "started"), 0);
  json_decref(r);
  assert_int_equal(call(f, FLOW_STATS_GET, json_pack("{s:s}", "flow_id", fid), &r), STORE_OK);
  assert_int_equal(num(json_object_get(r, "counters"), "contacts_all:n1"), 3); /* c1, c2, c3 */
  assert_int_equal(num(json_object_get(r, "counters"), "contacts_all:n2"), 1);
  json_decref(r);

  /* A deleted flow's run-once claims (and reached sets) go with it. */
  assert_int_equal(call(f, FLOW_DELETE, json_pack("{s:s,s:s}", "id", fid, "owner_id", a), NULL),
                   STORE_OK);
  assert_int_equal(
      call(f, FLOW_RUN_SAVE,
           json_pack("{s:{s:s,s:s,s:s,s:s,s:[],s:{}}, s:b}", "run", "flow_id", fid, "owner_id", a,
                     "contact_id", "c1", "status", "running", "trace", "state", "claim_once", 1),
           NULL),
      STORE_OK);
  assert_int_equal(call(f, FLOW_STATS_INC,
                        json_pack("{s:s,s:i,s:{s:i},s:s}", "flow_id", fid, "version", 1, "inc",
                                  "node:n1", 1, "contact_id", "c1"),
                        NULL),
                   STORE_OK);
  assert_int_equal(call(f, FLOW_STATS_GET, json_pack("{s:s}", "flow_id", fid), &r), STORE_OK);
  assert_int_equal(num(json_object_get(r, "counters"), "contacts_all:n1"), 1);
  json_decref(r);
}

/* "Continue with Instagram" states: each used once; an expired one's record
 * is swept by a later use, so the same key (never signed again in practice)
 * would be taken anew. */
static int use_state(fx_t *f, const char *key, int64_t expires, int64_t now) {
  return call(f, OAUTH_STATE_USE,
              json_pack("{s:s,s:I,s:I}", "key", key, "expires_at_ms", (json_int_t)expires, "now_ms",
                        (json_int_t)now),
              NULL);
}

static void test_oauth_states(void **state) {
  fx_t *f = *state;
  assert_int_equal(use_state(f, "mac-1", 10000, 1000), STORE_OK);
  assert_int_equal(use_state(f, "mac-1", 10000, 1001), STORE_ECONFLICT);
  assert_int_equal(use_state(f, "mac-2", 5000, 1002), STORE_OK);
  assert_int_equal(use_state(f, "mac-2", 5000, 4000), STORE_ECONFLICT); /* not expired yet */
  /* Past mac-2's expiry, a use sweeps it; mac-1 is still held. */
  assert_int_equal(use_state(f, "mac-3", 20000, 6000), STORE_OK);
  assert_int_equal(use_state(f, "mac-2", 30000, 6001), STORE_OK);
  assert_int_equal(use_state(f, "mac-1", 10000, 6002), STORE_ECONFLICT);
  assert_int_equal(
      call(f, OAUTH_STATE_USE, json_pack("{s:I}", "expires_at_ms", (json_int_t)1), NULL),
      STORE_EINVAL);
}

/* ---- the job cap and close ---- */

typedef struct count_s {
  int done, ok;
} count_t;

static void on_count(void *ctx, int status, json_t *result) {
  count_t *c = ctx;
  c->done++;
  c->ok += status == STORE_OK;
  json_decref(result);
}

static void test_job_cap(void **state) {
  fx_t *f = *state;
  close_store(f);
  f->store = open_store(f, 10);
  assert_non_null(f->store);
  count_t c = {0};
  for (int i = 0; i < 10; i++)
    assert_int_equal(store_call(f->store, STORE_PING, NULL, on_count, &c), 0);
  assert_int_equal(store_call(f->store, STORE_PING, NULL, on_count, &c), STORE_EBUSY);
  assert_int_equal(store_jobs_in_flight(f->store), 10);
  while (c.done < 10) uv_run(&f->loop, UV_RUN_ONCE);
  assert_int_equal(c.ok, 10);
  assert_int_equal(store_jobs_in_flight(f->store), 0);
  assert_int_equal(store_call(f->store, STORE_PING, NULL, on_count, &c), 0);
  while (c.done < 11) uv_run(&f->loop, UV_RUN_ONCE);
  assert_string_equal(store_backend(f->store), f->mongo ? "mongo" : "sqlite");
  assert_int_equal(store_healthy(f->store), 1);
}

/* Close with jobs in flight: every callback runs, with success, before done; the
 * messages are durable and readable after reopening. */
static void test_close_in_flight(void **state) {
  fx_t *f = *state;
  char a[25], b[25], dm[25];
  new_user(f, "a@x.io", "A", a);
  new_user(f, "b@x.io", "B", b);
  new_conv(f, "direct", a, b, NULL, dm);
  count_t c = {0};
  for (int i = 0; i < 300; i++)
    assert_int_equal(store_call(f->store, MSG_INSERT,
                                json_pack("{s:s,s:s,s:s,s:s}", "conversation_id", dm, "sender_id",
                                          a, "text", "bye", "source", "web"),
                                on_count, &c),
                     0);
  int closed = 0;
  store_close(f->store, on_closed, &closed);
  assert_int_equal(store_call(f->store, STORE_PING, NULL, on_count, &c), STORE_ECLOSED);
  while (!closed) {
    uv_run(&f->loop, UV_RUN_ONCE);
    if (closed) assert_int_equal(c.done, 300);
  }
  assert_int_equal(c.ok, 300);
  f->store = open_store(f, 100);
  assert_non_null(f->store);
  json_t *r = NULL;
  assert_int_equal(call(f, CONV_GET, json_pack("{s:s}", "id", dm), &r), STORE_OK);
  assert_int_equal(num(r, "last_seq"), 300);
  json_decref(r);
}

static void test_open_failure(void **state) {
  fx_t *f = *state;
  if (f->mongo) return; /* an unreachable MongoDB is the outage suite's business */
  assert_null(store_open_sqlite(&f->loop, "/nonexistent-dir/parley/x.db", 10));
}

/* ---- channels ---- */

static json_t *channel_get(fx_t *f, const char *id, const char *user) {
  json_t *r = NULL;
  assert_int_equal(call(f, CONV_GET, json_pack("{s:s,s:s}", "id", id, "user_id", user), &r),
                   STORE_OK);
  return r;
}

/* Channels on both backends: members outside the conversation (no
 * participants, member_count kept), admins alone post (nothing stored
 * otherwise, and results name no recipients), joins by token or public id,
 * leaves, roles, pages of members, the directory and a user's channel ids. */
static void test_channels(void **state) {
  fx_t *f = *state;
  char ann[25], bob[25], cat[25], pub[25], priv[25];
  new_user(f, "ann@ch.io", "Ann", ann);
  new_user(f, "bob@ch.io", "Bob", bob);
  new_user(f, "cat@ch.io", "Cat", cat);
  json_t *r = NULL;
  assert_int_equal(call(f, CONV_CREATE,
                        json_pack("{s:s,s:s,s:s,s:[s],s:b}", "type", "channel", "name", "News",
                                  "creator_id", ann, "participant_ids", ann, "public", 1),
                        &r),
                   STORE_OK);
  json_t *cv = json_object_get(r, "conversation");
  strcpy(pub, str(cv, "id"));
  assert_null(json_object_get(cv, "participants"));
  assert_int_equal(num(cv, "member_count"), 1);
  assert_true(json_is_true(json_object_get(cv, "public")));
  assert_string_equal(str(json_object_get(cv, "me"), "role"), "admin");
  json_decref(r);
  assert_int_equal(call(f, CONV_CREATE,
                        json_pack("{s:s,s:s,s:s,s:[s]}", "type", "channel", "name", "Priv",
                                  "creator_id", ann, "participant_ids", ann),
                        &r),
                   STORE_OK);
  strcpy(priv, str(json_object_get(r, "conversation"), "id"));
  json_decref(r);

  /* Joins: public by id (again: joined false), private not by id. */
  assert_int_equal(call(f, CHANNEL_JOIN, json_pack("{s:s,s:s}", "id", pub, "user_id", bob), &r),
                   STORE_OK);
  assert_true(json_is_true(json_object_get(r, "joined")));
  cv = json_object_get(r, "conversation");
  assert_int_equal(num(cv, "member_count"), 2);
  assert_string_equal(str(json_object_get(cv, "me"), "role"), "member");
  json_decref(r);
  assert_int_equal(call(f, CHANNEL_JOIN, json_pack("{s:s,s:s}", "id", pub, "user_id", bob), &r),
                   STORE_OK);
  assert_true(json_is_false(json_object_get(r, "joined")));
  assert_int_equal(num(json_object_get(r, "conversation"), "member_count"), 2);
  json_decref(r);
  assert_int_equal(call(f, CHANNEL_JOIN, json_pack("{s:s,s:s}", "id", priv, "user_id", bob), NULL),
                   STORE_ENOTFOUND);
  /* Invite tokens: admins only; a new one replaces the old; revoked, none. */
  assert_int_equal(call(f, CHANNEL_INVITE,
                        json_pack("{s:s,s:s,s:b}", "id", priv, "user_id", bob, "revoke", 0), NULL),
                   STORE_ENOTFOUND);
  assert_int_equal(call(f, CHANNEL_INVITE,
                        json_pack("{s:s,s:s,s:b}", "id", priv, "user_id", ann, "revoke", 0), &r),
                   STORE_OK);
  char token[40];
  strcpy(token, str(r, "invite_token"));
  json_decref(r);
  assert_int_equal(
      call(f, CHANNEL_JOIN, json_pack("{s:s,s:s}", "token", token, "user_id", cat), &r), STORE_OK);
  assert_string_equal(str(json_object_get(r, "conversation"), "id"), priv);
  json_decref(r);
  assert_int_equal(call(f, CHANNEL_INVITE,
                        json_pack("{s:s,s:s,s:b}", "id", priv, "user_id", cat, "revoke", 0), NULL),
                   STORE_EFORBIDDEN);
  assert_int_equal(call(f, CHANNEL_INVITE,
                        json_pack("{s:s,s:s,s:b}", "id", priv, "user_id", ann, "revoke", 1), &r),
                   STORE_OK);
  assert_true(json_is_null(json_object_get(r, "invite_token")));
  json_decref(r);
  assert_int_equal(
      call(f, CHANNEL_JOIN, json_pack("{s:s,s:s}", "token", token, "user_id", bob), NULL),
      STORE_ENOTFOUND);

  /* Posting: admins only, members EFORBIDDEN, outsiders ENOTFOUND; nothing
   * stored; results name no recipients. */
  int status;
  r = send_msg(f, pub, ann, "news", NULL, &status);
  assert_int_equal(status, STORE_OK);
  assert_int_equal(json_array_size(json_object_get(r, "participant_ids")), 0);
  json_decref(r);
  r = send_msg(f, pub, bob, "may I", NULL, &status);
  assert_int_equal(status, STORE_EFORBIDDEN);
  r = send_msg(f, pub, cat, "and I", NULL, &status);
  assert_int_equal(status, STORE_ENOTFOUND);
  r = channel_get(f, pub, bob);
  assert_int_equal(num(r, "last_seq"), 1);
  assert_int_equal(num(json_object_get(r, "me"), "last_read_seq"), 0);
  json_decref(r);
  r = channel_get(f, pub, ann);
  assert_int_equal(num(json_object_get(r, "me"), "last_read_seq"), 1); /* read what it wrote */
  json_decref(r);
  assert_int_equal(
      call(f, CONV_MARK_READ, json_pack("{s:s,s:s,s:i}", "id", pub, "user_id", bob, "seq", 5), &r),
      STORE_OK);
  assert_int_equal(num(r, "last_read_seq"), 1);
  json_decref(r);
  assert_int_equal(call(f, MSG_LIST,
                        json_pack("{s:s,s:s,s:i,s:i}", "conversation_id", pub, "user_id", bob,
                                  "limit", 10, "after_seq", 0),
                        &r),
                   STORE_OK);
  assert_int_equal(json_array_size(json_object_get(r, "messages")), 1);
  json_decref(r);

  /* Roles: the last admin stays one; a promoted member posts. */
  assert_int_equal(call(f, CHANNEL_SET_ROLE,
                        json_pack("{s:s,s:s,s:s,s:s}", "id", pub, "user_id", ann, "member_id", ann,
                                  "role", "member"),
                        NULL),
                   STORE_ECONFLICT);
  assert_int_equal(call(f, CHANNEL_SET_ROLE,
                        json_pack("{s:s,s:s,s:s,s:s}", "id", pub, "user_id", bob, "member_id", bob,
                                  "role", "admin"),
                        NULL),
                   STORE_EFORBIDDEN);
  assert_int_equal(call(f, CHANNEL_SET_ROLE,
                        json_pack("{s:s,s:s,s:s,s:s}", "id", pub, "user_id", ann, "member_id", bob,
                                  "role", "admin"),
                        &r),
                   STORE_OK);
  assert_string_equal(str(json_object_get(r, "member"), "name"), "Bob");
  json_decref(r);
  r = send_msg(f, pub, bob, "now I may", NULL, &status);
  assert_int_equal(status, STORE_OK);
  json_decref(r);

  /* Lists: the user's conversations include its channels with "me". */
  assert_int_equal(call(f, CONV_LIST, json_pack("{s:s,s:i}", "user_id", cat, "limit", 10), &r),
                   STORE_OK);
  json_t *convs = json_object_get(r, "conversations");
  assert_int_equal(json_array_size(convs), 1);
  assert_string_equal(str(json_object_get(json_array_get(convs, 0), "me"), "role"), "member");
  json_decref(r);
  assert_int_equal(call(f, CHANNEL_IDS_OF_USER, json_pack("{s:s}", "user_id", ann), &r), STORE_OK);
  assert_int_equal(json_array_size(json_object_get(r, "ids")), 2);
  json_decref(r);
  /* Several users in one call: each one's channels, as alone; none is []. */
  assert_int_equal(call(f, CHANNEL_IDS_OF_USERS,
                        json_pack("{s:[s,s,s,s]}", "user_ids", ann, bob, cat, "nobody"), &r),
                   STORE_OK);
  json_t *by_user = json_object_get(r, "ids");
  assert_int_equal(json_object_size(by_user), 4);
  assert_int_equal(json_array_size(json_object_get(by_user, "nobody")), 0);
  const char *who3[] = {ann, bob, cat};
  for (int w = 0; w < 3; w++) {
    json_t *one = NULL;
    assert_int_equal(call(f, CHANNEL_IDS_OF_USER, json_pack("{s:s}", "user_id", who3[w]), &one),
                     STORE_OK);
    json_t *want = json_object_get(one, "ids"), *got = json_object_get(by_user, who3[w]);
    assert_int_equal(json_array_size(got), json_array_size(want));
    size_t wi, gi;
    json_t *wv, *gv;
    json_array_foreach(want, wi, wv) {
      int found = 0;
      json_array_foreach(got, gi, gv) found += json_equal(wv, gv);
      assert_int_equal(found, 1);
    }
    json_decref(one);
  }
  assert_true(json_array_size(json_object_get(by_user, ann)) == 2);
  json_decref(r);
  json_t *many = json_array();
  for (int k = 0; k <= CHANNEL_IDS_BATCH_MAX; k++) json_array_append_new(many, json_string(ann));
  assert_int_equal(call(f, CHANNEL_IDS_OF_USERS, json_pack("{s:o}", "user_ids", many), NULL),
                   STORE_EINVAL);
  assert_int_equal(call(f, CHANNEL_IDS_OF_USERS, json_pack("{s:[]}", "user_ids"), NULL),
                   STORE_EINVAL);
  assert_int_equal(call(f, CHANNEL_IDS_OF_USERS, json_pack("{s:[i]}", "user_ids", 1), NULL),
                   STORE_EINVAL);
  assert_int_equal(
      call(f, CHANNEL_LIST_PUBLIC, json_pack("{s:s,s:i}", "user_id", cat, "limit", 10), &r),
      STORE_OK);
  assert_int_equal(json_array_size(json_object_get(r, "channels")), 1);
  assert_string_equal(str(json_array_get(json_object_get(r, "channels"), 0), "id"), pub);
  assert_null(json_object_get(json_array_get(json_object_get(r, "channels"), 0), "me"));
  json_decref(r);

  /* Members paged by id; admins add by id. */
  assert_int_equal(
      call(f, CONV_ADD_MEMBERS,
           json_pack("{s:s,s:s,s:[s]}", "id", pub, "user_id", ann, "user_ids", cat), &r),
      STORE_OK);
  assert_int_equal(num(r, "member_count"), 3);
  json_decref(r);
  assert_int_equal(
      call(f, CONV_MEMBERS, json_pack("{s:s,s:s,s:i}", "id", pub, "user_id", cat, "limit", 2), &r),
      STORE_OK);
  json_t *page = json_object_get(r, "members");
  assert_int_equal(json_array_size(page), 2);
  assert_true(strcmp(str(json_array_get(page, 0), "id"), str(json_array_get(page, 1), "id")) < 0);
  char cursor[25];
  strcpy(cursor, str(r, "next_cursor"));
  json_decref(r);
  assert_int_equal(
      call(f, CONV_MEMBERS,
           json_pack("{s:s,s:s,s:i,s:s}", "id", pub, "user_id", cat, "limit", 2, "cursor", cursor),
           &r),
      STORE_OK);
  assert_int_equal(json_array_size(json_object_get(r, "members")), 1);
  assert_true(json_is_null(json_object_get(r, "next_cursor")));
  assert_non_null(str(json_array_get(json_object_get(r, "members"), 0), "name"));
  json_decref(r);

  /* Leaving: counted; an admin among two may go; the last admin with others may not. */
  assert_int_equal(
      call(f, CONV_REMOVE_MEMBER,
           json_pack("{s:s,s:s,s:s}", "id", pub, "user_id", cat, "member_id", cat), &r),
      STORE_OK);
  assert_int_equal(num(json_object_get(r, "conversation"), "member_count"), 2);
  json_decref(r);
  assert_int_equal(
      call(f, CONV_REMOVE_MEMBER,
           json_pack("{s:s,s:s,s:s}", "id", pub, "user_id", bob, "member_id", bob), NULL),
      STORE_OK);
  assert_int_equal(
      call(f, CONV_REMOVE_MEMBER,
           json_pack("{s:s,s:s,s:s}", "id", priv, "user_id", ann, "member_id", ann), NULL),
      STORE_ECONFLICT);
  assert_int_equal(call(f, CONV_GET, json_pack("{s:s,s:s}", "id", pub, "user_id", cat), NULL),
                   STORE_ENOTFOUND);
}

/* The key directory: devices per user, prekeys per device, and claims that
 * hand each one-time prekey out once even when many are in flight at once
 * (MongoDB runs them on several threads). */
typedef struct claim_s {
  int done, status;
  json_t *result;
} claim_t;

static void on_claim(void *ctx, int status, json_t *result) {
  claim_t *c = ctx;
  c->done = 1;
  c->status = status;
  c->result = result;
}

static json_t *prekeys(int from, int n) {
  json_t *a = json_array();
  for (int i = from; i < from + n; i++) {
    char k[16];
    snprintf(k, sizeof(k), "key-%03d", i);
    json_array_append_new(a, json_string(k));
  }
  return a;
}

static void test_devices(void **state) {
  fx_t *f = *state;
  json_t *r = NULL;
  char dev[DEVICES_MAX + 1][25];
  for (int i = 0; i <= DEVICES_MAX; i++) {
    util_new_id(dev[i]);
    int rc = call(
        f, DEVICE_CREATE,
        json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:o}", "id", dev[i], "user_id", "ann", "name",
                  "phone", "identity_key", "ik", "signed_prekey", "spk", "signed_prekey_signature",
                  "sig", "one_time_prekeys", prekeys(0, i == 0 ? 30 : 1)),
        &r);
    if (i == DEVICES_MAX) {
      assert_int_equal(rc, STORE_ECONFLICT); /* one device too many: nothing stored */
      break;
    }
    assert_int_equal(rc, STORE_OK);
    assert_string_equal(str(r, "id"), dev[i]);
    assert_int_equal(num(r, "one_time_prekeys"), i == 0 ? 30 : 1);
    json_decref(r);
  }
  assert_int_equal(call(f, DEVICE_LIST, json_pack("{s:s}", "user_id", "ann"), &r), STORE_OK);
  assert_int_equal(json_array_size(json_object_get(r, "devices")), DEVICES_MAX);
  assert_string_equal(str(json_array_get(json_object_get(r, "devices"), 0), "id"), dev[0]);
  json_decref(r);
  /* Another user's device is not found, for every operation. */
  assert_int_equal(
      call(f, DEVICE_GET, json_pack("{s:s, s:s}", "id", dev[0], "user_id", "bob"), NULL),
      STORE_ENOTFOUND);
  assert_int_equal(
      call(f, DEVICE_DELETE, json_pack("{s:s, s:s}", "id", dev[0], "user_id", "bob"), NULL),
      STORE_ENOTFOUND);
  assert_int_equal(
      call(f, DEVICE_CLAIM, json_pack("{s:s, s:s}", "id", dev[0], "user_id", "bob"), NULL),
      STORE_ENOTFOUND);
  /* Adding: a key held already is kept once; past the bound nothing changes. */
  assert_int_equal(
      call(f, DEVICE_UPDATE,
           json_pack("{s:s, s:s, s:s, s:s, s:o}", "id", dev[0], "user_id", "ann", "signed_prekey",
                     "spk2", "signed_prekey_signature", "sig2", "add_prekeys", prekeys(25, 10)),
           &r),
      STORE_OK);
  assert_int_equal(num(r, "one_time_prekeys"), 35);
  assert_string_equal(str(r, "signed_prekey"), "spk2");
  json_decref(r);
  json_t *many = json_array();
  for (int i = 0; i < DEVICE_PREKEYS_MAX; i++) {
    char k[16];
    snprintf(k, sizeof(k), "more-%d", i);
    json_array_append_new(many, json_string(k));
  }
  assert_int_equal(
      call(f, DEVICE_UPDATE,
           json_pack("{s:s, s:s, s:s, s:s, s:o}", "id", dev[0], "user_id", "ann", "signed_prekey",
                     "spk3", "signed_prekey_signature", "sig3", "add_prekeys", many),
           NULL),
      STORE_ECONFLICT);
  assert_int_equal(call(f, DEVICE_GET, json_pack("{s:s, s:s}", "id", dev[0], "user_id", "ann"), &r),
                   STORE_OK);
  assert_int_equal(num(r, "one_time_prekeys"), 35);
  assert_string_equal(str(r, "signed_prekey"), "spk2");
  json_decref(r);

  /* 40 claims in flight at once for 35 keys: 35 distinct keys, then none. */
  enum { N = 40 };
  claim_t cl[N];
  memset(cl, 0, sizeof(cl));
  for (int i = 0; i < N; i++)
    assert_int_equal(
        store_call(f->store, DEVICE_CLAIM, json_pack("{s:s, s:s}", "id", dev[0], "user_id", "ann"),
                   on_claim, &cl[i]),
        0);
  for (int i = 0; i < N; i++)
    while (!cl[i].done) uv_run(&f->loop, UV_RUN_ONCE);
  json_t *seen = json_object();
  int nulls = 0;
  for (int i = 0; i < N; i++) {
    assert_int_equal(cl[i].status, STORE_OK);
    json_t *b = json_array_get(json_object_get(cl[i].result, "bundles"), 0);
    assert_string_equal(str(b, "identity_key"), "ik");
    assert_string_equal(str(b, "signed_prekey"), "spk2");
    json_t *k = json_object_get(b, "one_time_prekey");
    if (json_is_null(k)) {
      nulls++;
    } else {
      assert_null(json_object_get(seen, json_string_value(k)));
      json_object_set_new(seen, json_string_value(k), json_true());
    }
    json_decref(cl[i].result);
  }
  assert_int_equal(json_object_size(seen), 35);
  assert_int_equal(nulls, N - 35);
  json_decref(seen);

  /* All of a user's devices: one bundle each, with what remains. */
  assert_int_equal(call(f, DEVICE_CLAIM, json_pack("{s:s}", "user_id", "ann"), &r), STORE_OK);
  assert_int_equal(json_array_size(json_object_get(r, "bundles")), DEVICES_MAX);
  json_t *b1 = json_array_get(json_object_get(r, "bundles"), 1);
  assert_string_equal(str(b1, "one_time_prekey"), "key-000");
  assert_int_equal(num(b1, "remaining"), 0);
  json_decref(r);

  assert_int_equal(
      call(f, DEVICE_DELETE, json_pack("{s:s, s:s}", "id", dev[1], "user_id", "ann"), NULL),
      STORE_OK);
  assert_int_equal(
      call(f, DEVICE_GET, json_pack("{s:s, s:s}", "id", dev[1], "user_id", "ann"), NULL),
      STORE_ENOTFOUND);
}

/* Calls: a user is in one live call at a time, each transition happens once,
 * a lease that is not renewed ends the call (its instance died). */
static int new_call(fx_t *f, const char *id, const char *caller, const char *callee, long long now,
                    long long lease, json_t **r) {
  return call(f, CALL_CREATE,
              json_pack("{s:s, s:s, s:s, s:s, s:s, s:I, s:I}", "id", id, "conversation_id", "c1",
                        "caller_id", caller, "callee_id", callee, "media", "audio", "now_ms",
                        (json_int_t)now, "lease_until_ms", (json_int_t)lease),
              r);
}

static int set_state(fx_t *f, const char *id, const char *from, const char *to, long long now,
                     json_t **r) {
  return call(f, CALL_SET_STATE,
              json_pack("{s:s, s:[s], s:s, s:I}", "id", id, "from", from, "state", to, "now_ms",
                        (json_int_t)now),
              r);
}

static void test_calls(void **state) {
  fx_t *f = *state;
  json_t *r;
  assert_int_equal(new_call(f, "k1", "ann", "bob", 1000, 31000, &r), STORE_OK);
  assert_string_equal(str(r, "state"), "ringing");
  assert_true(json_is_null(json_object_get(r, "answered_at_ms")));
  json_decref(r);
  /* Busy: either of them, either side. */
  assert_int_equal(new_call(f, "k2", "cat", "bob", 2000, 32000, NULL), STORE_ECONFLICT);
  assert_int_equal(new_call(f, "k3", "ann", "cat", 2000, 32000, NULL), STORE_ECONFLICT);
  assert_int_equal(call(f, CALL_GET, json_pack("{s:s}", "id", "k2"), NULL), STORE_ENOTFOUND);
  /* Accepted once; a second accept or a reject after it is a conflict. */
  assert_int_equal(set_state(f, "k1", "ringing", "active", 3000, &r), STORE_OK);
  assert_int_equal(num(r, "answered_at_ms"), 3000);
  json_decref(r);
  assert_int_equal(set_state(f, "k1", "ringing", "active", 3001, NULL), STORE_ECONFLICT);
  assert_int_equal(set_state(f, "k1", "ringing", "ended", 3001, NULL), STORE_ECONFLICT);
  assert_int_equal(set_state(f, "nope", "ringing", "ended", 3001, NULL), STORE_ENOTFOUND);
  /* Renewed while live. */
  assert_int_equal(
      call(f, CALL_RENEW,
           json_pack("{s:[s,s], s:I}", "ids", "k1", "zz", "lease_until_ms", (json_int_t)61000), &r),
      STORE_OK);
  assert_int_equal(json_array_size(json_object_get(r, "live")), 1);
  json_decref(r);
  assert_int_equal(new_call(f, "k4", "cat", "bob", 40000, 70000, NULL), STORE_ECONFLICT);
  /* Hung up: both free at once. */
  assert_int_equal(set_state(f, "k1", "active", "ended", 50000, &r), STORE_OK);
  assert_int_equal(num(r, "ended_at_ms"), 50000);
  json_decref(r);
  assert_int_equal(new_call(f, "k5", "cat", "bob", 50001, 80001, NULL), STORE_OK);
  /* Not renewed: past its lease bob is free again, and the sweep ends it once. */
  assert_int_equal(new_call(f, "k6", "bob", "dan", 70000, 100000, NULL), STORE_ECONFLICT);
  assert_int_equal(new_call(f, "k6", "bob", "dan", 80002, 110000, NULL), STORE_OK);
  assert_int_equal(
      call(f, CALL_SWEEP, json_pack("{s:I, s:i}", "now_ms", (json_int_t)90000, "limit", 10), &r),
      STORE_OK);
  assert_int_equal(json_array_size(json_object_get(r, "calls")), 1);
  json_t *k5 = json_array_get(json_object_get(r, "calls"), 0);
  assert_string_equal(str(k5, "id"), "k5");
  assert_string_equal(str(k5, "state"), "ended");
  assert_int_equal(num(k5, "ended_at_ms"), 80001);
  json_decref(r);
  assert_int_equal(
      call(f, CALL_SWEEP, json_pack("{s:I, s:i}", "now_ms", (json_int_t)90000, "limit", 10), &r),
      STORE_OK);
  assert_int_equal(json_array_size(json_object_get(r, "calls")), 0);
  json_decref(r);
}

/* Uploads never sent (ATTACH_SWEEP): only unsent records older than the
 * cut are removed, in bounded batches; a record a message took is never
 * removed, and one removed can no longer be sent (both orders). */
static void test_attach_sweep(void **state) {
  fx_t *f = *state;
  char a[25], b[25], dm[25], ids[3][25];
  new_user(f, "a@x.io", "A", a);
  new_user(f, "b@x.io", "B", b);
  new_conv(f, "direct", a, b, NULL, dm);
  for (int i = 0; i < 3; i++) {
    util_new_id(ids[i]);
    json_t *r = NULL;
    assert_int_equal(
        call(f, ATTACH_CREATE,
             json_pack("{s:s,s:s,s:s,s:s,s:i,s:s}", "id", ids[i], "user_id", a, "type", "file",
                       "content_type", "application/pdf", "size", 100, "name", "f.pdf"),
             &r),
        STORE_OK);
    json_decref(r);
  }
  /* A message takes the second one. */
  json_t *r = NULL;
  assert_int_equal(
      call(f, MSG_INSERT,
           json_pack("{s:s,s:s,s:n,s:s,s:b,s:[s]}", "conversation_id", dm, "sender_id", a, "text",
                     "source", "web", "check_member", 1, "attachment_ids", ids[1]),
           &r),
      STORE_OK);
  json_decref(r);
  int64_t now = util_now_ms();
  /* Too young: nothing. A bad call: EINVAL. */
  r = NULL;
  assert_int_equal(
      call(f, ATTACH_SWEEP, json_pack("{s:I,s:i}", "before_ms", now - 60000, "limit", 10), &r),
      STORE_OK);
  assert_int_equal(json_array_size(json_object_get(r, "removed")), 0);
  json_decref(r);
  r = NULL;
  assert_int_equal(call(f, ATTACH_SWEEP, json_pack("{s:i}", "limit", 10), &r), STORE_EINVAL);
  json_decref(r);
  /* Bounded batches: one, then the other; never the one sent. */
  json_t *seen = json_array();
  for (int round = 0; round < 3; round++) {
    r = NULL;
    assert_int_equal(
        call(f, ATTACH_SWEEP, json_pack("{s:I,s:i}", "before_ms", now + 60000, "limit", 1), &r),
        STORE_OK);
    json_t *removed = json_object_get(r, "removed");
    assert_int_equal(json_array_size(removed), round < 2 ? 1 : 0);
    if (round < 2) {
      const char *id = json_string_value(json_array_get(removed, 0));
      assert_string_not_equal(id, ids[1]);
      json_array_append_new(seen, json_string(id));
    }
    json_decref(r);
  }
  assert_string_not_equal(json_string_value(json_array_get(seen, 0)),
                          json_string_value(json_array_get(seen, 1)));
  json_decref(seen);
  /* Swept first, sent after: not found, nothing stored. */
  r = NULL;
  assert_int_equal(
      call(f, MSG_INSERT,
           json_pack("{s:s,s:s,s:n,s:s,s:b,s:[s]}", "conversation_id", dm, "sender_id", a, "text",
                     "source", "web", "check_member", 1, "attachment_ids", ids[0]),
           &r),
      STORE_ENOTFOUND);
  json_decref(r);
  /* The one sent is still there and may be sent again. */
  r = NULL;
  assert_int_equal(call(f, ATTACH_GET, json_pack("{s:s}", "id", ids[1]), &r), STORE_OK);
  json_decref(r);
  r = NULL;
  assert_int_equal(
      call(f, MSG_INSERT,
           json_pack("{s:s,s:s,s:n,s:s,s:b,s:[s]}", "conversation_id", dm, "sender_id", a, "text",
                     "source", "web", "check_member", 1, "attachment_ids", ids[1]),
           &r),
      STORE_OK);
  json_decref(r);
}

/* Web Push subscriptions: an endpoint once (a second save moves it, keeping
 * its id), a bound per user, lists by user, deletes by owner or by endpoint. */
static json_t *push_save(fx_t *f, const char *id, const char *user, const char *endpoint,
                         int want) {
  json_t *r = NULL;
  assert_int_equal(
      call(f, PUSH_SUB_SAVE,
           json_pack("{s:s, s:s, s:s, s:s, s:s, s:b}", "id", id, "user_id", user, "endpoint",
                     endpoint, "p256dh", "pk", "auth", "au", "preview", strcmp(user, "bob") != 0),
           want == STORE_OK ? &r : NULL),
      want);
  return r;
}

static size_t push_count(fx_t *f, const char *users) {
  json_t *r = NULL;
  assert_int_equal(
      call(f, PUSH_SUB_LIST, json_pack("{s:o}", "user_ids", json_loads(users, 0, NULL)), &r),
      STORE_OK);
  size_t n = json_array_size(json_object_get(r, "subscriptions"));
  json_decref(r);
  return n;
}

static void test_push_subscriptions(void **state) {
  fx_t *f = *state;
  char id[PUSH_SUBS_MAX + 2][25], ep[64];
  for (int i = 0; i <= PUSH_SUBS_MAX; i++) {
    util_new_id(id[i]);
    snprintf(ep, sizeof(ep), "https://push.example/%d", i);
    json_t *r = push_save(f, id[i], "ann", ep, i == PUSH_SUBS_MAX ? STORE_ECONFLICT : STORE_OK);
    if (!r) continue;
    json_t *sub = json_object_get(r, "subscription");
    assert_true(json_is_true(json_object_get(r, "created")));
    assert_string_equal(str(sub, "id"), id[i]);
    assert_string_equal(str(sub, "endpoint"), ep);
    assert_string_equal(str(sub, "p256dh"), "pk");
    assert_true(json_is_true(json_object_get(sub, "preview")));
    json_decref(r);
  }
  assert_int_equal(push_count(f, "[\"ann\"]"), PUSH_SUBS_MAX);
  /* The same endpoint again (a refreshed subscription) is no new one. */
  json_t *r = push_save(f, id[PUSH_SUBS_MAX], "ann", "https://push.example/0", STORE_OK);
  assert_true(json_is_false(json_object_get(r, "created")));
  assert_string_equal(str(json_object_get(r, "subscription"), "id"), id[0]);
  json_decref(r);
  /* Another user subscribing on that browser takes the endpoint over. */
  util_new_id(id[PUSH_SUBS_MAX + 1]);
  r = push_save(f, id[PUSH_SUBS_MAX + 1], "bob", "https://push.example/0", STORE_OK);
  assert_string_equal(str(json_object_get(r, "subscription"), "user_id"), "bob");
  assert_true(json_is_false(json_object_get(json_object_get(r, "subscription"), "preview")));
  json_decref(r);
  assert_int_equal(push_count(f, "[\"ann\"]"), PUSH_SUBS_MAX - 1);
  assert_int_equal(push_count(f, "[\"ann\", \"bob\", \"cat\"]"), PUSH_SUBS_MAX);
  /* Deleting: another user's is not found; an endpoint goes whoever holds it. */
  assert_int_equal(
      call(f, PUSH_SUB_DELETE, json_pack("{s:s, s:s}", "id", id[1], "user_id", "bob"), NULL),
      STORE_ENOTFOUND);
  assert_int_equal(
      call(f, PUSH_SUB_DELETE, json_pack("{s:s, s:s}", "id", id[1], "user_id", "ann"), NULL),
      STORE_OK);
  assert_int_equal(
      call(f, PUSH_SUB_DELETE, json_pack("{s:s}", "endpoint", "https://push.example/0"), NULL),
      STORE_OK);
  assert_int_equal(
      call(f, PUSH_SUB_DELETE, json_pack("{s:s}", "endpoint", "https://push.example/0"), NULL),
      STORE_ENOTFOUND);
  assert_int_equal(push_count(f, "[\"ann\", \"bob\"]"), PUSH_SUBS_MAX - 2);
}

/* ---- Instagram media (ATTACH_MEDIA_*) ---- */

#define MEDIA_A "aaaaaaaaaaaaaaaaaaaaaaa1"
#define MEDIA_B "aaaaaaaaaaaaaaaaaaaaaaa2"

static json_t *claim_media(fx_t *f, json_int_t now) {
  json_t *r = NULL;
  assert_int_equal(
      call(f, ATTACH_MEDIA_CLAIM,
           json_pack("{s:I,s:I,s:i}", "now_ms", now, "lease_ms", (json_int_t)100000, "limit", 10),
           &r),
      STORE_OK);
  return r;
}

/* Recorded once (a retried event adds nothing), claimed once per lease, a
 * failure due again when said, stored into the message's copy, failed for
 * good marked on it; a deleted message takes its records with it. */
static void test_instagram_media(void **state) {
  fx_t *f = *state;
  char ann[25], bob[25], conv[25];
  new_user(f, "ann@example.com", "Ann", ann);
  new_user(f, "bob@example.com", "Bob", bob);
  new_conv(f, "direct", ann, bob, NULL, conv);
  json_t *r = NULL;
  json_t *att = json_pack("[{s:s,s:s,s:s,s:s,s:s},{s:s,s:s,s:s,s:s,s:s}]", "id", MEDIA_A, "type",
                          "image", "name", "instagram-image", "source_url", "https://cdn.example/a",
                          "fetch", "pending", "id", MEDIA_B, "type", "story_mention", "name",
                          "instagram-story_mention", "source_url", "https://cdn.example/b", "fetch",
                          "pending");
  assert_int_equal(call(f, MSG_INSERT,
                        json_pack("{s:s,s:s,s:n,s:s,s:o}", "conversation_id", conv, "sender_id",
                                  ann, "text", "source", "web", "attachments", att),
                        &r),
                   STORE_OK);
  char mid[25];
  strcpy(mid, str(json_object_get(r, "message"), "id"));
  json_decref(r);
  for (int round = 0; round < 2; round++) {
    json_t *items = json_pack(
        "[{s:s,s:s,s:s,s:s},{s:s,s:s,s:s,s:s}]", "id", MEDIA_A, "type", "image", "name",
        "instagram-image", "source_url", "https://cdn.example/a", "id", MEDIA_B, "type",
        "story_mention", "name", "instagram-story_mention", "source_url", "https://cdn.example/b");
    assert_int_equal(
        call(f, ATTACH_MEDIA_ADD,
             json_pack("{s:s,s:s,s:o}", "message_id", mid, "user_id", ann, "items", items), &r),
        STORE_OK);
    assert_int_equal(num(r, "added"), round == 0 ? 2 : 0);
    json_decref(r);
  }
  r = claim_media(f, util_now_ms());
  assert_int_equal(json_array_size(json_object_get(r, "media")), 2);
  json_t *first = json_array_get(json_object_get(r, "media"), 0);
  assert_int_equal(num(first, "attempts"), 0);
  assert_non_null(strstr(str(first, "source_url"), "https://cdn.example/"));
  json_decref(r);
  /* Leased: nobody claims them again before the lease ends. */
  json_int_t now = util_now_ms();
  r = claim_media(f, now);
  assert_int_equal(json_array_size(json_object_get(r, "media")), 0);
  assert_true(num(r, "next_ms") > now);
  json_decref(r);
  /* A failed fetch of A, due again at now + 1000. */
  assert_int_equal(call(f, ATTACH_MEDIA_DONE,
                        json_pack("{s:s,s:I}", "id", MEDIA_A, "retry_at_ms", now + 1000), &r),
                   STORE_OK);
  json_decref(r);
  r = claim_media(f, now + 999);
  assert_int_equal(json_array_size(json_object_get(r, "media")), 0);
  json_decref(r);
  r = claim_media(f, now + 1000);
  assert_int_equal(json_array_size(json_object_get(r, "media")), 1);
  assert_string_equal(str(json_array_get(json_object_get(r, "media"), 0), "id"), MEDIA_A);
  assert_int_equal(num(json_array_get(json_object_get(r, "media"), 0), "attempts"), 1);
  json_decref(r);
  /* A is stored; B failed for good. */
  assert_int_equal(call(f, ATTACH_MEDIA_DONE,
                        json_pack("{s:s,s:s,s:i,s:i,s:i,s:s,s:i,s:s}", "id", MEDIA_A,
                                  "content_type", "image/jpeg", "size", 10, "width", 4, "height", 3,
                                  "thumbnail_key", "bbbbbbbbbbbbbbbbbbbbbbb1", "thumbnail_size", 5,
                                  "thumbnail_content_type", "image/jpeg"),
                        &r),
                   STORE_OK);
  json_t *a = json_array_get(json_object_get(json_object_get(r, "message"), "attachments"), 0);
  assert_string_equal(str(a, "content_type"), "image/jpeg");
  assert_int_equal(num(a, "size"), 10);
  assert_int_equal(num(a, "width"), 4);
  assert_string_equal(str(a, "thumbnail_key"), "bbbbbbbbbbbbbbbbbbbbbbb1");
  assert_null(json_object_get(a, "fetch"));
  assert_string_equal(str(a, "source_url"), "https://cdn.example/a");
  assert_int_equal(json_array_size(json_object_get(r, "participant_ids")), 2);
  json_decref(r);
  assert_int_equal(
      call(f, ATTACH_MEDIA_DONE,
           json_pack("{s:s,s:s,s:i}", "id", MEDIA_A, "content_type", "image/jpeg", "size", 10),
           NULL),
      STORE_ENOTFOUND);
  assert_int_equal(
      call(f, ATTACH_MEDIA_DONE, json_pack("{s:s,s:n}", "id", MEDIA_B, "retry_at_ms"), &r),
      STORE_OK);
  json_t *b = json_array_get(json_object_get(json_object_get(r, "message"), "attachments"), 1);
  assert_string_equal(str(b, "fetch"), "failed");
  json_decref(r);
  r = claim_media(f, now + 1000000);
  assert_int_equal(json_array_size(json_object_get(r, "media")), 0);
  assert_true(json_is_null(json_object_get(r, "next_ms")));
  json_decref(r);
  /* The message goes, and its media with it (A's thumbnail too). */
  assert_int_equal(call(f, MSG_DELETE, json_pack("{s:s,s:s}", "id", mid, "user_id", ann), &r),
                   STORE_OK);
  json_t *gone = json_object_get(r, "removed_files");
  assert_int_equal(json_array_size(gone), 3);
  assert_int_equal(json_array_size(json_object_get(json_object_get(r, "message"), "attachments")),
                   0);
  json_decref(r);
  assert_int_equal(call(f, ATTACH_GET, json_pack("{s:s}", "id", MEDIA_A), NULL), STORE_ENOTFOUND);
}

/* ---- bots: the outbox's events, channel bots, deletion ---- */

static json_t *bot_event(const char *bot, const char *msg, const char *key, const char *payload,
                         const char *channel) {
  json_t *e = json_pack("{s:[s?],s:s,s:s?,s:s,s:s?,s:i,s:I}", "bot_ids", bot, "message_id", msg,
                        "key", key, "payload", payload, "channel_id", channel, "queue_max", 100,
                        "now_ms", (json_int_t)util_now_ms());
  return e;
}

/* The bot's queue, oldest first, each delivery acknowledged (claimed, done). */
static void drain_bot(fx_t *f, const char *bot, const char *want) {
  char got[256] = "";
  for (int n = 0; n < 20; n++) {
    json_t *r = NULL;
    assert_int_equal(call(f, BOT_CLAIM,
                          json_pack("{s:I,s:I,s:i}", "now_ms", (json_int_t)util_now_ms(),
                                    "lease_ms", (json_int_t)60000, "limit", 10),
                          &r),
                     STORE_OK);
    json_t *d = NULL, *v;
    size_t i;
    json_array_foreach(json_object_get(r, "deliveries"), i, v) if (!strcmp(str(v, "bot_id"), bot))
        d = v;
    if (!d) {
      json_decref(r);
      break;
    }
    if (*got) strcat(got, "|");
    strcat(got, str(d, "payload"));
    assert_int_equal(
        call(f, BOT_DONE,
             json_pack("{s:s,s:s,s:O,s:b,s:I,s:I,s:i}", "bot_id", bot, "delivery_id", str(d, "id"),
                       "lease_until_ms", json_object_get(d, "lease_until_ms"), "ok", 1, "now_ms",
                       (json_int_t)util_now_ms(), "next_at_ms", (json_int_t)0, "max_failures", 3),
             NULL),
        STORE_OK);
    json_decref(r);
  }
  assert_string_equal(got, want);
}

static void test_bot_events(void **state) {
  fx_t *f = *state;
  char ann[25], bob[25], grp[25], bot[25], ch[25];
  new_user(f, "ann@bots.io", "Ann", ann);
  new_user(f, "bob@bots.io", "Bob", bob);
  json_t *r = NULL;
  assert_int_equal(
      call(f, BOT_CREATE,
           json_pack("{s:s,s:s,s:s,s:s,s:s,s:i}", "owner_id", ann, "name", "Helper", "webhook_url",
                     "http://hook.example/", "token_hash", "h1", "secret_cipher", "c1", "max", 5),
           &r),
      STORE_OK);
  strcpy(bot, str(r, "id"));
  json_decref(r);
  new_conv(f, "group", ann, bob, bot, grp);

  /* A batch queues in turn: a new message, its change (another key), the same
   * message again (its key: nothing), each once. */
  json_t *items = json_pack("[o,o,o]", bot_event(bot, "m1", NULL, "new", NULL),
                            bot_event(bot, "m1", "m1:e1", "edited", NULL),
                            bot_event(bot, "m1", NULL, "again", NULL));
  assert_int_equal(call(f, BOT_ENQUEUE, json_pack("{s:o}", "items", items), &r), STORE_OK);
  assert_int_equal(json_array_size(json_object_get(r, "queued")), 2);
  json_decref(r);
  drain_bot(f, bot, "new|edited");
  items = json_array();
  for (int i = 0; i <= BOTS_ENQUEUE_BATCH; i++)
    json_array_append_new(items, bot_event(bot, "m2", NULL, "x", NULL));
  assert_int_equal(call(f, BOT_ENQUEUE, json_pack("{s:o}", "items", items), NULL), STORE_EINVAL);

  /* A channel's bots are found by the store, its sender (except) left out. */
  assert_int_equal(call(f, CONV_CREATE,
                        json_pack("{s:s,s:s,s:s,s:[s]}", "type", "channel", "name", "News",
                                  "creator_id", ann, "participant_ids", ann),
                        &r),
                   STORE_OK);
  strcpy(ch, str(json_object_get(r, "conversation"), "id"));
  json_decref(r);
  assert_int_equal(call(f, BOT_ENQUEUE, bot_event(NULL, "c0", NULL, "before", ch), &r), STORE_OK);
  assert_int_equal(json_array_size(json_object_get(r, "queued")), 0); /* not a member yet */
  json_decref(r);
  assert_int_equal(
      call(f, CONV_ADD_MEMBERS,
           json_pack("{s:s,s:s,s:[s]}", "id", ch, "user_id", ann, "user_ids", bot), NULL),
      STORE_OK);
  json_t *post = bot_event(NULL, "c1", NULL, "post", ch);
  json_array_clear(json_object_get(post, "bot_ids"));
  assert_int_equal(call(f, BOT_ENQUEUE, post, &r), STORE_OK);
  assert_int_equal(json_array_size(json_object_get(r, "queued")), 1);
  json_decref(r);
  post = bot_event(NULL, "c2", NULL, "own", ch);
  json_array_clear(json_object_get(post, "bot_ids"));
  json_object_set_new(post, "except", json_string(bot));
  assert_int_equal(call(f, BOT_ENQUEUE, post, &r), STORE_OK);
  assert_int_equal(json_array_size(json_object_get(r, "queued")), 0);
  json_decref(r);
  drain_bot(f, bot, "post");

  /* Deleted: out of the group (answered) and the channel (its count), its
   * queue gone. */
  assert_int_equal(call(f, BOT_ENQUEUE, bot_event(bot, "m3", NULL, "held", NULL), NULL), STORE_OK);
  assert_int_equal(call(f, BOT_DELETE, json_pack("{s:s,s:s}", "id", bot, "owner_id", ann), &r),
                   STORE_OK);
  json_t *convs = json_object_get(r, "conversations");
  assert_int_equal(json_array_size(convs), 1);
  json_t *cv = json_array_get(convs, 0), *p;
  assert_string_equal(str(cv, "id"), grp);
  size_t i;
  json_array_foreach(json_object_get(cv, "participants"), i, p)
      assert_string_not_equal(str(p, "id"), bot);
  assert_int_equal(json_array_size(json_object_get(cv, "participants")), 2);
  json_decref(r);
  assert_int_equal(call(f, CONV_GET, json_pack("{s:s,s:s}", "id", ch, "user_id", ann), &r),
                   STORE_OK);
  assert_int_equal(num(r, "member_count"), 1);
  json_decref(r);
  drain_bot(f, bot, "");
}

#define T(name) cmocka_unit_test_prestate_setup_teardown(name, setup, teardown, backend)

static int run_suite(const char *group, void *backend) {
  const struct CMUnitTest tests[] = {
      T(test_users),
      T(test_instagram_media),
      T(test_refresh_tokens),
      T(test_logins),
      T(test_refresh_drops_expired),
      T(test_codes),
      T(test_revocations),
      T(test_conv_create_and_get),
      T(test_conv_permissions),
      T(test_conv_list),
      T(test_call_then),
      T(test_conv_list_mixes_channels),
      T(test_mark_read),
      T(test_conv_mark_delivered),
      T(test_replies_mentions_mute),
      T(test_msg_insert_rules),
      T(test_attach_sweep),
      T(test_msg_pagination),
      T(test_msg_edit_delete_react),
      T(test_seq_one_turn),
      T(test_seq_many_turns),
      T(test_instagram_accounts),
      T(test_contacts),
      T(test_contact_profile_list_edit),
      T(test_contact_profile_before_conversation),
      T(test_contact_upsert_sees_every_write),
      T(test_webhook_events),
      T(test_flows),
      T(test_oauth_states),
      T(test_channels),
      T(test_bot_events),
      T(test_devices),
      T(test_push_subscriptions),
      T(test_calls),
      T(test_job_cap),
      T(test_close_in_flight),
      T(test_open_failure),
  };
  return _cmocka_run_group_tests(group, tests, sizeof(tests) / sizeof(tests[0]), NULL, NULL);
}

int main(void) {
  int failed = run_suite("store_contract_sqlite", NULL);
  const char *mongo = getenv("PARLEY_TEST_MONGO_URI");
  if (mongo && *mongo) failed += run_suite("store_contract_mongo", (void *)mongo);
  return failed;
}
