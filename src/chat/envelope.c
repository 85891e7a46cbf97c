/* envelope: writing and reading the messaging domain's bus envelopes (see
 * envelope.h). Loop thread. */
#include "chat/envelope.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "parley/buf.h"
#include "parley/bus.h"
#include "parley/json_out.h"
#include "parley/metrics.h"

int envelope_remote(const app_t *app) {
  return app->bus && strcmp(bus_backend(app->bus), "local") != 0;
}

/* Sends header text h, a newline and body. */
static void publish_text(app_t *app, const char *h, size_t hlen, const char *body, size_t len) {
  char *payload = malloc(hlen + 1 + len);
  if (!payload) return;
  memcpy(payload, h, hlen);
  payload[hlen] = '\n';
  if (len) memcpy(payload + hlen + 1, body, len);
  if (bus_publish(app->bus, ENVELOPE_CHANNEL, payload, hlen + 1 + len) == 0)
    app->metrics->bus_published++;
  free(payload);
}

void envelope_publish(app_t *app, json_t *header, const char *body, size_t len) {
  if (!envelope_remote(app)) return;
  json_object_set_new(header, "i", json_string(app->instance_id));
  size_t hlen;
  char *h = json_out_dumps(header, &hlen); /* jansson's text (dispatch.c reads its end) */
  if (!h) return;
  publish_text(app, h, hlen, body, len);
  free(h);
}

/* ---- the recipients packed ----
 *
 * Ids of 24 lowercase hex characters (util_new_id's) travel as their 12
 * bytes: the header says "U":n and the n ids' bytes follow its newline, before
 * the body. In groups of 100 the header's "u" array was 2,700 of an
 * envelope's 3,500 bytes, written to Redis, read back by every instance (the
 * publisher included) and parsed by each other one with jansson; packed they
 * are 1,200, decoded without a parser. An array with any other id goes as the
 * JSON array "u", as before. An instance of an earlier version reads only "u":
 * ids are packed only while every other instance has announced, in its
 * heartbeat, that it reads them (app->envelope_pack, kept by presence.c), so a
 * rolling upgrade (docs/DEPLOY.md) loses no message between versions. */
enum { ID_HEX = 24, ID_BYTES = 12 };

static int hex_val(unsigned char ch) {
  if (ch >= '0' && ch <= '9') return ch - '0';
  if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
  return -1;
}

/* 1 when users is a non-empty array of ids that pack (24 lowercase hex). */
static int packable(const json_t *users) {
  size_t n = json_array_size(users);
  if (n == 0) return 0;
  for (size_t i = 0; i < n; i++) {
    const json_t *v = json_array_get(users, i);
    if (!json_is_string(v) || json_string_length(v) != ID_HEX) return 0;
    const unsigned char *t = (const unsigned char *)json_string_value(v);
    for (size_t k = 0; k < ID_HEX; k++)
      if (hex_val(t[k]) < 0) return 0;
  }
  return 1;
}

/* users' ids (packable) as n * ID_BYTES bytes, malloc'd. */
static char *pack(const json_t *users, size_t *len) {
  size_t n = json_array_size(users);
  unsigned char *out = malloc(n * ID_BYTES);
  if (!out) return NULL;
  for (size_t i = 0; i < n; i++) {
    const unsigned char *t = (const unsigned char *)json_string_value(json_array_get(users, i));
    for (size_t k = 0; k < ID_BYTES; k++)
      out[i * ID_BYTES + k] = (unsigned char)(hex_val(t[2 * k]) << 4 | hex_val(t[2 * k + 1]));
  }
  *len = n * ID_BYTES;
  return (char *)out;
}

/* The array of n ids packed at p, or NULL when out of memory. */
static json_t *unpack(const unsigned char *p, size_t n) {
  static const char digits[] = "0123456789abcdef";
  json_t *a = json_array();
  char id[ID_HEX];
  for (size_t i = 0; a && i < n; i++, p += ID_BYTES) {
    for (size_t k = 0; k < ID_BYTES; k++) {
      id[2 * k] = digits[p[k] >> 4];
      id[2 * k + 1] = digits[p[k] & 15];
    }
    if (json_array_append_new(a, json_stringn_nocheck(id, ID_HEX)) != 0) {
      json_decref(a);
      a = NULL;
    }
  }
  return a;
}

json_t *envelope_parse(const char *payload, size_t len, const char **body, size_t *body_len) {
  const char *nl = memchr(payload, '\n', len);
  if (!nl) return NULL;
  json_t *hdr = json_loadb(payload, (size_t)(nl - payload), 0, NULL);
  if (!json_is_object(hdr)) {
    json_decref(hdr);
    return NULL;
  }
  *body = nl + 1;
  *body_len = len - (size_t)(*body - payload);
  json_t *packed = json_object_get(hdr, "U");
  if (packed) {
    /* n ids' bytes before the body; "u" as well would be two lists. */
    json_int_t n = json_integer_value(packed);
    json_t *users = NULL;
    if (json_is_integer(packed) && n >= 0 && (uint64_t)n <= *body_len / ID_BYTES &&
        !json_object_get(hdr, "u"))
      users = unpack((const unsigned char *)*body, (size_t)n);
    if (!users || json_object_set_new(hdr, "u", users) != 0) {
      json_decref(hdr);
      return NULL;
    }
    *body += (size_t)n * ID_BYTES;
    *body_len -= (size_t)n * ID_BYTES;
  }
  return hdr;
}

