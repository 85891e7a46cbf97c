/* Presence without sockets (src/chat/presence.c) against the in-process bus
 * and a SQLite store: the first session of a user announces online to the
 * users who share a conversation with them, a second one says nothing, the last
 * one to close announces offline, and another instance's announcement reaches
 * the sessions it names. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "chat/envelope.h"
#include "chat/presence_snapshot.h"
#include "chat_fixture.h"

/* Turns the loop until s has a frame (at most about 2 s); returns it. */
static json_t *wait_frame(chat_fx_t *f, ws_session_t *s) {
  for (int i = 0; i < 200 && fake_pending(s) == 0; i++) chat_fx_run(f, 10);
  return fake_next(s);
}

static void expect_presence(chat_fx_t *f, ws_session_t *s, const char *user, const char *status) {
  json_t *fr = wait_frame(f, s);
  if (!fr) fail_msg("no presence frame for %s", user);
  assert_string_equal(json_string_value(json_object_get(fr, "type")), "presence");
  assert_string_equal(json_string_value(json_object_get(fr, "user_id")), user);
  assert_string_equal(json_string_value(json_object_get(fr, "status")), status);
  json_decref(fr);
}

static void first_and_last_sessions_are_announced_to_contacts(void **state) {
  chat_fx_t *f = chat_fx_new(1);
  char u1[25], u2[25], u3[25];
  assert_int_equal(chat_fx_user(f, "one@example.com", u1), STORE_OK);
  assert_int_equal(chat_fx_user(f, "two@example.com", u2), STORE_OK);
  assert_int_equal(chat_fx_user(f, "three@example.com", u3), STORE_OK);
  assert_int_equal(store_sync_call(&f->loop, f->app.store, CONV_CREATE,
                                   json_pack("{s:s, s:n, s:s, s:[s, s]}", "type", "direct", "name",
                                             "creator_id", u1, "participant_ids", u1, u2),
                                   NULL, NULL),
                   STORE_OK);
  ws_session_t *b = fake_session_new(&f->app, u2);
  ws_session_t *stranger = fake_session_new(&f->app, u3);

  presence_session_opened(&f->app, u1, 1);
  expect_presence(f, b, u1, "online");
  presence_session_opened(&f->app, u1, 2); /* a second tab: nothing new */
  presence_session_closed(&f->app, u1, 1);
  chat_fx_run(f, 100);
  assert_int_equal(fake_pending(b), 0);
  presence_session_closed(&f->app, u1, 0);
  expect_presence(f, b, u1, "offline");
  assert_int_equal(fake_pending(stranger), 0); /* shares no conversation */

  /* Another instance announces someone: the sessions it names hear it. */
  json_t *hdr = json_pack("{s:s, s:s, s:[s], s:s, s:s}", "i", "instance-there", "k", "p", "u", u2,
                          "user", "u-far", "status", "online");
  char *h = json_dumps(hdr, JSON_COMPACT);
  char payload[512];
  int n = snprintf(payload, sizeof(payload),
                   "%s\n{\"type\":\"presence\",\"user_id\":\"u-far\",\"status\":\"online\"}", h);
  dispatch_message(&f->app, ENVELOPE_CHANNEL, payload, (size_t)n);
  expect_presence(f, b, "u-far", "online");
  assert_int_equal(fake_pending(stranger), 0);
  free(h);
  json_decref(hdr);
  fake_session_free(b);
  fake_session_free(stranger);
  chat_fx_free(f);
}

static void set_status(chat_fx_t *f, const char *user, const char *status) {
  assert_int_equal(
      store_sync_call(&f->loop, f->app.store, USER_UPDATE,
                      json_pack("{s:s, s:s}", "id", user, "status", status), NULL, NULL),
      STORE_OK);
}

static const char *str(json_t *o, const char *k) {
  return json_string_value(json_object_get(o, k));
}

/* Others hear the status a user chose (nothing while invisible), a change
 * while connected, and offline with last_seen, which the store keeps; the
 * snapshot after ready says how each contact stands. */
