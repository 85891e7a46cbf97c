/* The fan-out scenario: N users in groups of S, one WebSocket session each;
 * every user takes its turn sending into its group at a fixed total rate,
 * raised step by step; the send time is stamped in the text, so each
 * message.new gives one end-to-end latency. Stops once p99 passes 100 ms or
 * delivery falls behind. With --storm every session opens at once (a
 * connection storm: each session's online goes to its group) and one step at
 * the first rate runs right after the last "ready", with no warm-up; the
 * presence frames and batches the sessions got are counted. Owns its state;
 * loop thread. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lg.h"

typedef struct fan_s {
  lg_t *lg;
  lg_sessions_t *s;
  lg_user_t *users;
  char (*groups)[64];
  int n, size;
  double rate, step_start;
  uint64_t sent, seqno;
  unsigned next_sender;
  int measuring;
  uint64_t delivered, acks, errors, send_failed;
  uint64_t presence_frames, presence_batches; /* since the sessions opened */
  lg_hist_t hist;
  uv_timer_t tick;
} fan_t;

static void fan_on_text(lg_conn_t *c, const char *text, size_t len) {
  fan_t *f = ((lg_sessions_t *)c->user)->user;
  size_t head = len < 48 ? len : 48;
  if (memmem(text, head, "\"message.new\"", 13)) {
    const char *t = memmem(text, len, "\"text\":\"t=", 10);
    if (!t || !f->measuring) return;
    uint64_t sent_ns = strtoull(t + 10, NULL, 10);
    uint64_t now = uv_hrtime();
    f->delivered++;
    lg_hist_add(&f->hist, now > sent_ns ? (now - sent_ns) / 1000 : 0);
  } else if (memmem(text, head, "\"presence.batch\"", 16)) {
    f->presence_batches++;
  } else if (memmem(text, len, "\"type\":\"presence\"", 17)) { /* "type" may come last */
    f->presence_frames++;
  } else if (memmem(text, head, "\"message.ack\"", 13)) {
    if (f->measuring) f->acks++;
  } else if (memmem(text, head, "\"error\"", 7)) {
    if (f->errors++ < 3) fprintf(stderr, "fanout: %.*s\n", (int)(len < 300 ? len : 300), text);
  }
}

static void send_one(fan_t *f) {
  for (int tries = 0; tries < f->n; tries++) {
    unsigned i = f->next_sender++ % (unsigned)f->n;
    lg_conn_t *c = f->s->conns[i];
    if (!c || !c->ready) continue;
    char frame[512];
    int len =
        snprintf(frame, sizeof(frame),
                 "{\"type\":\"message.send\",\"conversation_id\":\"%s\",\"text\":\"t=%" PRIu64
                 " a benchmark message of typical chat length\",\"client_id\":\"b%" PRIu64 "\"}",
                 f->groups[i / (unsigned)f->size], uv_hrtime(), f->seqno++);
    if (lg_ws_send_text(c, frame, (size_t)len) != 0) f->send_failed++;
    return;
  }
  f->send_failed++;
}

static void fan_on_tick(uv_timer_t *t) {
  fan_t *f = t->data;
  if (f->rate <= 0) return;
  double due = f->rate * (lg_now() - f->step_start);
  while ((double)f->sent < due) {
    send_one(f);
    f->sent++;
  }
}

/* One step at `rate` messages a second; prints its figures as a JSON object. */
static json_t *fan_step(fan_t *f, double rate, double warmup, double seconds, int pid) {
  f->rate = rate;
  f->sent = 0;
  f->step_start = lg_now();
  lg_run_for(f->lg, warmup);
  f->delivered = f->acks = 0;
  memset(&f->hist, 0, sizeof(f->hist));
  uint64_t errors0 = f->errors;
  f->measuring = 1;
  double u0 = 0, s0 = 0;
  lg_cpu_seconds(pid, &u0, &s0);
  double t0 = lg_now();
  lg_run_for(f->lg, seconds);
  double secs = lg_now() - t0;
  json_t *cpu = json_object();
  lg_cpu_since(cpu, pid, u0, s0, secs);
  f->measuring = 0;
  f->rate = 0;
  lg_run_for(f->lg, 1.0); /* let the queues drain before the next step */
  json_t *st =
      json_pack("{s:f, s:f, s:f, s:f, s:f, s:f, s:f, s:I, s:I}", "offered_msgs_per_s", rate,
                "expected_deliveries_per_s", rate * (f->size - 1), "delivered_per_s",
                (double)f->delivered / secs, "acks_per_s", (double)f->acks / secs, "p50_ms",
                lg_hist_pct_ms(&f->hist, 50), "p99_ms", lg_hist_pct_ms(&f->hist, 99), "p999_ms",
                lg_hist_pct_ms(&f->hist, 99.9), "errors", (json_int_t)(f->errors - errors0),
                "samples", (json_int_t)f->hist.count);
  json_object_update(st, cpu);
  json_decref(cpu);
  return st;
}

