/* Messages in "messages": history pages by seq, reads, edits, deletes and
 * reactions (inserts, batched, are in mongo_msg_insert.c). A change to the last
 * message is copied into its conversation's last_message. Worker thread. */
#include <string.h>

#include "parley/log.h"
#include "parley/util.h"
#include "store/mongo/mongo_internal.h"

json_t *mongo_msg_json(mongo_ctx_t *c, const bson_t *doc) {
  json_t *m = json_object();
  json_object_set_new(m, "id", mongo_bson_json(doc, "_id"));
  json_object_set_new(m, "conversation_id", mongo_bson_json(doc, "conversation_id"));
  json_object_set_new(m, "seq", json_integer(mongo_bson_int(doc, "seq", 0)));
  json_object_set_new(m, "sender_id", mongo_bson_json(doc, "sender_id"));
  json_object_set_new(m, "text", mongo_bson_json(doc, "text"));
  json_object_set_new(m, "client_id", mongo_bson_json(doc, "client_id"));
  json_object_set_new(m, "source", mongo_bson_json(doc, "source"));
  json_object_set_new(m, "created_at", mongo_bson_iso(doc, "created_at"));
  json_object_set_new(m, "edited_at", mongo_bson_iso(doc, "edited_at"));
  json_object_set_new(m, "deleted", json_boolean(mongo_bson_bool(doc, "deleted")));
  json_t *reactions = mongo_bson_json(doc, "reactions"),
         *attachments = mongo_bson_json(doc, "attachments");
  /* An entry is created before its first user is added (two atomic steps),
   * and the last user's removal leaves it empty: readers never see those. */
  size_t ri = 0;
  while (json_is_array(reactions) && ri < json_array_size(reactions)) {
    if (json_array_size(json_object_get(json_array_get(reactions, ri), "user_ids")) == 0)
      json_array_remove(reactions, ri);
    else
      ri++;
  }
  json_object_set_new(m, "reactions", json_is_array(reactions) ? reactions : json_array());
  json_object_set_new(m, "attachments", json_is_array(attachments) ? attachments : json_array());
  if (!json_is_array(reactions)) json_decref(reactions);
  if (!json_is_array(attachments)) json_decref(attachments);
  if (mongo_bson_str(doc, "external_id"))
    json_object_set_new(m, "external_id", mongo_bson_json(doc, "external_id"));
  if (mongo_bson_str(doc, "status")) {
    json_t *error = mongo_bson_json(doc, "error");
    json_object_set_new(m, "status", mongo_bson_json(doc, "status"));
    json_object_set_new(m, "error", json_is_object(error) ? error : json_null());
    if (!json_is_object(error)) json_decref(error);
  }
  bson_iter_t it;
  if (bson_iter_init_find(&it, doc, "reply_to") && BSON_ITER_HOLDS_DOCUMENT(&it))
    json_object_set_new(m, "reply_to", mongo_bson_json(doc, "reply_to"));
  if (bson_iter_init_find(&it, doc, "mentions") && BSON_ITER_HOLDS_ARRAY(&it))
    json_object_set_new(m, "mentions", mongo_bson_json(doc, "mentions"));
  json_t *extra = mongo_bson_parsed(doc, "payload", NULL); /* ciphertexts, call */
  if (json_is_object(extra)) json_object_update(m, extra);
  json_decref(extra);
  return m;
}

static int load_msg(mongo_ctx_t *c, const char *field, const char *value, bson_t *doc) {
  bson_t *filter = BCON_NEW(field, BCON_UTF8(value));
  int rc = mongo_query_one(c, MC_MSGS, filter, NULL, doc);
  bson_destroy(filter);
  return rc == 1 ? STORE_OK : rc == 0 ? STORE_ENOTFOUND : rc;
}

/* Loads a message and its conversation; with user_id, the user must be a
 * participant (ENOTFOUND otherwise, so ids cannot be probed). */
