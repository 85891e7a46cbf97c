/* The Redis bus's connection lifecycle: resolve the host off the loop, open a
 * publishing and a subscribing hiredis context, ping both, reconnect with backoff
 * and jitter, and close. Owns the contexts (through hiredis), three timers and the
 * deferred-callback queue. Loop thread only. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include <hiredis/adapters/libuv.h>

#include "bus/redis_internal.h"
#include "parley/log.h"
#include "parley/util.h"

enum {
  REDIS_PING_MS = 5000,
  REDIS_BACKOFF_MIN_MS = 100,
  REDIS_BACKOFF_MAX_MS = 5000,
  REDIS_CONNECT_MS = 1000, /* connect and handshake, at most */
  /* hiredis reads 16 KiB at a time: 1 MiB a turn at most (redis_poll). */
  REDIS_READS_A_TURN = 64,
  /* A ping past its deadline while its answer may be among bytes not yet read
   * is given this many intervals in all (redis_on_ping_timer). */
  REDIS_PING_GRACE = 4,
};

static void redis_on_retry(uv_timer_t *t);
static void redis_on_close_timer(uv_timer_t *t);

/* ---- backoff ---- */

/* min doubling per failed attempt up to max, then +-20% so that instances that
 * lost Redis together do not come back in lockstep. */
static uint64_t redis_backoff(redis_bus_t *r) {
  uint64_t d = r->backoff_min_ms;
  for (unsigned i = 0; i < r->attempt && d < r->backoff_max_ms; i++) d *= 2;
  if (d > r->backoff_max_ms) d = r->backoff_max_ms;
  if (r->attempt < 32) r->attempt++;
  uint32_t rnd;
  util_random(&rnd, sizeof(rnd));
  double jitter = 0.8 + 0.4 * ((double)rnd / 4294967295.0);
  return (uint64_t)((double)d * jitter);
}

static void redis_schedule(redis_bus_t *r, uint64_t delay_ms) {
  uv_timer_start(&r->retry_timer, redis_on_retry, delay_ms, 0);
}

/* ---- replies ---- */

static int redis_reply_error(const redisReply *reply) {
  return !reply || reply->type == REDIS_REPLY_ERROR;
}

int redis_conn_send(redis_conn_t *c, redisCallbackFn *fn, void *privdata, int argc,
                    const char **argv, const size_t *lens) {
  if (!c->ac || c->inflight >= BUS_MAX_QUEUED) return -1;
  if (redisAsyncCommandArgv(c->ac, fn, privdata, argc, argv, lens) != REDIS_OK) return -1;
  /* Subscriber replies come through hiredis's channel table, not one per command. */
  if (!c->is_sub) c->inflight++;
  return 0;
}

int redis_conn_send_formatted(redis_conn_t *c, redisCallbackFn *fn, void *privdata, const char *cmd,
                              size_t len) {
  if (!c->ac || c->inflight >= BUS_MAX_QUEUED) return -1;
  if (redisAsyncFormattedCommand(c->ac, fn, privdata, cmd, len) != REDIS_OK) return -1;
  if (!c->is_sub) c->inflight++;
  return 0;
}

static redis_conn_t *redis_conn_of(redisAsyncContext *ac) { return ac->data; }

void redis_conn_replied(redisAsyncContext *ac) {
  redis_conn_t *c = redis_conn_of(ac);
  if (c->ac == ac && c->inflight) c->inflight--;
}

void redis_on_reply(redisAsyncContext *ac, void *reply, void *privdata) {
  redis_conn_replied(ac);
  redisReply *rep = reply;
  if (rep && rep->type == REDIS_REPLY_ERROR) log_warn("bus: redis: %s", rep->str);
}

