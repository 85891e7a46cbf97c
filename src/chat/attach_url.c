/* Signed download URLs of attachments: HMAC-SHA256 (libsodium) over the
 * attachment id, whether it is the thumbnail, the scope and the expiry,
 * truncated to 128 bits and written in hex. Loop thread; no state. */
#include "chat/attach_url.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chat/conv_view.h"
#include "parley/util.h"

#define SIG_BYTES 16

static int hex24(const char *s) {
  if (!s) return 0;
  for (int i = 0; i < 24; i++)
    if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) return 0;
  return s[24] == '\0';
}

void attach_url_key(const unsigned char secret_key[32], crypto_auth_hmacsha256_state *out) {
  static const char label[] = "parley attachment download urls v1";
  unsigned char key[crypto_auth_hmacsha256_BYTES];
  crypto_auth_hmacsha256(key, (const unsigned char *)label, sizeof(label) - 1, secret_key);
  crypto_auth_hmacsha256_init(out, key, sizeof(key));
  sodium_memzero(key, sizeof(key));
}

int64_t attach_url_expiry(int64_t now_s, int ttl_s) {
  if (ttl_s < 1) ttl_s = 1;
  return (now_s / ttl_s + 2) * (int64_t)ttl_s;
}

/* Writes v in decimal at p (as %lld); returns the end. */
static char *put_int(char *p, int64_t v) {
  char digits[24];
  int n = 0;
  uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
  do {
    digits[n++] = (char)('0' + u % 10);
    u /= 10;
  } while (u);
  if (v < 0) *p++ = '-';
  while (n) *p++ = digits[--n];
  return p;
}

/* The signed text, "<id>\n<file|thumbnail>\n<scope>:<scope_id>\n<exp>",
 * written at msg (room for 24 + 10 + 2 + 24 + 20 + 3 bytes: ids checked to be
 * 24 digits); returns its length. */
static size_t signed_text(char msg[96], const char *id, int thumb, char scope, const char *scope_id,
                          int64_t exp) {
  char *p = msg;
  memcpy(p, id, 24);
  p += 24;
  *p++ = '\n';
  memcpy(p, thumb ? "thumbnail\n" : "file\n", thumb ? 10 : 5);
  p += thumb ? 10 : 5;
  *p++ = scope;
  *p++ = ':';
  memcpy(p, scope_id, 24);
  p += 24;
  *p++ = '\n';
  p = put_int(p, exp);
  return (size_t)(p - msg);
}

/* The MAC of the signed text with the keyed state: a copy of key, so the
 * key's pads are not hashed again (crypto_auth_hmacsha256_init's work). */
static void mac(const crypto_auth_hmacsha256_state *key, const char *id, int thumb, char scope,
                const char *scope_id, int64_t exp, unsigned char out[SIG_BYTES]) {
  char msg[96];
  size_t n = signed_text(msg, id, thumb, scope, scope_id, exp);
  unsigned char full[crypto_auth_hmacsha256_BYTES];
  crypto_auth_hmacsha256_state st = *key;
  crypto_auth_hmacsha256_update(&st, (const unsigned char *)msg, (unsigned long long)n);
  crypto_auth_hmacsha256_final(&st, full);
  memcpy(out, full, SIG_BYTES);
  sodium_memzero(&st, sizeof(st));
}

