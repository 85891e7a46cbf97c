/* Fuzz target: the user_ids value of GET /api/presence (presence_view_parse_ids),
 * outside input after percent-decoding. Parsing must never crash or read out of
 * bounds (abort() marks a broken promise, in every build); a list that parses holds 1 to 1,000
 * distinct ids of 24 lowercase hex characters, each of which appears in the input. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "chat/presence_view.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *s = malloc(size + 1);
  if (!s) return 0;
  memcpy(s, data, size);
  s[size] = '\0'; /* the query reader hands over a C string */
  const char *why = NULL;
  json_t *ids = presence_view_parse_ids(s, &why);
  if (ids) {
    size_t n = json_array_size(ids), i, k;
    if (n < 1 || n > PRESENCE_VIEW_MAX_USERS) abort();
    json_t *v;
    json_array_foreach(ids, i, v) {
      const char *id = json_string_value(v);
      if (!id || strlen(id) != 24 || strspn(id, "0123456789abcdef") != 24 || !strstr(s, id))
        abort();
      for (k = 0; k < i; k++)
        if (strcmp(id, json_string_value(json_array_get(ids, k))) == 0) abort();
    }
    json_decref(ids);
  } else if (!why || !*why) {
    abort();
  }
  free(s);
  return 0;
}
