/* The sweep of uploads never sent: an attachment that no message took within
 * upload_unsent_ttl_s of its upload is removed, its record from the store and
 * its bytes from files storage. Every instance sweeps, at start and on a
 * timer, a bounded batch at a time (a full batch sweeps again at once); the
 * store removes each record once, so instances sweeping together remove each
 * file once too. Loop thread. */
#ifndef PARLEY_CHAT_UPLOAD_SWEEP_H
#define PARLEY_CHAT_UPLOAD_SWEEP_H

#include "parley/app.h"

typedef struct upload_sweep_s upload_sweep_t;

/* Sweeps once now, then every quarter of upload_unsent_ttl_s (at least 1 s,
 * at most 10 minutes). NULL when out of memory. */
upload_sweep_t *upload_sweep_new(app_t *app);
/* Stops the timer (shutdown); a batch in flight still finds s. */
void upload_sweep_stop(upload_sweep_t *s);
/* 1 while a batch waits for the store (shutdown waits for 0). */
int upload_sweep_busy(const upload_sweep_t *s);
/* Frees s once the loop has ended; s may be NULL. */
void upload_sweep_free(upload_sweep_t *s);

#endif
