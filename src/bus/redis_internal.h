/* The Redis backend's shared state, split across redis.c (connection lifecycle),
 * redis_sub.c (subscriptions), redis_cmd.c (publish, buckets, presence) and
 * redis_url.c. Private to src/bus/. Loop thread only. */
#ifndef PARLEY_BUS_REDIS_INTERNAL_H
#define PARLEY_BUS_REDIS_INTERNAL_H

#include <hiredis/async.h>
#include <hiredis/hiredis.h>

#include "bus/bus_internal.h"

typedef struct {
  char *host; /* name or numeric address, without IPv6 brackets */
  int port;
  char *user;     /* NULL unless the url names one (Redis 6 ACL) */
  char *password; /* NULL when none */
  int db;
} redis_url_t;

/* Parses redis://[[user]:password@]host[:port][/db]; returns 0 or -1. */
int redis_url_parse(const char *url, redis_url_t *out);
void redis_url_free(redis_url_t *u);

struct redis_bus;

/* One hiredis context (publishing or subscribing) and its health. */
typedef struct {
  struct redis_bus *r;
  redisAsyncContext *ac; /* NULL when there is none; hiredis owns and frees it */
  int is_sub;
  int ready;          /* the handshake was answered */
  int ping_pending;   /* a ping (or the handshake) awaits its answer */
  uint64_t ping_sent; /* uv_now when it was sent */
  size_t inflight;    /* commands awaiting replies */
} redis_conn_t;

enum redis_state {
  REDIS_S_WAIT,       /* backoff timer running */
  REDIS_S_RESOLVING,  /* uv_getaddrinfo in flight */
  REDIS_S_CONNECTING, /* contexts exist, handshake not answered on both */
  REDIS_S_UP,
  REDIS_S_TEARDOWN /* a failure was seen; contexts freed from the retry timer */
};

typedef struct redis_bus {
  bus_t base;
  redis_url_t url;
  redis_conn_t pub, sub;
  enum redis_state state;
  int resolving;
  uv_getaddrinfo_t gai;
  uv_timer_t retry_timer, ping_timer, close_timer;
  int close_phase, open_handles;
  unsigned attempt; /* failed attempts since the last time up, for backoff */
  uint64_t ping_ms, backoff_min_ms, backoff_max_ms;
  char hb_channel[64]; /* this instance's private channel: the subscriber's ping */
  strmap_t chans;      /* channel -> struct redis_chan */
  defer_t defer;
  bucket_mem_t buckets;    /* fallback while down */
  presence_mem_t presence; /* this instance's own entries, the fallback while down */
  void (*done)(void *arg);
  void *done_arg;
  char *pub_text; /* the last PUBLISH's text (redis_cmd.c), kept up to REDIS_PUB_TEXT_KEEP */
  size_t pub_cap;
} redis_bus_t;

enum { REDIS_PUB_TEXT_KEEP = 64 << 10 };

/* redis.c */
/* A connection broke or stopped answering: report down and reconnect later.
 * Safe inside hiredis callbacks (frees nothing there). */
void redis_fail(redis_bus_t *r, const char *why);
/* A handshake was answered; reports up when both contexts are ready. */
void redis_conn_ready(redis_conn_t *c);
/* Every reply callback of the publishing context calls this first: it counts the
 * command off (a NULL reply means hiredis is freeing the context). */
void redis_conn_replied(redisAsyncContext *ac);
/* Reply callback for commands whose reply only matters when it is an error. */
void redis_on_reply(redisAsyncContext *ac, void *reply, void *privdata);
/* Sends one command on c counting it in flight; returns 0 or -1. */
int redis_conn_send(redis_conn_t *c, redisCallbackFn *fn, void *privdata, int argc,
                    const char **argv, const size_t *lens);
/* The same with the command already in the protocol's text (cmd, len bytes). */
int redis_conn_send_formatted(redis_conn_t *c, redisCallbackFn *fn, void *privdata, const char *cmd,
                              size_t len);
/* Close helpers: the subscriber finished unsubscribing, or a context went away. */
void redis_close_check(redis_bus_t *r);

/* redis_sub.c */
int redis_sub_subscribe(bus_t *b, const char *channel);
int redis_sub_unsubscribe(bus_t *b, const char *channel);
/* On a new subscriber context: forgets what was in flight on the old one and
 * sends SUBSCRIBE for every channel with a count > 0. The heartbeat sent next
 * (redis_sub_ping) is answered after them, which makes the subscriber ready. */
void redis_sub_restore(redis_bus_t *r);
/* The heartbeat: re-subscribing the private channel is answered even in
 * subscribed mode, where hiredis 0.14 cannot route a PING reply. */
int redis_sub_ping(redis_bus_t *r);
void redis_sub_free(redis_bus_t *r);

/* redis_cmd.c */
int redis_cmd_publish(bus_t *b, const char *channel, const char *payload, size_t len);
int redis_cmd_bucket_take(bus_t *b, const char *key, int rate_per_min, int burst, bus_take_fn cb,
                          void *ctx);
int redis_cmd_presence_set(bus_t *b, const char *user, const char *instance, int64_t ttl_ms,
                           bus_count_fn cb, void *ctx);
int redis_cmd_presence_count(bus_t *b, const char *user, bus_count_fn cb, void *ctx);
int redis_cmd_presence_counts(bus_t *b, const char *const *users, size_t n, bus_counts_fn cb,
                              void *ctx);

#endif