/* AUTH and SELECT: a refusal means this connection is useless. */
static void redis_on_handshake(redisAsyncContext *ac, void *reply, void *privdata) {
  redis_conn_t *c = redis_conn_of(ac);
  redis_conn_replied(ac);
  redisReply *rep = reply;
  if (rep && rep->type == REDIS_REPLY_ERROR && c->ac == ac) {
    log_error("bus: redis refused the handshake: %s", rep->str);
    redis_fail(c->r, "handshake refused");
  }
}

static void redis_on_pong(redisAsyncContext *ac, void *reply, void *privdata) {
  redis_conn_t *c = redis_conn_of(ac);
  redis_conn_replied(ac);
  if (c->ac != ac || !reply) return;
  if (redis_reply_error(reply)) {
    log_warn("bus: redis PING failed: %s", ((redisReply *)reply)->str);
    redis_fail(c->r, "ping refused");
    return;
  }
  c->ping_pending = 0;
  if (!c->ready) redis_conn_ready(c);
}

void redis_conn_ready(redis_conn_t *c) {
  redis_bus_t *r = c->r;
  c->ready = 1;
  if (r->base.closing || r->state != REDIS_S_CONNECTING || !r->pub.ready || !r->sub.ready) return;
  r->state = REDIS_S_UP;
  r->attempt = 0;
  uv_timer_stop(&r->retry_timer); /* the connect deadline */
  log_info("bus: redis up at %s:%d", r->url.host, r->url.port);
  if (r->base.on_state) r->base.on_state(r->base.ctx, 1);
}

/* ---- failure and reconnection ---- */

void redis_fail(redis_bus_t *r, const char *why) {
  if (r->base.closing) return;
  if (r->state != REDIS_S_CONNECTING && r->state != REDIS_S_UP) return;
  int was_up = r->state == REDIS_S_UP;
  log_warn("bus: redis connection to %s:%d lost: %s", r->url.host, r->url.port, why);
  /* Contexts are freed from the retry timer, never inside a hiredis callback. */
  r->state = REDIS_S_TEARDOWN;
  r->pub.ready = r->sub.ready = 0;
  redis_schedule(r, 0);
  if (was_up && r->base.on_state) r->base.on_state(r->base.ctx, 0);
}

/* Frees c's context now; only outside hiredis callbacks. Pending commands get a
 * NULL reply, and the disconnect callback sees c->ac cleared and ignores it. */
static void redis_conn_drop(redis_conn_t *c) {
  redisAsyncContext *ac = c->ac;
  c->ac = NULL;
  c->ready = 0;
  c->ping_pending = 0;
  if (ac) redisAsyncFree(ac);
}

static void redis_on_connect(const redisAsyncContext *ac, int status) {
  redis_conn_t *c = ac->data;
  if (status == REDIS_OK || c->ac != ac) return;
  /* hiredis frees the context after this callback returns. */
  c->ac = NULL;
  c->ready = 0;
  if (c->r->base.closing)
    redis_close_check(c->r);
  else
    redis_fail(c->r, ac->errstr[0] ? ac->errstr : "connect failed");
}

static void redis_on_disconnect(const redisAsyncContext *ac, int status) {
  redis_conn_t *c = ac->data;
  if (c->ac != ac) return;
  c->ac = NULL;
  c->ready = 0;
  if (c->r->base.closing)
    redis_close_check(c->r);
  else
    redis_fail(c->r, ac->errstr[0] ? ac->errstr : "disconnected");
}

/* AUTH then SELECT, pipelined ahead of everything else on the context. */
static void redis_conn_handshake(redis_conn_t *c) {
  redis_url_t *u = &c->r->url;
  if (u->password) {
    const char *argv[3] = {"AUTH", u->user ? u->user : u->password, u->password};
    int argc = u->user ? 3 : 2;
    redis_conn_send(c, redis_on_handshake, NULL, argc, argv, NULL);
  }
  if (u->db && !c->is_sub) {
    char db[16];
    snprintf(db, sizeof(db), "%d", u->db);
    const char *argv[2] = {"SELECT", db};
    redis_conn_send(c, redis_on_handshake, NULL, 2, argv, NULL);
  }
}