static void chosen_statuses_snapshot_and_last_seen(void **state) {
  chat_fx_t *f = chat_fx_new(1);
  char u1[25], u2[25], u3[25], u4[25], room[25];
  assert_int_equal(chat_fx_user(f, "one@example.com", u1), STORE_OK);
  assert_int_equal(chat_fx_user(f, "two@example.com", u2), STORE_OK);
  assert_int_equal(chat_fx_user(f, "three@example.com", u3), STORE_OK);
  assert_int_equal(chat_fx_user(f, "four@example.com", u4), STORE_OK);
  assert_int_equal(
      store_sync_call(&f->loop, f->app.store, CONV_CREATE,
                      json_pack("{s:s, s:s, s:s, s:[s, s, s, s]}", "type", "group", "name", "room",
                                "creator_id", u1, "participant_ids", u1, u2, u3, u4),
                      NULL, NULL),
      STORE_OK);
  (void)room;
  ws_session_t *a = fake_session_new(&f->app, u1);
  set_status(f, u2, "away");
  set_status(f, u3, "invisible");

  presence_session_opened(&f->app, u2, 1);
  expect_presence(f, a, u2, "away");
  presence_session_opened(&f->app, u3, 1);
  chat_fx_run(f, 100);
  assert_int_equal(fake_pending(a), 0); /* invisible: nobody hears of it */

  presence_snapshot(&f->app, u1, a->id);
  json_t *fr = wait_frame(f, a);
  assert_non_null(fr);
  assert_string_equal(str(fr, "type"), "presence.snapshot");
  json_t *users = json_object_get(fr, "users");
  assert_int_equal(json_array_size(users), 3);
  size_t i;
  json_t *e;
  json_array_foreach(users, i, e) {
    const char *who = str(e, "user_id"), *st = str(e, "status");
    if (strcmp(who, u2) == 0)
      assert_string_equal(st, "away");
    else if (strcmp(who, u3) == 0 || strcmp(who, u4) == 0)
      assert_string_equal(st, "offline");
    else
      fail_msg("unexpected user %s in the snapshot", who);
    assert_true(json_is_null(json_object_get(e, "last_seen")));
  }
  json_decref(fr);

  /* A change while connected reaches the contacts; one while invisible shows. */
  set_status(f, u2, "dnd");
  presence_status_changed(&f->app, u2);
  expect_presence(f, a, u2, "dnd");
  set_status(f, u3, "online");
  presence_status_changed(&f->app, u3);
  expect_presence(f, a, u3, "online");
  set_status(f, u3, "invisible");
  presence_status_changed(&f->app, u3);
  fr = wait_frame(f, a);
  assert_non_null(fr);
  /* To a, u3 left just now, and says when. */
  assert_string_equal(str(fr, "user_id"), u3);
  assert_string_equal(str(fr, "status"), "offline");
  char gone_at[32];
  snprintf(gone_at, sizeof(gone_at), "%s", str(fr, "last_seen"));
  json_decref(fr);
  /* Not connected: a change says nothing. */
  set_status(f, u4, "away");
  presence_status_changed(&f->app, u4);
  chat_fx_run(f, 100);
  assert_int_equal(fake_pending(a), 0);

  /* The last session closes: offline with last_seen, stored. */
  int64_t before = util_now_ms();
  presence_session_closed(&f->app, u2, 0);
  fr = wait_frame(f, a);
  assert_non_null(fr);
  assert_string_equal(str(fr, "status"), "offline");
  int64_t seen_ms = 0;
  assert_int_equal(util_parse_iso8601(str(fr, "last_seen"), &seen_ms), 0);
  assert_true(seen_ms >= before - 1);
  json_decref(fr);
  json_t *u = NULL;
  for (int k = 0; k < 100; k++) { /* the write completes on its own */
    json_decref(u);
    u = NULL;
    assert_int_equal(
        store_sync_call(&f->loop, f->app.store, USER_GET, json_pack("{s:s}", "id", u2), &u, NULL),
        STORE_OK);
    if (json_is_string(json_object_get(u, "last_seen"))) break;
    chat_fx_run(f, 10);
  }
  int64_t stored_ms = 0;
  assert_int_equal(util_parse_iso8601(str(u, "last_seen"), &stored_ms), 0);
  assert_int_equal(stored_ms, seen_ms);
  json_decref(u);
  /* u3 leaves while invisible: a hears nothing, and last_seen stays when u3
   * went invisible, so that it tells nobody u3 was there since. */
  presence_session_closed(&f->app, u3, 0);
  chat_fx_run(f, 300);
  assert_int_equal(fake_pending(a), 0);
  assert_int_equal(
      store_sync_call(&f->loop, f->app.store, USER_GET, json_pack("{s:s}", "id", u3), &u, NULL),
      STORE_OK);
  assert_string_equal(str(u, "last_seen"), gone_at);
  json_decref(u);
  fake_session_free(a);
  chat_fx_free(f);
}

/* Hands presence an envelope from another instance announcing user online to
 * the recipient. */
