/* conv_view: the one definition of a conversation as a user sees it, and its
 * two writers (see conv_view.h). The text writer exists because building the
 * views and encoding them was most of the loop's time per list; it writes keys
 * in insertion order, as jansson does. Pure; any thread. */
#include "chat/conv_view.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Lists of users with read markers: participants, and an instagram
 * conversation's agents. */
static const char *const marked_lists[] = {"participants", "agents"};

static int is_marked_list(const char *key) {
  return strcmp(key, marked_lists[0]) == 0 || strcmp(key, marked_lists[1]) == 0;
}

/* A participant's settings, shown to that participant only (at the top of
 * their view), never to the others; and a stored avatar's id, which only its
 * signed URL (attach_url_conv) may show. */
static const char *const private_keys[] = {"mention_count", "muted_until", "avatar_id"};

static int is_private(const char *key) {
  if (key[0] != 'm' && key[0] != 'a') return 0; /* most keys: one comparison */
  for (size_t i = 0; i < sizeof(private_keys) / sizeof(private_keys[0]); i++)
    if (strcmp(key, private_keys[i]) == 0) return 1;
  return 0;
}

/* A channel's "me" when it is user_id's, else NULL. */
static json_t *channel_me(const json_t *conv, const char *user_id) {
  json_t *me = json_object_get(conv, "me");
  const char *id = json_string_value(json_object_get(me, "id"));
  return id && user_id && strcmp(id, user_id) == 0 ? me : NULL;
}

static int is_channel(const json_t *conv) { return json_object_get(conv, "member_count") != NULL; }

/* Keys of the store conversation that the view writes in a place of its own:
 * avatar_url (a group's signed URL, else null, in every view) and avatar_id
 * (never shown; attach_url_conv signs it into avatar_url). */
static int is_avatar_key(const char *key) {
  return strcmp(key, "avatar_url") == 0 || strcmp(key, "avatar_id") == 0;
}

/* The view's avatar_url: the signed URL on conv, else null (borrowed). */
static json_t *avatar_url(const json_t *conv) {
  json_t *url = json_object_get(conv, "avatar_url");
  return json_is_string(url) ? url : json_null();
}

/* The user's own entry in a store conversation (a channel's "me"), or NULL. */
static const json_t *own_entry(const json_t *conv, const char *user_id) {
  size_t i;
  json_t *p;
  if (is_channel(conv)) return channel_me(conv, user_id);
  for (int k = 0; k < 2; k++) json_array_foreach(json_object_get(conv, marked_lists[k]), i, p) {
      const char *id = json_string_value(json_object_get(p, "id"));
      if (id && user_id && strcmp(id, user_id) == 0) return p;
    }
  return NULL;
}

long long conv_view_read_seq(const json_t *conv, const char *user_id) {
  const json_t *p = own_entry(conv, user_id);
  return p ? (long long)json_integer_value(json_object_get(p, "last_read_seq")) : -1;
}

long long conv_view_delivered_seq(const json_t *conv, const char *user_id) {
  const json_t *p = own_entry(conv, user_id);
  return p ? (long long)json_integer_value(json_object_get(p, "last_delivered_seq")) : -1;
}

static long long mention_count(const json_t *own) {
  long long n = (long long)json_integer_value(json_object_get(own, "mention_count"));
  return n > 0 ? n : 0;
}

static long long unread_count(const json_t *conv, const char *user_id) {
  long long last = (long long)json_integer_value(json_object_get(conv, "last_seq"));
  long long read = conv_view_read_seq(conv, user_id);
  long long unread = read < 0 ? 0 : last - read;
  return unread > 0 ? unread : 0;
}

/* A channel: no participants; its member's own role and unread count when the
 * store read it for them ("me"), else neither; the invite token to admins. */