static int redis_conn_ping(redis_conn_t *c) {
  const char *argv[1] = {"PING"};
  int rc =
      c->is_sub ? redis_sub_ping(c->r) : redis_conn_send(c, redis_on_pong, NULL, 1, argv, NULL);
  if (rc == 0) {
    c->ping_pending = 1;
    c->ping_sent = uv_now(c->r->base.loop);
  }
  return rc;
}

/* ---- replies: hiredis's objects, with one large string buffer kept ----
 *
 * hiredis's own reply functions allocate each string; the subscriber's
 * envelopes (3.5 KB in groups of 100, our own included) each took a
 * payload-sized malloc, 5,000 instructions in glibc's large bins. hiredis frees
 * every reply of an async context right after its callback, so the last large
 * string's buffer is kept and the next large string takes it. The objects are
 * hiredis's redisReply, as its functions make them (hiredis and redis_sub.c
 * read them); only where a string's bytes live differs. Loop thread only, as
 * the bus: the buffer is the process's, shared by its Redis buses, and freed
 * with the last of them. */
enum {
  REDIS_SPARE_MIN = 1024,      /* smaller strings: malloc as hiredis does */
  REDIS_SPARE_MAX = 256 << 10, /* larger ones are not kept */
  REDIS_SPARE_ROUND = 4096,
};

static char *redis_spare; /* a free buffer of at least redis_spare_cap bytes, or NULL */
static size_t redis_spare_cap;
static int redis_buses; /* live Redis buses: the last frees the spare */

static size_t redis_spare_round(size_t n) {
  return (n + REDIS_SPARE_ROUND - 1) / REDIS_SPARE_ROUND * REDIS_SPARE_ROUND;
}

static void *redis_reply_link(const redisReadTask *task, redisReply *r) {
  if (task->parent) ((redisReply *)task->parent->obj)->element[task->idx] = r;
  return r;
}

static void *redis_reply_string(const redisReadTask *task, char *str, size_t len) {
  redisReply *r = calloc(1, sizeof(*r));
  if (!r) return NULL;
  char *buf;
  if (len + 1 >= REDIS_SPARE_MIN && redis_spare && redis_spare_cap >= len + 1) {
    buf = redis_spare;
    redis_spare = NULL;
    redis_spare_cap = 0;
  } else if (!(buf = malloc(len + 1 >= REDIS_SPARE_MIN ? redis_spare_round(len + 1) : len + 1))) {
    free(r);
    return NULL;
  }
  memcpy(buf, str, len);
  buf[len] = '\0';
  r->type = task->type;
  r->str = buf;
  r->len = len;
  return redis_reply_link(task, r);
}

static void *redis_reply_array(const redisReadTask *task, int elements) {
  redisReply *r = calloc(1, sizeof(*r));
  if (!r) return NULL;
  if (elements > 0 && !(r->element = calloc((size_t)elements, sizeof(redisReply *)))) {
    free(r);
    return NULL;
  }
  r->type = REDIS_REPLY_ARRAY;
  r->elements = elements > 0 ? (size_t)elements : 0;
  return redis_reply_link(task, r);
}

static void *redis_reply_integer(const redisReadTask *task, long long value) {
  redisReply *r = calloc(1, sizeof(*r));
  if (!r) return NULL;
  r->type = REDIS_REPLY_INTEGER;
  r->integer = value;
  return redis_reply_link(task, r);
}

static void *redis_reply_nil(const redisReadTask *task) {
  redisReply *r = calloc(1, sizeof(*r));
  if (!r) return NULL;
  r->type = REDIS_REPLY_NIL;
  return redis_reply_link(task, r);
}

