/* Setting up through Parley's public API: batches of HTTP requests over a
 * pool of keep-alive connections (sign-ups, groups, webhooks), authenticated
 * WebSocket sessions, and small helpers to run the loop for a while, read a
 * /metrics value and a process's resident memory. Loop thread only. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lg.h"

double lg_now(void) { return (double)uv_hrtime() / 1e9; }

/* ---- running the loop ---- */

static void on_flag_timer(uv_timer_t *t) { *(int *)t->data = 1; }
static void on_timer_closed(uv_handle_t *h) { free(h); }

void lg_run_until(lg_t *lg, int *flag, double timeout_s) {
  int expired = 0;
  uv_timer_t *t = malloc(sizeof(*t));
  if (!t) return;
  uv_timer_init(lg->loop, t);
  t->data = &expired;
  uv_timer_start(t, on_flag_timer, (uint64_t)(timeout_s * 1000), 0);
  while (!expired && !(flag && *flag)) uv_run(lg->loop, UV_RUN_ONCE);
  uv_timer_stop(t);
  t->data = NULL;
  uv_close((uv_handle_t *)t, on_timer_closed);
}

void lg_run_for(lg_t *lg, double seconds) { lg_run_until(lg, NULL, seconds); }

/* ---- batches ---- */

typedef struct batch_s {
  lg_t *lg;
  int n, next, done, active;
  lg_build_fn build;
  lg_done_fn donefn;
  void *arg;
} batch_t;

static void batch_issue(lg_conn_t *c);

static void batch_on_http(lg_conn_t *c, int status, const char *body, size_t len) {
  batch_t *b = c->user;
  b->done++;
  b->donefn(b->arg, c->index, status, body, len);
  batch_issue(c);
}

static void batch_issue(lg_conn_t *c) {
  batch_t *b = c->user;
  if (b->next >= b->n) {
    lg_conn_close(c);
    return;
  }
  char method[16] = "GET", path[1024] = "/", extra[1024] = "";
  char *body = NULL;
  size_t len = 0;
  const char *token = NULL;
  c->index = b->next++;
  if (b->build(b->arg, c->index, method, path, &body, &len, extra, &token) != 0 ||
      lg_http_send(c, method, path, token, extra, body, len, batch_on_http) != 0) {
    b->done++;
    b->donefn(b->arg, c->index, 0, NULL, 0);
    c->on_http = NULL;
    lg_conn_close(c);
  }
  free(body);
}

static void batch_on_event(lg_conn_t *c, enum lg_event ev) {
  batch_t *b = c->user;
  if (ev == LG_CONNECTED) {
    batch_issue(c);
  } else if (ev == LG_CLOSED) {
    b->active--;
    if (c->on_http) { /* the request in flight is lost */
      c->on_http = NULL;
      b->done++;
      b->donefn(b->arg, c->index, 0, NULL, 0);
    }
  }
}

int lg_batch_run(lg_t *lg, int n, int conns, lg_build_fn build, lg_done_fn done, void *arg) {
  batch_t b = {.lg = lg, .n = n, .build = build, .donefn = done, .arg = arg};
  if (conns > n) conns = n;
  for (int i = 0; i < conns; i++)
    if (lg_conn_open(lg, &b, batch_on_event)) b.active++;
  while (b.active > 0) uv_run(lg->loop, UV_RUN_ONCE);
  return b.done == n ? 0 : -1;
}

/* ---- sign-ups ---- */

typedef struct signup_s {
  lg_user_t *users;
  const char *tag;
  int failed;
} signup_t;

static int signup_build(void *arg, int i, char *method, char *path, char **body, size_t *len,
                        char *extra, const char **token) {
  signup_t *s = arg;
  strcpy(method, "POST");
  strcpy(path, "/api/auth/signup");
  if (asprintf(body,
               "{\"email\":\"bench-%s-%d@example.com\",\"password\":\"bench-password\",\"name\":"
               "\"User %d\"}",
               s->tag, i, i) < 0)
    return -1;
  *len = strlen(*body);
  return 0;
}

