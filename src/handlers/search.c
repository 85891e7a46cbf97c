/* GET /api/search/messages (API.md, Search): checks the query and filters,
 * asks the store for one ranked page of the caller's messages (MSG_SEARCH, on
 * the store's own thread), and answers each with its snippet and code-point
 * highlights (chat/search.c). The cursor is the offset into the ranking, which
 * the store bounds by its window. Loop thread. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chat/attach_url.h"
#include "chat/fields.h"
#include "chat/search.h"
#include "handlers/common.h"
#include "handlers/handlers.h"
#include "parley/util.h"

#define SEARCH_LIMIT_DEFAULT 20
#define SEARCH_WINDOW 1000 /* matches ranked per query, newest first */
#define SEARCH_Q_BUF 4096  /* room for 256 code points and more: longer is refused */
#define CURSOR_PREFIX "s1."

typedef struct {
  http_req_t *req;
  json_t *terms;
  long long offset, limit;
} search_job_t;

static void reply_invalid(http_req_t *req, const char *field, const char *message) {
  http_reply_error(req, 400, "validation_failed", message, field);
}

/* ---- parameters ---- */

static int parse_q(http_req_t *req, json_t **terms) {
  char *q = malloc(SEARCH_Q_BUF);
  long n = q ? http_req_query(req, "q", q, SEARCH_Q_BUF) : -2;
  int rc = n >= 0 ? search_parse(q, (size_t)n, terms) : SEARCH_ETOOLONG;
  free(q);
  if (n == -1) {
    reply_invalid(req, "q", "q is required");
    return -1;
  }
  if (rc == SEARCH_ETOOLONG)
    reply_invalid(req, "q", "q must be at most 256 characters");
  else if (rc == SEARCH_EUTF8)
    reply_invalid(req, "q", "q must be valid UTF-8");
  else if (rc == SEARCH_ENOWORDS)
    reply_invalid(req, "q", "q must contain a word, not only spaces and punctuation");
  return rc == SEARCH_OK ? 0 : -1;
}

/* conversation_id: a store id (24 lowercase hex); sender_id: a user id or an
 * Instagram contact ("ig:<digits>"). Absent: 0; set in params: 1; bad: -1
 * after replying. */