static void redis_reply_free(void *reply) {
  redisReply *r = reply;
  if (!r) return;
  if (r->type == REDIS_REPLY_ARRAY) {
    for (size_t i = 0; r->element && i < r->elements; i++) redis_reply_free(r->element[i]);
    free(r->element);
  } else if (r->str) {
    /* A large string's buffer holds at least its rounded length (it was
     * allocated so, or was a spare at least that large). */
    size_t cap = r->len + 1 >= REDIS_SPARE_MIN ? redis_spare_round(r->len + 1) : 0;
    if (cap && cap <= REDIS_SPARE_MAX && cap > redis_spare_cap) {
      free(redis_spare);
      redis_spare = r->str;
      redis_spare_cap = cap;
    } else {
      free(r->str);
    }
  }
  free(r);
}

static redisReplyObjectFunctions redis_reply_fns = {
    .createString = redis_reply_string,
    .createArray = redis_reply_array,
    .createInteger = redis_reply_integer,
    .createNil = redis_reply_nil,
    .freeObject = redis_reply_free,
};

/* ---- the poll handle: hiredis's libuv adapter, reading more a turn ----
 *
 * The adapter (hiredis/adapters/libuv.h) reads once per readable event, and
 * hiredis reads 16 KiB at a time. The subscriber hears every envelope of every
 * instance, its own included (3.5 KB each in groups of 100): at 8,000 messages
 * a second that is 28 MB/s, more than 16 KiB a turn brings in when turns are
 * long, and Redis holds the rest in the subscriber's output buffer until it
 * passes the pub/sub limit (32 MB) and Redis closes the connection ("scheduled
 * to be closed ASAP for overcoming of output buffer limits"): the bus went
 * down under load. Here a readable event reads again while the socket still
 * holds bytes, up to REDIS_READS_A_TURN reads. 256 KiB a turn still lost the
 * bus at 9,000 messages a second in groups of 100 when turns lasted over about
 * 11 ms (redis100b); 1 MiB is about 560 such envelopes, the work of one turn.
 * The adapter's other hooks are its own, pointed at this callback. */
static void redis_poll(uv_poll_t *handle, int status, int events) {
  redisLibuvEvents *p = handle->data;
  if (status != 0) return;
  if (p->context && (events & UV_READABLE)) {
    redisAsyncHandleRead(p->context);
    /* p->context is NULL once hiredis freed the context (its cleanup hook). */
    for (int i = 1; i < REDIS_READS_A_TURN && p->context; i++) {
      int n = 0;
      if (p->context->c.flags & (REDIS_DISCONNECTING | REDIS_FREEING)) break;
      if (ioctl(p->context->c.fd, FIONREAD, &n) != 0 || n <= 0) break;
      redisAsyncHandleRead(p->context);
    }
  }
  if (p->context && (events & UV_WRITABLE)) redisAsyncHandleWrite(p->context);
}

static void redis_poll_set(redisLibuvEvents *p) {
  if (p->events)
    uv_poll_start(&p->handle, p->events, redis_poll);
  else
    uv_poll_stop(&p->handle);
}

static void redis_add_read(void *privdata) {
  redisLibuvEvents *p = privdata;
  p->events |= UV_READABLE;
  redis_poll_set(p);
}

static void redis_del_read(void *privdata) {
  redisLibuvEvents *p = privdata;
  p->events &= ~UV_READABLE;
  redis_poll_set(p);
}

static void redis_add_write(void *privdata) {
  redisLibuvEvents *p = privdata;
  p->events |= UV_WRITABLE;
  redis_poll_set(p);
}

static void redis_del_write(void *privdata) {
  redisLibuvEvents *p = privdata;
  p->events &= ~UV_WRITABLE;
  redis_poll_set(p);
}

/* hiredis's libuv adapter installs its hooks before it allocates its poll
 * handle; when that allocation (or the handle's init) fails, the hooks stay
 * with no handle behind them, and redisAsyncFree() would call the cleanup hook
 * on NULL. Without a handle the context has no hooks at all. */
