/* keymap: chained hashing (FNV-1a) that doubles its bucket array when it holds
 * more than two entries per bucket. Owns its keys, borrows its values. Loop
 * thread. */
#include "handlers/keymap.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct entry_s {
  struct entry_s *next;
  void *value;
  char key[]; /* NUL-terminated copy */
} entry_t;

struct keymap_s {
  entry_t **buckets;
  size_t nbuckets; /* a power of two */
  size_t count;
};

static uint64_t hash(const char *s) {
  uint64_t h = 1469598103934665603ULL;
  for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ULL;
  return h;
}

keymap_t *keymap_new(void) {
  keymap_t *m = calloc(1, sizeof(*m));
  if (!m) return NULL;
  m->nbuckets = 16;
  m->buckets = calloc(m->nbuckets, sizeof(*m->buckets));
  if (!m->buckets) {
    free(m);
    return NULL;
  }
  return m;
}

void keymap_free(keymap_t *m) {
  if (!m) return;
  for (size_t i = 0; i < m->nbuckets; i++) {
    entry_t *e = m->buckets[i];
    while (e) {
      entry_t *next = e->next;
      free(e);
      e = next;
    }
  }
  free(m->buckets);
  free(m);
}

static entry_t **find(const keymap_t *m, const char *key) {
  entry_t **p = &m->buckets[hash(key) & (m->nbuckets - 1)];
  while (*p && strcmp((*p)->key, key) != 0) p = &(*p)->next;
  return p;
}

void *keymap_get(const keymap_t *m, const char *key) {
  entry_t *e = *find(m, key);
  return e ? e->value : NULL;
}

/* Growing is best effort: a map that cannot grow keeps working, only slower. */
static void grow(keymap_t *m) {
  size_t n = m->nbuckets * 2;
  entry_t **b = calloc(n, sizeof(*b));
  if (!b) return;
  for (size_t i = 0; i < m->nbuckets; i++) {
    entry_t *e = m->buckets[i];
    while (e) {
      entry_t *next = e->next;
      size_t j = hash(e->key) & (n - 1);
      e->next = b[j];
      b[j] = e;
      e = next;
    }
  }
  free(m->buckets);
  m->buckets = b;
  m->nbuckets = n;
}

int keymap_put(keymap_t *m, const char *key, void *value) {
  entry_t **p = find(m, key);
  if (*p) {
    (*p)->value = value;
    return 0;
  }
  size_t klen = strlen(key);
  entry_t *e = malloc(sizeof(*e) + klen + 1);
  if (!e) return -1;
  memcpy(e->key, key, klen + 1);
  e->value = value;
  e->next = NULL;
  *p = e;
  if (++m->count > m->nbuckets * 2) grow(m);
  return 0;
}

void *keymap_remove(keymap_t *m, const char *key) {
  entry_t **p = find(m, key);
  entry_t *e = *p;
  if (!e) return NULL;
  void *v = e->value;
  *p = e->next;
  free(e);
  m->count--;
  return v;
}

size_t keymap_count(const keymap_t *m) { return m->count; }

void keymap_sweep(keymap_t *m, int (*fn)(const char *key, void *value, void *arg), void *arg) {
  for (size_t i = 0; i < m->nbuckets; i++) {
    entry_t **p = &m->buckets[i];
    while (*p) {
      entry_t *e = *p;
      if (fn(e->key, e->value, arg)) {
        *p = e->next;
        free(e);
        m->count--;
      } else {
        p = &e->next;
      }
    }
  }
}
