/* A string-keyed hash map of borrowed pointers (chained, FNV-1a, doubling): the
 * one map of the tree, for the bus's channels, buckets and presence, the hub's
 * users, fan-out's conversations and the Instagram caches. Keys are copied;
 * values belong to the caller. Embed a strmap_t and treat its fields as
 * private. Not thread-safe: one thread (the loop's) uses a map. */
#ifndef PARLEY_STRMAP_H
#define PARLEY_STRMAP_H

#include <stddef.h>
#include <stdint.h>

typedef struct strmap_entry_s strmap_entry_t;
typedef struct strmap_s {
  strmap_entry_t **slots;
  size_t nslots, count;
} strmap_t;

/* Where a walk over several calls of strmap_sweep_some stands; zeroed = at the
 * start. Fields are private. */
typedef struct strmap_cursor_s {
  size_t slot, nslots;
} strmap_cursor_t;

/* An empty map; nothing is allocated until the first put. */
/* The maps' hash of a key (FNV-1a), for a table of one's own keyed alike. */
uint64_t strmap_hash(const char *s);
void strmap_init(strmap_t *m);
/* Frees the entries, not the values (sweep them out first). The map is empty
 * and usable again afterwards. */
void strmap_free(strmap_t *m);
/* The value under key, or NULL. */
void *strmap_get(const strmap_t *m, const char *key);
/* Inserts or replaces; returns 0, or -1 when memory runs out (nothing changed). */
int strmap_put(strmap_t *m, const char *key, void *value);
/* Removes the key; returns its value, or NULL when absent. */
void *strmap_del(strmap_t *m, const char *key);
/* Entries in the map. */
size_t strmap_count(const strmap_t *m);
/* Calls fn for every entry; fn returns 1 to remove the entry (its value is then
 * fn's to free), 0 to keep it. fn must not change the map otherwise. */
void strmap_sweep(strmap_t *m, int (*fn)(const char *key, void *value, void *arg), void *arg);
/* The same, a part at a time: goes on from *c through at most about `budget`
 * entries (and 4 x budget empty slots), so that a walk of a map that grows
 * with the load costs one loop turn a bounded amount. Returns 1 once the walk
 * is complete (*c is then at the start again), 0 when more remain. Between
 * calls the map may change: every entry present from the walk's start to its
 * end is visited at least once (a map that grew restarts the walk, so some
 * twice). */
int strmap_sweep_some(strmap_t *m, strmap_cursor_t *c, size_t budget,
                      int (*fn)(const char *key, void *value, void *arg), void *arg);

#endif
