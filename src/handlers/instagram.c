/* API.md's Instagram section: the webhook's verification and receiver, account
 * connection, contacts, and sending through the Graph API inside the 24-hour
 * window. Processing of stored events lives in instagram/ingest.c. Loop thread. */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "chat/fields.h"
#include "flows/tz.h"
#include "handlers/common.h"
#include "handlers/handlers.h"
#include "instagram/health.h"
#include "instagram/ingest.h"
#include "instagram/outbox.h"
#include "parley/instagram.h"
#include "parley/json_in.h"
#include "parley/log.h"
#include "parley/metrics.h"
#include "parley/util.h"

/* ---- webhook ---- */

static void webhook_verify(http_req_t *req) {
  const char *want = req->app->cfg.ig_verify_token;
  char mode[32], token[256], challenge[256];
  if (!want) {
    http_reply_error(req, 503, "unavailable", "webhooks are not configured", NULL);
    return;
  }
  long ml = http_req_query(req, "hub.mode", mode, sizeof(mode));
  long tl = http_req_query(req, "hub.verify_token", token, sizeof(token));
  long cl = http_req_query(req, "hub.challenge", challenge, sizeof(challenge));
  if (ml < 0 || tl < 0 || cl < 0 || strcmp(mode, "subscribe") != 0 || (size_t)tl != strlen(want) ||
      !util_ct_equal(token, want, (size_t)tl)) {
    http_reply_error(req, 403, "forbidden", "verification failed", NULL);
    return;
  }
  http_reply_raw(req, 200, "text/plain", challenge, (size_t)cl);
}

static void webhook_stored(void *ctx, int status, json_t *result) {
  http_req_t *req = ctx;
  if (status != STORE_OK) {
    /* Not acknowledged: Meta retries, nothing is lost. */
    handlers_reply_store_error(req, status);
  } else {
    req->app->metrics->webhook_events += json_array_size(json_object_get(result, "inserted"));
    http_reply_raw(req, 200, "text/plain", "EVENT_RECEIVED", 14);
    ig_ingest_kick(req->app->ingest);
  }
  json_decref(result);
  http_req_unref(req);
}

static void webhook_receive(http_req_t *req) {
  const char *secret = req->app->cfg.ig_app_secret;
  if (!secret) {
    http_reply_error(req, 503, "unavailable", "webhooks are not configured", NULL);
    return;
  }
  const char *sig = http_req_header(req, "x-hub-signature-256");
  const char *raw = req->body.data ? req->body.data : "";
  if (!(req->app->ig_signer ? ig_signer_valid(req->app->ig_signer, sig, raw, req->body.len)
                            : ig_signature_valid(secret, sig, raw, req->body.len))) {
    http_reply_error(req, 401, "invalid_signature", "missing or wrong X-Hub-Signature-256", NULL);
    return;
  }
  json_error_t err;
  json_t *body = json_in_loadb(raw, req->body.len, &err);
  if (!body) {
    http_reply_error(req, 400, "invalid_json", err.text, NULL);
    return;
  }
  /* Every event is kept, those of kinds Parley does not handle too: processing
   * stores them as "unsupported" messages. */
  json_t *keep = ig_webhook_events(body);
  json_decref(body);
  if (json_array_size(keep) == 0) {
    json_decref(keep);
    http_reply_raw(req, 200, "text/plain", "EVENT_RECEIVED", 14);
    return;
  }
  ig_ingest_hold(req->app->ingest, keep);
  json_t *params = json_object();
  json_object_set_new_nocheck(params, "events", keep);
  handlers_store_call(req, EVENT_INSERT, params, webhook_stored);
}

/* ---- accounts (connecting them: instagram_connect.c) ---- */

static void status_done(void *ctx, int status, json_t *result) {
  http_req_t *req = ctx;
  if (status == STORE_ENOTFOUND)
    http_reply_json(req, 200, ig_health_view(req->app, NULL));
  else if (status != STORE_OK)
    handlers_reply_store_error(req, status);
  else
    http_reply_json(req, 200, ig_health_view(req->app, result));
  json_decref(result);
  http_req_unref(req);
}

static void account_status(http_req_t *req) {
  handlers_store_call(req, IG_ACCOUNT_GET, json_pack("{s:s}", "user_id", req->user_id),
                      status_done);
}

