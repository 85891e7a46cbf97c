/* Requests: creation, reference counting, and what handlers read from them
 * (headers, route params, query parameters, the JSON body). Loop thread only. */
#include <assert.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "http/http_internal.h"
#include "parley/cidr.h"
#include "parley/util.h"

/* Requests are kept for the next ones when they end, up to REQ_POOL_MAX (loop
 * thread, as the router's index): a keep-alive connection's request then costs
 * no allocation and no clearing of its header slots and room, which only
 * nheaders and arena_used say are in use. A kept request is poisoned for
 * AddressSanitizer, which then still sees a use after its end. */
#define REQ_POOL_MAX 64
static http_req_t *req_pool;
static int req_pool_len;

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
/* All but the pool's link, which LeakSanitizer must still read. */
#define REQ_POISON(r) ASAN_POISON_MEMORY_REGION(&(r)->app, sizeof(*(r)) - offsetof(http_req_t, app))
#define REQ_UNPOISON(r) \
  ASAN_UNPOISON_MEMORY_REGION(&(r)->app, sizeof(*(r)) - offsetof(http_req_t, app))
#else
#define REQ_POISON(r) ((void)(r))
#define REQ_UNPOISON(r) ((void)(r))
#endif

/* The pool's link lies in the request's server field while it is kept. */
static http_req_t *pool_next(http_req_t *r) { return (http_req_t *)(uintptr_t)r->server; }

static http_req_t *req_take(void) {
  http_req_t *r = req_pool;
  if (!r) return calloc(1, sizeof(*r));
  REQ_UNPOISON(r);
  req_pool = pool_next(r);
  req_pool_len--;
  /* Everything but the header slots and the room, as calloc would. */
  memset(r, 0, offsetof(http_req_t, headers));
  memset(&r->nheaders, 0, offsetof(http_req_t, arena) - offsetof(http_req_t, nheaders));
  return r;
}

static void req_give(http_req_t *r) {
  if (req_pool_len == REQ_POOL_MAX) {
    free(r);
    return;
  }
  r->server = (const http_server_t *)(uintptr_t)req_pool;
  req_pool = r;
  req_pool_len++;
  REQ_POISON(r);
}

http_req_t *http_req_new(const http_server_t *server, conn_t *conn) {
  http_req_t *r = req_take();
  if (!r) return NULL;
  r->server = server;
  r->app = server ? server->app : NULL;
  r->conn = conn;
  r->refs = 1;
  r->method = "GET";
  r->start_ns = uv_hrtime();
  return r;
}

void http_req_ref(http_req_t *req) {
  assert(req->refs > 0);
  req->refs++;
}

void http_req_unref(http_req_t *req) {
  assert(req->refs > 0);
  if (--req->refs > 0) return;
  http_req_release(req, req->url);
  http_req_release(req, req->path); /* the query lies in url */
  for (int i = 0; i < req->nheaders; i++) {
    http_req_release(req, req->headers[i].name); /* the value lies in the same allocation */
  }
  for (int i = 0; i < req->nparams; i++) free(req->param_values[i]);
  buf_free(&req->body);
  buf_free(&req->extra_headers);
  buf_free(&req->out_body);
  req_give(req);
}

char *http_req_alloc(http_req_t *r, size_t n) {
  if (n <= sizeof(r->arena) - r->arena_used) {
    char *p = r->arena + r->arena_used;
    r->arena_used += n;
    return p;
  }
  return malloc(n);
}

void http_req_release(http_req_t *r, void *p) {
  uintptr_t a = (uintptr_t)p, lo = (uintptr_t)r->arena;
  if (a < lo || a >= lo + sizeof(r->arena)) free(p);
}

int http_req_set_target(http_req_t *r, const char *target, size_t len) {
  const char *q = memchr(target, '?', len);
  size_t plen = q ? (size_t)(q - target) : len;
  char *url = http_req_alloc(r, len + 1);
  if (!url) return 503;
  memcpy(url, target, len);
  url[len] = '\0';
  r->url = url;
  if (q) r->query = url + plen + 1;
  r->path = http_req_alloc(r, plen + 1);
  if (!r->path) return 503;
  /* A path of ASCII without escapes or NUL bytes (most of them) decodes to
   * itself and is valid UTF-8. */
  size_t plain = 0;
  while (plain < plen && (unsigned char)(url[plain] - 1) < 0x7f && url[plain] != '%') plain++;
  if (plain == plen) {
    memcpy(r->path, url, plen);
    r->path[plen] = '\0';
    return 0;
  }
  /* A path that decodes to a NUL byte or to invalid UTF-8 is refused whole: C
   * strings would end it early ("/api/auth/me%00.css" read as "/api/auth/me"). */
  long n = util_url_decode(url, plen, r->path, plen + 1, 0);
  if (n < 0 || memchr(r->path, '\0', (size_t)n) || !util_utf8_valid(r->path, (size_t)n)) return 400;
  return 0;
}

