/* Fuzz target: the bytes a WebSocket client sends after the handshake, fed to
 * the session core (wslay plus our limits, pings and close handshake) in the
 * chunk sizes the first input byte chooses, with every text message echoed
 * back the way the protocol layer answers. Must never crash, leak or loop. */
#include <stdint.h>
#include <stdlib.h>

#include "ws/ws_internal.h"

typedef struct echo_s {
  ws_core_t *core;
  size_t texts;
} echo_t;

static void on_text(void *arg, const char *data, size_t len) {
  echo_t *e = arg;
  e->texts++;
  ws_core_send_text(e->core, data, len);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  size_t chunk = (size_t)data[0] % 64 + 1;
  data++;
  size--;
  ws_core_limits_t limits = {
      .max_message_bytes = 4096, .ping_interval_ms = 1000, .pong_timeout_ms = 2000};
  echo_t e = {0};
  uint64_t now = 1000;
  e.core = ws_core_new(&limits, now, on_text, &e);
  if (!e.core) return 0;
  for (size_t off = 0; off < size; off += chunk) {
    size_t n = size - off < chunk ? size - off : chunk;
    now += 7;
    enum ws_core_next next = ws_core_feed(e.core, (const char *)data + off, n, now);
    if (next == WS_CORE_CONTINUE) next = ws_core_flush(e.core, now);
    size_t out_len = 0;
    free(ws_core_take_output(e.core, &out_len));
    if (next != WS_CORE_CONTINUE) break;
    if (ws_core_tick(e.core, now) != WS_CORE_CONTINUE) break;
  }
  /* The clock runs on with no input: pings, then the pong deadline. */
  ws_core_tick(e.core, now + 1500);
  ws_core_tick(e.core, now + 5000);
  size_t out_len = 0;
  free(ws_core_take_output(e.core, &out_len));
  ws_core_free(e.core);
  return 0;
}