static int redis_attach(redisAsyncContext *ac, uv_loop_t *loop) {
  if (redisLibuvAttach(ac, loop) == REDIS_OK) {
    /* Before any command: every poll start names redis_poll. */
    ac->ev.addRead = redis_add_read;
    ac->ev.delRead = redis_del_read;
    ac->ev.addWrite = redis_add_write;
    ac->ev.delWrite = redis_del_write;
    return 0;
  }
  if (!ac->ev.data) memset(&ac->ev, 0, sizeof(ac->ev));
  return -1;
}

static int redis_conn_open(redis_conn_t *c, const char *ip) {
  redisAsyncContext *ac = redisAsyncConnect(ip, c->r->url.port);
  if (!ac) return -1;
  if (ac->err) {
    log_warn("bus: redis connect to %s:%d: %s", ip, c->r->url.port, ac->errstr);
    goto fail;
  }
  if (redis_attach(ac, c->r->base.loop) != 0) goto fail;
  ac->c.reader->fn = &redis_reply_fns; /* nothing read yet */
  ac->data = c;
  redisAsyncSetConnectCallback(ac, redis_on_connect);
  redisAsyncSetDisconnectCallback(ac, redis_on_disconnect);
  c->ac = ac;
  c->ready = 0;
  c->inflight = 0;
  redis_conn_handshake(c);
  /* The first ping is the handshake's end: its answer makes the context ready,
   * and the ping deadline covers a server that accepts but never answers. */
  if (c->is_sub) redis_sub_restore(c->r);
  return redis_conn_ping(c);
fail:
  redisAsyncFree(ac);
  return -1;
}

static void redis_on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res) {
  redis_bus_t *r = req->data;
  char ip[64] = "";
  r->resolving = 0;
  /* IPv4 first: Redis listens on it by default, and "localhost" often lists ::1
   * before 127.0.0.1. */
  struct addrinfo *pick = res;
  for (struct addrinfo *ai = res; status == 0 && ai; ai = ai->ai_next)
    if (ai->ai_family == AF_INET) {
      pick = ai;
      break;
    }
  if (status == 0 && pick) {
    if (pick->ai_family == AF_INET6)
      uv_ip6_name((const struct sockaddr_in6 *)pick->ai_addr, ip, sizeof(ip));
    else
      uv_ip4_name((const struct sockaddr_in *)pick->ai_addr, ip, sizeof(ip));
  }
  uv_freeaddrinfo(res);
  if (r->base.closing) {
    redis_close_check(r);
    return;
  }
  if (!ip[0]) {
    log_warn("bus: cannot resolve redis host %s: %s", r->url.host,
             status ? uv_strerror(status) : "no address");
    r->state = REDIS_S_WAIT;
    redis_schedule(r, redis_backoff(r));
    return;
  }
  r->state = REDIS_S_CONNECTING;
  /* A refused connect is not reported through the libuv adapter (libuv gives it
   * a poll error that the adapter ignores), so the handshake has a deadline. */
  redis_schedule(r, r->ping_ms < REDIS_CONNECT_MS ? r->ping_ms : REDIS_CONNECT_MS);
  if (redis_conn_open(&r->pub, ip) < 0 || redis_conn_open(&r->sub, ip) < 0)
    redis_fail(r, "cannot open a connection");
}

static void redis_resolve(redis_bus_t *r) {
  struct addrinfo hints;
  memset(&hints, 0, sizeof(hints));
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  r->gai.data = r;
  r->state = REDIS_S_RESOLVING;
  int rc = uv_getaddrinfo(r->base.loop, &r->gai, redis_on_resolved, r->url.host, NULL, &hints);
  if (rc != 0) {
    log_warn("bus: resolving %s: %s", r->url.host, uv_strerror(rc));
    r->state = REDIS_S_WAIT;
    redis_schedule(r, redis_backoff(r));
    return;
  }
  r->resolving = 1;
}

