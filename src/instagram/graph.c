/* The Graph API sender: one POST per reply through the loop's HTTP client,
 * retried up to 3 times with exponential backoff on 5xx, 429 and transport
 * errors that happened before the request went out, under a per-account token
 * bucket. A send that failed after it went out (a timeout) is never retried:
 * its outcome is unknown. Reads (GET /me, token refresh) retry on any transport
 * error. Loop thread only. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "parley/instagram.h"
#include "parley/json_in.h"
#include "parley/json_out.h"
#include "parley/log.h"
#include "parley/util.h"

#define GRAPH_RETRIES 3
#define GRAPH_BACKOFF_MS 250
#define GRAPH_MAX_RESPONSE (256 * 1024)
#define GRAPH_MAX_ACCOUNTS 1024

typedef struct bucket_s {
  char account[64];
  double tokens;
  int64_t last_ms;
} bucket_t;

struct graph_s {
  uv_loop_t *loop;
  httpc_t *http;
  char *base;
  int per_min;
  long timeout_ms;
  int in_flight;
  bucket_t buckets[GRAPH_MAX_ACCOUNTS];
  int nbuckets;
};

typedef struct send_s {
  graph_t *g;
  const char *method;
  char *url;
  char *auth;
  char *body;
  int attempt;
  int retries;     /* retries allowed after the first attempt */
  long timeout_ms; /* per attempt; 0: the client's */
  int once;        /* a send: never repeated once it may have reached Meta */
  int timer_open;
  uv_timer_t timer;
  graph_cb cb;
  void *ctx;
} send_t;

graph_t *graph_new(uv_loop_t *loop, httpc_t *http, const char *base_url, int per_min,
                   long timeout_ms) {
  graph_t *g = calloc(1, sizeof(*g));
  if (!g) return NULL;
  g->timeout_ms = timeout_ms > 0 ? timeout_ms : 10000;
  g->loop = loop;
  g->http = http;
  g->base = strdup(base_url);
  g->per_min = per_min > 0 ? per_min : 600;
  size_t n = strlen(g->base);
  while (n > 0 && g->base[n - 1] == '/') g->base[--n] = '\0';
  return g;
}

void graph_free(graph_t *g) {
  if (!g) return;
  free(g->base);
  free(g);
}

int graph_in_flight(const graph_t *g) { return g->in_flight; }

int64_t graph_send_max_ms(const graph_t *g) {
  int64_t backoff = 0;
  for (int i = 0; i < GRAPH_RETRIES; i++) backoff += (int64_t)GRAPH_BACKOFF_MS << i;
  return (int64_t)(GRAPH_RETRIES + 1) * g->timeout_ms + backoff;
}

/* Takes one token from the account's bucket (burst = a tenth of a minute). */
static int take_token(graph_t *g, const char *account) {
  int64_t now = util_now_ms();
  bucket_t *b = NULL;
  for (int i = 0; i < g->nbuckets; i++)
    if (strcmp(g->buckets[i].account, account) == 0) b = &g->buckets[i];
  double burst = g->per_min / 10.0 < 5 ? 5 : g->per_min / 10.0;
  if (!b) {
    b = &g->buckets[g->nbuckets < GRAPH_MAX_ACCOUNTS ? g->nbuckets++
                                                     : (int)(now % GRAPH_MAX_ACCOUNTS)];
    snprintf(b->account, sizeof(b->account), "%s", account);
    b->tokens = burst;
    b->last_ms = now;
  }
  b->tokens += (double)(now - b->last_ms) * g->per_min / 60000.0;
  if (b->tokens > burst) b->tokens = burst;
  b->last_ms = now;
  if (b->tokens < 1.0) return 0;
  b->tokens -= 1.0;
  return 1;
}

static void send_free(send_t *s) {
  free(s->url);
  free(s->auth);
  free(s->body);
  free(s);
}

static void on_timer_closed(uv_handle_t *h) { send_free(h->data); }

static void finish(send_t *s, const graph_result_t *res) {
  s->g->in_flight--;
  s->cb(s->ctx, res);
  if (s->timer_open)
    uv_close((uv_handle_t *)&s->timer, on_timer_closed);
  else
    send_free(s);
}

