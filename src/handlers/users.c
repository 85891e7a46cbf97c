/* API.md's Users calls: search, a user by id, the caller's profile, account
 * deletion (which revokes the user's tokens in the store, here and, through the
 * bus, on every instance, and closes their WebSocket sessions with 4003: see
 * chat/revocations.h). Loop thread. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chat/attach_url.h"
#include "chat/presence.h"
#include "chat/presence_query.h"
#include "chat/presence_view.h"
#include "chat/revocations.h"
#include "chat/user_updates.h"
#include "chat/user_view.h"
#include "handlers/common.h"
#include "handlers/handlers.h"
#include "parley/auth.h"
#include "parley/util.h"

#define SEARCH_LIMIT 20
#define SEARCH_Q_MAX 256
#define AVATAR_URL_MAX 2048

/* ---- search and lookup ---- */

/* Public views of users marked alive or not (presence_query.h). */
static void on_search_marked(void *ctx, int status, json_t *found) {
  http_req_t *req = ctx;
  json_t *users = json_array();
  size_t i;
  json_t *u;
  json_array_foreach(found, i, u) {
    if (i >= SEARCH_LIMIT) break;
    json_array_append_new(users, attach_url_user(req->app, user_view_public(u), u));
  }
  http_reply_json(req, 200, json_pack("{s:o}", "users", users));
  json_decref(found);
  http_req_unref(req);
}

static void on_search(void *ctx, int status, json_t *result) {
  http_req_t *req = ctx;
  if (status != STORE_OK) {
    handlers_reply_store_error(req, status);
    http_req_unref(req);
  } else if (presence_mark(req->app, json_incref(json_object_get(result, "users")),
                           on_search_marked, req) != 0) {
    handlers_reply_store_error(req, STORE_EUNAVAILABLE);
    http_req_unref(req);
  }
  json_decref(result);
}

static void search(http_req_t *req) {
  char q[SEARCH_Q_MAX + 1];
  long n = http_req_query(req, "q", q, sizeof(q));
  if (n == -1) {
    http_reply_error(req, 400, "validation_failed", "q is required", "q");
    return;
  }
  if (n < 0) {
    http_reply_error(req, 400, "validation_failed", "q must be at most 256 bytes of UTF-8", "q");
    return;
  }
  char *s = q;
  while (*s == ' ') s++;
  size_t len = strlen(s);
  while (len && s[len - 1] == ' ') s[--len] = '\0';
  if (len == 0) {
    http_reply_json(req, 200, json_pack("{s:[]}", "users"));
    return;
  }
  handlers_store_call(req, USER_SEARCH, json_pack("{s:s, s:i}", "q", s, "limit", SEARCH_LIMIT),
                      on_search);
}

/* Ids are 24 lowercase hex characters; anything else cannot exist, and is
 * answered without touching the store. */
static int id_ok(const char *id) {
  if (!id || strlen(id) != 24) return 0;
  for (const char *p = id; *p; p++)
    if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f'))) return 0;
  return 1;
}

static void on_user_marked(void *ctx, int status, json_t *users) {
  http_req_t *req = ctx;
  json_t *u = json_array_get(users, 0);
  http_reply_json(req, 200,
                  json_pack("{s:o}", "user", attach_url_user(req->app, user_view_public(u), u)));
  json_decref(users);
  http_req_unref(req);
}

/* The caller's own user shows the status they chose; anyone else's what
 * others see, which needs to know whether a session of theirs is alive. */
static void on_user(void *ctx, int status, json_t *result) {
  http_req_t *req = ctx;
  const char *id = json_string_value(json_object_get(result, "id"));
  if (status != STORE_OK) {
    handlers_reply_store_error(req, status);
  } else if (id && strcmp(id, req->user_id) == 0) {
    http_reply_json(
        req, 200,
        json_pack("{s:o}", "user", attach_url_user(req->app, user_view_own(result), result)));
  } else if (presence_mark(req->app, json_pack("[O]", result), on_user_marked, req) == 0) {
    json_decref(result);
    return;
  } else {
    handlers_reply_store_error(req, STORE_EUNAVAILABLE);
  }
  json_decref(result);
  http_req_unref(req);
}

