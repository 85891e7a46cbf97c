/* What the files of the MongoDB backend share: the per-job context a worker
 * thread runs an operation with, collection names, BSON <-> JSON helpers and the
 * operation functions. Everything here runs on a libuv thread-pool thread and
 * touches only the job's own context, except the pool (thread-safe). */
#ifndef PARLEY_STORE_MONGO_INTERNAL_H
#define PARLEY_STORE_MONGO_INTERNAL_H

#include <mongoc/mongoc.h>

#include "store/store_internal.h"

enum mongo_coll {
  MC_USERS,
  MC_REFRESH,
  MC_CONVS,
  MC_MSGS,
  MC_IG,
  MC_CONTACTS,
  MC_EVENTS,
  MC_FLOWS,
  MC_RUNS,
  MC_STEPS,
  MC_REVOKED,
  MC_AGENTS,
  MC_LOGINS,
  MC_CODES,
  MC_CHANNEL_MEMBERS,
  MC_ATTACH,
  MC_DEVICES,
  MC_PREKEYS,
  MC_CALLS,
  MC_CALL_LINES,
  MC_FLOW_VERSIONS,
  MC_FLOW_STATS,
  MC_FLOW_CLAIMS,
  MC_FLOW_REACHED,
  MC_OAUTH_STATES,
  MC_BOTS,
  MC_BOT_DELIVERIES,
  MC_PUSH_SUBS,
  MC_KEY_CHECKS,
  MC_COUNT
};

/* One worker's view of the database for one job (or one batch of jobs). */
typedef struct mongo_ctx_s {
  mongoc_client_t *client; /* popped from the pool for this job */
  const char *dbname;
  const char *op; /* the op's name, for logs */
  mongoc_collection_t *colls[MC_COUNT];
  int down;                 /* set when an error said the server is unreachable */
  int auth_failed;          /* set when the server refused the URI's credentials */
  _Atomic long long *clock; /* the backend's order clock (mongo_ctx_order) */
} mongo_ctx_t;

/* An operation: reads params (borrowed), sets *result (new reference) on
 * STORE_OK, returns a store status. */
typedef int (*mongo_op_fn)(mongo_ctx_t *c, json_t *params, json_t **result);

/* mongo_ctx.c: collections and errors. */
const char *mongo_ctx_coll_name(enum mongo_coll which);
mongoc_collection_t *mongo_ctx_coll(mongo_ctx_t *c, enum mongo_coll which);
void mongo_ctx_release(mongo_ctx_t *c);
/* A sort key for "oldest first": strictly increasing within the process and
 * close to ms * 1024 across processes, so records created in one millisecond
 * (one batch of events) keep their order, which random ids would not. */
int64_t mongo_ctx_order(mongo_ctx_t *c);
/* Maps a libmongoc error to a store status (11000: ECONFLICT, the rest:
 * EUNAVAILABLE), logging what is not a conflict. */
int mongo_ctx_error(mongo_ctx_t *c, const bson_error_t *e);
int mongo_ctx_is_dup(const bson_error_t *e);

/* mongo_query.c: the few query shapes every op uses. Each returns 1 (found or
 * matched), 0 (none) or a negative store status. */
int mongo_query_one(mongo_ctx_t *c, enum mongo_coll coll, const bson_t *filter, const bson_t *opts,
                    bson_t *out);
/* Calls fn for every document; returns the count or a negative status. */
int mongo_query_each(mongo_ctx_t *c, enum mongo_coll coll, const bson_t *filter, const bson_t *opts,
                     void (*fn)(void *arg, const bson_t *doc), void *arg);
/* Appends map(doc) for every document to the array out; map returns a new
 * reference or NULL to skip. Returns the count or a negative status. */
int mongo_query_map(mongo_ctx_t *c, enum mongo_coll coll, const bson_t *filter, const bson_t *opts,
                    json_t *(*map)(mongo_ctx_t *c, const bson_t *doc), json_t *out);
/* The list operations' shape: maps every document into an array and answers
 * {key: array} in *r. Takes ownership of filter and opts (destroyed here).
 * Returns STORE_OK or a negative status. */
int mongo_query_list(mongo_ctx_t *c, enum mongo_coll coll, bson_t *filter, bson_t *opts,
                     json_t *(*map)(mongo_ctx_t *c, const bson_t *doc), const char *key,
                     json_t **r);
/* findAndModify; out (may be NULL) gets the document before or after (return_new). */
int mongo_query_modify(mongo_ctx_t *c, enum mongo_coll coll, const bson_t *query,
                       const bson_t *update, int upsert, int return_new, bson_t *out);
/* updateOne / updateMany (many); returns matched count or a negative status. */
int mongo_query_update(mongo_ctx_t *c, enum mongo_coll coll, const bson_t *filter,
                       const bson_t *update, int many);