static void attempt(send_t *s);

static void on_retry(uv_timer_t *t) { attempt(t->data); }

static void on_response(void *ctx, const httpc_response_t *res) {
  send_t *s = ctx;
  /* json_in: jansson's tree (and refusals) without its per-character lexer. */
  json_t *body = res->status ? json_in_loadb(res->body, strlen(res->body), NULL) : NULL;
  int retryable = res->status == 0 || res->status == 429 || res->status >= 500;
  int code = (int)json_integer_value(json_object_get(json_object_get(body, "error"), "code"));
  if (res->status >= 200 && res->status < 300) {
    const char *mid = json_string_value(json_object_get(body, "message_id"));
    graph_result_t r = {1, mid ? mid : "", res->status, NULL, 0, body, 0};
    finish(s, &r);
  } else if (res->status == 0 && res->sent && s->once &&
             !(res->error && strcmp(res->error, "cancelled") == 0)) {
    char why[200];
    snprintf(why, sizeof(why),
             "no answer from the Graph API (%s); the message may or may not "
             "have been delivered",
             res->error ? res->error : "transport error");
    log_warn("graph: a send failed after it went out (%s); not retried", why);
    graph_result_t r = {0, NULL, 0, why, 0, NULL, 1};
    finish(s, &r);
  } else if (retryable && s->attempt <= s->retries &&
             !(res->error && strcmp(res->error, "cancelled") == 0)) {
    uint64_t delay = (uint64_t)GRAPH_BACKOFF_MS << (s->attempt - 1);
    log_warn("graph: attempt %d failed (%d %s), retrying in %llu ms", s->attempt, res->status,
             res->error ? res->error : "", (unsigned long long)delay);
    if (!s->timer_open) {
      uv_timer_init(s->g->loop, &s->timer);
      s->timer.data = s;
      s->timer_open = 1;
    }
    uv_timer_start(&s->timer, on_retry, delay, 0);
  } else {
    const char *msg = json_string_value(json_object_get(json_object_get(body, "error"), "message"));
    char fallback[160];
    if (!msg) {
      snprintf(fallback, sizeof(fallback), "Graph API answered %d%s%s", res->status,
               res->error ? ": " : "", res->error ? res->error : "");
      msg = fallback;
    }
    graph_result_t r = {0, NULL, res->status, msg, code, body, 0};
    finish(s, &r);
  }
  json_decref(body);
}

static void attempt(send_t *s) {
  s->attempt++;
  const char *headers[] = {"Content-Type: application/json", s->auth, NULL};
  httpc_request_t req = {.method = s->method,
                         .url = s->url,
                         .headers = headers,
                         .body = s->body,
                         .body_len = s->body ? strlen(s->body) : 0,
                         .timeout_ms = s->timeout_ms ? s->timeout_ms : s->g->timeout_ms,
                         .max_response = GRAPH_MAX_RESPONSE};
  if (httpc_request(s->g->http, &req, on_response, s) != 0) {
    graph_result_t r = {0, NULL, 0, "cannot start the request", 0, NULL, 0};
    finish(s, &r);
  }
}

/* A string member's text, as json_dumps writes it: ,"key":"value" (no comma
 * first when first). */
static int put_member(buf_t *b, int first, const char *key, const char *value) {
  return buf_append_str(b, first ? "\"" : ",\"") || buf_append_str(b, key) ||
         buf_append(b, "\":", 2) || json_out_string(b, value, strlen(value));
}

