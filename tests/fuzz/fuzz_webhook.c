/* Fuzz target: a webhook body as Meta would send it (or not): signature check,
 * JSON parsing and event extraction must never crash or leak. */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>

#include "parley/instagram.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  ig_signature_valid("secret", "sha256=00", (const char *)data, size);
  json_t *body = json_loadb((const char *)data, size, 0, NULL);
  if (!body) return 0;
  json_t *events = ig_webhook_events(body);
  json_t *ev;
  size_t i;
  json_array_foreach(events, i, ev) ig_event_kind(json_object_get(ev, "payload"));
  json_decref(events);
  json_decref(body);
  return 0;
}
