/* The store contract of the Instagram team inbox and of several instances
 * sharing one store: agents (add, list, remove, assignment, duplicates and the
 * bound), send leases (MSG_FAIL_PENDING), echoes matched to their send, token
 * refresh claims, and the conversations a pause names. The same tests run
 * against SQLite (a temp file, always) and MongoDB (when PARLEY_TEST_MONGO_URI
 * is set, a fresh database per test), with the fixture of store_fixture.h. */
#include "store_fixture.h"

/* An instagram conversation of owner with a new contact (ig_user_id igsid). */
static void ig_conv(fx_t *f, const char *owner, const char *igsid, char contact[25], char id[25]) {
  json_t *r = NULL;
  assert_int_equal(
      call(f, CONTACT_UPSERT, json_pack("{s:s,s:s}", "owner_id", owner, "ig_user_id", igsid), &r),
      STORE_OK);
  strcpy(contact, str(r, "id"));
  json_decref(r);
  assert_int_equal(
      call(f, CONV_CREATE,
           json_pack("{s:s,s:s,s:s,s:[s],s:s}", "type", "instagram", "name", igsid, "creator_id",
                     owner, "participant_ids", owner, "contact_id", contact),
           &r),
      STORE_OK);
  strcpy(id, str(json_object_get(r, "conversation"), "id"));
  json_decref(r);
}

/* A reply stored pending (as the outbox stores it); returns the message. */
static json_t *pending(fx_t *f, const char *conv, const char *sender, const char *text) {
  json_t *r = NULL;
  assert_int_equal(call(f, MSG_INSERT,
                        json_pack("{s:s,s:s,s:s,s:s,s:s}", "conversation_id", conv, "sender_id",
                                  sender, "text", text, "source", "web", "status", "pending"),
                        &r),
                   STORE_OK);
  json_t *m = json_incref(json_object_get(r, "message"));
  json_decref(r);
  assert_string_equal(str(m, "status"), "pending");
  return m;
}

/* m marked sent by a brief MSG_SET_DELIVERY naming conv; returns its result. */
static json_t *brief_sent(fx_t *f, json_t *m, const char *conv) {
  json_t *r = NULL;
  assert_int_equal(call(f, MSG_SET_DELIVERY,
                        json_pack("{s:s,s:s,s:n,s:s,s:b}", "id", str(m, "id"), "status", "sent",
                                  "error", "conversation_id", conv, "brief", 1),
                        &r),
                   STORE_OK);
  return r;
}

static json_t *get_msg(fx_t *f, const char *id) {
  json_t *r = NULL;
  assert_int_equal(call(f, MSG_GET, json_pack("{s:s}", "id", id), &r), STORE_OK);
  json_t *m = json_incref(json_object_get(r, "message"));
  json_decref(r);
  return m;
}

static void iso(int64_t ms, char out[32]) { util_iso8601(ms, out); }

/* ---- the team inbox: agents ---- */

static json_t *agents_of(fx_t *f, const char *owner) {
  json_t *r = NULL;
  assert_int_equal(call(f, AGENT_LIST, json_pack("{s:s}", "owner_id", owner), &r), STORE_OK);
  return r;
}

