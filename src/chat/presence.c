/* presence: the users with sessions here (their bus entries are refreshed
 * before their TTL runs out), the users another instance announced online
 * (so that, if that instance dies, this one can tell its own sessions they went
 * offline), and when each other instance was last heard from. Owned by the
 * app (app->presence) with its own timer; loop thread. Bus and store callbacks
 * hold only the app and a copy of what they need, since presence may be gone
 * when they run. */
#include "chat/presence.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "chat/envelope.h"
#include "chat/presence_batch.h"
#include "chat/presence_query.h"
#include "chat/presence_view.h"
#include "chat/sessions.h"
#include "parley/bus.h"
#include "parley/log.h"
#include "parley/store.h"
#include "parley/strmap.h"
#include "parley/util.h"

#define PRESENCE_FORGET_MS 600000
#define PRESENCE_TICK_MS 1000
/* Entries of p->local or p->remote (both grow with the sessions) that one loop
 * turn refreshes or checks; a round goes on in the turns after. */
#define PRESENCE_SWEEP_MAX 512

/* A user another instance announced online. */
typedef struct remote_s {
  char instance[25];
  json_t *recipients; /* who was told: who must hear the offline */
  int checking;       /* a count query is in flight */
} remote_t;

typedef struct instance_s {
  int64_t last_seen_ms;
  int packs; /* its heartbeat announced ENVELOPE_VERSION 2 or later */
} instance_t;

struct presence_s {
  app_t *app;
  uv_timer_t timer; /* presence_tick once a second */
  uv_timer_t flush; /* ends the batch's windows */
  /* The next turn's part of what one turn does a bounded part of: a refresh or
   * check round, the batch's due windows, the departed being handed. An idle
   * handle, not a timer of 0 ms: libuv (before 1.45) runs a timer restarted
   * at 0 from its own callback again in the same turn. */
  uv_idle_t more;
  int flush_more; /* the batch has more windows due now */
  strmap_cursor_t refresh_at, check_at;
  int refreshing, check_round; /* a round is under way */
  int closing, open_handles;
  presence_batch_t *batch;           /* what each recipient here hears, coalesced */
  struct task_s *tasks, *tasks_tail; /* waiting for a pace slot, in order */
  int running, draining;             /* paced tasks running; start_tasks on the stack */
  strmap_t local;                    /* user id -> the presence itself (a marker) */
  strmap_t remote;                   /* user id -> remote_t */
  strmap_t instances;                /* instance id -> instance_t */
  strmap_t announcing;               /* user id -> the last job_t of their chain of announcements */
  int checks;                        /* count queries in flight for quiet instances' users */
  json_t *departed;                  /* recipient id -> [presence entries]: offlines found by those
                                        queries, sent together once the last one answered */
  json_t *handing;                   /* the departed of earlier rounds, handed to the batch
                                        PRESENCE_DEPARTED_MAX recipients a turn, in order */
  int64_t last_refresh_ms, last_heartbeat_ms;
  int64_t started_ms; /* since when this instance listens (see pack_update) */
};

typedef struct task_s {
  struct task_s *next;
  presence_task_fn start;
  void *ctx;
} task_t;

/* An announcement or a count query in flight. */
typedef struct job_s {
  app_t *app;
  int paced;              /* holds a pace slot until freed */
  int chained;            /* in its user's chain of announcements (see chain_announce) */
  struct job_s *after;    /* the next announcement of the same user, started once this ends */
  presence_task_fn start; /* how a chained job starts */
  char user[64];
  char instance[25];
  const char *status; /* "online" / "offline" (static strings): what happened */
  json_t *frame;      /* the presence frame to announce, once known */
} job_t;

static job_t *job_new(app_t *app, const char *user, const char *status) {
  job_t *j = calloc(1, sizeof(*j));
  if (!j) return NULL;
  j->app = app;
  snprintf(j->user, sizeof(j->user), "%s", user);
  j->status = status;
  return j;
}

