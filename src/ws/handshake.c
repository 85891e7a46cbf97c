/* The opening handshake of RFC 6455: checks an upgrade request and computes
 * Sec-WebSocket-Accept (SHA-1 and base64 through OpenSSL's EVP API). Pure
 * functions; loop thread in practice. */
#include <openssl/evp.h>
#include <string.h>

#include "parley/util.h"
#include "ws/ws_internal.h"

#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
#define WS_KEY_LEN 24 /* base64 of 16 bytes: 22 characters and "==" */

static int is_b64(char ch) {
  return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
         ch == '+' || ch == '/';
}

/* A key is valid when it decodes to exactly 16 bytes (RFC 6455 4.2.1). */
static int key_valid(const char *key) {
  if (!key || strlen(key) != WS_KEY_LEN) return 0;
  for (int i = 0; i < WS_KEY_LEN - 2; i++)
    if (!is_b64(key[i])) return 0;
  return key[22] == '=' && key[23] == '=';
}

int ws_accept_key(const char *client_key, char out[29]) {
  if (!key_valid(client_key)) return -1;
  char joined[WS_KEY_LEN + sizeof(WS_GUID)];
  memcpy(joined, client_key, WS_KEY_LEN);
  memcpy(joined + WS_KEY_LEN, WS_GUID, sizeof(WS_GUID) - 1);
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int mdlen = 0;
  if (!EVP_Digest(joined, WS_KEY_LEN + sizeof(WS_GUID) - 1, md, &mdlen, EVP_sha1(), NULL) ||
      mdlen != 20)
    return -1;
  /* 20 bytes encode to 28 characters plus the NUL EVP_EncodeBlock writes. */
  return EVP_EncodeBlock((unsigned char *)out, md, 20) == 28 ? 0 : -1;
}

/* 1 when the comma-separated header value holds token (case-insensitive). */
static int has_token(const char *value, const char *token) {
  size_t tlen = strlen(token);
  const char *p = value;
  while (p && *p) {
    while (*p == ' ' || *p == '\t' || *p == ',') p++;
    const char *end = p;
    while (*end && *end != ',') end++;
    const char *last = end;
    while (last > p && (last[-1] == ' ' || last[-1] == '\t')) last--;
    if ((size_t)(last - p) == tlen && util_strncasecmp(p, token, tlen) == 0) return 1;
    p = end;
  }
  return 0;
}

int ws_handshake_check(const http_req_t *req, char accept[29], const char **why) {
  const char *upgrade = http_req_header(req, "upgrade");
  const char *connection = http_req_header(req, "connection");
  const char *version = http_req_header(req, "sec-websocket-version");
  if (strcmp(req->method, "GET") != 0) {
    *why = "a WebSocket upgrade must be a GET";
    return 400;
  }
  if (!upgrade || !has_token(upgrade, "websocket")) {
    *why = "Upgrade: websocket is required";
    return 400;
  }
  if (!connection || !has_token(connection, "upgrade")) {
    *why = "Connection: Upgrade is required";
    return 400;
  }
  if (!version || strcmp(version, "13") != 0) {
    *why = "only WebSocket version 13 is supported";
    return 426;
  }
  if (ws_accept_key(http_req_header(req, "sec-websocket-key"), accept) != 0) {
    *why = "Sec-WebSocket-Key must be 16 bytes of base64";
    return 400;
  }
  return 0;
}