static json_t *channel_view(const json_t *conv, const char *user_id) {
  json_t *v = json_object(), *me = channel_me(conv, user_id), *val;
  if (!v) return NULL;
  const char *key, *role = json_string_value(json_object_get(me, "role"));
  int admin = role && strcmp(role, "admin") == 0;
  json_object_foreach((json_t *)conv, key, val) {
    if (strcmp(key, "me") == 0 || (strcmp(key, "invite_token") == 0 && !admin) ||
        is_avatar_key(key))
      continue;
    json_object_set_nocheck(v, key, val);
  }
  json_object_set_nocheck(v, "avatar_url", avatar_url(conv));
  if (!me) return v;
  json_t *muted = json_object_get(me, "muted_until");
  json_object_set_nocheck(v, "role", json_object_get(me, "role"));
  json_object_set_new_nocheck(v, "unread_count", json_integer(unread_count(conv, user_id)));
  json_object_set_new_nocheck(v, "mention_count", json_integer(mention_count(me)));
  json_object_set_nocheck(v, "muted_until", json_is_string(muted) ? muted : json_null());
  return v;
}

/* The view shares every value but the participants' objects with conv (nothing
 * here or downstream modifies them): a deep copy was most of the cost of a list. */
json_t *conv_view_json(const json_t *conv, const char *user_id) {
  if (is_channel(conv)) return channel_view(conv, user_id);
  json_t *v = json_object();
  if (!v) return NULL;
  const char *key;
  json_t *val;
  json_object_foreach((json_t *)conv, key, val) {
    if (is_avatar_key(key)) continue;
    if (!is_marked_list(key)) {
      json_object_set_nocheck(v, key, val);
      continue;
    }
    json_t *parts = json_array(), *p;
    size_t i;
    json_array_foreach(val, i, p) {
      json_t *one = json_object();
      const char *k;
      json_t *x;
      json_object_foreach(p, k, x) if (!is_private(k)) json_object_set_nocheck(one, k, x);
      json_array_append_new(parts, one);
    }
    json_object_set_new_nocheck(v, key, parts);
  }
  json_object_set_nocheck(v, "avatar_url", avatar_url(conv));
  json_object_set_new_nocheck(v, "unread_count", json_integer(unread_count(conv, user_id)));
  const json_t *own = own_entry(conv, user_id);
  json_t *muted = json_object_get(own, "muted_until");
  json_object_set_new_nocheck(v, "mention_count", json_integer(mention_count(own)));
  json_object_set_nocheck(v, "muted_until", json_is_string(muted) ? muted : json_null());
  return v;
}

json_t *conv_view_participant_ids(const json_t *conv) {
  json_t *ids = json_array();
  size_t i;
  json_t *p;
  for (int k = 0; k < 2; k++) json_array_foreach(json_object_get(conv, marked_lists[k]), i, p) {
      json_t *id = json_object_get(p, "id");
      if (json_is_string(id)) json_array_append(ids, id);
    }
  return ids;
}

/* ---- the text writer ---- */

static int write_value(buf_t *b, json_t *v);

/* Appends n bytes; in place when the buffer has room (most of a page's
 * appends are a byte or a key), else through buf_append. 0 or -1. */
static inline int put(buf_t *b, const char *s, size_t n) {
  if (b->len + n + 1 > b->cap) return buf_append(b, s, n);
  memcpy(b->data + b->len, s, n);
  b->len += n;
  b->data[b->len] = '\0';
  return 0;
}
#define PUT_LIT(b, lit) put((b), (lit), sizeof(lit) - 1)

/* What a byte becomes in a JSON string: 0 itself, 'u' \u00XX, else a
 * backslash and this letter (jansson's short escapes). */