char *graph_text_body(const char *recipient, const char *text, const char *tag) {
  /* json_pack("{s:s}") refuses a NULL or invalid UTF-8 value; json_string(tag)
   * did too, and the tag member was then left out. */
  if (!recipient || !text || !util_utf8_valid(recipient, strlen(recipient)) ||
      !util_utf8_valid(text, strlen(text)))
    return NULL;
  buf_t b;
  buf_init(&b);
  int rc = buf_append_str(&b, "{\"recipient\":{") || put_member(&b, 1, "id", recipient) ||
           buf_append_str(&b, "},\"message\":{") || put_member(&b, 1, "text", text) ||
           buf_append(&b, "}", 1);
  if (!rc && tag) {
    rc = put_member(&b, 0, "messaging_type", "MESSAGE_TAG");
    if (!rc && util_utf8_valid(tag, strlen(tag))) rc = put_member(&b, 0, "tag", tag);
  }
  if (rc || buf_append(&b, "}", 1)) {
    buf_free(&b);
    return NULL;
  }
  return buf_steal(&b);
}

static int post_text(graph_t *g, const char *id, const char *what, const char *token, char *body,
                     graph_cb cb, void *ctx);

/* Its body written directly (graph_text_body): three json_packs, the tree's
 * text and its freeing were 14,000 instructions of a flow's send. */
int graph_send_text(graph_t *g, const char *ig_user_id, const char *token, const char *recipient,
                    const char *text, const char *tag, graph_cb cb, void *ctx) {
  if (!recipient || !text || !util_utf8_valid(recipient, strlen(recipient)) ||
      !util_utf8_valid(text, strlen(text)))
    return -1;
  if (!take_token(g, ig_user_id)) {
    graph_result_t r = {0, NULL, 429, "rate_limited", 0, NULL, 0};
    cb(ctx, &r);
    return 0;
  }
  return post_text(g, ig_user_id, "messages", token, graph_text_body(recipient, text, tag), cb,
                   ctx);
}

/* POST with a JSON body to {base}/{id}/{what}: a send, never repeated once it
 * may have reached Meta. Takes ownership of body. */
static int post_once(graph_t *g, const char *id, const char *what, const char *token, json_t *body,
                     graph_cb cb, void *ctx) {
  size_t blen;
  char *text = body ? json_out_dumps(body, &blen) : NULL; /* json_dumps' compact text */
  json_decref(body);
  return post_text(g, id, what, token, text, cb, ctx);
}

/* post_once with the body's text (taken; NULL: -1). */
static int post_text(graph_t *g, const char *id, const char *what, const char *token, char *body,
                     graph_cb cb, void *ctx) {
  send_t *s = calloc(1, sizeof(*s));
  if (!s) {
    free(body);
    return -1;
  }
  s->g = g;
  s->method = "POST";
  s->retries = GRAPH_RETRIES;
  s->once = 1;
  s->cb = cb;
  s->ctx = ctx;
  s->body = body;
  size_t ulen = strlen(g->base) + strlen(id) + strlen(what) + 16;
  s->url = malloc(ulen);
  size_t alen = strlen(token) + 32;
  s->auth = malloc(alen);
  if (!s->body || !s->url || !s->auth) {
    send_free(s);
    return -1;
  }
  snprintf(s->url, ulen, "%s/%s/%s", g->base, id, what);
  snprintf(s->auth, alen, "Authorization: Bearer %s", token);
  g->in_flight++;
  attempt(s);
  return 0;
}

int graph_reply_comment(graph_t *g, const char *ig_user_id, const char *token,
                        const char *comment_id, const char *text, graph_cb cb, void *ctx) {
  for (const char *c = comment_id; *c; c++)
    if (*c < '0' || *c > '9') return -1; /* a comment id is numeric: nothing else enters the path */
  if (!*comment_id) return -1;
  if (!take_token(g, ig_user_id)) {
    graph_result_t r = {0, NULL, 429, "rate_limited", 0, NULL, 0};
    cb(ctx, &r);
    return 0;
  }
  return post_once(g, comment_id, "replies", token, json_pack("{s:s}", "message", text), cb, ctx);
}

int graph_send_message(graph_t *g, const char *ig_user_id, const char *token,
                       const json_t *recipient, const json_t *message, const char *tag, graph_cb cb,
                       void *ctx) {
  if (!take_token(g, ig_user_id)) {
    graph_result_t r = {0, NULL, 429, "rate_limited", 0, NULL, 0};
    cb(ctx, &r);
    return 0;
  }
  json_t *body = json_pack("{s:O, s:O}", "recipient", recipient, "message", message);
  if (body && tag) {
    json_object_set_new(body, "messaging_type", json_string("MESSAGE_TAG"));
    json_object_set_new(body, "tag", json_string(tag));
  }
  return post_once(g, ig_user_id, "messages", token, body, cb, ctx);
}

