/* A small string-keyed hash map (chained, FNV-1a, doubling) for the bus's channel
 * counts, buckets and presence. Owns its entries and key copies, not the values.
 * Loop thread only. */
#include <stdlib.h>
#include <string.h>

#include "bus/bus_internal.h"

static uint64_t strmap_hash(const char *s) {
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

/* Keeps the load factor under 1 so chains stay short. */
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
  if (m->count + 1 > m->nslots) {
    if (strmap_grow(m) < 0) return -1;
    pe = strmap_find(m, key, h);
  }
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
  m->count--;
  return v;
}

void strmap_each(strmap_t *m, void (*fn)(void *arg, const char *key, void *value), void *arg) {
  for (size_t i = 0; i < m->nslots; i++) {
    strmap_entry_t *e = m->slots[i];
    while (e) {
      /* Read next first: fn may delete e. */
      strmap_entry_t *next = e->next;
      fn(arg, e->key, e->value);
      e = next;
    }
  }
}
