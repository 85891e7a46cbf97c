/* Web Push's pure rules (push/rules.h): endpoint checks, who is pushed, and
 * the payload. Any thread. */
#include "push/rules.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "parley/addrguard.h"
#include "parley/util.h"

/* 1 when host:port is listed in allow (addrguard_allowed lets a private
 * address through only for a listed destination). */
static int listed(const char *allow, const char *host, int port) {
  struct sockaddr_in lo = {.sin_family = AF_INET};
  lo.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return addrguard_allowed(allow, host, port, (const struct sockaddr *)&lo);
}

const char *push_endpoint_problem(const char *endpoint, const char *allow) {
  if (!endpoint || !*endpoint) return "must be a URL";
  if (strlen(endpoint) > PUSH_ENDPOINT_MAX) return "must be at most 1024 bytes";
  for (const char *p = endpoint; *p; p++)
    if ((unsigned char)*p <= ' ' || (unsigned char)*p >= 0x7f) return "must be a URL";
  const char *why = NULL;
  char *scheme = NULL, *host = NULL, *user = NULL, *port = NULL;
  CURLU *u = curl_url();
  if (!u || curl_url_set(u, CURLUPART_URL, endpoint, 0) != CURLUE_OK ||
      curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
      curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK || !*host) {
    why = "must be a URL";
    goto done;
  }
  if (curl_url_get(u, CURLUPART_USER, &user, 0) == CURLUE_OK && user) {
    why = "must not carry user info";
    goto done;
  }
  curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT);
  int portn = port ? atoi(port) : 0;
  /* curl gives an IPv6 host in brackets; the allow list names it bare. */
  char bare[256];
  size_t hl = strlen(host);
  if (hl >= 2 && host[0] == '[' && hl - 2 < sizeof(bare)) {
    memcpy(bare, host + 1, hl - 2);
    bare[hl - 2] = '\0';
  } else {
    snprintf(bare, sizeof(bare), "%s", host);
  }
  if (strcmp(scheme, "https") == 0) goto done;
  if (strcmp(scheme, "http") == 0 && listed(allow, bare, portn)) goto done;
  why = "must be an https URL";
done:
  curl_free(scheme);
  curl_free(host);
  curl_free(user);
  curl_free(port);
  curl_url_cleanup(u);
  return why;
}

static const json_t *participant(const json_t *conv, const char *id) {
  size_t i;
  json_t *p;
  json_array_foreach(json_object_get(conv, "participants"), i, p) {
    const char *pid = json_string_value(json_object_get(p, "id"));
    if (pid && strcmp(pid, id) == 0) return p;
  }
  return NULL;
}

int push_wanted(const json_t *user, const json_t *conv, int64_t now_ms) {
  const char *id = json_string_value(json_object_get(user, "id"));
  const char *status = json_string_value(json_object_get(user, "status"));
  if (!id || json_is_true(json_object_get(user, "alive")) ||
      json_is_true(json_object_get(user, "deleted")))
    return 0;
  if (status && strcmp(status, "dnd") == 0) return 0;
  const json_t *p = participant(conv, id);
  const char *muted = json_string_value(json_object_get(p, "muted_until"));
  int64_t until;
  if (muted && util_parse_iso8601(muted, &until) == 0 && until > now_ms) return 0;
  return 1;
}

/* The first max code points of valid UTF-8 text, with an ellipsis when cut. */
static json_t *preview_of(const char *text, size_t max) {
  size_t n = 0, at = 0, len = strlen(text);
  while (at < len && n < max) {
    unsigned char c = (unsigned char)text[at];
    at += c < 0x80 ? 1 : c < 0xe0 ? 2 : c < 0xf0 ? 3 : 4;
    n++;
  }
  if (at >= len) return json_string(text);
  char *cut = malloc(at + 4);
  if (!cut) return NULL;
  memcpy(cut, text, at);
  memcpy(cut + at, "\xe2\x80\xa6", 4); /* … and the NUL */
  json_t *s = json_string(cut);
  free(cut);
  return s;
}

json_t *push_payload(const json_t *msg, const json_t *conv, const char *sender_name,
                     const char *recipient, int preview) {
  const char *type = json_string_value(json_object_get(conv, "type"));
  const char *name = json_string_value(json_object_get(conv, "name"));
  int named = type && (strcmp(type, "group") == 0 || strcmp(type, "channel") == 0) && name;
  const char *sender = sender_name ? sender_name : name ? name : "Someone";
  int mention = 0;
  size_t i;
  json_t *m;
  json_array_foreach(json_object_get(msg, "mentions"), i, m) {
    if (json_is_string(m) && strcmp(json_string_value(m), recipient) == 0) mention = 1;
  }
  json_t *out = json_pack("{s:s, s:O, s:s, s:s, s:O, s:O, s:s, s:b}", "type", "message",
                          "conversation_id", json_object_get(msg, "conversation_id"),
                          "conversation_type", type ? type : "direct", "title",
                          named ? name : sender, "message_id", json_object_get(msg, "id"), "seq",
                          json_object_get(msg, "seq"), "sender_name", sender, "mention", mention);
  const char *text = json_string_value(json_object_get(msg, "text"));
  if (out && preview && text && *text && !(type && strcmp(type, "secret") == 0)) {
    json_t *p = preview_of(text, PUSH_PREVIEW_CHARS);
    if (p) json_object_set_new(out, "text", p);
  }
  return out;
}

char *push_payload_mentioning(const char *text) {
  json_t *payload = text ? json_loads(text, 0, NULL) : NULL;
  char *out = NULL;
  if (payload && json_is_false(json_object_get(payload, "mention")) &&
      json_object_set_new(payload, "mention", json_true()) == 0)
    out = json_dumps(payload, JSON_COMPACT);
  json_decref(payload);
  return out;
}
