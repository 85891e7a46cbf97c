/* The Redis bus's commands on the publishing context: PUBLISH, and the shared
 * token bucket and presence as Lua scripts (one EVAL each, so each is atomic and
 * uses Redis's clock). While Redis is down they fall back to this instance's
 * memory. Owns each request until its reply. Loop thread only. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bus/redis_internal.h"
#include "parley/log.h"

/* KEYS[1] bucket; ARGV rate per minute, burst. Returns {allowed, retry_after_ms}.
 * Tokens refill continuously; the key expires once it would be full anyway. */
static const char redis_cmd_bucket_lua[] =
    "local t = redis.call('TIME')\n"
    "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"
    "local rate = tonumber(ARGV[1])\n"
    "local burst = tonumber(ARGV[2])\n"
    "local s = redis.call('HMGET', KEYS[1], 'tokens', 'at')\n"
    "local tokens = tonumber(s[1])\n"
    "local at = tonumber(s[2])\n"
    "if tokens == nil or at == nil then tokens = burst; at = now end\n"
    "if now > at then\n"
    "  tokens = math.min(burst, tokens + (now - at) * rate / 60000)\n"
    "  at = now\n"
    "end\n"
    "local allowed, retry = 0, 0\n"
    "if tokens >= 1 then\n"
    "  tokens = tokens - 1\n"
    "  allowed = 1\n"
    "else\n"
    "  retry = math.max(1, math.ceil((1 - tokens) * 60000 / rate))\n"
    "end\n"
    "redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(at))\n"
    "redis.call('PEXPIRE', KEYS[1], math.ceil(burst * 60000 / rate) + 1000)\n"
    "return {allowed, retry}\n";

/* KEYS[1] the user's sorted set (member instance, score expiry ms); ARGV instance,
 * ttl_ms (0 removes). Drops expired members, returns how many remain, and lets
 * the key expire with its last member. */
static const char redis_cmd_presence_set_lua[] =
    "local t = redis.call('TIME')\n"
    "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"
    "local ttl = tonumber(ARGV[2])\n"
    "if ttl > 0 then\n"
    "  redis.call('ZADD', KEYS[1], now + ttl, ARGV[1])\n"
    "else\n"
    "  redis.call('ZREM', KEYS[1], ARGV[1])\n"
    "end\n"
    "redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)\n"
    "local n = redis.call('ZCARD', KEYS[1])\n"
    "if n > 0 then\n"
    "  local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')\n"
    "  redis.call('PEXPIREAT', KEYS[1], math.ceil(tonumber(last[2])))\n"
    "end\n"
    "return n\n";

static const char redis_cmd_presence_count_lua[] =
    "local t = redis.call('TIME')\n"
    "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"
    "redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)\n"
    "return redis.call('ZCARD', KEYS[1])\n";

/* KEYS the users' sorted sets: drops expired members of each and returns the
 * counts in KEYS order. */
static const char redis_cmd_presence_counts_lua[] =
    "local t = redis.call('TIME')\n"
    "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"
    "local out = {}\n"
    "for i, k in ipairs(KEYS) do\n"
    "  redis.call('ZREMRANGEBYSCORE', k, '-inf', now)\n"
    "  out[i] = redis.call('ZCARD', k)\n"
    "end\n"
    "return out\n";

/* One EVAL in flight; what the memory fallback needs if no answer comes. */
struct redis_req {
  redis_bus_t *r;
  bus_take_fn take;
  bus_count_fn count_cb;
  void *ctx;
  int rate, burst;
  char key[]; /* the caller's bucket key or user id */
};

static struct redis_req *redis_cmd_req(redis_bus_t *r, const char *key, void *ctx) {
  size_t len = strlen(key);
  struct redis_req *q = calloc(1, sizeof(*q) + len + 1);
  if (!q) return NULL;
  q->r = r;
  q->ctx = ctx;
  memcpy(q->key, key, len + 1);
  return q;
}

/* EVAL script 1 <prefix><key> args...: nargs (at most 2) arguments. */
static int redis_cmd_eval(redis_bus_t *r, redisCallbackFn *fn, struct redis_req *q,
                          const char *script, const char *prefix, const char *key, int nargs,
                          const char *const *args) {
  char full[BUS_MAX_NAME + 32];
  snprintf(full, sizeof(full), "%s%s", prefix, key);
  const char *argv[6] = {"EVAL", script, "1", full, NULL, NULL};
  for (int i = 0; i < nargs && i < 2; i++) argv[4 + i] = args[i];
  if (r->state != REDIS_S_UP) return -1;
  return redis_conn_send(&r->pub, fn, q, 4 + nargs, argv, NULL);
}

/* "$<n>\r\n<s>\r\n", a bulk string of the protocol, at out; returns its length. */
static size_t redis_cmd_bulk(char *out, const char *s, size_t n) {
  char num[24];
  size_t k = sizeof(num), at = 0, v = n;
  do {
    num[--k] = (char)('0' + v % 10);
    v /= 10;
  } while (v);
  out[at++] = '$';
  memcpy(out + at, num + k, sizeof(num) - k);
  at += sizeof(num) - k;
  memcpy(out + at, "\r\n", 2);
  at += 2;
  if (n) memcpy(out + at, s, n);
  at += n;
  memcpy(out + at, "\r\n", 2);
  return at + 2;
}

