/* channel_subs: the connected members of channels on this instance (see
 * channel_subs.h). Two indexes kept in step, users -> {conv} and conv ->
 * {user}, jansson objects (hash tables); a user whose channels are still being
 * read keeps the joins and leaves that arrive meanwhile and applies them after
 * the read. Reads are batched: the users whose first session opened wait in a
 * queue, and one store job at a time reads up to CHANNEL_IDS_BATCH_MAX of them
 * (a connection storm of 10,000 sessions costs 40 jobs, not 10,000). Loop
 * thread. */
#include "chat/channel_subs.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chat/envelope.h"
#include "parley/log.h"
#include "parley/store.h"

typedef struct due_s {
  struct due_s *next;
  int gen;
  char user[64];
} due_t;

struct channel_subs_s {
  json_t *users;   /* user id -> {gen, convs: {conv: true}, pending: [[conv, joined]] | absent} */
  json_t *members; /* conv id -> {user id: true} */
  int gen;
  due_t *due, *due_tail; /* tracked users whose read has not started, in order */
  int reading;           /* batch reads in flight (the app's) */
};

channel_subs_t *channel_subs_new(void) {
  channel_subs_t *s = calloc(1, sizeof(*s));
  if (!s) return NULL;
  s->users = json_object();
  s->members = json_object();
  if (!s->users || !s->members) {
    channel_subs_free(s);
    return NULL;
  }
  return s;
}

void channel_subs_free(channel_subs_t *s) {
  if (!s) return;
  while (s->due) {
    due_t *d = s->due;
    s->due = d->next;
    free(d);
  }
  json_decref(s->users);
  json_decref(s->members);
  free(s);
}

static void add(channel_subs_t *s, json_t *rec, const char *conv, const char *user) {
  json_object_set_new(json_object_get(rec, "convs"), conv, json_true());
  json_t *set = json_object_get(s->members, conv);
  if (!set) {
    set = json_object();
    json_object_set_new(s->members, conv, set);
  }
  json_object_set_new(set, user, json_true());
}

/* conv may be a key of rec's convs (untrack's loop): it is deleted there last. */
static void del(channel_subs_t *s, json_t *rec, const char *conv, const char *user) {
  json_t *set = json_object_get(s->members, conv);
  json_object_del(set, user);
  if (set && json_object_size(set) == 0) json_object_del(s->members, conv);
  json_object_del(json_object_get(rec, "convs"), conv);
}

int channel_subs_track(channel_subs_t *s, const char *user) {
  channel_subs_untrack(s, user);
  int gen = ++s->gen;
  json_object_set_new(s->users, user,
                      json_pack("{s:i, s:{}, s:[]}", "gen", gen, "convs", "pending"));
  due_t *d = calloc(1, sizeof(*d));
  if (d && snprintf(d->user, sizeof(d->user), "%s", user) < (int)sizeof(d->user)) {
    d->gen = gen;
    if (s->due_tail)
      s->due_tail->next = d;
    else
      s->due = d;
    s->due_tail = d;
  } else {
    free(d); /* never read: followed by joins alone */
    channel_subs_loaded(s, user, gen, NULL);
  }
  return gen;
}

/* The user's read of generation gen is still wanted. */
static int wanted(const channel_subs_t *s, const char *user, int gen) {
  json_t *rec = json_object_get(s->users, user);
  return rec && json_integer_value(json_object_get(rec, "gen")) == gen &&
         json_object_get(rec, "pending");
}

json_t *channel_subs_take(channel_subs_t *s, size_t max) {
  json_t *batch = NULL;
  while (s->due && (!batch || json_array_size(batch) < max)) {
    due_t *d = s->due;
    s->due = d->next;
    if (!s->due) s->due_tail = NULL;
    if (wanted(s, d->user, d->gen)) { /* not those gone since */
      if (!batch) batch = json_array();
      json_array_append_new(batch, json_pack("[s, i]", d->user, d->gen));
    }
    free(d);
  }
  return batch;
}

void channel_subs_loaded_batch(channel_subs_t *s, const json_t *batch, const json_t *by_user) {
  size_t i;
  json_t *v;
  json_array_foreach(batch, i, v) {
    const char *user = json_string_value(json_array_get(v, 0));
    if (!user) continue;
    json_t *ids = by_user ? json_object_get(by_user, user) : NULL;
    channel_subs_loaded(s, user, (int)json_integer_value(json_array_get(v, 1)),
                        json_is_array(ids) ? ids : NULL);
  }
}

