/* The Redis bus's subscriptions: counted channels, SUBSCRIBE/UNSUBSCRIBE on the
 * subscribing context, resubscription after a reconnect, message delivery and the
 * subscriber's heartbeat. Owns the channel table. Loop thread only. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "bus/redis_internal.h"

struct redis_chan {
  int count;         /* bus_subscribe calls not yet undone */
  int unsub_pending; /* UNSUBSCRIBE sent on this context, its reply not seen */
};

static void redis_sub_on_reply(redisAsyncContext *ac, void *reply, void *privdata);

static int redis_sub_send(redis_bus_t *r, const char *cmd, const char *channel) {
  const char *argv[2] = {cmd, channel};
  return redis_conn_send(&r->sub, redis_sub_on_reply, r, 2, argv, NULL);
}

int redis_sub_subscribe(bus_t *b, const char *channel) {
  redis_bus_t *r = (redis_bus_t *)b;
  struct redis_chan *c = strmap_get(&r->chans, channel);
  if (!c) {
    if (strmap_count(&r->chans) >= BUS_MAX_CHANNELS || !(c = calloc(1, sizeof(*c)))) return -1;
    if (strmap_put(&r->chans, channel, c) < 0) {
      free(c);
      return -1;
    }
  }
  /* While an UNSUBSCRIBE is in flight, a SUBSCRIBE would race it in hiredis's
   * channel table: its reply resubscribes instead. Without a context, the next
   * connection subscribes. */
  if (c->count++ == 0 && !c->unsub_pending && r->sub.ac) redis_sub_send(r, "SUBSCRIBE", channel);
  return 0;
}

int redis_sub_unsubscribe(bus_t *b, const char *channel) {
  redis_bus_t *r = (redis_bus_t *)b;
  struct redis_chan *c = strmap_get(&r->chans, channel);
  if (!c || c->count == 0) return -1;
  if (--c->count > 0 || c->unsub_pending) return 0;
  if (r->sub.ac && redis_sub_send(r, "UNSUBSCRIBE", channel) == 0) {
    c->unsub_pending = 1;
    return 0;
  }
  free(strmap_del(&r->chans, channel));
  return 0;
}

static int redis_sub_restore_one(const char *channel, void *value, void *arg) {
  redis_bus_t *r = arg;
  struct redis_chan *c = value;
  c->unsub_pending = 0;
  if (c->count == 0) {
    free(c);
    return 1;
  }
  redis_sub_send(r, "SUBSCRIBE", channel);
  return 0;
}

void redis_sub_restore(redis_bus_t *r) { strmap_sweep(&r->chans, redis_sub_restore_one, r); }

int redis_sub_ping(redis_bus_t *r) { return redis_sub_send(r, "SUBSCRIBE", r->hb_channel); }

static int redis_sub_free_one(const char *channel, void *value, void *arg) {
  free(value);
  return 1;
}

void redis_sub_free(redis_bus_t *r) {
  strmap_sweep(&r->chans, redis_sub_free_one, NULL);
  strmap_free(&r->chans);
}

/* The UNSUBSCRIBE for channel was answered: subscribe again if it was wanted
 * back meanwhile, else forget the channel. */
static void redis_sub_unsubscribed(redis_bus_t *r, const char *channel) {
  struct redis_chan *c = strmap_get(&r->chans, channel);
  if (!c || !c->unsub_pending) return;
  c->unsub_pending = 0;
  if (c->count > 0)
    redis_sub_send(r, "SUBSCRIBE", channel);
  else
    free(strmap_del(&r->chans, channel));
}

static void redis_sub_message(redis_bus_t *r, const char *channel, const redisReply *payload) {
  struct redis_chan *c = strmap_get(&r->chans, channel);
  /* Messages already in flight when the count dropped to zero are not wanted. */
  if (!c || c->count == 0 || !r->base.on_message || r->base.closing) return;
  if (payload->type != REDIS_REPLY_STRING) return;
  r->base.on_message(r->base.ctx, channel, payload->str, payload->len);
}

/* Every reply of the subscribing context: hiredis routes them by channel name. */
static void redis_sub_on_reply(redisAsyncContext *ac, void *reply, void *privdata) {
  redis_bus_t *r = privdata;
  redisReply *rep = reply;
  /* NULL: hiredis is freeing the context; the disconnect callback handles it. */
  if (!rep || r->sub.ac != ac || rep->type != REDIS_REPLY_ARRAY || rep->elements < 3) return;
  const redisReply *kind = rep->element[0], *chan = rep->element[1];
  if (kind->type != REDIS_REPLY_STRING) return;
  if (strcasecmp(kind->str, "unsubscribe") == 0 && r->base.closing) {
    /* The last one of bus_close's UNSUBSCRIBE: nothing is left to hear. */
    if (rep->element[2]->type == REDIS_REPLY_INTEGER && rep->element[2]->integer == 0)
      redisAsyncDisconnect(ac);
    return;
  }
  if (chan->type != REDIS_REPLY_STRING) return;
  int hb = strcmp(chan->str, r->hb_channel) == 0;
  if (strcasecmp(kind->str, "message") == 0) {
    if (!hb) redis_sub_message(r, chan->str, rep->element[2]);
  } else if (strcasecmp(kind->str, "subscribe") == 0) {
    if (!hb) return;
    r->sub.ping_pending = 0;
    if (!r->sub.ready) redis_conn_ready(&r->sub);
  } else if (strcasecmp(kind->str, "unsubscribe") == 0) {
    redis_sub_unsubscribed(r, chan->str);
  }
}
