/* The connections scenario: authenticated idle WebSocket sessions, one per
 * user, opened in increments up to each level (e.g. 10000,19900); at each
 * level the server's resident memory (VmRSS of --pid) against the level
 * before any session, and the time to open the increment. Loop thread. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lg.h"

#define MAX_LEVELS 8

static int parse_levels(const char *spec, int *levels) {
  int n = 0;
  char *copy = strdup(spec);
  for (char *tok = strtok(copy, ","); tok && n < MAX_LEVELS; tok = strtok(NULL, ","))
    levels[n++] = atoi(tok);
  free(copy);
  return n;
}

int lg_connections(lg_t *lg, const lg_opts_t *o) {
  int levels[MAX_LEVELS], nl = parse_levels(o->sessions, levels), rc = 1;
  int max = nl ? levels[nl - 1] : 0;
  lg_sessions_t *parts[MAX_LEVELS] = {0};
  double t0 = lg_now();
  lg_user_t *users = lg_signup_users(lg, max, o->label, 32);
  if (!users) return 1;
  double signup_s = lg_now() - t0;
  lg_run_for(lg, 1.0); /* let the server settle before the baseline */
  long base = lg_rss_kib(o->pid);
  fprintf(stderr, "connections %s: %d users signed up in %.1f s; server RSS %ld KiB\n", o->label,
          max, signup_s, base);
  json_t *out = json_pack("{s:s, s:s, s:i, s:f, s:i}", "scenario", "connections", "label", o->label,
                          "users", max, "signup_seconds", signup_s, "baseline_rss_kib", (int)base);
  json_t *rows = json_array();
  json_object_set_new(out, "levels", rows);
  int from = 0, held = 0;
  for (int l = 0; l < nl; l++) {
    int n = levels[l] - from;
    parts[l] = lg_connect_sessions(lg, users + from, n, 512, NULL, NULL);
    if (!parts[l]) goto fail;
    lg_run_for(lg, 1.0);
    held = 0;
    for (int k = 0; k <= l; k++) held += parts[k]->ready;
    long rss = lg_rss_kib(o->pid);
    double per = held ? (double)(rss - base) * 1024.0 / held : 0;
    fprintf(stderr,
            "connections %s: %d sessions (%d new in %.2f s, %d failed); RSS %ld KiB, %.0f "
            "bytes/session\n",
            o->label, held, parts[l]->ready, parts[l]->seconds, parts[l]->failed, rss, per);
    json_array_append_new(
        rows, json_pack("{s:i, s:i, s:f, s:f, s:i, s:f, s:i}", "sessions", levels[l], "held", held,
                        "connect_seconds", parts[l]->seconds, "sessions_per_s",
                        parts[l]->seconds > 0 ? parts[l]->ready / parts[l]->seconds : 0.0,
                        "rss_kib", (int)rss, "bytes_per_session", per, "failed", parts[l]->failed));
    from = levels[l];
  }
  /* Held: every session still open after a few idle seconds. */
  lg_run_for(lg, 3.0);
  held = 0;
  for (int k = 0; k < nl; k++) held += parts[k]->ready;
  json_object_set_new(out, "held_after_idle", json_integer(held));
  char *text = json_dumps(out, JSON_COMPACT);
  printf("%s\n", text);
  free(text);
  rc = 0;
fail:
  json_decref(out);
  for (int k = 0; k < nl; k++) lg_sessions_close(parts[k]);
  lg_users_free(users, max);
  return rc;
}