void channel_subs_loaded(channel_subs_t *s, const char *user, int gen, const json_t *ids) {
  json_t *rec = json_object_get(s->users, user);
  if (!rec || json_integer_value(json_object_get(rec, "gen")) != gen) return;
  json_t *pending = json_incref(json_object_get(rec, "pending"));
  json_object_del(rec, "pending");
  size_t i;
  json_t *v;
  json_array_foreach(ids, i, v) if (json_is_string(v)) add(s, rec, json_string_value(v), user);
  json_array_foreach(pending, i, v) channel_subs_change(s, json_string_value(json_array_get(v, 0)),
                                                        user, json_is_true(json_array_get(v, 1)));
  json_decref(pending);
}

void channel_subs_untrack(channel_subs_t *s, const char *user) {
  json_t *rec = json_object_get(s->users, user);
  if (!rec) return;
  const char *conv;
  json_t *v, *tmp;
  json_t *convs = json_object_get(rec, "convs");
  json_object_foreach_safe(convs, tmp, conv, v) del(s, rec, conv, user);
  json_object_del(s->users, user);
}

void channel_subs_change(channel_subs_t *s, const char *conv, const char *user, int joined) {
  json_t *rec = conv && user ? json_object_get(s->users, user) : NULL;
  if (!rec) return;
  json_t *pending = json_object_get(rec, "pending");
  if (pending) {
    /* Bounded by the user's own joins and leaves during one read. */
    if (json_array_size(pending) < 2 * CHANNELS_PER_USER_MAX)
      json_array_append_new(pending, json_pack("[s, b]", conv, joined));
    return;
  }
  if (joined && json_object_size(json_object_get(rec, "convs")) < CHANNELS_PER_USER_MAX)
    add(s, rec, conv, user);
  else if (!joined)
    del(s, rec, conv, user);
}

json_t *channel_subs_members(const channel_subs_t *s, const char *conv) {
  return s && conv ? json_object_get(s->members, conv) : NULL;
}

json_t *channel_subs_of(const channel_subs_t *s, const char *user) {
  return s && user ? json_object_get(json_object_get(s->users, user), "convs") : NULL;
}

/* ---- the app's ---- */

typedef struct load_s {
  app_t *app;
  json_t *batch; /* [[user, gen]] */
} load_t;

static void read_due(app_t *app);

static void on_loaded(void *ctx, int status, json_t *result) {
  load_t *l = ctx;
  channel_subs_t *s = l->app->channel_subs;
  if (status != STORE_OK)
    log_warn(
        "channels: the channels of %zu users could not be read (status %d); joins alone "
        "are followed",
        json_array_size(l->batch), status);
  if (s) {
    s->reading--;
    channel_subs_loaded_batch(s, l->batch,
                              status == STORE_OK ? json_object_get(result, "ids") : NULL);
    read_due(l->app);
  }
  json_decref(result);
  json_decref(l->batch);
  free(l);
}

/* Starts the next batch read unless one is in flight: the users due since the
 * last one started, up to CHANNEL_IDS_BATCH_MAX. */
static void read_due(app_t *app) {
  channel_subs_t *s = app->channel_subs;
  while (s && s->reading == 0 && app->store) {
    json_t *batch = channel_subs_take(s, CHANNEL_IDS_BATCH_MAX);
    if (!batch) return;
    load_t *l = calloc(1, sizeof(*l));
    json_t *users = l ? json_array() : NULL;
    size_t i;
    json_t *v;
    json_array_foreach(batch, i, v) json_array_append(users, json_array_get(v, 0));
    if (users) {
      l->app = app;
      l->batch = batch;
      s->reading++;
      if (store_call(app->store, CHANNEL_IDS_OF_USERS, json_pack("{s:o}", "user_ids", users),
                     on_loaded, l) == 0)
        return;
      s->reading--;
    }
    channel_subs_loaded_batch(s, batch, NULL); /* joins alone */
    json_decref(batch);
    free(l);
  }
}

void channel_subs_session_opened(app_t *app, const char *user, int sessions) {
  if (!app->channel_subs || sessions != 1 || !app->store) return;
  channel_subs_track(app->channel_subs, user);
  read_due(app);
}

void channel_subs_session_closed(app_t *app, const char *user, int sessions) {
  if (app->channel_subs && sessions == 0) channel_subs_untrack(app->channel_subs, user);
}

void channel_subs_announce(app_t *app, const char *conv, const char *user, int joined) {
  if (app->channel_subs) channel_subs_change(app->channel_subs, conv, user, joined);
  if (!envelope_remote(app)) return;
  json_t *h = json_pack("{s:s, s:s, s:s, s:b}", "k", "j", "c", conv, "u", user, "a", joined);
  if (h) envelope_publish(app, h, "", 0);
  json_decref(h);
}

void channel_subs_on_envelope(app_t *app, const char *kind, json_t *header) {
  if (!app->channel_subs || strcmp(kind, "j") != 0) return;
  channel_subs_change(app->channel_subs, json_string_value(json_object_get(header, "c")),
                      json_string_value(json_object_get(header, "u")),
                      json_is_true(json_object_get(header, "a")));
}