static void signup_done(void *arg, int i, int status, const char *body, size_t len) {
  signup_t *s = arg;
  json_t *j = status == 201 ? json_loadb(body, len, 0, NULL) : NULL;
  const char *id = json_string_value(json_object_get(json_object_get(j, "user"), "id"));
  const char *tok = json_string_value(json_object_get(j, "access_token"));
  if (!id || !tok) {
    if (s->failed++ < 3)
      fprintf(stderr, "signup %d: status %d %.*s\n", i, status, (int)(len < 200 ? len : 200),
              body ? body : "");
  } else {
    snprintf(s->users[i].id, sizeof(s->users[i].id), "%s", id);
    s->users[i].token = strdup(tok);
  }
  json_decref(j);
}

lg_user_t *lg_signup_users(lg_t *lg, int n, const char *tag, int conns) {
  signup_t s = {.users = calloc((size_t)n, sizeof(lg_user_t)), .tag = tag};
  if (!s.users) return NULL;
  lg_batch_run(lg, n, conns, signup_build, signup_done, &s);
  if (s.failed) {
    fprintf(stderr, "loadgen: %d of %d sign-ups failed\n", s.failed, n);
    lg_users_free(s.users, n);
    return NULL;
  }
  return s.users;
}

void lg_users_free(lg_user_t *u, int n) {
  if (!u) return;
  for (int i = 0; i < n; i++) free(u[i].token);
  free(u);
}

/* ---- groups ---- */

typedef struct groups_s {
  lg_user_t *users;
  int size, failed;
  char (*ids)[64];
} groups_t;

static int group_build(void *arg, int g, char *method, char *path, char **body, size_t *len,
                       char *extra, const char **token) {
  groups_t *s = arg;
  lg_user_t *first = &s->users[g * s->size];
  json_t *ids = json_array();
  for (int k = 1; k < s->size; k++) json_array_append_new(ids, json_string(first[k].id));
  json_t *j =
      json_pack("{s:s, s:s, s:o}", "type", "group", "name", "bench group", "participant_ids", ids);
  *body = json_dumps(j, JSON_COMPACT);
  json_decref(j);
  if (!*body) return -1;
  *len = strlen(*body);
  strcpy(method, "POST");
  strcpy(path, "/api/conversations");
  *token = first->token;
  return 0;
}

static void group_done(void *arg, int g, int status, const char *body, size_t len) {
  groups_t *s = arg;
  json_t *j = status == 201 ? json_loadb(body, len, 0, NULL) : NULL;
  const char *id = json_string_value(json_object_get(json_object_get(j, "conversation"), "id"));
  if (!id) {
    if (s->failed++ < 3)
      fprintf(stderr, "group %d: status %d %.*s\n", g, status, (int)(len < 200 ? len : 200),
              body ? body : "");
  } else {
    snprintf(s->ids[g], 64, "%s", id);
  }
  json_decref(j);
}

char (*lg_create_groups(lg_t *lg, lg_user_t *users, int n, int size, int conns))[64] {
  groups_t s = {.users = users, .size = size, .ids = calloc((size_t)(n / size), 64)};
  if (!s.ids) return NULL;
  lg_batch_run(lg, n / size, conns, group_build, group_done, &s);
  if (s.failed) {
    free(s.ids);
    return NULL;
  }
  return s.ids;
}

/* ---- WebSocket sessions ---- */

static void sessions_open_more(lg_sessions_t *s);

static void session_on_text(lg_conn_t *c, const char *text, size_t len) {
  lg_sessions_t *s = c->user;
  if (c->ready) {
    if (s->on_text) s->on_text(c, text, len);
    return;
  }
  if (memmem(text, len < 64 ? len : 64, "\"ready\"", 7)) {
    c->ready = 1;
    s->ready++;
    s->pending--;
    sessions_open_more(s);
  }
}

static void session_on_event(lg_conn_t *c, enum lg_event ev) {
  lg_sessions_t *s = c->user;
  if (ev == LG_CONNECTED) {
    if (lg_ws_upgrade(c, s->users[c->index].token, session_on_text) != 0) lg_conn_close(c);
  } else if (ev == LG_CLOSED) {
    s->conns[c->index] = NULL;
    if (c->ready) {
      s->ready--;
    } else {
      s->pending--;
      s->failed++;
      sessions_open_more(s);
    }
  }
}

