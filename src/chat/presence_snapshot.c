/* presence_snapshot: contacts, then their presence, then one frame to one
 * session (see presence_snapshot.h). Owns each request until it is sent.
 * Loop thread. */
#include "chat/presence_snapshot.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chat/presence.h"
#include "chat/presence_query.h"
#include "chat/presence_view.h"
#include "chat/sessions.h"
#include "parley/log.h"
#include "parley/store.h"

typedef struct snapshot_s {
  app_t *app;
  char user[64];
  uint64_t session;
} snapshot_t;

/* Ends a paced snapshot: its slot goes to the next presence task. */
static void snapshot_free(snapshot_t *q) {
  app_t *app = q->app;
  free(q);
  presence_paced_done(app);
}

static void on_users(void *ctx, int status, json_t *users) {
  snapshot_t *q = ctx;
  if (status != STORE_OK || q->app->shutting_down) {
    if (status != STORE_OK) log_warn("presence: snapshot for %s failed (%d)", q->user, status);
    goto done;
  }
  json_t *entries = json_array();
  size_t i;
  json_t *u;
  json_array_foreach(users, i, u) json_array_append_new(
      entries, presence_view_entry(u, json_is_true(json_object_get(u, "alive"))));
  json_t *frame = json_pack("{s:s, s:o}", "type", "presence.snapshot", "users", entries);
  char *text = frame ? json_dumps(frame, JSON_COMPACT) : NULL;
  if (text) sessions_send_one(q->app, q->user, q->session, text, strlen(text));
  free(text);
  json_decref(frame);
done:
  json_decref(users);
  snapshot_free(q);
}

static void on_contacts(void *ctx, int status, json_t *ids) {
  snapshot_t *q = ctx;
  if (status == STORE_OK && !q->app->shutting_down &&
      presence_lookup(q->app, ids, on_users, q) == 0) {
    json_decref(ids);
    return;
  }
  if (status != STORE_OK) log_warn("presence: snapshot for %s failed (%d)", q->user, status);
  json_decref(ids);
  snapshot_free(q);
}

/* Paced (see presence_pace): the session may have closed while it waited. */
static void snapshot_start(void *ctx) {
  snapshot_t *q = ctx;
  if (q->app->shutting_down || sessions_count(q->app, q->user) == 0 ||
      presence_contacts(q->app, q->user, PRESENCE_VIEW_MAX_USERS, on_contacts, q) != 0)
    snapshot_free(q);
}

void presence_snapshot(app_t *app, const char *user_id, uint64_t session) {
  snapshot_t *q = calloc(1, sizeof(*q));
  if (!q) return;
  q->app = app;
  snprintf(q->user, sizeof(q->user), "%s", user_id);
  q->session = session;
  presence_pace(app, snapshot_start, q);
}
