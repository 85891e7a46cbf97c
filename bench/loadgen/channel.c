/* The channel scenario: one channel of N members (user 0 its admin, the rest
 * added by id, 256 a request), C of them connected by WebSocket; the admin
 * (with 15 more admins it promoted, each on its own session) posts at a fixed
 * rate, raised step by step, each post stamped with its send
 * time, so every member's message.new gives one end-to-end latency. With C
 * much smaller than N it shows that a post costs the connected members, not
 * the member list. Stops once delivery falls behind; "best" is the highest
 * step with p99 under 100 ms, "max" the one that delivered most.
 * Owns its state; loop thread. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lg.h"

#define ADD_BATCH 256
/* Posts rotate over this many admins' sessions: one session may send
 * ws_rate (20) frames a second, and channels have a few editors. */
#define ADMINS 16

typedef struct chan_s {
  lg_t *lg;
  lg_sessions_t *s;
  lg_user_t *users;
  int n, connected, failed, admins;
  unsigned next_admin;
  char id[64];
  double rate, step_start;
  uint64_t sent, seqno, delivered, acks, errors, send_failed;
  int measuring;
  lg_hist_t hist;
  uv_timer_t tick;
} chan_t;

/* ---- the channel and its members, over REST ---- */

static int create_build(void *arg, int i, char *method, char *path, char **body, size_t *len,
                        char *extra, const char **token) {
  chan_t *f = arg;
  *body = strdup("{\"type\":\"channel\",\"name\":\"bench channel\",\"public\":true}");
  *len = strlen(*body);
  strcpy(method, "POST");
  strcpy(path, "/api/conversations");
  *token = f->users[0].token;
  return 0;
}

static void create_done(void *arg, int i, int status, const char *body, size_t len) {
  chan_t *f = arg;
  json_t *j = status == 201 ? json_loadb(body, len, 0, NULL) : NULL;
  const char *id = json_string_value(json_object_get(json_object_get(j, "conversation"), "id"));
  if (id)
    snprintf(f->id, sizeof(f->id), "%s", id);
  else
    fprintf(stderr, "channel: create %d %.*s\n", status, (int)(len < 200 ? len : 200), body);
  json_decref(j);
}

static int add_build(void *arg, int b, char *method, char *path, char **body, size_t *len,
                     char *extra, const char **token) {
  chan_t *f = arg;
  json_t *ids = json_array();
  for (int k = 1 + b * ADD_BATCH; k < f->n && k < 1 + (b + 1) * ADD_BATCH; k++)
    json_array_append_new(ids, json_string(f->users[k].id));
  json_t *j = json_pack("{s:o}", "user_ids", ids);
  *body = json_dumps(j, JSON_COMPACT);
  json_decref(j);
  if (!*body) return -1;
  *len = strlen(*body);
  strcpy(method, "POST");
  snprintf(path, 256, "/api/conversations/%s/members", f->id);
  *token = f->users[0].token;
  return 0;
}

static void add_done(void *arg, int b, int status, const char *body, size_t len) {
  chan_t *f = arg;
  if (status != 200 && f->failed++ < 3)
    fprintf(stderr, "channel: add batch %d: %d %.*s\n", b, status, (int)(len < 200 ? len : 200),
            body);
}

static int promote_build(void *arg, int i, char *method, char *path, char **body, size_t *len,
                         char *extra, const char **token) {
  chan_t *f = arg;
  *body = strdup("{\"role\":\"admin\"}");
  *len = strlen(*body);
  strcpy(method, "PATCH");
  snprintf(path, 256, "/api/conversations/%s/members/%s", f->id, f->users[i + 1].id);
  *token = f->users[0].token;
  return 0;
}

static void promote_done(void *arg, int i, int status, const char *body, size_t len) {
  chan_t *f = arg;
  if (status != 200 && f->failed++ < 3)
    fprintf(stderr, "channel: promote %d: %d %.*s\n", i, status, (int)(len < 200 ? len : 200),
            body);
}

