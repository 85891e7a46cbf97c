/* Fuzz target: the WebSocket JSON frame table (src/handlers/ws) for
 * authenticated sessions, through the in-memory harness of the unit tests
 * (tests/unit/chat/chat_fixture.h: a real SQLite store, auth, hub, local bus,
 * fan-out, presence; sessions are the stand-ins of ws_fake_session.h).
 *
 * Input: text frames, one a line. A line starting with '!' comes from the
 * second user's session, any other from the first's. Before a frame goes in,
 * $C becomes the id of the conversation of both users, $A and $B the users'
 * ids, $M the id of the first message this input sent or received, $T and $U
 * valid access tokens of the first and second user (for auth renewal). Both
 * sessions authenticate first; the store's jobs run to completion after every
 * frame. Must never crash, leak or hang, whatever the frames hold.
 *
 * The store persists across inputs (a fresh world every WORLD_INPUTS inputs
 * bounds its growth), so an input may behave a little differently alone than
 * within a campaign; a crash always replays alone from the artifact. One
 * conversation serves every input: a new one each time made each connect
 * slower (a user's connect costs time in proportion to their conversations),
 * down to one input a second after a few hundred. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "../unit/chat/chat_fixture.h"
#include "handlers/ws/protocol.h"
#include "parley/log.h"

#define WORLD_INPUTS 5000
#define MAX_FRAME 8192

typedef struct world_s {
  chat_fx_t *f;
  char a[25], b[25], conv[25];
  unsigned inputs;
} world_t;

static world_t w;

/* Lets every store job (and what its completion starts) finish. */
static void settle(void) {
  app_t *app = &w.f->app;
  while (store_jobs_in_flight(app->store)) uv_run(&w.f->loop, UV_RUN_ONCE);
  uv_run(&w.f->loop, UV_RUN_NOWAIT);
}

static void world_new(void) {
  log_set_level(LOG_ERROR);
  w.f = chat_fx_new(1);
  app_t *app = &w.f->app;
  app->cfg.ws_rate = 50;
  app->cfg.ws_burst = 100;
  app->cfg.ws_auth_timeout_ms = 10000;
  app->cfg.flow_max_text_bytes = 4000;
  ws_protocol_init(app);
  if (chat_fx_user(w.f, "one@example.com", w.a) != STORE_OK ||
      chat_fx_user(w.f, "two@example.com", w.b) != STORE_OK)
    abort();
  w.inputs = 0;
}

/* A new group conversation of both users; its id into conv. */
static void conversation(char conv[25]) {
  app_t *app = &w.f->app;
  json_t *r = NULL;
  if (store_sync_call(&w.f->loop, app->store, CONV_CREATE,
                      json_pack("{s:s, s:s, s:s, s:[s, s]}", "type", "group", "name", "room",
                                "creator_id", w.a, "participant_ids", w.a, w.b),
                      &r, NULL) != STORE_OK)
    abort();
  snprintf(conv, 25, "%s",
           json_string_value(json_object_get(json_object_get(r, "conversation"), "id")));
  json_decref(r);
}

static void world_start(void) {
  world_new();
  conversation(w.conv);
}

static ws_session_t *session(const char *user) {
  app_t *app = &w.f->app;
  ws_session_t *s = fake_session_new(app, NULL);
  char *token = auth_token_issue(app->auth, user, "login-fuzz", util_now_ms() / 1000);
  char frame[1024];
  snprintf(frame, sizeof(frame), "{\"type\":\"auth\",\"token\":\"%s\"}", token);
  free(token);
  ws_protocol_on_message(s, frame, strlen(frame));
  settle();
  return s;
}

/* line with the placeholders replaced, into out (at most MAX_FRAME bytes). */
static size_t expand(const char *line, size_t len, char *out, const char *const subst[6]) {
  static const char keys[6] = {'C', 'A', 'B', 'M', 'T', 'U'};
  size_t n = 0;
  for (size_t i = 0; i < len && n < MAX_FRAME; i++) {
    const char *v = NULL;
    if (line[i] == '$' && i + 1 < len)
      for (int k = 0; k < 6; k++)
        if (line[i + 1] == keys[k]) v = subst[k];
    if (!v) {
      out[n++] = line[i];
      continue;
    }
    size_t vl = strlen(v);
    if (n + vl > MAX_FRAME) break;
    memcpy(out + n, v, vl);
    n += vl;
    i++;
  }
  return n;
}

/* The id of the first message of s's frames, once one is acked or delivered. */
static void first_message_id(ws_session_t *s, char msg[25]) {
  json_t *fr;
  while (!msg[0] && (fr = fake_next(s))) {
    const char *id = json_string_value(json_object_get(json_object_get(fr, "message"), "id"));
    if (id) snprintf(msg, 25, "%s", id);
    json_decref(fr);
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (!w.f) world_start();
  char msg[25] = "";
  ws_session_t *sa = session(w.a), *sb = session(w.b);
  static char frame[MAX_FRAME];
  app_t *app = &w.f->app;
  char *ta = auth_token_issue(app->auth, w.a, "login-fuzz", util_now_ms() / 1000);
  char *tb = auth_token_issue(app->auth, w.b, "login-fuzz", util_now_ms() / 1000);
  const char *subst[6] = {w.conv, w.a, w.b, msg, ta ? ta : "", tb ? tb : ""};
  const char *p = (const char *)data, *end = p + size;
  while (p < end) {
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);
    const char *line = p;
    p = nl ? nl + 1 : end;
    ws_session_t *s = sa;
    if (len > 0 && line[0] == '!') {
      s = sb;
      line++;
      len--;
    }
    if (fake_closed(s, NULL)) continue;
    size_t n = expand(line, len, frame, subst);
    ws_protocol_on_message(s, frame, n);
    settle();
    first_message_id(sa, msg);
  }
  ws_session_close(sa, 1000, "bye");
  ws_session_close(sb, 1000, "bye");
  settle();
  fake_session_free(sa);
  fake_session_free(sb);
  free(ta);
  free(tb);
  if (++w.inputs >= WORLD_INPUTS) {
    chat_fx_free(w.f);
    w.f = NULL;
  }
  return 0;
}
