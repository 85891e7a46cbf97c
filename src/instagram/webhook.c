/* Meta's Instagram webhook bodies into normalised events, one per messaging
 * item or change, each with the key that deduplicates it: the message mid for
 * a message, a key naming the event for the rest (an unsend or an edit carries
 * the original mid, so the mid alone would drop it), and a digest of the raw
 * item for shapes without an id. Pure; any thread. */
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "parley/instagram.h"
#include "parley/util.h"

static const char *str_at(json_t *obj, const char *a, const char *b) {
  json_t *v = json_object_get(obj, a);
  if (b) v = json_object_get(v, b);
  return json_is_string(v) ? json_string_value(v) : NULL;
}

static json_int_t timestamp_of(json_t *item) {
  json_t *t = json_object_get(item, "timestamp");
  if (json_is_integer(t)) return json_integer_value(t);
  if (json_is_string(t)) {
    /* The dashboard's test sends seconds as a string. */
    long long v = 0;
    if (sscanf(json_string_value(t), "%lld", &v) == 1) return v < 100000000000LL ? v * 1000 : v;
  }
  return 0;
}

/* A message's attachments as [{type, url}], plus the story it replies to as
 * {type: "story_reply", url, story_id}. */
static json_t *attachments_of(json_t *message) {
  json_t *out = json_array(), *a;
  size_t i;
  json_array_foreach(json_object_get(message, "attachments"), i, a) {
    const char *type = str_at(a, "type", NULL);
    const char *url = str_at(a, "payload", "url");
    if (!type) continue;
    json_array_append_new(out, json_pack("{s:s, s:s?}", "type", type, "url", url));
  }
  json_t *story = json_object_get(json_object_get(message, "reply_to"), "story");
  if (json_is_object(story))
    json_array_append_new(
        out, json_pack("{s:s, s:s?, s:s?}", "type", "story_reply", "url",
                       str_at(story, "url", NULL), "story_id", str_at(story, "id", NULL)));
  return out;
}

/* "raw:" + the hex SHA-256 of the item's canonical JSON: the key of a shape
 * that carries no id, identical when Meta retries the same item. */
