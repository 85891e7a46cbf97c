/* fields: the message field rules shared by REST and WebSocket (fields.h). */
#include "chat/fields.h"

#include "parley/util.h"

int fields_string_ok(const json_t *v, size_t min_chars, size_t max_chars) {
  if (!json_is_string(v)) return 0;
  const char *s = json_string_value(v);
  size_t len = json_string_length(v);
  if (!util_utf8_valid(s, len)) return 0;
  size_t n = util_utf8_len(s, len);
  return n >= min_chars && n <= max_chars;
}

const char *fields_check_send(const json_t *body) {
  if (!fields_string_ok(json_object_get(body, "text"), 1, FIELDS_TEXT_MAX)) return "text";
  json_t *cid = json_object_get(body, "client_id");
  if (cid && !json_is_null(cid) && !fields_string_ok(cid, 1, FIELDS_CLIENT_ID_MAX))
    return "client_id";
  return NULL;
}
