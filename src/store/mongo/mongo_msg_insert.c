/* Message inserts, batched: every MSG_INSERT gathered in one loop turn is
 * written here with one insert_many, after the idempotency checks (client_id,
 * external_id) and one findAndModify $inc per conversation that reserves the
 * batch's range of seq. Then one bulk write moves last_message, updated_at (and activity) and
 * the senders' read markers. Worker thread; one batch runs at a time. */
#include <stdio.h>
#include <string.h>

#include "parley/log.h"
#include "parley/util.h"
#include "store/mongo/mongo_internal.h"

enum { PENDING, DONE, DUP };

typedef struct {
  store_job_t *job;
  const char *cid, *sender, *client_id, *ext;
  int conv;   /* index into the batch's conversations */
  int dup_of; /* an earlier job of this batch with the same key */
  int state;
  bson_t *doc; /* the new message */
} item_t;

typedef struct {
  const char *cid;
  bson_t doc; /* as loaded, then as after the $inc */
  int loaded, count;
  int64_t end, next;
  json_t *agents; /* an instagram conversation's agents, loaded once; else NULL */
} conv_t;

typedef struct {
  mongo_ctx_t *c;
  item_t *items;
  conv_t *convs;
  int n, nconv;
  int64_t now;
} batch_t;

static void finish(item_t *it, int status) {
  it->state = DONE;
  it->job->status = status;
}

static void answer(batch_t *b, item_t *it, const bson_t *msg, int created) {
  conv_t *cv = &b->convs[it->conv];
  json_t *ids = mongo_conv_participant_ids(&cv->doc);
  json_array_extend(ids, cv->agents);
  it->job->result = json_pack("{s:o, s:b, s:o}", "message", mongo_msg_json(b->c, msg), "created",
                              created, "participant_ids", ids);
  finish(it, STORE_OK);
}

static int same(const char *a, const char *b) { return a && b && !strcmp(a, b); }

static int conv_index(batch_t *b, const char *cid) {
  for (int i = 0; i < b->nconv; i++)
    if (!strcmp(b->convs[i].cid, cid)) return i;
  b->convs[b->nconv].cid = cid;
  return b->nconv++;
}

/* attachment_ids: the sender's uploads become the message's attachments (the
 * params belong to this job; the document is built from them). */
static int resolve_attachments(batch_t *b, item_t *it) {
  json_t *p = it->job->params, *ids = json_object_get(p, "attachment_ids"), *resolved = NULL;
  if (!json_is_array(ids)) return STORE_OK;
  int rc = mongo_attach_resolve(b->c, it->sender, ids, &resolved);
  if (rc != STORE_OK) {
    finish(it, rc);
    return rc;
  }
  json_object_set_new(p, "attachments", resolved);
  return STORE_OK;
}

static void parse(batch_t *b, item_t *it) {
  json_t *p = it->job->params;
  json_t *text = json_object_get(p, "text"), *att = json_object_get(p, "attachments");
  it->cid = mongo_param_str(p, "conversation_id");
  it->sender = mongo_param_str(p, "sender_id");
  it->client_id = mongo_param_str(p, "client_id");
  it->ext = mongo_param_str(p, "external_id");
  it->dup_of = -1;
  if (!it->cid || !it->sender || (text && !json_is_string(text) && !json_is_null(text)) ||
      (att && !json_is_array(att) && !json_is_null(att)))
    finish(it, STORE_EINVAL);
  else if (resolve_attachments(b, it) == STORE_OK)
    it->conv = conv_index(b, it->cid);
}

/* Runs a query and hands each document to fn. */
static int each_doc(batch_t *b, enum mongo_coll coll, const bson_t *filter,
                    void (*fn)(void *, const bson_t *)) {
  int rc = mongo_query_each(b->c, coll, filter, NULL, fn, b);
  return rc < 0 ? rc : 0;
}