static const unsigned char escape_of[256] = {
    ['\b'] = 'b',  ['\f'] = 'f', ['\n'] = 'n', ['\r'] = 'r', ['\t'] = 't', ['"'] = '"',
    ['\\'] = '\\', [0] = 'u',    [1] = 'u',    [2] = 'u',    [3] = 'u',    [4] = 'u',
    [5] = 'u',     [6] = 'u',    [7] = 'u',    [11] = 'u',   [14] = 'u',   [15] = 'u',
    [16] = 'u',    [17] = 'u',   [18] = 'u',   [19] = 'u',   [20] = 'u',   [21] = 'u',
    [22] = 'u',    [23] = 'u',   [24] = 'u',   [25] = 'u',   [26] = 'u',   [27] = 'u',
    [28] = 'u',    [29] = 'u',   [30] = 'u',   [31] = 'u'};

/* Whether any of w's eight bytes is one escape_of escapes: below 0x20, '"'
 * or '\\'. Each test is exact about "any" (a borrow only runs from a byte that
 * matched toward higher ones); bytes of 0x80 and above never match. */
static inline int needs_escape8(uint64_t w) {
  const uint64_t ones = 0x0101010101010101ull, high = 0x8080808080808080ull;
  uint64_t quote = w ^ (ones * '"'), bslash = w ^ (ones * '\\');
  return (((w - ones * 0x20) | (quote - ones) | (bslash - ones)) & ~w & high) != 0;
}

/* A JSON string as jansson escapes it without JSON_ENSURE_ASCII, written in
 * place after one reservation for the worst case (every byte as \u00XX): runs
 * of bytes that need no escape are copied whole. */
static int write_string(buf_t *b, const char *s, size_t len) {
  static const char hex[] = "0123456789ABCDEF";
  if (len > (SIZE_MAX - 3) / 6) return -1;
  if (b->len + len * 6 + 3 > b->cap && buf_reserve(b, len * 6 + 2) != 0) return -1;
  char *o = b->data + b->len;
  const unsigned char *p = (const unsigned char *)s, *e = p + len;
  *o++ = '"';
  while (p < e) {
    const unsigned char *run = p;
    /* Eight bytes at a time while none needs an escape, then byte by byte to
     * the one that does (in the word that stopped the words, if any). */
    while (e - p >= 8) {
      uint64_t w;
      memcpy(&w, p, 8);
      if (needs_escape8(w)) break;
      p += 8;
    }
    while (p < e && !escape_of[*p]) p++;
    memcpy(o, run, (size_t)(p - run));
    o += p - run;
    if (p == e) break;
    unsigned char c = *p++, x = escape_of[c];
    *o++ = '\\';
    if (x != 'u') {
      *o++ = (char)x;
      continue;
    }
    memcpy(o, "u00", 3);
    o[3] = hex[c >> 4];
    o[4] = hex[c & 15];
    o += 5;
  }
  *o++ = '"';
  b->len = (size_t)(o - b->data);
  b->data[b->len] = '\0';
  return 0;
}

/* A JSON integer without printf (two vsnprintf calls each cost more than
 * the rest of a participant's member). */
static int write_int(buf_t *b, long long v) {
  char tmp[24], *end = tmp + sizeof(tmp), *p = end;
  unsigned long long u = v < 0 ? 0ull - (unsigned long long)v : (unsigned long long)v;
  do {
    *--p = (char)('0' + u % 10);
    u /= 10;
  } while (u);
  if (v < 0) *--p = '-';
  return put(b, p, (size_t)(end - p));
}

/* An object's members, without the private keys when skip_private; the caller
 * writes the braces. */
static int write_members(buf_t *b, json_t *obj, int skip_private, int *first) {
  const char *key;
  json_t *val;
  json_object_foreach(obj, key, val) {
    if (skip_private && is_private(key)) continue;
    if ((!*first && put(b, ",", 1) != 0) || write_string(b, key, strlen(key)) != 0 ||
        put(b, ":", 1) != 0 || write_value(b, val) != 0)
      return -1;
    *first = 0;
  }
  return 0;
}