static void get_user(http_req_t *req) {
  const char *id = http_req_param(req, "id");
  if (!id_ok(id)) {
    http_reply_error(req, 404, "not_found", "no such user", NULL);
    return;
  }
  handlers_store_call(req, USER_GET, json_pack("{s:s}", "id", id), on_user);
}

/* ---- profile ---- */

/* http(s)://host[...] with no whitespace or control characters. */
static int url_ok(const char *s, size_t len) {
  size_t skip;
  if (util_strncasecmp(s, "https://", 8) == 0)
    skip = 8;
  else if (util_strncasecmp(s, "http://", 7) == 0)
    skip = 7;
  else
    return 0;
  if (len <= skip || s[skip] == '/' || s[skip] == '?' || s[skip] == '#') return 0;
  for (size_t i = 0; i < len; i++)
    if ((unsigned char)s[i] <= 0x20 || s[i] == 0x7f) return 0;
  return 1;
}

/* Adds avatar_url and status to params when present and valid; returns -1
 * after replying 400. */
static int profile_fields(http_req_t *req, json_t *body, json_t *params) {
  json_t *avatar = json_object_get(body, "avatar_url");
  if (avatar && json_is_null(avatar)) {
    json_object_set_new(params, "avatar_url", json_null());
  } else if (avatar) {
    const char *s = json_string_value(avatar);
    size_t len = json_string_length(avatar);
    if (!json_is_string(avatar) || len > AVATAR_URL_MAX || !util_utf8_valid(s, len) ||
        !url_ok(s, len)) {
      http_reply_error(req, 400, "validation_failed",
                       "avatar_url must be null or an http(s) URL of at most 2048 bytes",
                       "avatar_url");
      return -1;
    }
    json_object_set(params, "avatar_url", avatar);
  }
  json_t *status = json_object_get(body, "status");
  if (status) {
    const char *s = json_string_value(status);
    if (!presence_view_settable(s)) {
      http_reply_error(req, 400, "validation_failed",
                       "status must be one of online, away, dnd, invisible (offline is never set: "
                       "it is what others see while no session is open)",
                       "status");
      return -1;
    }
    json_object_set(params, "status", status);
  }
  return 0;
}

/* What a profile change touched: the status (others hear presence) and the
 * looks, name or avatar (others hear user.updated). */
#define PROFILE_STATUS 1
#define PROFILE_LOOKS 2

static void profile_done(http_req_t *req, int status, json_t *result, int changed) {
  if (status == STORE_ENOTFOUND ||
      (status == STORE_OK && json_is_true(json_object_get(result, "deleted"))))
    http_reply_error(req, 401, "unauthorized", "the account no longer exists", NULL);
  else if (status != STORE_OK)
    handlers_reply_store_error(req, status);
  else
    http_reply_json(
        req, 200,
        json_pack("{s:o}", "user", attach_url_user(req->app, user_view_own(result), result)));
  /* The others hear a new status, name or avatar once it is stored. */
  if (status == STORE_OK && (changed & PROFILE_STATUS))
    presence_status_changed(req->app, req->user_id);
  if (status == STORE_OK && (changed & PROFILE_LOOKS) &&
      !json_is_true(json_object_get(result, "deleted"))) {
    json_t *view = attach_url_user(req->app, user_view_public(result), result);
    user_updates_announce(req->app, view);
    json_decref(view);
  }
  json_decref(result);
  http_req_unref(req);
}

static void on_profile(void *ctx, int status, json_t *result) {
  profile_done(ctx, status, result, 0);
}

static void on_profile_status(void *ctx, int status, json_t *result) {
  profile_done(ctx, status, result, PROFILE_STATUS);
}

static void on_profile_looks(void *ctx, int status, json_t *result) {
  profile_done(ctx, status, result, PROFILE_LOOKS);
}

static void on_profile_both(void *ctx, int status, json_t *result) {
  profile_done(ctx, status, result, PROFILE_STATUS | PROFILE_LOOKS);
}

