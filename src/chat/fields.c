/* fields: the message field rules shared by REST and WebSocket (fields.h). */
#include "chat/fields.h"

#include <string.h>

#include "parley/store.h"
#include "parley/util.h"

int fields_string_ok(const json_t *v, size_t min_chars, size_t max_chars) {
  if (!json_is_string(v)) return 0;
  const char *s = json_string_value(v);
  size_t len = json_string_length(v);
  if (!util_utf8_valid(s, len)) return 0;
  size_t n = util_utf8_len(s, len);
  return n >= min_chars && n <= max_chars;
}

_Static_assert(FIELDS_MENTIONS_MAX == MSG_MENTIONS_MAX, "the store and the API agree");

/* 1 when v is absent, null, or an array of at most max distinct ids. */
static int ids_ok(const json_t *v, size_t max) {
  if (!v || json_is_null(v)) return 1;
  if (!json_is_array(v) || json_array_size(v) > max) return 0;
  for (size_t i = 0; i < json_array_size(v); i++) {
    if (!fields_string_ok(json_array_get(v, i), 1, FIELDS_ID_MAX)) return 0;
    for (size_t j = 0; j < i; j++)
      if (strcmp(json_string_value(json_array_get(v, i)),
                 json_string_value(json_array_get(v, j))) == 0)
        return 0;
  }
  return 1;
}

int fields_has_attachments(const json_t *body) {
  json_t *ids = json_object_get(body, "attachment_ids");
  return json_is_array(ids) && json_array_size(ids) > 0;
}

int fields_has_ciphertexts(const json_t *body) {
  return json_object_get(body, "ciphertexts") != NULL;
}

/* 1 when s is 1..max characters of the base64url alphabet (no padding). */
static int b64url_ok(const char *s, size_t len, size_t max) {
  if (len == 0 || len > max) return 0;
  for (size_t i = 0; i < len; i++) {
    char c = s[i];
    if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
          c == '_'))
      return 0;
  }
  return 1;
}

/* {device id: base64url}: 1..FIELDS_CIPHERTEXTS_MAX entries, each key an id
 * (base64url characters, so never a MongoDB operator or path) and each value
 * at most FIELDS_CIPHERTEXT_MAX characters. */
static int ciphertexts_ok(const json_t *v) {
  if (!json_is_object(v) || json_object_size(v) == 0 ||
      json_object_size(v) > FIELDS_CIPHERTEXTS_MAX)
    return 0;
  const char *k;
  json_t *c;
  json_object_foreach((json_t *)v, k, c) {
    if (!b64url_ok(k, strlen(k), FIELDS_ID_MAX) || !json_is_string(c) ||
        !b64url_ok(json_string_value(c), json_string_length(c), FIELDS_CIPHERTEXT_MAX))
      return 0;
  }
  return 1;
}

/* An end-to-end encrypted send carries ciphertexts and nothing the server
 * could read: no text, files, quote or mentions. */
static const char *check_secret_send(const json_t *body) {
  if (!ciphertexts_ok(json_object_get(body, "ciphertexts"))) return "ciphertexts";
  static const char *const plain[] = {"text", "attachment_ids", "reply_to", "mentions"};
  for (size_t i = 0; i < sizeof(plain) / sizeof(plain[0]); i++) {
    json_t *v = json_object_get(body, plain[i]);
    if (v && !json_is_null(v)) return plain[i];
  }
  json_t *cid = json_object_get(body, "client_id");
  if (cid && !json_is_null(cid) && !fields_string_ok(cid, 1, FIELDS_CLIENT_ID_MAX))
    return "client_id";
  return NULL;
}

const char *fields_check_send(const json_t *body) {
  if (fields_has_ciphertexts(body)) return check_secret_send(body);
  if (!ids_ok(json_object_get(body, "attachment_ids"), FIELDS_ATTACHMENTS_MAX))
    return "attachment_ids";
  /* With files, text may be absent or null. */
  json_t *text = json_object_get(body, "text");
  int text_optional = fields_has_attachments(body) && (!text || json_is_null(text));
  if (!text_optional && !fields_string_ok(text, 1, FIELDS_TEXT_MAX)) return "text";
  json_t *cid = json_object_get(body, "client_id");
  if (cid && !json_is_null(cid) && !fields_string_ok(cid, 1, FIELDS_CLIENT_ID_MAX))
    return "client_id";
  json_t *reply = json_object_get(body, "reply_to");
  if (reply && !json_is_null(reply) && !fields_string_ok(reply, 1, FIELDS_ID_MAX))
    return "reply_to";
  if (!ids_ok(json_object_get(body, "mentions"), FIELDS_MENTIONS_MAX)) return "mentions";
  return NULL;
}

const char *fields_send_error(const char *field) {
  if (strcmp(field, "ciphertexts") == 0)
    return "ciphertexts must map 1 to 20 device ids to unpadded base64url of at most 16384 "
           "characters";
  if (strcmp(field, "text") == 0)
    return "text must be 1 to 4000 characters of valid UTF-8 (or null with attachment_ids)";
  if (strcmp(field, "attachment_ids") == 0)
    return "attachment_ids must be an array of at most 10 distinct attachment ids";
  if (strcmp(field, "client_id") == 0) return "client_id must be a string of 1 to 64 characters";
  if (strcmp(field, "reply_to") == 0) return "reply_to must be a message id or null";
  return "mentions must be an array of at most 20 distinct user ids";
}

int fields_has_reply(const json_t *body) {
  json_t *reply = json_object_get(body, "reply_to");
  return (reply && !json_is_null(reply)) || json_array_size(json_object_get(body, "mentions")) > 0;
}

const char *fields_reply_refused(const json_t *body, const char **field) {
  json_t *reply = json_object_get(body, "reply_to");
  *field = reply && !json_is_null(reply) ? "reply_to" : "mentions";
  return "reply_to must be a message of this conversation that is not deleted, and mentions "
         "participants of it (neither is possible in an instagram conversation)";
}

const char *fields_secret_refused(const char *field) {
  return strcmp(field, "ciphertexts") == 0
             ? "ciphertexts go only to a secret conversation"
             : "a secret conversation takes only ciphertexts (end-to-end encrypted)";
}
