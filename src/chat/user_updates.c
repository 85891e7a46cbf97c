/* user_updates: the user.updated frame and its recipients (see
 * user_updates.h). The frame is made before the recipients are looked up, so
 * the store's answer only needs the app and the frame. Loop thread. */
#include "chat/user_updates.h"

#include <stdlib.h>
#include <string.h>

#include "chat/fanout.h"
#include "chat/presence_query.h"
#include "parley/store.h"

typedef struct announce_s {
  app_t *app;
  json_t *frame;
  char user[25];
} announce_t;

static void on_contacts(void *ctx, int status, json_t *ids) {
  announce_t *a = ctx;
  if (status == STORE_OK && !a->app->shutting_down &&
      json_array_append_new(ids, json_string(a->user)) == 0)
    fanout_event(a->app, a->frame, ids, NULL);
  json_decref(ids);
  json_decref(a->frame);
  free(a);
}

int user_updates_announce(app_t *app, const json_t *user) {
  const char *id = json_string_value(json_object_get(user, "id"));
  json_t *url = json_object_get(user, "avatar_url"), *name = json_object_get(user, "name");
  if (!id || strlen(id) >= sizeof(((announce_t *)0)->user)) return -1;
  announce_t *a = calloc(1, sizeof(*a));
  if (!a) return -1;
  a->app = app;
  memcpy(a->user, id, strlen(id) + 1);
  a->frame = json_pack("{s:s, s:{s:s, s:O, s:O}}", "type", "user.updated", "user", "id", id, "name",
                       name ? name : json_null(), "avatar_url", url ? url : json_null());
  if (!a->frame || presence_contacts(app, id, 0, on_contacts, a) != 0) {
    json_decref(a->frame);
    free(a);
    return -1;
  }
  return 0;
}
