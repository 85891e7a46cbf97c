/* Membership of group conversations: adding members (admins only) and removing
 * one (an admin, or the member leaving). Each change is one conditional update
 * on the participants array, so concurrent changes never duplicate a member.
 * Worker thread. */
#include <string.h>

#include "store/mongo/mongo_internal.h"

static int is_admin(const bson_t *doc, const char *user) {
  const char *role = mongo_conv_role(doc, user), *type = mongo_bson_str(doc, "type");
  return role && !strcmp(role, "admin") && type && !strcmp(type, "group");
}

static int push_member(mongo_ctx_t *c, const char *id, const char *user) {
  bson_t *filter =
      BCON_NEW("_id", BCON_UTF8(id), "participants.id", "{", "$ne", BCON_UTF8(user), "}");
  bson_t *update = BCON_NEW("$push", "{", "participants", "{", "id", BCON_UTF8(user), "role",
                            BCON_UTF8("member"), "last_read_seq", BCON_INT64(0), "}", "}");
  int rc = mongo_query_update(c, MC_CONVS, filter, update, 0);
  bson_destroy(filter);
  bson_destroy(update);
  return rc < 0 ? rc : 0;
}

static int reload(mongo_ctx_t *c, const char *id, json_t **out) {
  bson_t doc;
  int rc = mongo_conv_load(c, id, NULL, &doc);
  if (rc != STORE_OK) return rc;
  rc = mongo_conv_render(c, &doc, out);
  bson_destroy(&doc);
  return rc;
}

int mongo_conv_add_members(mongo_ctx_t *c, json_t *p, json_t **r) {
  const char *id = mongo_param_str(p, "id"), *user = mongo_param_str(p, "user_id");
  json_t *ids = json_object_get(p, "user_ids"), *v;
  size_t i;
  if (!id || !user || !json_is_array(ids)) return STORE_EINVAL;
  json_array_foreach(ids, i, v) if (!json_is_string(v)) return STORE_EINVAL;
  bson_t doc;
  int rc = mongo_conv_load(c, id, user, &doc);
  if (rc != STORE_OK) return rc;
  int admin = is_admin(&doc, user);
  bson_destroy(&doc);
  if (!admin) return STORE_EFORBIDDEN;
  if ((rc = mongo_conv_users_exist(c, ids)) <= 0) return rc == 0 ? STORE_EINVAL : rc;
  json_array_foreach(ids, i, v) if ((rc = push_member(c, id, json_string_value(v))) < 0) return rc;
  return reload(c, id, r);
}

int mongo_conv_remove_member(mongo_ctx_t *c, json_t *p, json_t **r) {
  const char *id = mongo_param_str(p, "id"), *user = mongo_param_str(p, "user_id");
  const char *member = mongo_param_str(p, "member_id");
  if (!id || !user || !member) return STORE_EINVAL;
  bson_t doc;
  int rc = mongo_conv_load(c, id, user, &doc);
  if (rc != STORE_OK) return rc;
  int known = mongo_conv_role(&doc, member) != NULL;
  int allowed = !strcmp(user, member) || is_admin(&doc, user);
  bson_destroy(&doc);
  if (!known) return STORE_ENOTFOUND;
  if (!allowed) return STORE_EFORBIDDEN;
  bson_t *filter = BCON_NEW("_id", BCON_UTF8(id));
  bson_t *update = BCON_NEW("$pull", "{", "participants", "{", "id", BCON_UTF8(member), "}", "}");
  rc = mongo_query_update(c, MC_CONVS, filter, update, 0);
  bson_destroy(filter);
  bson_destroy(update);
  if (rc < 0) return rc;
  json_t *cv;
  if ((rc = reload(c, id, &cv)) != STORE_OK) return rc;
  *r = json_pack("{s:o, s:s}", "conversation", cv, "removed_id", member);
  return STORE_OK;
}
