/* The webhook scenarios. Ingest: signed Instagram message events posted over
 * keep-alive connections (one event a body, a fresh mid each), timed until
 * every one is acknowledged and until the server has stored every message
 * (parley_messages_stored_total). Flows: the same, with an active 10-node flow
 * that replies twice through the fake Graph API, timed until every reply
 * arrived. Loop thread. */
#include <inttypes.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lg.h"

#define ACCOUNT "17841400000000001"
#define REPLIES_PER_RUN 2

typedef struct hook_s {
  const lg_opts_t *o;
  lg_user_t *owner;
  int ok, bad;
  const char *json; /* setup request body */
  const char *path;
  int expect;
  uint64_t t_ms;
  char last_id[64]; /* the conversation a setup call created */
} hook_t;

/* ---- setup calls as the owner ---- */

static int setup_build(void *arg, int i, char *method, char *path, char **body, size_t *len,
                       char *extra, const char **token) {
  hook_t *h = arg;
  strcpy(method, "POST");
  snprintf(path, 1024, "%s", h->path);
  *body = strdup(h->json);
  *len = strlen(*body);
  *token = h->owner->token;
  return 0;
}

static void setup_done(void *arg, int i, int status, const char *body, size_t len) {
  hook_t *h = arg;
  if (status == h->expect) {
    json_t *j = json_loadb(body, len, 0, NULL);
    const char *id = json_string_value(json_object_get(json_object_get(j, "conversation"), "id"));
    if (id) snprintf(h->last_id, sizeof(h->last_id), "%s", id);
    json_decref(j);
    return;
  }
  h->bad++;
  fprintf(stderr, "webhook setup %s: status %d %.*s\n", h->path, status,
          (int)(len < 300 ? len : 300), body ? body : "");
}

static int setup_call(lg_t *lg, hook_t *h, const char *path, const char *json, int expect) {
  h->path = path;
  h->json = json;
  h->expect = expect;
  h->bad = 0;
  lg_batch_run(lg, 1, 1, setup_build, setup_done, h);
  return h->bad ? -1 : 0;
}

/* Ten nodes, all visited for a message that mentions the price: two
 * conditions on keyword and variable, one on a tag, tags, variables and two
 * replies. */
static const char FLOW[] =
    "{\"name\":\"bench "
    "flow\",\"status\":\"active\",\"trigger\":{\"type\":\"any_message\"},\"start\":\"n1\","
    "\"nodes\":["
    "{\"id\":\"n1\",\"type\":\"condition\",\"data\":{\"kind\":\"keyword\",\"keyword\":\"price\"}},"
    "{\"id\":\"n2\",\"type\":\"action\",\"data\":{\"action\":\"set_variable\",\"variable\":"
    "\"interest\",\"value\":\"price\"}},"
    "{\"id\":\"n3\",\"type\":\"action\",\"data\":{\"action\":\"tag_customer\",\"tag\":\"lead\"}},"
    "{\"id\":\"n4\",\"type\":\"condition\",\"data\":{\"kind\":\"variable\",\"name\":\"interest\","
    "\"equals\":\"price\"}},"
    "{\"id\":\"n5\",\"type\":\"action\",\"data\":{\"action\":\"set_variable\",\"variable\":"
    "\"stage\",\"value\":\"quoted\"}},"
    "{\"id\":\"n6\",\"type\":\"condition\",\"data\":{\"kind\":\"tag\",\"tag\":\"lead\"}},"
    "{\"id\":\"n7\",\"type\":\"message\",\"data\":{\"text\":\"Hi {{contact.username}}, the blue "
    "mug is 12 EUR. You asked: {{message.text}}\"}},"
    "{\"id\":\"n8\",\"type\":\"action\",\"data\":{\"action\":\"tag_customer\",\"tag\":\"quoted\"}},"
    "{\"id\":\"n9\",\"type\":\"action\",\"data\":{\"action\":\"set_variable\",\"variable\":\"last_"
    "topic\",\"value\":\"{{message.text}}\"}},"
    "{\"id\":\"n10\",\"type\":\"message\",\"data\":{\"text\":\"Anything else, {{vars.stage}} "
    "customer?\"}}],"
    "\"edges\":["
    "{\"from\":\"n1\",\"to\":\"n2\",\"label\":\"true\"},{\"from\":\"n1\",\"to\":\"n10\",\"label\":"
    "\"false\"},"
    "{\"from\":\"n2\",\"to\":\"n3\"},{\"from\":\"n3\",\"to\":\"n4\"},"
    "{\"from\":\"n4\",\"to\":\"n5\",\"label\":\"true\"},{\"from\":\"n4\",\"to\":\"n10\",\"label\":"
    "\"false\"},"
    "{\"from\":\"n5\",\"to\":\"n6\"},"
    "{\"from\":\"n6\",\"to\":\"n7\",\"label\":\"true\"},{\"from\":\"n6\",\"to\":\"n10\",\"label\":"
    "\"false\"},"
    "{\"from\":\"n7\",\"to\":\"n8\"},{\"from\":\"n8\",\"to\":\"n9\"},{\"from\":\"n9\",\"to\":"
    "\"n10\"}]}";

