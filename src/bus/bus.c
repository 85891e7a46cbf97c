/* The bus interface: checks what callers pass (names and payloads are bounded)
 * and dispatches to the backend's table. Owns nothing. Loop thread only. */
#include <string.h>

#include "bus/bus_internal.h"

static int bus_name_ok(const char *s) {
  if (!s) return 0;
  size_t n = strnlen(s, BUS_MAX_NAME + 1);
  return n > 0 && n <= BUS_MAX_NAME;
}

void bus_set_handlers(bus_t *b, bus_message_fn on_message, bus_state_fn on_state, void *ctx) {
  b->on_message = on_message;
  b->on_state = on_state;
  b->ctx = ctx;
}

int bus_subscribe(bus_t *b, const char *channel) {
  if (!b || b->closing || !bus_name_ok(channel)) return -1;
  return b->ops->subscribe(b, channel);
}

int bus_unsubscribe(bus_t *b, const char *channel) {
  if (!b || b->closing || !bus_name_ok(channel)) return -1;
  return b->ops->unsubscribe(b, channel);
}

int bus_publish(bus_t *b, const char *channel, const char *payload, size_t len) {
  if (!b || b->closing || !bus_name_ok(channel) || (!payload && len) || len > BUS_MAX_PAYLOAD)
    return -1;
  return b->ops->publish(b, channel, payload ? payload : "", len);
}

int bus_is_up(const bus_t *b) { return b && !b->closing && b->ops->is_up(b); }

const char *bus_backend(const bus_t *b) { return b->ops->name; }

int bus_bucket_take(bus_t *b, const char *key, int rate_per_min, int burst, bus_take_fn cb,
                    void *ctx) {
  if (!b || b->closing || !bus_name_ok(key) || rate_per_min <= 0 || burst <= 0 || !cb) return -1;
  return b->ops->bucket_take(b, key, rate_per_min, burst, cb, ctx);
}

int bus_presence_set(bus_t *b, const char *user_id, const char *instance_id, int64_t ttl_ms,
                     bus_count_fn cb, void *ctx) {
  if (!b || b->closing || !bus_name_ok(user_id) || !bus_name_ok(instance_id) || ttl_ms < 0)
    return -1;
  return b->ops->presence_set(b, user_id, instance_id, ttl_ms, cb, ctx);
}

int bus_presence_count(bus_t *b, const char *user_id, bus_count_fn cb, void *ctx) {
  if (!b || b->closing || !bus_name_ok(user_id) || !cb) return -1;
  return b->ops->presence_count(b, user_id, cb, ctx);
}

int bus_presence_counts(bus_t *b, const char *const *users, size_t n, bus_counts_fn cb, void *ctx) {
  if (!b || b->closing || !users || n == 0 || n > BUS_PRESENCE_MANY || !cb) return -1;
  for (size_t i = 0; i < n; i++)
    if (!bus_name_ok(users[i])) return -1;
  return b->ops->presence_counts(b, users, n, cb, ctx);
}

void bus_close(bus_t *b, void (*done)(void *arg), void *arg) {
  if (!b || b->closing) return;
  b->closing = 1;
  b->ops->close(b, done, arg);
}
