/* Outbound HTTP on the loop: libcurl's multi-socket interface driven by libuv
 * poll and timer handles, so the Graph API and flow api_call never block the
 * loop. Name resolution runs in libcurl's resolver thread. Loop thread only. */
#ifndef PARLEY_HTTPC_H
#define PARLEY_HTTPC_H

#include <stddef.h>
#include <uv.h>

typedef struct httpc_s httpc_t;

typedef struct httpc_response_s {
  int status;       /* HTTP status, or 0 when the request failed */
  const char *body; /* NUL-terminated, borrowed for the callback */
  size_t len;
  const char *error; /* why it failed when status is 0 ("timeout", "refused address", ...) */
  int sent;          /* when status is 0: 1 if the request went out (bytes were written), so
                        the server may have acted on it; 0 if it certainly did not */
} httpc_response_t;

/* Runs once on the loop thread per accepted request (also when httpc_close
 * cancels it, with status 0 and error "cancelled"). */
typedef void (*httpc_cb)(void *ctx, const httpc_response_t *res);

/* Decides whether a resolved address may be connected to (SSRF guard): returns
 * 1 to allow. host is the URL's host name and port its port. */
typedef int (*httpc_addr_check)(void *ctx, const char *host, int port, const struct sockaddr *addr);

typedef struct httpc_request_s {
  const char *method;         /* "GET", "POST", ... */
  const char *url;            /* http:// or https:// only */
  const char *const *headers; /* NULL-terminated "Name: value" lines, or NULL */
  const char *body;           /* copied; may be NULL */
  size_t body_len;
  long timeout_ms;        /* whole request */
  size_t max_response;    /* larger bodies fail with "response too large" */
  httpc_addr_check check; /* optional */
  void *check_ctx;
} httpc_request_t;

httpc_t *httpc_new(uv_loop_t *loop);
/* Starts a request; everything in req is copied. Returns 0 (cb will run) or -1. */
int httpc_request(httpc_t *h, const httpc_request_t *req, httpc_cb cb, void *ctx);
/* A mail sent over SMTP in the same multi handle (libcurl's smtp:// and
 * smtps://): url "smtp://host:port" or "smtps://host:port"; tls "required"
 * (STARTTLS or fail), "try" (STARTTLS when offered) or "off"; user and
 * password optional (AUTH when both are set); from and to bare addresses;
 * message the whole RFC 5322 message with CRLF line ends (libcurl escapes
 * leading dots). Everything is copied. The callback's status is the server's
 * last reply code (250 when the mail was accepted), or 0 with error. */
typedef struct httpc_mail_s {
  const char *url;
  const char *tls;
  const char *user, *password;
  const char *from, *to;
  const char *message;
  size_t message_len;
  long timeout_ms;
} httpc_mail_t;

/* Starts sending a mail; returns 0 (cb will run) or -1. */
int httpc_mail(httpc_t *h, const httpc_mail_t *mail, httpc_cb cb, void *ctx);

/* Requests in flight. */
int httpc_in_flight(const httpc_t *h);
/* Cancels what is in flight (callbacks run with "cancelled"), closes every
 * handle, then calls done on the loop thread. */
void httpc_close(httpc_t *h, void (*done)(void *arg), void *arg);

#endif