/* PUBLISH written here in the protocol's text: hiredis's formatting of the
 * arguments (an sdscatfmt per argument into a growing string, then a copy)
 * was 3,000 instructions a message. Written into r->pub_text, which hiredis
 * copies: a new allocation of a payload's size was 2,600 more (glibc's large
 * bins). */
int redis_cmd_publish(bus_t *b, const char *channel, const char *payload, size_t len) {
  redis_bus_t *r = (redis_bus_t *)b;
  if (r->state != REDIS_S_UP) return -1;
  size_t clen = strlen(channel), need = 17 + 2 * 32 + clen + len;
  if (need > r->pub_cap) {
    char *p = realloc(r->pub_text, need);
    if (!p) return -1;
    r->pub_text = p;
    r->pub_cap = need;
  }
  char *cmd = r->pub_text;
  memcpy(cmd, "*3\r\n$7\r\nPUBLISH\r\n", 17);
  size_t at = 17;
  at += redis_cmd_bulk(cmd + at, channel, clen);
  at += redis_cmd_bulk(cmd + at, payload, len);
  int rc = redis_conn_send_formatted(&r->pub, redis_on_reply, NULL, cmd, at);
  if (r->pub_cap > REDIS_PUB_TEXT_KEEP) {
    free(r->pub_text);
    r->pub_text = NULL;
    r->pub_cap = 0;
  }
  return rc;
}

/* ---- token bucket ---- */

static int redis_cmd_bucket_mem(redis_bus_t *r, const char *key, int rate, int burst,
                                bus_take_fn cb, void *ctx) {
  int64_t retry = 0;
  int ok = bucket_mem_take(&r->buckets, key, rate, burst, uv_now(r->base.loop), &retry);
  return defer_take_result(&r->defer, cb, ctx, ok, retry);
}

static void redis_cmd_on_bucket(redisAsyncContext *ac, void *reply, void *privdata) {
  struct redis_req *q = privdata;
  redisReply *rep = reply;
  redis_conn_replied(ac);
  if (rep && rep->type == REDIS_REPLY_ARRAY && rep->elements == 2 &&
      rep->element[0]->type == REDIS_REPLY_INTEGER &&
      rep->element[1]->type == REDIS_REPLY_INTEGER) {
    defer_take_result(&q->r->defer, q->take, q->ctx, rep->element[0]->integer == 1,
                      rep->element[1]->integer);
  } else {
    if (rep && rep->type == REDIS_REPLY_ERROR) log_warn("bus: redis bucket: %s", rep->str);
    redis_cmd_bucket_mem(q->r, q->key, q->rate, q->burst, q->take, q->ctx);
  }
  free(q);
}

int redis_cmd_bucket_take(bus_t *b, const char *key, int rate_per_min, int burst, bus_take_fn cb,
                          void *ctx) {
  redis_bus_t *r = (redis_bus_t *)b;
  struct redis_req *q = r->state == REDIS_S_UP ? redis_cmd_req(r, key, ctx) : NULL;
  if (q) {
    char rate[16], cap[16];
    snprintf(rate, sizeof(rate), "%d", rate_per_min);
    snprintf(cap, sizeof(cap), "%d", burst);
    q->take = cb;
    q->rate = rate_per_min;
    q->burst = burst;
    const char *args[2] = {rate, cap};
    if (redis_cmd_eval(r, redis_cmd_on_bucket, q, redis_cmd_bucket_lua, "parley:bucket:", key, 2,
                       args) == 0)
      return 0;
    free(q);
  }
  return redis_cmd_bucket_mem(r, key, rate_per_min, burst, cb, ctx);
}

/* ---- presence ---- */

static void redis_cmd_on_count(redisAsyncContext *ac, void *reply, void *privdata) {
  struct redis_req *q = privdata;
  redisReply *rep = reply;
  redis_conn_replied(ac);
  long long n;
  if (rep && rep->type == REDIS_REPLY_INTEGER) {
    n = rep->integer;
  } else {
    if (rep && rep->type == REDIS_REPLY_ERROR) log_warn("bus: redis presence: %s", rep->str);
    n = presence_mem_count(&q->r->presence, q->key, uv_now(q->r->base.loop));
  }
  defer_count_result(&q->r->defer, q->count_cb, q->ctx, 0, n);
  free(q);
}

/* Sends the script, or answers from memory when Redis is down. */
static int redis_cmd_presence(redis_bus_t *r, const char *script, const char *user, int nargs,
                              const char *const *args, bus_count_fn cb, void *ctx) {
  struct redis_req *q = r->state == REDIS_S_UP ? redis_cmd_req(r, user, ctx) : NULL;
  if (q) {
    q->count_cb = cb;
    if (redis_cmd_eval(r, redis_cmd_on_count, q, script, "parley:presence:", user, nargs, args) ==
        0)
      return 0;
    free(q);
  }
  long long n = presence_mem_count(&r->presence, user, uv_now(r->base.loop));
  return defer_count_result(&r->defer, cb, ctx, 0, n);
}

