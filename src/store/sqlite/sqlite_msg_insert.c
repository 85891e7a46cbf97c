/* SQLite's MSG_INSERT, the hot path: seq = last_seq + 1 with the conversation's
 * counters kept in memory for the transaction, idempotent client_id and
 * external_id through the unique indexes, and the result of a new message built
 * on the loop thread. Store thread, except sqlite_msg_insert_result(). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "parley/util.h"
#include "store/sqlite/sqlite_internal.h"

/* The message a retried insert already stored, or NULL. */
static json_t *original(sqlite_db_t *d, const char *conv, const char *sender, const char *client_id,
                        const char *external_id) {
  if (external_id) {
    json_t *m = sqlite_msg_one(
        d, sqlite_db_query(d, "SELECT " SQLITE_MSG_COLS " FROM messages WHERE external_id = ?", "s",
                           external_id));
    if (m) return m;
  }
  if (!client_id) return NULL;
  json_t *m = sqlite_msg_one(
      d, sqlite_db_query(d,
                         "SELECT " SQLITE_MSG_COLS " FROM messages WHERE conversation_id = ?"
                         " AND sender_id = ? AND client_id = ?",
                         "sss", conv, sender, client_id));
  if (m || strncmp(client_id, "flow-", 5) != 0) return m;
  /* A flow's message (client_id "flow-<id>", the server's own) is retried by
   * whoever answers the conversation, owner or agent: it is the original
   * whatever the retrying sender. messages_flow_client (migration 38) finds
   * it; one query for both scanned the conversation's messages. */
  return sqlite_msg_one(
      d, sqlite_db_query(d,
                         "SELECT " SQLITE_MSG_COLS " FROM messages WHERE conversation_id = ?"
                         " AND client_id = ? AND source = 'flow' LIMIT 1",
                         "ss", conv, client_id));
}

/* Within one transaction, inserts advance a conversation's counters in memory
 * and write them back once (sqlite_msg_insert_flush): one UPDATE per conversation and
 * sender per batch instead of two per message. The store thread is the only
 * writer and BEGIN IMMEDIATE locks out other connections, so seq = last_seq + 1
 * has no gaps and no repeats. */
#define PENDING_SLOTS 256
#define PENDING_MAX 192

typedef struct pending_conv_s {
  char id[32]; /* empty: free slot */
  int64_t last_seq;
  char updated_at[32];
  json_t *members; /* participant ids, as loaded (none for a channel) */
  int channel;     /* a channel: only its admins post */
  int secret;      /* a secret conversation: only ciphertexts */
  /* Each sender's newest message, whose read marker moves: the first sender of
   * the transaction here (most often the only one), any other in readers. A
   * json object for every conversation and batch was 1,400 instructions. */
  char reader[64]; /* "": none yet */
  int64_t reader_seq;
  json_t *readers; /* sender -> seq; NULL until a second sender */
} pending_conv_t;

struct sqlite_msg_insert_pending {
  int used;
  short used_slot[PENDING_MAX]; /* the slots taken, in the order they were */
  pending_conv_t slot[PENDING_SLOTS];
};

static size_t pending_hash(const char *id) {
  size_t h = 5381;
  for (; *id; id++) h = h * 33 + (unsigned char)*id;
  return h;
}

/* The table is cleared slot by slot and kept for the next transaction
 * (d->pending_spare): a calloc of the whole table per batch zeroed 24 KiB, about
 * 27,000 instructions of every batch, most often for one message. */
void sqlite_msg_insert_discard(sqlite_db_t *d) {
  struct sqlite_msg_insert_pending *p = d->pending;
  if (!p) return;
  for (int i = 0; i < p->used; i++) {
    pending_conv_t *c = &p->slot[p->used_slot[i]];
    json_decref(c->members);
    json_decref(c->readers);
    memset(c, 0, sizeof(*c));
  }
  p->used = 0;
  d->pending = NULL;
  if (d->pending_spare)
    free(p);
  else
    d->pending_spare = p;
}