/* The app's presence while it runs, or NULL. */
static presence_t *presence_of(app_t *app) {
  return app->presence && !app->presence->closing ? app->presence : NULL;
}

static void job_free(job_t *j) {
  if (!j) return;
  app_t *app = j->app;
  int paced = j->paced;
  job_t *after = j->after;
  presence_t *p = presence_of(app);
  if (j->chained && p && !after && strmap_get(&p->announcing, j->user) == j)
    strmap_del(&p->announcing, j->user);
  json_decref(j->frame);
  free(j);
  if (paced) presence_paced_done(app);
  /* The user's next announcement starts only now: two in flight at once could
   * finish in either order, and an online could then follow the offline. */
  if (after) presence_pace(app, after->start, after);
}

/* ---- pacing ---- */

/* Starts waiting tasks while slots are free; all of them when closing. A task
 * that ends at once calls presence_paced_done from here: draining keeps that
 * from recursing. */
static void start_tasks(presence_t *p) {
  if (p->draining) return;
  p->draining = 1;
  while (p->tasks && (p->running < PRESENCE_PACE_MAX || p->closing)) {
    task_t *t = p->tasks;
    p->tasks = t->next;
    if (!p->tasks) p->tasks_tail = NULL;
    p->running++;
    t->start(t->ctx);
    free(t);
  }
  p->draining = 0;
}

void presence_pace(app_t *app, presence_task_fn start, void *ctx) {
  presence_t *p = presence_of(app);
  task_t *t = p ? calloc(1, sizeof(*t)) : NULL;
  if (!t) {
    if (p) p->running++; /* out of memory: at once, yet it will call done */
    start(ctx);          /* no presence (closing): unpaced, and done does nothing */
    return;
  }
  t->start = start;
  t->ctx = ctx;
  if (p->tasks_tail)
    p->tasks_tail->next = t;
  else
    p->tasks = t;
  p->tasks_tail = t;
  start_tasks(p);
}

void presence_paced_done(app_t *app) {
  presence_t *p = presence_of(app);
  if (!p) return;
  if (p->running > 0) p->running--;
  start_tasks(p);
}

static int free_remote(const char *key, void *value, void *arg) {
  remote_t *r = value;
  json_decref(r->recipients);
  free(r);
  return 1;
}

static int free_value(const char *key, void *value, void *arg) {
  free(value);
  return 1;
}

static int drop_marker(const char *key, void *value, void *arg) { return 1; }

static void on_timer_closed(uv_handle_t *h) {
  presence_t *p = h->data;
  if (--p->open_handles > 0) return;
  presence_batch_free(p->batch);
  strmap_sweep(&p->local, drop_marker, NULL);
  strmap_sweep(&p->remote, free_remote, NULL);
  strmap_sweep(&p->instances, free_value, NULL);
  strmap_free(&p->local);
  strmap_free(&p->remote);
  strmap_free(&p->instances);
  strmap_free(&p->announcing); /* the jobs are owned by their store calls */
  json_decref(p->departed);
  json_decref(p->handing);
  free(p);
}

void presence_close(presence_t *p) {
  if (!p || p->closing) return;
  p->closing = 1;
  start_tasks(p); /* each sees no presence and ends */
  if (p->app->presence == p) p->app->presence = NULL;
  assert(!uv_is_closing((uv_handle_t *)&p->timer)); /* closing guards it: closed once */
  uv_close((uv_handle_t *)&p->timer, on_timer_closed);
  uv_close((uv_handle_t *)&p->flush, on_timer_closed);
  uv_close((uv_handle_t *)&p->more, on_timer_closed);
}

static void on_tick(uv_timer_t *t) {
  presence_t *p = t->data;
  if (p->app->shutting_down || !p->app->bus) {
    presence_close(p);
    return;
  }
  presence_tick(p, (int64_t)uv_now(p->app->loop));
}

static void batch_send(void *ctx, const char *recipient, const char *text, size_t len) {
  sessions_send(ctx, recipient, text, len, 0);
}