static int load_pair(mongo_ctx_t *c, const char *id, const char *user_id, bson_t *msg,
                     bson_t *conv) {
  int rc = load_msg(c, "_id", id, msg);
  if (rc != STORE_OK) return rc;
  const char *cid = mongo_bson_str(msg, "conversation_id");
  rc = cid ? mongo_conv_load(c, cid, user_id, conv) : STORE_ENOTFOUND;
  if (rc != STORE_OK) bson_destroy(msg);
  return rc;
}

static json_t *with_participants(mongo_ctx_t *c, const bson_t *msg, const bson_t *conv) {
  return json_pack("{s:o, s:o}", "message", mongo_msg_json(c, msg), "participant_ids",
                   mongo_conv_recipients(c, conv));
}

int mongo_msg_get(mongo_ctx_t *c, json_t *p, json_t **r) {
  const char *id = mongo_param_str(p, "id"), *ext = mongo_param_str(p, "external_id");
  if (!id && !ext) return STORE_EINVAL;
  bson_t msg, conv;
  int rc = load_msg(c, id ? "_id" : "external_id", id ? id : ext, &msg);
  if (rc != STORE_OK) return rc;
  rc = mongo_conv_load(c, mongo_bson_str(&msg, "conversation_id"), NULL, &conv);
  if (rc == STORE_OK) {
    *r = with_participants(c, &msg, &conv);
    bson_destroy(&conv);
  }
  bson_destroy(&msg);
  return rc;
}

int mongo_msg_list(mongo_ctx_t *c, json_t *p, json_t **r) {
  const char *cid = mongo_param_str(p, "conversation_id"), *user = mongo_param_str(p, "user_id");
  int64_t limit = 50, before = -1, after = -1;
  mongo_param_int(p, "limit", &limit);
  mongo_param_int(p, "before_seq", &before);
  mongo_param_int(p, "after_seq", &after);
  if (!cid || !user || limit < 1) return STORE_EINVAL;
  bson_t conv;
  int rc = mongo_conv_load(c, cid, user, &conv);
  if (rc != STORE_OK) return rc;
  bson_destroy(&conv);
  /* Newest first (then reversed) unless paging forward from after_seq. */
  int asc = after >= 0 && before < 0;
  bson_t *filter = BCON_NEW("conversation_id", BCON_UTF8(cid));
  bson_t range;
  if (before >= 0 || after >= 0) {
    bson_append_document_begin(filter, "seq", -1, &range);
    if (before >= 0) BSON_APPEND_INT64(&range, "$lt", before);
    if (after >= 0) BSON_APPEND_INT64(&range, "$gt", after);
    bson_append_document_end(filter, &range);
  }
  bson_t *opts =
      BCON_NEW("sort", "{", "seq", BCON_INT32(asc ? 1 : -1), "}", "limit", BCON_INT64(limit + 1));
  json_t *msgs = json_array();
  rc = mongo_query_map(c, MC_MSGS, filter, opts, mongo_msg_json, msgs);
  bson_destroy(filter);
  bson_destroy(opts);
  if (rc < 0) {
    json_decref(msgs);
    return rc;
  }
  int more = json_array_size(msgs) > (size_t)limit;
  if (more) json_array_remove(msgs, (size_t)limit);
  if (!asc) {
    json_t *rev = json_array();
    for (size_t i = json_array_size(msgs); i-- > 0;)
      json_array_append(rev, json_array_get(msgs, i));
    json_decref(msgs);
    msgs = rev;
  }
  *r = json_pack("{s:o, s:b}", "messages", msgs, "has_more", more);
  return STORE_OK;
}

/* Keeps the conversation's copy of its last message in step with an edit. */
static void sync_last(mongo_ctx_t *c, const bson_t *msg) {
  const char *cid = mongo_bson_str(msg, "conversation_id"), *id = mongo_bson_str(msg, "_id");
  if (!cid || !id) return;
  bson_t *filter = BCON_NEW("_id", BCON_UTF8(cid), "last_message._id", BCON_UTF8(id));
  bson_t *update = BCON_NEW("$set", "{", "last_message", BCON_DOCUMENT(msg), "}");
  mongo_query_update(c, MC_CONVS, filter, update, 0);
  bson_destroy(filter);
  bson_destroy(update);
}