static void test_agents_add_list_remove(void **state) {
  fx_t *f = *state;
  char owner[25], ann[25], bob[25], out[25], contact[25], conv[25];
  new_user(f, "o@x.io", "Olive", owner);
  new_user(f, "ann@x.io", "Ann", ann);
  new_user(f, "bob@x.io", "Bob", bob);
  new_user(f, "out@x.io", "Otto", out);
  ig_conv(f, owner, "601", contact, conv);
  json_t *r = NULL;
  assert_int_equal(
      call(f, AGENT_ADD, json_pack("{s:s,s:s}", "owner_id", owner, "user_id", ann), &r), STORE_OK);
  assert_true(json_is_true(json_object_get(r, "created")));
  json_t *agent = json_object_get(r, "agent");
  assert_string_equal(str(agent, "id"), ann);
  assert_string_equal(str(agent, "name"), "Ann");
  char added[32];
  snprintf(added, sizeof(added), "%s", str(agent, "added_at"));
  json_decref(r);
  /* Added twice: the same agent, not created, never duplicated. */
  assert_int_equal(
      call(f, AGENT_ADD, json_pack("{s:s,s:s}", "owner_id", owner, "user_id", ann), &r), STORE_OK);
  assert_false(json_is_true(json_object_get(r, "created")));
  assert_string_equal(str(json_object_get(r, "agent"), "id"), ann);
  assert_string_equal(str(json_object_get(r, "agent"), "added_at"), added);
  json_decref(r);
  assert_int_equal(
      call(f, AGENT_ADD, json_pack("{s:s,s:s}", "owner_id", owner, "user_id", bob), NULL),
      STORE_OK);
  /* The owner itself, an unknown user and a deleted one are refused. */
  assert_int_equal(
      call(f, AGENT_ADD, json_pack("{s:s,s:s}", "owner_id", owner, "user_id", owner), NULL),
      STORE_EINVAL);
  assert_int_equal(
      call(f, AGENT_ADD,
           json_pack("{s:s,s:s}", "owner_id", owner, "user_id", "000000000000000000000000"), NULL),
      STORE_EINVAL);
  assert_int_equal(call(f, USER_DELETE, json_pack("{s:s}", "id", out), NULL), STORE_OK);
  assert_int_equal(
      call(f, AGENT_ADD, json_pack("{s:s,s:s}", "owner_id", owner, "user_id", out), NULL),
      STORE_EINVAL);
  /* Listed in the order added, once each. */
  r = agents_of(f, owner);
  json_t *list = json_object_get(r, "agents");
  assert_int_equal(json_array_size(list), 2);
  assert_string_equal(str(json_array_get(list, 0), "id"), ann);
  assert_string_equal(str(json_array_get(list, 1), "id"), bob);
  json_decref(r);
  r = agents_of(f, ann); /* an agent has no agents of its own */
  assert_int_equal(json_array_size(json_object_get(r, "agents")), 0);
  json_decref(r);
  /* An agent sees the owner's conversation and may be assigned it; others not. */
  assert_int_equal(call(f, CONV_GET, json_pack("{s:s,s:s}", "id", conv, "user_id", ann), NULL),
                   STORE_OK);
  assert_int_equal(
      call(f, CONV_ASSIGN,
           json_pack("{s:s,s:s,s:s}", "id", conv, "user_id", bob, "assignee_id", ann), &r),
      STORE_OK);
  assert_string_equal(str(r, "assignee_id"), ann);
  json_decref(r);
  assert_int_equal(
      call(f, CONV_LIST, json_pack("{s:s,s:i,s:s}", "user_id", ann, "limit", 10, "assigned", "me"),
           &r),
      STORE_OK);
  assert_int_equal(json_array_size(json_object_get(r, "conversations")), 1);
  json_decref(r);
  char third[25];
  new_user(f, "carl@x.io", "Carl", third);
  assert_int_equal(
      call(f, CONV_ASSIGN,
           json_pack("{s:s,s:s,s:s}", "id", conv, "user_id", owner, "assignee_id", third), NULL),
      STORE_EINVAL);
  /* Removed: gone from the list, from the conversation, and unassigned. */
  assert_int_equal(
      call(f, AGENT_REMOVE, json_pack("{s:s,s:s}", "owner_id", owner, "user_id", ann), &r),
      STORE_OK);
  json_decref(r);
  assert_int_equal(
      call(f, AGENT_REMOVE, json_pack("{s:s,s:s}", "owner_id", owner, "user_id", ann), NULL),
      STORE_ENOTFOUND);
  assert_int_equal(
      call(f, AGENT_REMOVE, json_pack("{s:s,s:s}", "owner_id", owner, "user_id", third), NULL),
      STORE_ENOTFOUND);
  r = agents_of(f, owner);
  list = json_object_get(r, "agents");
  assert_int_equal(json_array_size(list), 1);
  assert_string_equal(str(json_array_get(list, 0), "id"), bob);
  json_decref(r);
  assert_int_equal(call(f, CONV_GET, json_pack("{s:s,s:s}", "id", conv, "user_id", ann), NULL),
                   STORE_ENOTFOUND);
  assert_int_equal(call(f, CONV_GET, json_pack("{s:s}", "id", conv), &r), STORE_OK);
  assert_true(json_is_null(json_object_get(r, "assignee_id")));
  json_decref(r);
  assert_int_equal(call(f, CONV_LIST, json_pack("{s:s,s:i}", "user_id", ann, "limit", 10), &r),
                   STORE_OK);
  assert_int_equal(json_array_size(json_object_get(r, "conversations")), 0);
  json_decref(r);
  /* Added again after removal: created anew. */
  assert_int_equal(
      call(f, AGENT_ADD, json_pack("{s:s,s:s}", "owner_id", owner, "user_id", ann), &r), STORE_OK);
  assert_true(json_is_true(json_object_get(r, "created")));
  json_decref(r);
}

