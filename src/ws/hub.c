/* The hub: user id -> the sessions of that user on this instance, in a chained
 * hash table sized for 50k users (it doubles past that), so delivering to a
 * user costs a lookup and that user's sessions, never a scan. Holds borrowed
 * session pointers; sessions remove themselves when they close. Loop thread. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "parley/ws.h"

#define HUB_INITIAL_BUCKETS 65536 /* a power of two, above 50k users */
#define HUB_SNAPSHOT_STACK 16

typedef struct hub_user_s {
  struct hub_user_s *next; /* the bucket's chain */
  uint64_t hash;
  ws_session_t **sessions;
  int n, cap;
  char user_id[64];
} hub_user_t;

struct hub_s {
  hub_user_t **buckets;
  size_t nbuckets;
  int users, sessions;
};

/* FNV-1a: user ids are server-made, so a keyed hash buys nothing here. */
static uint64_t hash_str(const char *s) {
  uint64_t h = 1469598103934665603ULL;
  for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ULL;
  return h;
}

hub_t *hub_new(void) {
  hub_t *h = calloc(1, sizeof(*h));
  if (!h) return NULL;
  h->buckets = calloc(HUB_INITIAL_BUCKETS, sizeof(*h->buckets));
  if (!h->buckets) {
    free(h);
    return NULL;
  }
  h->nbuckets = HUB_INITIAL_BUCKETS;
  return h;
}

void hub_free(hub_t *h) {
  if (!h) return;
  for (size_t i = 0; i < h->nbuckets; i++) {
    hub_user_t *u = h->buckets[i];
    while (u) {
      hub_user_t *next = u->next;
      free(u->sessions);
      free(u);
      u = next;
    }
  }
  free(h->buckets);
  free(h);
}

static hub_user_t **slot(const hub_t *h, const char *user_id, uint64_t hash) {
  hub_user_t **pu = &h->buckets[hash & (h->nbuckets - 1)];
  while (*pu && ((*pu)->hash != hash || strcmp((*pu)->user_id, user_id) != 0)) pu = &(*pu)->next;
  return pu;
}

/* Doubles the table when users outnumber buckets; a failed grow is harmless
 * (chains get longer). */
static void grow(hub_t *h) {
  size_t n = h->nbuckets * 2;
  hub_user_t **b = calloc(n, sizeof(*b));
  if (!b) return;
  for (size_t i = 0; i < h->nbuckets; i++) {
    hub_user_t *u = h->buckets[i];
    while (u) {
      hub_user_t *next = u->next;
      u->next = b[u->hash & (n - 1)];
      b[u->hash & (n - 1)] = u;
      u = next;
    }
  }
  free(h->buckets);
  h->buckets = b;
  h->nbuckets = n;
}

static hub_user_t *user_new(hub_t *h, const char *user_id, uint64_t hash) {
  hub_user_t *u = calloc(1, sizeof(*u));
  if (!u) return NULL;
  u->hash = hash;
  snprintf(u->user_id, sizeof(u->user_id), "%s", user_id);
  hub_user_t **pu = &h->buckets[hash & (h->nbuckets - 1)];
  u->next = *pu;
  *pu = u;
  if (++h->users > (int)h->nbuckets) grow(h);
  return u;
}

int hub_add(hub_t *h, ws_session_t *s) {
  uint64_t hash = hash_str(s->user_id);
  hub_user_t *u = *slot(h, s->user_id, hash);
  if (!u && !(u = user_new(h, s->user_id, hash))) return -1;
  for (int i = 0; i < u->n; i++)
    if (u->sessions[i] == s) return u->n;
  if (u->n == u->cap) {
    int cap = u->cap ? u->cap * 2 : 2;
    ws_session_t **ns = realloc(u->sessions, (size_t)cap * sizeof(*ns));
    if (!ns) return -1;
    u->sessions = ns;
    u->cap = cap;
  }
  u->sessions[u->n++] = s;
  h->sessions++;
  return u->n;
}

int hub_remove(hub_t *h, ws_session_t *s) {
  hub_user_t **pu = slot(h, s->user_id, hash_str(s->user_id));
  hub_user_t *u = *pu;
  if (!u) return 0;
  for (int i = 0; i < u->n; i++) {
    if (u->sessions[i] != s) continue;
    u->sessions[i] = u->sessions[--u->n];
    h->sessions--;
    break;
  }
  int left = u->n;
  if (left == 0) {
    *pu = u->next;
    free(u->sessions);
    free(u);
    h->users--;
  }
  return left;
}

/* Calls fn over a copy of the list: a send may drop a session, and its close
 * removes it from the hub while we iterate. The session memory outlives the
 * call (it is freed from a handle close callback, on a later loop phase). */
static void call_each(ws_session_t **list, int n, void (*fn)(ws_session_t *, void *), void *arg) {
  ws_session_t *stack[HUB_SNAPSHOT_STACK];
  ws_session_t **copy = n <= HUB_SNAPSHOT_STACK ? stack : malloc((size_t)n * sizeof(*copy));
  if (!copy) return;
  memcpy(copy, list, (size_t)n * sizeof(*copy));
  for (int i = 0; i < n; i++) fn(copy[i], arg);
  if (copy != stack) free(copy);
}

void hub_foreach(hub_t *h, const char *user_id, void (*fn)(ws_session_t *s, void *arg), void *arg) {
  hub_user_t *u = *slot(h, user_id, hash_str(user_id));
  if (u && u->n) call_each(u->sessions, u->n, fn, arg);
}

void hub_foreach_all(hub_t *h, void (*fn)(ws_session_t *s, void *arg), void *arg) {
  if (h->sessions == 0) return;
  ws_session_t **all = malloc((size_t)h->sessions * sizeof(*all));
  if (!all) return;
  int n = 0;
  for (size_t i = 0; i < h->nbuckets; i++)
    for (hub_user_t *u = h->buckets[i]; u; u = u->next)
      for (int j = 0; j < u->n; j++) all[n++] = u->sessions[j];
  for (int i = 0; i < n; i++) fn(all[i], arg);
  free(all);
}

typedef struct send_arg_s {
  const char *text;
  size_t len;
  int sent;
} send_arg_t;

static void send_one(ws_session_t *s, void *arg) {
  send_arg_t *a = arg;
  if (ws_session_send(s, a->text, a->len) == 0) a->sent++;
}

int hub_send_user(hub_t *h, const char *user_id, const char *text, size_t len) {
  send_arg_t a = {text, len, 0};
  hub_foreach(h, user_id, send_one, &a);
  return a.sent;
}

int hub_session_count(const hub_t *h) { return h->sessions; }
int hub_user_count(const hub_t *h) { return h->users; }