static void fan_run_steps(fan_t *f, const lg_opts_t *o, json_t *out) {
  json_t *steps = json_array(), *best = NULL;
  char *rates = strdup(o->rates);
  for (char *tok = strtok(rates, ","); tok; tok = strtok(NULL, ",")) {
    double rate = strtod(tok, NULL);
    json_t *st = fan_step(f, rate, o->storm ? 0 : o->warmup_s, o->seconds, o->pid);
    json_array_append_new(steps, st);
    double p99 = json_real_value(json_object_get(st, "p99_ms"));
    double got = json_real_value(json_object_get(st, "delivered_per_s"));
    double want = rate * (f->size - 1);
    fprintf(stderr,
            "fanout %s: offered %.0f msg/s -> %.0f deliveries/s (expected %.0f), p50 %.2f p99 %.2f "
            "p999 %.2f ms;"
            " server CPU %.2f user %.2f sys\n",
            o->label, rate, got, want, json_real_value(json_object_get(st, "p50_ms")), p99,
            json_real_value(json_object_get(st, "p999_ms")),
            json_real_value(json_object_get(st, "server_cpu_user")),
            json_real_value(json_object_get(st, "server_cpu_sys")));
    int sustained = p99 < 100.0 && got >= 0.95 * want;
    if (sustained) best = st;
    if (!sustained || o->storm) break;
  }
  free(rates);
  json_object_set_new(out, "steps", steps);
  json_object_set(out, "best", best ? best : json_null());
}

static void on_tick_closed(uv_handle_t *h) {}

int lg_fanout(lg_t *lg, const lg_opts_t *o) {
  fan_t f = {.lg = lg, .n = o->users - o->users % o->group, .size = o->group};
  int rc = 1;
  double t0 = lg_now();
  f.users = lg_signup_users(lg, f.n, o->label, 32);
  if (!f.users) goto fail;
  double signup_s = lg_now() - t0;
  f.groups = lg_create_groups(lg, f.users, f.n, f.size, 32);
  if (!f.groups) goto fail;
  fprintf(stderr, "fanout %s: %d groups created; opening the sessions\n", o->label, f.n / f.size);
  f.s = lg_connect_sessions(lg, f.users, f.n, o->storm ? f.n : 256, fan_on_text, &f);
  if (!f.s || f.s->ready != f.n) {
    fprintf(stderr, "fanout: %d of %d sessions ready\n", f.s ? f.s->ready : 0, f.n);
    goto fail;
  }
  fprintf(stderr, "fanout %s: %d users signed up in %.1f s, %d groups, sessions open in %.1f s\n",
          o->label, f.n, signup_s, f.n / f.size, f.s->seconds);
  uv_timer_init(lg->loop, &f.tick);
  f.tick.data = &f;
  uv_timer_start(&f.tick, fan_on_tick, 1, 1);
  json_t *out = json_pack("{s:s, s:s, s:i, s:i, s:f}", "scenario", "fanout", "label", o->label,
                          "users", f.n, "group", f.size, "seconds_per_step", o->seconds);
  if (o->storm) json_object_set_new(out, "storm_open_seconds", json_real(f.s->seconds));
  fan_run_steps(&f, o, out);
  if (o->storm) {
    json_object_set_new(out, "storm", json_true());
    json_object_set_new(out, "presence_frames", json_integer((json_int_t)f.presence_frames));
    json_object_set_new(out, "presence_batches", json_integer((json_int_t)f.presence_batches));
    fprintf(stderr,
            "fanout %s: storm: %d sessions open in %.2f s; %llu presence frames, %llu "
            "presence.batch frames\n",
            o->label, f.n, f.s->seconds, (unsigned long long)f.presence_frames,
            (unsigned long long)f.presence_batches);
  }
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
  free(f.groups);
  lg_users_free(f.users, f.n);
  return rc;
}