static void got_conv(void *arg, const bson_t *doc) {
  batch_t *b = arg;
  const char *id = mongo_bson_str(doc, "_id");
  for (int i = 0; id && i < b->nconv; i++)
    if (!strcmp(b->convs[i].cid, id) && !b->convs[i].loaded) {
      bson_copy_to(doc, &b->convs[i].doc);
      b->convs[i].loaded = 1;
    }
}

static void fail_pending(batch_t *b, int status) {
  for (int i = 0; i < b->n; i++)
    if (b->items[i].state == PENDING) finish(&b->items[i], status);
}

static int is_agent(json_t *agents, const char *user) {
  size_t i;
  json_t *v;
  json_array_foreach(agents, i, v) if (same(json_string_value(v), user)) return 1;
  return 0;
}

/* reply_to and mentions (parley/store_ops.h), checked before anything is
 * written: a reply's preview goes into the params as "_reply". */
static void check_reply(batch_t *b, item_t *it) {
  json_t *p = it->job->params, *reply = json_object_get(p, "reply_to"), *v;
  if (!store_mentions_ok(p) || (reply && !json_is_null(reply) && !json_is_string(reply))) {
    finish(it, STORE_EINVAL);
    return;
  }
  if (!store_has_reply_or_mentions(p)) return;
  conv_t *cv = &b->convs[it->conv];
  const char *type = mongo_bson_str(&cv->doc, "type");
  int ok = !type || strcmp(type, "instagram") != 0; /* no quotes or mentions to Instagram */
  size_t i;
  json_array_foreach(json_object_get(p, "mentions"), i,
                     v) if (!mongo_conv_role(&cv->doc, json_string_value(v))) ok = 0;
  if (ok && json_is_string(reply)) {
    bson_t *filter = BCON_NEW("_id", BCON_UTF8(json_string_value(reply)));
    bson_t doc;
    int rc = mongo_query_one(b->c, MC_MSGS, filter, NULL, &doc);
    bson_destroy(filter);
    if (rc < 0) {
      finish(it, rc);
      return;
    }
    ok = rc == 1 && same(mongo_bson_str(&doc, "conversation_id"), it->cid) &&
         !mongo_bson_bool(&doc, "deleted");
    if (ok) {
      json_t *quoted = mongo_msg_json(b->c, &doc);
      json_object_set_new(p, "_reply", store_reply_preview(quoted));
      json_decref(quoted);
    }
    if (rc == 1) bson_destroy(&doc);
  }
  if (!ok) finish(it, STORE_EINVAL);
}

/* Phase 1: the conversations exist and, when asked, the sender is a member (a
 * participant, or an agent of an instagram conversation's owner). */
static int load_convs(batch_t *b) {
  bson_t filter = BSON_INITIALIZER, in, arr;
  bson_append_document_begin(&filter, "_id", -1, &in);
  bson_append_array_begin(&in, "$in", -1, &arr);
  for (int i = 0; i < b->nconv; i++) {
    char k[24];
    snprintf(k, sizeof(k), "%d", i);
    BSON_APPEND_UTF8(&arr, k, b->convs[i].cid);
  }
  bson_append_array_end(&in, &arr);
  bson_append_document_end(&filter, &in);
  int rc = each_doc(b, MC_CONVS, &filter, got_conv);
  bson_destroy(&filter);
  if (rc < 0) return rc;
  for (int i = 0; i < b->nconv; i++) {
    conv_t *cv = &b->convs[i];
    const char *type = cv->loaded ? mongo_bson_str(&cv->doc, "type") : NULL;
    if (type && !strcmp(type, "instagram") && !(cv->agents = mongo_conv_agent_ids(b->c, &cv->doc)))
      return STORE_EUNAVAILABLE;
  }
  for (int i = 0; i < b->n; i++) {
    item_t *it = &b->items[i];
    if (it->state != PENDING) continue;
    conv_t *cv = &b->convs[it->conv];
    int check = json_is_true(json_object_get(it->job->params, "check_member"));
    if (cv->loaded && mongo_channel_is(&cv->doc)) {
      /* Whatever the path, only a channel's admins post in it. */
      const char *role = NULL;
      int got = mongo_channel_role(b->c, it->cid, it->sender, &role);
      if (got < 0) return got;
      if (got == 0 || strcmp(role, "admin") != 0)
        finish(it, got == 0 ? STORE_ENOTFOUND : STORE_EFORBIDDEN);
      continue;
    }
    const char *type = cv->loaded ? mongo_bson_str(&cv->doc, "type") : NULL;
    if (!cv->loaded ||
        (check && !mongo_conv_role(&cv->doc, it->sender) && !is_agent(cv->agents, it->sender)))
      finish(it, STORE_ENOTFOUND);
    else if (!store_payload_fits(it->job->params, type && !strcmp(type, "secret")))
      finish(it, STORE_EINVAL);
    else
      check_reply(b, it);
  }
  return 0;
}