int mongo_query_insert(mongo_ctx_t *c, enum mongo_coll coll, const bson_t *doc);
/* deleteOne; returns deleted count or a negative status. */
int mongo_query_delete(mongo_ctx_t *c, enum mongo_coll coll, const bson_t *filter, int many);

/* mongo_bson.c: conversions. Missing keys read as NULL / def. */
void mongo_bson_append_json(bson_t *b, const char *key, json_t *v);
json_t *mongo_bson_iter_json(const bson_iter_t *it);
const char *mongo_bson_str(const bson_t *doc, const char *key);
int64_t mongo_bson_int(const bson_t *doc, const char *key, int64_t def);
int mongo_bson_bool(const bson_t *doc, const char *key);
/* The value at key (dotted path allowed) as JSON; null when missing. */
json_t *mongo_bson_json(const bson_t *doc, const char *key);
/* A BSON date (or integer ms) at key as an ISO-8601 string; null when missing. */
json_t *mongo_bson_iso(const bson_t *doc, const char *key);
/* The JSON text stored in a string field, parsed; def (stolen) when missing. */
json_t *mongo_bson_parsed(const bson_t *doc, const char *key, json_t *def);
/* Appends a JSON value as its text (for user-shaped documents whose keys must
 * never become field names or operators). */
void mongo_bson_append_text(bson_t *b, const char *key, json_t *v);
/* Time from a JSON value: an ISO-8601 string or integer ms. -1 if neither. */
int64_t mongo_bson_time_param(json_t *v);

/* Parameter readers (jansson, borrowed). */
const char *mongo_param_str(json_t *params, const char *key);
int mongo_param_int(json_t *params, const char *key, int64_t *out);

/* mongo_index.c: creates the indexes. 0 or -1. */
int mongo_index_ensure(mongo_ctx_t *c);

/* The operations, one function per line of parley/store_ops.h, named after it:
 * mongo_user_create() for USER_CREATE, in the file of the name's first word
 * (mongo_user.c). Each reads params (borrowed), sets *result (a new reference) on
 * STORE_OK and returns a store status. */
#define STORE_OP(op, name, kind) int mongo_##name(mongo_ctx_t *c, json_t *params, json_t **result);
#include "parley/store_ops.h"
#undef STORE_OP

/* mongo.c: the function of op (never NULL for op < STORE_OP_COUNT). */
mongo_op_fn mongo_op(enum store_op op);

/* What the domain files share. mongo_user.c: the public shape of a user document. */
json_t *mongo_user_json(mongo_ctx_t *c, const bson_t *doc);

/* mongo_conv.c: loads a conversation into doc (initialised on STORE_OK); with
 * user_id, only when that user is a participant or an agent of an instagram
 * conversation's owner (else ENOTFOUND). */
int mongo_conv_load(mongo_ctx_t *c, const char *id, const char *user_id, bson_t *doc);
/* A conversation document as the contract's JSON (participant names looked up). */
int mongo_conv_render(mongo_ctx_t *c, const bson_t *doc, json_t **out);
/* mongo_contact.c: a contacts document as the store's contact. */
json_t *mongo_contact_json(mongo_ctx_t *c, const bson_t *doc);
/* 1 when every id (strings) is a user not deleted ("ig:" ids aside), 0 when
 * not, or a negative status. */
int mongo_conv_users_exist(mongo_ctx_t *c, json_t *ids);
/* Participant ids of a conversation document, as a JSON array. */
json_t *mongo_conv_participant_ids(const bson_t *doc);
/* The agents of an instagram conversation document's owner (an empty array for
 * other conversations), or NULL on failure. */
json_t *mongo_conv_agent_ids(mongo_ctx_t *c, const bson_t *doc);
/* Who hears of a change in the conversation: participants, then agents. */
json_t *mongo_conv_recipients(mongo_ctx_t *c, const bson_t *doc);
/* 1 when user_id is an agent of the owner of the instagram conversation doc, 0
 * when not, or a negative status. */
int mongo_conv_agent_of(mongo_ctx_t *c, const bson_t *doc, const char *user_id);
/* A participant's integer field in a conversation document, 0 when absent. */
int64_t mongo_conv_participant_int(const bson_t *doc, const char *user, const char *key);
/* Sets a participant's mention_count to the messages after seq `read` that
 * mention them. Returns a store status. */
int mongo_conv_recount_mentions(mongo_ctx_t *c, const char *id, const char *user, int64_t read);
/* The role of user_id in a conversation document, or NULL when not a member. */
const char *mongo_conv_role(const bson_t *doc, const char *user_id);
/* The same for any conversation, a channel's members read from
 * channel_members: 1 with *role (a static string), 0 not a member, or a
 * negative status. */
