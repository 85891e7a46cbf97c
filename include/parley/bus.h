/* The bus: publish/subscribe between instances, plus the little shared state the
 * instances need (rate-limit buckets, presence with a TTL). Two backends: in
 * process (default, src/bus/local.c) and Redis (src/bus/redis.c: hiredis async on
 * its libuv adapter, one publishing and one subscribing context, reconnect with
 * backoff and jitter, resubscribe on reconnect, periodic PING).
 * Loop thread only; every callback runs on the loop thread. */
#ifndef PARLEY_BUS_H
#define PARLEY_BUS_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

typedef struct bus_s bus_t;

/* A message arrived on a subscribed channel; borrowed for the call. Messages
 * published by this instance are delivered to it too (as Redis does). */
typedef void (*bus_message_fn)(void *ctx, const char *channel, const char *payload, size_t len);
/* The bus connected (up = 1) or lost its connection (up = 0). After a
 * reconnection, subscriptions are already restored when this runs. */
typedef void (*bus_state_fn)(void *ctx, int up);

bus_t *bus_local_new(uv_loop_t *loop);
/* url: redis://[:password@]host[:port][/db]. The host name is resolved off the
 * loop. Returns NULL on a malformed url. Connects in the background. */
bus_t *bus_redis_new(uv_loop_t *loop, const char *url);

void bus_set_handlers(bus_t *b, bus_message_fn on_message, bus_state_fn on_state, void *ctx);

/* Subscriptions are counted per channel: the channel is subscribed on the
 * first call and unsubscribed when the count returns to zero. Return 0 or -1. */
int bus_subscribe(bus_t *b, const char *channel);
int bus_unsubscribe(bus_t *b, const char *channel);
/* Publishes (copied). Returns 0 when queued, -1 when the bus is down (the caller
 * has already delivered locally; clients recover with sync). */
int bus_publish(bus_t *b, const char *channel, const char *payload, size_t len);

/* 1 when connected (always for local). "local" or "redis". */
int bus_is_up(const bus_t *b);
const char *bus_backend(const bus_t *b);

/* A token bucket shared by every instance: `rate_per_min` tokens a minute, at
 * most `burst`. Takes one token for key and calls cb with allowed = 1, or 0 and
 * the milliseconds until a token is available. When Redis is down the bucket
 * falls back to this instance's own memory. */
typedef void (*bus_take_fn)(void *ctx, int allowed, int64_t retry_after_ms);
int bus_bucket_take(bus_t *b, const char *key, int rate_per_min, int burst, bus_take_fn cb,
                    void *ctx);

/* Presence: marks (user, instance) alive for ttl_ms (refreshed by calling again)
 * or gone (ttl_ms = 0); cb gets the number of instances where the user is still
 * alive. An instance that dies stops refreshing and its entries expire. */
typedef void (*bus_count_fn)(void *ctx, int status, long long count);
int bus_presence_set(bus_t *b, const char *user_id, const char *instance_id, int64_t ttl_ms,
                     bus_count_fn cb, void *ctx);
int bus_presence_count(bus_t *b, const char *user_id, bus_count_fn cb, void *ctx);
/* The same for n users at once (1 to BUS_PRESENCE_MANY; users borrowed for the
 * call): counts[i] is users[i]'s, the array borrowed for the callback. One
 * round trip to Redis, where n single counts would be n. */
#define BUS_PRESENCE_MANY 1000
typedef void (*bus_counts_fn)(void *ctx, int status, const long long *counts, size_t n);
int bus_presence_counts(bus_t *b, const char *const *users, size_t n, bus_counts_fn cb, void *ctx);

/* Unsubscribes and disconnects; done runs on the loop thread when every handle is
 * closed. */
void bus_close(bus_t *b, void (*done)(void *arg), void *arg);

#endif
