/* API.md's TURN credentials for calls: time-limited HMAC credentials in
 * coturn's REST API convention (use-auth-secret): the username is
 * "<expiry unix time>:<user id>" and the credential base64(HMAC-SHA1(secret,
 * username)), so the TURN server checks them with the same secret and no
 * call to Parley. Loop thread. */
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "handlers/common.h"
#include "handlers/handlers.h"
#include "parley/util.h"

/* The configured URIs (comma-separated, blanks trimmed) as a JSON array. */
static json_t *uris(const char *list) {
  json_t *a = json_array();
  const char *p = list ? list : "";
  while (a && *p) {
    size_t n = strcspn(p, ",");
    const char *b = p, *e = p + n;
    while (b < e && (*b == ' ' || *b == '\t')) b++;
    while (e > b && (e[-1] == ' ' || e[-1] == '\t')) e--;
    if (e > b) json_array_append_new(a, json_stringn(b, (size_t)(e - b)));
    p += n + (p[n] == ',');
  }
  return a;
}

static void turn(http_req_t *req) {
  const config_t *cfg = &req->app->cfg;
  if (!cfg->turn_secret || !cfg->turn_secret[0]) {
    http_reply_error(req, 503, "unavailable", "no TURN server is configured", NULL);
    return;
  }
  char user[160], cred[64];
  long long expiry = util_now_ms() / 1000 + cfg->turn_ttl_s;
  snprintf(user, sizeof(user), "%lld:%s", expiry, req->user_id);
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (!HMAC(EVP_sha1(), cfg->turn_secret, (int)strlen(cfg->turn_secret), (unsigned char *)user,
            strlen(user), mac, &len)) {
    http_reply_error(req, 503, "unavailable", "try again", NULL);
    return;
  }
  sodium_bin2base64(cred, sizeof(cred), mac, len, sodium_base64_VARIANT_ORIGINAL);
  http_reply_json(req, 200,
                  json_pack("{s:s, s:s, s:i, s:o}", "username", user, "credential", cred, "ttl",
                            cfg->turn_ttl_s, "uris", uris(cfg->turn_uris)));
}

static const route_t routes[] = {
    {"GET", "/api/calls/turn", 1, turn},
};

const route_table_t calls_routes = ROUTE_TABLE(routes);
