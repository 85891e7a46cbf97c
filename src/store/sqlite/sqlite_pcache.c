/* SQLite's own page cache with one thing changed: a truncate that has nothing
 * to drop is not passed on.
 *
 * Every COMMIT ends with sqlite3PcacheTruncate(cache, dbSize), and SQLite's
 * page cache (pcache1) then walks its hash from dbSize + 1 to the largest key
 * it has ever held since its last truncate, or the whole hash and every page
 * in it when that span is wider than the hash. A page split whose new pages
 * are out of order (btree.c's balance_nonroot) swaps their numbers through a
 * spare key, the page of the lock byte (1 GiB / page size + 1, 262,145 with
 * 4 KiB pages), so in any database under 1 GiB the commit after such a split
 * walked all of the store connection's cache (up to 16,384 pages of 64 MiB)
 * to find nothing: 10 % of the store thread's CPU in the fan-out at 10,000
 * messages/s (SQLite 3.40). The key is gone again by the split's end.
 *
 * So each cache is wrapped: it knows the largest key it holds apart from one
 * key parked above it by a rekey (hi, until it is rekeyed away), and drops a
 * truncate when no key is at or above the limit. Invariant: every page in the
 * cache has a key <= max or == hi. Keys enter only by xFetch (a page returned:
 * max grows to it unless it is hi) and xRekey (the new key, max or hi); they
 * leave by xUnpin, eviction and xTruncate, which only make the bound loose:
 * a loose bound passes the truncate on, as before. Everything else is
 * pcache1's, unchanged. */
#include <stdlib.h>

#include "store/sqlite/sqlite_internal.h"

typedef struct {
  sqlite3_pcache *inner;
  unsigned max; /* every key held is <= max, or == hi */
  unsigned hi;  /* 0: none */
} pcache_t;

static sqlite3_pcache_methods2 inner_m;
static long skipped; /* truncates not passed on, for the tests */

static int p_init(void *arg) { return inner_m.xInit ? inner_m.xInit(inner_m.pArg) : SQLITE_OK; }

static void p_shutdown(void *arg) {
  if (inner_m.xShutdown) inner_m.xShutdown(inner_m.pArg);
}

static sqlite3_pcache *p_create(int sz_page, int sz_extra, int purgeable) {
  pcache_t *c = calloc(1, sizeof(*c));
  if (!c) return NULL;
  if (!(c->inner = inner_m.xCreate(sz_page, sz_extra, purgeable))) {
    free(c);
    return NULL;
  }
  return (sqlite3_pcache *)c;
}

static void p_cachesize(sqlite3_pcache *p, int n) { inner_m.xCachesize(((pcache_t *)p)->inner, n); }

static int p_pagecount(sqlite3_pcache *p) { return inner_m.xPagecount(((pcache_t *)p)->inner); }

static sqlite3_pcache_page *p_fetch(sqlite3_pcache *p, unsigned key, int create) {
  pcache_t *c = (pcache_t *)p;
  sqlite3_pcache_page *pg = inner_m.xFetch(c->inner, key, create);
  if (pg && key > c->max && key != c->hi) c->max = key;
  return pg;
}

static void p_unpin(sqlite3_pcache *p, sqlite3_pcache_page *pg, int discard) {
  inner_m.xUnpin(((pcache_t *)p)->inner, pg, discard);
}

static void p_rekey(sqlite3_pcache *p, sqlite3_pcache_page *pg, unsigned old_key,
                    unsigned new_key) {
  pcache_t *c = (pcache_t *)p;
  inner_m.xRekey(c->inner, pg, old_key, new_key);
  if (old_key == c->hi) c->hi = 0; /* one page a key: hi's page left it */
  if (new_key <= c->max) return;
  if (!c->hi)
    c->hi = new_key;
  else /* a second one parked: both under a plain bound */
    c->max = new_key > c->hi ? new_key : c->hi;
}

static void p_truncate(sqlite3_pcache *p, unsigned limit) {
  pcache_t *c = (pcache_t *)p;
  if (limit > c->max && (!c->hi || c->hi < limit)) {
    __atomic_add_fetch(&skipped, 1, __ATOMIC_RELAXED); /* nothing at or above limit */
    return;
  }
  inner_m.xTruncate(c->inner, limit);
  if (c->hi >= limit) c->hi = 0;
  if (c->max >= limit) c->max = limit ? limit - 1 : 0;
}

static void p_destroy(sqlite3_pcache *p) {
  pcache_t *c = (pcache_t *)p;
  inner_m.xDestroy(c->inner);
  free(c);
}

static void p_shrink(sqlite3_pcache *p) { inner_m.xShrink(((pcache_t *)p)->inner); }

int sqlite_pcache_install(void) {
  if (sqlite3_config(SQLITE_CONFIG_GETPCACHE2, &inner_m) != SQLITE_OK || !inner_m.xCreate)
    return -1;
  static sqlite3_pcache_methods2 m = {
      .iVersion = 1,
      .xInit = p_init,
      .xShutdown = p_shutdown,
      .xCreate = p_create,
      .xCachesize = p_cachesize,
      .xPagecount = p_pagecount,
      .xFetch = p_fetch,
      .xUnpin = p_unpin,
      .xRekey = p_rekey,
      .xTruncate = p_truncate,
      .xDestroy = p_destroy,
      .xShrink = p_shrink,
  };
  return sqlite3_config(SQLITE_CONFIG_PCACHE2, &m) == SQLITE_OK ? 0 : -1;
}

long sqlite_pcache_truncates_skipped(void) { return __atomic_load_n(&skipped, __ATOMIC_RELAXED); }