/* PATCH /api/instagram/account {timezone}: the IANA zone of flows' time
 * conditions, checked against the tz database off the loop (uv_fs_stat). */
typedef struct tz_patch_s {
  uv_fs_t fs;
  http_req_t *req;
  char zone[72];
} tz_patch_t;

static void tz_store(http_req_t *req, const char *zone) {
  handlers_store_call(req, IG_ACCOUNT_UPDATE,
                      json_pack("{s:s, s:s}", "user_id", req->user_id, "timezone", zone),
                      status_done);
}

static void tz_checked(uv_fs_t *fs) {
  tz_patch_t *t = fs->data;
  int found = fs->result == 0 && S_ISREG(fs->statbuf.st_mode);
  uv_fs_req_cleanup(fs);
  if (!found)
    http_reply_error(t->req, 400, "validation_failed",
                     "timezone: not a zone of the tz database (such as Europe/Berlin)", "timezone");
  else if (!t->req->app->shutting_down)
    tz_store(t->req, t->zone);
  else
    http_reply_error(t->req, 503, "unavailable", "shutting down", NULL);
  http_req_unref(t->req);
  free(t);
}

static void account_patch(http_req_t *req) {
  json_t *body = http_req_json(req);
  if (!body) return;
  json_t *tz = json_object_get(body, "timezone");
  const char *zone = json_string_value(tz);
  if (!json_is_string(tz) && !json_is_null(tz)) {
    http_reply_error(req, 400, "validation_failed", "timezone must be a string or null",
                     "timezone");
  } else if (!zone || !*zone) {
    tz_store(req, ""); /* back to UTC */
  } else if (!flow_tz_name_ok(zone)) {
    http_reply_error(req, 400, "validation_failed",
                     "timezone: not a zone of the tz database (such as Europe/Berlin)", "timezone");
  } else {
    tz_patch_t *t = calloc(1, sizeof(*t));
    char path[128];
    snprintf(path, sizeof(path), "/usr/share/zoneinfo/%s", zone);
    if (!t) {
      http_reply_error(req, 503, "unavailable", "out of memory", NULL);
    } else {
      snprintf(t->zone, sizeof(t->zone), "%s", zone);
      t->req = req;
      t->fs.data = t;
      http_req_ref(req);
      if (uv_fs_stat(req->app->loop, &t->fs, path, tz_checked) != 0) {
        http_req_unref(req);
        free(t);
        http_reply_error(req, 503, "unavailable", "cannot check the time zone", NULL);
      }
    }
  }
  json_decref(body);
}

static void disconnect_done(void *ctx, int status, json_t *result) {
  http_req_t *req = ctx;
  ig_ingest_forget_user(req->app->ingest, req->user_id);
  if (status == STORE_OK) ig_health_push(req->app, req->user_id, NULL);
  if (status == STORE_OK || status == STORE_ENOTFOUND)
    http_reply_empty(req, 204);
  else
    handlers_reply_store_error(req, status);
  json_decref(result);
  http_req_unref(req);
}

static void account_disconnect(http_req_t *req) {
  handlers_store_call(req, IG_ACCOUNT_DELETE, json_pack("{s:s}", "user_id", req->user_id),
                      disconnect_done);
}

/* ---- contacts ---- */

#define CONTACTS_LIMIT_DEFAULT 50
#define CONTACTS_LIMIT_MAX 200
#define TAGS_MAX 100
#define TAG_CHARS_MAX 64
#define VARIABLES_MAX 100
#define VARIABLE_NAME_CHARS_MAX 64
#define VARIABLE_VALUE_BYTES_MAX 1024

static json_t *public_contact(json_t *c) {
  json_t *out = json_deep_copy(c);
  json_object_del(out, "owner_id");
  return out;
}

static void contacts_done(void *ctx, int status, json_t *result) {
  http_req_t *req = ctx;
  if (status != STORE_OK) {
    handlers_reply_store_error(req, status);
  } else {
    json_t *list = json_array(), *c, *next = json_object_get(result, "next_cursor");
    size_t i;
    json_array_foreach(json_object_get(result, "contacts"), i, c)
        json_array_append_new(list, public_contact(c));
    http_reply_json(
        req, 200,
        json_pack("{s:o, s:O}", "contacts", list, "next_cursor", next ? next : json_null()));
  }
  json_decref(result);
  http_req_unref(req);
}