static void test_agents_are_bounded(void **state) {
  fx_t *f = *state;
  char owner[25], u[25], email[32];
  new_user(f, "o@x.io", "Olive", owner);
  for (int i = 0; i < 51; i++) {
    snprintf(email, sizeof(email), "a%d@x.io", i);
    new_user(f, email, "Agent", u);
    assert_int_equal(
        call(f, AGENT_ADD, json_pack("{s:s,s:s}", "owner_id", owner, "user_id", u), NULL),
        i < 50 ? STORE_OK : STORE_EFORBIDDEN);
  }
  json_t *r = agents_of(f, owner);
  assert_int_equal(json_array_size(json_object_get(r, "agents")), 50);
  json_decref(r);
}

/* ---- several instances: send leases, echoes, refresh claims ---- */

static json_t *sweep(fx_t *f, int64_t now, int64_t lease) {
  char stale[32];
  iso(now - lease, stale);
  json_t *r = NULL;
  assert_int_equal(call(f, MSG_FAIL_PENDING,
                        json_pack("{s:I,s:s,s:i}", "now_ms", (json_int_t)now, "stale_before", stale,
                                  "limit", 100),
                        &r),
                   STORE_OK);
  return r;
}

static void test_send_leases(void **state) {
  fx_t *f = *state;
  char owner[25], contact[25], conv[25];
  new_user(f, "o@x.io", "Olive", owner);
  ig_conv(f, owner, "602", contact, conv);
  json_t *m = pending(f, conv, owner, "in flight");
  int64_t now = util_now_ms();
  /* Inside its lease (counted from creation): untouched. */
  json_t *r = sweep(f, now, 60000);
  assert_int_equal(num(r, "failed"), 0);
  json_decref(r);
  /* Its lease ran out: failed/unknown_outcome, once, with what fan-out needs. */
  r = sweep(f, now + 120000, 60000);
  assert_int_equal(num(r, "failed"), 1);
  json_t *one = json_array_get(json_object_get(r, "messages"), 0);
  json_t *msg = json_object_get(one, "message");
  assert_string_equal(str(msg, "id"), str(m, "id"));
  assert_string_equal(str(msg, "status"), "failed");
  assert_string_equal(str(json_object_get(msg, "error"), "code"), "unknown_outcome");
  assert_int_equal(json_array_size(json_object_get(one, "participant_ids")), 1);
  json_decref(r);
  r = sweep(f, now + 120000, 60000);
  assert_int_equal(num(r, "failed"), 0);
  json_decref(r);
  /* A retry claims it again with a lease of its own, from now. */
  assert_int_equal(
      call(f, MSG_SET_DELIVERY,
           json_pack("{s:s,s:s,s:n,s:s,s:I}", "id", str(m, "id"), "status", "pending", "error",
                     "expect", "failed", "pending_until_ms", (json_int_t)(now + 300000)),
           &r),
      STORE_OK);
  assert_true(json_is_true(json_object_get(r, "changed")));
  json_decref(r);
  r = sweep(f, now + 200000, 60000); /* old by creation, inside the retry's lease */
  assert_int_equal(num(r, "failed"), 0);
  json_decref(r);
  r = sweep(f, now + 400000, 60000);
  assert_int_equal(num(r, "failed"), 1);
  json_decref(r);
  /* A real outcome still wins over unknown_outcome. */
  assert_int_equal(call(f, MSG_SET_DELIVERY,
                        json_pack("{s:s,s:s,s:n,s:s}", "id", str(m, "id"), "status", "sent",
                                  "error", "external_id", "m_late"),
                        &r),
                   STORE_OK);
  assert_string_equal(str(json_object_get(r, "message"), "status"), "sent");
  json_decref(r);
  /* Bad parameters. */
  assert_int_equal(call(f, MSG_FAIL_PENDING, json_pack("{s:s}", "stale_before", "x"), NULL),
                   STORE_EINVAL);
  json_decref(m);
}

/* brief: a delivery that changes the message is answered with what fan-out
 * needs (the participants), the message only if the backend has it at hand;
 * it is stored in full either way. One that changes nothing is answered in
 * full. */