/* ---- the recipients' texts ---- */

enum {
  ENVELOPE_USERS_SLOTS = 64,          /* a power of two */
  ENVELOPE_USERS_MAX_TEXT = 64 << 10, /* 64 slots: 4 MiB of texts at most */
  ENVELOPE_SCRATCH_KEEP = 64 << 10,
};

typedef struct {
  json_t *users; /* a reference held: NULL when the slot is empty */
  size_t n;      /* its size when encoded (a check: arrays are not changed) */
  char *text;    /* the ids packed, or the array's JSON text */
  size_t len;
  int packed;
  int may_pack; /* the pack it was encoded for */
} users_slot_t;

struct envelope_users_s {
  users_slot_t slot[ENVELOPE_USERS_SLOTS];
  /* The instance id's text, written once; NULL until the first header. */
  char id[32];
  char *id_text;
  size_t id_len;
  /* Each payload is written here and copied by the bus: a new allocation of
   * a payload's size was 2,600 instructions a message (glibc's large bins).
   * Kept up to ENVELOPE_SCRATCH_KEEP bytes. */
  char *scratch;
  size_t scratch_cap;
  /* A message's header is written here (envelope_publish_message). */
  buf_t head;
};

envelope_users_t *envelope_users_new(void) { return calloc(1, sizeof(envelope_users_t)); }

static void slot_clear(users_slot_t *s) {
  json_decref(s->users);
  free(s->text);
  memset(s, 0, sizeof(*s));
}

void envelope_users_free(envelope_users_t *c) {
  if (!c) return;
  for (size_t i = 0; i < ENVELOPE_USERS_SLOTS; i++) slot_clear(&c->slot[i]);
  free(c->id_text);
  free(c->scratch);
  buf_free(&c->head);
  free(c);
}

/* users' text: the ids packed (*packed 1; only when may_pack) or the array's
 * JSON text, from c, or encoded (and kept in c when it fits). *owned tells
 * whether the caller frees it. */
static const char *users_text(envelope_users_t *c, const json_t *users, int may_pack, size_t *len,
                              int *owned, int *packed) {
  *owned = 0;
  users_slot_t *s = NULL;
  if (c) {
    uint64_t h = (uint64_t)(uintptr_t)users * 0x9E3779B97F4A7C15ull;
    s = &c->slot[h >> 58]; /* the top 6 bits: 64 slots */
    if (s->users == users && s->n == json_array_size(users) && s->may_pack == may_pack) {
      *len = s->len;
      *packed = s->packed;
      return s->text;
    }
  }
  *packed = may_pack && packable(users);
  char *text = *packed ? pack(users, len) : json_out_dumps(users, len);
  if (!text) return NULL;
  if (!s || !json_is_array(users) || *len > ENVELOPE_USERS_MAX_TEXT) {
    *owned = 1;
    return text;
  }
  slot_clear(s);
  s->users = json_incref((json_t *)users);
  s->n = json_array_size(users);
  s->text = text;
  s->len = *len;
  s->packed = *packed;
  s->may_pack = may_pack;
  return text;
}

/* instance_id's JSON text: from c once written there (owned 0), or new. */
static char *id_text(envelope_users_t *c, const char *instance_id, size_t *len, int *owned) {
  *owned = 0;
  if (c && c->id_text && strcmp(c->id, instance_id) == 0) {
    *len = c->id_len;
    return c->id_text;
  }
  json_t *id = json_string(instance_id);
  char *t = id ? json_out_dumps(id, len) : NULL;
  json_decref(id);
  if (!t || !c || strlen(instance_id) >= sizeof(c->id)) {
    *owned = t != NULL;
    return t;
  }
  free(c->id_text);
  snprintf(c->id, sizeof(c->id), "%s", instance_id);
  c->id_text = t;
  c->id_len = *len;
  return t;
}

/* n bytes at c's scratch, or NULL when out of memory. */
static char *scratch(envelope_users_t *c, size_t n) {
  if (n > c->scratch_cap) {
    char *p = realloc(c->scratch, n);
    if (!p) return NULL;
    c->scratch = p;
    c->scratch_cap = n;
  }
  return c->scratch;
}

/* n in decimal at out (at most 20 bytes; sprintf was 730 instructions);
 * returns its length. */
static size_t put_count(char *out, size_t n) {
  char d[20];
  size_t k = 0;
  do {
    d[k++] = (char)('0' + n % 10);
    n /= 10;
  } while (n);
  for (size_t j = 0; j < k; j++) out[j] = d[k - 1 - j];
  return k;
}

/* The payload (see envelope_payload) of the header's text h (an object's) in
 * one buffer: c's kept one when in_scratch (the caller does not free it
 * then), else a new one. */
