/* The mail queue over a scripted httpc (httpc_fake.h, no sockets): the message
 * it formats, a retry after a failure that may pass and none after a 5xx, the
 * bounded queue, at most two in flight, and the file sink's .eml files. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "httpc_fake.h"
#include "parley/mail.h"

static mail_options_t smtp_options(void) {
  mail_options_t o = {
      "smtp://127.0.0.1:2525", "off", NULL, NULL, "parley@example.org", NULL, 3, 2, 20, 1000};
  return o;
}

static void run_until(uv_loop_t *loop, int (*cond)(void *), void *arg) {
  for (int i = 0; i < 2000 && !cond(arg); i++) {
    uv_run(loop, UV_RUN_NOWAIT);
    usleep(1000);
  }
}

static int nreqs_at_least_2(void *arg) { return ((httpc_t *)arg)->nreqs >= 2; }
static int nothing_pending(void *arg) { return mail_pending(arg) == 0; }

static void done_flag(void *arg) { *(int *)arg = 1; }

static void close_all(uv_loop_t *loop, mail_t *m, httpc_t *h) {
  int done = 0;
  mail_close(m, done_flag, &done);
  httpc_close(h, NULL, NULL);
  uv_run(loop, UV_RUN_DEFAULT);
  assert_true(done);
  assert_int_equal(uv_loop_close(loop), 0);
}

static void the_message_is_rfc5322_with_crlf(void **state) {
  size_t len = 0;
  char *msg = mail_format("parley@example.org", "ann@example.com", "Hello",
                          "line one\nline two\r\n.dot line", 0, &len);
  assert_non_null(msg);
  assert_int_equal(strlen(msg), len);
  assert_non_null(strstr(msg, "Date: Thu, 01 Jan 1970 00:00:00 +0000\r\n"));
  assert_non_null(strstr(msg, "From: parley@example.org\r\nTo: ann@example.com\r\n"));
  assert_non_null(strstr(msg, "Subject: Hello\r\n"));
  assert_non_null(strstr(msg, "@example.org>\r\n"));
  assert_non_null(strstr(msg, "charset=utf-8\r\n"));
  assert_non_null(strstr(msg, "\r\n\r\nline one\r\nline two\r\n.dot line\r\n"));
  assert_null(strstr(msg, "\r\r"));
  free(msg);
}

static void a_failure_is_retried_and_a_5xx_is_not(void **state) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  httpc_t *h = httpc_new(&loop);
  mail_options_t o = smtp_options();
  mail_t *m = mail_new(&loop, h, &o);
  assert_non_null(m);
  assert_int_equal(mail_send(m, "ann@example.com", "One", "first"), 0);
  assert_int_equal(h->nreqs, 1);
  assert_string_equal(h->reqs[0].method, "MAIL");
  assert_string_equal(h->reqs[0].auth, "ann@example.com");
  assert_non_null(strstr(h->reqs[0].body, "Subject: One\r\n"));
  httpc_fake_answer(h, 0, NULL, "Couldn't connect to server");
  assert_int_equal(mail_pending(m), 1); /* waits for its retry */
  run_until(&loop, nreqs_at_least_2, h);
  assert_int_equal(h->nreqs, 2);
  httpc_fake_answer(h, 250, "", NULL);
  assert_int_equal(mail_pending(m), 0);
  assert_int_equal(mail_sent(m), 1);
  /* A permanent refusal is not tried again. */
  assert_int_equal(mail_send(m, "bob@example.com", "Two", "second"), 0);
  httpc_fake_answer(h, 550, "", NULL);
  assert_int_equal(mail_pending(m), 0);
  assert_int_equal(mail_failed(m), 1);
  assert_int_equal(h->nreqs, 3);
  close_all(&loop, m, h);
}

static void the_queue_is_bounded_and_two_go_at_once(void **state) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  httpc_t *h = httpc_new(&loop);
  mail_options_t o = smtp_options();
  mail_t *m = mail_new(&loop, h, &o);
  for (int i = 0; i < 3; i++) assert_int_equal(mail_send(m, "a@example.com", "S", "t"), 0);
  assert_int_equal(mail_send(m, "a@example.com", "S", "t"), -1); /* queue_max 3 */
  assert_int_equal(h->nreqs, 2);                                 /* two in flight */
  httpc_fake_answer(h, 250, "", NULL);
  assert_int_equal(h->nreqs, 3); /* the third starts when a slot frees */
  httpc_fake_answer(h, 250, "", NULL);
  httpc_fake_answer(h, 250, "", NULL);
  assert_int_equal(mail_sent(m), 3);
  close_all(&loop, m, h);
}

static void without_smtp_mail_goes_to_files(void **state) {
  char dir[] = "/tmp/parley-mail-XXXXXX";
  assert_non_null(mkdtemp(dir));
  char sub[64];
  snprintf(sub, sizeof(sub), "%s/mail", dir);
  uv_loop_t loop;
  uv_loop_init(&loop);
  httpc_t *h = httpc_new(&loop);
  mail_options_t o = smtp_options();
  o.smtp_url = NULL;
  o.dir = sub;
  mail_t *m = mail_new(&loop, h, &o);
  assert_non_null(m);
  struct stat st;
  assert_int_equal(stat(sub, &st), 0);
  assert_int_equal(st.st_mode & 0777, 0700);
  assert_int_equal(mail_send(m, "ann@example.com", "Filed", "in a file"), 0);
  run_until(&loop, nothing_pending, m);
  assert_int_equal(mail_sent(m), 1);
  assert_int_equal(h->nreqs, 0);
  close_all(&loop, m, h);
  char cmd[160];
  snprintf(cmd, sizeof(cmd), "grep -l 'Subject: Filed' %s/*.eml >/dev/null && rm -r %s", sub, dir);
  assert_int_equal(system(cmd), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(the_message_is_rfc5322_with_crlf),
      cmocka_unit_test(a_failure_is_retried_and_a_5xx_is_not),
      cmocka_unit_test(the_queue_is_bounded_and_two_go_at_once),
      cmocka_unit_test(without_smtp_mail_goes_to_files),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