static void test_delivery_brief(void **state) {
  fx_t *f = *state;
  char owner[25], contact[25], conv[25];
  new_user(f, "o@x.io", "Olive", owner);
  ig_conv(f, owner, "604", contact, conv);
  json_t *m = pending(f, conv, owner, "brief words"), *r = NULL;
  assert_int_equal(call(f, MSG_SET_DELIVERY,
                        json_pack("{s:s,s:s,s:n,s:s,s:b}", "id", str(m, "id"), "status", "sent",
                                  "error", "external_id", "m_brief", "brief", 1),
                        &r),
                   STORE_OK);
  assert_true(json_is_true(json_object_get(r, "changed")));
  json_t *ids = json_object_get(r, "participant_ids");
  assert_int_equal(json_array_size(ids), 1);
  assert_string_equal(json_string_value(json_array_get(ids, 0)), owner);
  json_t *msg = json_object_get(r, "message");
  if (msg) assert_string_equal(str(msg, "status"), "sent");
  json_decref(r);
  msg = get_msg(f, str(m, "id"));
  assert_string_equal(str(msg, "status"), "sent");
  assert_string_equal(str(msg, "external_id"), "m_brief");
  assert_true(json_is_null(json_object_get(msg, "error")));
  json_decref(msg);
  /* No change (it is sent): the message as it is. */
  assert_int_equal(call(f, MSG_SET_DELIVERY,
                        json_pack("{s:s,s:s,s:{s:s,s:s},s:b}", "id", str(m, "id"), "status",
                                  "failed", "error", "code", "x", "message", "y", "brief", 1),
                        &r),
                   STORE_OK);
  assert_false(json_is_true(json_object_get(r, "changed")));
  assert_string_equal(str(json_object_get(r, "message"), "status"), "sent");
  json_decref(r);
  /* An unknown message, brief or not. */
  assert_int_equal(call(f, MSG_SET_DELIVERY,
                        json_pack("{s:s,s:s,s:b}", "id", "000000000000000000000000", "status",
                                  "sent", "brief", 1),
                        NULL),
                   STORE_ENOTFOUND);
  json_decref(m);
  /* conversation_id: the message's own is checked; another changes nothing,
   * a non-string is refused. */
  char other[25], contact2[25];
  ig_conv(f, owner, "605", contact2, other);
  m = pending(f, conv, owner, "named conversation");
  assert_int_equal(call(f, MSG_SET_DELIVERY,
                        json_pack("{s:s,s:s,s:n,s:s,s:b}", "id", str(m, "id"), "status", "sent",
                                  "error", "conversation_id", other, "brief", 1),
                        &r),
                   STORE_OK);
  assert_false(json_is_true(json_object_get(r, "changed")));
  assert_string_equal(str(json_object_get(r, "message"), "status"), "pending");
  json_decref(r);
  assert_int_equal(
      call(f, MSG_SET_DELIVERY,
           json_pack("{s:s,s:s,s:i}", "id", str(m, "id"), "status", "sent", "conversation_id", 7),
           NULL),
      STORE_EINVAL);
  r = brief_sent(f, m, conv);
  assert_true(json_is_true(json_object_get(r, "changed")));
  ids = json_object_get(r, "participant_ids");
  assert_int_equal(json_array_size(ids), 1);
  assert_string_equal(json_string_value(json_array_get(ids, 0)), owner);
  json_decref(r);
  msg = get_msg(f, str(m, "id"));
  assert_string_equal(str(msg, "status"), "sent");
  json_decref(msg);
  json_decref(m);
}

static void test_echo_matches_its_send(void **state) {
  fx_t *f = *state;
  char owner[25], contact[25], conv[25];
  new_user(f, "o@x.io", "Olive", owner);
  ig_conv(f, owner, "603", contact, conv);
  json_t *a = pending(f, conv, owner, "same words");
  json_t *b = pending(f, conv, owner, "same words");
  json_t *r = NULL;
  /* No send with that text: the echo is stored by MSG_INSERT instead. */
  assert_int_equal(call(f, MSG_MATCH_ECHO,
                        json_pack("{s:s,s:s,s:s}", "conversation_id", conv, "external_id",
                                  "m_other", "text", "other words"),
                        NULL),
                   STORE_ENOTFOUND);
  /* The oldest matching send takes Meta's id and is sent. */
  assert_int_equal(call(f, MSG_MATCH_ECHO,
                        json_pack("{s:s,s:s,s:s}", "conversation_id", conv, "external_id", "m_1",
                                  "text", "same words"),
                        &r),
                   STORE_OK);
  json_t *msg = json_object_get(r, "message");
  assert_string_equal(str(msg, "id"), str(a, "id"));
  assert_string_equal(str(msg, "status"), "sent");
  assert_string_equal(str(msg, "external_id"), "m_1");
  assert_int_equal(json_array_size(json_object_get(r, "participant_ids")), 1);
  json_decref(r);
  /* A retried echo: its id is held, nothing else changes. */
  assert_int_equal(call(f, MSG_MATCH_ECHO,
                        json_pack("{s:s,s:s,s:s}", "conversation_id", conv, "external_id", "m_1",
                                  "text", "same words"),
                        NULL),
                   STORE_ENOTFOUND);
  msg = get_msg(f, str(b, "id"));
  assert_string_equal(str(msg, "status"), "pending");
  json_decref(msg);
  /* Graph's late answer for the first changes nothing; one naming an id an echo
   * gave away does not take it twice. */
  assert_int_equal(call(f, MSG_SET_DELIVERY,
                        json_pack("{s:s,s:s,s:n,s:s}", "id", str(a, "id"), "status", "sent",
                                  "error", "external_id", "m_1"),
                        &r),
                   STORE_OK);
  assert_false(json_is_true(json_object_get(r, "changed")));
  json_decref(r);
  assert_int_equal(call(f, MSG_SET_DELIVERY,
                        json_pack("{s:s,s:s,s:n,s:s}", "id", str(b, "id"), "status", "sent",
                                  "error", "external_id", "m_1"),
                        &r),
                   STORE_OK);
  msg = json_object_get(r, "message");
  assert_string_equal(str(msg, "status"), "sent");
  assert_true(str(msg, "external_id") == NULL);
  json_decref(r);
  /* A send resolved as unknown_outcome is completed by its echo. */
  json_t *c = pending(f, conv, owner, "lost answer");
  r = sweep(f, util_now_ms() + 120000, 60000);
  assert_int_equal(num(r, "failed"), 1);
  json_decref(r);
  assert_int_equal(call(f, MSG_MATCH_ECHO,
                        json_pack("{s:s,s:s,s:s}", "conversation_id", conv, "external_id", "m_3",
                                  "text", "lost answer"),
                        &r),
                   STORE_OK);
  msg = json_object_get(r, "message");
  assert_string_equal(str(msg, "id"), str(c, "id"));
  assert_string_equal(str(msg, "status"), "sent");
  assert_true(json_is_null(json_object_get(msg, "error")));
  json_decref(r);
  json_decref(a);
  json_decref(b);
  json_decref(c);
}

