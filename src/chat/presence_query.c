/* presence_query: a user's contacts through CONV_LIST pages, and users'
 * records with their liveness through USER_GET_MANY and one bus count of all
 * (see presence_query.h). Owns each query until its callback. Loop thread. */
#include "chat/presence_query.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chat/presence_view.h"
#include "parley/bus.h"
#include "parley/store.h"

#define CONTACTS_PAGE 100     /* conversations read per CONV_LIST page */
#define CONTACTS_MAX_PAGES 20 /* bounds the work of one query */

/* ---- contacts ---- */

typedef struct contacts_s {
  app_t *app;
  char user[64];
  size_t max;
  int pages;
  json_t *seen; /* user id -> true */
  json_t *ids;  /* in the order met */
  presence_ids_fn cb;
  void *ctx;
} contacts_t;

static void contacts_free(contacts_t *q) {
  json_decref(q->seen);
  json_decref(q->ids);
  free(q);
}

static int contacts_page(contacts_t *q, const char *cursor);

/* Adds the page's participants; returns 1 once max is reached. */
static int contacts_add(contacts_t *q, json_t *result) {
  size_t i, k;
  json_t *c, *p;
  json_array_foreach(json_object_get(result, "conversations"), i, c) {
    json_array_foreach(json_object_get(c, "participants"), k, p) {
      const char *id = json_string_value(json_object_get(p, "id"));
      if (!id || strcmp(id, q->user) == 0 || json_object_get(q->seen, id)) continue;
      if (q->max && json_array_size(q->ids) >= q->max) return 1;
      json_object_set_new(q->seen, id, json_true());
      json_array_append_new(q->ids, json_string(id));
    }
  }
  return 0;
}

static void on_contacts_page(void *ctx, int status, json_t *result) {
  contacts_t *q = ctx;
  if (status != STORE_OK || q->app->shutting_down) {
    q->cb(q->ctx, status != STORE_OK ? status : STORE_ECLOSED, NULL);
    goto done;
  }
  int full = contacts_add(q, result);
  const char *cursor = json_string_value(json_object_get(result, "next_cursor"));
  if (!full && cursor && ++q->pages < CONTACTS_MAX_PAGES && contacts_page(q, cursor) == 0) {
    json_decref(result);
    return;
  }
  q->cb(q->ctx, STORE_OK, json_incref(q->ids));
done:
  json_decref(result);
  contacts_free(q);
}

static int contacts_page(contacts_t *q, const char *cursor) {
  json_t *params = json_pack("{s:s, s:i}", "user_id", q->user, "limit", CONTACTS_PAGE);
  if (!params || !q->app->store) {
    json_decref(params);
    return -1;
  }
  if (cursor) json_object_set_new(params, "cursor", json_string(cursor));
  return store_call(q->app->store, CONV_LIST, params, on_contacts_page, q);
}

int presence_contacts(app_t *app, const char *user_id, size_t max, presence_ids_fn cb, void *ctx) {
  contacts_t *q = calloc(1, sizeof(*q));
  if (!q) return -1;
  q->app = app;
  snprintf(q->user, sizeof(q->user), "%s", user_id);
  q->max = max;
  q->cb = cb;
  q->ctx = ctx;
  q->seen = json_object();
  q->ids = json_array();
  if (!q->seen || !q->ids || contacts_page(q, NULL) != 0) {
    contacts_free(q);
    return -1;
  }
  return 0;
}

/* ---- lookup ---- */

typedef struct lookup_s {
  app_t *app;
  json_t *users; /* the store's answer, marked once the counts come back */
  presence_users_fn cb;
  void *ctx;
} lookup_t;

static void lookup_finish(lookup_t *q) {
  q->cb(q->ctx, STORE_OK, q->users);
  free(q);
}

/* counts[k] belongs to the k-th user that has an id, in array order. A failed
 * count reads as "not alive": presence errs towards offline. */
static void on_counts(void *ctx, int status, const long long *counts, size_t n) {
  lookup_t *q = ctx;
  size_t i, k = 0;
  json_t *u;
  json_array_foreach(q->users, i, u) {
    if (!json_is_string(json_object_get(u, "id"))) continue;
    int alive = status == 0 && counts && k < n && counts[k] > 0;
    json_object_set_new(u, "alive", json_boolean(alive));
    k++;
  }
  lookup_finish(q);
}

/* Marks every user not alive, then asks the bus about all of them at once. */
static void mark(lookup_t *q) {
  size_t i, n = 0;
  json_t *u;
  const char **ids = calloc(json_array_size(q->users) + 1, sizeof(*ids));
  json_array_foreach(q->users, i, u) {
    json_object_set_new(u, "alive", json_false());
    const char *id = json_string_value(json_object_get(u, "id"));
    if (id && ids) ids[n++] = id;
  }
  int asked = ids && n > 0 && n <= BUS_PRESENCE_MANY && q->app->bus &&
              bus_presence_counts(q->app->bus, ids, n, on_counts, q) == 0;
  free(ids);
  if (!asked) lookup_finish(q);
}

static void on_users(void *ctx, int status, json_t *result) {
  lookup_t *q = ctx;
  if (status != STORE_OK) {
    q->cb(q->ctx, status, NULL);
    json_decref(result);
    free(q);
    return;
  }
  q->users = json_incref(json_object_get(result, "users"));
  json_decref(result);
  if (!q->users) q->users = json_array();
  mark(q);
}

int presence_mark(app_t *app, json_t *users, presence_users_fn cb, void *ctx) {
  lookup_t *q = json_is_array(users) ? calloc(1, sizeof(*q)) : NULL;
  if (!q) {
    json_decref(users);
    return -1;
  }
  q->app = app;
  q->cb = cb;
  q->ctx = ctx;
  q->users = users;
  mark(q);
  return 0;
}

int presence_lookup(app_t *app, const json_t *ids, presence_users_fn cb, void *ctx) {
  if (!app->store || !json_is_array(ids) || json_array_size(ids) > PRESENCE_VIEW_MAX_USERS)
    return -1;
  lookup_t *q = calloc(1, sizeof(*q));
  if (!q) return -1;
  q->app = app;
  q->cb = cb;
  q->ctx = ctx;
  json_t *params = json_pack("{s:O}", "ids", (json_t *)ids);
  if (!params || store_call(app->store, USER_GET_MANY, params, on_users, q) != 0) {
    free(q);
    return -1;
  }
  return 0;
}
