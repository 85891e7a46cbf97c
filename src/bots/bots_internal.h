/* What the files of the bots module share: the module's state (the outbox's
 * timers and what is in flight, the registry of bot ids). Loop thread. */
#ifndef PARLEY_BOTS_INTERNAL_H
#define PARLEY_BOTS_INTERNAL_H

#include <stdint.h>
#include <uv.h>

#include "parley/bots.h"
#include "parley/strmap.h"

struct bots_s {
  app_t *app;
  uv_timer_t poll; /* every bot_poll_ms: the outbox, the registry */
  uv_timer_t soon; /* the next claim when sooner than poll */
  uint64_t soon_due;
  int in_flight; /* webhook requests */
  int claiming;  /* a BOT_CLAIM is in the store */
  int kicked;    /* something was queued meanwhile: claim again */
  int closing;
  /* registry.c: every bot's id (values unused), from BOT_IDS and bots_known */
  strmap_t ids;
  int ids_loaded;
  int ids_loading;
  uint64_t ids_at; /* uv_now of the last load */
  /* Ids learned by bots_known (values: the load generation then, plus one), so
   * that a load which started before one was learned does not drop it. */
  strmap_t fresh;
  uintptr_t ids_gen; /* loads started */
  /* BOT_ENQUEUE calls, one in the store at a time (MongoDB's workers would
   * otherwise reorder them), so a bot's deliveries queued here keep the order
   * of the messages and changes they tell of: the calls waiting (params),
   * at most BOTS_ENQUEUE_WAIT. */
  json_t *waiting;
  int enqueuing;
};

#define BOTS_ENQUEUE_WAIT 10000

/* outbox.c: claims again on the next loop turn. */
void bots_kick(bots_t *b);
/* registry.c: reloads the ids when they are older than the refresh interval;
 * frees them (bots_free). */
void bots_registry_refresh(bots_t *b);
void bots_registry_clear(bots_t *b);

#endif