int graph_get_me(graph_t *g, const char *token, graph_cb cb, void *ctx) {
  send_t *s = calloc(1, sizeof(*s));
  if (!s) return -1;
  s->g = g;
  s->method = "GET";
  s->retries = GRAPH_RETRIES;
  s->cb = cb;
  s->ctx = ctx;
  size_t ulen = strlen(g->base) + 32, alen = strlen(token) + 32;
  s->url = malloc(ulen);
  s->auth = malloc(alen);
  if (!s->url || !s->auth) {
    send_free(s);
    return -1;
  }
  snprintf(s->url, ulen, "%s/me?fields=user_id,username", g->base);
  snprintf(s->auth, alen, "Authorization: Bearer %s", token);
  g->in_flight++;
  attempt(s);
  return 0;
}

/* Percent-encodes s (RFC 3986 unreserved characters kept) into a new string. */
static char *url_escape(const char *s) {
  static const char hex[] = "0123456789ABCDEF";
  char *out = malloc(strlen(s) * 3 + 1), *o = out;
  if (!out) return NULL;
  for (; *s; s++) {
    unsigned char ch = (unsigned char)*s;
    if ((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
        ch == '-' || ch == '_' || ch == '.' || ch == '~') {
      *o++ = (char)ch;
    } else {
      *o++ = '%';
      *o++ = hex[ch >> 4];
      *o++ = hex[ch & 15];
    }
  }
  *o = '\0';
  return out;
}

int graph_refresh_token(graph_t *g, const char *token, graph_cb cb, void *ctx) {
  send_t *s = calloc(1, sizeof(*s));
  if (!s) return -1;
  s->g = g;
  s->method = "GET";
  s->retries = GRAPH_RETRIES;
  s->cb = cb;
  s->ctx = ctx;
  char *enc = url_escape(token);
  size_t ulen = strlen(g->base) + (enc ? strlen(enc) : 0) + 80, alen = strlen(token) + 32;
  s->url = malloc(ulen);
  s->auth = malloc(alen);
  if (!enc || !s->url || !s->auth) {
    free(enc);
    send_free(s);
    return -1;
  }
  snprintf(s->url, ulen, "%s/refresh_access_token?grant_type=ig_refresh_token&access_token=%s",
           g->base, enc);
  snprintf(s->auth, alen, "Authorization: Bearer %s", token);
  free(enc);
  g->in_flight++;
  attempt(s);
  return 0;
}

/* A profile waits on nobody's request, and a flow waits on the first one: one
 * retry, with a shorter timeout than sends. */
#define PROFILE_RETRIES 1
#define PROFILE_TIMEOUT_MS 5000

int graph_get_profile(graph_t *g, const char *token, const char *igsid, graph_cb cb, void *ctx) {
  for (const char *c = igsid; *c; c++)
    if (*c < '0' || *c > '9') return -1; /* an IGSID is numeric: nothing else enters the path */
  send_t *s = calloc(1, sizeof(*s));
  if (!s) return -1;
  s->g = g;
  s->method = "GET";
  s->retries = PROFILE_RETRIES;
  s->timeout_ms = g->timeout_ms < PROFILE_TIMEOUT_MS ? g->timeout_ms : PROFILE_TIMEOUT_MS;
  s->cb = cb;
  s->ctx = ctx;
  size_t ulen = strlen(g->base) + strlen(igsid) + 48, alen = strlen(token) + 32;
  s->url = malloc(ulen);
  s->auth = malloc(alen);
  if (!*igsid || !s->url || !s->auth) {
    send_free(s);
    return -1;
  }
  snprintf(s->url, ulen, "%s/%s?fields=name,username,profile_pic", g->base, igsid);
  snprintf(s->auth, alen, "Authorization: Bearer %s", token);
  g->in_flight++;
  attempt(s);
  return 0;
}
