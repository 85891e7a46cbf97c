/* Counters for GET /metrics and their Prometheus text exposition. Loop thread
 * only: every update comes from a loop callback. */
#include "parley/metrics.h"

#include <stdlib.h>
#include <string.h>

static const double bucket_bounds[METRICS_LATENCY_BUCKETS] = {
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5};

typedef struct req_counter_s {
  const char *method; /* static strings */
  const char *route;
  int status;
  uint64_t count;
} req_counter_t;

typedef struct req_table_s {
  req_counter_t *items;
  size_t len, cap;
} req_table_t;

metrics_t *metrics_new(void) {
  metrics_t *m = calloc(1, sizeof(*m));
  if (!m) return NULL;
  m->requests = calloc(1, sizeof(req_table_t));
  if (!m->requests) {
    free(m);
    return NULL;
  }
  return m;
}

void metrics_free(metrics_t *m) {
  if (!m) return;
  req_table_t *t = m->requests;
  free(t->items);
  free(t);
  free(m);
}

/* The table stays small (routes x methods x statuses seen), so a linear scan
 * that compares static pointers first is cheap enough. */
void metrics_request(metrics_t *m, const char *method, const char *route, int status,
                     double seconds) {
  req_table_t *t = m->requests;
  if (!route) route = "unmatched";
  req_counter_t *hit = NULL;
  for (size_t i = 0; i < t->len; i++) {
    req_counter_t *c = &t->items[i];
    if (c->status == status && (c->route == route || strcmp(c->route, route) == 0) &&
        (c->method == method || strcmp(c->method, method) == 0)) {
      hit = c;
      break;
    }
  }
  if (!hit && t->len < 4096) {
    if (t->len == t->cap) {
      size_t cap = t->cap ? t->cap * 2 : 64;
      req_counter_t *items = realloc(t->items, cap * sizeof(*items));
      if (!items) return;
      t->items = items;
      t->cap = cap;
    }
    hit = &t->items[t->len++];
    *hit = (req_counter_t){method, route, status, 0};
  }
  if (hit) hit->count++;
  int b = 0;
  while (b < METRICS_LATENCY_BUCKETS && seconds > bucket_bounds[b]) b++;
  m->latency_buckets[b]++;
  m->latency_sum_s += seconds;
  m->latency_count++;
}

/* Whole numbers (bytes, counts) are written in full: six significant digits
 * would hide a slow rise of a figure in the millions. */
void metrics_gauge(buf_t *out, const char *name, const char *help, double value) {
  if (value > -9e15 && value < 9e15 && value == (double)(long long)value)
    buf_printf(out, "# HELP %s %s\n# TYPE %s gauge\n%s %lld\n", name, help, name, name,
               (long long)value);
  else
    buf_printf(out, "# HELP %s %s\n# TYPE %s gauge\n%s %.6g\n", name, help, name, name, value);
}

void metrics_counter(buf_t *out, const char *name, const char *help, uint64_t value) {
  buf_printf(out, "# HELP %s %s\n# TYPE %s counter\n%s %llu\n", name, help, name, name,
             (unsigned long long)value);
}

void metrics_render(const metrics_t *m, buf_t *out) {
  const req_table_t *t = m->requests;
  buf_append_str(out,
                 "# HELP parley_http_requests_total HTTP requests by route and status\n"
                 "# TYPE parley_http_requests_total counter\n");
  for (size_t i = 0; i < t->len; i++)
    buf_printf(out, "parley_http_requests_total{method=\"%s\",route=\"%s\",status=\"%d\"} %llu\n",
               t->items[i].method, t->items[i].route, t->items[i].status,
               (unsigned long long)t->items[i].count);
  buf_append_str(out,
                 "# HELP parley_http_request_duration_seconds HTTP request latency\n"
                 "# TYPE parley_http_request_duration_seconds histogram\n");
  uint64_t cum = 0;
  for (int b = 0; b < METRICS_LATENCY_BUCKETS; b++) {
    cum += m->latency_buckets[b];
    buf_printf(out, "parley_http_request_duration_seconds_bucket{le=\"%g\"} %llu\n",
               bucket_bounds[b], (unsigned long long)cum);
  }
  cum += m->latency_buckets[METRICS_LATENCY_BUCKETS];
  buf_printf(out, "parley_http_request_duration_seconds_bucket{le=\"+Inf\"} %llu\n",
             (unsigned long long)cum);
  buf_printf(out, "parley_http_request_duration_seconds_sum %.6f\n", m->latency_sum_s);
  buf_printf(out, "parley_http_request_duration_seconds_count %llu\n",
             (unsigned long long)m->latency_count);
  metrics_counter(out, "parley_connections_total", "TCP connections accepted",
                  m->connections_total);
  metrics_counter(out, "parley_connections_refused_total",
                  "connections closed at accept (max_connections, out of memory)",
                  m->connections_refused_total);
  metrics_counter(out, "parley_http_slow_readers_total",
                  "HTTP connections closed for leaving their replies unread",
                  m->http_slow_readers_total);
  metrics_counter(out, "parley_ws_sessions_total", "WebSocket sessions opened",
                  m->ws_sessions_total);
  metrics_counter(out, "parley_messages_stored_total", "messages stored", m->messages_stored);
  metrics_counter(out, "parley_messages_delivered_total", "message frames delivered to sessions",
                  m->messages_delivered);
  metrics_counter(out, "parley_ws_dropped_slow_total", "sessions dropped at their output limit",
                  m->ws_dropped_slow);
  metrics_counter(out, "parley_ws_write_delays_total",
                  "session writes held by the write delay while the loop was loaded",
                  m->ws_write_delays);
  metrics_counter(out, "parley_bus_published_total", "bus messages published", m->bus_published);
  metrics_counter(out, "parley_bus_received_total", "bus messages received", m->bus_received);
  metrics_counter(out, "parley_flow_changes_heard_total",
                  "changes of flows announced on the bus (the runner drops its copy)",
                  m->flow_changes_heard);
  metrics_counter(out, "parley_push_subscribed_heard_total",
                  "new push subscriptions announced on the bus (their user may have one now)",
                  m->push_subscribed_heard);
  metrics_counter(out, "parley_push_coalesced_total",
                  "pushes replaced while waiting by a newer message's of their subscription "
                  "and conversation",
                  m->push_coalesced);
  metrics_counter(out, "parley_push_stale_total",
                  "pushes dropped: a newer message's of their subscription and conversation "
                  "was queued or sent",
                  m->push_stale);
  metrics_counter(out, "parley_flow_waits_heard_total",
                  "asks announced on the bus (their contact may have one waiting now)",
                  m->flow_waits_heard);
  metrics_counter(out, "parley_webhook_events_total", "webhook events accepted", m->webhook_events);
  metrics_gauge(out, "parley_event_loop_lag_seconds", "last measured event-loop lag",
                m->loop_lag_ms / 1000.0);
  metrics_gauge(out, "parley_event_loop_lag_max_seconds", "largest event-loop lag seen",
                m->loop_lag_max_ms / 1000.0);
}
