/* Contact profiles (see profile.h): one Graph fetch per contact at a time,
 * keyed by contact id, with the callers that wait for it. Bounded: at most
 * MAX_FETCHES fetches and MAX_WAITERS waiters each; past either, callers get
 * the contact as it is. Loop thread. */
#include "instagram/profile.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "chat/fanout.h"
#include "parley/instagram.h"
#include "parley/log.h"
#include "parley/store.h"
#include "parley/strmap.h"
#include "parley/util.h"

#define REFRESH_MS (24LL * 3600 * 1000)
#define MAX_FETCHES 64
#define MAX_WAITERS 32
#define MAX_RECENT 4096

typedef struct waiter_s {
  ig_profile_fn fn;
  void *ctx;
} waiter_t;

typedef struct fetch_s {
  ig_profiles_t *p;
  char contact_id[64];
  json_t *contact; /* as the caller gave it */
  waiter_t waiters[MAX_WAITERS];
  int nwaiters;
} fetch_t;

struct ig_profiles_s {
  app_t *app;
  strmap_t fetches; /* contact id -> fetch_t */
  /* contact id -> the profile last stored (json): a contact read before it was
   * stored (the message that asked for it) still gets it, and no second fetch. */
  strmap_t recent;
  int busy;
};

ig_profiles_t *ig_profiles_new(app_t *app) {
  ig_profiles_t *p = calloc(1, sizeof(*p));
  if (!p) return NULL;
  p->app = app;
  strmap_init(&p->fetches);
  strmap_init(&p->recent);
  return p;
}

/* A fetch still in flight when its owner goes: its waiters are released (fn
 * with NULL) and the fetch is orphaned, freed by whichever callback comes last
 * (Graph's, or the store's), which then touches nothing else. */
static int orphan(const char *key, void *value, void *arg) {
  fetch_t *f = value;
  for (int i = 0; i < f->nwaiters; i++) f->waiters[i].fn(f->waiters[i].ctx, NULL);
  f->nwaiters = 0;
  f->p = NULL;
  return 1;
}

static int drop_recent(const char *key, void *value, void *arg) {
  json_decref(value);
  return 1;
}

void ig_profiles_free(ig_profiles_t *p) {
  if (!p) return;
  strmap_sweep(&p->fetches, orphan, NULL);
  strmap_sweep(&p->recent, drop_recent, NULL);
  strmap_free(&p->fetches);
  strmap_free(&p->recent);
  free(p);
}

static void remember(ig_profiles_t *p, const char *id, const json_t *contact) {
  json_t *old = strmap_del(&p->recent, id);
  json_decref(old);
  if (strmap_count(&p->recent) >= MAX_RECENT) strmap_sweep(&p->recent, drop_recent, NULL);
  json_t *keep = json_pack("{s:O?, s:O?, s:O?, s:O?}", "name", json_object_get(contact, "name"),
                           "username", json_object_get(contact, "username"), "profile_pic",
                           json_object_get(contact, "profile_pic"), "profile_fetched_at",
                           json_object_get(contact, "profile_fetched_at"));
  if (keep && strmap_put(&p->recent, id, keep) != 0) json_decref(keep);
}

/* contact with the profile fields of recent (a new reference). */
static json_t *with_profile(const json_t *contact, const json_t *recent) {
  json_t *c = json_copy((json_t *)contact);
  json_object_update(c, (json_t *)recent);
  return c;
}

static void fetch_free(fetch_t *f) {
  json_decref(f->contact);
  free(f);
}

int ig_profiles_busy(const ig_profiles_t *p) { return p ? p->busy : 0; }

static const char *pstr(const json_t *o, const char *k) {
  return json_string_value(json_object_get(o, k));
}

/* 1 when the stored profile is missing or more than a day old. */
static int stale(const json_t *contact) {
  const char *at = pstr(contact, "profile_fetched_at");
  int64_t ms = 0;
  return !at || util_parse_iso8601(at, &ms) != 0 || util_now_ms() - ms >= REFRESH_MS;
}

/* Ends a fetch: every waiter gets contact (the stored one, or the given one). */
static void fetch_end(fetch_t *f, const json_t *contact) {
  ig_profiles_t *p = f->p;
  if (p) {
    strmap_del(&p->fetches, f->contact_id);
    p->busy--;
  }
  for (int i = 0; i < f->nwaiters; i++) f->waiters[i].fn(f->waiters[i].ctx, contact);
  fetch_free(f);
}

