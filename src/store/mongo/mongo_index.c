/* The indexes of ARCHITECTURE.md's data model, created with createIndexes
 * (idempotent: existing identical indexes are left alone). Worker or start-up
 * thread; uses the context's client. */
#include "store/mongo/mongo_internal.h"

typedef struct {
  enum mongo_coll coll;
  const char *name;
  const char *keys; /* relaxed extended JSON */
  int unique;
  int sparse;
  const char *partial; /* partialFilterExpression, or NULL */
  const char *extra;   /* further options (relaxed extended JSON object), or NULL */
} index_spec_t;

static const index_spec_t specs[] = {
    {MC_USERS, "email_1", "{\"email\": 1}", 1, 1, NULL, NULL},
    {MC_USERS, "name_1__id_1", "{\"name\": 1, \"_id\": 1}", 0, 0, NULL, NULL},
    /* whether an attachment is someone's avatar (its release): not a scan of
     * every user and conversation */
    {MC_USERS, "avatar_id_1", "{\"avatar_id\": 1}", 0, 1, NULL, NULL},
    {MC_CONVS, "avatar_id_1", "{\"avatar_id\": 1}", 0, 1, NULL, NULL},
    {MC_REFRESH, "family_id_1", "{\"family_id\": 1}", 0, 0, NULL, NULL},
    {MC_REFRESH, "user_id_1", "{\"user_id\": 1}", 0, 0, NULL, NULL},
    {MC_CONVS, "pair_key_1", "{\"pair_key\": 1}", 1, 1, NULL, NULL},
    {MC_CONVS, "contact_id_1", "{\"contact_id\": 1}", 0, 1, NULL, NULL},
    {MC_CONVS, "participants.id_1_activity_-1",
     "{\"participants.id\": 1, \"activity\": -1, \"_id\": -1}", 0, 0, NULL, NULL},
    {MC_MSGS, "conversation_id_1_seq_1", "{\"conversation_id\": 1, \"seq\": 1}", 1, 0, NULL, NULL},
    {MC_MSGS, "conversation_id_1_sender_id_1_client_id_1",
     "{\"conversation_id\": 1, \"sender_id\": 1, \"client_id\": 1}", 1, 0,
     "{\"client_id\": {\"$type\": \"string\"}}", NULL},
    {MC_MSGS, "external_id_1", "{\"external_id\": 1}", 1, 1, NULL, NULL},
    /* a flow's message retried by another sender (MSG_INSERT's third $or
     * branch): without it that branch, and so the whole $or, scanned */
    {MC_MSGS, "conversation_id_1_client_id_1_flow", "{\"conversation_id\": 1, \"client_id\": 1}", 0,
     0, "{\"source\": \"flow\"}", NULL},
    {MC_MSGS, "status_1", "{\"status\": 1}", 0, 0, "{\"status\": \"pending\"}", NULL},
    /* MSG_SEARCH: language "none" indexes words as written (no stemming, no
     * stop words), folded for case and diacritics (text index version 3). */
    {MC_MSGS, "text_text", "{\"text\": \"text\"}", 0, 0, NULL,
     "{\"default_language\": \"none\", \"textIndexVersion\": 3}"},
    {MC_IG, "ig_user_id_1", "{\"ig_user_id\": 1}", 1, 0, NULL, NULL},
    {MC_IG, "user_id_1", "{\"user_id\": 1}", 1, 0, NULL, NULL},
    {MC_IG, "status_1_token_expires_at_1", "{\"status\": 1, \"token_expires_at\": 1}", 0, 0, NULL,
     NULL},
    {MC_CONTACTS, "owner_id_1_ig_user_id_1", "{\"owner_id\": 1, \"ig_user_id\": 1}", 1, 0, NULL,
     NULL},
    {MC_CONTACTS, "owner_id_1__id_1", "{\"owner_id\": 1, \"_id\": 1}", 0, 0, NULL, NULL},
    {MC_EVENTS, "mid_1", "{\"mid\": 1}", 1, 1, NULL, NULL},
    {MC_EVENTS, "processed_1_ord_1", "{\"processed\": 1, \"ord\": 1}", 0, 0, NULL, NULL},
    {MC_FLOWS, "owner_id_1_ord_1", "{\"owner_id\": 1, \"ord\": 1}", 0, 0, NULL, NULL},
    {MC_RUNS, "flow_id_1_ord_-1", "{\"flow_id\": 1, \"ord\": -1}", 0, 0, NULL, NULL},
    /* flow versions by flow (newest first, pruning), the runs that hold one,
     * counters by flow and version */
    {MC_FLOW_VERSIONS, "flow_id_1_n_-1", "{\"flow_id\": 1, \"n\": -1}", 1, 0, NULL, NULL},
    {MC_RUNS, "flow_id_1_status_1_version_1", "{\"flow_id\": 1, \"status\": 1, \"version\": 1}", 0,
     0, NULL, NULL},
    {MC_FLOW_STATS, "flow_id_1_version_1", "{\"flow_id\": 1, \"version\": 1}", 0, 0, NULL, NULL},
    /* run once: a flow's claims (_id "<flow id>:<contact id>"), deleted with it */
    {MC_FLOW_CLAIMS, "flow_id_1", "{\"flow_id\": 1}", 0, 0, NULL, NULL},
    /* the contacts that reached a node (_id "<flow>:<version>:<node>:<contact>"),
     * deleted with the flow or its version */
    {MC_FLOW_REACHED, "flow_id_1_version_1", "{\"flow_id\": 1, \"version\": 1}", 0, 0, NULL, NULL},
    /* "Continue with Instagram" states used (_id the state's key), swept by expiry */
    {MC_OAUTH_STATES, "expires_at_ms_1", "{\"expires_at_ms\": 1}", 0, 0, NULL, NULL},
    {MC_STEPS, "due_at_ms_1_ord_1", "{\"due_at_ms\": 1, \"ord\": 1}", 0, 0, NULL, NULL},
    {MC_REVOKED, "expires_at_ms_1", "{\"expires_at_ms\": 1}", 0, 0, NULL, NULL},
    {MC_STEPS, "held_for_1", "{\"held_for\": 1}", 0, 1, NULL, NULL},
    /* flows: an ask's wait by contact; a contact's runs of a flow */
    {MC_STEPS, "wait_for_1_ord_-1", "{\"wait_for\": 1, \"ord\": -1}", 0, 1, NULL, NULL},
    {MC_RUNS, "flow_id_1_contact_id_1_ord_-1", "{\"flow_id\": 1, \"contact_id\": 1, \"ord\": -1}",
     0, 0, NULL, NULL},
    {MC_AGENTS, "owner_id_1_user_id_1", "{\"owner_id\": 1, \"user_id\": 1}", 1, 0, NULL, NULL},
    {MC_AGENTS, "user_id_1", "{\"user_id\": 1}", 0, 0, NULL, NULL},
    {MC_ATTACH, "user_id_1", "{\"user_id\": 1}", 0, 0, NULL, NULL},
    {MC_ATTACH, "sent_1_created_at_1", "{\"sent\": 1, \"created_at\": 1}", 0, 0, NULL, NULL},
    {MC_ATTACH, "fetch_state_1_fetch_after_ms_1", "{\"fetch_state\": 1, \"fetch_after_ms\": 1}", 0,
     0, NULL, "{\"fetch_state\": \"pending\"}"},
    {MC_CONVS, "creator_id_1_type_1", "{\"creator_id\": 1, \"type\": 1}", 0, 0, NULL, NULL},
    /* an agent's inbox: the owners' instagram conversations by activity (the
     * $or's second branch), a page without sorting all of them */
    {MC_CONVS, "creator_id_1_type_1_activity_-1",
     "{\"creator_id\": 1, \"type\": 1, \"activity\": -1, \"_id\": -1}", 0, 0, NULL, NULL},
    {MC_CODES, "user_id_1_purpose_1", "{\"user_id\": 1, \"purpose\": 1}", 0, 0, NULL, NULL},
    {MC_LOGINS, "user_id_1_last_used_at_ms_-1", "{\"user_id\": 1, \"last_used_at_ms\": -1}", 0, 0,
     NULL, NULL},
    /* channels: invite tokens, the public directory, members by channel
     * (paged by user id, admins counted) and by user */
    {MC_CONVS, "invite_token_1", "{\"invite_token\": 1}", 1, 1, NULL, NULL},
    {MC_CONVS, "type_1_public_1__id_-1", "{\"type\": 1, \"public\": 1, \"_id\": -1}", 0, 0, NULL,
     NULL},
    {MC_CHANNEL_MEMBERS, "conversation_id_1_user_id_1", "{\"conversation_id\": 1, \"user_id\": 1}",
     1, 0, NULL, NULL},
    {MC_CHANNEL_MEMBERS, "conversation_id_1_role_1", "{\"conversation_id\": 1, \"role\": 1}", 0, 0,
     NULL, NULL},
    {MC_CHANNEL_MEMBERS, "user_id_1", "{\"user_id\": 1}", 0, 0, NULL, NULL},
    /* a channel's bots (marked bot: true), for its posts' deliveries */
    {MC_CHANNEL_MEMBERS, "conversation_id_1_bot_1", "{\"conversation_id\": 1, \"bot\": 1}", 0, 0,
     "{\"bot\": true}", NULL},
    /* the key directory: a user's devices; a device's prekeys, oldest first,
     * each key once */
    {MC_DEVICES, "user_id_1_ord_1", "{\"user_id\": 1, \"ord\": 1}", 0, 0, NULL, NULL},
    {MC_PREKEYS, "device_id_1_ord_1", "{\"device_id\": 1, \"ord\": 1}", 0, 0, NULL, NULL},
    {MC_PREKEYS, "device_id_1_key_1", "{\"device_id\": 1, \"key\": 1}", 1, 0, NULL, NULL},
    /* calls: the sweep of lost ones; the lines a call holds */
    {MC_CALLS, "state_1_lease_until_ms_1", "{\"state\": 1, \"lease_until_ms\": 1}", 0, 0, NULL,
     NULL},
    {MC_CALL_LINES, "call_id_1", "{\"call_id\": 1}", 0, 0, NULL, NULL},
    /* bots: by owner, by token hash (each once), those with deliveries
     * queued; a bot's deliveries, oldest first */
    {MC_BOTS, "owner_id_1_created_at_1", "{\"owner_id\": 1, \"created_at\": 1}", 0, 0, NULL, NULL},
    {MC_BOTS, "token_hash_1", "{\"token_hash\": 1}", 1, 0, NULL, NULL},
    {MC_BOTS, "status_1_queued_1", "{\"status\": 1, \"queued\": 1}", 0, 0, NULL, NULL},
    {MC_BOT_DELIVERIES, "bot_id_1_ord_1", "{\"bot_id\": 1, \"ord\": 1}", 0, 0, NULL, NULL},
    /* Web Push: an endpoint once; a user's subscriptions */
    {MC_PUSH_SUBS, "endpoint_1", "{\"endpoint\": 1}", 1, 0, NULL, NULL},
    {MC_PUSH_SUBS, "user_id_1", "{\"user_id\": 1}", 0, 0, NULL, NULL},
};

