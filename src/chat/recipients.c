/* recipients: see recipients.h. Loop thread. */
#include "chat/recipients.h"

#include <stdlib.h>
#include <string.h>

#include "parley/strmap.h"

#define RECIPIENTS_SLOTS 256
#define RECIPIENTS_MAX_USERS 256
#define RECIPIENTS_MAX_SESSIONS 1024

struct recipients_s {
  recipients_entry_t slots[RECIPIENTS_SLOTS];
};

static void entry_clear(recipients_entry_t *e) {
  free(e->conv);
  json_decref(e->users);
  free(e->first);
  free(e->sessions);
  memset(e, 0, sizeof(*e));
}

recipients_t *recipients_new(void) { return calloc(1, sizeof(recipients_t)); }

void recipients_free(recipients_t *rc) {
  if (!rc) return;
  for (int i = 0; i < RECIPIENTS_SLOTS; i++) entry_clear(&rc->slots[i]);
  free(rc);
}

/* 1 when a and b hold the same strings in the same order. */
static int same_ids(const json_t *a, const json_t *b) {
  size_t n = json_array_size(a);
  if (json_array_size(b) != n) return 0;
  for (size_t i = 0; i < n; i++) {
    const char *x = json_string_value(json_array_get(a, i)),
               *y = json_string_value(json_array_get(b, i));
    if (x != y && (!x || !y || strcmp(x, y) != 0)) return 0;
  }
  return 1;
}

static void collect_one(ws_session_t *s, void *arg) {
  recipients_entry_t *e = arg;
  if (e->nsessions == e->cap) {
    int cap = e->cap ? e->cap * 2 : 64;
    ws_session_t **ns =
        cap <= RECIPIENTS_MAX_SESSIONS ? realloc(e->sessions, (size_t)cap * sizeof(*ns)) : NULL;
    if (!ns) {
      e->cap = -1; /* too many, or out of memory: not kept */
      return;
    }
    e->sessions = ns;
    e->cap = cap;
  }
  if (e->cap > 0) e->sessions[e->nsessions++] = s;
}

/* Looks the recipients up into e; -1 when they cannot be kept. */
static int fill(recipients_entry_t *e, hub_t *hub, const char *conv, json_t *users) {
  size_t n = json_array_size(users);
  entry_clear(e);
  e->first = malloc((n + 1) * sizeof(*e->first));
  e->conv = strdup(conv);
  if (!e->first || !e->conv) return -1;
  size_t i;
  json_t *u;
  json_array_foreach(users, i, u) {
    e->first[i] = e->nsessions;
    const char *id = json_string_value(u);
    if (id) hub_foreach(hub, id, collect_one, e);
    if (e->cap < 0) return -1;
  }
  e->first[n] = e->nsessions;
  e->users = json_incref(users);
  e->gen = hub_generation(hub);
  return 0;
}

const recipients_entry_t *recipients_get(recipients_t *rc, hub_t *hub, const char *conv,
                                         json_t *users) {
  if (!rc || json_array_size(users) > RECIPIENTS_MAX_USERS) return NULL;
  recipients_entry_t *e = &rc->slots[strmap_hash(conv) % RECIPIENTS_SLOTS];
  if (e->users && e->gen == hub_generation(hub) && strcmp(e->conv, conv) == 0) {
    if (e->users == users) return e;
    if (same_ids(e->users, users)) {
      json_decref(e->users); /* the newer array: the next message likely has it */
      e->users = json_incref(users);
      return e;
    }
  }
  if (fill(e, hub, conv, users) == 0) return e;
  entry_clear(e);
  return NULL;
}
