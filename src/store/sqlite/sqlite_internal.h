/* What the files of the SQLite backend share: the connection with its cache of
 * prepared statements, binding and row helpers, and the operation functions.
 * Everything here runs on the store thread, except sqlite_schema_migrate() and
 * sqlite_db_open() which run once at start-up before the thread exists, and
 * sqlite_msg_insert_result() which runs on the loop thread. */
#ifndef PARLEY_STORE_SQLITE_INTERNAL_H
#define PARLEY_STORE_SQLITE_INTERNAL_H

#include <sqlite3.h>
#include <stdint.h>

#include "parley/strmap.h"
#include "store/store_internal.h"

#define SQLITE_DB_CACHE 512 /* power of two, above the number of distinct statements */

/* What a new message's result needs beyond its params. The store thread fills it
 * and the loop thread builds the result JSON from it (sqlite_msg_insert_result): the
 * store thread then allocates nothing per insert, and the loop frees what it
 * allocated. seq 0: the job left no insert here. */
typedef struct sqlite_insert_s {
  int64_t seq;
  char id[25];
  char created_at[25];
  json_t *members;     /* participant ids at the insert; a shared, never modified reference */
  int event_processed; /* the params' event_id was marked processed with the insert */
} sqlite_insert_t;

/* One connection, owned by one thread at a time. */
typedef struct sqlite_db_s {
  sqlite3 *db;
  struct {
    const char *sql; /* the statement's text; a string literal, so its address is the key */
    sqlite3_stmt *stmt;
    int clean; /* reset and unbound by sqlite_db_exec since it was last handed out */
  } cache[SQLITE_DB_CACHE];
  /* Set by an op whose failure status must still commit what it wrote (a refresh
   * token reuse revokes the family and answers EREVOKED). */
  int keep_on_error;
  /* Conversation counters that MSG_INSERT advanced in the current transaction and
   * not yet written back (sqlite_msg_insert.c); NULL when none. */
  struct sqlite_msg_insert_pending *pending;
  /* The table of the last transaction, cleared, kept for the next one (owned). */
  struct sqlite_msg_insert_pending *pending_spare;
  /* Where MSG_INSERT leaves a new message for the loop thread; NULL: it builds
   * the result itself. Set by the store thread around each job. */
  sqlite_insert_t *insert;
  /* CONV_LIST's row writer and its argument for the current job (NULL: the
   * tree); set by the store thread around each job. */
  const store_conv_rows_t *rows;
  void *rows_arg;
  /* Messages stored since the search index last caught up (sqlite_msg_index.c):
   * a hint for when to index, never trusted for what is indexed. */
  int64_t unindexed;
  /* Contacts as CONTACT_UPSERT last read them or CONTACT_UPDATE last wrote
   * them, by owner and ig_user_id (sqlite_contact.c): an Instagram event
   * upserts its contact and needs the row, which is then not read back, and a
   * flow's update changes the cached row without reading it. Every other
   * write to a contact forgets it, a
   * rollback forgets all. A write to the contacts table by any other code
   * forgets all (an update hook; contacts_known is set while sqlite_contact.c
   * writes what it forgets itself), and so does a commit by another connection
   * (another instance sharing the file), seen by PRAGMA data_version when a
   * batch begins (contacts_version: the value the cache was filled under).
   * A rollback forgets all only when rows of contacts were written since what
   * it undoes began (contacts_written counts every such row, by any code). */
  strmap_t contacts;
  /* MSG_INSERT's members of conversations, kept across batches
   * (sqlite_members.c): conversation id -> sqlite_kept_conv_t (owned); members_ids
   * counts the ids held, members_version is the data version they were read
   * under. */
  strmap_t members;
  size_t members_ids;
  int64_t members_version;
  int contacts_known;
  int64_t contacts_version;
  uint64_t contacts_written;
  /* sqlite_activity_flush(): when it last ran at the end of a batch (ms,
   * monotonic). */
  uint64_t activity_flushed_ms;
  /* sqlite_db_clock(): the second last formatted, and its text up to the dot. */
  int64_t clock_sec;
  char clock_text[32];
} sqlite_db_t;

