/* envelope: writing and reading the messaging domain's bus envelopes (see
 * envelope.h). Loop thread. */
#include "chat/envelope.h"

#include <stdlib.h>
#include <string.h>

#include "parley/bus.h"
#include "parley/json_out.h"
#include "parley/metrics.h"

int envelope_remote(const app_t *app) {
  return app->bus && strcmp(bus_backend(app->bus), "local") != 0;
}

void envelope_publish(app_t *app, json_t *header, const char *body, size_t len) {
  if (!envelope_remote(app)) return;
  json_object_set_new(header, "i", json_string(app->instance_id));
  size_t hlen;
  char *h = json_out_dumps(header, &hlen); /* jansson's text (dispatch.c reads its end) */
  if (!h) return;
  char *payload = malloc(hlen + 1 + len);
  if (payload) {
    memcpy(payload, h, hlen);
    payload[hlen] = '\n';
    if (len) memcpy(payload + hlen + 1, body, len);
    if (bus_publish(app->bus, ENVELOPE_CHANNEL, payload, hlen + 1 + len) == 0)
      app->metrics->bus_published++;
    free(payload);
  }
  free(h);
}

json_t *envelope_parse(const char *payload, size_t len, const char **body, size_t *body_len) {
  const char *nl = memchr(payload, '\n', len);
  if (!nl) return NULL;
  json_t *hdr = json_loadb(payload, (size_t)(nl - payload), 0, NULL);
  if (!json_is_object(hdr)) {
    json_decref(hdr);
    return NULL;
  }
  *body = nl + 1;
  *body_len = len - (size_t)(*body - payload);
  return hdr;
}