/* The sender's read marker moves to seq. */
static int flush_reader(sqlite_db_t *d, pending_conv_t *c, const char *user, int64_t seq) {
  int status = sqlite_db_exec(
      d,
      "UPDATE participants SET last_read_seq = max(last_read_seq, ?1),"
      " last_delivered_seq = max(last_delivered_seq, ?1),"
      " mention_count = CASE WHEN mention_count = 0 THEN 0 ELSE"
      " " SQLITE_MENTIONS_AFTER(
          "max(participants.last_read_seq, ?1)") " END WHERE conversation_id = ?2 AND user_id = ?3",
      "iss", seq, c->id, user);
  /* A member who is no participant is an agent: its own marker moves. */
  if (status == STORE_OK && sqlite3_changes(d->db) == 0)
    status = sqlite_db_exec(d,
                            "INSERT INTO agent_reads (conversation_id, user_id, last_read_seq)"
                            " VALUES (?2, ?3, ?1) ON CONFLICT DO UPDATE SET last_read_seq ="
                            " max(last_read_seq, excluded.last_read_seq)",
                            "iss", seq, c->id, user);
  return status;
}

/* OR IGNORE: the row's trigger (participants_activity_conv, an INSERT OR IGNORE)
 * made the UPDATE a statement that may write more than one row, and its NOT
 * NULL checks (ABORT by default) one that may abort, so SQLite opened a
 * statement journal for it and copied each page it wrote there first: 3,400 of
 * its 18,400 instructions, once a conversation a batch (callgrind). Under
 * IGNORE nothing can abort. Nothing here can fail a constraint either: both
 * values are bound and never NULL, no unique index or CHECK holds last_seq or
 * updated_at, and no foreign key covers them; the trigger's own policy was
 * IGNORE already, and an outer policy is the one its statements use. */
static int flush_one(sqlite_db_t *d, pending_conv_t *c) {
  int status = sqlite_db_exec(
      d, "UPDATE OR IGNORE conversations SET last_seq = ?, updated_at = ? WHERE id = ?", "iss",
      c->last_seq, c->updated_at, c->id);
  /* What the next batch starts from; a rollback of this one forgets it. */
  if (status == STORE_OK) sqlite_members_seq(d, c->id, c->last_seq);
  if (status == STORE_OK && c->reader[0]) status = flush_reader(d, c, c->reader, c->reader_seq);
  const char *user;
  json_t *seq;
  json_object_foreach(c->readers, user, seq) {
    if (status == STORE_OK) status = flush_reader(d, c, user, (int64_t)json_integer_value(seq));
  }
  return status;
}

int sqlite_msg_insert_flush(sqlite_db_t *d) {
  int status = STORE_OK;
  for (int i = 0; d->pending && i < d->pending->used && status == STORE_OK; i++)
    status = flush_one(d, &d->pending->slot[d->pending->used_slot[i]]);
  sqlite_msg_insert_discard(d);
  return status;
}

/* src (NULL: empty) into dst of cap bytes, cut to fit as snprintf would cut it;
 * three of these a message, where snprintf's format parse showed. */
static void copy_text(char *dst, size_t cap, const char *src) {
  size_t n = src ? strnlen(src, cap - 1) : 0;
  memcpy(dst, src ? src : "", n);
  dst[n] = '\0';
}

/* Slot at of the table becomes conv's, its counters and members set. */
static int pending_taken(sqlite_db_t *d, pending_conv_t *c, size_t at, const char *conv,
                         pending_conv_t **out) {
  copy_text(c->id, sizeof(c->id), conv); /* fits: checked by pending_get */
  d->pending->used_slot[d->pending->used++] = (short)at;
  *out = c;
  return STORE_OK;
}

/* The conversation's pending counters, loaded on first use (from what an
 * earlier batch kept, else from its row): STORE_OK with *out, or ENOTFOUND. */
