/* TZif parsing (RFC 8536) and the zone cache of flows/tz.h. A zone's file is
 * a few kilobytes, read and checked on libuv's thread pool (uv_queue_work) on
 * its first use only; the loop thread only ever looks zones up in the cache.
 * Why the runner waits for the load rather than the account's PATCH loading
 * it: the cache is the runner's and is bounded (a full cache starts over), so
 * a zone loaded at PATCH time or at startup could be gone when a run needs it,
 * and other instances never saw that PATCH; loading at the one place a zone
 * is used, with the runner resuming the run when it is in, keeps every run
 * correct. Loop thread, but for read_zone (a pool thread, touching only its
 * own load_t). */
#include "flows/tz.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "parley/strmap.h"

#define TZIF_MAX_BYTES (256 * 1024)

typedef struct zone_s {
  unsigned char *bytes;
  size_t len;
} zone_t;

struct flow_tz_s {
  char dir[256];
  strmap_t zones; /* name -> zone_t, or a zone_t without bytes: unknown */
};

flow_tz_t *flow_tz_new(const char *dir) {
  flow_tz_t *tz = calloc(1, sizeof(*tz));
  if (!tz) return NULL;
  snprintf(tz->dir, sizeof(tz->dir), "%s", dir ? dir : "/usr/share/zoneinfo");
  strmap_init(&tz->zones);
  return tz;
}

static int drop_zone(const char *key, void *value, void *arg) {
  (void)key;
  (void)arg;
  zone_t *z = value;
  free(z->bytes);
  free(z);
  return 1;
}

void flow_tz_free(flow_tz_t *tz) {
  if (!tz) return;
  strmap_sweep(&tz->zones, drop_zone, NULL);
  strmap_free(&tz->zones);
  free(tz);
}