static void test_refresh_claims(void **state) {
  fx_t *f = *state;
  char owner[25];
  new_user(f, "o@x.io", "Olive", owner);
  assert_int_equal(call(f, IG_ACCOUNT_UPSERT,
                        json_pack("{s:s,s:s,s:s,s:s}", "user_id", owner, "ig_user_id", "1785",
                                  "username", "shop", "token_cipher", "b2xk"),
                        NULL),
                   STORE_OK);
  int64_t now = util_now_ms();
#define CLAIM(token, at, until)                                                      \
  call(f, IG_ACCOUNT_CLAIM_REFRESH,                                                  \
       json_pack("{s:s,s:s,s:I,s:I}", "user_id", owner, "if_token", token, "now_ms", \
                 (json_int_t)(at), "until_ms", (json_int_t)(until)),                 \
       NULL)
  assert_int_equal(CLAIM("b2xk", now, now + 60000), STORE_OK);
  /* One instance at a time, while the claim lives. */
  assert_int_equal(CLAIM("b2xk", now + 1, now + 60001), STORE_ECONFLICT);
  assert_int_equal(CLAIM("b2xk", now + 59000, now + 119000), STORE_ECONFLICT);
  /* A claim whose holder died runs out. */
  assert_int_equal(CLAIM("b2xk", now + 61000, now + 121000), STORE_OK);
  /* The token changed meanwhile (refreshed, or reconnected): no claim. */
  assert_int_equal(
      call(f, IG_ACCOUNT_UPDATE,
           json_pack("{s:s,s:s,s:s}", "user_id", owner, "token_cipher", "bmV3", "if_token", "b2xk"),
           NULL),
      STORE_OK);
  assert_int_equal(CLAIM("b2xk", now + 200000, now + 260000), STORE_ECONFLICT);
  assert_int_equal(CLAIM("bmV3", now + 200000, now + 260000), STORE_OK);
#undef CLAIM
  assert_int_equal(
      call(f, IG_ACCOUNT_CLAIM_REFRESH,
           json_pack("{s:s,s:s,s:I,s:I}", "user_id", "000000000000000000000000", "if_token", "x",
                     "now_ms", (json_int_t)now, "until_ms", (json_int_t)now),
           NULL),
      STORE_ENOTFOUND);
  assert_int_equal(call(f, IG_ACCOUNT_CLAIM_REFRESH, json_pack("{s:s}", "user_id", owner), NULL),
                   STORE_EINVAL);
}