static int pending_get(sqlite_db_t *d, const char *conv, pending_conv_t **out) {
  if (strlen(conv) >= sizeof(d->pending->slot[0].id))
    return STORE_ENOTFOUND; /* not an id we made */
  if (d->pending && d->pending->used >= PENDING_MAX) {
    int status = sqlite_msg_insert_flush(d);
    if (status != STORE_OK) return status;
  }
  if (!d->pending) {
    d->pending = d->pending_spare ? d->pending_spare : calloc(1, sizeof(*d->pending));
    d->pending_spare = NULL;
    if (!d->pending) return STORE_EUNAVAILABLE;
  }
  pending_conv_t *c = NULL;
  size_t at = 0;
  for (size_t h = pending_hash(conv), n = 0; n < PENDING_SLOTS; n++) {
    at = (h + n) & (PENDING_SLOTS - 1);
    c = &d->pending->slot[at];
    if (!c->id[0] || strcmp(c->id, conv) == 0) break;
  }
  if (c->id[0]) {
    *out = c;
    return STORE_OK;
  }
  /* Kept from an earlier batch (sqlite_members.c): no read of the row. */
  const sqlite_kept_conv_t *k = sqlite_members_kept(d, conv);
  if (k) {
    c->last_seq = k->last_seq;
    c->channel = k->channel;
    c->secret = k->secret;
    c->members = json_incref(k->ids);
    return pending_taken(d, c, at, conv, out);
  }
  sqlite3_stmt *st = sqlite_db_query(
      d, "SELECT last_seq, type, creator_id FROM conversations WHERE id = ?", "s", conv);
  if (!st) return STORE_EUNAVAILABLE;
  int rc = sqlite_db_step(d, st);
  if (rc <= 0) return rc < 0 ? rc : STORE_ENOTFOUND;
  c->last_seq = sqlite3_column_int64(st, 0);
  char type[16], creator[64];
  copy_text(type, sizeof(type), (const char *)sqlite3_column_text(st, 1));
  const char *cr = (const char *)sqlite3_column_text(st, 2);
  copy_text(creator, sizeof(creator), cr);
  c->channel = strcmp(type, "channel") == 0;
  c->secret = strcmp(type, "secret") == 0;
  sqlite3_reset(st);
  /* Members (and agents) from what was just read: no second look-up of the type.
   * Any order: they are the message's recipients, checked for membership. */
  if (!(c->members = sqlite_members_get(d, conv, type, creator, c->last_seq)))
    return STORE_EUNAVAILABLE;
  return pending_taken(d, c, at, conv, out);
}

/* Moves the sender's read marker in memory; reuses the integer once it exists. */
static void read_marker(pending_conv_t *c, const char *sender, int64_t seq) {
  if (sender[0] &&
      (strcmp(c->reader, sender) == 0 || (!c->reader[0] && strlen(sender) < sizeof(c->reader)))) {
    copy_text(c->reader, sizeof(c->reader), sender);
    c->reader_seq = seq;
    return;
  }
  if (!c->readers && !(c->readers = json_object())) return;
  json_t *v = json_object_get(c->readers, sender);
  if (json_is_integer(v))
    json_integer_set(v, (json_int_t)seq);
  else
    json_object_set_new(c->readers, sender, json_integer((json_int_t)seq));
}

static int is_member(json_t *members, const char *user) {
  size_t i;
  json_t *v;
  json_array_foreach(members, i, v) if (strcmp(json_string_value(v), user) == 0) return 1;
  return 0;
}

/* reply_to and mentions (parley/store_ops.h), checked before anything is
 * written: a reply's preview goes into p as "_reply" for the message. */
static int check_reply(sqlite_db_t *d, json_t *p, const char *conv, pending_conv_t *c) {
  json_t *reply = json_object_get(p, "reply_to"), *mentions = json_object_get(p, "mentions");
  if (!store_mentions_ok(p) || (reply && !json_is_null(reply) && !json_is_string(reply)))
    return STORE_EINVAL;
  if (!store_has_reply_or_mentions(p)) return STORE_OK;
  sqlite3_stmt *st = sqlite_db_query(d, "SELECT type FROM conversations WHERE id = ?", "s", conv);
  if (!st) return STORE_EUNAVAILABLE;
  int rc = sqlite_db_step(d, st);
  if (rc < 0) return rc;
  int ig = rc == 1 && strcmp((const char *)sqlite3_column_text(st, 0), "instagram") == 0;
  sqlite3_reset(st);
  if (ig) return STORE_EINVAL; /* Instagram has no quotes or mentions of Parley users */
  size_t i;
  json_t *v;
  json_array_foreach(mentions, i,
                     v) if (!is_member(c->members, json_string_value(v))) return STORE_EINVAL;
  if (!json_is_string(reply)) return STORE_OK;
  json_t *quoted = sqlite_msg_load(d, json_string_value(reply));
  if (!quoted) return STORE_EINVAL;
  const char *in = json_string_value(json_object_get(quoted, "conversation_id"));
  int ok = in && strcmp(in, conv) == 0 && !json_is_true(json_object_get(quoted, "deleted"));
  if (ok) json_object_set_new(p, "_reply", store_reply_preview(quoted));
  json_decref(quoted);
  return ok ? STORE_OK : STORE_EINVAL;
}

