/* Start-up, wiring and shutdown of the application (src/app.c). Main thread,
 * which runs the loop. */
#ifndef PARLEY_APP_PRIVATE_H
#define PARLEY_APP_PRIVATE_H

#include "parley/app.h"

/* Builds every part from app->cfg (already loaded) and starts listening.
 * Returns 0, or -1 after logging why (the caller exits 1). */
int app_start(app_t *app, uv_loop_t *loop);
/* Runs the loop until a graceful shutdown has released everything. */
void app_run(app_t *app);
/* Frees what is left after the loop ended. */
void app_free(app_t *app);

#endif
