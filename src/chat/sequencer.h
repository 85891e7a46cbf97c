/* The per-conversation reorder buffer of fan-out: messages reach an instance
 * out of seq order (store completions on several threads, other instances'
 * publishes), and clients must see them in seq order. Pure: no I/O, time is
 * passed in, so it is unit-tested alone. Loop thread. */
#ifndef PARLEY_CHAT_SEQUENCER_H
#define PARLEY_CHAT_SEQUENCER_H

#include <stddef.h>
#include <stdint.h>

typedef struct sequencer_s sequencer_t;

/* Called for each item released in order; takes ownership of item. */
typedef void (*sequencer_deliver_fn)(void *ctx, const char *conv_id, int64_t seq, void *item);
/* Called for an item that will never be delivered (a duplicate, or one that
 * arrived after its gap was passed over); takes ownership of item. */
typedef void (*sequencer_drop_fn)(void *ctx, void *item);

typedef struct sequencer_opts_s {
  int64_t hold_ms;       /* how long a gap is waited for before it is passed over */
  int64_t first_hold_ms; /* the same for the first message of a conversation seen */
  size_t max_held;       /* items held per conversation before a gap is passed over */
  int64_t idle_ms;       /* a conversation with nothing held is forgotten after this */
  sequencer_deliver_fn deliver;
  sequencer_drop_fn drop;
  void *ctx;
} sequencer_opts_t;

sequencer_t *sequencer_new(const sequencer_opts_t *opts);
/* Drops every held item (drop_fn) and frees. */
void sequencer_free(sequencer_t *q);

/* A message arrived: delivers it, and what it unblocks, or holds it. */
void sequencer_push(sequencer_t *q, const char *conv_id, int64_t seq, void *item, int64_t now_ms);
/* Passes over gaps whose wait ended and forgets idle conversations. Returns the
 * milliseconds until the next gap deadline, or -1 when nothing is held. */
int64_t sequencer_tick(sequencer_t *q, int64_t now_ms);
/* Items held, over every conversation. */
size_t sequencer_held(const sequencer_t *q);
/* Items dropped since creation. */
uint64_t sequencer_dropped(const sequencer_t *q);

#endif