/* Each mentioned participant but the sender has one more unread mention. */
static int count_mentions(sqlite_db_t *d, json_t *p, const char *conv, const char *sender) {
  size_t i;
  json_t *v;
  json_array_foreach(json_object_get(p, "mentions"), i, v) {
    if (strcmp(json_string_value(v), sender) == 0) continue;
    int status = sqlite_db_exec(d,
                                "UPDATE participants SET mention_count = mention_count + 1"
                                " WHERE conversation_id = ? AND user_id = ?",
                                "ss", conv, json_string_value(v));
    if (status != STORE_OK) return status;
  }
  return STORE_OK;
}

/* A params member shared with the result: strings nobody changes. */
static json_t *shared(json_t *v) { return json_is_string(v) ? json_incref(v) : json_null(); }

/* The params an insert and the new message read, found in one walk of them:
 * a look-up of each was 1,400 instructions a message on the loop thread (the
 * result) and as many on the store thread (the insert). NULL: absent. */
typedef struct msg_params_s {
  json_t *conv, *sender, *text, *client_id, *source, *att, *ext, *status, *reply, *mentions,
      *payload, *check_member, *attachment_ids;
} msg_params_t;

static void msg_params(json_t *p, msg_params_t *m) {
  memset(m, 0, sizeof(*m));
  const char *k;
  json_t *v;
  json_object_foreach(p, k, v) {
    json_t **to = NULL;
    switch (k[0]) {
      case 'c':
        to = strcmp(k, "conversation_id") == 0 ? &m->conv
             : strcmp(k, "client_id") == 0     ? &m->client_id
             : strcmp(k, "check_member") == 0  ? &m->check_member
                                               : NULL;
        break;
      case 's':
        to = strcmp(k, "sender_id") == 0 ? &m->sender
             : strcmp(k, "source") == 0  ? &m->source
             : strcmp(k, "status") == 0  ? &m->status
                                         : NULL;
        break;
      case 't':
        to = strcmp(k, "text") == 0 ? &m->text : NULL;
        break;
      case 'a':
        to = strcmp(k, "attachments") == 0      ? &m->att
             : strcmp(k, "attachment_ids") == 0 ? &m->attachment_ids
                                                : NULL;
        break;
      case 'e':
        to = strcmp(k, "external_id") == 0 ? &m->ext : NULL;
        break;
      case '_':
        to = strcmp(k, "_reply") == 0 ? &m->reply : NULL;
        break;
      case 'm':
        to = strcmp(k, "mentions") == 0 ? &m->mentions : NULL;
        break;
      case 'p':
        to = strcmp(k, "payload") == 0 ? &m->payload : NULL;
        break;
      default:
        break;
    }
    if (to) *to = v;
  }
}