static void test_pause_names_the_conversations(void **state) {
  fx_t *f = *state;
  char owner[25], contact[25], conv[25];
  new_user(f, "o@x.io", "Olive", owner);
  ig_conv(f, owner, "604", contact, conv);
  json_t *r = NULL;
  assert_int_equal(call(f, CONTACT_PAUSE,
                        json_pack("{s:s,s:s,s:I}", "id", contact, "user_id", owner, "until_ms",
                                  (json_int_t)(util_now_ms() + 60000)),
                        &r),
                   STORE_OK);
  assert_true(json_is_string(json_object_get(r, "automation_paused_until")));
  json_t *ids = json_object_get(r, "conversation_ids");
  assert_int_equal(json_array_size(ids), 1);
  assert_string_equal(json_string_value(json_array_get(ids, 0)), conv);
  json_decref(r);
  assert_int_equal(
      call(f, CONTACT_PAUSE,
           json_pack("{s:s,s:s,s:n}", "id", contact, "user_id", owner, "until_ms"), &r),
      STORE_OK);
  assert_true(json_is_null(json_object_get(r, "automation_paused_until")));
  assert_int_equal(json_array_size(json_object_get(r, "conversation_ids")), 1);
  json_decref(r);
}

/* 1 when ids (a json array of strings) holds id. */
static int has_id(json_t *ids, const char *id) {
  size_t i;
  json_t *v;
  json_array_foreach(ids, i, v) if (strcmp(json_string_value(v), id) == 0) return 1;
  return 0;
}

/* The insert's participant_ids list the owner's agents after the members, in
 * the order they were added, whatever their ids' order. */
static void test_insert_lists_agents_in_added_order(void **state) {
  fx_t *f = *state;
  char owner[25], contact[25], conv[25], agent[4][25];
  new_user(f, "o@x.io", "Olive", owner);
  ig_conv(f, owner, "612", contact, conv);
  const char *email[4] = {"a1@x.io", "a2@x.io", "a3@x.io", "a4@x.io"};
  for (int i = 0; i < 4; i++) new_user(f, email[i], "Agent", agent[i]);
  /* Added in descending id order, so the ids' own order is the reverse. */
  int order[4] = {0, 1, 2, 3};
  for (int i = 0; i < 4; i++)
    for (int k = i + 1; k < 4; k++)
      if (strcmp(agent[order[k]], agent[order[i]]) > 0) {
        int t = order[i];
        order[i] = order[k];
        order[k] = t;
      }
  for (int i = 0; i < 4; i++)
    assert_int_equal(
        call(f, AGENT_ADD, json_pack("{s:s,s:s}", "owner_id", owner, "user_id", agent[order[i]]),
             NULL),
        STORE_OK);
  json_t *r = NULL;
  assert_int_equal(
      call(f, MSG_INSERT,
           json_pack("{s:s,s:s,s:s}", "conversation_id", conv, "sender_id", owner, "text", "hi"),
           &r),
      STORE_OK);
  json_t *ids = json_object_get(r, "participant_ids");
  assert_int_equal(json_array_size(ids), 5);
  assert_string_equal(json_string_value(json_array_get(ids, 0)), owner);
  for (int i = 0; i < 4; i++)
    assert_string_equal(json_string_value(json_array_get(ids, (size_t)i + 1)), agent[order[i]]);
  json_decref(r);
}

/* A new message reaches the owner's agents in the owner's instagram
 * conversation (the insert's participant_ids), and only there: the owner's
 * other conversations have no agents. Added and removed agents are seen by the
 * next insert. */
static void test_insert_reaches_agents_of_instagram_only(void **state) {
  fx_t *f = *state;
  char owner[25], ann[25], bob[25], contact[25], conv[25], direct[25];
  new_user(f, "o@x.io", "Olive", owner);
  new_user(f, "ann@x.io", "Ann", ann);
  new_user(f, "bob@x.io", "Bob", bob);
  ig_conv(f, owner, "611", contact, conv);
  json_t *r = NULL;
  assert_int_equal(call(f, CONV_CREATE,
                        json_pack("{s:s,s:s,s:s,s:[s,s]}", "type", "direct", "name", "d",
                                  "creator_id", owner, "participant_ids", owner, bob),
                        &r),
                   STORE_OK);
  strcpy(direct, str(json_object_get(r, "conversation"), "id"));
  json_decref(r);
  assert_int_equal(
      call(f, AGENT_ADD, json_pack("{s:s,s:s}", "owner_id", owner, "user_id", ann), NULL),
      STORE_OK);
  const char *convs[] = {conv, direct};
  for (int round = 0; round < 2; round++) {
    for (int c = 0; c < 2; c++) {
      assert_int_equal(call(f, MSG_INSERT,
                            json_pack("{s:s,s:s,s:s}", "conversation_id", convs[c], "sender_id",
                                      owner, "text", "hi"),
                            &r),
                       STORE_OK);
      json_t *ids = json_object_get(r, "participant_ids");
      assert_true(has_id(ids, owner));
      /* ann, an agent in round 0 and removed before round 1 */
      assert_int_equal(has_id(ids, ann), c == 0 && round == 0);
      assert_int_equal(has_id(ids, bob), c == 1);
      json_decref(r);
    }
    if (round == 0)
      assert_int_equal(
          call(f, AGENT_REMOVE, json_pack("{s:s,s:s}", "owner_id", owner, "user_id", ann), NULL),
          STORE_OK);
  }
}

