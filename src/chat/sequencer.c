/* sequencer: per conversation, the next seq to deliver and a small sorted array
 * of held items. A gap is waited for at most hold_ms (or until max_held items
 * pile up), then passed over: the client notices the gap and asks for sync.
 * Owns the held items until it delivers or drops them. Loop thread, pure. */
#include "chat/sequencer.h"

#include <stdlib.h>
#include <string.h>

#include "parley/strmap.h"

typedef struct held_s {
  int64_t seq;
  void *item;
} held_t;

typedef struct conv_state_s {
  int64_t next; /* the seq delivered next; 0 while unknown */
  held_t *held; /* ascending seq */
  size_t nheld, capheld;
  int64_t deadline; /* when the current gap is passed over; 0: none */
  int64_t last_ms;  /* last activity, for forgetting idle conversations */
  char id[];
} conv_state_t;

struct sequencer_s {
  sequencer_opts_t o;
  strmap_t convs;
  size_t total_held;
  uint64_t dropped;
  int64_t last_sweep_ms;
};

sequencer_t *sequencer_new(const sequencer_opts_t *opts) {
  sequencer_t *q = calloc(1, sizeof(*q));
  if (!q) return NULL;
  q->o = *opts;
  strmap_init(&q->convs);
  return q;
}

static void state_free(sequencer_t *q, conv_state_t *st) {
  for (size_t i = 0; i < st->nheld; i++) {
    q->o.drop(q->o.ctx, st->held[i].item);
    q->dropped++;
  }
  q->total_held -= st->nheld;
  free(st->held);
  free(st);
}

static int free_each(const char *key, void *value, void *arg) {
  (void)key;
  state_free(arg, value);
  return 1;
}

void sequencer_free(sequencer_t *q) {
  if (!q) return;
  strmap_sweep(&q->convs, free_each, q);
  strmap_free(&q->convs);
  free(q);
}

static conv_state_t *state_get(sequencer_t *q, const char *conv_id, int create) {
  conv_state_t *st = strmap_get(&q->convs, conv_id);
  if (st || !create) return st;
  size_t n = strlen(conv_id);
  st = calloc(1, sizeof(*st) + n + 1);
  if (!st) return NULL;
  memcpy(st->id, conv_id, n + 1);
  if (strmap_put(&q->convs, st->id, st) != 0) {
    free(st);
    return NULL;
  }
  return st;
}

static void deliver(sequencer_t *q, conv_state_t *st, int64_t seq, void *item) {
  q->o.deliver(q->o.ctx, st->id, seq, item);
}

/* Delivers the held items that now follow in order. */
static void release(sequencer_t *q, conv_state_t *st) {
  size_t i = 0;
  while (i < st->nheld && st->held[i].seq <= st->next) {
    if (st->held[i].seq == st->next) {
      deliver(q, st, st->next, st->held[i].item);
      st->next++;
    } else {
      q->o.drop(q->o.ctx, st->held[i].item);
      q->dropped++;
    }
    i++;
  }
  if (i == 0) return;
  memmove(st->held, st->held + i, (st->nheld - i) * sizeof(*st->held));
  st->nheld -= i;
  q->total_held -= i;
}

/* Gives up on the gap: the lowest held seq becomes the next one. */
static void skip_gap(sequencer_t *q, conv_state_t *st) {
  if (st->nheld == 0) return;
  st->next = st->held[0].seq;
  release(q, st);
}

static int hold(sequencer_t *q, conv_state_t *st, int64_t seq, void *item) {
  size_t i = 0;
  while (i < st->nheld && st->held[i].seq < seq) i++;
  if (i < st->nheld && st->held[i].seq == seq) return -1; /* a duplicate */
  if (st->nheld == st->capheld) {
    size_t cap = st->capheld ? st->capheld * 2 : 8;
    held_t *h = realloc(st->held, cap * sizeof(*h));
    if (!h) return -1;
    st->held = h;
    st->capheld = cap;
  }
  memmove(st->held + i + 1, st->held + i, (st->nheld - i) * sizeof(*st->held));
  st->held[i].seq = seq;
  st->held[i].item = item;
  st->nheld++;
  q->total_held++;
  return 0;
}

void sequencer_push(sequencer_t *q, const char *conv_id, int64_t seq, void *item, int64_t now_ms) {
  conv_state_t *st = state_get(q, conv_id, 1);
  if (!st) {
    /* Out of memory: delivering out of order beats losing the message. */
    q->o.deliver(q->o.ctx, conv_id, seq, item);
    return;
  }
  st->last_ms = now_ms;
  /* First sight of a conversation (or first since it was forgotten): lower seqs
   * may still be on their way from other instances or other store threads, so
   * unless this is seq 1 it waits first_hold_ms like any gap. */
  if (st->next == 0 && seq == 1) st->next = 1;
  if (st->next != 0 && seq < st->next) {
    q->o.drop(q->o.ctx, item);
    q->dropped++;
    return;
  }
  if (seq == st->next) {
    deliver(q, st, seq, item);
    st->next++;
  } else if (hold(q, st, seq, item) != 0) {
    q->o.drop(q->o.ctx, item);
    q->dropped++;
    return;
  }
  if (st->next != 0) release(q, st);
  if (st->nheld > q->o.max_held) {
    skip_gap(q, st);
    st->deadline = 0;
  }
  /* The wait starts when a gap opens and is not extended by later arrivals. */
  if (!st->nheld)
    st->deadline = 0;
  else if (!st->deadline)
    st->deadline = now_ms + (st->next ? q->o.hold_ms : q->o.first_hold_ms);
}

typedef struct tick_s {
  sequencer_t *q;
  int64_t now, next_deadline;
} tick_t;

static int tick_each(const char *key, void *value, void *arg) {
  (void)key;
  tick_t *t = arg;
  conv_state_t *st = value;
  if (st->nheld && st->deadline <= t->now) {
    skip_gap(t->q, st);
    st->deadline = st->nheld ? t->now + t->q->o.hold_ms : 0;
  }
  if (st->nheld) {
    if (t->next_deadline < 0 || st->deadline - t->now < t->next_deadline)
      t->next_deadline = st->deadline - t->now;
    return 0;
  }
  if (t->now - st->last_ms >= t->q->o.idle_ms) {
    free(st->held);
    free(st);
    return 1;
  }
  return 0;
}

int64_t sequencer_tick(sequencer_t *q, int64_t now_ms) {
  tick_t t = {q, now_ms, -1};
  /* Walking every conversation costs; only do it when something is held or an
   * idle sweep is due. */
  int sweep = now_ms - q->last_sweep_ms >= q->o.idle_ms / 4;
  if (q->total_held == 0 && !sweep) return -1;
  if (sweep) q->last_sweep_ms = now_ms;
  strmap_sweep(&q->convs, tick_each, &t);
  return t.next_deadline < 0 ? -1 : (t.next_deadline > 0 ? t.next_deadline : 1);
}

size_t sequencer_held(const sequencer_t *q) { return q->total_held; }
uint64_t sequencer_dropped(const sequencer_t *q) { return q->dropped; }