/* A text query parameter of 1..max characters into out (absent: returns 0);
 * -1 after replying 400 naming it. */
static int query_text(http_req_t *req, const char *name, size_t max, char *out, size_t outlen) {
  long n = http_req_query(req, name, out, outlen);
  if (n == -1) return 0;
  if (n <= 0 || util_utf8_len(out, (size_t)n) > max) {
    char msg[96];
    snprintf(msg, sizeof(msg), "%s must be 1 to %zu characters", name, max);
    http_reply_error(req, 400, "validation_failed", msg, name);
    return -1;
  }
  return 1;
}

/* A cursor is a contact id this server gave: 24 hex digits. */
static int is_id(const char *s) {
  size_t n = 0;
  for (; s[n]; n++)
    if (!((s[n] >= '0' && s[n] <= '9') || (s[n] >= 'a' && s[n] <= 'f'))) return 0;
  return n == 24;
}

static void contacts_list(http_req_t *req) {
  long long limit;
  char cursor[64], tag[4 * TAG_CHARS_MAX + 1], q[4 * 64 + 1];
  if (handlers_query_int(req, "limit", 1, CONTACTS_LIMIT_MAX, CONTACTS_LIMIT_DEFAULT, &limit) < 0)
    return;
  long cn = http_req_query(req, "cursor", cursor, sizeof(cursor));
  if (cn == -2 || (cn >= 0 && !is_id(cursor))) {
    http_reply_error(req, 400, "validation_failed", "cursor is not one this server gave", "cursor");
    return;
  }
  int has_tag = query_text(req, "tag", TAG_CHARS_MAX, tag, sizeof(tag));
  if (has_tag < 0) return;
  int has_q = query_text(req, "q", 64, q, sizeof(q));
  if (has_q < 0) return;
  json_t *p = json_pack("{s:s, s:I}", "owner_id", req->user_id, "limit", (json_int_t)limit);
  if (cn >= 0) json_object_set_new(p, "cursor", json_string(cursor));
  if (has_tag) json_object_set_new(p, "tag", json_string(tag));
  if (has_q) json_object_set_new(p, "q", json_string(q));
  handlers_store_call(req, CONTACT_LIST, p, contacts_done);
}

static void contact_done(void *ctx, int status, json_t *result) {
  http_req_t *req = ctx;
  if (status == STORE_EINVAL)
    http_reply_error(req, 400, "validation_failed",
                     "a contact keeps at most 100 tags and 100 variables", "variables");
  else if (status != STORE_OK)
    handlers_reply_store_error(req, status);
  else
    http_reply_json(req, 200, json_pack("{s:o}", "contact", public_contact(result)));
  json_decref(result);
  http_req_unref(req);
}

/* The owner of the account and its agents (the team inbox) read and edit its
 * contacts; anyone else gets 404. */
static void contact_get(http_req_t *req) {
  handlers_store_call(
      req, CONTACT_GET,
      json_pack("{s:s, s:s}", "id", http_req_param(req, "id"), "user_id", req->user_id),
      contact_done);
}

static int invalid(http_req_t *req, const char *field, const char *msg) {
  http_reply_error(req, 400, "validation_failed", msg, field);
  return -1;
}

/* tags: an array of at most 100 strings of 1..64 characters. */
static int check_tags(http_req_t *req, json_t *tags) {
  if (!json_is_array(tags)) return invalid(req, "tags", "tags must be an array of strings");
  if (json_array_size(tags) > TAGS_MAX) return invalid(req, "tags", "at most 100 tags");
  json_t *t;
  size_t i;
  json_array_foreach(tags, i, t) {
    size_t chars =
        json_is_string(t) ? util_utf8_len(json_string_value(t), json_string_length(t)) : 0;
    if (chars < 1 || chars > TAG_CHARS_MAX)
      return invalid(req, "tags", "each tag is a string of 1 to 64 characters");
  }
  return 0;
}

/* variables: an object of at most 100 names (1..64 characters, no '.' and no
 * leading '$') to a string, number or boolean of at most 1 KB as JSON, or
 * null to delete. */