/* ---- posting and receiving ---- */

static void chan_on_text(lg_conn_t *c, const char *text, size_t len) {
  chan_t *f = ((lg_sessions_t *)c->user)->user;
  size_t head = len < 48 ? len : 48;
  if (memmem(text, head, "\"message.new\"", 13)) {
    const char *t = memmem(text, len, "\"text\":\"t=", 10);
    if (!t || !f->measuring) return;
    uint64_t sent_ns = strtoull(t + 10, NULL, 10), now = uv_hrtime();
    f->delivered++;
    lg_hist_add(&f->hist, now > sent_ns ? (now - sent_ns) / 1000 : 0);
  } else if (memmem(text, head, "\"message.ack\"", 13)) {
    if (f->measuring) f->acks++;
  } else if (memmem(text, head, "\"error\"", 7)) {
    if (f->errors++ < 3) fprintf(stderr, "channel: %.*s\n", (int)(len < 300 ? len : 300), text);
  }
}

static void chan_on_tick(uv_timer_t *t) {
  chan_t *f = t->data;
  if (f->rate <= 0) return;
  double due = f->rate * (lg_now() - f->step_start);
  while ((double)f->sent < due) {
    lg_conn_t *c = f->s->conns[f->next_admin++ % (unsigned)f->admins];
    char frame[512];
    int len = snprintf(frame, sizeof(frame),
                       "{\"type\":\"message.send\",\"conversation_id\":\"%s\",\"text\":\"t=%" PRIu64
                       " a channel post of typical length\",\"client_id\":\"c%" PRIu64 "\"}",
                       f->id, uv_hrtime(), f->seqno++);
    if (!c || !c->ready || lg_ws_send_text(c, frame, (size_t)len) != 0) f->send_failed++;
    f->sent++;
  }
}

static json_t *chan_step(chan_t *f, double rate, const lg_opts_t *o) {
  f->rate = rate;
  f->sent = 0;
  f->step_start = lg_now();
  lg_run_for(f->lg, o->warmup_s);
  f->delivered = f->acks = 0;
  memset(&f->hist, 0, sizeof(f->hist));
  uint64_t errors0 = f->errors;
  f->measuring = 1;
  double u0 = 0, s0 = 0;
  lg_cpu_seconds(o->pid, &u0, &s0);
  double t0 = lg_now();
  lg_run_for(f->lg, o->seconds);
  double secs = lg_now() - t0;
  json_t *cpu = json_object();
  lg_cpu_since(cpu, o->pid, u0, s0, secs);
  f->measuring = 0;
  f->rate = 0;
  lg_run_for(f->lg, 1.0); /* let the queues drain before the next step */
  json_t *st = json_pack(
      "{s:f, s:f, s:f, s:f, s:f, s:f, s:f, s:I, s:I, s:I}", "offered_posts_per_s", rate,
      "expected_deliveries_per_s", rate * (f->connected - 1), "delivered_per_s",
      (double)f->delivered / secs, "acks_per_s", (double)f->acks / secs, "p50_ms",
      lg_hist_pct_ms(&f->hist, 50), "p99_ms", lg_hist_pct_ms(&f->hist, 99), "p999_ms",
      lg_hist_pct_ms(&f->hist, 99.9), "errors", (json_int_t)(f->errors - errors0), "samples",
      (json_int_t)f->hist.count, "server_rss_kib", (json_int_t)lg_rss_kib(o->pid));
  json_object_update(st, cpu);
  json_decref(cpu);
  return st;
}