/* A flow's client_id ("flow-<id>", the server's own): its message is retried
 * by whoever answers the conversation, owner or agent, whatever the sender. */
static int flow_client_id(const char *client_id) {
  return client_id && strncmp(client_id, "flow-", 5) == 0;
}

static int matches(const item_t *it, const bson_t *doc) {
  if (it->ext && same(it->ext, mongo_bson_str(doc, "external_id"))) return 1;
  if (!it->client_id || !same(it->client_id, mongo_bson_str(doc, "client_id")) ||
      !same(it->cid, mongo_bson_str(doc, "conversation_id")))
    return 0;
  return same(it->sender, mongo_bson_str(doc, "sender_id")) ||
         (flow_client_id(it->client_id) && same("flow", mongo_bson_str(doc, "source")));
}

static void got_original(void *arg, const bson_t *doc) {
  batch_t *b = arg;
  for (int i = 0; i < b->n; i++)
    if (b->items[i].state == PENDING && matches(&b->items[i], doc)) answer(b, &b->items[i], doc, 0);
}

enum { K_CONV, K_SENDER, K_CLIENT, K_EXT, K_FLOW_CONV, K_FLOW_CLIENT };

/* One key of a pending item, for the idempotency query (NULL when it has none:
 * the first three only count with a client_id). */
static const char *key_of(const item_t *it, int which) {
  if (it->state != PENDING) return NULL;
  if (which == K_EXT) return it->ext;
  if (which == K_FLOW_CONV || which == K_FLOW_CLIENT)
    return !flow_client_id(it->client_id) ? NULL : which == K_FLOW_CONV ? it->cid : it->client_id;
  if (!it->client_id) return NULL;
  return which == K_CONV ? it->cid : which == K_SENDER ? it->sender : it->client_id;
}

/* Appends {key: {$in: [the items' values]}}; returns how many values. */
static int append_in(batch_t *b, bson_t *doc, const char *key, int which) {
  bson_t in, arr;
  int n = 0;
  bson_append_document_begin(doc, key, -1, &in);
  bson_append_array_begin(&in, "$in", -1, &arr);
  for (int i = 0; i < b->n; i++) {
    const char *v = key_of(&b->items[i], which);
    if (!v) continue;
    char k[24];
    snprintf(k, sizeof(k), "%d", n++);
    BSON_APPEND_UTF8(&arr, k, v);
  }
  bson_append_array_end(&in, &arr);
  bson_append_document_end(doc, &in);
  return n;
}

/* Phase 2: a client_id or external_id seen before answers with the original;
 * one seen earlier in this batch answers with that job's message later. The
 * query is a superset ($in on each key of the unique indexes, so it runs on
 * them); matches() picks the exact ones. */