presence_t *presence_new(app_t *app) {
  presence_t *p = calloc(1, sizeof(*p));
  if (!p) return NULL;
  p->app = app;
  p->batch = presence_batch_new(PRESENCE_BATCH_WINDOW_MS, PRESENCE_VIEW_MAX_USERS, batch_send, app);
  if (!p->batch) {
    free(p);
    return NULL;
  }
  strmap_init(&p->local);
  strmap_init(&p->remote);
  strmap_init(&p->instances);
  strmap_init(&p->announcing);
  uv_timer_init(app->loop, &p->timer);
  uv_timer_init(app->loop, &p->flush);
  uv_idle_init(app->loop, &p->more);
  p->timer.data = p->flush.data = p->more.data = p;
  p->open_handles = 3; /* timer, flush, more */
  p->started_ms = (int64_t)uv_now(app->loop);
  uv_timer_start(&p->timer, on_tick, PRESENCE_TICK_MS, PRESENCE_TICK_MS);
  return p;
}

/* ---- delivering to the recipients here ---- */

static void on_more(uv_idle_t *h);
static void on_flush_timer(uv_timer_t *t);

/* Asks for on_more on the next turn of the loop. */
static void again(presence_t *p) {
  if (!p->closing) uv_idle_start(&p->more, on_more);
}

/* Ends at most PRESENCE_BATCH_FLUSH_MAX due windows; more due: the next turn. */
static void flush_batch(presence_t *p) {
  int64_t next =
      presence_batch_flush(p->batch, (int64_t)uv_now(p->app->loop), PRESENCE_BATCH_FLUSH_MAX);
  if (next == 0) {
    p->flush_more = 1;
    again(p);
  } else if (next > 0) {
    uv_timer_start(&p->flush, on_flush_timer, (uint64_t)next, 0);
  }
}

static void on_flush_timer(uv_timer_t *t) { flush_batch(t->data); }

/* Hands entries (an array, borrowed) to the batch for recipient, if it has a
 * session here, and makes sure the timer will end its window. */
static void deliver(presence_t *p, const char *recipient, const json_t *entries) {
  if (!recipient || sessions_count(p->app, recipient) == 0) return;
  int64_t now = (int64_t)uv_now(p->app->loop);
  presence_batch_add(p->batch, recipient, entries, now);
  if (!uv_is_active((uv_handle_t *)&p->flush)) {
    int64_t next = presence_batch_flush(p->batch, now, 0);
    if (next >= 0 && !p->flush_more) uv_timer_start(&p->flush, on_flush_timer, (uint64_t)next, 0);
  }
}

/* The same for one presence frame (borrowed; its "type" is left out) and each
 * recipient id of the array recipients (borrowed). */
static void deliver_frame(presence_t *p, const json_t *recipients, const json_t *frame) {
  json_t *entry = json_deep_copy(frame);
  json_t *entries = entry ? json_array() : NULL;
  if (entries) {
    json_object_del(entry, "type");
    json_array_append(entries, entry);
    size_t i;
    json_t *v;
    json_array_foreach(recipients, i, v) deliver(p, json_string_value(v), entries);
  }
  json_decref(entries);
  json_decref(entry);
}

/* ---- announcing ---- */

/* {"type": "presence", user_id, status, last_seen} from an entry (borrowed). */
static json_t *presence_frame(const json_t *entry) {
  json_t *frame = json_deep_copy(entry);
  if (frame) json_object_set_new(frame, "type", json_string("presence"));
  return frame;
}

/* The offline frame of a user whose last session closed at_ms. */
static json_t *offline_frame(const char *user, int64_t at_ms) {
  char iso[32];
  util_iso8601(at_ms, iso);
  return json_pack("{s:s, s:s, s:s, s:s}", "type", "presence", "user_id", user, "status", "offline",
                   "last_seen", iso);
}

/* Sends the job's frame to the recipients here (through the batch) and, on
 * the bus, to the other instances (whose own sessions among them hear it). */
