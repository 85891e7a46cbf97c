/* The flow runner's shutdown accounting against a real SQLite store: while any
 * of its store jobs is in flight (listing due steps, claiming one, loading the
 * run), flow_runner_busy() must say so, or a shutdown closes the store under a
 * claimed step and the delayed run is lost. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "flows/runner.h"
#include "parley/store.h"
#include "parley/util.h"

typedef struct watch_s {
  app_t *app;
  flow_runner_t *runner;
  int turns_unaccounted; /* loop turns with a store job but an idle runner */
  int saw_jobs;
} watch_t;

static void on_check(uv_check_t *h) {
  watch_t *w = h->data;
  if (store_jobs_in_flight(w->app->store) == 0) return;
  w->saw_jobs = 1;
  if (flow_runner_busy(w->runner) == 0) w->turns_unaccounted++;
}

static void inserted(void *ctx, int status, json_t *result) {
  *(int *)ctx = status == STORE_OK ? 1 : -1;
  json_decref(result);
}

static void on_deadline(uv_timer_t *t) { uv_stop(t->loop); }

static void test_claim_in_flight_keeps_runner_busy(void **state) {
  (void)state;
  char dir[] = "/tmp/parley-flow-runner-XXXXXX";
  assert_non_null(mkdtemp(dir));
  char path[256];
  snprintf(path, sizeof(path), "%s/parley.db", dir);
  uv_loop_t loop;
  uv_loop_init(&loop);
  app_t app;
  memset(&app, 0, sizeof(app));
  app.loop = &loop;
  app.store = store_open_sqlite(&loop, path, 100);
  assert_non_null(app.store);

  /* A delayed step already due, for a run that no longer exists. */
  int done = 0;
  assert_int_equal(store_call(app.store, SCHED_INSERT,
                              json_pack("{s:s, s:I}", "run_id", "gone-run", "due_at_ms",
                                        (json_int_t)(util_now_ms() - 1000)),
                              inserted, &done),
                   0);
  while (!done) uv_run(&loop, UV_RUN_ONCE);
  assert_int_equal(done, 1);

  watch_t w = {&app, NULL, 0, 0};
  w.runner = flow_runner_new(&app);
  assert_non_null(w.runner);
  uv_check_t check;
  uv_check_init(&loop, &check);
  check.data = &w;
  uv_check_start(&check, on_check);
  uv_timer_t deadline;
  uv_timer_init(&loop, &deadline);
  uv_timer_start(&deadline, on_deadline, 1500, 0); /* three polls of the runner */
  uv_run(&loop, UV_RUN_DEFAULT);

  assert_true(w.saw_jobs);
  assert_int_equal(w.turns_unaccounted, 0);

  flow_runner_stop(w.runner);
  uv_close((uv_handle_t *)&check, NULL);
  uv_close((uv_handle_t *)&deadline, NULL);
  while (flow_runner_busy(w.runner) || store_jobs_in_flight(app.store)) uv_run(&loop, UV_RUN_ONCE);
  store_close(app.store, NULL, NULL);
  uv_run(&loop, UV_RUN_DEFAULT);
  flow_runner_free(w.runner);
  assert_int_equal(uv_loop_close(&loop), 0);
  char cmd[300];
  snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
  assert_int_equal(system(cmd), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_claim_in_flight_keeps_runner_busy),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