static int find_originals(batch_t *b) {
  bson_t filter = BSON_INITIALIZER, arr, clause;
  bson_append_array_begin(&filter, "$or", -1, &arr);
  bson_append_document_begin(&arr, "0", -1, &clause);
  int n = append_in(b, &clause, "conversation_id", K_CONV);
  append_in(b, &clause, "sender_id", K_SENDER);
  append_in(b, &clause, "client_id", K_CLIENT);
  bson_append_document_end(&arr, &clause);
  bson_append_document_begin(&arr, "1", -1, &clause);
  n += append_in(b, &clause, "external_id", K_EXT);
  bson_append_document_end(&arr, &clause);
  /* A flow's message, retried by another sender than the flow's. */
  bson_append_document_begin(&arr, "2", -1, &clause);
  n += append_in(b, &clause, "conversation_id", K_FLOW_CONV);
  append_in(b, &clause, "client_id", K_FLOW_CLIENT);
  BSON_APPEND_UTF8(&clause, "source", "flow");
  bson_append_document_end(&arr, &clause);
  bson_append_array_end(&filter, &arr);
  int rc = n ? each_doc(b, MC_MSGS, &filter, got_original) : 0;
  bson_destroy(&filter);
  for (int i = 0; rc == 0 && i < b->n; i++) {
    item_t *it = &b->items[i];
    for (int j = 0; it->state == PENDING && j < i; j++) {
      item_t *o = &b->items[j];
      if ((o->state == PENDING || o->state == DUP) && o->dup_of < 0 &&
          ((it->ext && same(it->ext, o->ext)) ||
           (it->client_id && same(it->client_id, o->client_id) && same(it->sender, o->sender) &&
            same(it->cid, o->cid)))) {
        it->state = DUP;
        it->dup_of = j;
      }
    }
  }
  return rc;
}

/* Phase 3: one $inc per conversation reserves seq end-count+1 .. end. */
static void reserve(batch_t *b) {
  for (int i = 0; i < b->n; i++)
    if (b->items[i].state == PENDING) b->convs[b->items[i].conv].count++;
  for (int k = 0; k < b->nconv; k++) {
    conv_t *cv = &b->convs[k];
    if (!cv->count) continue;
    bson_t *q = BCON_NEW("_id", BCON_UTF8(cv->cid));
    bson_t *update = BCON_NEW("$inc", "{", "last_seq", BCON_INT64(cv->count), "}");
    bson_t after;
    int rc = mongo_query_modify(b->c, MC_CONVS, q, update, 0, 1, &after);
    bson_destroy(q);
    bson_destroy(update);
    if (rc == 1) {
      bson_destroy(&cv->doc);
      bson_steal(&cv->doc, &after);
      cv->end = mongo_bson_int(&cv->doc, "last_seq", 0);
      continue;
    }
    for (int i = 0; i < b->n; i++)
      if (b->items[i].state == PENDING && b->items[i].conv == k)
        finish(&b->items[i], rc == 0 ? STORE_ENOTFOUND : rc);
    cv->count = 0;
  }
}

/* Attachments are {type, ...} with string members (url, title, payload,
 * raw_type, id, name, content_type, ...) and integer ones (size); the rest is
 * dropped, and names are never operators or paths. */
static void append_attachments(bson_t *doc, json_t *att) {
  bson_t arr, one;
  size_t i, n = 0;
  json_t *a, *v;
  const char *key;
  bson_append_array_begin(doc, "attachments", -1, &arr);
  json_array_foreach(att, i, a) {
    const char *type = mongo_param_str(a, "type");
    if (!type) continue;
    char k[24];
    snprintf(k, sizeof(k), "%zu", n++);
    bson_append_document_begin(&arr, k, -1, &one);
    BSON_APPEND_UTF8(&one, "type", type);
    json_object_foreach(a, key, v) {
      if (strcmp(key, "type") == 0 || key[0] == '$' || strchr(key, '.')) continue;
      if (json_is_string(v))
        BSON_APPEND_UTF8(&one, key, json_string_value(v));
      else if (json_is_integer(v))
        BSON_APPEND_INT64(&one, key, (int64_t)json_integer_value(v));
    }
    bson_append_document_end(&arr, &one);
  }
  bson_append_array_end(doc, &arr);
}

