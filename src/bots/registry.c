/* Which users are bots, and the way a message reaches the outbox. Each
 * instance keeps every bot's id in memory (BOT_IDS, reloaded every few
 * seconds; a bot created here is known at once), so a message in a
 * conversation without bots costs no store call. Until the first load every
 * message is offered to the store, which keeps only active bots. Loop thread. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bots/bots_internal.h"
#include "parley/log.h"
#include "parley/store.h"
#include "parley/util.h"

/* How old the ids may get: a bot created on another instance is known here
 * within this (ten outbox polls, from 0.5 to 3 seconds). */
static uint64_t refresh_ms(const bots_t *b) {
  uint64_t ms = (uint64_t)b->app->cfg.bot_poll_ms * 10;
  return ms < 500 ? 500 : ms > 3000 ? 3000 : ms;
}

static int drop(const char *key, void *value, void *arg) {
  (void)key;
  (void)value;
  (void)arg;
  return 1;
}

void bots_registry_clear(bots_t *b) {
  json_decref(b->waiting);
  b->waiting = NULL;
  strmap_sweep(&b->ids, drop, NULL);
  strmap_free(&b->ids);
  strmap_sweep(&b->fresh, drop, NULL);
  strmap_free(&b->fresh);
}

typedef struct keep_s {
  bots_t *b;
  uintptr_t gen;
  int failed;
} keep_t;

/* After load gen: an id learned before it started is in what it read (the
 * creation committed before it was announced); one learned since is kept. */
static int keep_fresh(const char *key, void *value, void *arg) {
  keep_t *k = arg;
  if ((uintptr_t)value - 1 < k->gen) return 1;
  if (strmap_put(&k->b->ids, key, (void *)1) != 0) k->failed = 1;
  return 0;
}

static void loaded(void *ctx, int status, json_t *result) {
  bots_t *b = ctx;
  b->ids_loading = 0;
  if (status == STORE_OK && !b->closing) {
    strmap_sweep(&b->ids, drop, NULL);
    size_t i;
    json_t *v;
    int failed = 0;
    json_array_foreach(json_object_get(result, "ids"), i, v) {
      if (json_is_string(v) && strmap_put(&b->ids, json_string_value(v), (void *)1) != 0)
        failed = 1;
    }
    keep_t k = {b, b->ids_gen, 0};
    strmap_sweep(&b->fresh, keep_fresh, &k);
    /* Out of memory: every message goes to the store again until a load. */
    b->ids_loaded = !failed && !k.failed;
    b->ids_at = uv_now(b->app->loop);
  }
  json_decref(result);
}

void bots_registry_refresh(bots_t *b) {
  if (b->ids_loading || (b->ids_loaded && uv_now(b->app->loop) - b->ids_at < refresh_ms(b))) return;
  b->ids_loading = 1;
  b->ids_gen++;
  if (store_call(b->app->store, BOT_IDS, json_object(), loaded, b) != 0) b->ids_loading = 0;
}

void bots_known(app_t *app, const char *bot_id) {
  bots_t *b = app->bots;
  if (!b || !bot_id) return;
  if (strmap_put(&b->ids, bot_id, (void *)1) != 0 ||
      strmap_put(&b->fresh, bot_id, (void *)(b->ids_gen + 1)) != 0)
    b->ids_loaded = 0; /* out of memory: every message goes to the store */
}

static void queued(void *ctx, int status, json_t *result);

/* The waiting events, up to BOTS_ENQUEUE_BATCH of them in one BOT_ENQUEUE,
 * when none is in the store: one call at a time keeps their order, and a
 * batch keeps a busy instance from queueing slower than it stores messages. */
static void enqueue_next(app_t *app) {
  bots_t *b = app->bots;
  while (!b->enqueuing && json_array_size(b->waiting) > 0) {
    json_t *items;
    if (json_array_size(b->waiting) <= BOTS_ENQUEUE_BATCH) { /* all of them: no shifting */
      items = b->waiting;
      b->waiting = json_array();
    } else if ((items = json_array())) {
      while (json_array_size(items) < BOTS_ENQUEUE_BATCH) {
        json_array_append(items, json_array_get(b->waiting, 0));
        json_array_remove(b->waiting, 0);
      }
    }
    json_t *p = items ? json_pack("{s:o}", "items", items) : NULL;
    if (!p) { /* out of memory: what was taken is lost (logged), the rest waits */
      log_warn("bots: events could not be queued for their bots (out of memory)");
      return;
    }
    b->enqueuing = 1;
    if (store_call(app->store, BOT_ENQUEUE, p, queued, app) != 0) {
      b->enqueuing = 0;
      log_warn("bots: a message could not be queued for its bots (store busy)");
    }
  }
}

