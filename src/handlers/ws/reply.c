/* reply: encoding frames for one session (see reply.h). Loop thread. */
#include "handlers/ws/reply.h"

#include <stdlib.h>
#include <string.h>

int ws_reply_json(ws_session_t *s, json_t *frame) {
  if (!frame) return -1;
  char *text = json_dumps(frame, JSON_COMPACT);
  json_decref(frame);
  if (!text) return -1;
  int rc = ws_session_send(s, text, strlen(text));
  free(text);
  return rc;
}

void ws_reply_error(ws_session_t *s, const char *code, const char *message, const char *ref,
                    const char *field) {
  ws_reply_json(s, json_pack("{s:s, s:s, s:s, s:s?, s:s?}", "type", "error", "code", code,
                             "message", message, "ref", ref, "field", field));
}