/* A brief delivery's participants (and the next insert's) follow the agents
 * added and removed, whatever ran between: SQLite keeps a conversation's
 * members from MSG_INSERT across a flow run's own writes (CONTACT_UPDATE,
 * EVENT_INSERT, MSG_SET_DELIVERY, BOT_CLAIM, MSG_FAIL_PENDING; sqlite.c,
 * keeps_members), and an agent's change must still reach both. */
static void test_brief_delivery_sees_agents_after_a_runs_writes(void **state) {
  fx_t *f = *state;
  char owner[25], ann[25], contact[25], conv[25];
  new_user(f, "o@x.io", "Olive", owner);
  new_user(f, "ann@x.io", "Ann", ann);
  ig_conv(f, owner, "612", contact, conv);
  for (int round = 0; round < 3; round++) {
    /* round 1: ann is an agent; rounds 0 and 2: she is not */
    json_t *m = pending(f, conv, owner, "kept members"), *r = NULL;
    assert_int_equal(
        call(f, CONTACT_UPDATE,
             json_pack("{s:s,s:s,s:[s]}", "id", contact, "owner_id", owner, "add_tags", "lead"),
             NULL),
        STORE_OK);
    char mid[32];
    snprintf(mid, sizeof(mid), "kept-%d", round);
    assert_int_equal(
        call(f, EVENT_INSERT, json_pack("{s:[{s:s,s:{}}]}", "events", "mid", mid, "payload"), NULL),
        STORE_OK);
    assert_int_equal(call(f, BOT_CLAIM,
                          json_pack("{s:I,s:i,s:i}", "now_ms", (json_int_t)util_now_ms(),
                                    "lease_ms", 1000, "limit", 10),
                          NULL),
                     STORE_OK);
    /* a sweep that finds nothing stale (the message is new) */
    json_t *swept = sweep(f, util_now_ms(), 3600 * 1000);
    json_decref(swept);
    if (round < 2)
      assert_int_equal(call(f, round == 0 ? AGENT_ADD : AGENT_REMOVE,
                            json_pack("{s:s,s:s}", "owner_id", owner, "user_id", ann), NULL),
                       STORE_OK);
    r = brief_sent(f, m, conv);
    json_t *ids = json_object_get(r, "participant_ids");
    assert_true(has_id(ids, owner));
    assert_int_equal(has_id(ids, ann), round == 0);
    assert_int_equal(json_array_size(ids), round == 0 ? 2 : 1);
    json_decref(r);
    json_decref(m);
    assert_int_equal(call(f, MSG_INSERT,
                          json_pack("{s:s,s:s,s:s}", "conversation_id", conv, "sender_id", owner,
                                    "text", "next"),
                          &r),
                     STORE_OK);
    assert_int_equal(has_id(json_object_get(r, "participant_ids"), ann), round == 0);
    json_decref(r);
  }
}

/* The conversations of pages of CONV_LIST (params without limit and cursor,
 * borrowed) of `limit` each, followed by their cursors: their ids in order. */
static json_t *all_pages(fx_t *f, json_t *params, int limit) {
  json_t *ids = json_array();
  char cursor[128] = "";
  for (int n = 0; n < 50; n++) {
    json_t *p = json_deep_copy(params), *r = NULL;
    json_object_set_new(p, "limit", json_integer(limit));
    if (cursor[0]) json_object_set_new(p, "cursor", json_string(cursor));
    assert_int_equal(call(f, CONV_LIST, p, &r), STORE_OK);
    json_t *convs = json_object_get(r, "conversations");
    assert_true(json_array_size(convs) <= (size_t)limit);
    size_t i;
    json_t *c;
    json_array_foreach(convs, i, c) json_array_append_new(ids, json_string(str(c, "id")));
    const char *next = json_string_value(json_object_get(r, "next_cursor"));
    snprintf(cursor, sizeof(cursor), "%s", next ? next : "");
    json_decref(r);
    if (!next) return ids;
  }
  fail_msg("more than 50 pages");
  return ids;
}

/* Issue 21: an agent's inbox merges its own conversations (a channel among
 * them) with the instagram conversations of each owner it serves, newest
 * first, page by page without a gap or a repeat; by type and by assignee as
 * well. (SQLite reads each owner's newest page by conversations_instagram.) */