int redis_cmd_presence_set(bus_t *b, const char *user, const char *instance, int64_t ttl_ms,
                           bus_count_fn cb, void *ctx) {
  redis_bus_t *r = (redis_bus_t *)b;
  /* This instance's own entries stay in memory too: they are the answer while
   * Redis is down. */
  if (presence_mem_set(&r->presence, user, instance, ttl_ms, uv_now(b->loop)) < 0) return -1;
  char ttl[24];
  snprintf(ttl, sizeof(ttl), "%lld", (long long)ttl_ms);
  const char *args[2] = {instance, ttl};
  return redis_cmd_presence(r, redis_cmd_presence_set_lua, user, 2, args, cb, ctx);
}

int redis_cmd_presence_count(bus_t *b, const char *user, bus_count_fn cb, void *ctx) {
  return redis_cmd_presence((redis_bus_t *)b, redis_cmd_presence_count_lua, user, 0, NULL, cb, ctx);
}

/* ---- presence of many users: one EVAL ---- */

struct redis_counts_req {
  redis_bus_t *r;
  bus_counts_fn cb;
  void *ctx;
  size_t n;
  char **users; /* copies, for the memory fallback */
};

static void redis_counts_req_free(struct redis_counts_req *q) {
  for (size_t i = 0; q->users && i < q->n; i++) free(q->users[i]);
  free(q->users);
  free(q);
}

static int redis_cmd_counts_mem(redis_bus_t *r, const char *const *users, size_t n,
                                bus_counts_fn cb, void *ctx) {
  long long *counts = presence_mem_counts(&r->presence, users, n, uv_now(r->base.loop));
  if (!counts) return -1;
  return defer_counts_result(&r->defer, cb, ctx, 0, counts, n);
}

static void redis_cmd_on_counts(redisAsyncContext *ac, void *reply, void *privdata) {
  struct redis_counts_req *q = privdata;
  redisReply *rep = reply;
  redis_conn_replied(ac);
  int ok = rep && rep->type == REDIS_REPLY_ARRAY && rep->elements == q->n;
  for (size_t i = 0; ok && i < q->n; i++) ok = rep->element[i]->type == REDIS_REPLY_INTEGER;
  long long *counts = ok ? malloc(q->n * sizeof(*counts)) : NULL;
  if (counts) {
    for (size_t i = 0; i < q->n; i++) counts[i] = rep->element[i]->integer;
    defer_counts_result(&q->r->defer, q->cb, q->ctx, 0, counts, q->n);
  } else {
    if (rep && rep->type == REDIS_REPLY_ERROR) log_warn("bus: redis presence: %s", rep->str);
    if (redis_cmd_counts_mem(q->r, (const char *const *)q->users, q->n, q->cb, q->ctx) != 0)
      defer_counts_result(&q->r->defer, q->cb, q->ctx, -1, NULL, 0);
  }
  redis_counts_req_free(q);
}

int redis_cmd_presence_counts(bus_t *b, const char *const *users, size_t n, bus_counts_fn cb,
                              void *ctx) {
  redis_bus_t *r = (redis_bus_t *)b;
  if (r->state != REDIS_S_UP) return redis_cmd_counts_mem(r, users, n, cb, ctx);
  struct redis_counts_req *q = calloc(1, sizeof(*q));
  const char **argv = calloc(n + 3, sizeof(*argv));
  char nkeys[24];
  int rc = -1;
  if (!q || !argv || !(q->users = calloc(n, sizeof(*q->users)))) goto done;
  q->r = r;
  q->cb = cb;
  q->ctx = ctx;
  q->n = n;
  snprintf(nkeys, sizeof(nkeys), "%zu", n);
  argv[0] = "EVAL";
  argv[1] = redis_cmd_presence_counts_lua;
  argv[2] = nkeys;
  for (size_t i = 0; i < n; i++) {
    size_t len = strlen(users[i]);
    if (!(q->users[i] = malloc(sizeof("parley:presence:") + len))) goto done;
    memcpy(q->users[i], "parley:presence:", sizeof("parley:presence:") - 1);
    memcpy(q->users[i] + sizeof("parley:presence:") - 1, users[i], len + 1);
    argv[3 + i] = q->users[i];
  }
  rc = redis_conn_send(&r->pub, redis_cmd_on_counts, q, (int)n + 3, argv, NULL);
  if (rc == 0) {
    /* The fallback needs the bare ids: drop the prefix in place (the command
     * has been formatted and copied by now). */
    for (size_t i = 0; i < n; i++)
      memmove(q->users[i], q->users[i] + sizeof("parley:presence:") - 1,
              strlen(q->users[i]) - (sizeof("parley:presence:") - 1) + 1);
    q = NULL;
  }
done:
  free(argv);
  if (q) redis_counts_req_free(q);
  return rc == 0 ? 0 : redis_cmd_counts_mem(r, users, n, cb, ctx);
}
