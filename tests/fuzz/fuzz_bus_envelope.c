/* Fuzz target: what another instance (or anyone who can publish to Redis)
 * sends over the bus, as the subscriber hands it on: dispatch_message() with
 * the envelope channel (src/chat/envelope.c's header line and body, then
 * fan-out's sequencer, presence and the sessions it reaches) or the account
 * revocation channel. The app is the in-memory harness of the unit tests
 * (tests/unit/chat/chat_fixture.h) with two users online on stand-in sessions.
 *
 * Input: bus messages separated by NUL bytes. One starting with 'R' goes to
 * the revocation channel (without the 'R'), any other to the envelope channel.
 * $A and $B become the users' ids, $C the id of their conversation, $H this
 * instance's id, $I another instance's. The loop runs what is due after every
 * message. The fan-out and presence state persists across inputs (a fresh
 * world every WORLD_INPUTS inputs), as it does across messages in a server.
 * Must never crash, leak or grow without bound. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "../unit/chat/chat_fixture.h"
#include "chat/envelope.h"
#include "parley/log.h"

#define WORLD_INPUTS 5000
#define MAX_MESSAGE 8192

static struct {
  chat_fx_t *f;
  char a[25], b[25], conv[25];
  unsigned inputs;
} w;

static void world_new(void) {
  log_set_level(LOG_ERROR);
  w.f = chat_fx_new(1);
  app_t *app = &w.f->app;
  json_t *r = NULL;
  if (chat_fx_user(w.f, "one@example.com", w.a) != STORE_OK ||
      chat_fx_user(w.f, "two@example.com", w.b) != STORE_OK ||
      store_sync_call(&w.f->loop, app->store, CONV_CREATE,
                      json_pack("{s:s, s:s, s:s, s:[s, s]}", "type", "group", "name", "room",
                                "creator_id", w.a, "participant_ids", w.a, w.b),
                      &r, NULL) != STORE_OK)
    abort();
  snprintf(w.conv, sizeof(w.conv), "%s",
           json_string_value(json_object_get(json_object_get(r, "conversation"), "id")));
  json_decref(r);
  w.inputs = 0;
}

/* Runs what is due (held messages whose time came, presence checks). */
static void settle(void) {
  app_t *app = &w.f->app;
  uv_run(&w.f->loop, UV_RUN_NOWAIT);
  while (store_jobs_in_flight(app->store)) uv_run(&w.f->loop, UV_RUN_ONCE);
}

static size_t expand(const char *in, size_t len, char *out) {
  const char *subst[5] = {w.a, w.b, w.conv, w.f->app.instance_id, "instance-there"};
  static const char keys[5] = {'A', 'B', 'C', 'H', 'I'};
  size_t n = 0;
  for (size_t i = 0; i < len && n < MAX_MESSAGE; i++) {
    const char *v = NULL;
    if (in[i] == '$' && i + 1 < len)
      for (int k = 0; k < 5; k++)
        if (in[i + 1] == keys[k]) v = subst[k];
    if (!v) {
      out[n++] = in[i];
      continue;
    }
    size_t vl = strlen(v);
    if (n + vl > MAX_MESSAGE) break;
    memcpy(out + n, v, vl);
    n += vl;
    i++;
  }
  return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (!w.f) world_new();
  app_t *app = &w.f->app;
  ws_session_t *sa = fake_session_new(app, w.a), *sb = fake_session_new(app, w.b);
  static char msg[MAX_MESSAGE];
  const char *p = (const char *)data, *end = p + size;
  while (p < end) {
    const char *nul = memchr(p, '\0', (size_t)(end - p));
    size_t len = nul ? (size_t)(nul - p) : (size_t)(end - p);
    const char *rec = p;
    p = nul ? nul + 1 : end;
    const char *channel = ENVELOPE_CHANNEL;
    if (len > 0 && rec[0] == 'R') {
      channel = AUTH_REVOKE_CHANNEL;
      rec++;
      len--;
    }
    size_t n = expand(rec, len, msg);
    dispatch_message(app, channel, msg, n);
    settle();
  }
  ws_session_close(sa, 1000, "bye");
  ws_session_close(sb, 1000, "bye");
  settle();
  fake_session_free(sa);
  fake_session_free(sb);
  if (++w.inputs >= WORLD_INPUTS) {
    chat_fx_free(w.f);
    w.f = NULL;
  }
  return 0;
}