static void test_agent_inbox_pages_in_order(void **state) {
  fx_t *f = *state;
  char o1[25], o2[25], ann[25], bob[25], contact[25], conv[10][25];
  new_user(f, "o1@x.io", "Olive", o1);
  new_user(f, "o2@x.io", "Oscar", o2);
  new_user(f, "ann@x.io", "Ann", ann);
  new_user(f, "bob@x.io", "Bob", bob);
  const char *owner_of[10] = {o1, o1, o1, o1, o2, o2, o2, NULL, NULL, NULL};
  for (int i = 0; i < 7; i++) {
    char igsid[8];
    snprintf(igsid, sizeof(igsid), "7%02d", i);
    ig_conv(f, owner_of[i], igsid, contact, conv[i]);
  }
  const char *types[3] = {"group", "direct", "channel"};
  for (int i = 7; i < 10; i++) {
    json_t *r = NULL;
    assert_int_equal(call(f, CONV_CREATE,
                          json_pack("{s:s,s:s,s:s,s:[s,s]}", "type", types[i - 7], "name", "g",
                                    "creator_id", ann, "participant_ids", ann, bob),
                          &r),
                     STORE_OK);
    strcpy(conv[i], str(json_object_get(r, "conversation"), "id"));
    json_decref(r);
  }
  for (int k = 0; k < 2; k++)
    assert_int_equal(
        call(f, AGENT_ADD, json_pack("{s:s,s:s}", "owner_id", k ? o2 : o1, "user_id", ann), NULL),
        STORE_OK);
  /* Two assigned to ann, one of each owner. */
  const int mine[2] = {1, 5};
  for (int k = 0; k < 2; k++)
    assert_int_equal(call(f, CONV_ASSIGN,
                          json_pack("{s:s,s:s,s:s}", "id", conv[mine[k]], "user_id",
                                    owner_of[mine[k]], "assignee_id", ann),
                          NULL),
                     STORE_OK);
  /* Activity, oldest first: interleaved owners and ann's own. */
  const int touch[10] = {3, 8, 0, 5, 9, 6, 1, 7, 4, 2};
  for (int k = 0; k < 10; k++) {
    usleep(3000);
    int i = touch[k];
    json_t *r = NULL;
    assert_int_equal(call(f, MSG_INSERT,
                          json_pack("{s:s,s:s,s:s,s:s}", "conversation_id", conv[i], "sender_id",
                                    owner_of[i] ? owner_of[i] : ann, "text", "x", "source", "web"),
                          &r),
                     STORE_OK);
    json_decref(r);
  }
  for (int variant = 0; variant < 4; variant++) {
    /* 0: everything; 1: instagram; 2: instagram assigned to ann; 3: not assigned. */
    json_t *params = json_pack("{s:s}", "user_id", ann), *want = json_array();
    if (variant) json_object_set_new(params, "type", json_string("instagram"));
    if (variant >= 2)
      json_object_set_new(params, "assigned", json_string(variant == 2 ? "me" : "none"));
    for (int k = 9; k >= 0; k--) {
      int i = touch[k], assigned = i == mine[0] || i == mine[1];
      if (variant && !owner_of[i]) continue;
      if ((variant == 2 && !assigned) || (variant == 3 && assigned)) continue;
      json_array_append_new(want, json_string(conv[i]));
    }
    for (int limit = 1; limit <= 4; limit += 3) {
      json_t *got = all_pages(f, params, limit);
      if (!json_equal(got, want)) {
        char *g = json_dumps(got, 0), *w = json_dumps(want, 0);
        fail_msg("variant %d limit %d: got %s, want %s", variant, limit, g, w);
      }
      json_decref(got);
    }
    json_decref(params);
    json_decref(want);
  }
}

#define T(name) cmocka_unit_test_prestate_setup_teardown(name, setup, teardown, backend)

static int run_suite(const char *group, void *backend) {
  const struct CMUnitTest tests[] = {
      T(test_agents_add_list_remove),
      T(test_agents_are_bounded),
      T(test_send_leases),
      T(test_delivery_brief),
      T(test_echo_matches_its_send),
      T(test_refresh_claims),
      T(test_pause_names_the_conversations),
      T(test_insert_reaches_agents_of_instagram_only),
      T(test_brief_delivery_sees_agents_after_a_runs_writes),
      T(test_insert_lists_agents_in_added_order),
      T(test_agent_inbox_pages_in_order),
  };
  return _cmocka_run_group_tests(group, tests, sizeof(tests) / sizeof(tests[0]), NULL, NULL);
}

int main(void) {
  int failed = run_suite("store_team_sqlite", NULL);
  const char *mongo = getenv("PARLEY_TEST_MONGO_URI");
  if (mongo && *mongo) failed += run_suite("store_team_mongo", (void *)mongo);
  return failed;
}
