/* The mail queue: a FIFO of mails, at most MAIL_PARALLEL sent at once, each
 * retried after a failure that may pass (no answer, a 4xx) with a doubling
 * delay, dropped after a 5xx or its last retry. With no SMTP server the "send"
 * is writing the message to <dir>/<ms>-<n>.eml on libuv's thread pool. Loop
 * thread; the file work touches only its job. */
#include "parley/mail.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "parley/buf.h"
#include "parley/log.h"
#include "parley/util.h"

#define MAIL_PARALLEL 2
#define MAIL_RETRY_MAX_MS 600000

typedef struct job_s job_t;
struct job_s {
  mail_t *m;
  char *to;
  char *message;
  size_t len;
  int attempt;     /* attempts made */
  int64_t due_ms;  /* not before */
  uv_work_t work;  /* file sink */
  int file_status; /* 0 written, else errno */
  char path[512];
  job_t *next;
};

struct mail_s {
  uv_loop_t *loop;
  httpc_t *http;
  mail_options_t o;
  char *strings[7];   /* the options' copies, freed at the end */
  job_t *head, *tail; /* waiting, in order */
  int waiting, in_flight;
  uint64_t sent, failed, seq;
  uv_timer_t timer;
  int closing, timer_closed;
  void (*done)(void *);
  void *done_arg;
};

/* ---- the message ---- */

static int append_text(buf_t *b, const char *text) {
  /* Lines end in CRLF whatever the template used. */
  for (const char *p = text; *p; p++) {
    if (*p == '\r') continue;
    if (*p == '\n' ? buf_append(b, "\r\n", 2) : buf_append(b, p, 1)) return -1;
  }
  return 0;
}

char *mail_format(const char *from, const char *to, const char *subject, const char *text,
                  int64_t now_ms, size_t *len) {
  char date[64], id[25], head[1024];
  time_t secs = (time_t)(now_ms / 1000);
  struct tm tm;
  gmtime_r(&secs, &tm);
  strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S +0000", &tm);
  util_new_id(id);
  const char *at = strchr(from, '@');
  int n = snprintf(head, sizeof(head),
                   "Date: %s\r\nFrom: %s\r\nTo: %s\r\nSubject: %s\r\nMessage-ID: <%s@%s>\r\n"
                   "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
                   "Content-Transfer-Encoding: 8bit\r\n\r\n",
                   date, from, to, subject, id, at ? at + 1 : "parley.invalid");
  if (n < 0 || (size_t)n >= sizeof(head)) return NULL;
  buf_t b = {0};
  if (buf_append(&b, head, (size_t)n) || append_text(&b, text) || buf_append(&b, "\r\n", 3)) {
    buf_free(&b);
    return NULL;
  }
  *len = b.len - 1; /* the NUL is not part of the message */
  return b.data;
}

/* ---- the queue ---- */

static void job_free(job_t *j) {
  free(j->to);
  free(j->message);
  free(j);
}

static void maybe_free(mail_t *m) {
  if (!m->closing || !m->timer_closed || m->in_flight > 0) return;
  void (*done)(void *) = m->done;
  void *arg = m->done_arg;
  for (size_t i = 0; i < sizeof(m->strings) / sizeof(m->strings[0]); i++) free(m->strings[i]);
  free(m);
  if (done) done(arg);
}

static void push(mail_t *m, job_t *j) {
  j->next = NULL;
  if (m->tail)
    m->tail->next = j;
  else
    m->head = j;
  m->tail = j;
  m->waiting++;
}

static void pump(mail_t *m);

static void on_timer(uv_timer_t *t) { pump(t->data); }

