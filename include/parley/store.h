/* The store: every persistent operation of API.md, asynchronous. Two backends
 * behind one interface: SQLite (embedded default, src/store/sqlite/) and MongoDB
 * (src/store/mongo/). Handlers see only this header.
 *
 * An operation is an op code with its parameters as a JSON object; its result is
 * a JSON value. store_call() is called on the loop thread; the work runs off the
 * loop (a store thread for SQLite, libuv's thread pool for MongoDB); the callback
 * runs on the loop thread exactly once, unless store_call() refused the job.
 * Worker code touches only the job's own parameters and result.
 *
 * Records use API.md's shapes: ids are opaque strings (24 hex), timestamps are
 * ISO-8601 strings with milliseconds. Every backend returns the same JSON for the
 * same calls; the contract suite in tests/unit/store/ checks both. */
#ifndef PARLEY_STORE_H
#define PARLEY_STORE_H

#include <jansson.h>
#include <uv.h>

typedef struct store_s store_t;

/* Status codes (0 is success). */
enum store_status {
  STORE_OK = 0,
  STORE_ENOTFOUND = -1,    /* no such record, or not visible to the caller */
  STORE_ECONFLICT = -2,    /* a uniqueness rule (email taken, IG account taken) */
  STORE_EFORBIDDEN = -3,   /* visible, but the caller may not do this */
  STORE_EINVAL = -4,       /* parameters the operation cannot use */
  STORE_EUNAVAILABLE = -5, /* the backend is down or timed out */
  STORE_EBUSY = -6,        /* too many jobs in flight (store_call refuses) */
  STORE_EREVOKED = -7,     /* a refresh token presented again: its family is revoked */
  STORE_ECLOSED = -8,      /* the store is shutting down */
};

/* Completion on the loop thread. `result` is a new reference owned by the
 * callback (json_decref it), NULL when status != STORE_OK. */
typedef void (*store_cb)(void *ctx, int status, json_t *result);

/* Operations. Parameters and results; "?" marks optional keys. */
enum store_op {
  STORE_PING, /* {} -> {} ; readiness */

  /* users: user = {id, email, name, avatar_url, status, created_at}; deleted
   * users also carry "deleted": true. password_hash is returned only by
   * USER_GET_BY_EMAIL. */
  USER_CREATE,       /* {email, name, password_hash} -> user | ECONFLICT */
  USER_GET_BY_EMAIL, /* {email} -> user + {password_hash} | ENOTFOUND (deleted: ENOTFOUND) */
  USER_GET,          /* {id} -> user | ENOTFOUND */
  USER_SEARCH,       /* {q, limit} -> {users: [user]}: case-insensitive name prefix or exact
                        email, not deleted, ordered by name then id */
  USER_UPDATE,       /* {id, name?, avatar_url? (string|null), status?} -> user */
  USER_DELETE,       /* {id} -> {}: anonymised (name "Deleted user", email freed, avatar null,
                        status "offline", deleted true, password cleared), every refresh token
                        revoked; messages kept */

  /* refresh tokens: only hashes are stored (hex SHA-256 of the token). */
  REFRESH_CREATE,      /* {token_hash, user_id, family_id, expires_at_ms} -> {} */
  REFRESH_ROTATE,      /* {token_hash, new_token_hash, new_expires_at_ms, now_ms} ->
                          {user_id, family_id}. Unknown, expired or revoked: ENOTFOUND. Already
                          rotated (reuse): the whole family is revoked, EREVOKED. */
  REFRESH_REVOKE,      /* {token_hash} -> {}: revokes that token's family (logout) */
  REFRESH_REVOKE_USER, /* {user_id} -> {} */

  /* conversations: conversation = {id, type, name, participants: [{id, name, role,
   * last_read_seq}], last_seq, last_message (message|null), created_at, updated_at,
   * contact_id?}. updated_at moves with every message. */
  CONV_CREATE,        /* {type: "direct"|"group"|"instagram", name|null, creator_id,
                         participant_ids (creator included), contact_id?} ->
                         {conversation, created: bool}. direct: one per pair (returns the existing
                         one, created false); instagram: one per (creator_id, contact_id).
                         Unknown participant: EINVAL. The creator is admin of a group. */
  CONV_GET,           /* {id, user_id?} -> conversation; user_id given and not a participant:
                         ENOTFOUND */
  CONV_LIST,          /* {user_id, limit, cursor?, type?} -> {conversations, next_cursor|null}
                         most recent activity (updated_at) first; cursor opaque */
  CONV_RENAME,        /* {id, user_id, name} -> conversation; not admin of a group: EFORBIDDEN */
  CONV_ADD_MEMBERS,   /* {id, user_id, user_ids} -> conversation; group admins only;
                         unknown user: EINVAL; existing members unchanged */
  CONV_REMOVE_MEMBER, /* {id, user_id, member_id} -> {conversation, removed_id}: an admin, or
                         the member leaving; not a member: ENOTFOUND */
  CONV_MARK_READ,     /* {id, user_id, seq} -> {last_read_seq}: never backwards, at most
                         last_seq */

