/* reply: the conversation send path of Instagram conversations (see reply.h):
 * conversation, contact and account are read, the account's health and the
 * window checked, the message stored pending, then the outbox sends it. The
 * chat-conversation cache is bounded (cleared when full). Owner: the Instagram
 * module. Loop thread. */
#include "instagram/reply.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chat/attach_url.h"
#include "chat/fanout.h"
#include "instagram/outbox.h"
#include "instagram/window.h"
#include "parley/instagram.h"
#include "parley/log.h"
#include "parley/store.h"
#include "parley/strmap.h"
#include "parley/util.h"

#define CHAT_CACHE_MAX 100000
/* How long the URL of a file sent to Instagram lives: Meta fetches it when
 * the message goes out, and a failed send retried by client_id reuses it. */
#define IG_MEDIA_URL_TTL_S (7 * 86400)

struct ig_replies_s {
  strmap_t chat; /* conversation id -> (void *)1 for direct and group conversations */
};

ig_replies_t *ig_replies_new(void) {
  ig_replies_t *r = calloc(1, sizeof(*r));
  if (r) strmap_init(&r->chat);
  return r;
}

void ig_replies_free(ig_replies_t *r) {
  if (!r) return;
  strmap_free(&r->chat);
  free(r);
}

int ig_reply_is_chat(app_t *app, const char *conv_id) {
  return app->ig_replies && strmap_get(&app->ig_replies->chat, conv_id) != NULL;
}

static void remember_chat(app_t *app, const char *conv_id) {
  ig_replies_t *r = app->ig_replies;
  if (!r || !conv_id) return;
  if (strmap_count(&r->chat) >= CHAT_CACHE_MAX) strmap_free(&r->chat);
  strmap_put(&r->chat, conv_id, (void *)1);
}

/* One send, between its store calls. */
typedef struct job_s {
  app_t *app;
  char *conv, *sender, *text, *client_id, *ack_user;
  char *attachment_id; /* the one file an Instagram message sends, or NULL */
  int files;           /* attachment_ids were given */
  uint64_t ack_session;
  char *owner;
  json_t *contact, *account;
  char *token;
  const char *tag;
  ig_reply_fn cb;
  void *ctx;
} job_t;

static void job_free(job_t *j) {
  free(j->conv);
  free(j->sender);
  free(j->text);
  free(j->client_id);
  free(j->ack_user);
  free(j->attachment_id);
  free(j->owner);
  json_decref(j->contact);
  json_decref(j->account);
  if (j->token) sodium_memzero(j->token, strlen(j->token));
  free(j->token);
  free(j);
}

static void answer(job_t *j, const ig_reply_res_t *r) {
  j->cb(j->ctx, r);
  job_free(j);
}

static void answer_error(job_t *j, int http, const char *code, const char *message,
                         const char *field) {
  ig_reply_res_t r = {0, http, code, message, field, STORE_OK, NULL, 0, 0};
  answer(j, &r);
}

static void answer_store(job_t *j, int status) {
  ig_reply_res_t r = {0, 0, NULL, NULL, NULL, status, NULL, 0, 0};
  answer(j, &r);
}

static int call(job_t *j, enum store_op op, json_t *params, store_cb cb) {
  if (store_call(j->app->store, op, params, cb, j) == 0) return 0;
  answer_store(j, STORE_EBUSY);
  return -1;
}

/* The stored message is answered for (the outbox calls this exactly once) and
 * the job ends; the outbox sends on with its own copies (done: none). */
static void accepted(void *ctx, json_t *message, int created, int sending) {
  job_t *j = ctx;
  ig_reply_res_t r = {0,      created ? 201 : 200, NULL, NULL, NULL, STORE_OK, message, created,
                      sending};
  answer(j, &r);
}