static void queued(void *ctx, int status, json_t *result) {
  app_t *app = ctx;
  app->bots->enqueuing = 0;
  if (status != STORE_OK)
    log_warn("bots: a message could not be queued for its bots (%d)", status);
  else if (json_array_size(json_object_get(result, "full")) > 0)
    log_warn("bots: %zu bots have bot_queue_max deliveries waiting: a message was not queued",
             json_array_size(json_object_get(result, "full")));
  if (status == STORE_OK && json_array_size(json_object_get(result, "queued")) > 0)
    bots_kick(app->bots);
  json_decref(result);
  enqueue_next(app); /* on shutdown too: the store drains what it took */
}

/* Queues body (stolen) for each bot among participant_ids but skip (NULL:
 * none); an empty participant_ids is a channel's, whose bots only the store
 * knows (its members are not loaded), asked for while any bot exists. key
 * makes the delivery once per bot: the message id for a new message, a fresh
 * id for each change. */
static void enqueue(app_t *app, const json_t *message, const json_t *participant_ids,
                    const char *skip, const char *key, json_t *body) {
  bots_t *b = app->bots;
  const char *conv = json_string_value(json_object_get(message, "conversation_id"));
  json_t *to = json_array();
  size_t i;
  json_t *v;
  json_array_foreach(participant_ids, i, v) {
    const char *id = json_string_value(v);
    if (!id || (skip && strcmp(id, skip) == 0)) continue;
    if (!b->ids_loaded || strmap_get(&b->ids, id)) json_array_append(to, v);
  }
  int channel = json_is_array(participant_ids) && json_array_size(participant_ids) == 0 && conv &&
                (!b->ids_loaded || strmap_count(&b->ids) > 0);
  char *payload =
      body && (channel || json_array_size(to) > 0) ? json_dumps(body, JSON_COMPACT) : NULL;
  json_decref(body);
  if (!payload) {
    json_decref(to);
    return;
  }
  json_t *p = json_pack("{s:o, s:O, s:s, s:s, s:i, s:I}", "bot_ids", to, "message_id",
                        json_object_get(message, "id"), "key", key, "payload", payload, "queue_max",
                        app->cfg.bot_queue_max, "now_ms", (json_int_t)util_now_ms());
  free(payload);
  if (p && channel) json_object_set_new(p, "channel_id", json_string(conv));
  if (p && skip) json_object_set_new(p, "except", json_string(skip));
  if (!b->waiting) b->waiting = json_array();
  if (!p || !b->waiting || json_array_size(b->waiting) >= BOTS_ENQUEUE_WAIT) {
    log_warn("bots: a message could not be queued for its bots (%s)",
             p ? "too many waiting" : "out of memory");
    json_decref(p);
    return;
  }
  json_array_append_new(b->waiting, p);
  enqueue_next(app);
}

void bots_on_message(app_t *app, const json_t *message, const json_t *participant_ids) {
  bots_t *b = app->bots;
  if (!b || b->closing || app->shutting_down) return;
  /* No bot anywhere (their ids are loaded): nothing to build or look up for
   * each participant (34,000 instructions a message in groups of 100). */
  if (b->ids_loaded && strmap_count(&b->ids) == 0) return;
  /* A secret conversation's ciphertext is for people's devices only. */
  if (json_object_get(message, "ciphertexts")) return;
  const char *id = json_string_value(json_object_get(message, "id"));
  const char *text = json_string_value(json_object_get(message, "text"));
  if (!id) return;
  /* The message's attachments go as stored: outbox.c signs their URLs at
   * each attempt. */
  json_t *body = json_pack("{s:s, s:O, s:O, s:o}", "type", "message.new", "conversation_id",
                           json_object_get(message, "conversation_id"), "message",
                           (json_t *)message, "command", bots_command_json(text));
  enqueue(app, message, participant_ids, json_string_value(json_object_get(message, "sender_id")),
          id, body);
}

void bots_on_change(app_t *app, const char *type, const json_t *message,
                    const json_t *participant_ids, const char *by, const json_t *reaction) {
  bots_t *b = app->bots;
  if (!b || b->closing || app->shutting_down || !type || !by) return;
  if (json_object_get(message, "ciphertexts")) return;
  const char *id = json_string_value(json_object_get(message, "id"));
  if (!id || strlen(id) > 64) return;
  char fresh[25], key[96];
  util_new_id(fresh);
  snprintf(key, sizeof(key), "%s:%s", id, fresh);
  json_t *body = json_pack("{s:s, s:O, s:O, s:s}", "type", type, "conversation_id",
                           json_object_get(message, "conversation_id"), "message",
                           (json_t *)message, "by", by);
  if (body && reaction) json_object_set(body, "reaction", (json_t *)reaction);
  enqueue(app, message, participant_ids, NULL, key, body);
}