/* The new message, built directly: json_pack would parse its format per message. */
static json_t *new_message(json_t *p, const sqlite_insert_t *ins) {
  msg_params_t pm;
  msg_params(p, &pm);
  json_t *m = json_object();
  json_object_set_new_nocheck(m, "id", json_stringn_nocheck(ins->id, 24));
  json_object_set_new_nocheck(m, "conversation_id", shared(pm.conv));
  json_object_set_new_nocheck(m, "seq", json_integer((json_int_t)ins->seq));
  json_object_set_new_nocheck(m, "sender_id", shared(pm.sender));
  json_object_set_new_nocheck(m, "text", shared(pm.text));
  json_object_set_new_nocheck(m, "client_id", shared(pm.client_id));
  json_object_set_new_nocheck(
      m, "source", json_is_string(pm.source) ? json_incref(pm.source) : json_string("web"));
  json_object_set_new_nocheck(m, "created_at", json_string_nocheck(ins->created_at));
  json_object_set_new_nocheck(m, "edited_at", json_null());
  json_object_set_new_nocheck(m, "deleted", json_false());
  json_object_set_new_nocheck(m, "reactions", json_array());
  json_object_set_new_nocheck(m, "attachments",
                              json_is_array(pm.att) ? json_deep_copy(pm.att) : json_array());
  if (json_is_string(pm.ext)) json_object_set_new_nocheck(m, "external_id", json_incref(pm.ext));
  if (json_is_string(pm.status)) {
    json_object_set_new_nocheck(m, "status", json_incref(pm.status));
    json_object_set_new_nocheck(m, "error", json_null());
  }
  if (pm.reply) json_object_set_new_nocheck(m, "reply_to", json_deep_copy(pm.reply));
  if (json_array_size(pm.mentions) > 0)
    json_object_set_new_nocheck(m, "mentions", json_deep_copy(pm.mentions));
  if (json_is_object(pm.payload)) { /* ciphertexts, call: the job's params stay its own */
    json_t *copy = json_deep_copy(pm.payload);
    json_object_update(m, copy);
    json_decref(copy);
  }
  return m;
}

json_t *sqlite_msg_insert_result(json_t *params, const sqlite_insert_t *ins) {
  json_t *r = json_object();
  json_object_set_new_nocheck(r, "message", new_message(params, ins));
  /* The store thread's kept array itself, by reference: nothing changes it
   * once read (sqlite_members.c only drops it; no reader of a result's
   * participant_ids appends to or removes from it) and jansson counts
   * references atomically. A deep copy was 5,400 instructions a message in
   * groups of 10; the shallow copy that followed 7,700 in groups of 100. */
  json_object_set_new_nocheck(r, "participant_ids", json_incref(ins->members));
  json_object_set_new_nocheck(r, "created", json_true());
  if (ins->event_processed) json_object_set_new_nocheck(r, "event_processed", json_true());
  return r;
}

/* The insert found nothing to do (a retry) or cannot go on (status): the original
 * of a retry wins over the status, as it did before the conversation's checks. */
static int retried(sqlite_db_t *d, json_t *p, int status, json_t **result) {
  json_t *orig = original(d, sqlite_db_pstr(p, "conversation_id"), sqlite_db_pstr(p, "sender_id"),
                          sqlite_db_pstr(p, "client_id"), sqlite_db_pstr(p, "external_id"));
  if (orig) return sqlite_msg_answer(d, orig, 0, result);
  return status;
}

/* The idempotency check rides on the unique indexes: INSERT ... ON CONFLICT DO
 * NOTHING and changes() find a retry without a SELECT per message; only a retry
 * (or a failed check) then looks for the original. */
