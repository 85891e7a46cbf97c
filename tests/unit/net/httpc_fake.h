/* An in-memory stand-in for src/net/httpc.c, for tests of what sends outbound
 * HTTP (the Graph API sender, the outbox, the Instagram handlers) or mail: it
 * defines the five httpc_* functions, so the linker takes them instead of httpc.c, and
 * records every request. Nothing goes on the network: a test answers the
 * oldest request with httpc_fake_answer, or scripts answers beforehand with
 * httpc_fake_script (each taken by the next request, answered on the loop's
 * next turn, as libcurl would). Include it in exactly one test program file. */
#ifndef PARLEY_TESTS_NET_HTTPC_FAKE_H
#define PARLEY_TESTS_NET_HTTPC_FAKE_H

#include <stdlib.h>
#include <string.h>

#include "parley/httpc.h"

#define HTTPC_FAKE_MAX 64

typedef struct httpc_fake_req_s {
  char method[8];
  char *url;
  char *body;
  char *auth;     /* the Authorization header's value, or NULL */
  uint64_t at_ms; /* uv_now when it was made */
  httpc_cb cb;
  void *ctx;
  int answered;
} httpc_fake_req_t;

typedef struct httpc_fake_answer_s {
  int status;
  const char *body; /* static */
  const char *error;
} httpc_fake_answer_t;

struct httpc_s {
  uv_loop_t *loop;
  uv_idle_t idle; /* answers scripted answers on the next turn */
  httpc_fake_req_t reqs[HTTPC_FAKE_MAX];
  int nreqs, next; /* requests made; the oldest not answered */
  httpc_fake_answer_t script[HTTPC_FAKE_MAX];
  int nscript, scripted; /* answers scripted; answers given from the script */
};

static int httpc_fake_in_flight(const httpc_t *h) { return h->nreqs - h->next; }

/* Answers the oldest open request: status 0 fails it with error. */
static inline void httpc_fake_answer(httpc_t *h, int status, const char *body, const char *error) {
  if (h->next == h->nreqs) abort();
  httpc_fake_req_t *r = &h->reqs[h->next++];
  /* A "timeout" failed after the request went out (libcurl's CURLE_OPERATION_TIMEDOUT with
   * the request written); any other error failed before it did. */
  int sent = status == 0 && error && strcmp(error, "timeout") == 0;
  httpc_response_t res = {status, body ? body : "", body ? strlen(body) : 0, error, sent};
  r->answered = 1;
  r->cb(r->ctx, &res);
}

static void httpc_fake_on_idle(uv_idle_t *idle) {
  httpc_t *h = idle->data;
  uv_idle_stop(idle);
  while (h->next < h->nreqs && h->scripted < h->nscript) {
    httpc_fake_answer_t a = h->script[h->scripted++];
    httpc_fake_answer(h, a.status, a.body, a.error);
  }
}

/* Scripts the answer to a request yet to come (body static). */
static inline void httpc_fake_script(httpc_t *h, int status, const char *body, const char *error) {
  if (h->nscript == HTTPC_FAKE_MAX) abort();
  h->script[h->nscript++] = (httpc_fake_answer_t){status, body, error};
}

/* The i-th request made (0 the first). */
static inline const httpc_fake_req_t *httpc_fake_request(const httpc_t *h, int i) {
  return i < h->nreqs ? &h->reqs[i] : NULL;
}

/* ---- the stand-ins ---- */

httpc_t *httpc_new(uv_loop_t *loop) {
  httpc_t *h = calloc(1, sizeof(*h));
  h->loop = loop;
  uv_idle_init(loop, &h->idle);
  h->idle.data = h;
  return h;
}

int httpc_request(httpc_t *h, const httpc_request_t *req, httpc_cb cb, void *ctx) {
  if (h->nreqs == HTTPC_FAKE_MAX) return -1;
  httpc_fake_req_t *r = &h->reqs[h->nreqs++];
  snprintf(r->method, sizeof(r->method), "%s", req->method ? req->method : "GET");
  r->url = strdup(req->url);
  r->body = req->body ? strndup(req->body, req->body_len) : NULL;
  for (const char *const *hd = req->headers; hd && *hd; hd++)
    if (strncmp(*hd, "Authorization: ", 15) == 0) r->auth = strdup(*hd + 15);
  r->at_ms = uv_now(h->loop);
  r->cb = cb;
  r->ctx = ctx;
  if (h->scripted < h->nscript) uv_idle_start(&h->idle, httpc_fake_on_idle);
  return 0;
}

/* A mail is recorded as a request: method "MAIL", url the server, body the
 * message, auth the recipient. */
int httpc_mail(httpc_t *h, const httpc_mail_t *m, httpc_cb cb, void *ctx) {
  if (h->nreqs == HTTPC_FAKE_MAX) return -1;
  httpc_fake_req_t *r = &h->reqs[h->nreqs++];
  snprintf(r->method, sizeof(r->method), "MAIL");
  r->url = strdup(m->url);
  r->body = strndup(m->message, m->message_len);
  r->auth = strdup(m->to);
  r->at_ms = uv_now(h->loop);
  r->cb = cb;
  r->ctx = ctx;
  if (h->scripted < h->nscript) uv_idle_start(&h->idle, httpc_fake_on_idle);
  return 0;
}

int httpc_in_flight(const httpc_t *h) { return httpc_fake_in_flight(h); }

static void httpc_fake_closed(uv_handle_t *handle) {
  httpc_t *h = handle->data;
  for (int i = 0; i < h->nreqs; i++) {
    free(h->reqs[i].url);
    free(h->reqs[i].body);
    free(h->reqs[i].auth);
  }
  free(h);
}

/* As httpc.c: what is in flight is cancelled, then done runs. */
void httpc_close(httpc_t *h, void (*done)(void *arg), void *arg) {
  while (h->next < h->nreqs) httpc_fake_answer(h, 0, NULL, "cancelled");
  uv_close((uv_handle_t *)&h->idle, httpc_fake_closed);
  if (done) done(arg);
}

#endif