static void chan_run_steps(chan_t *f, const lg_opts_t *o, json_t *out) {
  json_t *steps = json_array(), *best = NULL, *max = NULL;
  char *rates = strdup(o->rates);
  for (char *tok = strtok(rates, ","); tok; tok = strtok(NULL, ",")) {
    double rate = strtod(tok, NULL);
    json_t *st = chan_step(f, rate, o);
    json_array_append_new(steps, st);
    double p99 = json_real_value(json_object_get(st, "p99_ms"));
    double got = json_real_value(json_object_get(st, "delivered_per_s"));
    double want = rate * (f->connected - 1);
    fprintf(stderr,
            "channel %s: %d members, %d connected: %.0f posts/s -> %.0f deliveries/s (expected "
            "%.0f), p50 %.2f p99 %.2f p999 %.2f ms; server CPU %.2f user %.2f sys\n",
            o->label, f->n, f->connected, rate, got, want,
            json_real_value(json_object_get(st, "p50_ms")), p99,
            json_real_value(json_object_get(st, "p999_ms")),
            json_real_value(json_object_get(st, "server_cpu_user")),
            json_real_value(json_object_get(st, "server_cpu_sys")));
    int kept_up = got >= 0.95 * want;
    if (kept_up && p99 < 100.0) best = st;
    if (!max || got > json_real_value(json_object_get(max, "delivered_per_s"))) max = st;
    if (!kept_up) break;
  }
  free(rates);
  json_object_set_new(out, "steps", steps);
  json_object_set(out, "best", best ? best : json_null());
  json_object_set(out, "max", max ? max : json_null());
}

static void on_tick_closed(uv_handle_t *h) {}

int lg_channel(lg_t *lg, const lg_opts_t *o) {
  chan_t f = {.lg = lg, .n = o->users, .connected = atoi(o->sessions)};
  if (f.connected < 2 || f.connected > f.n) f.connected = f.n;
  int rc = 1;
  double t0 = lg_now();
  f.users = lg_signup_users(lg, f.n, o->label, 32);
  if (!f.users) goto fail;
  double signup_s = lg_now() - t0;
  lg_batch_run(lg, 1, 1, create_build, create_done, &f);
  if (!f.id[0]) goto fail;
  t0 = lg_now();
  lg_batch_run(lg, (f.n - 1 + ADD_BATCH - 1) / ADD_BATCH, 4, add_build, add_done, &f);
  f.admins = f.connected < ADMINS ? f.connected : ADMINS;
  if (!f.failed) lg_batch_run(lg, f.admins - 1, 4, promote_build, promote_done, &f);
  if (f.failed) goto fail;
  double add_s = lg_now() - t0;
  f.s = lg_connect_sessions(lg, f.users, f.connected, 256, chan_on_text, &f);
  if (!f.s || f.s->ready != f.connected) {
    fprintf(stderr, "channel: %d of %d sessions ready\n", f.s ? f.s->ready : 0, f.connected);
    goto fail;
  }
  fprintf(stderr,
          "channel %s: %d users signed up in %.1f s, added to the channel in %.1f s, %d sessions "
          "open in %.1f s\n",
          o->label, f.n, signup_s, add_s, f.connected, f.s->seconds);
  lg_run_for(lg, 0.5); /* the sessions' channel reads */
  uv_timer_init(lg->loop, &f.tick);
  f.tick.data = &f;
  uv_timer_start(&f.tick, chan_on_tick, 1, 1);
  json_t *out = json_pack("{s:s, s:s, s:i, s:i, s:i, s:f}", "scenario", "channel", "label",
                          o->label, "members", f.n, "connected", f.connected, "posting_admins",
                          f.admins, "seconds_per_step", o->seconds);
  chan_run_steps(&f, o, out);
  json_object_set_new(out, "send_failed", json_integer((json_int_t)f.send_failed));
  uv_timer_stop(&f.tick);
  uv_close((uv_handle_t *)&f.tick, on_tick_closed);
  char *text = json_dumps(out, JSON_COMPACT);
  printf("%s\n", text);
  free(text);
  json_decref(out);
  rc = 0;
fail:
  lg_sessions_close(f.s);
  lg_users_free(f.users, f.n);
  return rc;
}