/* ---- the signed events ---- */

static int event_build(void *arg, int i, char *method, char *path, char **body, size_t *len,
                       char *extra, const char **token) {
  hook_t *h = arg;
  const lg_opts_t *o = h->o;
  int n = asprintf(body,
                   "{\"object\":\"instagram\",\"entry\":[{\"id\":\"" ACCOUNT "\",\"time\":%" PRIu64
                   ",\"messaging\":[{"
                   "\"sender\":{\"id\":\"%" PRIu64 "\"},\"recipient\":{\"id\":\"" ACCOUNT
                   "\"},\"timestamp\":%" PRIu64
                   ","
                   "\"message\":{\"mid\":\"bench-%s-%d\",\"text\":\"Hi! What is the price of the "
                   "blue mug? (%d)\"}}]}]}",
                   h->t_ms, (uint64_t)6500000000000000ull + (uint64_t)(i % o->contacts), h->t_ms,
                   o->label, i, i);
  if (n < 0) return -1;
  *len = (size_t)n;
  unsigned char mac[32];
  unsigned int maclen = 0;
  HMAC(EVP_sha256(), o->secret, (int)strlen(o->secret), (const unsigned char *)*body, *len, mac,
       &maclen);
  char *p = extra + sprintf(extra, "X-Hub-Signature-256: sha256=");
  for (unsigned k = 0; k < maclen; k++) p += sprintf(p, "%02x", mac[k]);
  strcpy(p, "\r\n");
  strcpy(method, "POST");
  strcpy(path, "/api/webhook/instagram");
  return 0;
}

static void event_done(void *arg, int i, int status, const char *body, size_t len) {
  hook_t *h = arg;
  if (status == 200) {
    h->ok++;
  } else if (h->bad++ < 3) {
    fprintf(stderr, "webhook event %d: status %d %.*s\n", i, status, (int)(len < 200 ? len : 200),
            body ? body : "");
  }
}

/* Waits until `done` reports at least `want`; returns the seconds since t0. */
static double wait_processed(lg_t *lg, lg_graph_t *g, int flows, double base, double want,
                             double t0, double timeout, double *got) {
  double deadline = lg_now() + timeout;
  for (;;) {
    /* Flows count their replies: the sends the fake Graph saw (not connect's
     * GET /me nor profile fetches); plain events count stored messages. */
    *got = flows ? (double)lg_graph_sends(g) : lg_metric(lg, "parley_messages_stored_total") - base;
    if (*got >= want || lg_now() > deadline) return lg_now() - t0;
    lg_run_for(lg, 0.05);
  }
}

/* Every block of issue 19, all visited but the ask's timeout branch: a
 * randomizer (both branches on), a time condition (every weekday: true), a
 * variable condition with an operator, remove_tag, clear_variable,
 * notify_agent, a message with media and quick replies (two sends), one with
 * buttons (one send), then an ask (one send) that waits, its timeout leading
 * to a handover. Four sends a run; each event comes from a new contact, so
 * every event starts a run (no ask is answered). Settings: priority and a
 * cooldown, checked against the contact's runs. */