static int append_spec(bson_t *arr, int i, const index_spec_t *sp) {
  char key[24];
  snprintf(key, sizeof(key), "%d", i);
  bson_t doc, *keys = bson_new_from_json((const uint8_t *)sp->keys, -1, NULL);
  bson_t *partial = sp->partial ? bson_new_from_json((const uint8_t *)sp->partial, -1, NULL) : NULL;
  if (!keys || (sp->partial && !partial)) {
    bson_destroy(keys);
    bson_destroy(partial);
    return -1;
  }
  bson_append_document_begin(arr, key, -1, &doc);
  BSON_APPEND_DOCUMENT(&doc, "key", keys);
  BSON_APPEND_UTF8(&doc, "name", sp->name);
  if (sp->unique) BSON_APPEND_BOOL(&doc, "unique", true);
  if (sp->sparse) BSON_APPEND_BOOL(&doc, "sparse", true);
  if (partial) BSON_APPEND_DOCUMENT(&doc, "partialFilterExpression", partial);
  if (sp->extra) {
    bson_t *extra = bson_new_from_json((const uint8_t *)sp->extra, -1, NULL);
    if (extra) bson_concat(&doc, extra);
    bson_destroy(extra);
  }
  bson_append_document_end(arr, &doc);
  bson_destroy(keys);
  bson_destroy(partial);
  return 0;
}

