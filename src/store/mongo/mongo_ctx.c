/* A worker's context for one job: the collections it opened and what errors
 * mean. Runs on a thread-pool thread; owns nothing beyond the job. */
#include <stdatomic.h>

#include "parley/log.h"
#include "parley/util.h"
#include "store/mongo/mongo_internal.h"

static const char *const coll_names[MC_COUNT] = {
    [MC_USERS] = "users",
    [MC_REFRESH] = "refresh_tokens",
    [MC_CONVS] = "conversations",
    [MC_MSGS] = "messages",
    [MC_IG] = "instagram_accounts",
    [MC_CONTACTS] = "contacts",
    [MC_EVENTS] = "webhook_events",
    [MC_FLOWS] = "flows",
    [MC_RUNS] = "flow_runs",
    [MC_FLOW_VERSIONS] = "flow_versions",
    [MC_FLOW_STATS] = "flow_stats",
    [MC_FLOW_CLAIMS] = "flow_claims",
    [MC_FLOW_REACHED] = "flow_reached",
    [MC_OAUTH_STATES] = "oauth_states",
    [MC_STEPS] = "scheduled_steps",
    [MC_REVOKED] = "revocations",
    [MC_AGENTS] = "ig_agents",
    [MC_LOGINS] = "logins",
    [MC_CODES] = "email_codes",
    [MC_CHANNEL_MEMBERS] = "channel_members",
    [MC_ATTACH] = "attachments",
    [MC_DEVICES] = "devices",
    [MC_PREKEYS] = "device_prekeys",
    [MC_CALLS] = "calls",
    [MC_CALL_LINES] = "call_lines",
    [MC_BOTS] = "bots",
    [MC_BOT_DELIVERIES] = "bot_deliveries",
    [MC_PUSH_SUBS] = "push_subscriptions",
    [MC_KEY_CHECKS] = "key_checks",
};

const char *mongo_ctx_coll_name(enum mongo_coll which) { return coll_names[which]; }

mongoc_collection_t *mongo_ctx_coll(mongo_ctx_t *c, enum mongo_coll which) {
  if (!c->colls[which])
    c->colls[which] = mongoc_client_get_collection(c->client, c->dbname, coll_names[which]);
  return c->colls[which];
}

void mongo_ctx_release(mongo_ctx_t *c) {
  for (int i = 0; i < MC_COUNT; i++) {
    if (c->colls[i]) mongoc_collection_destroy(c->colls[i]);
    c->colls[i] = NULL;
  }
}

int64_t mongo_ctx_order(mongo_ctx_t *c) {
  long long now = (long long)util_now_ms() * 1024;
  long long last = atomic_load(c->clock), next;
  do {
    next = now > last ? now : last + 1;
  } while (!atomic_compare_exchange_weak(c->clock, &last, next));
  return next;
}

int mongo_ctx_is_dup(const bson_error_t *e) {
  return e->code == 11000 && e->domain != MONGOC_ERROR_STREAM &&
         e->domain != MONGOC_ERROR_SERVER_SELECTION;
}

/* Anything but a duplicate key is reported as the backend being unavailable:
 * the callers' parameters are validated before they reach MongoDB, so what is
 * left is the server or the network. Unreachability is remembered so the
 * backend can fail fast until a probe succeeds. */
int mongo_ctx_error(mongo_ctx_t *c, const bson_error_t *e) {
  if (mongo_ctx_is_dup(e)) return STORE_ECONFLICT;
  if (e->domain == MONGOC_ERROR_CLIENT && e->code == MONGOC_ERROR_CLIENT_AUTHENTICATE) {
    c->auth_failed = c->down = 1; /* logged once by the backend, not per operation */
    return STORE_EUNAVAILABLE;
  }
  if (e->domain == MONGOC_ERROR_SERVER_SELECTION || e->domain == MONGOC_ERROR_STREAM ||
      e->domain == MONGOC_ERROR_PROTOCOL || e->domain == MONGOC_ERROR_CLIENT)
    c->down = 1;
  log_warn("store mongo: %s failed: %s (domain %u, code %u)", c->op ? c->op : "?", e->message,
           (unsigned)e->domain, (unsigned)e->code);
  return STORE_EUNAVAILABLE;
}