/* An operation: reads params (borrowed), sets *result (new reference) on
 * STORE_OK, returns a store status. */
typedef int (*sqlite_op_fn)(sqlite_db_t *d, json_t *params, json_t **result);

/* sqlite_pcache.c: SQLite's page cache without the truncates that have nothing to
 * drop (a walk of the whole cache at a COMMIT after a page split); before
 * sqlite3_initialize(), 0 once installed. The count of truncates not passed on. */
int sqlite_pcache_install(void);
long sqlite_pcache_truncates_skipped(void);

/* sqlite_db.c */
sqlite_db_t *sqlite_db_open(const char *path);
void sqlite_db_close(sqlite_db_t *d);
/* The cached statement for sql (a string literal), reset and bound from fmt:
 * 's' const char * (NULL binds null), 'i' int64_t, 'd' int, 'j' json_t * stored as
 * text (NULL binds null). NULL after logging on a prepare or bind error. */
sqlite3_stmt *sqlite_db_query(sqlite_db_t *d, const char *sql, const char *fmt, ...);
/* The same with the 's' strings bound in place, not copied: for a caller
 * whose strings outlive every step and read of the statement (until its
 * reset). */
sqlite3_stmt *sqlite_db_query_static(sqlite_db_t *d, const char *sql, const char *fmt, ...);
/* Runs a statement that returns no rows; returns a store status (a constraint
 * violation is STORE_ECONFLICT). */
int sqlite_db_exec(sqlite_db_t *d, const char *sql, const char *fmt, ...);
/* Steps st: 1 for a row, 0 when done, or a negative store status (logged). */
int sqlite_db_step(sqlite_db_t *d, sqlite3_stmt *st);
/* Maps an SQLite result code to a store status, logging what is not a conflict. */
int sqlite_db_status(sqlite_db_t *d, int rc, const char *what);
/* Plain SQL without parameters or caching (schema, transactions). */
int sqlite_db_exec_plain(sqlite_db_t *d, const char *sql);

/* Column helpers: text (NULL stays JSON null), JSON parsed from text. New references. */
json_t *sqlite_db_col_str(sqlite3_stmt *st, int col);
/* Column col's text borrowed (p NULL for SQL NULL), valid until st steps,
 * resets or converts that column. */
store_str_t sqlite_db_col_text(sqlite3_stmt *st, int col);
json_t *sqlite_db_col_json(sqlite3_stmt *st, int col, json_t *(*fallback)(void));
/* Params: a string member or NULL; an integer member or def. Borrowed. */
const char *sqlite_db_pstr(json_t *params, const char *key);
int64_t sqlite_db_pint(json_t *params, const char *key, int64_t def);
/* The current time as ISO-8601 with milliseconds. */
void sqlite_db_now(char out[32]);
/* The same for hot paths: formats each second once per connection. */
void sqlite_db_clock(sqlite_db_t *d, char out[32]);

/* sqlite_ckpt.c: a checkpoint thread for the writer's WAL, with its own
 * connection to path. NULL when it cannot start (logged): the writer then keeps
 * SQLite's autocheckpoint. Stop restores that hook and joins the thread; both
 * run on the loop thread while the store thread is not running. */
typedef struct sqlite_ckpt_s sqlite_ckpt_t;
sqlite_ckpt_t *sqlite_ckpt_start(sqlite_db_t *writer, const char *path);
void sqlite_ckpt_stop(sqlite_ckpt_t *c, sqlite_db_t *writer);

/* sqlite_schema.c: creates or upgrades the schema. Returns 0 or -1 (logged). */
int sqlite_schema_migrate(sqlite_db_t *d);

/* The operations, one function per line of parley/store_ops.h, named after it:
 * sqlite_user_create() for USER_CREATE, in the file of the name's first word
 * (sqlite_user.c). Each reads params (borrowed), sets *result (a new reference)
 * on STORE_OK and returns a store status. */
#define STORE_OP(op, name, kind) int sqlite_##name(sqlite_db_t *d, json_t *params, json_t **result);
#include "parley/store_ops.h"
#undef STORE_OP

