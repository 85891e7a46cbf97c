/* Time zones for flows' time conditions: the local weekday and time of day of
 * an IANA zone ("Europe/Berlin"), read from the tz database's TZif files
 * (Debian's /usr/share/zoneinfo) and parsed here, so the process-wide TZ that
 * localtime() and other threads read is never changed. Each zone's file is
 * read once, on its first use, and kept (at most FLOW_TZ_MAX zones). Loop
 * thread (one cache per runner). */
#ifndef PARLEY_FLOWS_TZ_H
#define PARLEY_FLOWS_TZ_H

#include <stddef.h>
#include <stdint.h>

#define FLOW_TZ_MAX 64

typedef struct flow_tz_s flow_tz_t;

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

/* The weekday (0 = Sunday) and minute of the day in zone at utc_s; a zone that
 * is NULL, malformed or unknown is UTC. Returns 0 in zone, -1 in UTC. */
int flow_tz_local(flow_tz_t *tz, const char *zone, int64_t utc_s, int *weekday, int *minute);

#endif