static int check_variables(http_req_t *req, json_t *vars) {
  if (!json_is_object(vars)) return invalid(req, "variables", "variables must be an object");
  if (json_object_size(vars) > VARIABLES_MAX)
    return invalid(req, "variables", "at most 100 variables");
  const char *k;
  json_t *v;
  json_object_foreach(vars, k, v) {
    size_t chars = util_utf8_len(k, strlen(k));
    if (chars < 1 || chars > VARIABLE_NAME_CHARS_MAX || k[0] == '$' || strchr(k, '.'))
      return invalid(req, "variables",
                     "a variable name is 1 to 64 characters, without '.' or a leading '$'");
    if (json_is_object(v) || json_is_array(v))
      return invalid(req, "variables", "a variable is a string, number, boolean or null");
    char *text = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    size_t len = text ? strlen(text) : VARIABLE_VALUE_BYTES_MAX + 1;
    free(text);
    if (len > VARIABLE_VALUE_BYTES_MAX)
      return invalid(req, "variables", "a variable's value is at most 1 KB");
  }
  return 0;
}

static void contact_patch(http_req_t *req) {
  json_t *body = http_req_json(req);
  if (!body) return;
  json_t *tags = json_object_get(body, "tags"), *vars = json_object_get(body, "variables");
  if (!tags && !vars) {
    invalid(req, "tags", "give tags, variables or both");
  } else if ((!tags || check_tags(req, tags) == 0) && (!vars || check_variables(req, vars) == 0)) {
    json_t *p = json_pack("{s:s, s:s}", "id", http_req_param(req, "id"), "user_id", req->user_id);
    if (tags) json_object_set(p, "tags", tags);
    if (vars) json_object_set(p, "set_variables", vars);
    handlers_store_call(req, CONTACT_UPDATE, p, contact_done);
  }
  json_decref(body);
}

/* ---- sending ---- */

/* The steps of one send, kept between store and outbox callbacks. */
typedef struct send_ctx_s {
  http_req_t *req;
  json_t *account; /* with token_cipher */
  char *recipient;
  char *text;
  char *client_id;
  char *token;
} send_ctx_t;

static void send_ctx_free(send_ctx_t *s) {
  json_decref(s->account);
  free(s->recipient);
  free(s->text);
  free(s->client_id);
  if (s->token) {
    sodium_memzero(s->token, strlen(s->token));
    free(s->token);
  }
  http_req_unref(s->req);
  free(s);
}

/* An earlier send of the same client_id: answered as it is, not sent again. */
static void send_accepted(void *ctx, json_t *message, int created, int sending) {
  send_ctx_t *s = ctx;
  (void)created;
  if (sending) return; /* send_done answers */
  http_reply_json(s->req, 200, json_pack("{s:O}", "message", message));
  send_ctx_free(s);
}

/* The outcome: 201 with the sent message, or the error (the message, when it
 * was stored, stays failed with the same error and can be retried). */
static void send_done(void *ctx, const ig_sent_t *sent) {
  send_ctx_t *s = ctx;
  const char *code = sent->code ? sent->code : "";
  json_t *msg = sent->message;
  if (sent->sent && msg) {
    http_reply_json(s->req, 201, json_pack("{s:O}", "message", msg));
  } else if (sent->sent) {
    handlers_reply_store_error(s->req, sent->status);
  } else if (strcmp(code, "rate_limited") == 0) {
    http_reply_header(s->req, "Retry-After", "1");
    http_reply_error(s->req, 429, "rate_limited", "too many messages for this account", NULL);
  } else if (strcmp(code, "outside_messaging_window") == 0) {
    http_reply_error(s->req, 422, code, sent->error, NULL);
  } else if (strcmp(code, "reconnect_needed") == 0) {
    http_reply_error(s->req, 409, code, sent->error, NULL);
  } else if (strcmp(code, "unavailable") == 0) {
    handlers_reply_store_error(s->req, sent->status != STORE_OK ? sent->status : STORE_EBUSY);
  } else if (strcmp(code, "unknown_outcome") == 0) {
    http_reply_error(s->req, 504, "unknown_outcome", sent->error, NULL);
  } else {
    http_reply_error(s->req, 502, "upstream_error", sent->error ? sent->error : "Graph API error",
                     NULL);
  }
  send_ctx_free(s);
}