/* sqlite.c: the function of op (never NULL for op < STORE_OP_COUNT). */
sqlite_op_fn sqlite_op(enum store_op op);

/* What the domain files share. sqlite_conv.c: */
json_t *sqlite_conv_load(sqlite_db_t *d, const char *id); /* conversation|NULL */
int sqlite_conv_role(sqlite_db_t *d, const char *conv_id, const char *user_id,
                     const char **role); /* 1 member (role set, static string), 0 not, <0 status */
json_t *sqlite_conv_participant_ids(sqlite_db_t *d, const char *conv_id);
/* The same for a conversation whose type and creator the caller has read:
 * participants, then (instagram only) the creator's agents. Participants in the
 * order they joined; with any_order, in the primary key's (user id) order, read
 * from that index alone (MSG_INSERT's recipients, whose order nothing uses). */
json_t *sqlite_conv_member_ids(sqlite_db_t *d, const char *conv_id, const char *type,
                               const char *creator_id, int any_order);
/* The conversation as user sees it (a channel's "me"); user may be NULL. */
json_t *sqlite_conv_load_for(sqlite_db_t *d, const char *id, const char *user);
/* {id, role, last_read_seq, mention_count, muted_until} of user in conv_id,
 * JSON null when not a member,
 * NULL on a failed read. */
json_t *sqlite_conv_me(sqlite_db_t *d, const char *conv_id, const char *user_id);
/* sqlite_conv.c, for CONV_LIST (sqlite_conv_list.c). A conversation's own
 * columns, as every query of conversations (as c) reads them. The contact's
 * pause is looked up only for a conversation with a contact (the subquery
 * opens and seeks a cursor on contacts for each row it runs on; without a
 * contact its answer is NULL either way). */
#define SQLITE_CONV_COLS                                                                      \
  "c.id, c.type, c.name, c.last_seq, c.created_at, c.updated_at, c.contact_id, c.creator_id," \
  " c.assignee_id, CASE WHEN c.contact_id IS NOT NULL THEN"                                   \
  " (SELECT automation_paused_until_ms FROM contacts WHERE id = c.contact_id) END,"           \
  " c.public, c.member_count, c.invite_token, c.avatar_id"
/* Values shared by the conversations of one CONV_LIST page: the same users
 * and roles recur across them, and one reference each spares most of the
 * page's allocations. users maps an id to [id, name]. */
typedef struct sqlite_conv_shared_s {
  json_t *users, *admin, *member;
} sqlite_conv_shared_t;
/* The time a page is read at, as muted_until is stored (ISO-8601, UTC, ms):
 * bound once per query rather than strftime('now') evaluated per row. */
typedef struct sqlite_now_s {
  char iso[32];
} sqlite_now_t;
sqlite_now_t sqlite_now_iso(void);
/* A conversation's own columns (SQLITE_CONV_COLS at st's row), without
 * participants and last message. */
json_t *sqlite_conv_row(sqlite3_stmt *st);
/* Adds participants, last_message and an instagram conversation's contact
 * to a conversation from sqlite_conv_row(); sh may be NULL. A channel gets
 * no participants (it may have 100,000) but the member user's own entry,
 * "me", when user is given. Returns 0, or -1 when a read failed. */
int sqlite_conv_complete(sqlite_db_t *d, json_t *c, sqlite_conv_shared_t *sh,
                         const sqlite_now_t *now, const char *user);
/* CONV_LIST's read of a user's own conversations (first page, and after a
 * cursor), for tests that check its plan. */
extern const char sqlite_conv_list_own_first[], sqlite_conv_list_own_after[];
/* The same as a row writer reads it: the conversations that are not channels,
 * in order, and the channels (sqlite_conv_list.c). */
extern const char sqlite_conv_list_active_first[], sqlite_conv_list_active_after[];
extern const char sqlite_conv_list_channels_first[], sqlite_conv_list_channels_after[];
/* The same for an agent's (LIST_TEAM). */
extern const char sqlite_conv_list_team_first[], sqlite_conv_list_team_after[];

