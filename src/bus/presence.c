/* Presence in this process's memory: for each user, the instances where the user
 * is alive and until when. The local backend's presence and the Redis backend's
 * fallback while Redis is down. Owns the per-user lists. Loop thread only. */
#include <stdlib.h>
#include <string.h>

#include "bus/bus_internal.h"

struct presence_entry {
  struct presence_entry *next;
  uint64_t expires_ms;
  char instance[];
};

struct presence_user {
  struct presence_entry *head;
};

void presence_mem_init(presence_mem_t *pm) {
  strmap_init(&pm->users);
  pm->sweep_at = (strmap_cursor_t){0};
}

static void presence_free_user(struct presence_user *u) {
  while (u->head) {
    struct presence_entry *e = u->head;
    u->head = e->next;
    free(e);
  }
  free(u);
}

static int presence_free_one(const char *key, void *value, void *arg) {
  presence_free_user(value);
  return 1;
}

void presence_mem_free(presence_mem_t *pm) {
  strmap_sweep(&pm->users, presence_free_one, NULL);
  strmap_free(&pm->users);
}

/* Drops a user's expired entries and returns how many remain. */
static long long presence_prune_entries(struct presence_user *u, uint64_t now_ms) {
  long long n = 0;
  for (struct presence_entry **pe = &u->head; *pe;) {
    if ((*pe)->expires_ms <= now_ms) {
      struct presence_entry *e = *pe;
      *pe = e->next;
      free(e);
    } else {
      n++;
      pe = &(*pe)->next;
    }
  }
  return n;
}

/* The same for a user by id; a user left with no entry is removed. */
static long long presence_prune(presence_mem_t *pm, const char *user, uint64_t now_ms) {
  struct presence_user *u = strmap_get(&pm->users, user);
  if (!u) return 0;
  long long n = presence_prune_entries(u, now_ms);
  if (!n) presence_free_user(strmap_del(&pm->users, user));
  return n;
}

struct presence_sweep {
  presence_mem_t *pm;
  uint64_t now_ms;
};

static int presence_sweep_one(const char *key, void *value, void *arg) {
  struct presence_sweep *s = arg;
  if (presence_prune_entries(value, s->now_ms) > 0) return 0;
  presence_free_user(value);
  return 1;
}

static struct presence_user *presence_user_get(presence_mem_t *pm, const char *user,
                                               uint64_t now_ms) {
  struct presence_user *u = strmap_get(&pm->users, user);
  if (u) return u;
  if (strmap_count(&pm->users) >= BUS_MAX_MEM_KEYS) {
    struct presence_sweep s = {pm, now_ms};
    /* A part at a time: a full map is not walked whole for every new user. */
    strmap_sweep_some(&pm->users, &pm->sweep_at, BUS_MEM_SWEEP_MAX, presence_sweep_one, &s);
    if (strmap_count(&pm->users) >= BUS_MAX_MEM_KEYS) return NULL;
  }
  u = calloc(1, sizeof(*u));
  if (u && strmap_put(&pm->users, user, u) < 0) {
    free(u);
    u = NULL;
  }
  return u;
}

long long presence_mem_set(presence_mem_t *pm, const char *user, const char *instance,
                           int64_t ttl_ms, uint64_t now_ms) {
  struct presence_user *u = strmap_get(&pm->users, user);
  struct presence_entry **pe = u ? &u->head : NULL;
  for (; pe && *pe; pe = &(*pe)->next)
    if (strcmp((*pe)->instance, instance) == 0) break;
  if (pe && *pe) {
    /* Clearing makes it expire now; the prune below removes it. */
    (*pe)->expires_ms = ttl_ms > 0 ? now_ms + (uint64_t)ttl_ms : now_ms;
    return presence_prune(pm, user, now_ms);
  }
  if (ttl_ms <= 0) return presence_prune(pm, user, now_ms);
  if (!(u = presence_user_get(pm, user, now_ms))) return -1;
  size_t len = strlen(instance);
  struct presence_entry *e = malloc(sizeof(*e) + len + 1);
  if (!e) return -1;
  memcpy(e->instance, instance, len + 1);
  e->expires_ms = now_ms + (uint64_t)ttl_ms;
  e->next = u->head;
  u->head = e;
  return presence_prune(pm, user, now_ms);
}

long long presence_mem_count(presence_mem_t *pm, const char *user, uint64_t now_ms) {
  return presence_prune(pm, user, now_ms);
}

long long *presence_mem_counts(presence_mem_t *pm, const char *const *users, size_t n,
                               uint64_t now_ms) {
  long long *counts = malloc(n * sizeof(*counts));
  for (size_t i = 0; counts && i < n; i++) counts[i] = presence_prune(pm, users[i], now_ms);
  return counts;
}