static int write_value(buf_t *b, json_t *v) {
  switch (json_typeof(v)) {
    case JSON_STRING:
      return write_string(b, json_string_value(v), json_string_length(v));
    case JSON_INTEGER:
      return write_int(b, (long long)json_integer_value(v));
    case JSON_TRUE:
      return put(b, "true", 4);
    case JSON_FALSE:
      return put(b, "false", 5);
    case JSON_NULL:
      return put(b, "null", 4);
    case JSON_OBJECT: {
      int first = 1;
      if (put(b, "{", 1) != 0 || write_members(b, v, 0, &first) != 0) return -1;
      return put(b, "}", 1);
    }
    case JSON_ARRAY: {
      size_t i;
      json_t *x;
      if (put(b, "[", 1) != 0) return -1;
      json_array_foreach(v, i,
                         x) if ((i && put(b, ",", 1) != 0) || write_value(b, x) != 0) return -1;
      return put(b, "]", 1);
    }
    default: { /* a real: rare enough to leave its formatting to jansson */
      char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
      int rc = s ? buf_append_str(b, s) : -1;
      free(s);
      return rc;
    }
  }
}

int conv_view_write(buf_t *b, json_t *conv, const char *user_id) {
  const char *key;
  json_t *val;
  int first = 1;
  if (is_channel(conv)) {
    /* Rare next to chats, and small (no participants): jansson writes it. */
    json_t *v = channel_view(conv, user_id);
    int rc = v ? write_value(b, v) : -1;
    json_decref(v);
    return rc;
  }
  if (put(b, "{", 1) != 0) return -1;
  json_object_foreach(conv, key, val) {
    if (is_avatar_key(key)) continue;
    if ((!first && put(b, ",", 1) != 0) || write_string(b, key, strlen(key)) != 0 ||
        put(b, ":", 1) != 0)
      return -1;
    first = 0;
    if (!is_marked_list(key) || !json_is_array(val)) {
      if (write_value(b, val) != 0) return -1;
      continue;
    }
    size_t i;
    json_t *p;
    if (put(b, "[", 1) != 0) return -1;
    json_array_foreach(val, i, p) {
      int pfirst = 1;
      if ((i && put(b, ",", 1) != 0) || put(b, "{", 1) != 0 ||
          (json_is_object(p) && write_members(b, p, 1, &pfirst) != 0) || put(b, "}", 1) != 0)
        return -1;
    }
    if (put(b, "]", 1) != 0) return -1;
  }
  const json_t *own = own_entry(conv, user_id);
  json_t *muted = json_object_get(own, "muted_until");
  if (buf_append_str(b, first ? "\"avatar_url\":" : ",\"avatar_url\":") != 0 ||
      write_value(b, avatar_url(conv)) != 0 || PUT_LIT(b, ",\"unread_count\":") != 0 ||
      write_int(b, unread_count(conv, user_id)) != 0 || PUT_LIT(b, ",\"mention_count\":") != 0 ||
      write_int(b, mention_count(own)) != 0 || PUT_LIT(b, ",\"muted_until\":") != 0 ||
      write_value(b, json_is_string(muted) ? muted : json_null()) != 0)
    return -1;
  return put(b, "}", 1);
}

int conv_view_write_page(buf_t *b, json_t *result, const char *user_id) {
  size_t i;
  json_t *c, *next = json_object_get(result, "next_cursor");
  if (buf_reserve(b, 16384) != 0 || buf_append_str(b, "{\"conversations\":[") != 0) return -1;
  json_array_foreach(json_object_get(result, "conversations"), i, c) {
    if ((i && put(b, ",", 1) != 0) || conv_view_write(b, c, user_id) != 0) return -1;
  }
  if (buf_append_str(b, "],\"next_cursor\":") != 0 ||
      write_value(b, next ? next : json_null()) != 0)
    return -1;
  return put(b, "}", 1);
}

int conv_view_put_string(buf_t *b, const char *s, size_t len) { return write_string(b, s, len); }
int conv_view_put_int(buf_t *b, long long v) { return write_int(b, v); }
int conv_view_put_value(buf_t *b, json_t *v) { return write_value(b, v); }