static void raw_key(json_t *item, char *key, size_t len) {
  key[0] = '\0';
  char *text = json_dumps(item, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  if (text && len >= 4 + 64 + 1 && EVP_Digest(text, strlen(text), md, &n, EVP_sha256(), NULL) &&
      n == 32) {
    memcpy(key, "raw:", 4);
    util_hex(md, 32, key + 4);
  }
  free(text);
}

/* The name Meta gives an item's event: its first key that is not an envelope
 * field ("message_reactions", "optin", ...), for unsupported shapes. */
static const char *raw_type_of(json_t *item) {
  const char *k;
  json_t *v;
  json_object_foreach(item, k, v) {
    if (strcmp(k, "sender") && strcmp(k, "recipient") && strcmp(k, "timestamp")) return k;
  }
  return "unknown";
}

/* The dedupe key; a key that does not fit (mids are about 100 bytes) is left
 * empty, so the event is stored without deduplication rather than under a
 * truncated key that could collide. */
static void set_key(char *key, size_t len, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(key, len, fmt, ap);
  va_end(ap);
  if (n < 0 || (size_t)n >= len) key[0] = '\0';
}

static const char *kind_names[] = {"message",  "echo",    "reaction", "unreaction",
                                   "seen",     "unsend",  "edit",     "postback",
                                   "referral", "comment", "other"};

/* A message, an echo, or the unsend of one (is_deleted, keyed apart from it). */
static enum ig_event_kind message_event(const char *account, const char *sender,
                                        const char *recipient, json_t *message, json_t *p,
                                        char *key, size_t keylen) {
  int echo = json_is_true(json_object_get(message, "is_echo")) || strcmp(sender, account) == 0;
  const char *mid = str_at(message, "mid", NULL);
  json_object_set_new_nocheck(p, "mid", json_string(mid));
  json_object_set_new_nocheck(p, "contact_id", json_string(echo ? recipient : sender));
  if (json_is_true(json_object_get(message, "is_deleted"))) {
    set_key(key, keylen, "unsend:%s", mid);
    json_object_set_new_nocheck(p, "echo", json_boolean(echo));
    return IG_EV_UNSEND;
  }
  set_key(key, keylen, "%s", mid);
  const char *text = str_at(message, "text", NULL);
  json_object_set_new_nocheck(p, "text", text ? json_string(text) : json_null());
  json_object_set_new_nocheck(p, "attachments", attachments_of(message));
  const char *quick = str_at(message, "quick_reply", "payload");
  if (quick) json_object_set_new_nocheck(p, "quick_reply", json_string(quick));
  return echo ? IG_EV_ECHO : IG_EV_MESSAGE;
}

/* Builds the payload for one messaging item of an entry. */
static json_t *event_of(const char *account, json_t *item, char *key, size_t keylen) {
  const char *sender = str_at(item, "sender", "id");
  const char *recipient = str_at(item, "recipient", "id");
  json_int_t ts = timestamp_of(item);
  json_t *message = json_object_get(item, "message");
  json_t *reaction = json_object_get(item, "reaction");
  json_t *read = json_object_get(item, "read");
  json_t *edit = json_object_get(item, "message_edit");
  json_t *postback = json_object_get(item, "postback");
  json_t *referral = json_object_get(item, "referral");
  enum ig_event_kind kind = IG_EV_OTHER;
  json_t *p = json_object();
  key[0] = '\0';
  if (json_is_object(message) && sender && recipient && str_at(message, "mid", NULL)) {
    kind = message_event(account, sender, recipient, message, p, key, keylen);
  } else if (json_is_object(edit) && sender && str_at(edit, "mid", NULL) &&
             str_at(edit, "text", NULL)) {
    kind = IG_EV_EDIT;
    const char *mid = str_at(edit, "mid", NULL);
    json_int_t n = json_integer_value(json_object_get(edit, "num_edit"));
    set_key(key, keylen, "edit:%s:%lld:%lld", mid, (long long)n, (long long)ts);
    json_object_set_new_nocheck(p, "mid", json_string(mid));
    json_object_set_new_nocheck(p, "contact_id", json_string(sender));
    json_object_set_new_nocheck(p, "text", json_string(str_at(edit, "text", NULL)));
  } else if (json_is_object(reaction) && sender && str_at(reaction, "mid", NULL)) {
    const char *action = str_at(reaction, "action", NULL);
    kind = action && strcmp(action, "unreact") == 0 ? IG_EV_UNREACTION : IG_EV_REACTION;
    const char *mid = str_at(reaction, "mid", NULL);
    const char *emoji = str_at(reaction, "emoji", NULL);
    if (!emoji) emoji = str_at(reaction, "reaction", NULL);
    set_key(key, keylen, "reaction:%s:%s:%s:%lld", mid, sender, kind_names[kind], (long long)ts);
    json_object_set_new_nocheck(p, "mid", json_string(mid));
    json_object_set_new_nocheck(p, "contact_id", json_string(sender));
    json_object_set_new_nocheck(p, "emoji", emoji ? json_string(emoji) : json_null());
  } else if (json_is_object(read) && sender && str_at(read, "mid", NULL)) {
    kind = IG_EV_SEEN;
    const char *mid = str_at(read, "mid", NULL);
    set_key(key, keylen, "seen:%s:%s:%lld", mid, sender, (long long)ts);
    json_object_set_new_nocheck(p, "watermark_mid", json_string(mid));
    json_object_set_new_nocheck(p, "contact_id", json_string(sender));
  } else if (json_is_object(postback) && sender && strcmp(sender, account) != 0) {
    kind = IG_EV_POSTBACK;
    const char *mid = str_at(postback, "mid", NULL);
    if (mid)
      set_key(key, keylen, "postback:%s", mid);
    else
      raw_key(item, key, keylen);
    json_object_set_new_nocheck(p, "mid", mid ? json_string(mid) : json_null());
    json_object_set_new_nocheck(p, "contact_id", json_string(sender));
    const char *title = str_at(postback, "title", NULL), *data = str_at(postback, "payload", NULL);
    json_object_set_new_nocheck(p, "title", json_string(title ? title : ""));
    json_object_set_new_nocheck(p, "payload", json_string(data ? data : ""));
  } else if (json_is_object(referral) && sender && strcmp(sender, account) != 0) {
    kind = IG_EV_REFERRAL;
    raw_key(item, key, keylen);
    json_object_set_new_nocheck(p, "contact_id", json_string(sender));
    json_object_set_new(
        p, "referral",
        json_pack("{s:s?, s:s?, s:s?}", "ref", str_at(referral, "ref", NULL), "source",
                  str_at(referral, "source", NULL), "type", str_at(referral, "type", NULL)));
  } else {
    raw_key(item, key, keylen);
    if (json_is_object(item)) {
      json_object_set_new_nocheck(p, "raw_type", json_string(raw_type_of(item)));
      if (sender && strcmp(sender, account) != 0)
        json_object_set_new_nocheck(p, "contact_id", json_string(sender));
    }
  }
  json_object_set_new_nocheck(p, "kind", json_string(kind_names[kind]));
  json_object_set_new_nocheck(p, "account_id", json_string(account));
  json_object_set_new_nocheck(p, "timestamp_ms", json_integer(ts));
  if (kind == IG_EV_OTHER) json_object_set(p, "raw", item);
  return p;
}

/* A change (entry[].changes[]: comments, mentions, the dashboard's test): not
 * a messaging event, kept as "other" with its field as the raw type and its
 * author, when it names one, as the contact. */
static json_t *change_of(const char *account, json_t *change, char *key, size_t keylen) {
  json_t *value = json_object_get(change, "value");
  const char *field = str_at(change, "field", NULL);
  const char *from = str_at(value, "from", "id");
  const char *comment = str_at(value, "id", NULL), *text = str_at(value, "text", NULL);
  /* A comment by someone else (the account's own public replies come back as
   * comments too, and stay "other"): a trigger of flows. */
  if (field && strcmp(field, "comments") == 0 && from && comment && text &&
      strcmp(from, account) != 0) {
    set_key(key, keylen, "comment:%s", comment);
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s?, s:s?, s:I}", "kind", "comment",
                     "account_id", account, "contact_id", from, "mid", key[0] ? key : comment,
                     "comment_id", comment, "text", text, "media_id",
                     str_at(json_object_get(value, "media"), "id", NULL), "username",
                     str_at(value, "from", "username"), "timestamp_ms", (json_int_t)0);
  }
  if (!from) from = str_at(value, "sender", "id");
  raw_key(change, key, keylen);
  json_t *p = json_pack("{s:s, s:s, s:s, s:O}", "kind", "other", "account_id", account, "raw_type",
                        field ? field : "change", "raw", change);
  if (from && strcmp(from, account) != 0)
    json_object_set_new_nocheck(p, "contact_id", json_string(from));
  return p;
}