static bson_t *new_doc(batch_t *b, item_t *it, int64_t seq) {
  json_t *p = it->job->params;
  const char *source = mongo_param_str(p, "source");
  char id[25];
  util_new_ordered_id(id);
  bson_t *doc = BCON_NEW("_id", BCON_UTF8(id), "conversation_id", BCON_UTF8(it->cid), "seq",
                         BCON_INT64(seq), "sender_id", BCON_UTF8(it->sender));
  mongo_bson_append_json(
      doc, "text", json_is_string(json_object_get(p, "text")) ? json_object_get(p, "text") : NULL);
  mongo_bson_append_json(doc, "client_id", json_object_get(p, "client_id"));
  BSON_APPEND_UTF8(doc, "source", source ? source : "web");
  BSON_APPEND_DATE_TIME(doc, "created_at", b->now);
  BSON_APPEND_NULL(doc, "edited_at");
  BSON_APPEND_BOOL(doc, "deleted", false);
  bson_t empty;
  BSON_APPEND_ARRAY_BEGIN(doc, "reactions", &empty);
  bson_append_array_end(doc, &empty);
  append_attachments(doc, json_object_get(p, "attachments"));
  if (it->ext)
    BSON_APPEND_UTF8(doc, "external_id", it->ext); /* absent otherwise: the index is sparse */
  const char *status = mongo_param_str(p, "status");
  if (status) {
    BSON_APPEND_UTF8(doc, "status", status); /* a send through the Graph API */
    BSON_APPEND_NULL(doc, "error");
  }
  json_t *reply = json_object_get(p, "_reply"), *mentions = json_object_get(p, "mentions");
  if (reply) mongo_bson_append_json(doc, "reply_to", reply);
  if (json_array_size(mentions) > 0) mongo_bson_append_json(doc, "mentions", mentions);
  /* ciphertexts (keyed by device ids) or a call's record, kept as JSON text:
   * keys that came from a client never become field names. */
  json_t *payload = json_object_get(p, "payload");
  if (json_is_object(payload)) mongo_bson_append_text(doc, "payload", payload);
  return doc;
}

/* A duplicate key on insert: another writer stored the same client_id or
 * external_id between our check and our insert. Its message is the answer. */
static void resolve_dup(batch_t *b, item_t *it) {
  bson_t *filter = it->ext ? BCON_NEW("external_id", BCON_UTF8(it->ext))
                   : it->client_id
                       ? BCON_NEW("conversation_id", BCON_UTF8(it->cid), "sender_id",
                                  BCON_UTF8(it->sender), "client_id", BCON_UTF8(it->client_id))
                       : NULL;
  bson_t doc;
  int rc = filter ? mongo_query_one(b->c, MC_MSGS, filter, NULL, &doc) : 0;
  bson_destroy(filter);
  log_warn("store mongo: msg_insert: concurrent duplicate in conversation %s (seq %lld unused)",
           it->cid, (long long)mongo_bson_int(it->doc, "seq", 0));
  if (rc == 1) {
    answer(b, it, &doc, 0);
    bson_destroy(&doc);
  } else {
    finish(it, rc < 0 ? rc : STORE_ECONFLICT);
  }
}

static int insert_result(batch_t *b, item_t **ins, int n, const bson_t *reply,
                         const bson_error_t *e) {
  bson_iter_t it, errs;
  int listed = bson_iter_init_find(&it, reply, "writeErrors") && bson_iter_recurse(&it, &errs);
  if (!listed) {
    int status = mongo_ctx_error(b->c, e);
    for (int i = 0; i < n; i++) finish(ins[i], status);
    return -1;
  }
  while (bson_iter_next(&errs)) {
    bson_iter_t f;
    int64_t idx = -1, code = 0;
    if (bson_iter_recurse(&errs, &f))
      while (bson_iter_next(&f)) {
        if (!strcmp(bson_iter_key(&f), "index")) idx = bson_iter_as_int64(&f);
        if (!strcmp(bson_iter_key(&f), "code")) code = bson_iter_as_int64(&f);
      }
    if (idx < 0 || idx >= n) continue;
    if (code == 11000)
      resolve_dup(b, ins[idx]);
    else
      finish(ins[idx], mongo_ctx_error(b->c, e));
  }
  return 0;
}

