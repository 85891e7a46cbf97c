/* Who hears of a new message by push: the recipients with no session on this
 * instance whose subscriptions the store holds, then, of those, the users
 * that presence (across instances, through the bus) finds without a live
 * session, who have not chosen do-not-disturb and have not muted the
 * conversation (push/rules.h). One store read when no recipient is
 * subscribed, none when every recipient is connected here or known to have
 * no subscription (push_sub_absent: learned from these reads while the bus
 * is up, forgotten on every instance when one stores a subscription).
 * Loop thread. */
#include <stdlib.h>
#include <string.h>

#include "chat/presence_query.h"
#include "parley/absent.h"
#include "parley/bus.h"
#include "parley/log.h"
#include "parley/push.h"
#include "parley/store.h"
#include "parley/util.h"
#include "parley/ws.h"
#include "push/rules.h"
#include "push/sender.h"

typedef struct notify_s {
  app_t *app;
  json_t *msg;  /* the fields a push needs, copied */
  json_t *subs; /* the recipients' subscriptions */
  json_t *users;
  json_t *asked;       /* the user ids PUSH_SUB_LIST was asked for */
  uint64_t nosubs_gen; /* absent_gen when it was asked */
} notify_t;

static void notify_free(notify_t *n) {
  json_decref(n->msg);
  json_decref(n->subs);
  json_decref(n->users);
  json_decref(n->asked);
  free(n);
}

static void count_session(ws_session_t *s, void *arg) {
  (void)s;
  (*(int *)arg)++;
}

static int connected_here(app_t *app, const char *user) {
  int n = 0;
  if (app->hub) hub_foreach(app->hub, user, count_session, &n);
  return n > 0;
}

static const json_t *user_of(const json_t *users, const char *id) {
  size_t i;
  json_t *u;
  json_array_foreach(users, i, u) {
    const char *uid = json_string_value(json_object_get(u, "id"));
    if (uid && strcmp(uid, id) == 0) return u;
  }
  return NULL;
}

static int has_string(const json_t *arr, const char *s) {
  size_t i;
  json_t *v;
  json_array_foreach(arr, i, v) {
    if (json_is_string(v) && strcmp(json_string_value(v), s) == 0) return 1;
  }
  return 0;
}

static void on_conv(void *ctx, int status, json_t *conv) {
  notify_t *n = ctx;
  app_t *app = n->app;
  if (status == STORE_OK && app->push && !app->shutting_down) {
    const char *sender = json_string_value(json_object_get(n->msg, "sender_id"));
    const json_t *su = sender ? user_of(n->users, sender) : NULL;
    const char *sender_name = json_string_value(json_object_get(su, "name"));
    const char *conv_id = json_string_value(json_object_get(n->msg, "conversation_id"));
    int64_t now = util_now_ms();
    json_int_t seq = json_integer_value(json_object_get(n->msg, "seq"));
    int preview = push_preview_on(app->push);
    size_t i;
    json_t *sub;
    json_array_foreach(n->subs, i, sub) {
      const char *uid = json_string_value(json_object_get(sub, "user_id"));
      const json_t *u = uid ? user_of(n->users, uid) : NULL;
      if (!u || !push_wanted(u, conv, now)) continue;
      json_t *payload = push_payload(n->msg, conv, sender_name, uid,
                                     preview && !json_is_false(json_object_get(sub, "preview")));
      int urgent = json_is_true(json_object_get(payload, "mention"));
      push_enqueue(app->push, sub, payload, conv_id, seq, urgent);
    }
  }
  json_decref(conv);
  notify_free(n);
}

static void on_users(void *ctx, int status, json_t *users) {
  notify_t *n = ctx;
  app_t *app = n->app;
  n->users = users;
  if (status != STORE_OK || app->shutting_down ||
      store_call(app->store, CONV_GET,
                 json_pack("{s:O}", "id", json_object_get(n->msg, "conversation_id")), on_conv,
                 n) != 0)
    notify_free(n);
}