static int id_filter(http_req_t *req, const char *name, int contact_ok, json_t *params) {
  char v[FIELDS_ID_MAX + 2];
  long n = http_req_query(req, name, v, sizeof(v));
  if (n == -1) return 0;
  int ok = n > 0;
  const char *s = v;
  if (ok && contact_ok && strncmp(v, "ig:", 3) == 0) {
    for (s = v + 3; *s; s++) ok = ok && *s >= '0' && *s <= '9';
    ok = ok && n > 3;
  } else if (ok) {
    ok = n == 24;
    for (; *s; s++) ok = ok && ((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f'));
  }
  if (!ok) {
    char msg[96];
    snprintf(msg, sizeof(msg), "%s is not an id", name);
    reply_invalid(req, name, msg);
    return -1;
  }
  json_object_set_new(params, name, json_string(v));
  return 1;
}

/* before / after: API.md's timestamps; stored in params in the stores' own
 * form. Absent: 0 (*ms untouched); 1; -1 after replying. */
static int date_filter(http_req_t *req, const char *name, json_t *params, int64_t *ms) {
  char v[40], iso[32];
  long n = http_req_query(req, name, v, sizeof(v));
  if (n == -1) return 0;
  /* The round trip refuses what the parser would normalise (month 13). */
  if (n < 0 || util_parse_iso8601(v, ms) != 0 || (util_iso8601(*ms, iso), strcmp(iso, v) != 0)) {
    char msg[96];
    snprintf(msg, sizeof(msg), "%s must be a timestamp like 2026-11-21T10:00:00.000Z", name);
    reply_invalid(req, name, msg);
    return -1;
  }
  json_object_set_new(params, name, json_string(iso));
  return 1;
}

/* "s1.<offset>" as next_cursor gave it; 0 and *offset, or -1 after replying. */
static int parse_cursor(http_req_t *req, long long *offset) {
  char v[24];
  long n = http_req_query(req, "cursor", v, sizeof(v));
  *offset = 0;
  if (n == -1) return 0;
  char *end = NULL;
  const char *digits = v + strlen(CURSOR_PREFIX);
  if (n > 0 && strncmp(v, CURSOR_PREFIX, strlen(CURSOR_PREFIX)) == 0 && *digits >= '0' &&
      *digits <= '9' && strlen(digits) <= 6)
    *offset = strtoll(digits, &end, 10);
  if (!end || *end || *offset <= 0 || *offset >= SEARCH_WINDOW) {
    reply_invalid(req, "cursor", "cursor is not one this server gave");
    return -1;
  }
  return 0;
}

/* The store's parameters, or NULL after replying 400. */
static json_t *search_params(http_req_t *req, search_job_t *job) {
  json_t *params = json_pack("{s:s, s:o, s:i}", "user_id", req->user_id, "exclude_types",
                             search_excluded_types(), "window", SEARCH_WINDOW);
  int64_t before = 0, after = 0;
  int has_before, has_after;
  if (handlers_query_int(req, "limit", 1, FIELDS_LIMIT_MAX, SEARCH_LIMIT_DEFAULT, &job->limit) <
          0 ||
      parse_cursor(req, &job->offset) < 0 || id_filter(req, "conversation_id", 0, params) < 0 ||
      id_filter(req, "sender_id", 1, params) < 0 ||
      (has_before = date_filter(req, "before", params, &before)) < 0 ||
      (has_after = date_filter(req, "after", params, &after)) < 0)
    goto fail;
  if (has_before && has_after && after >= before) {
    reply_invalid(req, "after", "after must be earlier than before");
    goto fail;
  }
  json_object_set(params, "terms", job->terms);
  json_object_set_new(params, "offset", json_integer(job->offset));
  json_object_set_new(params, "limit", json_integer(job->limit));
  return params;
fail:
  json_decref(params);
  return NULL;
}

/* ---- the answer ---- */

static json_t *result_view(json_t *hit, json_t *terms) {
  json_t *m = json_object_get(hit, "message");
  json_t *snippet = search_snippet(json_string_value(json_object_get(m, "text")), terms);
  if (!snippet) return NULL;
  return json_pack("{s:O, s:O, s:o}", "message", m, "conversation_id",
                   json_object_get(m, "conversation_id"), "snippet", snippet);
}

static void found(void *ctx, int status, json_t *result) {
  search_job_t *job = ctx;
  http_req_t *req = job->req;
  if (status != STORE_OK) {
    handlers_reply_store_error(req, status);
  } else {
    json_t *results = json_array(), *hit;
    size_t i;
    json_array_foreach(json_object_get(result, "results"), i, hit) {
      attach_url_message(req->app, json_object_get(hit, "message"));
      json_t *view = result_view(hit, job->terms);
      if (view) json_array_append_new(results, view);
    }
    json_t *next = json_null();
    if (json_is_true(json_object_get(result, "has_more"))) {
      char cursor[32];
      snprintf(cursor, sizeof(cursor), CURSOR_PREFIX "%lld", job->offset + job->limit);
      json_decref(next);
      next = json_string(cursor);
    }
    http_reply_json(req, 200, json_pack("{s:o, s:o}", "results", results, "next_cursor", next));
  }
  json_decref(result);
  json_decref(job->terms);
  free(job);
  http_req_unref(req);
}

static void search_messages(http_req_t *req) {
  search_job_t *job = calloc(1, sizeof(*job));
  if (!job) {
    http_reply_error(req, 503, "unavailable", "out of memory", NULL);
    return;
  }
  job->req = req;
  json_t *params = NULL;
  if (parse_q(req, &job->terms) == 0) params = search_params(req, job);
  if (!params) {
    json_decref(job->terms);
    free(job);
    return;
  }
  /* handlers_store_call's callback context is the request; the job carries it. */
  http_req_ref(req);
  if (store_call(req->app->store, MSG_SEARCH, params, found, job) != 0) {
    http_req_unref(req);
    json_decref(job->terms);
    free(job);
    handlers_reply_store_error(req, STORE_EUNAVAILABLE);
  }
}

static const route_t routes[] = {
    {"GET", "/api/search/messages", 1, search_messages},
};

const route_table_t search_routes = ROUTE_TABLE(routes);
