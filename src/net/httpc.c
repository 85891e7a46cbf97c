/* Outbound HTTP client: libcurl multi-socket on libuv. libcurl tells us which
 * sockets to watch and when to time out; uv_poll_t and one uv_timer_t report
 * back with curl_multi_socket_action(). Completed transfers are collected from
 * curl_multi_info_read() and their callbacks run on the loop thread. */
#include "parley/httpc.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "parley/buf.h"
#include "parley/log.h"

#define HTTPC_IDLE_MAX 64
/* Connections the multi handle keeps open for reuse. libcurl's default is four
 * times the transfers added at the moment one ends, so as a burst ebbed it
 * closed connections that the next burst opened again (a flow's Graph
 * requests: 433 connections for 10,000 sends, 1,181 for 5,200 under
 * valgrind). A fixed bound keeps them: 64 for 10,000 sends. libcurl checks a
 * connection is alive before reusing it and closes the oldest past the bound;
 * guarded requests (api_call) leave none behind. */
#define HTTPC_CONNS_MAX 64

typedef struct transfer_s transfer_t;
struct transfer_s {
  httpc_t *h;
  CURL *easy;
  buf_t body;
  char *req_body;
  size_t upload_len, upload_off; /* a mail's message, read by read_cb */
  struct curl_slist *headers;    /* HTTP headers, or a mail's recipients */
  size_t max_response;
  int too_large;
  int refused;
  int no_memory; /* its socket could not be watched: fails at the next check_done() */
  httpc_addr_check check;
  void *check_ctx;
  httpc_cb cb;
  void *ctx;
  char errbuf[CURL_ERROR_SIZE];
  transfer_t *prev, *next;
};

typedef struct sock_s {
  uv_poll_t poll;
  curl_socket_t fd;
  httpc_t *h;
} sock_t;

struct httpc_s {
  uv_loop_t *loop;
  CURLM *multi;
  uv_timer_t timer;
  transfer_t *transfers;
  int in_flight;
  int no_memory;    /* transfers marked no_memory, not yet completed */
  int handles_open; /* the timer and every poll handle */
  int closing;
  void (*done)(void *arg);
  void *done_arg;
  /* Easy handles of finished transfers, reset to libcurl's defaults, for the
   * next ones: curl_easy_init() allocates and initialises a handle of several
   * kilobytes per request. Bounded: more finish at once only in a burst. */
  CURL *idle[HTTPC_IDLE_MAX];
  int n_idle;
};

/* A handle keeps, across curl_easy_reset(), only libcurl's caches (DNS,
 * TLS sessions, cookies: no cookie engine is ever enabled here); connections
 * belong to the multi handle either way. Every option, the URL, the headers
 * and CURLOPT_PRIVATE are set again for each transfer. */
static CURL *easy_take(httpc_t *h) {
  return h->n_idle > 0 ? h->idle[--h->n_idle] : curl_easy_init();
}

static void easy_give(httpc_t *h, CURL *easy) {
  if (!easy) return;
  if (h->closing || h->n_idle == HTTPC_IDLE_MAX) {
    curl_easy_cleanup(easy);
    return;
  }
  curl_easy_reset(easy);
  h->idle[h->n_idle++] = easy;
}

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static void curl_init_once(void) { curl_global_init(CURL_GLOBAL_DEFAULT); }

static void finish_close(httpc_t *h) {
  if (!h->closing || h->handles_open > 0) return;
  void (*done)(void *) = h->done;
  void *arg = h->done_arg;
  free(h);
  if (done) done(arg);
}

static void on_handle_closed(uv_handle_t *handle) {
  httpc_t *h;
  if (handle->type == UV_POLL) {
    sock_t *s = handle->data;
    h = s->h;
    free(s);
  } else {
    h = handle->data;
  }
  h->handles_open--;
  finish_close(h);
}

