/* Meta's Instagram webhook bodies into normalised events, one per messaging
 * item, each with the key that deduplicates it (the message mid, or a key built
 * from the reaction or read it carries). Pure; any thread. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "parley/instagram.h"

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

static json_t *attachments_of(json_t *message) {
  json_t *out = json_array(), *a;
  size_t i;
  json_array_foreach(json_object_get(message, "attachments"), i, a) {
    const char *type = str_at(a, "type", NULL);
    const char *url = str_at(a, "payload", "url");
    if (!type) continue;
    json_array_append_new(out, json_pack("{s:s, s:s?}", "type", type, "url", url));
  }
  return out;
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

static const char *kind_names[] = {"message", "echo", "reaction", "unreaction", "seen", "other"};

/* Builds the payload for one messaging item of an entry. */
static json_t *event_of(const char *account, json_t *item, char *key, size_t keylen) {
  const char *sender = str_at(item, "sender", "id");
  const char *recipient = str_at(item, "recipient", "id");
  json_int_t ts = timestamp_of(item);
  json_t *message = json_object_get(item, "message");
  json_t *reaction = json_object_get(item, "reaction");
  json_t *read = json_object_get(item, "read");
  enum ig_event_kind kind = IG_EV_OTHER;
  json_t *p = json_object();
  key[0] = '\0';
  if (json_is_object(message) && sender && recipient && str_at(message, "mid", NULL)) {
    int echo = json_is_true(json_object_get(message, "is_echo")) || strcmp(sender, account) == 0;
    kind = echo ? IG_EV_ECHO : IG_EV_MESSAGE;
    const char *mid = str_at(message, "mid", NULL);
    set_key(key, keylen, "%s", mid);
    json_object_set_new(p, "mid", json_string(mid));
    json_object_set_new(p, "contact_id", json_string(echo ? recipient : sender));
    const char *text = str_at(message, "text", NULL);
    json_object_set_new(p, "text", text ? json_string(text) : json_null());
    json_object_set_new(p, "attachments", attachments_of(message));
  } else if (json_is_object(reaction) && sender && str_at(reaction, "mid", NULL)) {
    const char *action = str_at(reaction, "action", NULL);
    kind = action && strcmp(action, "unreact") == 0 ? IG_EV_UNREACTION : IG_EV_REACTION;
    const char *mid = str_at(reaction, "mid", NULL);
    const char *emoji = str_at(reaction, "emoji", NULL);
    if (!emoji) emoji = str_at(reaction, "reaction", NULL);
    set_key(key, keylen, "reaction:%s:%s:%s:%lld", mid, sender, kind_names[kind], (long long)ts);
    json_object_set_new(p, "mid", json_string(mid));
    json_object_set_new(p, "contact_id", json_string(sender));
    json_object_set_new(p, "emoji", emoji ? json_string(emoji) : json_null());
  } else if (json_is_object(read) && sender && str_at(read, "mid", NULL)) {
    kind = IG_EV_SEEN;
    const char *mid = str_at(read, "mid", NULL);
    set_key(key, keylen, "seen:%s:%s:%lld", mid, sender, (long long)ts);
    json_object_set_new(p, "watermark_mid", json_string(mid));
    json_object_set_new(p, "contact_id", json_string(sender));
  }
  json_object_set_new(p, "kind", json_string(kind_names[kind]));
  json_object_set_new(p, "account_id", json_string(account));
  json_object_set_new(p, "timestamp_ms", json_integer(ts));
  if (kind == IG_EV_OTHER) json_object_set(p, "raw", item);
  return p;
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
      json_array_append_new(out,
                            json_pack("{s:s?, s:o}", "mid", key[0] ? key : NULL, "payload", p));
    }
    json_t *changes = json_object_get(entry, "changes"), *change;
    json_array_foreach(changes, k, change) {
      json_array_append_new(out,
                            json_pack("{s:n, s:{s:s, s:s, s:O}}", "mid", "payload", "kind", "other",
                                      "account_id", account ? account : "", "raw", change));
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