static void send_contact_done(void *ctx, int status, json_t *result) {
  send_ctx_t *s = ctx;
  if (status == STORE_ENOTFOUND) {
    http_reply_error(s->req, 422, "outside_messaging_window",
                     "the contact has not written in the last 24 hours", NULL);
  } else if (status != STORE_OK) {
    handlers_reply_store_error(s->req, status);
  } else if (ig_outbox_send(s->req->app, s->account, result, s->token, s->text, s->client_id,
                            "instagram", 1, send_accepted, send_done, s) == 0) {
    json_decref(result);
    return;
  } else {
    http_reply_error(s->req, 503, "unavailable", "cannot reach the Graph API", NULL);
  }
  json_decref(result);
  send_ctx_free(s);
}

static void send_account_done(void *ctx, int status, json_t *result) {
  send_ctx_t *s = ctx;
  if (status == STORE_ENOTFOUND) {
    http_reply_error(s->req, 400, "validation_failed", "no Instagram account is connected", NULL);
    goto fail;
  }
  if (status != STORE_OK) {
    handlers_reply_store_error(s->req, status);
    goto fail;
  }
  s->account = result;
  s->token = ig_token_open(s->req->app->secret_key,
                           json_string_value(json_object_get(result, "token_cipher")));
  if (!s->token) {
    log_error("instagram: the stored token of user %s cannot be opened (secret_key changed?)",
              s->req->user_id);
    http_reply_error(s->req, 503, "unavailable", "the stored Instagram token cannot be used", NULL);
    send_ctx_free(s);
    return;
  }
  if (store_call(s->req->app->store, CONTACT_GET,
                 json_pack("{s:s, s:s}", "owner_id", s->req->user_id, "ig_user_id", s->recipient),
                 send_contact_done, s) != 0) {
    handlers_reply_store_error(s->req, STORE_EBUSY);
    send_ctx_free(s);
  }
  return;
fail:
  json_decref(result);
  send_ctx_free(s);
}

static void send_message(http_req_t *req) {
  json_t *body = http_req_json(req);
  if (!body) return;
  int failed = 0;
  const char *to = handlers_string_field(req, body, "recipient_id", 1, 1, 64, &failed);
  const char *text = failed ? NULL : handlers_string_field(req, body, "text", 1, 1, 1000, &failed);
  const char *cid =
      failed ? NULL
             : handlers_string_field(req, body, "client_id", 0, 1, FIELDS_CLIENT_ID_MAX, &failed);
  if (failed) goto done;
  send_ctx_t *s = calloc(1, sizeof(*s));
  if (!s) {
    http_reply_error(req, 503, "unavailable", "out of memory", NULL);
    goto done;
  }
  http_req_ref(req);
  s->req = req;
  s->recipient = strdup(to);
  s->text = strdup(text);
  s->client_id = cid ? strdup(cid) : NULL;
  if (!s->recipient || !s->text || (cid && !s->client_id)) {
    http_reply_error(req, 503, "unavailable", "out of memory", NULL);
    send_ctx_free(s);
    goto done;
  }
  if (store_call(req->app->store, IG_ACCOUNT_GET,
                 json_pack("{s:s, s:b}", "user_id", req->user_id, "with_token", 1),
                 send_account_done, s) != 0) {
    handlers_reply_store_error(req, STORE_EBUSY);
    send_ctx_free(s);
  }
done:
  json_decref(body);
}

static const route_t routes[] = {
    {"GET", "/api/webhook/instagram", 0, webhook_verify},
    {"POST", "/api/webhook/instagram", 0, webhook_receive},
    {"GET", "/api/instagram/status", 1, account_status},
    {"GET", "/api/instagram/account", 1, account_status},
    {"PATCH", "/api/instagram/account", 1, account_patch},
    {"POST", "/api/instagram/disconnect", 1, account_disconnect},
    {"POST", "/api/instagram/send-message", 1, send_message},
    {"GET", "/api/contacts", 1, contacts_list},
    {"GET", "/api/contacts/:id", 1, contact_get},
    {"PATCH", "/api/contacts/:id", 1, contact_patch},
};

const route_table_t instagram_routes = ROUTE_TABLE(routes);