static void complete(transfer_t *t, CURLcode code) {
  httpc_t *h = t->h;
  httpc_response_t res = {0, t->body.data ? t->body.data : "", t->body.len, NULL, 0};
  long request_size = 0;
  curl_easy_getinfo(t->easy, CURLINFO_REQUEST_SIZE, &request_size);
  res.sent = request_size > 0;
  if (code == CURLE_OK) {
    long status = 0;
    curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &status);
    res.status = (int)status;
  } else if (t->too_large) {
    res.error = "response too large";
  } else if (t->no_memory) {
    res.error = "out of memory";
  } else if (t->refused) {
    res.error = "refused address";
  } else if (code == CURLE_OPERATION_TIMEDOUT) {
    res.error = "timeout";
  } else {
    res.error = t->errbuf[0] ? t->errbuf : curl_easy_strerror(code);
  }
  if (t->prev)
    t->prev->next = t->next;
  else
    h->transfers = t->next;
  if (t->next) t->next->prev = t->prev;
  h->in_flight--;
  curl_multi_remove_handle(h->multi, t->easy);
  t->cb(t->ctx, &res);
  easy_give(h, t->easy); /* the callback may have closed the client: then freed */
  curl_slist_free_all(t->headers);
  free(t->req_body);
  buf_free(&t->body);
  free(t);
}

/* Completes the transfers whose socket socket_cb could not watch. */
static void fail_unwatched(httpc_t *h) {
  while (h->no_memory > 0 && h->multi) {
    transfer_t *t = h->transfers;
    while (t && !t->no_memory) t = t->next;
    if (!t) break;
    h->no_memory--;
    complete(t, CURLE_OUT_OF_MEMORY);
  }
  if (!h->transfers) h->no_memory = 0;
}

static void check_done(httpc_t *h) {
  CURLMsg *msg;
  int left;
  fail_unwatched(h);
  /* A callback may close the client: the multi handle is then gone. */
  while (h->multi && (msg = curl_multi_info_read(h->multi, &left))) {
    if (msg->msg != CURLMSG_DONE) continue;
    transfer_t *t = NULL;
    curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&t);
    complete(t, msg->data.result);
  }
}

static void on_poll(uv_poll_t *p, int status, int events) {
  sock_t *s = p->data;
  httpc_t *h = s->h;
  int flags = 0;
  if (status < 0) flags = CURL_CSELECT_ERR;
  if (events & UV_READABLE) flags |= CURL_CSELECT_IN;
  if (events & UV_WRITABLE) flags |= CURL_CSELECT_OUT;
  int running;
  curl_multi_socket_action(h->multi, s->fd, flags, &running);
  check_done(h);
}

static void on_timeout(uv_timer_t *t) {
  httpc_t *h = t->data;
  int running;
  curl_multi_socket_action(h->multi, CURL_SOCKET_TIMEOUT, 0, &running);
  check_done(h);
}

/* A socket of easy's transfer cannot be watched (no memory for its poll
 * handle): the transfer fails at the next check_done(), after libcurl returns.
 * Returning -1 to libcurl instead would mark the whole multi handle dead: no
 * transfer would ever complete again, nor could one be added. */
static int unwatched(httpc_t *h, CURL *easy) {
  transfer_t *t = NULL;
  curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&t);
  if (t && !t->no_memory) {
    t->no_memory = 1;
    h->no_memory++;
  }
  return 0;
}

/* libcurl: watch (or stop watching) a socket. Never returns -1 (see unwatched). */
static int socket_cb(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp) {
  httpc_t *h = userp;
  sock_t *s = socketp;
  if (what == CURL_POLL_REMOVE) {
    if (s) {
      uv_poll_stop(&s->poll);
      uv_close((uv_handle_t *)&s->poll, on_handle_closed);
      curl_multi_assign(h->multi, fd, NULL);
    }
    return 0;
  }
  if (!s) {
    s = calloc(1, sizeof(*s));
    if (!s) return unwatched(h, easy);
    s->fd = fd;
    s->h = h;
    if (uv_poll_init_socket(h->loop, &s->poll, fd) != 0) {
      free(s);
      return unwatched(h, easy);
    }
    s->poll.data = s;
    h->handles_open++;
    curl_multi_assign(h->multi, fd, s);
  }
  int events = 0;
  if (what == CURL_POLL_IN || what == CURL_POLL_INOUT) events |= UV_READABLE;
  if (what == CURL_POLL_OUT || what == CURL_POLL_INOUT) events |= UV_WRITABLE;
  if (uv_poll_start(&s->poll, events, on_poll) != 0) return unwatched(h, easy);
  return 0;
}

/* libcurl: (re)arm the single timer. Never calls back into libcurl directly. */
static int timer_cb(CURLM *multi, long timeout_ms, void *userp) {
  httpc_t *h = userp;
  if (timeout_ms < 0)
    uv_timer_stop(&h->timer);
  else
    uv_timer_start(&h->timer, on_timeout, (uint64_t)timeout_ms, 0);
  return 0;
}