/* Applies update to the message and answers with the new version. */
static int change(mongo_ctx_t *c, const char *id, const bson_t *update, const bson_t *conv,
                  json_t **r) {
  bson_t *q = BCON_NEW("_id", BCON_UTF8(id));
  bson_t doc;
  int rc = mongo_query_modify(c, MC_MSGS, q, update, 0, 1, &doc);
  bson_destroy(q);
  if (rc <= 0) return rc == 0 ? STORE_ENOTFOUND : rc;
  sync_last(c, &doc);
  *r = with_participants(c, &doc, conv);
  bson_destroy(&doc);
  return STORE_OK;
}

int mongo_msg_edit(mongo_ctx_t *c, json_t *p, json_t **r) {
  const char *id = mongo_param_str(p, "id"), *user = mongo_param_str(p, "user_id");
  const char *text = mongo_param_str(p, "text");
  if (!id || !user || !text) return STORE_EINVAL;
  bson_t msg, conv;
  /* check_member false: an Instagram contact ("ig:<id>") edits its message. */
  int check = !json_is_false(json_object_get(p, "check_member"));
  int rc = load_pair(c, id, check ? user : NULL, &msg, &conv);
  if (rc != STORE_OK) return rc;
  const char *sender = mongo_bson_str(&msg, "sender_id");
  /* An end-to-end encrypted message (payload.ciphertexts) is not the
   * server's to edit. */
  json_t *extra = mongo_bson_parsed(&msg, "payload", NULL);
  int sealed = json_object_get(extra, "ciphertexts") != NULL;
  json_decref(extra);
  if (!sender || strcmp(sender, user) || mongo_bson_bool(&msg, "deleted") || sealed) {
    rc = STORE_EFORBIDDEN;
  } else {
    bson_t *update = BCON_NEW("$set", "{", "text", BCON_UTF8(text), "edited_at",
                              BCON_DATE_TIME(util_now_ms()), "}");
    rc = change(c, id, update, &conv, r);
    bson_destroy(update);
  }
  bson_destroy(&msg);
  bson_destroy(&conv);
  return rc;
}

int mongo_msg_delete(mongo_ctx_t *c, json_t *p, json_t **r) {
  const char *id = mongo_param_str(p, "id"), *user = mongo_param_str(p, "user_id");
  if (!id || !user) return STORE_EINVAL;
  bson_t msg, conv;
  /* check_member false: an Instagram contact ("ig:<id>") unsends its message. */
  int check = !json_is_false(json_object_get(p, "check_member"));
  int rc = load_pair(c, id, check ? user : NULL, &msg, &conv);
  if (rc != STORE_OK) return rc;
  const char *sender = mongo_bson_str(&msg, "sender_id"), *role = NULL;
  const char *type = mongo_bson_str(&conv, "type");
  int admin = type && (!strcmp(type, "group") || !strcmp(type, "channel")) &&
              mongo_conv_role_of(c, &conv, user, &role) == 1 && !strcmp(role, "admin");
  if (!(sender && !strcmp(sender, user)) && !admin) {
    rc = STORE_EFORBIDDEN;
  } else {
    /* Marked deleted first (only once: the filter), then its attachments
     * released: a deletion retried after a failure between the two leaves
     * the files in storage, never removes one still in use. */
    json_t *att = mongo_bson_json(&msg, "attachments"), *removed = json_array();
    int was = mongo_bson_bool(&msg, "deleted");
    bson_t *update = BCON_NEW("$set", "{", "deleted", BCON_BOOL(true), "text", BCON_NULL, "payload",
                              BCON_NULL, "attachments", "[", "]", "}");
    rc = change(c, id, update, &conv, r);
    bson_destroy(update);
    if (rc == STORE_OK && !was && json_is_array(att)) {
      int rel = mongo_attach_release(c, att, removed);
      if (rel != STORE_OK) log_warn("store: mongo: a deleted message's files were not released");
    }
    if (rc == STORE_OK) json_object_set(*r, "removed_files", removed);
    json_decref(removed);
    json_decref(att);
  }
  bson_destroy(&msg);
  bson_destroy(&conv);
  return rc;
}

