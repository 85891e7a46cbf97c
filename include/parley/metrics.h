/* Process metrics for GET /metrics (Prometheus text format). Counters and
 * gauges are plain fields updated on the loop thread; the request counters are
 * keyed by (route, status) in a small table. */
#ifndef PARLEY_METRICS_H
#define PARLEY_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "parley/buf.h"

#define METRICS_LATENCY_BUCKETS 12

typedef struct metrics_s {
  uint64_t connections_total;
  uint64_t connections_refused_total; /* accepted and closed at once: cap or no memory */
  uint64_t http_slow_readers_total;   /* closed with replies piled up unread */
  uint64_t ws_sessions_total;
  uint64_t messages_stored;
  uint64_t messages_delivered; /* frames carrying a message handed to sessions */
  uint64_t ws_dropped_slow;    /* sessions dropped at their output limit */
  uint64_t ws_write_delays;    /* session writes held by the write delay (loop loaded) */
  uint64_t bus_published;
  uint64_t bus_received;
  uint64_t flow_changes_heard;    /* FLOWS_CHANGED_CHANNEL messages (this instance's too) */
  uint64_t push_subscribed_heard; /* PUSH_SUBSCRIBED_CHANNEL messages (this instance's too) */
  uint64_t flow_waits_heard;      /* FLOWS_WAITING_CHANNEL messages (this instance's too) */
  uint64_t push_coalesced;        /* pushes replaced while waiting by a newer one (push/queue.h) */
  uint64_t push_stale;            /* pushes dropped, older than one queued or sent (the same) */
  uint64_t webhook_events;
  double loop_lag_ms;                                    /* last measured */
  double loop_lag_max_ms;                                /* max since start */
  uint64_t latency_buckets[METRICS_LATENCY_BUCKETS + 1]; /* +Inf last */
  double latency_sum_s;
  uint64_t latency_count;
  void *requests; /* private: route/status counters */
} metrics_t;

metrics_t *metrics_new(void);
void metrics_free(metrics_t *m);
/* Counts one finished HTTP request. route is a static string (the pattern), or
 * NULL for unmatched paths. */
void metrics_request(metrics_t *m, const char *method, const char *route, int status,
                     double seconds);
/* Appends the text exposition of everything to out; the caller adds gauges that
 * live elsewhere (connections, sessions, store jobs) through metrics_gauge(). */
void metrics_render(const metrics_t *m, buf_t *out);
void metrics_gauge(buf_t *out, const char *name, const char *help, double value);
/* Appends one counter kept elsewhere (e.g. the access log's dropped lines). */
void metrics_counter(buf_t *out, const char *name, const char *help, uint64_t value);

#endif
