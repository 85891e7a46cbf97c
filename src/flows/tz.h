/* Time zones for flows' time conditions: the local weekday and time of day of
 * an IANA zone ("Europe/Berlin"), read from the tz database's TZif files
 * (Debian's /usr/share/zoneinfo) and parsed here, so the process-wide TZ that
 * localtime() and other threads read is never changed. Each zone's file is
 * read once, on libuv's thread pool (flow_tz_load), and kept (at most
 * FLOW_TZ_MAX zones); flow_tz_local only looks in the cache and never reads.
 * Loop thread (one cache per runner). */
#ifndef PARLEY_FLOWS_TZ_H
#define PARLEY_FLOWS_TZ_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#define FLOW_TZ_MAX 64

typedef struct flow_tz_s flow_tz_t;
typedef void (*flow_tz_loaded_fn)(void *arg);

/* dir: the tz database's directory (NULL: /usr/share/zoneinfo). */
flow_tz_t *flow_tz_new(const char *dir);
void flow_tz_free(flow_tz_t *tz);

/* 1 when zone is a name the database may hold: 1 to 64 bytes of letters,
 * digits, '_', '-', '+' and '/', no "..", not starting with '/'. Pure. */
int flow_tz_name_ok(const char *zone);

/* The UTC offset in seconds of zone at utc_s from a TZif file's bytes (v1 or
 * v2+ data; past the last transition the last type holds). Returns 0, or -1
 * when the bytes are no TZif file. Pure. */
int flow_tz_offset(const unsigned char *tzif, size_t len, int64_t utc_s, int32_t *offset);

/* Makes sure zone is in the cache before flow_tz_local needs it. Returns 1
 * when there is nothing to load (zone NULL, malformed, or already loaded or
 * known unknown), -1 when the load cannot start (flow_tz_local gives UTC);
 * both without calling loaded. Returns 0 when the file is being read on the
 * loop's thread pool: loaded(arg) runs on the loop once the zone is in the
 * cache (or known unknown); call flow_tz_local from it, before the cache can
 * change. tz must outlive the load. */
int flow_tz_load(flow_tz_t *tz, uv_loop_t *loop, const char *zone, flow_tz_loaded_fn loaded,
                 void *arg);

/* The weekday (0 = Sunday) and minute of the day in zone at utc_s; a zone that
 * is NULL, malformed, unknown or not loaded (flow_tz_load) is UTC. Never reads
 * a file. Returns 0 in zone, -1 in UTC. */
int flow_tz_local(flow_tz_t *tz, const char *zone, int64_t utc_s, int *weekday, int *minute);

#endif
