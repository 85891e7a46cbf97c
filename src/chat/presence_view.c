/* presence_view: presence's rules without I/O (see presence_view.h). Pure. */
#include "chat/presence_view.h"

#include <string.h>

static const char *const settable[] = {"online", "away", "dnd", "invisible"};

int presence_view_settable(const char *status) {
  for (size_t i = 0; status && i < sizeof(settable) / sizeof(settable[0]); i++)
    if (strcmp(status, settable[i]) == 0) return 1;
  return 0;
}

const char *presence_view_chosen(const json_t *user) {
  const char *s = json_string_value(json_object_get(user, "status"));
  for (size_t i = 0; s && i < sizeof(settable) / sizeof(settable[0]); i++)
    if (strcmp(s, settable[i]) == 0) return settable[i];
  return "online";
}

const char *presence_view_visible(const char *chosen, int alive) {
  if (!alive || !chosen || strcmp(chosen, "invisible") == 0) return "offline";
  for (size_t i = 0; i < sizeof(settable) / sizeof(settable[0]); i++)
    if (strcmp(chosen, settable[i]) == 0) return settable[i];
  return "online";
}

json_t *presence_view_entry(const json_t *user, int alive) {
  json_t *seen = json_object_get(user, "last_seen");
  return json_pack("{s:O?, s:s, s:O?}", "user_id", json_object_get(user, "id"), "status",
                   presence_view_visible(presence_view_chosen(user), alive), "last_seen",
                   json_is_string(seen) ? seen : NULL);
}

static int hex_id(const char *s, size_t len) {
  if (len != 24) return 0;
  for (size_t i = 0; i < len; i++)
    if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) return 0;
  return 1;
}

json_t *presence_view_parse_ids(const char *csv, const char **why) {
  json_t *ids = json_array(), *seen = json_object();
  if (!ids || !seen) goto oom;
  const char *p = csv ? csv : "";
  for (;;) {
    const char *end = strchr(p, ',');
    size_t len = end ? (size_t)(end - p) : strlen(p);
    char id[25];
    if (!hex_id(p, len)) {
      *why = "user_ids must be user ids (24 lowercase hex characters) separated by commas";
      goto fail;
    }
    memcpy(id, p, 24);
    id[24] = '\0';
    if (!json_object_get(seen, id)) {
      if (json_array_size(ids) == PRESENCE_VIEW_MAX_USERS) {
        *why = "user_ids may name at most 1000 users";
        goto fail;
      }
      if (json_object_set_new(seen, id, json_true()) != 0 ||
          json_array_append_new(ids, json_string(id)) != 0)
        goto oom;
    }
    if (!end) break;
    p = end + 1;
  }
  json_decref(seen);
  return ids;
oom:
  *why = "out of memory";
fail:
  json_decref(seen);
  json_decref(ids);
  return NULL;
}