/* A failed attempt: again later, or given up. */
static void attempt_failed(mail_t *m, job_t *j, int permanent, const char *why) {
  if (!m->closing && !permanent && j->attempt <= m->o.retries) {
    int64_t delay = (int64_t)m->o.retry_ms << (j->attempt - 1 < 20 ? j->attempt - 1 : 20);
    if (delay > MAIL_RETRY_MAX_MS) delay = MAIL_RETRY_MAX_MS;
    j->due_ms = util_now_ms() + delay;
    log_warn("mail: sending to %s failed (%s); retry %d of %d in %lld ms", j->to, why, j->attempt,
             m->o.retries, (long long)delay);
    push(m, j);
    return;
  }
  m->failed++;
  log_error("mail: gave up sending to %s after %d attempt(s): %s", j->to, j->attempt, why);
  job_free(j);
}

static void after_attempt(mail_t *m) {
  m->in_flight--;
  if (m->closing)
    maybe_free(m);
  else
    pump(m);
}

static void on_smtp(void *ctx, const httpc_response_t *res) {
  job_t *j = ctx;
  mail_t *m = j->m;
  if (res->status >= 200 && res->status < 300) {
    m->sent++;
    log_info("mail: sent to %s", j->to);
    job_free(j);
  } else {
    char why[160];
    if (res->status)
      snprintf(why, sizeof(why), "the server answered %d", res->status);
    else
      snprintf(why, sizeof(why), "%s", res->error ? res->error : "no answer");
    attempt_failed(m, j, res->status >= 500, why);
  }
  after_attempt(m);
}

