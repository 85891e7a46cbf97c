/* envelope: writing and reading the messaging domain's bus envelopes (see
 * envelope.h). Loop thread. */
#include "chat/envelope.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
  char *text;
  size_t len;
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
  free(c);
}

/* users' text: from c, or encoded (and kept in c when it fits). *owned tells
 * whether the caller frees it. */
static const char *users_text(envelope_users_t *c, const json_t *users, size_t *len, int *owned) {
  *owned = 0;
  users_slot_t *s = NULL;
  if (c) {
    uint64_t h = (uint64_t)(uintptr_t)users * 0x9E3779B97F4A7C15ull;
    s = &c->slot[h >> 58]; /* the top 6 bits: 64 slots */
    if (s->users == users && s->n == json_array_size(users)) {
      *len = s->len;
      return s->text;
    }
  }
  char *text = json_out_dumps(users, len);
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

/* The header's text (see envelope_header) and, when body is not NULL, a
 * newline and body after it: the whole payload in one buffer, c's kept one
 * when in_scratch (the caller does not free it then), else a new one. */
static char *header_text(envelope_users_t *c, const json_t *header, const json_t *users,
                         const char *instance_id, const char *body, size_t blen, int in_scratch,
                         size_t *len) {
  *len = 0;
  size_t hlen = 0, ulen = 0, ilen = 0;
  int owned = 0, id_owned = 0;
  char *h = json_out_dumps(header, &hlen);
  char *i = h ? id_text(c, instance_id, &ilen, &id_owned) : NULL;
  const char *u =
      i && json_is_object(header) && hlen >= 2 ? users_text(c, users, &ulen, &owned) : NULL;
  size_t need = hlen + ulen + ilen + 16 + (body ? blen : 0);
  char *out = !u ? NULL : in_scratch && c ? scratch(c, need) : malloc(need);
  if (out) {
    /* {members} becomes {members,"u":users,"i":"id"} */
    size_t at = hlen - 1;
    memcpy(out, h, at);
    if (hlen > 2) out[at++] = ',';
    memcpy(out + at, "\"u\":", 4);
    at += 4;
    memcpy(out + at, u, ulen);
    at += ulen;
    memcpy(out + at, ",\"i\":", 5);
    at += 5;
    memcpy(out + at, i, ilen);
    at += ilen;
    out[at++] = '}';
    if (body) {
      out[at++] = '\n';
      if (blen) memcpy(out + at, body, blen);
      at += blen;
    }
    out[at] = '\0';
    *len = at;
  }
  if (u && owned) free((char *)u);
  if (id_owned) free(i);
  free(h);
  return out;
}

char *envelope_header(envelope_users_t *c, const json_t *header, const json_t *users,
                      const char *instance_id, size_t *len) {
  return header_text(c, header, users, instance_id, NULL, 0, 0, len);
}

void envelope_publish_users(app_t *app, envelope_users_t *c, const json_t *header,
                            const json_t *users, const char *body, size_t len) {
  if (!envelope_remote(app)) return;
  size_t plen;
  char *payload =
      header_text(c, header, users, app->instance_id, body ? body : "", len, c != NULL, &plen);
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
