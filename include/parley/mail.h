/* Outgoing mail: a bounded queue sent over SMTP (smtp://, smtps://, STARTTLS)
 * through httpc's libcurl multi handle on the loop, with retries; or, with no
 * SMTP server configured, written as .eml files to a directory (the embedded
 * default, for development). Loop thread only, except mail_format (pure). */
#ifndef PARLEY_MAIL_H
#define PARLEY_MAIL_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "parley/httpc.h"

typedef struct mail_s mail_t;

typedef struct mail_options_s {
  const char *smtp_url; /* NULL or "": write files to dir instead */
  const char *tls;      /* "required", "try" or "off" (httpc_mail_t) */
  const char *user, *password;
  const char *from; /* the envelope and From: address */
  const char *dir;  /* where files go without SMTP (created 0700) */
  int queue_max;    /* mails waiting or in flight at most */
  int retries;      /* further attempts after a failure that may pass */
  int retry_ms;     /* the first retry's delay; each next one doubles */
  long timeout_ms;  /* one SMTP attempt at most */
} mail_options_t;

/* A mailer with copies of the options; NULL when out of memory or the file
 * directory cannot be created (logged). Logs which of the two it uses. */
mail_t *mail_new(uv_loop_t *loop, httpc_t *http, const mail_options_t *opts);
/* Queues a plain-text mail (copied). to must be a checked address (no CR, LF
 * or angle brackets: auth_email_normalize), subject ASCII. Returns 0, or -1
 * when the queue is full or memory ran out (the mail is dropped; the caller
 * decides what the user hears). */
int mail_send(mail_t *m, const char *to, const char *subject, const char *text);
/* Mails queued or in flight. */
int mail_pending(const mail_t *m);
/* Mails sent (or written) and given up, since start. */
uint64_t mail_sent(const mail_t *m);
uint64_t mail_failed(const mail_t *m);
/* Stops: drops what waits (logged), lets what is in flight finish or be
 * cancelled by httpc_close, then frees itself and calls done (may be NULL). */
void mail_close(mail_t *m, void (*done)(void *arg), void *arg);

/* The RFC 5322 message (CRLF line ends, UTF-8 text, Date from now_ms), malloc'd
 * with its length in *len; NULL when out of memory. */
char *mail_format(const char *from, const char *to, const char *subject, const char *text,
                  int64_t now_ms, size_t *len);

#endif