static void remote_online(chat_fx_t *f, const char *instance, const char *user,
                          const char *recipient) {
  json_t *hdr = json_pack("{s:s, s:s, s:[s], s:s, s:s}", "i", instance, "k", "p", "u", recipient,
                          "user", user, "status", "online");
  char *h = json_dumps(hdr, JSON_COMPACT);
  char payload[512];
  int n = snprintf(payload, sizeof(payload),
                   "%s\n{\"type\":\"presence\",\"user_id\":\"%s\",\"status\":\"online\"}", h, user);
  dispatch_message(&f->app, ENVELOPE_CHANNEL, payload, (size_t)n);
  free(h);
  json_decref(hdr);
}

/* An instance dies with two users someone here sees: once its heartbeat has
 * stopped and their leases are gone, both offlines reach that someone in one
 * presence.batch, each with its last_seen. */
static void a_dead_instance_sends_its_users_offline_in_one_batch(void **state) {
  chat_fx_t *f = chat_fx_new(0);
  ws_session_t *b = fake_session_new(&f->app, "u-near");
  remote_online(f, "instance-dead", "u-far1", "u-near");
  remote_online(f, "instance-dead", "u-far2", "u-near");
  expect_presence(f, b, "u-far1", "online");
  expect_presence(f, b, "u-far2", "online");
  /* Nothing until the instance has been quiet for PRESENCE_STALE_MS. */
  chat_fx_run(f, PRESENCE_STALE_MS - 1000);
  assert_int_equal(fake_pending(b), 0);
  json_t *fr = NULL;
  for (int i = 0; i < 400 && !fr; i++) {
    chat_fx_run(f, 10);
    fr = fake_next(b);
  }
  assert_non_null(fr);
  assert_string_equal(str(fr, "type"), "presence.batch");
  json_t *users = json_object_get(fr, "users");
  assert_int_equal(json_array_size(users), 2);
  int seen1 = 0, seen2 = 0;
  size_t i;
  json_t *e;
  json_array_foreach(users, i, e) {
    assert_string_equal(str(e, "status"), "offline");
    int64_t ms;
    assert_int_equal(util_parse_iso8601(str(e, "last_seen"), &ms), 0);
    seen1 += strcmp(str(e, "user_id"), "u-far1") == 0;
    seen2 += strcmp(str(e, "user_id"), "u-far2") == 0;
  }
  assert_true(seen1 == 1 && seen2 == 1);
  json_decref(fr);
  chat_fx_run(f, 1500); /* said once */
  assert_int_equal(fake_pending(b), 0);
  fake_session_free(b);
  chat_fx_free(f);
}

/* Hands presence an envelope from another instance announcing user's status
 * to every recipient of the array (borrowed). */
static void remote_status(chat_fx_t *f, const char *instance, const char *user, json_t *recipients,
                          const char *status) {
  json_t *hdr = json_pack("{s:s, s:s, s:O, s:s, s:s}", "i", instance, "k", "p", "u", recipients,
                          "user", user, "status", status);
  char *h = json_dumps(hdr, JSON_COMPACT);
  char *payload = NULL;
  int n = asprintf(&payload, "%s\n{\"type\":\"presence\",\"user_id\":\"%s\",\"status\":\"%s\"}", h,
                   user, status);
  assert_true(n > 0);
  dispatch_message(&f->app, ENVELOPE_CHANNEL, payload, (size_t)n);
  free(payload);
  free(h);
  json_decref(hdr);
}

/* Appends the statuses of user that frame (a presence or presence.batch) holds. */
static void statuses_of(json_t *fr, const char *user, char *out, size_t size) {
  json_t *users = json_object_get(fr, "users");
  if (!users)
    users = json_pack("[O]", fr);
  else
    json_incref(users);
  size_t i;
  json_t *e;
  json_array_foreach(users, i, e) if (strcmp(str(e, "user_id"), user) == 0) {
    strncat(out, str(e, "status"), size - strlen(out) - 2);
    strncat(out, " ", size - strlen(out) - 1);
  }
  json_decref(users);
}

#define DEPARTED_RECIPIENTS 1100

/* An instance dies with users that every session here sees: their offlines
 * are handed out at most PRESENCE_DEPARTED_MAX recipients a loop turn (not
 * all in one), each recipient hears each once, and a user who came back
 * online on another instance while they were being handed out is not sent
 * offline after that online. */