static void announce(job_t *j, json_t *recipients) {
  char *text = j->frame ? json_dumps(j->frame, JSON_COMPACT) : NULL;
  const char *status = json_string_value(json_object_get(j->frame, "status"));
  presence_t *p = presence_of(j->app);
  if (text && status && p) {
    size_t len = strlen(text);
    deliver_frame(p, recipients, j->frame);
    json_t *h = json_pack("{s:s, s:O, s:s, s:s}", "k", "p", "u", recipients, "user", j->user,
                          "status", status);
    if (h) envelope_publish(j->app, h, text, len);
    json_decref(h);
  }
  free(text);
}

static void on_contacts(void *ctx, int status, json_t *ids) {
  job_t *j = ctx;
  if (status == STORE_OK && !j->app->shutting_down) announce(j, ids);
  json_decref(ids);
  job_free(j);
}

/* Takes the job: announces its frame to everyone who shares a conversation
 * with the user. */
static void start_announce(job_t *j) {
  if (!j->frame || presence_contacts(j->app, j->user, 0, on_contacts, j) != 0) job_free(j);
}

/* The user's first session anywhere: others see the status the user chose,
 * and nothing at all while they are invisible. */
static void on_user_online(void *ctx, int status, json_t *user) {
  job_t *j = ctx;
  const char *shown = user ? presence_view_visible(presence_view_chosen(user), 1) : "offline";
  if (status == STORE_OK && !j->app->shutting_down && strcmp(shown, "offline") != 0) {
    json_t *entry = presence_view_entry(user, 1);
    j->frame = entry ? presence_frame(entry) : NULL;
    json_decref(entry);
    start_announce(j);
  } else {
    job_free(j);
  }
  json_decref(user);
}

static void on_seen_saved(void *ctx, int status, json_t *result) { json_decref(result); }

/* Records last_seen; two instances recording one departure keep the later. */
static void save_last_seen(app_t *app, const char *user, int64_t at_ms) {
  if (!app->store) return;
  store_call(app->store, USER_SEEN, json_pack("{s:s, s:I}", "id", user, "at_ms", (json_int_t)at_ms),
             on_seen_saved, NULL);
}

/* The user's last session anywhere closed: others hear offline and last_seen
 * is recorded, unless the user is invisible. Then others have seen them
 * offline since they went invisible (when last_seen was recorded), and a new
 * one would tell them the user was there after all. Without the store's answer
 * the user is taken as visible: a missed offline is worse than one too many. */
static void on_user_offline(void *ctx, int status, json_t *user) {
  job_t *j = ctx;
  const char *chosen = status == STORE_OK ? presence_view_chosen(user) : "online";
  if (strcmp(chosen, "invisible") == 0 || j->app->shutting_down) {
    job_free(j);
  } else {
    int64_t now = util_now_ms();
    save_last_seen(j->app, j->user, now);
    j->frame = offline_frame(j->user, now);
    start_announce(j);
  }
  json_decref(user);
}

/* ---- this instance's users ---- */

/* Paced: the store lookups behind an announcement. */
static void start_online(void *ctx) {
  job_t *j = ctx;
  j->paced = presence_of(j->app) != NULL;
  if (j->app->shutting_down || !j->app->store ||
      store_call(j->app->store, USER_GET, json_pack("{s:s}", "id", j->user), on_user_online, j) !=
          0)
    job_free(j);
}

static void start_offline(void *ctx) {
  job_t *j = ctx;
  j->paced = presence_of(j->app) != NULL;
  if (j->app->shutting_down || !j->app->store) {
    job_free(j);
  } else if (store_call(j->app->store, USER_GET, json_pack("{s:s}", "id", j->user), on_user_offline,
                        j) != 0) {
    on_user_offline(j, STORE_EUNAVAILABLE, NULL);
  }
}

/* Paces an announcement of j->user, behind any of theirs still running. */
static void chain_announce(app_t *app, job_t *j, presence_task_fn start) {
  presence_t *p = presence_of(app);
  j->start = start;
  if (!p) {
    presence_pace(app, start, j);
    return;
  }
  job_t *last = strmap_get(&p->announcing, j->user);
  if (strmap_put(&p->announcing, j->user, j) != 0) {
    job_free(j); /* out of memory: unordered would be wrong */
    return;
  }
  j->chained = 1;
  if (last)
    last->after = j;
  else
    presence_pace(app, start, j);
}