static int create_for(mongo_ctx_t *c, enum mongo_coll coll) {
  bson_t cmd = BSON_INITIALIZER, arr;
  BSON_APPEND_UTF8(&cmd, "createIndexes", mongo_ctx_coll_name(coll));
  bson_append_array_begin(&cmd, "indexes", -1, &arr);
  int n = 0, rc = 0;
  for (size_t i = 0; i < sizeof(specs) / sizeof(specs[0]); i++)
    if (specs[i].coll == coll && append_spec(&arr, n++, &specs[i]) < 0) rc = -1;
  bson_append_array_end(&cmd, &arr);
  mongoc_database_t *db = mongoc_client_get_database(c->client, c->dbname);
  bson_error_t e;
  if (rc == 0 && !mongoc_database_write_command_with_opts(db, &cmd, NULL, NULL, &e)) {
    mongo_ctx_error(c, &e);
    rc = -1;
  }
  mongoc_database_destroy(db);
  bson_destroy(&cmd);
  return rc;
}

static int has_specs(enum mongo_coll coll) {
  for (size_t i = 0; i < sizeof(specs) / sizeof(specs[0]); i++)
    if (specs[i].coll == coll) return 1;
  return 0;
}

/* Every collection that has specs, so that a collection added later cannot be
 * left without its indexes (unique ones included) by a list kept by hand. */
int mongo_index_ensure(mongo_ctx_t *c) {
  for (int coll = 0; coll < MC_COUNT; coll++)
    if (has_specs((enum mongo_coll)coll) && create_for(c, (enum mongo_coll)coll) < 0) return -1;
  return 0;
}