static void sessions_open_more(lg_sessions_t *s) {
  while (s->pending < s->inflight && s->next < s->n) {
    int i = s->next++;
    lg_conn_t *c = lg_conn_open(s->lg, s, session_on_event);
    if (!c) {
      s->failed++;
      continue;
    }
    c->index = i;
    s->conns[i] = c;
    s->pending++;
  }
}

lg_sessions_t *lg_connect_sessions(lg_t *lg, lg_user_t *users, int n, int inflight,
                                   lg_text_cb on_text, void *user) {
  lg_sessions_t *s = calloc(1, sizeof(*s));
  if (!s) return NULL;
  *s = (lg_sessions_t){.lg = lg,
                       .users = users,
                       .n = n,
                       .inflight = inflight,
                       .conns = calloc((size_t)n, sizeof(lg_conn_t *)),
                       .on_text = on_text,
                       .user = user};
  if (!s->conns) {
    free(s);
    return NULL;
  }
  double t0 = lg_now();
  sessions_open_more(s);
  double deadline = t0 + 120;
  while ((s->next < s->n || s->pending > 0) && lg_now() < deadline) uv_run(lg->loop, UV_RUN_ONCE);
  s->seconds = lg_now() - t0;
  return s;
}

void lg_sessions_close(lg_sessions_t *s) {
  if (!s) return;
  int target = s->lg->open_conns;
  for (int i = 0; i < s->n; i++) {
    if (!s->conns[i]) continue;
    lg_conn_close(s->conns[i]);
    target--;
  }
  /* Only these sessions: other sets may still be open. */
  while (s->lg->open_conns > target) uv_run(s->lg->loop, UV_RUN_ONCE);
  free(s->conns);
  free(s);
}

/* ---- observing the server ---- */

typedef struct metric_s {
  const char *name;
  double value;
} metric_t;

static int metric_build(void *arg, int i, char *method, char *path, char **body, size_t *len,
                        char *extra, const char **token) {
  strcpy(path, "/metrics");
  return 0;
}

static void metric_done(void *arg, int i, int status, const char *body, size_t len) {
  metric_t *m = arg;
  size_t nlen = strlen(m->name);
  for (const char *p = body; p && p < body + len; p++) {
    if ((p == body || p[-1] == '\n') && (size_t)(body + len - p) > nlen + 1 &&
        strncmp(p, m->name, nlen) == 0 && p[nlen] == ' ') {
      m->value = strtod(p + nlen + 1, NULL);
      return;
    }
  }
}

double lg_metric(lg_t *lg, const char *name) {
  metric_t m = {name, -1};
  lg_batch_run(lg, 1, 1, metric_build, metric_done, &m);
  return m.value;
}

long lg_rss_kib(int pid) {
  char path[64], line[256];
  snprintf(path, sizeof(path), "/proc/%d/status", pid);
  FILE *f = fopen(path, "r");
  long kib = -1;
  if (!f) return -1;
  while (fgets(line, sizeof(line), f))
    if (strncmp(line, "VmRSS:", 6) == 0) kib = strtol(line + 6, NULL, 10);
  fclose(f);
  return kib;
}

int lg_cpu_seconds(int pid, double *user, double *sys) {
  char path[64], text[1024];
  snprintf(path, sizeof(path), "/proc/%d/stat", pid);
  FILE *f = pid > 0 ? fopen(path, "r") : NULL;
  if (!f) return -1;
  size_t n = fread(text, 1, sizeof(text) - 1, f);
  fclose(f);
  text[n] = '\0';
  /* Fields 14 and 15 (utime, stime) count from the one after the name's ')'. */
  char *p = strrchr(text, ')');
  unsigned long long ut = 0, st = 0;
  if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
    return -1;
  double hz = (double)sysconf(_SC_CLK_TCK);
  *user = (double)ut / hz;
  *sys = (double)st / hz;
  return 0;
}

void lg_cpu_since(json_t *out, int pid, double user0, double sys0, double secs) {
  double user, sys;
  if (secs <= 0 || lg_cpu_seconds(pid, &user, &sys) != 0) return;
  json_object_set_new(out, "server_cpu_user", json_real((user - user0) / secs));
  json_object_set_new(out, "server_cpu_sys", json_real((sys - sys0) / secs));
}