static void on_set(void *ctx, int status, long long count) {
  job_t *j = ctx;
  /* online: the first instance to hold the user; offline: the last to let go. */
  int first = strcmp(j->status, "online") == 0 && count == 1;
  int last = strcmp(j->status, "offline") == 0 && count == 0;
  if (status != 0 || j->app->shutting_down || !(first || last) || !j->app->store) {
    job_free(j);
  } else {
    chain_announce(j->app, j, first ? start_online : start_offline);
  }
}

static void presence_set(app_t *app, const char *user, int64_t ttl, const char *status) {
  job_t *j = job_new(app, user, status);
  if (!j) return;
  if (!app->bus || bus_presence_set(app->bus, user, app->instance_id, ttl, on_set, j) != 0)
    job_free(j);
}

void presence_session_opened(app_t *app, const char *user_id, int sessions) {
  presence_t *p = presence_of(app);
  if (!p || sessions != 1) return;
  strmap_put(&p->local, user_id, p);
  presence_set(app, user_id, PRESENCE_TTL_MS, "online");
}

void presence_session_closed(app_t *app, const char *user_id, int sessions) {
  presence_t *p = presence_of(app);
  if (!p || sessions != 0 || !strmap_del(&p->local, user_id)) return;
  presence_set(app, user_id, 0, "offline");
}

/* A status change is announced by the instances that hold the user's
 * sessions, so that what others remember of who announced it stays true when
 * an instance dies (see on_remote_presence). */
static void on_user_changed(void *ctx, int status, json_t *user) {
  job_t *j = ctx;
  presence_t *p = presence_of(j->app);
  if (status == STORE_OK && p && strmap_get(&p->local, j->user)) {
    if (strcmp(presence_view_chosen(user), "invisible") == 0) {
      /* To others the user leaves now: last_seen says so (see on_user_offline). */
      int64_t now = util_now_ms();
      save_last_seen(j->app, j->user, now);
      j->frame = offline_frame(j->user, now);
    } else {
      json_t *entry = presence_view_entry(user, 1);
      j->frame = entry ? presence_frame(entry) : NULL;
      json_decref(entry);
    }
    start_announce(j);
  } else {
    job_free(j);
  }
  json_decref(user);
}

static void start_change(void *ctx) {
  job_t *j = ctx;
  j->paced = presence_of(j->app) != NULL;
  if (j->app->shutting_down || !j->app->store ||
      store_call(j->app->store, USER_GET, json_pack("{s:s}", "id", j->user), on_user_changed, j) !=
          0)
    job_free(j);
}

static void announce_change(presence_t *p, const char *user) {
  if (!strmap_get(&p->local, user) || !p->app->store) return;
  job_t *j = job_new(p->app, user, "changed");
  if (j) chain_announce(p->app, j, start_change);
}

void presence_status_changed(app_t *app, const char *user_id) {
  presence_t *p = presence_of(app);
  if (!p) return;
  announce_change(p, user_id);
  json_t *h = json_pack("{s:s, s:s}", "k", "s", "user", user_id);
  if (h) envelope_publish(app, h, "", 0);
  json_decref(h);
}

static void on_refreshed(void *ctx, int status, long long count) { (void)ctx; }

static int refresh_each(const char *key, void *value, void *arg) {
  presence_t *p = arg;
  bus_presence_set(p->app->bus, key, p->app->instance_id, PRESENCE_TTL_MS, on_refreshed, NULL);
  return 0;
}

/* ---- other instances ---- */

static void forget_remote(presence_t *p, const char *user) {
  remote_t *r = strmap_del(&p->remote, user);
  if (!r) return;
  json_decref(r->recipients);
  free(r);
}

