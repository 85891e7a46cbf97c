/* The set of ids a store read found absent (include/parley/absent.h): a
 * string map whose values are only a mark, a generation count and a bound
 * in entries and in time. Loop thread. */
#include "parley/absent.h"

static void *const MARK = (void *)1;

void absent_init(absent_t *a, size_t max, int64_t ttl_ms) {
  strmap_init(&a->ids);
  a->max = max;
  a->ttl_ms = ttl_ms;
  a->since_ms = 0;
  a->gen = 0;
}

void absent_free(absent_t *a) { strmap_free(&a->ids); }

int absent_known(absent_t *a, const char *id, int64_t now_ms) {
  if (!id || !strmap_count(&a->ids)) return 0;
  if (now_ms - a->since_ms >= a->ttl_ms) {
    /* Old enough that a change may have gone unheard: asked again. */
    strmap_free(&a->ids);
    return 0;
  }
  return strmap_get(&a->ids, id) != NULL;
}

uint64_t absent_gen(const absent_t *a) { return a->gen; }

int absent_learn(absent_t *a, const char *id, uint64_t gen, int64_t now_ms) {
  if (!id || gen != a->gen || a->max == 0) return 0;
  if (strmap_count(&a->ids) >= a->max ||
      (strmap_count(&a->ids) && now_ms - a->since_ms >= a->ttl_ms))
    strmap_free(&a->ids);
  if (!strmap_count(&a->ids)) a->since_ms = now_ms;
  return strmap_put(&a->ids, id, MARK) == 0;
}

void absent_forget(absent_t *a, const char *id) {
  a->gen++;
  if (id)
    strmap_del(&a->ids, id);
  else
    strmap_free(&a->ids);
}

size_t absent_count(const absent_t *a) { return strmap_count(&a->ids); }