int attach_url_sign(const crypto_auth_hmacsha256_state *key, const char *id, int thumb, char scope,
                    const char *scope_id, int64_t exp, char *out, size_t outlen) {
  if (!hex24(id) || !hex24(scope_id) || (scope != 'c' && scope != 'u' && scope != 'a')) return -1;
  unsigned char sig[SIG_BYTES];
  mac(key, id, thumb, scope, scope_id, exp, sig);
  /* "/api/attachments/<id>[/thumbnail]?<scope>=<scope_id>&exp=<exp>&sig=<hex>",
   * as snprintf wrote it, built in room for the longest and copied out. */
  char url[ATTACH_URL_MAX], *p = url;
  memcpy(p, "/api/attachments/", 17);
  p += 17;
  memcpy(p, id, 24);
  p += 24;
  if (thumb) {
    memcpy(p, "/thumbnail", 10);
    p += 10;
  }
  *p++ = '?';
  *p++ = scope;
  *p++ = '=';
  memcpy(p, scope_id, 24);
  p += 24;
  memcpy(p, "&exp=", 5);
  p += 5;
  p = put_int(p, exp);
  memcpy(p, "&sig=", 5);
  p += 5;
  util_hex(sig, SIG_BYTES, p);
  p += 2 * SIG_BYTES;
  size_t n = (size_t)(p - url);
  if (n >= outlen) return -1;
  memcpy(out, url, n);
  out[n] = '\0';
  return 0;
}

int attach_url_verify(const crypto_auth_hmacsha256_state *key, const char *id, int thumb,
                      char scope, const char *scope_id, const char *exp, const char *sig,
                      int64_t now_s) {
  if (!hex24(id) || !hex24(scope_id) || (scope != 'c' && scope != 'u' && scope != 'a') || !exp ||
      !sig)
    return -1;
  char *end;
  long long e = strtoll(exp, &end, 10);
  if (end == exp || *end || e < now_s || strlen(sig) != 2 * SIG_BYTES) return -1;
  unsigned char given[SIG_BYTES], want[SIG_BYTES];
  if (util_unhex(sig, given, SIG_BYTES) != 0) return -1;
  mac(key, id, thumb, scope, scope_id, (int64_t)e, want);
  return sodium_memcmp(given, want, SIG_BYTES) == 0 ? 0 : -1;
}

void attach_url_view(const app_t *app, json_t *att, char scope, const char *scope_id) {
  const char *id = json_string_value(json_object_get(att, "id"));
  if (!json_is_object(att) || !hex24(id)) return;
  if (json_is_string(json_object_get(att, "fetch"))) {
    /* Instagram media not (yet) in storage: shown from Meta's URL, with
     * fetch saying whether it is still coming ("pending") or not ("failed"). */
    json_object_set(att, "url", json_object_get(att, "source_url"));
    json_object_set_new(att, "content_type", json_null());
    json_object_set_new(att, "size", json_null());
    return;
  }
  int64_t exp = attach_url_expiry(util_now_ms() / 1000, app->cfg.attachment_url_ttl_s);
  char url[ATTACH_URL_MAX];
  if (attach_url_sign(&app->url_key, id, 0, scope, scope_id, exp, url, sizeof(url)) == 0)
    json_object_set_new(att, "url", json_string(url));
  int thumb = json_is_string(json_object_get(att, "thumbnail_key"));
  if (thumb && attach_url_sign(&app->url_key, id, 1, scope, scope_id, exp, url, sizeof(url)) == 0)
    json_object_set_new(att, "thumbnail_url", json_string(url));
  json_object_del(att, "user_id");
  json_object_del(att, "thumbnail_key");
  json_object_del(att, "thumbnail_size");
  json_object_del(att, "thumbnail_content_type");
}

void attach_url_message(const app_t *app, json_t *message) {
  json_t *list = json_object_get(message, "attachments");
  const char *conv = json_string_value(json_object_get(message, "conversation_id"));
  if (!json_is_array(list) || !conv) return;
  size_t i;
  json_t *a;
  json_array_foreach(list, i, a) attach_url_view(app, a, 'c', conv);
}

json_t *attach_url_message_copy(const app_t *app, const json_t *message) {
  json_t *list = json_object_get(message, "attachments");
  int ours = 0;
  size_t i;
  json_t *a;
  json_array_foreach(list, i, a) ours |= hex24(json_string_value(json_object_get(a, "id")));
  if (!ours) return json_incref((json_t *)message);
  json_t *copy = json_deep_copy(message);
  attach_url_message(app, copy);
  return copy;
}