static void inserted(void *ctx, int status, json_t *result) {
  job_t *j = ctx;
  if (status != STORE_OK) {
    answer_store(j, status);
    json_decref(result);
    return;
  }
  if (json_is_true(json_object_get(result, "created")))
    fanout_message_new(j->app, json_object_get(result, "message"),
                       json_object_get(result, "participant_ids"), j->ack_user, j->ack_session,
                       j->client_id);
  ig_outbox_start(j->app, j->account, j->contact, j->token, result, j->tag, accepted, NULL, j);
  json_decref(result);
}

/* The file goes to Meta as an attachment message whose URL Meta fetches: a
 * download URL on public_url, signed for the conversation, living
 * IG_MEDIA_URL_TTL_S (a retried send reuses it). The message carries the
 * file like any other (attachment_ids) and keeps Meta's message. */
static void attachment_found(void *ctx, int status, json_t *result) {
  job_t *j = ctx;
  const char *owner = json_string_value(json_object_get(result, "user_id"));
  const char *type = json_string_value(json_object_get(result, "type"));
  if (status == STORE_ENOTFOUND || (status == STORE_OK && (!owner || strcmp(owner, j->sender)))) {
    json_decref(result);
    answer_error(j, 404, "not_found", "no such attachment", "attachment_ids");
    return;
  }
  if (status != STORE_OK) {
    answer_store(j, status);
    return;
  }
  if (!type || (strcmp(type, "image") && strcmp(type, "video") && strcmp(type, "audio"))) {
    json_decref(result);
    answer_error(j, 400, "validation_failed",
                 "Instagram takes an image, a video or an audio file, one per message",
                 "attachment_ids");
    return;
  }
  char path[ATTACH_URL_MAX], url[ATTACH_URL_MAX + 512];
  int64_t exp = util_now_ms() / 1000 + IG_MEDIA_URL_TTL_S;
  const char *base = j->app->cfg.public_url;
  size_t blen = strlen(base);
  while (blen > 0 && base[blen - 1] == '/') blen--;
  if (attach_url_sign(&j->app->url_key, j->attachment_id, 0, 'c', j->conv, exp, path,
                      sizeof(path)) != 0 ||
      blen > 512) {
    json_decref(result);
    answer_store(j, STORE_EINVAL);
    return;
  }
  snprintf(url, sizeof(url), "%.*s%s", (int)blen, base, path);
  json_t *meta = json_pack("{s:{s:s, s:{s:s}}}", "attachment", "type", type, "payload", "url", url);
  json_decref(result);
  json_t *p = json_pack("{s:s, s:s, s:n, s:s?, s:s, s:s, s:b, s:[s], s:{s:o}}", "conversation_id",
                        j->conv, "sender_id", j->sender, "text", "client_id", j->client_id,
                        "source", "web", "status", "pending", "check_member", 1, "attachment_ids",
                        j->attachment_id, "payload", "meta_message", meta);
  call(j, MSG_INSERT, p, inserted);
}

static void account_found(void *ctx, int status, json_t *result) {
  job_t *j = ctx;
  if (status == STORE_ENOTFOUND) {
    answer_error(j, 409, "not_connected",
                 "the Instagram account of this conversation is no longer connected", NULL);
    return;
  }
  if (status != STORE_OK) {
    answer_store(j, status);
    return;
  }
  j->account = result;
  const char *health = json_string_value(json_object_get(result, "status"));
  if (health && strcmp(health, "connected") != 0) {
    answer_error(j, 409, "reconnect_needed",
                 "the Instagram account needs to be reconnected (its token was refused or expired)",
                 NULL);
    return;
  }
  if (!ig_window_open(j->app, j->contact, 1, &j->tag)) {
    answer_error(j, 422, "outside_messaging_window",
                 "the contact has not written in the last 24 hours", NULL);
    return;
  }
  j->token =
      ig_token_open(j->app->secret_key, json_string_value(json_object_get(result, "token_cipher")));
  if (!j->token) {
    log_error("instagram: the stored token of user %s cannot be opened (secret_key changed?)",
              j->owner);
    answer_error(j, 503, "unavailable", "the stored Instagram token cannot be used", NULL);
    return;
  }
  if (j->attachment_id) {
    call(j, ATTACH_GET, json_pack("{s:s}", "id", j->attachment_id), attachment_found);
    return;
  }
  json_t *p = json_pack("{s:s, s:s, s:s, s:s?, s:s, s:s, s:b}", "conversation_id", j->conv,
                        "sender_id", j->sender, "text", j->text, "client_id", j->client_id,
                        "source", "web", "status", "pending", "check_member", 1);
  call(j, MSG_INSERT, p, inserted);
}