static char *payload_text(envelope_users_t *c, const char *h, size_t hlen, const json_t *users,
                          int pack, const char *instance_id, const char *body, size_t blen,
                          int in_scratch, size_t *len) {
  *len = 0;
  size_t ulen = 0, ilen = 0;
  int owned = 0, id_owned = 0, packed = 0;
  char *i = h && hlen >= 2 && h[0] == '{' && h[hlen - 1] == '}'
                ? id_text(c, instance_id, &ilen, &id_owned)
                : NULL;
  const char *u = i ? users_text(c, users, pack, &ulen, &owned, &packed) : NULL;
  size_t need = hlen + ulen + ilen + 48 + blen;
  char *out = !u ? NULL : in_scratch && c ? scratch(c, need) : malloc(need);
  if (out) {
    /* {members} becomes {members,"u":users,"i":"id"}\nbody, or with the ids
     * packed {members,"U":n,"i":"id"}\nids body */
    size_t at = hlen - 1;
    memcpy(out, h, at);
    if (hlen > 2) out[at++] = ',';
    if (packed) {
      memcpy(out + at, "\"U\":", 4);
      at += 4;
      at += put_count(out + at, ulen / ID_BYTES);
    } else {
      memcpy(out + at, "\"u\":", 4);
      at += 4;
      memcpy(out + at, u, ulen);
      at += ulen;
    }
    memcpy(out + at, ",\"i\":", 5);
    at += 5;
    memcpy(out + at, i, ilen);
    at += ilen;
    out[at++] = '}';
    out[at++] = '\n';
    if (packed) {
      memcpy(out + at, u, ulen);
      at += ulen;
    }
    if (blen) memcpy(out + at, body, blen);
    at += blen;
    out[at] = '\0';
    *len = at;
  }
  if (u && owned) free((char *)u);
  if (id_owned) free(i);
  return out;
}

/* header's text, or NULL (not an object, or out of memory). */
static char *header_of(const json_t *header, size_t *hlen) {
  return json_is_object(header) ? json_out_dumps(header, hlen) : NULL;
}

char *envelope_payload(envelope_users_t *c, const json_t *header, const json_t *users, int pack,
                       const char *instance_id, const char *body, size_t blen, size_t *len) {
  size_t hlen = 0;
  char *h = header_of(header, &hlen);
  char *p = payload_text(c, h, hlen, users, pack, instance_id, body, blen, 0, len);
  free(h);
  return p;
}

/* Publishes the payload of header text h, its users' text kept in c. */
static void publish_payload(app_t *app, envelope_users_t *c, const char *h, size_t hlen,
                            const json_t *users, const char *body, size_t len) {
  size_t plen;
  char *payload = payload_text(c, h, hlen, users, app->envelope_pack, app->instance_id, body,
                               body ? len : 0, c != NULL, &plen);
  if (payload && bus_publish(app->bus, ENVELOPE_CHANNEL, payload, plen) == 0)
    app->metrics->bus_published++;
  if (!c) {
    free(payload);
  } else if (c->scratch_cap > ENVELOPE_SCRATCH_KEEP) {
    free(c->scratch);
    c->scratch = NULL;
    c->scratch_cap = 0;
  }
}

/* The header {"k":"m","c":conv,"s":seq} as json_out_dumps writes it, in b. */
static int message_header(buf_t *b, const char *conv, int64_t seq) {
  char n[24];
  size_t k = 0;
  uint64_t v = seq < 0 ? 0 - (uint64_t)seq : (uint64_t)seq;
  do {
    n[sizeof(n) - 1 - k++] = (char)('0' + v % 10);
    v /= 10;
  } while (v);
  if (seq < 0) n[sizeof(n) - 1 - k++] = '-';
  b->len = 0;
  return buf_append(b, "{\"k\":\"m\",\"c\":", 13) || json_out_string(b, conv, strlen(conv)) ||
                 buf_append(b, ",\"s\":", 5) || buf_append(b, n + sizeof(n) - k, k) ||
                 buf_append(b, "}", 1)
             ? -1
             : 0;
}

char *envelope_message_payload(envelope_users_t *c, const char *conv, int64_t seq,
                               const json_t *users, int pack, const char *instance_id,
                               const char *body, size_t blen, size_t *len) {
  buf_t b;
  buf_init(&b);
  *len = 0;
  char *p = conv && message_header(&b, conv, seq) == 0
                ? payload_text(c, b.data, b.len, users, pack, instance_id, body, blen, 0, len)
                : NULL;
  buf_free(&b);
  return p;
}

void envelope_publish_message(app_t *app, envelope_users_t *c, const char *conv, int64_t seq,
                              const json_t *users, const char *body, size_t len) {
  if (!envelope_remote(app) || !conv) return;
  buf_t own, *b = c ? &c->head : &own;
  if (!c) buf_init(&own);
  if (message_header(b, conv, seq) == 0) publish_payload(app, c, b->data, b->len, users, body, len);
  if (!c) buf_free(&own);
}