/* Phase 4: one insert_many, unordered so one duplicate does not stop the rest. */
static void insert(batch_t *b) {
  item_t **ins = calloc((size_t)b->n, sizeof(*ins));
  const bson_t **docs = calloc((size_t)b->n, sizeof(*docs));
  int n = 0;
  for (int k = 0; k < b->nconv; k++) b->convs[k].next = b->convs[k].end - b->convs[k].count + 1;
  for (int i = 0; ins && docs && i < b->n; i++) {
    item_t *it = &b->items[i];
    if (it->state != PENDING) continue;
    it->doc = new_doc(b, it, b->convs[it->conv].next++);
    ins[n] = it;
    docs[n++] = it->doc;
  }
  if (!ins || !docs) {
    fail_pending(b, STORE_EUNAVAILABLE);
  } else if (n) {
    bson_t *opts = BCON_NEW("ordered", BCON_BOOL(false));
    bson_t reply;
    bson_error_t e;
    if (!mongoc_collection_insert_many(mongo_ctx_coll(b->c, MC_MSGS), docs, (size_t)n, opts, &reply,
                                       &e))
      insert_result(b, ins, n, &reply, &e);
    bson_destroy(&reply);
    bson_destroy(opts);
    for (int i = 0; i < n; i++)
      if (ins[i]->state == PENDING) answer(b, ins[i], ins[i]->doc, 1);
  }
  free(ins);
  free(docs);
}

/* Each participant the message mentions, but its sender, has one more unread
 * mention. */
static int count_mentions(item_t *it, mongoc_bulk_operation_t *bulk) {
  size_t i;
  json_t *v;
  int ops = 0;
  json_array_foreach(json_object_get(it->job->params, "mentions"), i, v) {
    if (same(json_string_value(v), it->sender)) continue;
    bson_t *f = BCON_NEW("_id", BCON_UTF8(it->cid), "participants", "{", "$elemMatch", "{", "id",
                         BCON_UTF8(json_string_value(v)), "}", "}");
    bson_t *u = BCON_NEW("$inc", "{", "participants.$.mention_count", BCON_INT64(1), "}");
    ops += mongoc_bulk_operation_update_one_with_opts(bulk, f, u, NULL, NULL);
    bson_destroy(f);
    bson_destroy(u);
  }
  return ops;
}

static int bulk_conv_updates(batch_t *b, mongoc_bulk_operation_t *bulk) {
  int ops = 0;
  for (int k = 0; k < b->nconv; k++) {
    const bson_t *last = NULL;
    for (int i = 0; i < b->n; i++) {
      item_t *it = &b->items[i];
      if (it->conv != k || !it->doc || it->job->status != STORE_OK ||
          !json_is_true(json_object_get(it->job->result, "created")))
        continue;
      if (!last || mongo_bson_int(it->doc, "seq", 0) > mongo_bson_int(last, "seq", 0))
        last = it->doc;
      int agent = !mongo_conv_role(&b->convs[k].doc, it->sender);
      if (agent && !is_agent(b->convs[k].agents, it->sender)) continue;
      char field[96];
      snprintf(field, sizeof(field), "agent_reads.%s", it->sender);
      bson_t *f = agent ? BCON_NEW("_id", BCON_UTF8(it->cid))
                        : BCON_NEW("_id", BCON_UTF8(it->cid), "participants", "{", "$elemMatch",
                                   "{", "id", BCON_UTF8(it->sender), "}", "}");
      int64_t seq = mongo_bson_int(it->doc, "seq", 0);
      bson_t *u = agent ? BCON_NEW("$max", "{", field, BCON_INT64(seq), "}")
                        : BCON_NEW("$max", "{", "participants.$.last_read_seq", BCON_INT64(seq),
                                   "participants.$.last_delivered_seq", BCON_INT64(seq), "}");
      ops += mongoc_bulk_operation_update_one_with_opts(bulk, f, u, NULL, NULL);
      bson_destroy(f);
      bson_destroy(u);
      ops += count_mentions(it, bulk);
    }
    if (!last) continue;
    /* Concurrent writers (other instances) may finish out of order: only a
     * later seq replaces last_message. */
    bson_t *f = BCON_NEW("_id", BCON_UTF8(b->convs[k].cid), "$or", "[", "{", "last_message",
                         BCON_NULL, "}", "{", "last_message.seq", "{", "$lt",
                         BCON_INT64(mongo_bson_int(last, "seq", 0)), "}", "}", "]");
    bson_t *u =
        BCON_NEW("$set", "{", "last_message", BCON_DOCUMENT(last), "}", "$max", "{", "updated_at",
                 BCON_DATE_TIME(b->now), "activity", BCON_INT64(mongo_ctx_order(b->c)), "}");
    ops += mongoc_bulk_operation_update_one_with_opts(bulk, f, u, NULL, NULL);
    bson_destroy(f);
    bson_destroy(u);
  }
  return ops;
}