  /* messages: message = {id, conversation_id, seq, sender_id, text|null, client_id|null,
   * source, created_at, edited_at|null, deleted, reactions: [{emoji, user_ids}],
   * attachments: [{type, url}], external_id?}. Results that change a message carry
   * the conversation's participant ids for fan-out. */
  MSG_INSERT, /* {conversation_id, sender_id, text|null, client_id?, source,
                 attachments?, external_id?, check_member?: bool} ->
                 {message, created: bool, participant_ids}. seq is last_seq + 1 in the
                 same transaction; (conversation_id, sender_id, client_id) seen before:
                 the original, created false; external_id (Instagram mid) seen before:
                 the original, created false. check_member and the sender is not a
                 participant: ENOTFOUND. The sender's read marker moves to the new seq. */
  MSG_LIST,   /* {conversation_id, user_id, limit, before_seq?, after_seq?} ->
                 {messages (ascending seq), has_more}; not a participant: ENOTFOUND.
                 No cursor: newest `limit`; before_seq: newest below it; after_seq:
                 oldest above it. */
  MSG_GET,    /* {id? | external_id?} -> {message, participant_ids} */
  MSG_EDIT,   /* {id, user_id, text} -> {message, participant_ids}; not the sender:
                 EFORBIDDEN; deleted: EFORBIDDEN */
  MSG_DELETE, /* {id, user_id} -> {message, participant_ids}; sender or group admin */
  MSG_REACT,  /* {id, user_id, emoji, add: bool, check_member?: bool} -> {message,
                 participant_ids}; check_member false lets a non-participant (an
                 Instagram contact "ig:<id>") react */

  /* Instagram accounts: account = {id, user_id, ig_user_id, username, connected_at};
   * token_cipher (base64) is returned only when {with_token: true}. */
  IG_ACCOUNT_UPSERT, /* {user_id, ig_user_id, username|null, token_cipher} -> account;
                        ig_user_id connected by another user: ECONFLICT */
  IG_ACCOUNT_GET,    /* {user_id | ig_user_id, with_token?} -> account | ENOTFOUND */
  IG_ACCOUNT_DELETE, /* {user_id} -> {} | ENOTFOUND */

  /* contacts: contact = {id, owner_id, ig_user_id, username, tags: [..], variables: {..},
   * last_inbound_at|null} */
  CONTACT_UPSERT, /* {owner_id, ig_user_id, username?, last_inbound_at?} -> contact */
  CONTACT_GET,    /* {id, owner_id} | {owner_id, ig_user_id} -> contact */
  CONTACT_LIST,   /* {owner_id} -> {contacts} */
  CONTACT_UPDATE, /* {id, owner_id, add_tags?: [..], set_variables?: {..}} -> contact */

  /* webhook events: event = {id, mid|null, payload (object), processed, created_at} */
  EVENT_INSERT,         /* {events: [{mid|null, payload}]} -> {inserted: [ids], duplicates: n};
                           a mid seen before is skipped */
  EVENT_LIST_PENDING,   /* {limit} -> {events} oldest first */
  EVENT_MARK_PROCESSED, /* {id} -> {} */

  /* flows: flow = {id, owner_id, name, status, trigger, nodes, edges, start, created_at,
   * updated_at} */
  FLOW_CREATE,   /* {owner_id, flow} -> flow */
  FLOW_GET,      /* {id, owner_id} | {name, owner_id} -> flow */
  FLOW_LIST,     /* {owner_id, status?} -> {flows} oldest first */
  FLOW_UPDATE,   /* {id, owner_id, flow} -> flow */
  FLOW_DELETE,   /* {id, owner_id} -> {} */
  FLOW_RUN_SAVE, /* {run} -> run: insert when run.id is absent, else replace.
                    run = {id, flow_id, owner_id, contact_id, status, trace, state, created_at,
                    updated_at} */
  FLOW_RUN_LIST, /* {flow_id, owner_id, limit} -> {runs} newest first */
  FLOW_RUN_GET,  /* {id} -> run */

  /* scheduled steps (flow delays): step = {id, run_id, due_at_ms} */
  SCHED_INSERT, /* {run_id, due_at_ms} -> step */
  SCHED_DUE,    /* {now_ms, limit} -> {steps} due, oldest first */
  SCHED_DELETE, /* {id} -> {} */

  STORE_OP_COUNT
};

/* Opens the backend chosen by the configuration (mongo_uri set: MongoDB, else
 * SQLite under data_dir), creates its schema or indexes, and returns it, or NULL
 * after logging why. max_jobs caps jobs in flight. Loop thread. */
store_t *store_open_sqlite(uv_loop_t *loop, const char *path, int max_jobs);
store_t *store_open_mongo(uv_loop_t *loop, const char *uri, int max_jobs, int timeout_ms);

/* Submits an operation; takes ownership of params. Returns 0 (cb will run once),
 * or STORE_EBUSY / STORE_ECLOSED / STORE_EINVAL without calling cb. */
int store_call(store_t *s, enum store_op op, json_t *params, store_cb cb, void *ctx);

/* Jobs accepted and not yet completed. */
int store_jobs_in_flight(const store_t *s);
/* "sqlite" or "mongo". */
const char *store_backend(const store_t *s);
/* 1 while the last operation reached the backend, 0 after it failed to. */
int store_healthy(const store_t *s);

/* Stops accepting jobs, lets those in flight complete (their callbacks run), then
 * releases everything and calls done (which may be NULL) on the loop thread.
 * The loop must keep running until then. */
void store_close(store_t *s, void (*done)(void *arg), void *arg);

/* The op's name, for logs and metrics. */
const char *store_op_name(enum store_op op);

#endif