void attach_url_messages(const app_t *app, json_t *messages) {
  size_t i;
  json_t *m;
  json_array_foreach(messages, i, m) attach_url_message(app, m);
}

/* Signing avatars for one answer: the expiry, read once, and the URLs made so
 * far by owner and avatar (memo, NULL: none kept), so a user who is in every
 * conversation of a page costs one signature and one string, shared. */
typedef struct signer_s {
  const app_t *app;
  int64_t exp;
  json_t *memo;
} signer_t;

static signer_t signer(const app_t *app, json_t *memo) {
  signer_t sg = {app, attach_url_expiry(util_now_ms() / 1000, ATTACH_AVATAR_TTL_S), memo};
  return sg;
}

/* owner's avatar (avatar_id) as avatar_url on obj, signed for scope 'a' and
 * owner's id; obj keeps what it had when there is none to sign. */
static void sign_avatar(signer_t *sg, json_t *obj, const char *avatar, const char *owner) {
  char url[ATTACH_URL_MAX], key[64];
  if (!obj || !avatar || !owner) return;
  int keyed = sg->memo && snprintf(key, sizeof(key), "%s:%s", owner, avatar) < (int)sizeof(key);
  json_t *known = keyed ? json_object_get(sg->memo, key) : NULL;
  if (known) {
    json_object_set(obj, "avatar_url", known);
  } else if (attach_url_sign(&sg->app->url_key, avatar, 1, 'a', owner, sg->exp, url, sizeof(url)) ==
             0) {
    json_t *v = json_string(url);
    if (keyed && v) json_object_set(sg->memo, key, v);
    json_object_set_new(obj, "avatar_url", v);
  }
}

json_t *attach_url_user(const app_t *app, json_t *view, const json_t *user) {
  signer_t sg = signer(app, NULL);
  sign_avatar(&sg, view, json_string_value(json_object_get(user, "avatar_id")),
              json_string_value(json_object_get(user, "id")));
  return view;
}

static void sign_member(signer_t *sg, json_t *member) {
  json_t *avatar = json_object_get(member, "avatar_id");
  if (!avatar) return;
  sign_avatar(sg, member, json_string_value(avatar),
              json_string_value(json_object_get(member, "id")));
  json_object_del(member, "avatar_id");
}

static void sign_members(signer_t *sg, json_t *members) {
  size_t i;
  json_t *m;
  json_array_foreach(members, i, m) sign_member(sg, m);
}

void attach_url_member(const app_t *app, json_t *member) {
  signer_t sg = signer(app, NULL);
  sign_member(&sg, member);
}

void attach_url_members(const app_t *app, json_t *members) {
  signer_t sg = signer(app, NULL);
  sign_members(&sg, members);
}

static void sign_conv(signer_t *sg, json_t *conv) {
  if (!json_is_object(conv)) return;
  json_t *avatar = json_object_get(conv, "avatar_id");
  if (avatar) {
    sign_avatar(sg, conv, json_string_value(avatar),
                json_string_value(json_object_get(conv, "id")));
    json_object_del(conv, "avatar_id");
  }
  sign_members(sg, json_object_get(conv, "participants"));
  sign_members(sg, json_object_get(conv, "agents"));
}

json_t *attach_url_conv(const app_t *app, json_t *conv) {
  signer_t sg = signer(app, NULL);
  sign_conv(&sg, conv);
  return conv;
}

void attach_url_convs(const app_t *app, json_t *convs) {
  signer_t sg = signer(app, json_object());
  size_t i;
  json_t *c;
  json_array_foreach(convs, i, c) sign_conv(&sg, c);
  json_decref(sg.memo);
}

json_t *attach_url_conv_view(const app_t *app, const json_t *conv, const char *user_id) {
  /* The record is the caller's own store result, which nothing else holds:
   * signing it in place is what attach_url_conv does, once for every view. */
  return conv_view_json(attach_url_conv(app, (json_t *)conv), user_id);
}