/* The users asked for who have no subscription are held as such, unless a
 * subscription was stored since the ask (its generation) or other instances'
 * may go unheard (the bus is down). */
static void learn_absent(notify_t *n, const json_t *subs) {
  app_t *app = n->app;
  if (!app->push || !bus_is_up(app->bus)) return;
  absent_t *a = push_sub_absent(app->push);
  int64_t now = (int64_t)uv_now(app->loop);
  size_t i, k;
  json_t *id, *sub;
  json_array_foreach(n->asked, i, id) {
    const char *uid = json_string_value(id);
    int found = 0;
    json_array_foreach(subs, k, sub) {
      const char *owner = json_string_value(json_object_get(sub, "user_id"));
      if (owner && uid && strcmp(owner, uid) == 0) {
        found = 1;
        break;
      }
    }
    if (!found) absent_learn(a, uid, n->nosubs_gen, now);
  }
}

static void on_subs(void *ctx, int status, json_t *result) {
  notify_t *n = ctx;
  app_t *app = n->app;
  json_t *subs = json_object_get(result, "subscriptions");
  if (status == STORE_OK && json_is_array(subs)) learn_absent(n, subs);
  if (status != STORE_OK || !json_array_size(subs) || app->shutting_down) goto done;
  n->subs = json_incref(subs);
  /* The subscribed users, and the sender for the name a push shows. */
  json_t *ids = json_array();
  const char *sender = json_string_value(json_object_get(n->msg, "sender_id"));
  if (sender) json_array_append_new(ids, json_string(sender));
  size_t i;
  json_t *sub;
  json_array_foreach(subs, i, sub) {
    const char *uid = json_string_value(json_object_get(sub, "user_id"));
    if (uid && !has_string(ids, uid)) json_array_append_new(ids, json_string(uid));
  }
  int rc = presence_lookup(app, ids, on_users, n);
  json_decref(ids);
  json_decref(result);
  if (rc != 0) notify_free(n);
  return;
done:
  json_decref(result);
  notify_free(n);
}

void push_message_new(app_t *app, const json_t *message, const json_t *participant_ids,
                      const unsigned char *here) {
  if (!app->push || !app->store || app->shutting_down) return;
  const char *sender = json_string_value(json_object_get(message, "sender_id"));
  absent_t *nosubs = push_sub_absent(app->push);
  int64_t now = (int64_t)uv_now(app->loop);
  json_t *ids = json_array();
  size_t i;
  json_t *v;
  size_t count = json_array_size(participant_ids);
  for (i = 0; i < count; i++) {
    /* Who the delivery found here first: in a busy group that is most of
     * them, and nothing else about them is read. */
    if (here && here[i]) continue;
    v = json_array_get(participant_ids, i);
    const char *id = json_string_value(v);
    if (!id || (sender && strcmp(id, sender) == 0) || absent_known(nosubs, id, now) ||
        (!here && connected_here(app, id)))
      continue;
    if (json_array_size(ids) >= PUSH_SUB_LIST_MAX) break;
    json_array_append(ids, v);
  }
  if (!json_array_size(ids)) {
    json_decref(ids);
    return;
  }
  notify_t *n = calloc(1, sizeof(*n));
  if (n) {
    static const char *const keys[] = {"id",   "conversation_id", "seq", "sender_id",
                                       "text", "mentions"};
    n->app = app;
    n->asked = json_incref(ids);
    n->nosubs_gen = absent_gen(nosubs);
    n->msg = json_object();
    for (size_t k = 0; n->msg && k < sizeof(keys) / sizeof(keys[0]); k++) {
      json_t *f = json_object_get(message, keys[k]);
      if (f) json_object_set(n->msg, keys[k], f);
    }
  }
  if (!n) {
    json_decref(ids);
    return;
  }
  if (!n->msg ||
      store_call(app->store, PUSH_SUB_LIST, json_pack("{s:o}", "user_ids", ids), on_subs, n) != 0)
    notify_free(n);
}