static size_t write_cb(char *data, size_t size, size_t n, void *userp) {
  transfer_t *t = userp;
  size_t len = size * n;
  if (t->body.len + len > t->max_response) {
    t->too_large = 1;
    return 0; /* aborts the transfer */
  }
  return buf_append(&t->body, data, len) == 0 ? len : 0;
}

/* The SSRF guard sees the address libcurl resolved, right before connecting,
 * so a name that resolves to a private address is caught too. */
static curl_socket_t open_socket_cb(void *userp, curlsocktype purpose, struct curl_sockaddr *a) {
  transfer_t *t = userp;
  if (t->check) {
    char *host = NULL;
    long port = 0;
    curl_easy_getinfo(t->easy, CURLINFO_EFFECTIVE_URL, &host);
    CURLU *u = curl_url();
    char *hname = NULL, *pstr = NULL;
    if (u && host && curl_url_set(u, CURLUPART_URL, host, 0) == CURLUE_OK) {
      curl_url_get(u, CURLUPART_HOST, &hname, 0);
      curl_url_get(u, CURLUPART_PORT, &pstr, CURLU_DEFAULT_PORT);
      if (pstr) port = strtol(pstr, NULL, 10);
    }
    int ok = t->check(t->check_ctx, hname ? hname : "", (int)port, &a->addr);
    curl_free(hname);
    curl_free(pstr);
    curl_url_cleanup(u);
    if (!ok) {
      t->refused = 1;
      return CURL_SOCKET_BAD;
    }
  }
  return socket(a->family, a->socktype, a->protocol);
}

httpc_t *httpc_new(uv_loop_t *loop) {
  pthread_once(&curl_once, curl_init_once);
  httpc_t *h = calloc(1, sizeof(*h));
  if (!h) return NULL;
  h->loop = loop;
  h->multi = curl_multi_init();
  if (!h->multi) {
    free(h);
    return NULL;
  }
  uv_timer_init(loop, &h->timer);
  h->timer.data = h;
  h->handles_open = 1;
  curl_multi_setopt(h->multi, CURLMOPT_SOCKETFUNCTION, socket_cb);
  curl_multi_setopt(h->multi, CURLMOPT_SOCKETDATA, h);
  curl_multi_setopt(h->multi, CURLMOPT_TIMERFUNCTION, timer_cb);
  curl_multi_setopt(h->multi, CURLMOPT_TIMERDATA, h);
  curl_multi_setopt(h->multi, CURLMOPT_MAXCONNECTS, (long)HTTPC_CONNS_MAX);
  return h;
}

static void transfer_free(transfer_t *t) {
  easy_give(t->h, t->easy);
  curl_slist_free_all(t->headers);
  free(t->req_body);
  free(t);
}

int httpc_request(httpc_t *h, const httpc_request_t *req, httpc_cb cb, void *ctx) {
  if (h->closing) return -1;
  transfer_t *t = calloc(1, sizeof(*t));
  if (!t) return -1;
  t->h = h;
  t->cb = cb;
  t->ctx = ctx;
  t->check = req->check;
  t->check_ctx = req->check_ctx;
  t->max_response = req->max_response ? req->max_response : 1 << 20;
  t->easy = easy_take(h);
  if (!t->easy) goto fail;
  CURL *e = t->easy;
  curl_easy_setopt(e, CURLOPT_URL, req->url);
  curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, req->timeout_ms > 0 ? req->timeout_ms : 10000L);
  curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, req->method);
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, write_cb);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, t);
  curl_easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION, open_socket_cb);
  curl_easy_setopt(e, CURLOPT_OPENSOCKETDATA, t);
  if (t->check) {
    /* The guard runs when a socket opens: a guarded request must open its own
     * (a connection an unguarded request left in the cache, to the Graph API
     * say, was never checked), and leaves none behind for others. */
    curl_easy_setopt(e, CURLOPT_FRESH_CONNECT, 1L);
    curl_easy_setopt(e, CURLOPT_FORBID_REUSE, 1L);
  }
  curl_easy_setopt(e, CURLOPT_ERRORBUFFER, t->errbuf);
  curl_easy_setopt(e, CURLOPT_PRIVATE, t);
  curl_easy_setopt(e, CURLOPT_USERAGENT, "parleyd/" PARLEY_VERSION);
  if (strcmp(req->method, "HEAD") == 0) curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
  for (const char *const *hd = req->headers; hd && *hd; hd++) {
    struct curl_slist *l = curl_slist_append(t->headers, *hd);
    if (!l) goto fail;
    t->headers = l;
  }
  if (t->headers) curl_easy_setopt(e, CURLOPT_HTTPHEADER, t->headers);
  if (req->body) {
    t->req_body = malloc(req->body_len + 1);
    if (!t->req_body) goto fail;
    memcpy(t->req_body, req->body, req->body_len);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, t->req_body);
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)req->body_len);
  }
  if (curl_multi_add_handle(h->multi, e) != CURLM_OK) goto fail;
  t->next = h->transfers;
  if (h->transfers) h->transfers->prev = t;
  h->transfers = t;
  h->in_flight++;
  return 0;