static void contact_found(void *ctx, int status, json_t *result) {
  job_t *j = ctx;
  if (status != STORE_OK) {
    json_decref(result);
    answer_store(j, status);
    return;
  }
  j->contact = result;
  call(j, IG_ACCOUNT_GET, json_pack("{s:s, s:b}", "user_id", j->owner, "with_token", 1),
       account_found);
}

static void conversation_found(void *ctx, int status, json_t *result) {
  job_t *j = ctx;
  const char *type = json_string_value(json_object_get(result, "type"));
  if (status != STORE_OK) {
    answer_store(j, status);
  } else if (!type || strcmp(type, "instagram") != 0) {
    remember_chat(j->app, j->conv);
    ig_reply_res_t r = {1, 0, NULL, NULL, NULL, STORE_OK, NULL, 0, 0};
    answer(j, &r);
  } else if (j->files && (j->text || !j->attachment_id)) {
    answer_error(j, 400, "validation_failed",
                 "an Instagram message carries either text or one file (one id in attachment_ids)",
                 "attachment_ids");
  } else if (j->files && !j->app->cfg.public_url) {
    answer_error(j, 503, "unavailable",
                 "files go to Instagram by URL: the server's public_url is not set", NULL);
  } else if (!j->files && !j->text) {
    answer_store(j, STORE_EINVAL);
  } else {
    /* The account's owner is the conversation's one participant (its creator). */
    json_t *first = json_array_get(json_object_get(result, "participants"), 0);
    const char *owner = json_string_value(json_object_get(first, "id"));
    const char *contact = json_string_value(json_object_get(result, "contact_id"));
    j->owner = owner ? strdup(owner) : NULL;
    if (!j->owner || !contact)
      answer_store(j, STORE_EUNAVAILABLE);
    else
      call(j, CONTACT_GET, json_pack("{s:s, s:s}", "id", contact, "owner_id", j->owner),
           contact_found);
  }
  json_decref(result);
}

static char *dup_or_null(const char *s, int *failed) {
  if (!s) return NULL;
  char *d = strdup(s);
  if (!d) *failed = 1;
  return d;
}

int ig_reply_send(app_t *app, const ig_reply_req_t *req, ig_reply_fn cb, void *ctx) {
  job_t *j = calloc(1, sizeof(*j));
  if (!j) return -1;
  int failed = 0;
  j->app = app;
  j->conv = dup_or_null(req->conversation_id, &failed);
  j->sender = dup_or_null(req->sender_id, &failed);
  j->text = dup_or_null(req->text, &failed);
  j->client_id = dup_or_null(req->client_id, &failed);
  j->ack_user = dup_or_null(req->ack_user, &failed);
  if (req->attachment_ids) {
    j->files = 1;
    if (json_array_size(req->attachment_ids) == 1)
      j->attachment_id =
          dup_or_null(json_string_value(json_array_get(req->attachment_ids, 0)), &failed);
  }
  j->ack_session = req->ack_session;
  j->cb = cb;
  j->ctx = ctx;
  if (failed || !j->conv || !j->sender) {
    job_free(j);
    return -1;
  }
  if (store_call(app->store, CONV_GET, json_pack("{s:s, s:s}", "id", j->conv, "user_id", j->sender),
                 conversation_found, j) != 0) {
    job_free(j);
    return -1;
  }
  return 0;
}