/* sqlite_channel.c: a channel's members. room: STORE_OK when user may join one
 * more channel and conv_id (NULL: a new one) take one more member, else
 * ECONFLICT. add: joins user with role (*added 1 when new, 0 when a member
 * already; may be NULL), counting it. remove: the member leaves, counted;
 * a last admin with others left: ECONFLICT. */
int sqlite_channel_room(sqlite_db_t *d, const char *conv_id, const char *user_id);
int sqlite_channel_add(sqlite_db_t *d, const char *conv_id, const char *user_id, const char *role,
                       int *added);
int sqlite_channel_remove(sqlite_db_t *d, const char *conv_id, const char *user_id, int is_admin);

/* sqlite_user.c: a user by id into *result (ENOTFOUND when absent). */
int sqlite_user_load(sqlite_db_t *d, const char *id, json_t **result);

/* sqlite_login.c: revokes the families of the array ended (strings) and ends
 * their logins. */
int sqlite_login_end_families(sqlite_db_t *d, json_t *ended);

/* sqlite_contact.c: a contact by id, whoever owns it (NULL when absent). */
json_t *sqlite_contact_load(sqlite_db_t *d, const char *id);
/* Empties the cache of contacts (a rollback undid writes it may have seen). */
void sqlite_contact_forget_all(sqlite_db_t *d);
/* After a rollback to a savepoint, given contacts_written as it was when the
 * savepoint was taken: empties the cache only when rows of contacts were
 * written since. Most jobs
 * that fail answer ENOTFOUND having written nothing (SCHED_TAKE_WAIT with no
 * ask waiting, on every direct message); they keep the cache. */
void sqlite_contact_rolled_back(sqlite_db_t *d, uint64_t contacts_written);
/* Empties it when another connection committed since the last call; called
 * in each batch's transaction, before its jobs. */
void sqlite_contact_sync(sqlite_db_t *d);

/* sqlite_flow.c: the flow id of owner (ENOTFOUND when none); the graph part
 * of a flow ({trigger, nodes, edges, start}, a new reference). */
int sqlite_flow_by_id(sqlite_db_t *d, const char *id, const char *owner, json_t **result);
json_t *sqlite_flow_def(const json_t *flow);
/* sqlite_flow_version.c: publishes the flow's draft inside the caller's
 * transaction (status active, a new version unless the graph is the live
 * one, older versions pruned) and answers the flow. */
int sqlite_flow_publish(sqlite_db_t *d, const char *id, const char *owner, json_t **result);

/* sqlite_msg.c: a message is read with these columns, in this order. */
#define SQLITE_MSG_COLS                                                                           \
  "id, conversation_id, seq, sender_id, text, client_id, source, created_at, edited_at, deleted," \
  " attachments, external_id, status, error, reply_to, mentions, payload"
/* An SQL expression for a participants row: how many messages of its
 * conversation after seq `after` (an SQL expression) mention its user. */
#define SQLITE_MENTIONS_AFTER(after)                                           \
  "(SELECT count(*) FROM messages m, json_each(m.mentions) j"                  \
  " WHERE m.conversation_id = participants.conversation_id AND m.seq > " after \
  " AND m.mentions IS NOT NULL AND j.value = participants.user_id)"
json_t *sqlite_msg_load(sqlite_db_t *d, const char *id); /* message|NULL */
/* sqlite_attach.c: the attachments of ids (strings) that user_id uploaded, as a
 * message carries them, into *out (a new array); STORE_ENOTFOUND when one is
 * unknown or another user's. */
int sqlite_attach_resolve(sqlite_db_t *d, const char *user_id, json_t *ids, json_t **out);
/* A new message took the attachments of ids: each is used by one more. */
int sqlite_attach_count(sqlite_db_t *d, json_t *ids);
/* A deleted message's attachments (its copies, borrowed) are used by one
 * message less; each no message and no avatar uses any more is removed, its
 * storage keys (the file's, a thumbnail's) appended to removed. */