static int insert_message(sqlite_db_t *d, json_t *p, json_t **result) {
  msg_params_t pm; /* p's members, until p is changed below */
  msg_params(p, &pm);
  const char *conv = json_string_value(pm.conv), *sender = json_string_value(pm.sender);
  const char *client_id = json_string_value(pm.client_id), *external_id = json_string_value(pm.ext);
  const char *source = json_string_value(pm.source);
  json_t *text = pm.text, *att = pm.att;
  if (!conv || !sender || (text && !json_is_string(text) && !json_is_null(text)) ||
      (att && !json_is_array(att)))
    return STORE_EINVAL;
  /* Every check comes before the first write: this op runs without a savepoint. */
  pending_conv_t *c = NULL;
  int status = pending_get(d, conv, &c);
  if (status == STORE_ENOTFOUND) return retried(d, p, status, result);
  if (status != STORE_OK) return status;
  int member = is_member(c->members, sender);
  if (c->channel) {
    /* Whatever the path, only a channel's admins post in it. */
    const char *role = NULL;
    int rc = sqlite_conv_role(d, conv, sender, &role);
    if (rc < 0) return rc;
    if (rc == 0) return retried(d, p, STORE_ENOTFOUND, result);
    if (strcmp(role, "admin") != 0) return retried(d, p, STORE_EFORBIDDEN, result);
    member = 1;
  }
  if (!member && json_is_true(pm.check_member)) return retried(d, p, STORE_ENOTFOUND, result);
  /* A flow's message retried by another sender than the flow's: the unique
   * index (conversation, sender, client_id) cannot see it, so it is looked up. */
  if (client_id && strncmp(client_id, "flow-", 5) == 0) {
    json_t *orig = original(d, conv, sender, client_id, NULL);
    if (orig) return sqlite_msg_answer(d, orig, 0, result);
  }
  if (!store_payload_fits(p, c->secret)) return retried(d, p, STORE_EINVAL, result);
  status = check_reply(d, p, conv, c);
  if (status != STORE_OK) return retried(d, p, status, result);
  json_t *ids = pm.attachment_ids;
  if (json_is_array(ids)) {
    /* The sender's uploads become the message's attachments (the params
     * belong to this job; the result is built from them). */
    json_t *resolved = NULL;
    status = sqlite_attach_resolve(d, sender, ids, &resolved);
    if (status != STORE_OK) return retried(d, p, status, result);
    json_object_set_new(p, "attachments", resolved);
    att = resolved;
  }
  char id[25], now[32];
  util_new_ordered_id(id);
  sqlite_db_clock(d, now);
  int64_t seq = c->last_seq + 1;
  if (!source) source = "web";
  json_t *mentions = pm.mentions;
  status = sqlite_db_exec(
      d,
      "INSERT INTO messages (id, conversation_id, seq, sender_id, text, client_id, source,"
      " attachments, external_id, created_at, status, reply_to, mentions, payload)"
      " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
      "ssissssjsssjjj", id, conv, seq, sender, json_string_value(text), client_id, source, att,
      external_id, now, json_string_value(pm.status), json_object_get(p, "_reply"),
      json_array_size(mentions) > 0 ? mentions : NULL, pm.payload);
  if (status != STORE_OK) return status;
  /* Nothing inserted: a retry, or (never seen) a random id that collided. */
  if (sqlite3_changes(d->db) == 0) return retried(d, p, STORE_ECONFLICT, result);
  if (json_is_array(ids)) { /* counted once the message is in (a retry counts nothing) */
    status = sqlite_attach_count(d, ids);
    if (status != STORE_OK) return status;
  }
  status = count_mentions(d, p, conv, sender);
  if (status != STORE_OK) return status;
  c->last_seq = seq;
  d->unindexed++; /* indexed for search later, off this path (sqlite_msg_index.c) */
  memcpy(c->updated_at, now, sizeof(now));
  if (member) read_marker(c, sender, seq); /* the sender read what they wrote */
  sqlite_insert_t local = {0}, *ins = d->insert ? d->insert : &local;
  ins->seq = seq;
  memcpy(ins->id, id, sizeof(ins->id));
  memcpy(ins->created_at, now, sizeof(ins->created_at));
  ins->members = json_incref(c->members);
  if (ins != &local) return STORE_OK; /* the loop thread builds the result */
  *result = sqlite_msg_insert_result(p, ins);
  json_decref(local.members);
  return STORE_OK;
}

/* MSG_INSERT. With event_id (an Instagram event's message), the webhook event is
 * marked processed in the same transaction once the message is in, new or the
 * original of a retry: the event counts as processed exactly when its message
 * is stored, and the processor needs no store job of its own for the mark. */
int sqlite_msg_insert(sqlite_db_t *d, json_t *p, json_t **result) {
  int status = insert_message(d, p, result);
  const char *event = sqlite_db_pstr(p, "event_id");
  if (status != STORE_OK || !event) return status;
  status = sqlite_db_exec(d, "UPDATE webhook_events SET processed = 1 WHERE id = ?", "s", event);
  /* The message is written and this op has no savepoint: a failure must make
   * the batch run again (unavailable or conflict), never commit the half. */
  if (status != STORE_OK) return status == STORE_ECONFLICT ? status : STORE_EUNAVAILABLE;
  if (*result)
    json_object_set_new(*result, "event_processed", json_true());
  else if (d->insert)
    d->insert->event_processed = 1; /* the loop thread builds the result */
  return STORE_OK;
}