int flow_tz_name_ok(const char *zone) {
  size_t len = zone ? strlen(zone) : 0;
  if (len == 0 || len > 64 || zone[0] == '/' || strstr(zone, "..")) return 0;
  return strspn(zone, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-+/") == len;
}

static int64_t be(const unsigned char *p, int n) {
  uint64_t v = 0;
  for (int i = 0; i < n; i++) v = v << 8 | p[i];
  if (n == 4) return (int32_t)(uint32_t)v;
  return (int64_t)v;
}

int flow_tz_offset(const unsigned char *b, size_t len, int64_t utc_s, int32_t *offset) {
  if (len < 44 || memcmp(b, "TZif", 4) != 0) return -1;
  int tsize = 4;
  const unsigned char *h = b;
  size_t at = 0;
  for (int pass = 0; pass < 2; pass++) {
    if (at + 44 > len) return -1;
    h = b + at;
    int64_t isut = be(h + 20, 4), isstd = be(h + 24, 4), leap = be(h + 28, 4);
    int64_t timecnt = be(h + 32, 4), typecnt = be(h + 36, 4), charcnt = be(h + 40, 4);
    if (isut < 0 || isstd < 0 || leap < 0 || timecnt < 0 || typecnt < 1 || typecnt > 256 ||
        charcnt < 0)
      return -1;
    size_t data = (size_t)(timecnt * tsize + timecnt + typecnt * 6 + charcnt + leap * (tsize + 4) +
                           isstd + isut);
    if (at + 44 + data > len) return -1;
    /* A v2+ file repeats its data with 64-bit times: use that. */
    if (pass == 0 && h[4] >= '2') {
      at += 44 + data;
      tsize = 8;
      continue;
    }
    const unsigned char *times = h + 44, *idx = times + timecnt * tsize;
    const unsigned char *types = idx + timecnt;
    int64_t type = 0;
    if (timecnt == 0 || utc_s < be(times, tsize)) {
      /* Before the first transition: the first standard-time type. */
      for (int64_t t = 0; t < typecnt; t++)
        if (types[t * 6 + 4] == 0) {
          type = t;
          break;
        }
    } else {
      int64_t lo = 0, hi = timecnt - 1; /* the last transition at or before utc_s */
      while (lo < hi) {
        int64_t mid = (lo + hi + 1) / 2;
        if (be(times + mid * tsize, tsize) <= utc_s)
          lo = mid;
        else
          hi = mid - 1;
      }
      type = idx[lo];
      if (type >= typecnt) return -1;
    }
    *offset = (int32_t)be(types + type * 6, 4);
    return 0;
  }
  return -1;
}

/* A zone's file being read on the thread pool. */
typedef struct load_s {
  uv_work_t work;
  flow_tz_t *tz;
  char name[65];
  char path[512];
  unsigned char *bytes; /* NULL: unknown (missing, unreadable or no TZif file) */
  size_t len;
  flow_tz_loaded_fn loaded;
  void *arg;
} load_t;

/* A pool thread: reads and checks the file. */
static void read_zone(uv_work_t *w) {
  load_t *l = w->data;
  FILE *f = fopen(l->path, "rb");
  unsigned char *buf = f ? malloc(TZIF_MAX_BYTES) : NULL;
  size_t len = buf ? fread(buf, 1, TZIF_MAX_BYTES, f) : 0;
  if (f) fclose(f);
  int32_t off;
  if (buf && flow_tz_offset(buf, len, 0, &off) != 0) {
    free(buf);
    buf = NULL;
  }
  l->bytes = buf;
  l->len = len;
}

/* Back on the loop: the zone goes into the cache (unless a load beside this
 * one put it there first), then the caller resumes. */
static void zone_read(uv_work_t *w, int status) {
  load_t *l = w->data;
  flow_tz_t *tz = l->tz;
  if (status == 0 && !strmap_get(&tz->zones, l->name)) {
    /* Bounded: a full cache starts over (zones in use are read again). */
    if (strmap_count(&tz->zones) >= FLOW_TZ_MAX) strmap_sweep(&tz->zones, drop_zone, NULL);
    zone_t *z = calloc(1, sizeof(*z));
    if (z && strmap_put(&tz->zones, l->name, z) == 0) {
      z->bytes = l->bytes; /* NULL: remembered as unknown */
      z->len = l->len;
      l->bytes = NULL;
    } else {
      free(z);
    }
  }
  free(l->bytes);
  flow_tz_loaded_fn loaded = l->loaded;
  void *arg = l->arg;
  free(l);
  loaded(arg);
}

int flow_tz_load(flow_tz_t *tz, uv_loop_t *loop, const char *zone, flow_tz_loaded_fn loaded,
                 void *arg) {
  if (!zone || !flow_tz_name_ok(zone) || strmap_get(&tz->zones, zone)) return 1;
  load_t *l = calloc(1, sizeof(*l));
  if (!l) return -1;
  l->tz = tz;
  snprintf(l->name, sizeof(l->name), "%s", zone);
  snprintf(l->path, sizeof(l->path), "%s/%s", tz->dir, zone);
  l->loaded = loaded;
  l->arg = arg;
  l->work.data = l;
  if (uv_queue_work(loop, &l->work, read_zone, zone_read) != 0) {
    free(l);
    return -1;
  }
  return 0;
}

/* The zone as loaded; NULL when it is unknown or not loaded. */
static zone_t *zone_of(flow_tz_t *tz, const char *name) {
  zone_t *z = strmap_get(&tz->zones, name);
  return z && z->bytes ? z : NULL;
}

int flow_tz_local(flow_tz_t *tz, const char *zone, int64_t utc_s, int *weekday, int *minute) {
  int32_t offset = 0;
  int rc = -1;
  zone_t *z = zone && flow_tz_name_ok(zone) ? zone_of(tz, zone) : NULL;
  if (z && flow_tz_offset(z->bytes, z->len, utc_s, &offset) == 0) rc = 0;
  int64_t local = utc_s + (rc == 0 ? offset : 0);
  int64_t days = local >= 0 ? local / 86400 : (local - 86399) / 86400;
  int64_t secs = local - days * 86400;
  *minute = (int)(secs / 60);
  *weekday = (int)(((days % 7) + 11) % 7); /* 1970-01-01 was a Thursday (4) */
  return rc;
}