/* Recipients are packed in envelopes (app->envelope_pack) only once every
 * instance alive has had time to be heard (PRESENCE_STALE_MS from the start:
 * each heartbeats every PRESENCE_HEARTBEAT_MS) and each one alive (heard within
 * PRESENCE_STALE_MS) has said in its heartbeat that it reads them. An instance
 * of an earlier version says nothing, so while one is alive (a rolling
 * upgrade) every instance sends the form it reads; a new instance counts as not
 * reading them until its first heartbeat. Turned off as soon as such an
 * instance is heard (seen), judged again once a tick (instances are few). */
typedef struct pack_check_s {
  int64_t now;
  int all;
} pack_check_t;

static int pack_each(const char *key, void *value, void *arg) {
  (void)key;
  pack_check_t *c = arg;
  const instance_t *in = value;
  if (!in->packs && c->now - in->last_seen_ms < PRESENCE_STALE_MS) c->all = 0;
  return 0;
}

static void pack_update(presence_t *p, int64_t now) {
  pack_check_t c = {now, now - p->started_ms >= PRESENCE_STALE_MS};
  if (c.all) strmap_sweep(&p->instances, pack_each, &c);
  p->app->envelope_pack = c.all;
}

static void seen(presence_t *p, const char *instance, const char *kind, const json_t *header,
                 int64_t now) {
  instance_t *in = strmap_get(&p->instances, instance);
  if (!in) {
    in = calloc(1, sizeof(*in));
    if (!in || strmap_put(&p->instances, instance, in) != 0) {
      free(in);
      return;
    }
  }
  in->last_seen_ms = now;
  if (strcmp(kind, "h") == 0)
    in->packs = json_integer_value(json_object_get(header, "e")) >= ENVELOPE_VERSION;
  if (!in->packs) p->app->envelope_pack = 0;
}

static void on_remote_presence(presence_t *p, json_t *hdr, const char *from) {
  const char *user = json_string_value(json_object_get(hdr, "user"));
  const char *status = json_string_value(json_object_get(hdr, "status"));
  json_t *users = json_object_get(hdr, "u");
  if (!user || !status || !json_is_array(users)) return;
  forget_remote(p, user);
  /* online, away, dnd: alive, so its instance dying must send it offline. */
  if (strcmp(status, "offline") == 0) return;
  remote_t *r = calloc(1, sizeof(*r));
  if (!r) return;
  snprintf(r->instance, sizeof(r->instance), "%s", from);
  r->recipients = json_incref(users);
  if (strmap_put(&p->remote, user, r) != 0) free_remote(user, r, NULL);
}

void presence_on_envelope(presence_t *p, const char *kind, json_t *header, const char *body,
                          size_t len, int64_t now_ms) {
  if (!p || p->closing) return;
  const char *from = json_string_value(json_object_get(header, "i"));
  if (!from) return;
  seen(p, from, kind, header, now_ms);
  if (strcmp(kind, "s") == 0) {
    const char *user = json_string_value(json_object_get(header, "user"));
    if (user) announce_change(p, user);
    return;
  }
  if (strcmp(kind, "p") != 0) return;
  json_t *frame = json_loadb(body, len, 0, NULL);
  if (json_is_object(frame)) deliver_frame(p, json_object_get(header, "u"), frame);
  json_decref(frame);
  on_remote_presence(p, header, from);
}

/* A departed user who is online again since (a session here, or another
 * instance announced them): their offline is out of date and is not sent. */
static int back_online(presence_t *p, const json_t *entry) {
  const char *user = json_string_value(json_object_get(entry, "user_id"));
  return user && (strmap_get(&p->local, user) || strmap_get(&p->remote, user));
}

/* Hands one recipient's departed (an array, borrowed) to the batch, less those
 * back online. */
static void deliver_departed(presence_t *p, const char *recipient, json_t *list) {
  size_t i, stale = 0;
  json_t *e;
  json_array_foreach(list, i, e) stale += back_online(p, e);
  if (stale == 0) {
    deliver(p, recipient, list);
    return;
  }
  json_t *kept = json_array();
  json_array_foreach(list, i, e) if (kept && !back_online(p, e)) json_array_append(kept, e);
  if (json_array_size(kept) > 0) deliver(p, recipient, kept);
  json_decref(kept);
}

