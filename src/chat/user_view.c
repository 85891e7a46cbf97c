/* user_view: a store user as API.md shows it (see user_view.h). Pure. */
#include "chat/user_view.h"

#include "chat/presence_view.h"

static json_t *user_shape(const json_t *u, int with_email, const char *status) {
  json_t *out = json_object();
  static const char *const keys[] = {"id",         "email",     "name",
                                     "avatar_url", "last_seen", "created_at"};
  for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
    if (i == 1 && !with_email) continue;
    json_t *v = json_object_get(u, keys[i]);
    json_object_set_new(out, keys[i], v ? json_incref(v) : json_null());
  }
  json_object_set_new(out, "status", json_string(status));
  /* A bot says so (people's views carry no kind). */
  json_t *kind = json_object_get(u, "kind");
  if (json_is_string(kind)) json_object_set(out, "kind", kind);
  /* Only the user's own view says whether the address is verified. */
  if (with_email)
    json_object_set_new(out, "email_verified",
                        json_boolean(json_is_true(json_object_get(u, "email_verified"))));
  return out;
}

json_t *user_view_own(const json_t *user) {
  return user_shape(user, 1, presence_view_chosen(user));
}

json_t *user_view_public(const json_t *user) {
  int alive = json_is_true(json_object_get(user, "alive"));
  return user_shape(user, 0, presence_view_visible(presence_view_chosen(user), alive));
}