int http_req_gone(const http_req_t *req) { return !req->conn && !req->sink; }

const char *http_req_header(const http_req_t *req, const char *name) {
  /* Stored names are lower case; the first byte, folded, rules most out. */
  char first = (char)(name[0] | 0x20);
  for (int i = 0; i < req->nheaders; i++)
    if ((req->headers[i].name[0] | 0x20) == first && strcasecmp(req->headers[i].name, name) == 0)
      return req->headers[i].value;
  return NULL;
}

const char *http_req_param(const http_req_t *req, const char *name) {
  /* Names point into the static pattern and end at '/' or at its end. */
  size_t n = strlen(name);
  for (int i = 0; i < req->nparams; i++) {
    const char *pn = req->param_names[i];
    if (strncmp(pn, name, n) == 0 && (pn[n] == '\0' || pn[n] == '/')) return req->param_values[i];
  }
  return NULL;
}

long http_req_query(const http_req_t *req, const char *name, char *out, size_t outlen) {
  const char *q = req->query;
  size_t nlen = strlen(name);
  while (q && *q) {
    const char *amp = strchr(q, '&');
    size_t len = amp ? (size_t)(amp - q) : strlen(q);
    const char *eq = memchr(q, '=', len);
    size_t klen = eq ? (size_t)(eq - q) : len;
    if (klen == nlen && memcmp(q, name, nlen) == 0) {
      if (!eq) {
        if (outlen) out[0] = '\0';
        return 0;
      }
      long n = util_url_decode(eq + 1, len - klen - 1, out, outlen, 1);
      if (n < 0 || memchr(out, '\0', (size_t)n) || !util_utf8_valid(out, (size_t)n)) return -2;
      return n;
    }
    q = amp ? amp + 1 : NULL;
  }
  return -1;
}

void http_req_client_addr(const http_req_t *req, char *out, size_t outlen) {
  const char *peer = req->conn ? req->conn->peer : "unknown";
  const char *trusted = req->server ? req->server->cfg->trusted_proxies : NULL;
  const char *xff = http_req_header(req, "x-forwarded-for");
  snprintf(out, outlen, "%s", peer);
  if (!xff || !cidr_list_match(trusted, peer, strlen(peer))) return;
  /* Walk from the right: the nearest hop a trusted proxy appended first. */
  const char *end = xff + strlen(xff);
  while (end > xff) {
    const char *start = end;
    while (start > xff && start[-1] != ',') start--;
    const char *a = start, *b = end;
    while (a < b && *a == ' ') a++;
    while (b > a && b[-1] == ' ') b--;
    size_t len = (size_t)(b - a);
    if (len == 0 || len >= outlen || len >= 48) return;
    if (!cidr_list_match(trusted, a, len)) {
      memcpy(out, a, len);
      out[len] = '\0';
      return;
    }
    end = start > xff ? start - 1 : xff;
  }
}

json_t *http_req_json(http_req_t *req) {
  const char *ct = http_req_header(req, "content-type");
  size_t n = strlen("application/json");
  if (!ct || strncasecmp(ct, "application/json", n) != 0 ||
      (ct[n] && ct[n] != ';' && ct[n] != ' ')) {
    http_reply_error(req, 415, "unsupported_media_type", "send Content-Type: application/json",
                     NULL);
    return NULL;
  }
  if (!util_utf8_valid(req->body.data ? req->body.data : "", req->body.len)) {
    http_reply_error(req, 400, "invalid_json", "the body is not valid UTF-8", NULL);
    return NULL;
  }
  json_error_t err;
  json_t *j =
      json_loadb(req->body.data ? req->body.data : "", req->body.len, JSON_REJECT_DUPLICATES, &err);
  if (!j) {
    http_reply_error(req, 400, "invalid_json", err.text[0] ? err.text : "invalid JSON", NULL);
    return NULL;
  }
  if (!json_is_object(j)) {
    json_decref(j);
    http_reply_error(req, 400, "invalid_json", "the body must be a JSON object", NULL);
    return NULL;
  }
  return j;
}
