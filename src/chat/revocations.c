/* revocations: saving, applying, announcing and loading the revocations of
 * access tokens (see revocations.h). Loop thread. */
#include "chat/revocations.h"

#include <stdlib.h>
#include <string.h>

#include "chat/sessions.h"
#include "parley/bus.h"
#include "parley/log.h"
#include "parley/store.h"
#include "parley/util.h"

struct revocations_s {
  app_t *app;
  uv_timer_t timer;
  int loading;    /* a REVOKE_LIST is in flight */
  int loaded;     /* the first load succeeded */
  int64_t newest; /* the newest before_ms read so far */
  int closing, timer_closed;
};

/* ---- applying ---- */

int revocations_apply(app_t *app, const auth_revocation_t *rv) {
  int rc = app->auth ? auth_revoke(app->auth, rv) : 0;
  if (rc <= 0) return rc;
  if (rv->login_id[0])
    sessions_close_login(app, rv->user_id, rv->login_id, REVOCATIONS_CLOSE_CODE, "logged out");
  else
    sessions_close_user(app, rv->user_id, REVOCATIONS_CLOSE_CODE, "account deleted");
  return 1;
}

void revocations_on_bus(app_t *app, const char *payload, size_t len) {
  auth_revocation_t rv;
  if (auth_revoke_parse(payload, len, &rv) != 0) {
    log_warn("ignoring a malformed revocation from the bus");
    return;
  }
  if (revocations_apply(app, &rv) < 0)
    log_warn("out of memory applying a revocation from the bus; the next reload retries it");
}

/* ---- ending an account or a login ---- */

typedef struct end_s {
  app_t *app;
  auth_revocation_t rv;
  revocations_cb cb;
  void *ctx;
} end_t;

static void announce(app_t *app, const auth_revocation_t *rv) {
  char *msg = auth_revoke_message(rv);
  if (!msg || !app->bus || bus_publish(app->bus, auth_revoke_channel(rv), msg, strlen(msg)) != 0)
    log_warn(
        "could not announce a revocation for user %s on the bus (other instances read it "
        "from the store within %d s)",
        rv->user_id, REVOCATIONS_RELOAD_MS / 1000);
  free(msg);
}

static void on_saved(void *arg, int status, json_t *result) {
  end_t *e = arg;
  json_decref(result);
  /* Saved but not applied here for want of memory: the caller answers an error
   * (the next reload applies it); the other instances hear of it all the same. */
  if (status == STORE_OK) {
    if (revocations_apply(e->app, &e->rv) < 0) status = STORE_EUNAVAILABLE;
    announce(e->app, &e->rv);
  }
  e->cb(e->ctx, status);
  free(e);
}

int revocations_end(app_t *app, const auth_revocation_t *rv, revocations_cb cb, void *ctx) {
  end_t *e = calloc(1, sizeof(*e));
  if (!e || !app->auth) {
    free(e);
    return -1;
  }
  *e = (end_t){app, *rv, cb, ctx};
  json_t *p =
      json_pack("{s:s, s:I, s:I}", "user_id", rv->user_id, "before_ms", (json_int_t)rv->before_ms,
                "expires_at_ms", (json_int_t)auth_revoke_keep_until(app->auth, rv->before_ms));
  if (p && rv->login_id[0]) json_object_set_new(p, "login_id", json_string(rv->login_id));
  if (!p || store_call(app->store, REVOKE_SAVE, p, on_saved, e) != 0) {
    free(e);
    return -1;
  }
  return 0;
}

/* ---- ending several logins ---- */

typedef struct end_many_s {
  app_t *app;
  char user_id[64];
  json_t *ids; /* our reference */
  size_t next;
  revocations_cb cb;
  void *ctx;
} end_many_t;

static void end_many_done(end_many_t *m, int status) {
  if (status != STORE_OK)
    log_warn("could not end %zu login(s) of user %s (store status %d)",
             json_array_size(m->ids) - m->next + 1, m->user_id, status);
  if (m->cb) m->cb(m->ctx, status);
  json_decref(m->ids);
  free(m);
}

static void end_next(void *arg, int status) {
  end_many_t *m = arg;
  auth_revocation_t rv;
  if (status != STORE_OK) {
    end_many_done(m, status);
    return;
  }
  while (m->next < json_array_size(m->ids)) {
    const char *id = json_string_value(json_array_get(m->ids, m->next++));
    if (auth_revocation_make(&rv, m->user_id, id, util_now_ms()) != 0 || !rv.login_id[0]) continue;
    if (revocations_end(m->app, &rv, end_next, m) != 0) end_many_done(m, STORE_EUNAVAILABLE);
    return;
  }
  end_many_done(m, STORE_OK);
}