static void update_profile(http_req_t *req) {
  json_t *body = http_req_json(req);
  if (!body) return;
  json_t *params = json_pack("{s:s}", "id", req->user_id);
  json_t *name_v = json_object_get(body, "name");
  if (name_v) {
    char *name = handlers_name_field(req, body, 0);
    if (!name) {
      /* name: null is "not given"; anything else that failed has been answered. */
      if (json_is_null(name_v)) goto fields;
      goto done;
    }
    json_object_set_new(params, "name", json_string(name));
    free(name);
  }
fields:
  if (profile_fields(req, body, params) != 0) goto done;
  int looks = json_object_get(params, "name") || json_object_get(params, "avatar_url");
  int status = json_object_get(params, "status") != NULL;
  handlers_store_call(req, USER_UPDATE, params,
                      status ? (looks ? on_profile_both : on_profile_status)
                             : (looks ? on_profile_looks : on_profile));
  params = NULL;
done:
  json_decref(params);
  json_decref(body);
}

/* ---- deletion ---- */

static void on_deleted(void *ctx, int status, json_t *result) {
  http_req_t *req = ctx;
  json_decref(result);
  if (status != STORE_OK && status != STORE_ENOTFOUND)
    handlers_reply_store_error(req, status);
  else
    http_reply_empty(req, 204);
  http_req_unref(req);
}

/* The revocation is saved and applied before the account goes: a failure in
 * between leaves a live account whose tokens are refused (log in again and
 * retry), never a deleted one whose tokens a restart would accept. */
static void on_revoked(void *ctx, int status) {
  http_req_t *req = ctx;
  if (status != STORE_OK) {
    handlers_reply_store_error(req, status);
    http_req_unref(req);
    return;
  }
  if (store_call(req->app->store, USER_DELETE, json_pack("{s:s}", "id", req->user_id), on_deleted,
                 req) != 0)
    on_deleted(req, STORE_EUNAVAILABLE, NULL);
}

static void delete_user(http_req_t *req) {
  auth_revocation_t rv;
  if (auth_revocation_make(&rv, req->user_id, NULL, util_now_ms()) != 0) {
    http_reply_error(req, 401, "unauthorized", "a valid access token is required", NULL);
    return;
  }
  http_req_ref(req);
  if (revocations_end(req->app, &rv, on_revoked, req) != 0) {
    http_req_unref(req);
    http_reply_error(req, 503, "unavailable", "try again", NULL);
  }
}

/* ---- avatar ---- */

static void on_avatar(void *ctx, int status, json_t *result) {
  http_req_t *req = ctx;
  if (status != STORE_ENOTFOUND) {
    profile_done(req, status, result, PROFILE_LOOKS);
    return;
  }
  http_reply_error(req, 404, "not_found", "no such image of yours", "attachment_id");
  json_decref(result);
  http_req_unref(req);
}

/* PUT /api/user/avatar {attachment_id}: an image the caller uploaded (one
 * with a thumbnail), or null to remove it. */
static void set_avatar(http_req_t *req) {
  json_t *body = http_req_json(req);
  if (!body) return;
  json_t *att = json_object_get(body, "attachment_id");
  if (!att || (!json_is_null(att) && !id_ok(json_string_value(att)))) {
    http_reply_error(req, 400, "validation_failed",
                     "attachment_id must be the id of an image you uploaded, or null",
                     "attachment_id");
  } else {
    handlers_store_call(req, USER_AVATAR,
                        json_pack("{s:s, s:O}", "id", req->user_id, "attachment_id", att),
                        on_avatar);
  }
  json_decref(body);
}

static const route_t routes[] = {
    {"GET", "/api/users/search", 1, search},           {"GET", "/api/users/:id", 1, get_user},
    {"PATCH", "/api/user/profile", 1, update_profile}, {"PUT", "/api/user/avatar", 1, set_avatar},
    {"DELETE", "/api/user", 1, delete_user},
};

const route_table_t users_routes = ROUTE_TABLE(routes);