static const char FLOW_BLOCKS[] =
    "{\"name\":\"bench blocks\",\"status\":\"active\",\"trigger\":{\"type\":\"any_message\"},"
    "\"settings\":{\"priority\":1,\"cooldown_seconds\":60},\"start\":\"r\",\"nodes\":["
    "{\"id\":\"r\",\"type\":\"randomizer\",\"data\":{\"branches\":[{\"name\":\"A\",\"weight\":50},"
    "{\"name\":\"B\",\"weight\":50}]}},"
    "{\"id\":\"t\",\"type\":\"condition\",\"data\":{\"kind\":\"time\",\"weekdays\":[0,1,2,3,4,5,6]}"
    "},"
    "{\"id\":\"v\",\"type\":\"condition\",\"data\":{\"kind\":\"variable\",\"name\":\"email\","
    "\"op\":\"is_set\"}},"
    "{\"id\":\"u\",\"type\":\"action\",\"data\":{\"action\":\"remove_tag\",\"tag\":\"cold\"}},"
    "{\"id\":\"c\",\"type\":\"action\",\"data\":{\"action\":\"clear_variable\",\"variable\":"
    "\"tmp\"}},"
    "{\"id\":\"n\",\"type\":\"action\",\"data\":{\"action\":\"notify_agent\",\"text\":"
    "\"{{contact.username}}: {{message.text}}\"}},"
    "{\"id\":\"m\",\"type\":\"message\",\"data\":{\"text\":\"Which mug, {{contact.username}}?\","
    "\"media\":{\"type\":\"image\",\"url\":\"https://cdn.example/mugs.jpg\"},\"quick_replies\":["
    "{\"title\":\"Blue\",\"payload\":\"BLUE\"},{\"title\":\"Red\",\"payload\":\"RED\"}]}},"
    "{\"id\":\"b\",\"type\":\"message\",\"data\":{\"text\":\"Or browse\",\"buttons\":["
    "{\"type\":\"postback\",\"title\":\"Talk to us\",\"payload\":\"HUMAN\"},"
    "{\"type\":\"url\",\"title\":\"Shop\",\"url\":\"https://shop.example\"}]}},"
    "{\"id\":\"a\",\"type\":\"ask\",\"data\":{\"text\":\"Your e-mail?\",\"check\":\"email\","
    "\"variable\":\"email\",\"timeout_seconds\":3600}},"
    "{\"id\":\"h\",\"type\":\"action\",\"data\":{\"action\":\"handover\"}}],"
    "\"edges\":["
    "{\"from\":\"r\",\"to\":\"t\",\"label\":\"A\"},{\"from\":\"r\",\"to\":\"t\",\"label\":\"B\"},"
    "{\"from\":\"t\",\"to\":\"v\",\"label\":\"true\"},{\"from\":\"t\",\"to\":\"v\",\"label\":"
    "\"false\"},"
    "{\"from\":\"v\",\"to\":\"u\",\"label\":\"true\"},{\"from\":\"v\",\"to\":\"u\",\"label\":"
    "\"false\"},"
    "{\"from\":\"u\",\"to\":\"c\"},{\"from\":\"c\",\"to\":\"n\"},{\"from\":\"n\",\"to\":\"m\"},"
    "{\"from\":\"m\",\"to\":\"b\"},{\"from\":\"b\",\"to\":\"a\"},"
    "{\"from\":\"a\",\"to\":\"h\",\"label\":\"timeout\"}]}";
#define BLOCKS_SENDS_PER_RUN 4