/* Hands the departed found by the checks to the batch: to each recipient one
 * presence frame, or one presence.batch (of at most PRESENCE_VIEW_MAX_USERS
 * entries each) when several of the users they see went offline together, as
 * when an instance dies with many users; within a recipient's window, they
 * join what is pending there. A dead instance's users can be seen by every
 * session here: at most PRESENCE_DEPARTED_MAX recipients (or about
 * PRESENCE_DEPARTED_ENTRIES_MAX entries) a turn, in the order they were found,
 * each recipient's list once, then those of the rounds that answered since. */
static void hand_departed(presence_t *p) {
  size_t recipients = 0, entries = 0;
  while (recipients < PRESENCE_DEPARTED_MAX && entries < PRESENCE_DEPARTED_ENTRIES_MAX) {
    if (json_object_size(p->handing) == 0) {
      json_decref(p->handing);
      p->handing = NULL;
      /* The next rounds' departed once every check in flight answered. */
      if (p->checks > 0 || json_object_size(p->departed) == 0) return;
      p->handing = p->departed;
      p->departed = NULL;
    }
    void *it = json_object_iter(p->handing);
    const char *key = json_object_iter_key(it);
    char *who = strdup(key);
    json_t *list = json_incref(json_object_iter_value(it));
    if (who) deliver_departed(p, who, list);
    json_object_del(p->handing, who ? who : key); /* the first key: O(1) */
    recipients++;
    entries += json_array_size(list);
    json_decref(list);
    free(who);
  }
  again(p); /* the rest on the next turn */
}

/* Queues the user's offline for each of the recipients here. */
static void departed(presence_t *p, remote_t *r, const char *user, int64_t at_ms) {
  char iso[32];
  util_iso8601(at_ms, iso);
  json_t *entry =
      json_pack("{s:s, s:s, s:s}", "user_id", user, "status", "offline", "last_seen", iso);
  if (!p->departed) p->departed = json_object();
  size_t i;
  json_t *u;
  json_array_foreach(r->recipients, i, u) {
    const char *id = json_string_value(u);
    if (!entry || !p->departed || !id) break;
    json_t *list = json_object_get(p->departed, id);
    if (!list && json_object_set_new(p->departed, id, list = json_array()) != 0) break;
    json_array_append(list, entry);
  }
  json_decref(entry);
}

/* The count after an instance went quiet: 0 means the user's only instance
 * died, so this instance tells its own sessions. */
static void on_count(void *ctx, int status, long long count) {
  job_t *j = ctx;
  presence_t *p = presence_of(j->app);
  if (!p) goto done;
  p->checks--;
  remote_t *r = strmap_get(&p->remote, j->user);
  if (!r || strcmp(r->instance, j->instance) != 0) goto flush;
  r->checking = 0;
  instance_t *in = strmap_get(&p->instances, j->instance);
  int64_t quiet = in ? (int64_t)uv_now(j->app->loop) - in->last_seen_ms : PRESENCE_FORGET_MS;
  if (status == 0 && count == 0) {
    /* Every instance that saw the user online records the departure; the
     * store keeps the latest. */
    int64_t at = util_now_ms();
    save_last_seen(j->app, j->user, at);
    departed(p, r, j->user, at);
    forget_remote(p, j->user);
  } else if (status == 0 && quiet > PRESENCE_TTL_MS + PRESENCE_STALE_MS) {
    /* The dead instance's entry has expired, yet the user is alive elsewhere:
     * that instance announces the offline when the time comes. */
    forget_remote(p, j->user);
  }
flush:
  if (p->checks == 0 && json_object_size(p->departed) > 0 && !p->handing) hand_departed(p);
done:
  job_free(j);
}

typedef struct check_s {
  presence_t *p;
  int64_t now;
} check_t;

