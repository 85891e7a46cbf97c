/* The team inbox in "ig_agents": {owner_id, user_id, added_at, ord}, unique per
 * (owner_id, user_id). An agent sees and answers the owner's instagram
 * conversations (mongo_conv.c reads this collection for that). Worker thread. */
#include <string.h>

#include "parley/util.h"
#include "store/mongo/mongo_internal.h"

#define AGENTS_MAX 50

static json_t *agent_json(mongo_ctx_t *c, const bson_t *doc) {
  return json_pack("{s:o, s:n, s:o}", "id", mongo_bson_json(doc, "user_id"), "name", "added_at",
                   mongo_bson_iso(doc, "added_at"));
}

/* Fills in each agent's name from "users". */
static int names(mongo_ctx_t *c, json_t *agents) {
  size_t i;
  json_t *a;
  json_array_foreach(agents, i, a) {
    bson_t *filter = BCON_NEW("_id", BCON_UTF8(json_string_value(json_object_get(a, "id"))));
    bson_t doc;
    int rc = mongo_query_one(c, MC_USERS, filter, NULL, &doc);
    bson_destroy(filter);
    if (rc < 0) return rc;
    if (rc == 1) {
      json_object_set_new(a, "name", mongo_bson_json(&doc, "name"));
      bson_destroy(&doc);
    }
  }
  return 0;
}

static int find_agent(mongo_ctx_t *c, const char *owner, const char *user, json_t **agent) {
  bson_t *filter = BCON_NEW("owner_id", BCON_UTF8(owner), "user_id", BCON_UTF8(user));
  bson_t doc;
  int rc = mongo_query_one(c, MC_AGENTS, filter, NULL, &doc);
  bson_destroy(filter);
  if (rc != 1) return rc;
  json_t *one = json_array();
  json_array_append_new(one, agent_json(c, &doc));
  bson_destroy(&doc);
  rc = names(c, one);
  if (rc == 0) *agent = json_incref(json_array_get(one, 0));
  json_decref(one);
  return rc < 0 ? rc : 1;
}

static int count_agents(mongo_ctx_t *c, const char *owner, int64_t *n) {
  bson_t *filter = BCON_NEW("owner_id", BCON_UTF8(owner));
  bson_error_t e;
  int64_t got =
      mongoc_collection_count_documents(mongo_ctx_coll(c, MC_AGENTS), filter, NULL, NULL, NULL, &e);
  bson_destroy(filter);
  if (got < 0) return mongo_ctx_error(c, &e);
  *n = got;
  return 0;
}

int mongo_agent_add(mongo_ctx_t *c, json_t *p, json_t **r) {
  const char *owner = mongo_param_str(p, "owner_id"), *user = mongo_param_str(p, "user_id");
  json_t *agent = NULL;
  if (!owner || !user || !strcmp(owner, user)) return STORE_EINVAL;
  int rc = find_agent(c, owner, user, &agent);
  if (rc < 0) return rc;
  if (rc == 1) {
    *r = json_pack("{s:o, s:b}", "agent", agent, "created", 0);
    return STORE_OK;
  }
  json_t *ids = json_pack("[s]", user);
  rc = strncmp(user, "ig:", 3) ? mongo_conv_users_exist(c, ids) : 0;
  json_decref(ids);
  if (rc <= 0) return rc == 0 ? STORE_EINVAL : rc;
  int64_t n = 0;
  if ((rc = count_agents(c, owner, &n)) < 0) return rc;
  if (n >= AGENTS_MAX) return STORE_EFORBIDDEN;
  char id[64];
  snprintf(id, sizeof(id), "%s:%s", owner, user);
  bson_t *doc =
      BCON_NEW("_id", BCON_UTF8(id), "owner_id", BCON_UTF8(owner), "user_id", BCON_UTF8(user),
               "added_at", BCON_DATE_TIME(util_now_ms()), "ord", BCON_INT64(mongo_ctx_order(c)));
  rc = mongo_query_insert(c, MC_AGENTS, doc);
  bson_destroy(doc);
  int created = rc == 1;
  if (rc < 0 && rc != STORE_ECONFLICT) return rc; /* a concurrent add of the same agent won */
  rc = find_agent(c, owner, user, &agent);
  if (rc <= 0) return rc == 0 ? STORE_EUNAVAILABLE : rc;
  *r = json_pack("{s:o, s:b}", "agent", agent, "created", created);
  return STORE_OK;
}

/* The agent's read markers go with it; an assignment to it is cleared. */
int mongo_agent_remove(mongo_ctx_t *c, json_t *p, json_t **r) {
  const char *owner = mongo_param_str(p, "owner_id"), *user = mongo_param_str(p, "user_id");
  if (!owner || !user) return STORE_EINVAL;
  bson_t *filter = BCON_NEW("owner_id", BCON_UTF8(owner), "user_id", BCON_UTF8(user));
  int rc = mongo_query_delete(c, MC_AGENTS, filter, 0);
  bson_destroy(filter);
  if (rc <= 0) return rc == 0 ? STORE_ENOTFOUND : rc;
  char field[96];
  snprintf(field, sizeof(field), "agent_reads.%s", user);
  bson_t *convs = BCON_NEW("creator_id", BCON_UTF8(owner), "type", BCON_UTF8("instagram"));
  bson_t *unset = BCON_NEW("$unset", "{", field, BCON_UTF8(""), "}");
  rc = mongo_query_update(c, MC_CONVS, convs, unset, 1);
  bson_destroy(unset);
  bson_destroy(convs);
  if (rc >= 0) {
    bson_t *mine = BCON_NEW("creator_id", BCON_UTF8(owner), "type", BCON_UTF8("instagram"),
                            "assignee_id", BCON_UTF8(user));
    bson_t *clear = BCON_NEW("$set", "{", "assignee_id", BCON_NULL, "}");
    rc = mongo_query_update(c, MC_CONVS, mine, clear, 1);
    bson_destroy(clear);
    bson_destroy(mine);
  }
  if (rc < 0) return rc;
  *r = json_object();
  return STORE_OK;
}

int mongo_agent_list(mongo_ctx_t *c, json_t *p, json_t **r) {
  const char *owner = mongo_param_str(p, "owner_id");
  if (!owner) return STORE_EINVAL;
  bson_t *filter = BCON_NEW("owner_id", BCON_UTF8(owner));
  bson_t *opts = BCON_NEW("sort", "{", "ord", BCON_INT32(1), "}");
  int rc = mongo_query_list(c, MC_AGENTS, filter, opts, agent_json, "agents", r);
  if (rc == STORE_OK && (rc = names(c, json_object_get(*r, "agents"))) < 0) {
    json_decref(*r);
    *r = NULL;
  }
  return rc;
}