/* A reaction is {emoji, user_ids}: the entry is created only when absent and
 * users are added to it as a set, so concurrent reactions never duplicate. */
static int react_step(mongo_ctx_t *c, const char *id, const char *emoji, const char *user,
                      int add) {
  bson_t *f1, *u1, *f2, *u2;
  if (add) {
    f1 = BCON_NEW("_id", BCON_UTF8(id), "reactions.emoji", "{", "$ne", BCON_UTF8(emoji), "}");
    u1 = BCON_NEW("$push", "{", "reactions", "{", "emoji", BCON_UTF8(emoji), "user_ids", "[", "]",
                  "}", "}");
    f2 = BCON_NEW("_id", BCON_UTF8(id), "reactions", "{", "$elemMatch", "{", "emoji",
                  BCON_UTF8(emoji), "}", "}");
    u2 = BCON_NEW("$addToSet", "{", "reactions.$.user_ids", BCON_UTF8(user), "}");
  } else {
    f1 = BCON_NEW("_id", BCON_UTF8(id), "reactions", "{", "$elemMatch", "{", "emoji",
                  BCON_UTF8(emoji), "}", "}");
    u1 = BCON_NEW("$pull", "{", "reactions.$.user_ids", BCON_UTF8(user), "}");
    f2 = BCON_NEW("_id", BCON_UTF8(id));
    u2 = BCON_NEW("$pull", "{", "reactions", "{", "user_ids", "{", "$size", BCON_INT32(0), "}", "}",
                  "}");
  }
  int rc = mongo_query_update(c, MC_MSGS, f1, u1, 0);
  if (rc >= 0) rc = mongo_query_update(c, MC_MSGS, f2, u2, 0);
  bson_destroy(f1);
  bson_destroy(u1);
  bson_destroy(f2);
  bson_destroy(u2);
  return rc < 0 ? rc : STORE_OK;
}

int mongo_msg_react(mongo_ctx_t *c, json_t *p, json_t **r) {
  const char *id = mongo_param_str(p, "id"), *user = mongo_param_str(p, "user_id");
  const char *emoji = mongo_param_str(p, "emoji");
  json_t *add = json_object_get(p, "add");
  if (!id || !user || !emoji || !json_is_boolean(add)) return STORE_EINVAL;
  bson_t msg, conv;
  /* check_member false: a reaction from an Instagram contact ("ig:<id>"), who
   * is not a participant of the conversation. */
  int check = !json_is_false(json_object_get(p, "check_member"));
  int rc = load_pair(c, id, check ? user : NULL, &msg, &conv);
  if (rc != STORE_OK) return rc;
  bson_destroy(&msg);
  rc = react_step(c, id, emoji, user, json_is_true(add));
  if (rc == STORE_OK && (rc = load_msg(c, "_id", id, &msg)) == STORE_OK) {
    sync_last(c, &msg);
    *r = with_participants(c, &msg, &conv);
    bson_destroy(&msg);
  }
  bson_destroy(&conv);
  return rc;
}

/* The delivery of a message sent through the Graph API: one conditional
 * findAndModify, so two retries cannot both claim a failed send. */