static int check_each(const char *key, void *value, void *arg) {
  check_t *c = arg;
  remote_t *r = value;
  instance_t *in = strmap_get(&c->p->instances, r->instance);
  if (r->checking || (in && c->now - in->last_seen_ms < PRESENCE_STALE_MS)) return 0;
  job_t *j = job_new(c->p->app, key, "offline");
  if (!j) return 0;
  snprintf(j->instance, sizeof(j->instance), "%s", r->instance);
  if (bus_presence_count(c->p->app->bus, key, on_count, j) != 0) {
    job_free(j);
    return 0;
  }
  r->checking = 1;
  c->p->checks++;
  return 0;
}

static int forget_instance(const char *key, void *value, void *arg) {
  check_t *c = arg;
  instance_t *in = value;
  if (c->now - in->last_seen_ms < PRESENCE_FORGET_MS) return 0;
  free(in);
  return 1;
}

static int refresh_seen(const char *key, void *value, void *arg) {
  ((instance_t *)value)->last_seen_ms = *(int64_t *)arg;
  return 0;
}

void presence_bus_state(presence_t *p, int up, int64_t now_ms) {
  /* Heartbeats missed while our own link was down say nothing about the other
   * instances: they get a fresh grace period. */
  if (p && !p->closing && up) strmap_sweep(&p->instances, refresh_seen, &now_ms);
}

/* One part of each round under way; the rest on the next turns of the loop. */
static void sweep_step(presence_t *p, int64_t now_ms) {
  app_t *app = p->app;
  if (p->refreshing &&
      strmap_sweep_some(&p->local, &p->refresh_at, PRESENCE_SWEEP_MAX, refresh_each, p))
    p->refreshing = 0;
  if (p->check_round && !bus_is_up(app->bus)) {
    p->check_round = 0; /* our own link went down: judge no one */
    p->check_at = (strmap_cursor_t){0};
  }
  check_t c = {p, now_ms};
  if (p->check_round &&
      strmap_sweep_some(&p->remote, &p->check_at, PRESENCE_SWEEP_MAX, check_each, &c))
    p->check_round = 0;
  if (p->refreshing || p->check_round) again(p);
}

static void on_more(uv_idle_t *h) {
  presence_t *p = h->data;
  uv_idle_stop(h);
  if (p->closing || p->app->shutting_down || !p->app->bus) return;
  if (p->refreshing || p->check_round) sweep_step(p, (int64_t)uv_now(p->app->loop));
  if (p->flush_more) {
    p->flush_more = 0;
    flush_batch(p);
  }
  if (p->handing) hand_departed(p);
}

void presence_tick(presence_t *p, int64_t now_ms) {
  app_t *app = p->app;
  if (!app->bus) return;
  if (now_ms - p->last_refresh_ms >= PRESENCE_REFRESH_MS) {
    p->last_refresh_ms = now_ms;
    p->refreshing = 1; /* a round still under way goes on where it is */
  }
  /* The in-process bus has no other instance to hear a heartbeat, nor to send
   * the envelopes that fill p->remote (except in tests, which hand them in). */
  if (strcmp(bus_backend(app->bus), "local") != 0 &&
      now_ms - p->last_heartbeat_ms >= PRESENCE_HEARTBEAT_MS) {
    p->last_heartbeat_ms = now_ms;
    json_t *h = json_pack("{s:s, s:i}", "k", "h", "e", ENVELOPE_VERSION);
    if (h) envelope_publish(app, h, "", 0);
    json_decref(h);
  }
  check_t c = {p, now_ms};
  /* With our own link down every other instance looks quiet; judge none. */
  if (bus_is_up(app->bus)) p->check_round = 1;
  /* Remote entries are forgotten before their instance, so no entry points at a
   * forgotten instance for long: it would count as quiet and be re-checked.
   * Instances are few (not one per session): walked whole. */
  strmap_sweep(&p->instances, forget_instance, &c);
  pack_update(p, now_ms);
  sweep_step(p, now_ms);
}