static void redis_on_retry(uv_timer_t *t) {
  redis_bus_t *r = t->data;
  if (r->state == REDIS_S_TEARDOWN) {
    redis_conn_drop(&r->pub);
    redis_conn_drop(&r->sub);
    r->state = REDIS_S_WAIT;
    redis_schedule(r, redis_backoff(r));
  } else if (r->state == REDIS_S_WAIT) {
    redis_resolve(r);
  } else if (r->state == REDIS_S_CONNECTING) {
    redis_fail(r, "connect timed out");
  }
}

/* Every ping_ms: a ping still unanswered after a whole interval means the server
 * (or the path to it) is dead even if TCP has not noticed; otherwise ping again. */
static void redis_on_ping_timer(uv_timer_t *t) {
  redis_bus_t *r = t->data;
  if (r->state != REDIS_S_CONNECTING && r->state != REDIS_S_UP) return;
  uint64_t now = uv_now(r->base.loop);
  redis_conn_t *conns[2] = {&r->pub, &r->sub};
  for (int i = 0; i < 2; i++) {
    redis_conn_t *c = conns[i];
    if (!c->ac) continue;
    if (c->ping_pending) {
      if (now - c->ping_sent < r->ping_ms) continue;
      /* libuv runs timers before a turn's reads: after a long turn the answer
       * can be waiting in the socket, behind the envelopes of that turn. Bytes
       * waiting show the server alive; judge the ping after the reads, within
       * REDIS_PING_GRACE intervals. A stopped server sends nothing. */
      int waiting = 0;
      if (now - c->ping_sent < REDIS_PING_GRACE * r->ping_ms &&
          ioctl(c->ac->c.fd, FIONREAD, &waiting) == 0 && waiting > 0)
        continue;
      redis_fail(r, c->is_sub ? "subscriber did not answer in time" : "no answer in time");
      return;
    }
    if (redis_conn_ping(c) < 0) {
      redis_fail(r, "cannot send a ping");
      return;
    }
  }
}

/* ---- close ---- */

void redis_close_check(redis_bus_t *r) {
  if (r->close_phase != 1 || r->pub.ac || r->sub.ac || r->resolving) return;
  r->close_phase = 2;
  /* One more iteration first, so the libuv adapter's own poll handles have run
   * their close callbacks before done tells the caller the loop may end. */
  uv_timer_start(&r->close_timer, redis_on_close_timer, 1, 0);
}

static void redis_free(redis_bus_t *r) {
  redis_sub_free(r);
  bucket_mem_free(&r->buckets);
  presence_mem_free(&r->presence);
  redis_url_free(&r->url);
  free(r->pub_text);
  free(r);
  if (--redis_buses == 0) {
    free(redis_spare);
    redis_spare = NULL;
    redis_spare_cap = 0;
  }
}

static void redis_on_handle_closed(void *arg) {
  redis_bus_t *r = arg;
  if (--r->open_handles) return;
  void (*done)(void *) = r->done;
  void *done_arg = r->done_arg;
  redis_free(r);
  if (done) done(done_arg);
}

static void redis_on_timer_closed(uv_handle_t *h) { redis_on_handle_closed(h->data); }

static void redis_close_handles(redis_bus_t *r) {
  r->open_handles = 4;
  uv_close((uv_handle_t *)&r->retry_timer, redis_on_timer_closed);
  uv_close((uv_handle_t *)&r->ping_timer, redis_on_timer_closed);
  uv_close((uv_handle_t *)&r->close_timer, redis_on_timer_closed);
  defer_close(&r->defer, redis_on_handle_closed, r);
}

/* Phase 0: unsubscribe and disconnect gracefully (pending replies still arrive);
 * phase 1: after the deadline, free what is left; phase 2: close the handles. */