int mongo_msg_set_delivery(mongo_ctx_t *c, json_t *p, json_t **r) {
  const char *id = mongo_param_str(p, "id"), *status = mongo_param_str(p, "status");
  const char *expect = mongo_param_str(p, "expect"), *ext = mongo_param_str(p, "external_id");
  json_t *error = json_object_get(p, "error");
  if (!id || !status || (error && !json_is_object(error) && !json_is_null(error)) ||
      (expect && strcmp(expect, "pending") != 0 && strcmp(expect, "failed") != 0))
    return STORE_EINVAL;
  json_t *until = json_object_get(p, "pending_until_ms");
  if (until && !json_is_integer(until)) return STORE_EINVAL;
  const char *conv_id = mongo_param_str(p, "conversation_id");
  if (json_object_get(p, "conversation_id") && !conv_id) return STORE_EINVAL;
  if (ext) {
    /* An echo gave Meta's id to another message first: it stays there. */
    bson_t *held = BCON_NEW("external_id", BCON_UTF8(ext), "_id", "{", "$ne", BCON_UTF8(id), "}");
    int found = mongo_query_one(c, MC_MSGS, held, NULL, NULL);
    bson_destroy(held);
    if (found < 0) return found;
    if (found) ext = NULL;
  }
  bson_t *q = expect ? BCON_NEW("_id", BCON_UTF8(id), "status", BCON_UTF8(expect))
                     : BCON_NEW("_id", BCON_UTF8(id), "status", "{", "$in", "[",
                                BCON_UTF8("pending"), BCON_UTF8("failed"), "]", "}");
  if (conv_id) BSON_APPEND_UTF8(q, "conversation_id", conv_id);
  bson_t *update = bson_new(), set;
  bson_append_document_begin(update, "$set", -1, &set);
  BSON_APPEND_UTF8(&set, "status", status);
  mongo_bson_append_json(&set, "error", json_is_object(error) ? error : NULL);
  if (ext) BSON_APPEND_UTF8(&set, "external_id", ext);
  if (strcmp(status, "pending") == 0 && until)
    BSON_APPEND_INT64(&set, "pending_until_ms", (int64_t)json_integer_value(until));
  else
    BSON_APPEND_NULL(&set, "pending_until_ms");
  bson_append_document_end(update, &set);
  bson_t doc;
  int rc = mongo_query_modify(c, MC_MSGS, q, update, 0, 1, &doc);
  bson_destroy(q);
  bson_destroy(update);
  if (rc < 0) return rc;
  int changed = rc > 0;
  if (changed) {
    sync_last(c, &doc);
  } else if ((rc = load_msg(c, "_id", id, &doc)) != STORE_OK) {
    return rc;
  }
  bson_t conv;
  rc = mongo_conv_load(c, mongo_bson_str(&doc, "conversation_id"), NULL, &conv);
  if (rc == STORE_OK) {
    *r = with_participants(c, &doc, &conv);
    json_object_set_new(*r, "changed", json_boolean(changed));
    bson_destroy(&conv);
  }
  bson_destroy(&doc);
  return rc;
}

/* The ids of the sends whose lease ran out (see sqlite_msg_fail_pending). */
static void collect_id(void *arg, const bson_t *doc) {
  const char *id = mongo_bson_str(doc, "_id");
  if (id) json_array_append_new(arg, json_string(id));
}

/* Sends whose lease ran out become failed/unknown_outcome, each by one
 * conditional findAndModify, so instances sweeping together change it once. */