static void stored(void *ctx, int status, json_t *result) {
  fetch_t *f = ctx;
  json_t *contact = json_object_get(result, "contact");
  if (!f->p) {
    fetch_end(f, NULL); /* orphaned: nothing left to tell */
  } else if (status != STORE_OK || !contact) {
    log_warn("instagram: cannot store the profile of contact %s (%d)", f->contact_id, status);
    fetch_end(f, f->contact);
  } else {
    json_t *conv;
    size_t i;
    json_array_foreach(json_object_get(result, "conversations"), i, conv)
        fanout_conversation(f->p->app, conv, NULL);
    remember(f->p, f->contact_id, contact);
    fetch_end(f, contact);
  }
  json_decref(result);
}

/* Graph answered: a profile is stored, a failure changes nothing. */
static void fetched(void *ctx, const graph_result_t *res) {
  fetch_t *f = ctx;
  if (!f->p) {
    fetch_end(f, NULL);
    return;
  }
  if (!res->ok || !json_is_object(res->body)) {
    log_info("instagram: profile of %s not fetched (%d %s); the next message retries",
             pstr(f->contact, "ig_user_id"), res->http_status, res->error ? res->error : "");
    fetch_end(f, f->contact);
    return;
  }
  const json_t *b = res->body;
  json_t *params =
      json_pack("{s:O, s:O, s:s?, s:s?, s:s?}", "id", json_object_get(f->contact, "id"), "owner_id",
                json_object_get(f->contact, "owner_id"), "name", pstr(b, "name"), "username",
                pstr(b, "username"), "profile_pic", pstr(b, "profile_pic"));
  if (store_call(f->p->app->store, CONTACT_PROFILE, params, stored, f) != 0)
    fetch_end(f, f->contact);
}

/* Starts the fetch; 0, or -1 when it cannot start (nothing changed). */
static int fetch_start(ig_profiles_t *p, const json_t *account, const json_t *contact,
                       fetch_t **out) {
  const char *id = pstr(contact, "id"), *igsid = pstr(contact, "ig_user_id");
  if (!id || !igsid || strlen(id) >= 64 || !p->app->graph ||
      strmap_count(&p->fetches) >= MAX_FETCHES)
    return -1;
  char *token = ig_token_open(p->app->secret_key, pstr(account, "token_cipher"));
  fetch_t *f = token ? calloc(1, sizeof(*f)) : NULL;
  int rc = -1;
  if (f) {
    /* f is in the map from here until fetch_end frees it. */
    f->p = p;
    snprintf(f->contact_id, sizeof(f->contact_id), "%s", id);
    f->contact = json_deep_copy(contact);
    if (f->contact && strmap_put(&p->fetches, id, f) == 0) {
      p->busy++;
      if (graph_get_profile(p->app->graph, token, igsid, fetched, f) == 0) {
        rc = 0;
        /* A request that could not start has already ended the fetch. */
        f = strmap_get(&p->fetches, id);
      } else {
        p->busy--;
        strmap_del(&p->fetches, id);
      }
    }
    if (rc != 0 && f) {
      fetch_free(f);
      f = NULL;
    }
  }
  if (token) {
    sodium_memzero(token, strlen(token));
    free(token);
  }
  *out = f;
  return rc;
}

void ig_profiles_refresh(ig_profiles_t *p, const json_t *account, const json_t *contact,
                         ig_profile_fn fn, void *ctx) {
  const char *id = pstr(contact, "id");
  fetch_t *f = id ? strmap_get(&p->fetches, id) : NULL;
  json_t *recent = id && !f ? strmap_get(&p->recent, id) : NULL;
  int old = !f && stale(contact); /* asked once: it parses the date */
  if (recent && old && !stale(recent)) {
    /* Read before its profile was stored: it gets that profile, no new fetch. */
    if (fn) {
      json_t *c = with_profile(contact, recent);
      fn(ctx, c);
      json_decref(c);
    }
    return;
  }
  if (old && fetch_start(p, account, contact, &f) != 0) f = NULL;
  if (f && fn && f->nwaiters < MAX_WAITERS) {
    f->waiters[f->nwaiters++] = (waiter_t){fn, ctx};
    return;
  }
  if (fn) fn(ctx, contact);
}
