/* Fuzz target: a webhook body as Meta would send it (or not): signature check,
 * JSON parsing and event extraction must never crash or leak, and json_in's
 * parse is jansson's: the same value (the same text out), or both refuse. */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "parley/instagram.h"
#include "parley/json_in.h"

static void same_as_jansson(const char *text, size_t size, json_t *body) {
  json_t *fast = json_in_loadb(text, size, NULL);
  if (!body || !fast) {
    if (!!body != !!fast) abort();
    json_decref(fast);
    return;
  }
  char *a = json_dumps(body, JSON_COMPACT), *b = json_dumps(fast, JSON_COMPACT);
  if (!a || !b || strcmp(a, b) != 0) abort();
  free(a);
  free(b);
  json_decref(fast);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  ig_signature_valid("secret", "sha256=00", (const char *)data, size);
  json_t *body = json_loadb((const char *)data, size, 0, NULL);
  same_as_jansson((const char *)data, size, body);
  if (!body) return 0;
  json_t *events = ig_webhook_events(body);
  json_t *ev;
  size_t i;
  json_array_foreach(events, i, ev) ig_event_kind(json_object_get(ev, "payload"));
  json_decref(events);
  json_decref(body);
  return 0;
}