int mongo_msg_fail_pending(mongo_ctx_t *c, json_t *p, json_t **r) {
  int64_t stale = mongo_bson_time_param(json_object_get(p, "stale_before")), limit = 100;
  json_t *now = json_object_get(p, "now_ms");
  mongo_param_int(p, "limit", &limit);
  if (stale < 0 || !json_is_integer(now) || limit <= 0 || limit > 1000) return STORE_EINVAL;
  bson_t *filter =
      BCON_NEW("status", BCON_UTF8("pending"), "$or", "[", "{", "pending_until_ms", BCON_NULL,
               "created_at", "{", "$lt", BCON_DATE_TIME(stale), "}", "}", "{", "pending_until_ms",
               "{", "$lt", BCON_INT64((int64_t)json_integer_value(now)), "}", "}", "]");
  bson_t *opts = BCON_NEW("sort", "{", "created_at", BCON_INT32(1), "}", "limit", BCON_INT64(limit),
                          "projection", "{", "_id", BCON_INT32(1), "}");
  json_t *ids = json_array(), *out = json_array(), *id;
  int rc = mongo_query_each(c, MC_MSGS, filter, opts, collect_id, ids);
  bson_destroy(filter);
  bson_destroy(opts);
  bson_t *update = BCON_NEW(
      "$set", "{", "status", BCON_UTF8("failed"), "pending_until_ms", BCON_NULL, "error", "{",
      "code", BCON_UTF8("unknown_outcome"), "message",
      BCON_UTF8("the server sending this message stopped before Instagram answered; it may or "
                "may not have reached Instagram"),
      "}", "}");
  size_t i;
  json_array_foreach(ids, i, id) {
    if (rc < 0) break;
    bson_t *q = BCON_NEW("_id", BCON_UTF8(json_string_value(id)), "status", BCON_UTF8("pending"));
    bson_t doc, conv;
    rc = mongo_query_modify(c, MC_MSGS, q, update, 0, 1, &doc);
    bson_destroy(q);
    if (rc <= 0) continue;
    sync_last(c, &doc);
    if (mongo_conv_load(c, mongo_bson_str(&doc, "conversation_id"), NULL, &conv) == STORE_OK) {
      json_array_append_new(out, with_participants(c, &doc, &conv));
      bson_destroy(&conv);
    }
    bson_destroy(&doc);
  }
  bson_destroy(update);
  json_decref(ids);
  if (rc < 0) {
    json_decref(out);
    return rc;
  }
  *r = json_pack("{s:I, s:o}", "failed", (json_int_t)json_array_size(out), "messages", out);
  return STORE_OK;
}

/* Meta's echo of a send that Graph has not answered yet (see
 * sqlite_msg_match_echo): one conditional findAndModify on the oldest match. */
int mongo_msg_match_echo(mongo_ctx_t *c, json_t *p, json_t **r) {
  const char *conv_id = mongo_param_str(p, "conversation_id");
  const char *ext = mongo_param_str(p, "external_id"), *text = mongo_param_str(p, "text");
  if (!conv_id || !ext || !text) return STORE_EINVAL;
  bson_t *held = BCON_NEW("external_id", BCON_UTF8(ext));
  int rc = mongo_query_one(c, MC_MSGS, held, NULL, NULL);
  bson_destroy(held);
  if (rc != 0) return rc < 0 ? rc : STORE_ENOTFOUND;
  bson_t *q = BCON_NEW("conversation_id", BCON_UTF8(conv_id), "external_id", BCON_NULL, "text",
                       BCON_UTF8(text), "$or", "[", "{", "status", "{", "$in", "[",
                       BCON_UTF8("pending"), BCON_UTF8("sent"), "]", "}", "}", "{", "status",
                       BCON_UTF8("failed"), "error.code", BCON_UTF8("unknown_outcome"), "}", "]");
  bson_t *opts = BCON_NEW("sort", "{", "seq", BCON_INT32(1), "}");
  bson_t doc, conv;
  rc = mongo_query_one(c, MC_MSGS, q, opts, &doc);
  bson_destroy(opts);
  if (rc <= 0) {
    bson_destroy(q);
    return rc == 0 ? STORE_ENOTFOUND : rc;
  }
  /* The oldest match, taken only if it still matches (another instance's
   * sweep or echo may have changed it since). */
  BSON_APPEND_UTF8(q, "_id", mongo_bson_str(&doc, "_id"));
  bson_destroy(&doc);
  bson_t *update = BCON_NEW("$set", "{", "status", BCON_UTF8("sent"), "error", BCON_NULL,
                            "pending_until_ms", BCON_NULL, "external_id", BCON_UTF8(ext), "}");
  rc = mongo_query_modify(c, MC_MSGS, q, update, 0, 1, &doc);
  bson_destroy(q);
  bson_destroy(update);
  if (rc <= 0) return rc == 0 ? STORE_ENOTFOUND : rc;
  sync_last(c, &doc);
  rc = mongo_conv_load(c, mongo_bson_str(&doc, "conversation_id"), NULL, &conv);
  if (rc == STORE_OK) {
    *r = with_participants(c, &doc, &conv);
    bson_destroy(&conv);
  }
  bson_destroy(&doc);
  return rc;
}
