/* takeover: pauses a contact's automation after a person's reply (see
 * takeover.h): CONTACT_PAUSE by conversation, then the conversation reloaded and
 * announced so that every open inbox shows the pause. Loop thread. */
#include "instagram/takeover.h"

#include <stdlib.h>
#include <string.h>

#include "chat/fanout.h"
#include "parley/log.h"
#include "parley/store.h"
#include "parley/util.h"

int64_t ig_takeover_until_ms(const app_t *app) {
  return util_now_ms() + (int64_t)app->cfg.automation_pause_seconds * 1000;
}

static void reloaded(void *ctx, int status, json_t *result) {
  app_t *app = ctx;
  if (status == STORE_OK) fanout_conversation(app, result, NULL);
  json_decref(result);
}

void ig_takeover_announce(app_t *app, const json_t *conversation_ids) {
  const json_t *id;
  size_t i;
  json_array_foreach(conversation_ids, i, id) {
    if (!json_is_string(id) || !app->store || app->shutting_down) continue;
    if (store_call(app->store, CONV_GET, json_pack("{s:O}", "id", id), reloaded, app) != 0)
      log_warn("takeover: cannot announce the pause in conversation %s", json_string_value(id));
  }
}

/* One pause on its way: the app and the conversation it is about. */
typedef struct pause_s {
  app_t *app;
  char conv[];
} pause_t;

static void paused(void *ctx, int status, json_t *result) {
  pause_t *p = ctx;
  app_t *app = p->app;
  const char *id = p->conv;
  json_decref(result);
  if (status != STORE_OK && status != STORE_ENOTFOUND)
    log_warn("takeover: cannot pause the contact of conversation %s (%d)", id, status);
  else if (status == STORE_OK && app->store && !app->shutting_down)
    store_call(app->store, CONV_GET, json_pack("{s:s}", "id", id), reloaded, app);
  free(p);
}

void ig_takeover_on_reply(app_t *app, const json_t *message) {
  const char *conv = json_string_value(json_object_get(message, "conversation_id"));
  if (!conv || !app->store) return;
  size_t len = strlen(conv);
  pause_t *p = malloc(sizeof(*p) + len + 1);
  if (!p) return;
  p->app = app;
  memcpy(p->conv, conv, len + 1);
  if (store_call(app->store, CONTACT_PAUSE,
                 json_pack("{s:s, s:I}", "conversation_id", conv, "until_ms",
                           (json_int_t)ig_takeover_until_ms(app)),
                 paused, p) != 0) {
    log_warn("takeover: the store refused to pause the contact of conversation %s", conv);
    free(p);
  }
}