int revocations_end_logins(app_t *app, const char *user_id, const json_t *login_ids,
                           revocations_cb cb, void *ctx) {
  end_many_t *m = calloc(1, sizeof(*m));
  if (!m) return -1;
  m->app = app;
  snprintf(m->user_id, sizeof(m->user_id), "%s", user_id);
  m->ids = json_incref((json_t *)login_ids);
  m->cb = cb;
  m->ctx = ctx;
  end_next(m, STORE_OK);
  return 0;
}

/* ---- loading ---- */

static void maybe_free(revocations_t *r) {
  if (r->closing && r->timer_closed && !r->loading) free(r);
}

static void load(revocations_t *r);

static void on_timer(uv_timer_t *t) { load(t->data); }

static void schedule(revocations_t *r, uint64_t ms) {
  if (!r->closing) uv_timer_start(&r->timer, on_timer, ms, 0);
}

/* Returns 0, or -1 when one could not be applied (memory): the load counts as
 * failed and is tried again. */
static int apply_list(revocations_t *r, json_t *list) {
  size_t i, fresh = 0;
  int failed = 0;
  json_t *v;
  json_array_foreach(list, i, v) {
    auth_revocation_t rv;
    const json_t *before = json_object_get(v, "before_ms");
    if (!json_is_integer(before) ||
        auth_revocation_make(&rv, json_string_value(json_object_get(v, "user_id")),
                             json_string_value(json_object_get(v, "login_id")),
                             json_integer_value(before)) != 0)
      continue;
    int rc = revocations_apply(r->app, &rv);
    if (rc < 0) failed = 1;
    fresh += rc > 0;
    if (rc >= 0 && rv.before_ms > r->newest) r->newest = rv.before_ms;
  }
  if (r->loaded && fresh)
    log_warn("revocations: %zu were missed on the bus and read from the store", fresh);
  return failed ? -1 : 0;
}

static void on_list(void *arg, int status, json_t *result) {
  revocations_t *r = arg;
  r->loading = 0;
  if (r->closing) {
    json_decref(result);
    maybe_free(r);
    return;
  }
  if (status == STORE_OK && apply_list(r, json_object_get(result, "revocations")) != 0)
    status = STORE_EUNAVAILABLE;
  if (status == STORE_OK) {
    if (!r->loaded) log_info("revocations: %zu loaded", auth_revoke_count(r->app->auth));
    r->loaded = 1;
    auth_set_ready(r->app->auth, 1);
  } else if (!r->loaded) {
    log_warn("revocations: cannot load them from the store yet; authenticated calls answer 503");
  }
  json_decref(result);
  schedule(r, r->loaded ? REVOCATIONS_RELOAD_MS : REVOCATIONS_RETRY_MS);
}

static void load(revocations_t *r) {
  if (r->closing || r->loading) return;
  int64_t now = util_now_ms();
  auth_revoke_prune(r->app->auth, now);
  /* After the first load, only what is newer than what was read, less a margin
   * for instances whose clocks differ or whose save landed late. */
  int64_t since =
      r->loaded && r->newest > REVOCATIONS_OVERLAP_MS ? r->newest - REVOCATIONS_OVERLAP_MS : 0;
  json_t *p = json_pack("{s:I, s:I, s:i}", "now_ms", (json_int_t)now, "since_ms", (json_int_t)since,
                        "limit", AUTH_REVOKE_MAX);
  r->loading = 1;
  if (!p || store_call(r->app->store, REVOKE_LIST, p, on_list, r) != 0) {
    r->loading = 0;
    schedule(r, REVOCATIONS_RETRY_MS);
  }
}

revocations_t *revocations_new(app_t *app) {
  revocations_t *r = calloc(1, sizeof(*r));
  if (!r) return NULL;
  r->app = app;
  uv_timer_init(app->loop, &r->timer);
  r->timer.data = r;
  auth_set_ready(app->auth, 0);
  load(r);
  return r;
}

static void on_timer_closed(uv_handle_t *h) {
  revocations_t *r = h->data;
  r->timer_closed = 1;
  maybe_free(r);
}

void revocations_close(revocations_t *r) {
  if (!r || r->closing) return;
  r->closing = 1;
  if (r->app->revocations == r) r->app->revocations = NULL;
  uv_close((uv_handle_t *)&r->timer, on_timer_closed);
}
