/* The hub: user id -> the sessions of that user on this instance, in the tree's
 * string map, so delivering to a user costs a lookup and that user's sessions,
 * never a scan. Holds borrowed session pointers; sessions remove themselves
 * when they close. Loop thread. */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "parley/strmap.h"
#include "parley/ws.h"

#define HUB_SNAPSHOT_STACK 16

typedef struct hub_user_s {
  ws_session_t **sessions;
  int n, cap;
} hub_user_t;

struct hub_s {
  strmap_t users; /* user id -> hub_user_t */
  int sessions;
  uint64_t gen; /* bumped by every session added or removed */
};

hub_t *hub_new(void) {
  hub_t *h = calloc(1, sizeof(*h));
  if (!h) return NULL;
  strmap_init(&h->users);
  return h;
}

static int free_user(const char *key, void *value, void *arg) {
  hub_user_t *u = value;
  free(u->sessions);
  free(u);
  return 1;
}

void hub_free(hub_t *h) {
  if (!h) return;
  strmap_sweep(&h->users, free_user, NULL);
  strmap_free(&h->users);
  free(h);
}

int hub_add(hub_t *h, ws_session_t *s) {
  hub_user_t *u = strmap_get(&h->users, s->user_id);
  if (!u) {
    u = calloc(1, sizeof(*u));
    if (!u || strmap_put(&h->users, s->user_id, u) != 0) {
      free(u);
      return -1;
    }
  }
  for (int i = 0; i < u->n; i++)
    if (u->sessions[i] == s) return u->n;
  if (u->n == u->cap) {
    int cap = u->cap ? u->cap * 2 : 2;
    ws_session_t **ns = realloc(u->sessions, (size_t)cap * sizeof(*ns));
    if (!ns) {
      if (u->n == 0) free_user(s->user_id, strmap_del(&h->users, s->user_id), NULL);
      return -1;
    }
    u->sessions = ns;
    u->cap = cap;
  }
  u->sessions[u->n++] = s;
  h->sessions++;
  h->gen++;
  return u->n;
}

int hub_remove(hub_t *h, ws_session_t *s) {
  hub_user_t *u = strmap_get(&h->users, s->user_id);
  if (!u) return 0;
  for (int i = 0; i < u->n; i++) {
    if (u->sessions[i] != s) continue;
    u->sessions[i] = u->sessions[--u->n];
    assert(h->sessions > 0);
    h->sessions--;
    h->gen++;
    break;
  }
  int left = u->n;
  if (left == 0) free_user(s->user_id, strmap_del(&h->users, s->user_id), NULL);
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
  hub_user_t *u = strmap_get(&h->users, user_id);
  if (u && u->n) call_each(u->sessions, u->n, fn, arg);
}

typedef struct collect_s {
  ws_session_t **all;
  int n;
} collect_t;

static int collect(const char *key, void *value, void *arg) {
  collect_t *c = arg;
  hub_user_t *u = value;
  for (int j = 0; j < u->n; j++) c->all[c->n++] = u->sessions[j];
  return 0;
}

void hub_foreach_all(hub_t *h, void (*fn)(ws_session_t *s, void *arg), void *arg) {
  if (h->sessions == 0) return;
  collect_t c = {malloc((size_t)h->sessions * sizeof(ws_session_t *)), 0};
  if (!c.all) return;
  strmap_sweep(&h->users, collect, &c);
  for (int i = 0; i < c.n; i++) fn(c.all[i], arg);
  free(c.all);
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
int hub_user_count(const hub_t *h) { return (int)strmap_count(&h->users); }
uint64_t hub_generation(const hub_t *h) { return h->gen; }
