/* parleyd: loads the configuration, starts the application on one libuv loop,
 * runs it until SIGTERM or SIGINT, and exits 0 after a clean shutdown (2 for a
 * bad setting, 1 when start-up fails). */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "app.h"
#include "parley/log.h"

int main(int argc, char **argv) {
  app_t app;
  memset(&app, 0, sizeof(app));
  int rc = config_load(&app.cfg, argc, argv);
  if (rc != 0) {
    config_free(&app.cfg);
    return rc == 1 ? 0 : 2;
  }
#if defined(PARLEY_LLHTTP_SSE42) && (defined(__x86_64__) || defined(__i386__))
  /* The HTTP parser was compiled for SSE4.2 (CMake's PARLEY_LLHTTP_SSE42): on a
   * CPU without it the first request would end the process with SIGILL. */
  __builtin_cpu_init();
  if (!__builtin_cpu_supports("sse4.2")) {
    fprintf(stderr,
            "parleyd: this build needs a CPU with SSE4.2; rebuild with cmake "
            "-DPARLEY_LLHTTP_SSE42=OFF for this one\n");
    config_free(&app.cfg);
    return 1;
  }
#endif
  /* A peer that goes away mid-write must cost an error code, not the process. */
  signal(SIGPIPE, SIG_IGN);
  uv_loop_t loop;
  if (uv_loop_init(&loop) != 0) {
    fprintf(stderr, "parleyd: cannot create the event loop\n");
    config_free(&app.cfg);
    return 1;
  }
  int status = 0;
  if (app_start(&app, &loop) == 0) {
    app_run(&app);
    status = app.exit_status;
  } else {
    status = 1;
    app_run(&app); /* let whatever started close its handles */
  }
  app_free(&app);
  int closed = uv_loop_close(&loop);
  if (closed != 0) {
    log_error("event loop still had open handles at exit: %s", uv_strerror(closed));
    status = status ? status : 1;
  }
  config_free(&app.cfg);
  log_buffer_stop(); /* the access log's last lines, before the process ends */
  return status;
}
