/* The string map (include/parley/strmap.h): chained buckets, a load factor kept
 * under 1 by doubling, entries that carry their key and its hash. Loop thread. */
#include "parley/strmap.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

struct strmap_entry_s {
  strmap_entry_t *next;
  uint64_t hash;
  void *value;
  char key[]; /* copied */
};

/* FNV-1a: keys are server-made ids and names, so a keyed hash buys nothing. */
uint64_t strmap_hash(const char *s) {
  uint64_t h = 1469598103934665603ULL;
  for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ULL;
  return h;
}

void strmap_init(strmap_t *m) { memset(m, 0, sizeof(*m)); }

void strmap_free(strmap_t *m) {
  for (size_t i = 0; i < m->nslots; i++) {
    strmap_entry_t *e = m->slots[i];
    while (e) {
      strmap_entry_t *next = e->next;
      free(e);
      e = next;
    }
  }
  free(m->slots);
  memset(m, 0, sizeof(*m));
}

static strmap_entry_t **strmap_find(const strmap_t *m, const char *key, uint64_t h) {
  if (!m->nslots) return NULL;
  strmap_entry_t **pe = &m->slots[h & (m->nslots - 1)];
  for (; *pe; pe = &(*pe)->next)
    if ((*pe)->hash == h && strcmp((*pe)->key, key) == 0) return pe;
  return pe;
}

void *strmap_get(const strmap_t *m, const char *key) {
  strmap_entry_t **pe = strmap_find(m, key, strmap_hash(key));
  return pe && *pe ? (*pe)->value : NULL;
}

static int strmap_grow(strmap_t *m) {
  size_t n = m->nslots ? m->nslots * 2 : 16;
  strmap_entry_t **slots = calloc(n, sizeof(*slots));
  if (!slots) return -1;
  for (size_t i = 0; i < m->nslots; i++) {
    strmap_entry_t *e = m->slots[i];
    while (e) {
      strmap_entry_t *next = e->next;
      e->next = slots[e->hash & (n - 1)];
      slots[e->hash & (n - 1)] = e;
      e = next;
    }
  }
  free(m->slots);
  m->slots = slots;
  m->nslots = n;
  return 0;
}

int strmap_put(strmap_t *m, const char *key, void *value) {
  uint64_t h = strmap_hash(key);
  strmap_entry_t **pe = strmap_find(m, key, h);
  if (pe && *pe) {
    (*pe)->value = value;
    return 0;
  }
  /* A failed grow leaves a full table: longer chains beat a refused put. */
  if (m->count + 1 > m->nslots && strmap_grow(m) < 0 && !m->nslots) return -1;
  pe = strmap_find(m, key, h);
  size_t klen = strlen(key);
  strmap_entry_t *e = malloc(sizeof(*e) + klen + 1);
  if (!e) return -1;
  e->next = NULL;
  e->hash = h;
  e->value = value;
  memcpy(e->key, key, klen + 1);
  *pe = e;
  m->count++;
  return 0;
}

void *strmap_del(strmap_t *m, const char *key) {
  strmap_entry_t **pe = strmap_find(m, key, strmap_hash(key));
  if (!pe || !*pe) return NULL;
  strmap_entry_t *e = *pe;
  void *v = e->value;
  *pe = e->next;
  free(e);
  assert(m->count > 0);
  m->count--;
  return v;
}

size_t strmap_count(const strmap_t *m) { return m->count; }

void strmap_sweep(strmap_t *m, int (*fn)(const char *key, void *value, void *arg), void *arg) {
  for (size_t i = 0; i < m->nslots; i++) {
    strmap_entry_t **pe = &m->slots[i];
    while (*pe) {
      strmap_entry_t *e = *pe;
      if (fn(e->key, e->value, arg)) {
        *pe = e->next;
        free(e);
        assert(m->count > 0);
        m->count--;
      } else {
        pe = &e->next;
      }
    }
  }
}

int strmap_sweep_some(strmap_t *m, strmap_cursor_t *c, size_t budget,
                      int (*fn)(const char *key, void *value, void *arg), void *arg) {
  /* A grown table moved entries to slots the walk may have passed. */
  if (c->nslots != m->nslots) {
    c->slot = 0;
    c->nslots = m->nslots;
  }
  size_t entries = 0, slots = 0;
  while (c->slot < m->nslots) {
    if (entries >= budget || slots >= 4 * budget) return 0;
    strmap_entry_t **pe = &m->slots[c->slot++];
    slots++;
    while (*pe) {
      strmap_entry_t *e = *pe;
      entries++;
      if (fn(e->key, e->value, arg)) {
        *pe = e->next;
        free(e);
        assert(m->count > 0);
        m->count--;
      } else {
        pe = &e->next;
      }
    }
  }
  c->slot = 0;
  c->nslots = 0;
  return 1;
}