/* {mid?, payload}: built directly, one for every event of every body (the
 * payload's keys are the code's own, set unchecked above for the same reason). */
static json_t *event_entry(const char *key, json_t *payload) {
  json_t *e = json_object();
  if (key[0]) json_object_set_new_nocheck(e, "mid", json_string(key));
  json_object_set_new_nocheck(e, "payload", payload);
  return e;
}

json_t *ig_webhook_events(json_t *body) {
  json_t *entries = json_object_get(body, "entry");
  if (!json_is_object(body) || !json_is_array(entries)) return NULL;
  json_t *out = json_array(), *entry;
  size_t i;
  json_array_foreach(entries, i, entry) {
    const char *account = str_at(entry, "id", NULL);
    json_t *items = json_object_get(entry, "messaging"), *item;
    size_t k;
    char key[1024];
    json_array_foreach(items, k, item) {
      json_t *p = event_of(account ? account : "", item, key, sizeof(key));
      json_array_append_new(out, event_entry(key, p));
    }
    json_t *changes = json_object_get(entry, "changes"), *change;
    json_array_foreach(changes, k, change) {
      json_t *p = change_of(account ? account : "", change, key, sizeof(key));
      json_array_append_new(out,
                            json_pack("{s:s?, s:o}", "mid", key[0] ? key : NULL, "payload", p));
    }
  }
  return out;
}

enum ig_event_kind ig_event_kind(const json_t *payload) {
  const char *k = json_string_value(json_object_get(payload, "kind"));
  for (int i = 0; k && i <= IG_EV_OTHER; i++)
    if (strcmp(k, kind_names[i]) == 0) return (enum ig_event_kind)i;
  return IG_EV_OTHER;
}
