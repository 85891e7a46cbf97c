/* What a store read found absent, held so that the read is not asked again:
 * the users with no Web Push subscription, the contacts no flow's ask waits
 * for. An id is learned only from an answer asked after the last change
 * (a generation count: a change between the ask and the answer drops the
 * answer), every change forgets it (this instance's at once, the others'
 * through the bus), a full set starts over, and the whole set is dropped
 * ttl_ms after its first entry, in case a change went unheard. Embed an
 * absent_t and treat its fields as private. Loop thread. */
#ifndef PARLEY_ABSENT_H
#define PARLEY_ABSENT_H

#include <stddef.h>
#include <stdint.h>

#include "parley/strmap.h"

typedef struct absent_s {
  strmap_t ids;     /* id -> (void *)1 */
  size_t max;       /* ids held; one more starts over */
  int64_t ttl_ms;   /* the set is dropped this long after its first entry */
  int64_t since_ms; /* when the first entry of the set was learned */
  uint64_t gen;     /* bumped by every change */
} absent_t;

/* An empty set of at most max ids, dropped ttl_ms after its first entry. */
void absent_init(absent_t *a, size_t max, int64_t ttl_ms);
/* Frees the entries; the set is empty and usable again. */
void absent_free(absent_t *a);
/* 1 when id is known absent at now_ms, else 0. */
int absent_known(absent_t *a, const char *id, int64_t now_ms);
/* The generation to ask the store at: take it before the read, and hand it
 * to absent_learn with the answer. */
uint64_t absent_gen(const absent_t *a);
/* The read asked at gen found no id: held unless something changed since
 * (returns 1 when held, 0 when not). */
int absent_learn(absent_t *a, const char *id, uint64_t gen, int64_t now_ms);
/* id may be present now (NULL: any id may): forgotten, and every answer
 * asked before is not learned. */
void absent_forget(absent_t *a, const char *id);
/* Ids held (tests, metrics). */
size_t absent_count(const absent_t *a);

#endif