/* Phase 5: last_message, updated_at and read markers, in one round trip. A
 * failure here leaves the messages stored (they are the truth) and is logged. */
static void update_convs(batch_t *b) {
  bson_t *opts = BCON_NEW("ordered", BCON_BOOL(false));
  mongoc_bulk_operation_t *bulk =
      mongoc_collection_create_bulk_operation_with_opts(mongo_ctx_coll(b->c, MC_CONVS), opts);
  int ops = bulk_conv_updates(b, bulk);
  bson_t reply;
  bson_error_t e;
  if (ops > 0) {
    if (!mongoc_bulk_operation_execute(bulk, &reply, &e)) mongo_ctx_error(b->c, &e);
    bson_destroy(&reply);
  }
  mongoc_bulk_operation_destroy(bulk);
  bson_destroy(opts);
  /* A sender with unread mentions read up to their own message: what is left
   * of them is counted again (rare: only then). */
  for (int i = 0; i < b->n; i++) {
    item_t *it = &b->items[i];
    if (!it->doc || it->job->status != STORE_OK ||
        !json_is_true(json_object_get(it->job->result, "created")) ||
        mongo_conv_participant_int(&b->convs[it->conv].doc, it->sender, "mention_count") <= 0)
      continue;
    mongo_conv_recount_mentions(b->c, it->cid, it->sender, mongo_bson_int(it->doc, "seq", 0));
  }
}

static void copy_dups(batch_t *b) {
  for (int i = 0; i < b->n; i++) {
    item_t *it = &b->items[i];
    if (it->state != DUP) continue;
    item_t *o = &b->items[it->dup_of];
    if (o->job->status != STORE_OK) {
      finish(it, o->job->status);
      continue;
    }
    it->job->result = json_deep_copy(o->job->result);
    json_object_set_new(it->job->result, "created", json_false());
    finish(it, STORE_OK);
  }
}

/* A channel admin's marker lives in channel_members: it read what it wrote.
 * As for update_convs, a failure leaves the messages stored. */
static void mark_channel_senders(batch_t *b) {
  for (int i = 0; i < b->n; i++) {
    item_t *it = &b->items[i];
    if (!it->doc || it->job->status != STORE_OK || !mongo_channel_is(&b->convs[it->conv].doc) ||
        !json_is_true(json_object_get(it->job->result, "created")))
      continue;
    if (mongo_channel_mark(b->c, it->cid, it->sender, mongo_bson_int(it->doc, "seq", 0), NULL) < 0)
      log_warn("store: mongo: a channel sender's read marker did not move");
  }
}

/* Each attachment a new message took is used by one more message (a retry,
 * not created, counts nothing). As for update_convs, a failure leaves the
 * messages stored: the file is then freed one deletion early, never lost
 * while counted. */
