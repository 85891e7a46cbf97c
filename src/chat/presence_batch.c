/* presence_batch: recipient id -> its open window (the entries pending, by user
 * id too), and the windows in the order they end: every window lasts the same
 * time, so a FIFO keeps them sorted. Owns the windows and their entries; sends
 * through the callback it was given. Loop thread. */
#include "chat/presence_batch.h"

#include <stdlib.h>
#include <string.h>

#include "parley/strmap.h"

typedef struct window_s {
  struct window_s *next; /* in the FIFO */
  int64_t due_ms;
  json_t *entries; /* pending, in order */
  json_t *at;      /* user id -> index in entries */
  char recipient[];
} window_t;

struct presence_batch_s {
  int64_t window_ms;
  size_t max;
  presence_batch_send_fn send;
  void *ctx;
  strmap_t windows; /* recipient -> window_t */
  window_t *head, *tail;
  size_t pending; /* entries over all windows */
};

presence_batch_t *presence_batch_new(int64_t window_ms, size_t max_entries,
                                     presence_batch_send_fn send, void *ctx) {
  presence_batch_t *b = calloc(1, sizeof(*b));
  if (!b) return NULL;
  b->window_ms = window_ms;
  b->max = max_entries ? max_entries : 1;
  b->send = send;
  b->ctx = ctx;
  strmap_init(&b->windows);
  return b;
}

static void window_free(window_t *w) {
  json_decref(w->entries);
  json_decref(w->at);
  free(w);
}

void presence_batch_free(presence_batch_t *b) {
  if (!b) return;
  window_t *w = b->head;
  while (w) {
    window_t *next = w->next;
    window_free(w);
    w = next;
  }
  strmap_free(&b->windows); /* values were the windows just freed */
  free(b);
}

/* Sends entries[from, to) as one frame: presence for one, presence.batch else. */
static void send_range(presence_batch_t *b, const char *recipient, const json_t *entries,
                       size_t from, size_t to) {
  json_t *frame;
  if (to - from == 1) {
    frame = json_deep_copy(json_array_get(entries, from));
    if (frame) json_object_set_new(frame, "type", json_string("presence"));
  } else {
    json_t *users = json_array();
    for (size_t i = from; users && i < to; i++)
      json_array_append(users, json_array_get(entries, i));
    frame = users ? json_pack("{s:s, s:o}", "type", "presence.batch", "users", users) : NULL;
  }
  char *text = frame ? json_dumps(frame, JSON_COMPACT) : NULL;
  if (text) b->send(b->ctx, recipient, text, strlen(text));
  free(text);
  json_decref(frame);
}

static void send_all(presence_batch_t *b, const char *recipient, const json_t *entries) {
  size_t n = json_array_size(entries);
  for (size_t at = 0; at < n; at += b->max)
    send_range(b, recipient, entries, at, at + b->max < n ? at + b->max : n);
}

/* Sends a window's pending set now; the window stays open. */
static void window_send(presence_batch_t *b, window_t *w) {
  size_t n = json_array_size(w->entries);
  if (n == 0) return;
  send_all(b, w->recipient, w->entries);
  json_array_clear(w->entries);
  json_object_clear(w->at);
  b->pending -= n;
}

static void enqueue(presence_batch_t *b, window_t *w, int64_t due_ms) {
  w->due_ms = due_ms;
  w->next = NULL;
  if (b->tail)
    b->tail->next = w;
  else
    b->head = w;
  b->tail = w;
}

/* Opens recipient's window at now_ms; NULL when out of memory. */
static window_t *window_open(presence_batch_t *b, const char *recipient, int64_t now_ms) {
  size_t len = strlen(recipient);
  window_t *w = calloc(1, sizeof(*w) + len + 1);
  if (!w) return NULL;
  memcpy(w->recipient, recipient, len + 1);
  w->entries = json_array();
  w->at = json_object();
  if (!w->entries || !w->at || strmap_put(&b->windows, recipient, w) != 0) {
    window_free(w);
    return NULL;
  }
  enqueue(b, w, now_ms + b->window_ms);
  return w;
}

/* Adds one entry to an open window, replacing the user's pending one. */
static void window_add(presence_batch_t *b, window_t *w, json_t *entry) {
  const char *user = json_string_value(json_object_get(entry, "user_id"));
  if (!user) return;
  json_t *at = json_object_get(w->at, user);
  if (at) {
    json_array_set(w->entries, (size_t)json_integer_value(at), entry);
    return;
  }
  if (json_array_append(w->entries, entry) != 0) return;
  json_object_set_new(w->at, user, json_integer((json_int_t)json_array_size(w->entries) - 1));
  b->pending++;
}

void presence_batch_add(presence_batch_t *b, const char *recipient, const json_t *entries,
                        int64_t now_ms) {
  if (!b || !recipient || json_array_size(entries) == 0) return;
  window_t *w = strmap_get(&b->windows, recipient);
  if (!w) {
    /* Nothing sent lately: no reason to wait. */
    send_all(b, recipient, entries);
    window_open(b, recipient, now_ms);
    return;
  }
  size_t i;
  json_t *e;
  json_array_foreach(entries, i, e) {
    window_add(b, w, e);
    if (json_array_size(w->entries) >= b->max || b->pending >= PRESENCE_BATCH_MAX_TOTAL)
      window_send(b, w);
  }
}

int64_t presence_batch_flush(presence_batch_t *b, int64_t now_ms, size_t budget) {
  if (!b) return -1;
  for (size_t done = 0; b->head && b->head->due_ms <= now_ms; done++) {
    if (done == budget) return 0;
    window_t *w = b->head;
    b->head = w->next;
    if (!b->head) b->tail = NULL;
    if (json_array_size(w->entries) > 0) {
      /* What was sent opens a new window: a recipient hears at most one frame
       * a window while changes keep coming. */
      window_send(b, w);
      enqueue(b, w, now_ms + b->window_ms);
    } else {
      strmap_del(&b->windows, w->recipient);
      window_free(w);
    }
  }
  if (!b->head) return -1;
  return b->head->due_ms - now_ms;
}

size_t presence_batch_recipients(const presence_batch_t *b) {
  return b ? strmap_count(&b->windows) : 0;
}

size_t presence_batch_pending(const presence_batch_t *b) { return b ? b->pending : 0; }