int lg_webhook(lg_t *lg, const lg_opts_t *o, int flows) {
  hook_t h = {.o = o, .t_ms = (uint64_t)uv_now(lg->loop)};
  lg_graph_t *g = NULL;
  int rc = 1;
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  h.t_ms = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
  h.owner = lg_signup_users(lg, 1, o->label, 1);
  if (!h.owner) return 1;
  /* The fake Graph API is up before connecting: Parley asks it whose token
   * this is (GET /me) before it connects the account. */
  if (!(g = lg_graph_start(lg, o->graph_port))) goto fail;
  if (setup_call(lg, &h, "/api/instagram/connect",
                 "{\"ig_user_id\":\"" ACCOUNT "\",\"access_token\":\"IGQ-bench-token\"}", 200) != 0)
    goto fail;
  if (flows && setup_call(lg, &h, "/api/flows", flows == 2 ? FLOW_BLOCKS : FLOW, 201) != 0)
    goto fail;
  const double per_run = flows == 2 ? BLOCKS_SENDS_PER_RUN : REPLIES_PER_RUN;
  const char *name = flows == 2 ? "flows_blocks" : flows ? "flows" : "webhook";
  double base = lg_metric(lg, "parley_messages_stored_total");
  double u0 = 0, s0 = 0;
  lg_cpu_seconds(o->pid, &u0, &s0);
  double t0 = lg_now();
  lg_batch_run(lg, o->events, o->conns, event_build, event_done, &h);
  double acked_s = lg_now() - t0;
  double want = flows ? (double)o->events * per_run : (double)o->events;
  double got = 0;
  double done_s = wait_processed(lg, g, flows, base, want, t0, 120, &got);
  double runs = flows ? got / per_run : got;
  fprintf(
      stderr,
      "%s %s: %d events acknowledged (%d not 200) in %.2f s = %.0f/s; %.0f %s in %.2f s = %.0f/s\n",
      name, o->label, h.ok, h.bad, acked_s, h.ok / acked_s, runs,
      flows ? "runs complete" : "messages stored", done_s, runs / done_s);
  json_t *out =
      json_pack("{s:s, s:s, s:i, s:i, s:i, s:f, s:f, s:f, s:f, s:i}", "scenario", name, "label",
                o->label, "events", o->events, "acked", h.ok, "rejected", h.bad, "ack_seconds",
                acked_s, "acked_per_s", h.ok / acked_s, "processed_seconds", done_s,
                "processed_per_s", runs / done_s, "connections", o->conns);
  lg_cpu_since(out, o->pid, u0, s0, done_s);
  json_object_set_new(out, flows ? "runs_complete" : "messages_stored", json_real(runs));
  if (flows) json_object_set_new(out, "graph_sends", json_integer((json_int_t)lg_graph_sends(g)));
  json_object_set_new(out, "graph_requests", json_integer((json_int_t)lg_graph_requests(g)));
  char *text = json_dumps(out, JSON_COMPACT);
  printf("%s\n", text);
  free(text);
  json_decref(out);
  rc = runs >= (double)o->events ? 0 : 1;
fail:
  lg_graph_stop(g);
  lg_users_free(h.owner, 1);
  return rc;
}

/* Signs up `users` users; the first one creates `group` groups with all the
 * others, each with one message, and its token is printed (for wrk). */
int lg_token(lg_t *lg, const lg_opts_t *o) {
  lg_user_t *u = lg_signup_users(lg, o->users, o->label, 4);
  hook_t h = {.o = o, .owner = u};
  if (!u) return 1;
  json_t *ids = json_array();
  for (int i = 1; i < o->users; i++) json_array_append_new(ids, json_string(u[i].id));
  json_t *conv =
      json_pack("{s:s, s:s, s:o}", "type", "group", "name", "bench group", "participant_ids", ids);
  char *conv_body = json_dumps(conv, JSON_COMPACT);
  json_decref(conv);
  int rc = 0;
  for (int g = 0; g < o->group && rc == 0; g++) {
    char path[128];
    rc = setup_call(lg, &h, "/api/conversations", conv_body, 201);
    snprintf(path, sizeof(path), "/api/conversations/%s/messages", h.last_id);
    if (rc == 0) rc = setup_call(lg, &h, path, "{\"text\":\"hello from the benchmark\"}", 201);
  }
  free(conv_body);
  if (rc == 0) printf("%s\n", u[0].token);
  lg_users_free(u, o->users);
  return rc ? 1 : 0;
}