static void count_refs(batch_t *b) {
  for (int i = 0; i < b->n; i++) {
    item_t *it = &b->items[i];
    json_t *ids = json_object_get(it->job->params, "attachment_ids"), *v;
    size_t k;
    if (!it->doc || it->job->status != STORE_OK || !json_is_array(ids) ||
        !json_is_true(json_object_get(it->job->result, "created")))
      continue;
    json_array_foreach(ids, k, v) {
      bson_t *f = BCON_NEW("_id", BCON_UTF8(json_string_value(v)));
      bson_t *u = BCON_NEW("$inc", "{", "refs", BCON_INT64(1), "}");
      if (mongo_query_update(b->c, MC_ATTACH, f, u, 0) < 0)
        log_warn("store: mongo: an attachment's use was not counted");
      bson_destroy(f);
      bson_destroy(u);
    }
  }
}

/* The webhook events whose messages are now stored (new, or the original of a
 * retry) are marked processed in one update, after the messages: a crash
 * between the two leaves an event pending, whose retry finds its message. A
 * failure here leaves the events for the processor to mark on its own (their
 * results then carry no event_processed). */
static void mark_events(batch_t *b) {
  bson_t *filter = bson_new(), in, arr;
  BSON_APPEND_DOCUMENT_BEGIN(filter, "_id", &in);
  BSON_APPEND_ARRAY_BEGIN(&in, "$in", &arr);
  int k = 0;
  for (int i = 0; i < b->n; i++) {
    const char *event = json_string_value(json_object_get(b->items[i].job->params, "event_id"));
    if (!event || b->items[i].job->status != STORE_OK) continue;
    char key[16];
    snprintf(key, sizeof(key), "%d", k++);
    BSON_APPEND_UTF8(&arr, key, event);
  }
  bson_append_array_end(&in, &arr);
  bson_append_document_end(filter, &in);
  bson_t *update = BCON_NEW("$set", "{", "processed", BCON_BOOL(true), "}");
  if (k > 0 && mongo_query_update(b->c, MC_EVENTS, filter, update, 1) >= 0) {
    for (int i = 0; i < b->n; i++) {
      store_job_t *job = b->items[i].job;
      if (job->status == STORE_OK && json_is_string(json_object_get(job->params, "event_id")))
        json_object_set_new(job->result, "event_processed", json_true());
    }
  } else if (k > 0) {
    log_warn("store: mongo: webhook events were not marked with their messages");
  }
  bson_destroy(filter);
  bson_destroy(update);
}

void mongo_msg_insert_batch(mongo_ctx_t *c, store_job_t **jobs, int n) {
  item_t items[n];
  conv_t convs[n];
  memset(items, 0, sizeof(items));
  memset(convs, 0, sizeof(convs));
  for (int i = 0; i < n; i++) bson_init(&convs[i].doc);
  batch_t b = {.c = c, .items = items, .convs = convs, .n = n, .now = util_now_ms()};
  for (int i = 0; i < n; i++) {
    items[i].job = jobs[i];
    parse(&b, &items[i]);
  }
  int rc = load_convs(&b);
  if (rc == 0) rc = find_originals(&b);
  if (rc < 0) {
    fail_pending(&b, rc);
    for (int i = 0; i < n; i++)
      if (items[i].state == DUP) finish(&items[i], rc);
  } else {
    reserve(&b);
    insert(&b);
    update_convs(&b);
    count_refs(&b);
    mark_channel_senders(&b);
    copy_dups(&b);
    mark_events(&b);
  }
  for (int i = 0; i < n; i++) {
    bson_destroy(items[i].doc);
    bson_destroy(&convs[i].doc);
    json_decref(convs[i].agents);
  }
}

/* MSG_INSERT on its own: a batch of one. */
int mongo_msg_insert(mongo_ctx_t *c, json_t *params, json_t **result) {
  store_job_t job = {.op = MSG_INSERT, .params = params};
  store_job_t *jobs[1] = {&job};
  mongo_msg_insert_batch(c, jobs, 1);
  *result = job.result;
  return job.status;
}