int sqlite_attach_release(sqlite_db_t *d, json_t *attachments, json_t *removed);
json_t *sqlite_msg_by_seq(sqlite_db_t *d, const char *conv_id, int64_t seq);
/* CONV_LIST's row writer's last message of conv_id: a plain one goes to
 * rows->message (*tree NULL); any other is *tree, as sqlite_msg_by_seq
 * makes it. Neither when there is none (or it could not be read, as
 * sqlite_msg_by_seq's NULL). Returns 0, or -1 when the writer failed. */
int sqlite_msg_by_seq_rows(sqlite_db_t *d, const char *conv_id, int64_t seq,
                           const store_conv_rows_t *rows, void *w, json_t **tree);
/* As sqlite_msg_by_seq_rows, for the message at st's row: SQLITE_MSG_COLS
 * from column b on, then whether it has reactions (b + 17). st stays on its
 * row (the writer reads its texts). */
int sqlite_msg_rows_at(sqlite_db_t *d, sqlite3_stmt *st, int b, const store_conv_rows_t *rows,
                       void *w, json_t **tree);
/* Steps st (a query of SQLITE_MSG_COLS) once: the message with its reactions, or NULL. */
json_t *sqlite_msg_one(sqlite_db_t *d, sqlite3_stmt *st);
/* *result = {message, participant_ids[, created when created >= 0]}; takes msg.
 * Returns a store status. */
int sqlite_msg_answer(sqlite_db_t *d, json_t *msg, int created, json_t **result);

/* sqlite_msg_insert.c: writes back the conversation counters (last_seq,
 * updated_at, the senders' read markers) that inserts advanced in memory; before
 * any other op reads them and before COMMIT. Returns a store status. Discard
 * drops them after a rollback. */
int sqlite_msg_insert_flush(sqlite_db_t *d);

/* sqlite_conv.c: the members of the conversations noted in activity_pending
 * (migration 40) get their conversation's updated_at as activity, and the
 * notes go. In the caller's transaction. */
int sqlite_activity_flush(sqlite_db_t *d);
void sqlite_msg_insert_discard(sqlite_db_t *d);
/* sqlite_members.c: what MSG_INSERT keeps of a conversation across batches. */
typedef struct sqlite_kept_conv_s {
  json_t *ids;      /* its members (any order, agents included); owned */
  int64_t last_seq; /* as this connection last read or wrote it */
  int channel;      /* its type is "channel" */
  int secret;       /* its type is "secret" */
} sqlite_kept_conv_t;
/* What is kept of a conversation, or NULL: valid until the next call below. */
const sqlite_kept_conv_t *sqlite_members_kept(sqlite_db_t *d, const char *conv_id);
/* MSG_INSERT's members of a conversation whose row was just read (type,
 * creator_id, last_seq), from what earlier batches read or read now, kept with
 * the row's last_seq and type; a new reference, or NULL when the read failed. */
json_t *sqlite_members_get(sqlite_db_t *d, const char *conv_id, const char *type,
                           const char *creator_id, int64_t last_seq);
/* MSG_INSERT's flush wrote last_seq for the conversation. */
void sqlite_members_seq(sqlite_db_t *d, const char *conv_id, int64_t last_seq);
/* Forgets every conversation's members: before any op but MSG_INSERT and the
 * reads, and at a rollback. */
void sqlite_members_forget_all(sqlite_db_t *d);
/* When a batch begins, after sqlite_contact_sync: forgets them all if another
 * connection committed since they were read. */
void sqlite_members_sync(sqlite_db_t *d);
/* Loop thread: MSG_INSERT's result {message, participant_ids, created: true} from
 * the job's params and what the store thread left in ins. */
json_t *sqlite_msg_insert_result(json_t *params, const sqlite_insert_t *ins);

/* sqlite_msg_index.c: indexes up to max messages stored since the index last
 * caught up, in the current transaction; *left: how many still wait. Returns a
 * store status. The step indexes up to max (at most SQLITE_INDEX_CHUNK) in its
 * own transaction (outside any batch) and updates d->unindexed; a failure is
 * logged. */
#define SQLITE_INDEX_CHUNK 5000
int sqlite_msg_index(sqlite_db_t *d, int64_t max, int64_t *left);
void sqlite_msg_index_step(sqlite_db_t *d, int64_t max);

#endif