static void a_dead_instance_s_departed_are_handed_out_a_part_a_turn(void **state) {
  chat_fx_t *f = chat_fx_new(0);
  static ws_session_t *s[DEPARTED_RECIPIENTS];
  static char seen[DEPARTED_RECIPIENTS][256];
  json_t *ids = json_array();
  for (int i = 0; i < DEPARTED_RECIPIENTS; i++) {
    char id[32];
    snprintf(id, sizeof(id), "u-r%04d", i);
    s[i] = fake_session_new(&f->app, id);
    json_array_append_new(ids, json_string(id));
    seen[i][0] = '\0';
  }
  remote_status(f, "instance-dead", "u-far1", ids, "online");
  remote_status(f, "instance-dead", "u-far2", ids, "online");
  chat_fx_run(f, 300); /* the windows of the onlines end */
  for (int i = 0; i < DEPARTED_RECIPIENTS; i++) {
    json_t *fr;
    while ((fr = fake_next(s[i]))) json_decref(fr);
  }
  chat_fx_run(f, PRESENCE_STALE_MS - 1000);
  /* Turn by turn. Once the first recipients have heard the departed, u-far2
   * comes back on another instance, announced to those recipients. */
  int got = 0, turns = 0, first = 0;
  for (int k = 0; k < 200000 && got < DEPARTED_RECIPIENTS; k++) {
    uv_run(&f->loop, UV_RUN_NOWAIT);
    int now = 0;
    for (int i = 0; i < DEPARTED_RECIPIENTS; i++) {
      json_t *fr;
      while ((fr = fake_next(s[i]))) {
        statuses_of(fr, "u-far1", seen[i], 128);
        statuses_of(fr, "u-far2", seen[i] + 128, 128);
        json_decref(fr);
      }
      now += seen[i][0] != '\0';
    }
    assert_true(now - got <= PRESENCE_DEPARTED_MAX);
    if (now == got) {
      usleep(200);
      continue;
    }
    if (turns++ == 0) {
      first = now;
      json_t *told = json_array();
      for (int i = 0; i < DEPARTED_RECIPIENTS; i++)
        if (seen[i][0]) json_array_append_new(told, json_sprintf("u-r%04d", i));
      remote_status(f, "instance-alive", "u-far2", told, "online");
      json_decref(told);
    }
    got = now;
  }
  assert_int_equal(got, DEPARTED_RECIPIENTS);
  assert_int_equal(first, PRESENCE_DEPARTED_MAX);
  assert_int_equal(turns,
                   (DEPARTED_RECIPIENTS + PRESENCE_DEPARTED_MAX - 1) / PRESENCE_DEPARTED_MAX);
  chat_fx_run(f, 500); /* every window ends */
  int before = 0;
  for (int i = 0; i < DEPARTED_RECIPIENTS; i++) {
    json_t *fr;
    while ((fr = fake_next(s[i]))) {
      statuses_of(fr, "u-far1", seen[i], 128);
      statuses_of(fr, "u-far2", seen[i] + 128, 128);
      json_decref(fr);
    }
    assert_string_equal(seen[i], "offline "); /* once */
    /* Handed out before u-far2 came back: offline, then the online; after:
     * no offline, which would have come after the online. */
    const char *far2 = seen[i] + 128;
    if (strcmp(far2, "offline online ") == 0)
      before++;
    else
      assert_string_equal(far2, "");
    fake_session_free(s[i]);
  }
  assert_int_equal(before, PRESENCE_DEPARTED_MAX);
  json_decref(ids);
  chat_fx_free(f);
}

/* A user who shares conversations with more than 1,000 others gets 1,000 of
 * them in the snapshot, each once. */
static void the_snapshot_holds_at_most_1000_users(void **state) {
  chat_fx_t *f = chat_fx_new(1);
  char me[25];
  assert_int_equal(chat_fx_user(f, "me@example.com", me), STORE_OK);
  for (int g = 0; g < 5; g++) { /* 5 groups of 210 others: 1,050 users */
    json_t *ids = json_pack("[s]", me);
    for (int k = 0; k < 210; k++) {
      char email[64], id[25];
      snprintf(email, sizeof(email), "u%d-%d@example.com", g, k);
      assert_int_equal(chat_fx_user(f, email, id), STORE_OK);
      json_array_append_new(ids, json_string(id));
    }
    assert_int_equal(store_sync_call(&f->loop, f->app.store, CONV_CREATE,
                                     json_pack("{s:s, s:s, s:s, s:o}", "type", "group", "name", "g",
                                               "creator_id", me, "participant_ids", ids),
                                     NULL, NULL),
                     STORE_OK);
  }
  ws_session_t *s = fake_session_new(&f->app, me);
  presence_snapshot(&f->app, me, s->id);
  json_t *fr = NULL;
  for (int i = 0; i < 1000 && !fr; i++) {
    chat_fx_run(f, 10);
    fr = fake_next(s);
  }
  assert_non_null(fr);
  assert_string_equal(str(fr, "type"), "presence.snapshot");
  json_t *users = json_object_get(fr, "users"), *distinct = json_object();
  assert_int_equal(json_array_size(users), 1000);
  size_t i;
  json_t *e;
  json_array_foreach(users, i, e) {
    assert_string_not_equal(str(e, "user_id"), me);
    json_object_set_new(distinct, str(e, "user_id"), json_true());
  }
  assert_int_equal(json_object_size(distinct), 1000);
  json_decref(distinct);
  json_decref(fr);
  /* One snapshot, nothing more. */
  assert_int_equal(fake_pending(s), 0);
  fake_session_free(s);
  chat_fx_free(f);
}