int mongo_conv_role_of(mongo_ctx_t *c, const bson_t *doc, const char *user_id, const char **role);
/* mongo_conv_render() for user: a channel carries user's "me" (user may be NULL). */
int mongo_conv_render_for(mongo_ctx_t *c, const bson_t *doc, const char *user, json_t **out);

/* mongo_channel.c: a channel's members ("channel_members"). */
int mongo_channel_is(const bson_t *doc); /* 1 when doc is a channel */
/* 1 with *role (static), 0 not a member, or a negative status. */
int mongo_channel_role(mongo_ctx_t *c, const char *cid, const char *user, const char **role);
/* {id, role, last_read_seq}, JSON null when not a member, NULL on failure. */
json_t *mongo_channel_me(mongo_ctx_t *c, const char *cid, const char *user);
/* Sets user's muted_until (an ISO string or JSON null); 1 done, 0 not a
 * member, or a status. */
int mongo_channel_mute(mongo_ctx_t *c, const char *cid, const char *user, json_t *until);
/* Moves user's read marker forward to seq (*now, may be NULL, gets the marker
 * after); 1 done, 0 not a member, or a status. */
int mongo_channel_mark(mongo_ctx_t *c, const char *cid, const char *user, int64_t seq,
                       int64_t *now);
/* Adds user with role within the limits (ECONFLICT beyond), counting it
 * unless new_channel (its document was made with member_count 1); *added
 * (may be NULL) 1 when new. */
int mongo_channel_add(mongo_ctx_t *c, const char *cid, const char *user, const char *role,
                      int *added, int new_channel);
/* The member leaves, counted; the last admin with others left: ECONFLICT. */
int mongo_channel_remove(mongo_ctx_t *c, const bson_t *conv, const char *user, int is_admin);
/* Marks user's membership of cid as a bot's (bot: true) when user is a bot,
 * so the channel's posts find their bots; STORE_OK or a status. */
int mongo_channel_mark_bot(mongo_ctx_t *c, const char *cid, const char *user);
/* mongo_conv.c: user (a bot being deleted) leaves every conversation and
 * channel it is in; each conversation but channels, rendered after, is
 * appended to convs. STORE_OK or a status. */
int mongo_conv_leave_all(mongo_ctx_t *c, const char *user, json_t *convs);
/* The user's channel ids (at most CHANNELS_PER_USER_MAX), NULL on failure. */
json_t *mongo_channel_ids(mongo_ctx_t *c, const char *user);
/* Appends up to limit + 1 members {id, name: null, role} of cid after the
 * user id cursor (NULL: from the first) to out; 0 or a status. */
int mongo_channel_members_page(mongo_ctx_t *c, const char *cid, const char *cursor, int64_t limit,
                               json_t *out);

/* mongo_login.c: the logins of a new family (LOGINS_MAX live per user; the
 * least recently used past it end, named in the array ended); revoking the
 * families named in ended and ending their logins. */
int mongo_login_record(mongo_ctx_t *c, json_t *params, json_t *ended);
int mongo_login_end_families(mongo_ctx_t *c, json_t *ended);

/* mongo_flow.c: a flow document as the store's flow; the graph part of a flow
 * ({trigger, nodes, edges, start}, a new reference); the flow with def's graph
 * keys in place of its own. mongo_flow_version.c: publishes the draft (status
 * active, a new version unless the graph is the live one, older versions
 * pruned) and answers the flow. */
json_t *mongo_flow_json(mongo_ctx_t *c, const bson_t *doc);
json_t *mongo_flow_def(const json_t *flow);
void mongo_flow_overlay(json_t *flow, const json_t *def);
int mongo_flow_publish(mongo_ctx_t *c, const char *id, const char *owner, json_t **r);

/* mongo_msg.c: a message document as the contract's JSON. */
json_t *mongo_msg_json(mongo_ctx_t *c, const bson_t *doc);
/* mongo_attach.c: the attachments of ids (strings) that user_id uploaded, as a
 * message carries them, into *out (a new array); STORE_ENOTFOUND when one is
 * unknown or another user's. */
int mongo_attach_resolve(mongo_ctx_t *c, const char *user_id, json_t *ids, json_t **out);
/* A deleted message's attachments (its copies, borrowed) are used by one
 * message less; each no message and no avatar uses any more is removed, its
 * storage keys (the file's, a thumbnail's) appended to removed. */
int mongo_attach_release(mongo_ctx_t *c, json_t *attachments, json_t *removed);

/* mongo_msg_insert.c: runs a batch of MSG_INSERT jobs (one loop turn's worth, in
 * order): sets each job's status and result. */
void mongo_msg_insert_batch(mongo_ctx_t *c, store_job_t **jobs, int n);

#endif
