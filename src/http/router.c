/* Route matching: a linear walk over static tables, comparing path segments,
 * with ":name" segments captured as params. No I/O, no allocation beyond the
 * captured values; router_streams keeps an index of the streaming routes of the
 * tables it was last given (loop thread). */
#include "parley/router.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Matches one pattern against path; on success fills names/values (values are
 * [start, len) slices of path). Returns the number of params, or -1. One pass
 * over each segment: most patterns differ from the path within a few bytes,
 * and every request walks hundreds of them. */
static int match_pattern(const char *pattern, const char *path, const char **names,
                         size_t *name_lens, const char **vals, size_t *val_lens) {
  int n = 0;
  const char *p = pattern, *s = path;
  while (*p && *s) {
    if (*p != '/' || *s != '/') return -1;
    p++;
    s++;
    if (*p == ':') {
      const char *name = ++p, *val = s;
      while (*p && *p != '/') p++;
      while (*s && *s != '/') s++;
      if (s == val || n == HTTP_MAX_PARAMS) return -1;
      names[n] = name;
      name_lens[n] = (size_t)(p - name);
      vals[n] = val;
      val_lens[n] = (size_t)(s - val);
      n++;
      continue;
    }
    while (*p && *p != '/' && *p == *s) {
      p++;
      s++;
    }
    /* Both segments must end here: a shorter, longer or different one fails. */
    if ((*p && *p != '/') || (*s && *s != '/')) return -1;
  }
  /* A single trailing slash on the path is tolerated. */
  if (*p == '\0' && (*s == '\0' || (s[0] == '/' && s[1] == '\0'))) return n;
  return -1;
}

static void add_allow(char *allow, size_t allowlen, const char *method) {
  if (!allow || !allowlen) return;
  size_t used = strlen(allow);
  if (strstr(allow, method)) return;
  snprintf(allow + used, allowlen - used, "%s%s", used ? ", " : "", method);
}

int router_match(const route_table_t *const *tables, size_t ntables, http_req_t *req,
                 const route_t **out, char *allow, size_t allowlen) {
  const char *names[HTTP_MAX_PARAMS], *vals[HTTP_MAX_PARAMS];
  size_t nlens[HTTP_MAX_PARAMS], vlens[HTTP_MAX_PARAMS];
  int path_matched = 0;
  if (allow && allowlen) allow[0] = '\0';
  for (size_t t = 0; t < ntables; t++) {
    for (size_t i = 0; i < tables[t]->count; i++) {
      const route_t *r = &tables[t]->routes[i];
      int n = match_pattern(r->pattern, req->path, names, nlens, vals, vlens);
      if (n < 0) continue;
      int same_method = strcmp(r->method, req->method) == 0 ||
                        (strcmp(req->method, "HEAD") == 0 && strcmp(r->method, "GET") == 0);
      if (!same_method) {
        path_matched = 1;
        add_allow(allow, allowlen, r->method);
        continue;
      }
      for (int k = 0; k < n; k++) {
        req->param_names[k] = names[k]; /* points into the static pattern */
        req->param_values[k] = strndup(vals[k], vlens[k]);
      }
      req->nparams = n;
      req->route = r->pattern;
      *out = r;
      return ROUTER_FOUND;
    }
  }
  return path_matched ? ROUTER_BAD_METHOD : ROUTER_NOT_FOUND;
}

/* The ROUTE_STREAM routes of the tables last asked about: the server asks about
 * the same static tables for every request, and only one or two of their
 * hundreds of routes stream. Loop thread (the router's only caller). */
#define STREAM_ROUTES_MAX 16
static struct {
  const route_table_t *const *tables;
  size_t ntables, n;
  int overflow;
  const route_t *routes[STREAM_ROUTES_MAX];
} streams;

static void index_streams(const route_table_t *const *tables, size_t ntables) {
  streams.tables = tables;
  streams.ntables = ntables;
  streams.n = 0;
  streams.overflow = 0;
  for (size_t t = 0; t < ntables; t++)
    for (size_t i = 0; i < tables[t]->count; i++) {
      if (!(tables[t]->routes[i].auth & ROUTE_STREAM)) continue;
      if (streams.n == STREAM_ROUTES_MAX) {
        streams.overflow = 1;
        return;
      }
      streams.routes[streams.n++] = &tables[t]->routes[i];
    }
}

int router_streams(const route_table_t *const *tables, size_t ntables, const char *method,
                   const char *path) {
  const char *names[HTTP_MAX_PARAMS], *vals[HTTP_MAX_PARAMS];
  size_t nlens[HTTP_MAX_PARAMS], vlens[HTTP_MAX_PARAMS];
  if (streams.tables != tables || streams.ntables != ntables) index_streams(tables, ntables);
  if (!streams.overflow) {
    for (size_t i = 0; i < streams.n; i++) {
      const route_t *r = streams.routes[i];
      if (r->method[0] == method[0] && strcmp(r->method, method) == 0 &&
          match_pattern(r->pattern, path, names, nlens, vals, vlens) >= 0)
        return 1;
    }
    return 0;
  }
  for (size_t t = 0; t < ntables; t++)
    for (size_t i = 0; i < tables[t]->count; i++) {
      const route_t *r = &tables[t]->routes[i];
      if (!(r->auth & ROUTE_STREAM) || strcmp(r->method, method) != 0) continue;
      if (match_pattern(r->pattern, path, names, nlens, vals, vlens) >= 0) return 1;
    }
  return 0;
}