static void file_work(uv_work_t *w) {
  job_t *j = w->data;
  int fd = open(j->path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  j->file_status = 0;
  if (fd < 0) {
    j->file_status = errno;
    return;
  }
  size_t off = 0;
  while (off < j->len) {
    ssize_t n = write(fd, j->message + off, j->len - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      j->file_status = n < 0 ? errno : EIO;
      break;
    }
    off += (size_t)n;
  }
  if (close(fd) != 0 && j->file_status == 0) j->file_status = errno;
}

/* Runs even when cancelled; the mailer waits for it before it is freed. */
static void file_after(uv_work_t *w, int status) {
  job_t *j = w->data;
  mail_t *m = j->m;
  if (status == 0 && j->file_status == 0) {
    m->sent++;
    log_info("mail: no SMTP server configured; the mail to %s was written to %s", j->to, j->path);
    job_free(j);
  } else {
    attempt_failed(m, j, 0, status ? uv_strerror(status) : strerror(j->file_status));
  }
  after_attempt(m);
}

static int start(mail_t *m, job_t *j) {
  j->attempt++;
  if (m->o.smtp_url) {
    httpc_mail_t req = {m->o.smtp_url, m->o.tls,   m->o.user, m->o.password,  m->o.from,
                        j->to,         j->message, j->len,    m->o.timeout_ms};
    return httpc_mail(m->http, &req, on_smtp, j);
  }
  snprintf(j->path, sizeof(j->path), "%s/%lld-%llu.eml", m->o.dir, (long long)util_now_ms(),
           (unsigned long long)++m->seq);
  j->work.data = j;
  return uv_queue_work(m->loop, &j->work, file_work, file_after);
}

/* Starts the waiting mails that are due while slots are free; sleeps until
 * the first one that is not. */
static void pump(mail_t *m) {
  int64_t now = util_now_ms(), next_due = INT64_MAX;
  job_t *prev = NULL, *j = m->head;
  while (j && m->in_flight < MAIL_PARALLEL && !m->closing) {
    job_t *next = j->next;
    if (j->due_ms > now) {
      prev = j;
      j = next;
      continue;
    }
    if (prev)
      prev->next = next;
    else
      m->head = next;
    if (m->tail == j) m->tail = prev;
    m->waiting--;
    m->in_flight++;
    if (start(m, j) != 0) {
      m->in_flight--;
      attempt_failed(m, j, 0, "cannot start the transfer"); /* back at the tail */
    }
    j = next;
  }
  /* Retries pushed back above sit past where the walk stopped: look at all. */
  for (j = m->head; j; j = j->next)
    if (j->due_ms > now && j->due_ms < next_due) next_due = j->due_ms;
  if (!m->closing && next_due != INT64_MAX)
    uv_timer_start(&m->timer, on_timer, (uint64_t)(next_due - now), 0);
}

int mail_send(mail_t *m, const char *to, const char *subject, const char *text) {
  if (m->closing) return -1;
  if (m->waiting + m->in_flight >= m->o.queue_max) {
    log_warn("mail: the queue is full (%d); a mail to %s was dropped", m->o.queue_max, to);
    m->failed++;
    return -1;
  }
  job_t *j = calloc(1, sizeof(*j));
  if (!j) return -1;
  j->m = m;
  j->to = strdup(to);
  j->message = mail_format(m->o.from, to, subject, text, util_now_ms(), &j->len);
  if (!j->to || !j->message) {
    job_free(j);
    return -1;
  }
  push(m, j);
  pump(m);
  return 0;
}

int mail_pending(const mail_t *m) { return m->waiting + m->in_flight; }
uint64_t mail_sent(const mail_t *m) { return m->sent; }
uint64_t mail_failed(const mail_t *m) { return m->failed; }

/* ---- life ---- */

static char *copy(mail_t *m, int i, const char *s) {
  if (!s) return NULL;
  m->strings[i] = strdup(s);
  return m->strings[i];
}

mail_t *mail_new(uv_loop_t *loop, httpc_t *http, const mail_options_t *opts) {
  mail_t *m = calloc(1, sizeof(*m));
  if (!m) return NULL;
  m->loop = loop;
  m->http = http;
  m->o = *opts;
  m->o.smtp_url = opts->smtp_url && opts->smtp_url[0] ? copy(m, 0, opts->smtp_url) : NULL;
  m->o.tls = copy(m, 1, opts->tls ? opts->tls : "try");
  m->o.user = copy(m, 2, opts->user);
  m->o.password = copy(m, 3, opts->password);
  m->o.from = copy(m, 4, opts->from ? opts->from : "parley@localhost");
  m->o.dir = copy(m, 5, opts->dir ? opts->dir : ".");
  if (m->o.queue_max <= 0) m->o.queue_max = 1000;
  if (m->o.retry_ms <= 0) m->o.retry_ms = 2000;
  if (!m->o.tls || !m->o.from || !m->o.dir ||
      (opts->smtp_url && opts->smtp_url[0] && !m->o.smtp_url))
    goto fail;
  if (!m->o.smtp_url) {
    if (mkdir(m->o.dir, 0700) != 0 && errno != EEXIST) {
      log_error("mail: cannot create %s: %s", m->o.dir, strerror(errno));
      goto fail;
    }
    log_warn("mail: no SMTP server configured (smtp_url); mail is written to files in %s",
             m->o.dir);
  } else {
    log_info("mail: sending through %s (STARTTLS %s)", m->o.smtp_url, m->o.tls);
  }
  uv_timer_init(loop, &m->timer);
  m->timer.data = m;
  return m;
fail:
  for (size_t i = 0; i < sizeof(m->strings) / sizeof(m->strings[0]); i++) free(m->strings[i]);
  free(m);
  return NULL;
}

static void on_timer_closed(uv_handle_t *h) {
  mail_t *m = h->data;
  m->timer_closed = 1;
  maybe_free(m);
}

void mail_close(mail_t *m, void (*done)(void *arg), void *arg) {
  if (!m || m->closing) return;
  m->closing = 1;
  m->done = done;
  m->done_arg = arg;
  if (m->waiting) log_warn("mail: %d unsent mail(s) dropped at shutdown", m->waiting);
  while (m->head) {
    job_t *j = m->head;
    m->head = j->next;
    job_free(j);
  }
  m->tail = NULL;
  m->waiting = 0;
  uv_close((uv_handle_t *)&m->timer, on_timer_closed);
}