static void presence_stops_with_the_app(void **state) {
  chat_fx_t *f = chat_fx_new(0);
  assert_non_null(f->app.presence);
  f->app.shutting_down = 1;
  chat_fx_run(f, 1100); /* its timer notices */
  assert_null(f->app.presence);
  assert_null(f->app.fanout);
  /* Sessions closing during shutdown find no presence and announce nothing. */
  presence_session_closed(&f->app, "u1", 0);
  chat_fx_free(f);
}

/* Recipients are packed in envelopes (app.envelope_pack) only once every
 * instance alive reads them: not for PRESENCE_STALE_MS after the start (the
 * others have not all been heard), not while an instance alive has not said
 * ENVELOPE_VERSION in a heartbeat (an earlier version's, in a rolling upgrade,
 * or a new one not yet heard beating), again once it is quiet that long. */
static void envelopes_pack_only_when_every_instance_reads_them(void **state) {
  (void)state;
  chat_fx_t *f = chat_fx_new(1);
  presence_t *p = f->app.presence;
  int64_t t0 = (int64_t)uv_now(&f->loop);
  presence_tick(p, t0 + 10);
  assert_int_equal(f->app.envelope_pack, 0);
  int64_t t = t0 + PRESENCE_STALE_MS;
  presence_tick(p, t);
  assert_int_equal(f->app.envelope_pack, 1); /* alone */
  json_t *newer =
      json_pack("{s:s, s:s, s:i}", "i", "inst-new", "k", "h", "e", (int)ENVELOPE_VERSION);
  json_t *older = json_pack("{s:s, s:s}", "i", "inst-old", "k", "h");
  json_t *third = json_pack("{s:s, s:s}", "i", "inst-third", "k", "c");
  json_t *third_beat =
      json_pack("{s:s, s:s, s:i}", "i", "inst-third", "k", "h", "e", (int)ENVELOPE_VERSION);
  presence_on_envelope(p, "h", newer, "", 0, t + 100);
  presence_tick(p, t + 100);
  assert_int_equal(f->app.envelope_pack, 1);
  presence_on_envelope(p, "h", older, "", 0, t + 200);
  assert_int_equal(f->app.envelope_pack, 0); /* at once, not at the next tick */
  presence_on_envelope(p, "h", newer, "", 0, t + 1100);
  presence_tick(p, t + 1100);
  assert_int_equal(f->app.envelope_pack, 0);
  /* The older instance is replaced: quiet for PRESENCE_STALE_MS. */
  presence_on_envelope(p, "h", newer, "", 0, t + 200 + PRESENCE_STALE_MS - 500);
  presence_tick(p, t + 200 + PRESENCE_STALE_MS - 1);
  assert_int_equal(f->app.envelope_pack, 0);
  presence_tick(p, t + 200 + PRESENCE_STALE_MS);
  assert_int_equal(f->app.envelope_pack, 1);
  /* An instance first heard by another envelope than its heartbeat. */
  int64_t u = t + 200 + PRESENCE_STALE_MS + 100;
  presence_on_envelope(p, "c", third, "", 0, u);
  assert_int_equal(f->app.envelope_pack, 0);
  presence_on_envelope(p, "h", newer, "", 0, u + 100);
  presence_on_envelope(p, "h", third_beat, "", 0, u + 200);
  presence_tick(p, u + 300);
  assert_int_equal(f->app.envelope_pack, 1);
  json_decref(newer);
  json_decref(older);
  json_decref(third);
  json_decref(third_beat);
  chat_fx_free(f);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(first_and_last_sessions_are_announced_to_contacts),
      cmocka_unit_test(chosen_statuses_snapshot_and_last_seen),
      cmocka_unit_test(a_dead_instance_sends_its_users_offline_in_one_batch),
      cmocka_unit_test(a_dead_instance_s_departed_are_handed_out_a_part_a_turn),
      cmocka_unit_test(the_snapshot_holds_at_most_1000_users),
      cmocka_unit_test(presence_stops_with_the_app),
      cmocka_unit_test(envelopes_pack_only_when_every_instance_reads_them),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
