/* The sweep of lost sends: a send is "pending" while the instance that made it
 * waits for Graph's answer, and it is leased to that instance for the longest a
 * send can take (graph_send_max_ms) plus slack, from its creation or from the
 * retry that claimed it again. Every instance sweeps, at start and then on a
 * timer: a pending send whose lease ran out belongs to an instance that died
 * (and may never come back) or lost its store, so it becomes failed with code
 * unknown_outcome (never resent) and is delivered as message.updated. Sends in
 * flight on a live instance are inside their lease and untouched; when several
 * instances sweep at once the store changes each message once. Loop thread. */
#ifndef PARLEY_INSTAGRAM_SWEEP_H
#define PARLEY_INSTAGRAM_SWEEP_H

#include <stdint.h>

#include "parley/app.h"

typedef struct ig_sweep_s ig_sweep_t;

/* The lease of a send made now (milliseconds). */
int64_t ig_sweep_lease_ms(const app_t *app);
/* Sweeps once now, then every quarter lease (at least 1 s, at most 60 s).
 * NULL when out of memory. */
ig_sweep_t *ig_sweep_new(app_t *app);
/* Stops the timer (shutdown); a sweep in flight still finds s. */
void ig_sweep_stop(ig_sweep_t *s);
/* 1 while a sweep waits for the store (shutdown waits for 0). */
int ig_sweep_busy(const ig_sweep_t *s);
/* Frees s once the loop has ended. */
void ig_sweep_free(ig_sweep_t *s);

#endif
