/* A string-keyed hash map of borrowed pointers, for the per-conversation and
 * per-user state of fan-out and presence. Keys are copied; values belong to the
 * caller. Not thread-safe (loop thread). */
#ifndef PARLEY_HANDLERS_KEYMAP_H
#define PARLEY_HANDLERS_KEYMAP_H

#include <stddef.h>

typedef struct keymap_s keymap_t;

keymap_t *keymap_new(void);
/* Frees the map, not the values (remove or visit them first). */
void keymap_free(keymap_t *m);
void *keymap_get(const keymap_t *m, const char *key);
/* Inserts or replaces; returns 0, or -1 when memory runs out. */
int keymap_put(keymap_t *m, const char *key, void *value);
/* Removes the key; returns its value, or NULL. */
void *keymap_remove(keymap_t *m, const char *key);
size_t keymap_count(const keymap_t *m);
/* Calls fn for every entry; fn returns 1 to remove the entry (then it owns the
 * value), 0 to keep it. fn must not touch the map otherwise. */
void keymap_sweep(keymap_t *m, int (*fn)(const char *key, void *value, void *arg), void *arg);

#endif