static void redis_on_close_timer(uv_timer_t *t) {
  redis_bus_t *r = t->data;
  if (r->close_phase == 0) {
    if (r->resolving) uv_cancel((uv_req_t *)&r->gai);
    if (r->pub.ac && (r->pub.ac->c.flags & REDIS_CONNECTED))
      redisAsyncDisconnect(r->pub.ac);
    else
      redis_conn_drop(&r->pub);
    const char *argv[1] = {"UNSUBSCRIBE"};
    /* The last unsubscribe reply disconnects the subscriber (redis_sub.c). */
    if (!r->sub.ready || redis_conn_send(&r->sub, NULL, NULL, 1, argv, NULL) < 0)
      redis_conn_drop(&r->sub);
    r->close_phase = 1;
    uv_timer_start(&r->close_timer, redis_on_close_timer, r->ping_ms < 2000 ? r->ping_ms : 2000, 0);
    redis_close_check(r);
  } else if (r->close_phase == 1) {
    redis_conn_drop(&r->pub);
    redis_conn_drop(&r->sub);
    redis_close_check(r);
  } else {
    redis_close_handles(r);
  }
}

static void redis_close(bus_t *b, void (*done)(void *arg), void *arg) {
  redis_bus_t *r = (redis_bus_t *)b;
  r->done = done;
  r->done_arg = arg;
  uv_timer_stop(&r->retry_timer);
  uv_timer_stop(&r->ping_timer);
  /* The disconnects run from a timer: bus_close may be called inside a handler
   * that hiredis is running. */
  uv_timer_start(&r->close_timer, redis_on_close_timer, 0, 0);
}

/* ---- construction ---- */

static int redis_is_up(const bus_t *b) { return ((const redis_bus_t *)b)->state == REDIS_S_UP; }

static const struct bus_ops redis_ops = {
    .name = "redis",
    .is_up = redis_is_up,
    .subscribe = redis_sub_subscribe,
    .unsubscribe = redis_sub_unsubscribe,
    .publish = redis_cmd_publish,
    .bucket_take = redis_cmd_bucket_take,
    .presence_set = redis_cmd_presence_set,
    .presence_count = redis_cmd_presence_count,
    .presence_counts = redis_cmd_presence_counts,
    .close = redis_close,
};

void bus_redis_set_timing(bus_t *b, uint64_t ping_ms, uint64_t backoff_min_ms,
                          uint64_t backoff_max_ms) {
  redis_bus_t *r = (redis_bus_t *)b;
  r->ping_ms = ping_ms ? ping_ms : REDIS_PING_MS;
  r->backoff_min_ms = backoff_min_ms ? backoff_min_ms : REDIS_BACKOFF_MIN_MS;
  r->backoff_max_ms = backoff_max_ms > r->backoff_min_ms ? backoff_max_ms : r->backoff_min_ms;
  uv_timer_start(&r->ping_timer, redis_on_ping_timer, r->ping_ms, r->ping_ms);
}

bus_t *bus_redis_new(uv_loop_t *loop, const char *url) {
  redis_bus_t *r = calloc(1, sizeof(*r));
  if (!r) return NULL;
  if (redis_url_parse(url, &r->url) < 0) {
    log_error("bus: malformed redis url");
    free(r);
    return NULL;
  }
  r->base.ops = &redis_ops;
  r->base.loop = loop;
  redis_buses++;
  r->pub.r = r->sub.r = r;
  r->sub.is_sub = 1;
  char id[25];
  util_new_id(id);
  snprintf(r->hb_channel, sizeof(r->hb_channel), "parley:bus:hb:%s", id);
  strmap_init(&r->chans);
  bucket_mem_init(&r->buckets);
  presence_mem_init(&r->presence);
  /* Timers and the idle handle cannot fail to init on a live loop. */
  uv_timer_init(loop, &r->retry_timer);
  uv_timer_init(loop, &r->ping_timer);
  uv_timer_init(loop, &r->close_timer);
  r->retry_timer.data = r->ping_timer.data = r->close_timer.data = r;
  defer_init(&r->defer, loop);
  r->state = REDIS_S_WAIT;
  bus_redis_set_timing(&r->base, 0, 0, 0);
  redis_schedule(r, 0);
  return &r->base;
}
