/* The write delay (see ws_internal.h): the waiting list in due order, its one
 * timer, and the loop's load signal. Knows nothing of sessions: a node is
 * embedded in each, and the list calls back when one is due. Loop thread. */
#include <stdlib.h>
#include <time.h>

#include "ws/ws_internal.h"

/* "Loaded": over the last window of at least LOAD_WINDOW_MS the loop's thread
 * used at least LOAD_CPU_PERCENT of a core. Its own CPU clock, not its time
 * away from the poll, so that a loop kept waiting by other threads on its core
 * is not taken for a busy one. */
#define LOAD_WINDOW_MS 20
#define LOAD_CPU_PERCENT 30
/* Nodes whose wait ends within LATE_NS are called now, the rest later. */
#define LATE_NS 500000

struct ws_out_s {
  uv_timer_t timer; /* armed for the head while the list is not empty */
  uv_loop_t *loop;
  uint64_t delay_ns;
  ws_wait_due_fn due;
  ws_wait_t *head, *tail;   /* waiting, in due order (one delay for all) */
  uint64_t win_ms;          /* uv_now at the start of the load window */
  uint64_t win_hr, win_cpu; /* uv_hrtime and the loop thread's CPU time there */
  int loaded;               /* the last window's verdict */
};

static uint64_t thread_cpu_ns(void) {
  struct timespec ts;
  if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) != 0) return 0;
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void on_timer(uv_timer_t *t);

static void arm(ws_out_t *o, uint64_t now_ns) {
  if (!o->head) return;
  uint64_t due = o->head->due_ns;
  uint64_t ms = due > now_ns ? (due - now_ns + 999999) / 1000000 : 0;
  uv_timer_start(&o->timer, on_timer, ms, 0);
}

static void on_timer(uv_timer_t *t) {
  ws_out_t *o = t->data;
  uint64_t now = uv_hrtime();
  ws_wait_t *w;
  /* A node called back may lead others to wait (appended, due later): the
   * head is read again each time. */
  while ((w = o->head) && w->due_ns <= now + LATE_NS) {
    ws_out_unwait(o, w);
    o->due(w);
  }
  arm(o, now);
}

ws_out_t *ws_out_new(uv_loop_t *loop, uint64_t delay_ms, ws_wait_due_fn due) {
  ws_out_t *o = calloc(1, sizeof(*o));
  if (!o) return NULL;
  o->loop = loop;
  o->delay_ns = delay_ms * 1000000;
  o->due = due;
  o->win_ms = uv_now(loop);
  o->win_hr = uv_hrtime();
  o->win_cpu = thread_cpu_ns();
  uv_timer_init(loop, &o->timer);
  o->timer.data = o;
  return o;
}

static void on_closed(uv_handle_t *h) { free(h->data); }

void ws_out_close(ws_out_t *o) {
  if (o) uv_close((uv_handle_t *)&o->timer, on_closed);
}

int ws_out_loaded(ws_out_t *o) {
  uint64_t now = uv_now(o->loop);
  if (now - o->win_ms < LOAD_WINDOW_MS) return o->loaded;
  uint64_t hr = uv_hrtime(), cpu = thread_cpu_ns();
  o->loaded = cpu > o->win_cpu && (cpu - o->win_cpu) * 100 >= (hr - o->win_hr) * LOAD_CPU_PERCENT;
  o->win_ms = now;
  o->win_hr = hr;
  o->win_cpu = cpu;
  return o->loaded;
}

void ws_out_wait(ws_out_t *o, ws_wait_t *w) {
  uint64_t now = uv_hrtime();
  w->waiting = 1;
  w->due_ns = now + o->delay_ns;
  w->next = NULL;
  w->prev = o->tail;
  if (o->tail)
    o->tail->next = w;
  else
    o->head = w;
  o->tail = w;
  if (o->head == w) arm(o, now);
}

void ws_out_unwait(ws_out_t *o, ws_wait_t *w) {
  if (!w->waiting) return;
  w->waiting = 0;
  if (w->prev)
    w->prev->next = w->next;
  else
    o->head = w->next;
  if (w->next)
    w->next->prev = w->prev;
  else
    o->tail = w->prev;
  w->prev = w->next = NULL;
  if (!o->head) uv_timer_stop(&o->timer);
}
