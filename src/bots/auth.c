/* "Authorization: Bot <token>" on the routes that take it (ROUTE_BOT): the
 * token's hash is looked up in the store on every request, so a rotated or
 * deleted bot's token fails at once on every instance. Loop thread. */
#include <string.h>

#include "bots/bots_internal.h"
#include "parley/auth.h"
#include "parley/store.h"

static void found(void *ctx, int status, json_t *result) {
  http_req_t *req = ctx;
  const char *id = json_string_value(json_object_get(result, "id"));
  if (status == STORE_OK && id && strlen(id) < sizeof(req->user_id)) {
    snprintf(req->user_id, sizeof(req->user_id), "%s", id);
    req->login_id[0] = 0;
    http_req_authenticated(req, 0);
  } else {
    http_req_authenticated(req, status == STORE_ENOTFOUND || status == STORE_OK ? -1 : -2);
  }
  json_decref(result);
}

int bots_authenticate(void *ctx, http_req_t *req) {
  app_t *app = ctx;
  const char *h = http_req_header(req, "authorization");
  char hash[65];
  if (!h || strncmp(h, "Bot ", 4) != 0 || auth_refresh_hash(h + 4, strlen(h + 4), hash) != 0) {
    http_req_authenticated(req, -1);
    return 0;
  }
  json_t *p = json_pack("{s:s}", "token_hash", hash);
  if (!p || store_call(app->store, BOT_AUTH, p, found, req) != 0) return -1;
  return 0;
}