fail:
  transfer_free(t);
  return -1;
}

static size_t read_cb(char *out, size_t size, size_t n, void *userp) {
  transfer_t *t = userp;
  size_t left = t->upload_len - t->upload_off, want = size * n;
  if (want > left) want = left;
  memcpy(out, t->req_body + t->upload_off, want);
  t->upload_off += want;
  return want;
}

static void transfer_link(httpc_t *h, transfer_t *t) {
  t->next = h->transfers;
  if (h->transfers) h->transfers->prev = t;
  h->transfers = t;
  h->in_flight++;
}

int httpc_mail(httpc_t *h, const httpc_mail_t *m, httpc_cb cb, void *ctx) {
  if (h->closing || !m->url || !m->from || !m->to || !m->message) return -1;
  transfer_t *t = calloc(1, sizeof(*t));
  if (!t) return -1;
  t->h = h;
  t->cb = cb;
  t->ctx = ctx;
  t->max_response = 1 << 16;
  t->easy = easy_take(h);
  t->req_body = malloc(m->message_len + 1);
  t->headers = curl_slist_append(NULL, m->to);
  if (!t->easy || !t->req_body || !t->headers) goto fail;
  memcpy(t->req_body, m->message, m->message_len);
  t->upload_len = m->message_len;
  CURL *e = t->easy;
  long tls = !m->tls || strcmp(m->tls, "try") == 0 ? CURLUSESSL_TRY
             : strcmp(m->tls, "required") == 0     ? CURLUSESSL_ALL
                                                   : CURLUSESSL_NONE;
  curl_easy_setopt(e, CURLOPT_URL, m->url);
  curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
  curl_easy_setopt(e, CURLOPT_USE_SSL, tls);
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, m->timeout_ms > 0 ? m->timeout_ms : 30000L);
  curl_easy_setopt(e, CURLOPT_MAIL_FROM, m->from);
  curl_easy_setopt(e, CURLOPT_MAIL_RCPT, t->headers);
  curl_easy_setopt(e, CURLOPT_UPLOAD, 1L);
  curl_easy_setopt(e, CURLOPT_READFUNCTION, read_cb);
  curl_easy_setopt(e, CURLOPT_READDATA, t);
  curl_easy_setopt(e, CURLOPT_INFILESIZE_LARGE, (curl_off_t)m->message_len);
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, write_cb);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, t);
  curl_easy_setopt(e, CURLOPT_ERRORBUFFER, t->errbuf);
  curl_easy_setopt(e, CURLOPT_PRIVATE, t);
  if (m->user && m->user[0] && m->password) {
    curl_easy_setopt(e, CURLOPT_USERNAME, m->user);
    curl_easy_setopt(e, CURLOPT_PASSWORD, m->password);
  }
  if (curl_multi_add_handle(h->multi, e) != CURLM_OK) goto fail;
  transfer_link(h, t);
  return 0;
fail:
  transfer_free(t);
  return -1;
}

int httpc_in_flight(const httpc_t *h) { return h->in_flight; }

void httpc_close(httpc_t *h, void (*done)(void *arg), void *arg) {
  if (h->closing) return;
  h->closing = 1;
  h->done = done;
  h->done_arg = arg;
  while (h->transfers) {
    transfer_t *t = h->transfers;
    snprintf(t->errbuf, sizeof(t->errbuf), "cancelled");
    complete(t, CURLE_ABORTED_BY_CALLBACK);
  }
  while (h->n_idle > 0) curl_easy_cleanup(h->idle[--h->n_idle]);
  curl_multi_cleanup(h->multi);
  h->multi = NULL;
  uv_close((uv_handle_t *)&h->timer, on_handle_closed);
}
