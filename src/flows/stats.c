/* Flow analytics: what a run adds to its flow's counters, the stats view built
 * from them, and which sent button a postback names. Pure; any thread. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "parley/flows_stats.h"

static const char *sget(const json_t *o, const char *k) {
  return json_string_value(json_object_get(o, k));
}

/* The string at k, or "" when there is none. */
static const char *sget0(const json_t *o, const char *k) {
  const char *v = sget(o, k);
  return v ? v : "";
}

/* The node types that send text with buttons or quick replies. */
static int is_sender(const char *type) {
  return strcmp(type, "message") == 0 || strcmp(type, "ask") == 0;
}

/* prefix and id joined into key (of size KEY_MAX), without snprintf's format
 * parsing: a piece's dozen counters are named on every run. */
#define KEY_MAX 128
static void key_of(char *key, const char *prefix, const char *id) {
  size_t p = strlen(prefix), n = id ? strlen(id) : 0;
  if (p >= KEY_MAX) p = KEY_MAX - 1;
  if (n > KEY_MAX - 1 - p) n = KEY_MAX - 1 - p;
  memcpy(key, prefix, p);
  if (n) memcpy(key + p, id, n);
  key[p + n] = '\0';
}

static void add(json_t *inc, const char *prefix, const char *id) {
  char key[KEY_MAX];
  key_of(key, prefix, id);
  json_t *was = json_object_get(inc, key);
  if (was)
    json_integer_set(was, json_integer_value(was) + 1);
  else
    json_object_set_new(inc, key, json_integer(1));
}

/* The node ids of the trace's entries ("" where an entry has none): the nodes
 * seen before an entry are compared in C, not looked up member by member. */
#define IDS_ON_STACK 64

json_t *flow_stats_delta(const json_t *trace, size_t from, int started, const char *day,
                         const char *status) {
  static const char *const finals[] = {"completed", "failed", "step_limit", "output_limit"};
  json_t *inc = json_object();
  size_t n = json_array_size(trace);
  const char *stack[IDS_ON_STACK], **ids = n <= IDS_ON_STACK ? stack : malloc(n * sizeof(*ids));
  if (!inc || !ids) {
    if (ids && ids != stack) free(ids);
    json_decref(inc);
    return NULL;
  }
  if (started) {
    add(inc, "started", NULL);
    if (day) add(inc, "day:", day);
  }
  for (size_t i = 0; i < n; i++) ids[i] = sget0(json_array_get(trace, i), "node_id");
  for (size_t i = from; i < n; i++) {
    const json_t *e = json_array_get(trace, i);
    const char *id = sget(e, "node_id");
    if (!id) continue;
    size_t k = 0;
    while (k < i && strcmp(ids[k], id) != 0) k++;
    if (k == i) add(inc, "node:", id); /* not seen before in the run */
    /* A message (or an ask's question) the engine rendered; one cut by
     * output_limit has no text. */
    if (is_sender(sget0(e, "type")) &&
        json_is_string(json_object_get(json_object_get(e, "result"), "text")))
      add(inc, "sent:", id);
  }
  if (ids != stack) free(ids);
  for (size_t i = 0; status && i < sizeof(finals) / sizeof(finals[0]); i++)
    if (strcmp(status, finals[i]) == 0) add(inc, finals[i], NULL);
  return inc;
}

static json_int_t count(const json_t *counters, const char *prefix, const char *id) {
  char key[128];
  snprintf(key, sizeof(key), "%s%s", prefix, id ? id : "");
  return json_integer_value(json_object_get(counters, key));
}

static int by_date(const void *a, const void *b) {
  return strcmp(sget(*(json_t *const *)a, "date"), sget(*(json_t *const *)b, "date"));
}

json_t *flow_stats_view(const json_t *flow, const json_t *counters, const json_t *version) {
  /* Distinct contacts: the version's set, or over all versions the flow's. */
  const char *contacts = version && json_is_integer(version) ? "contacts:" : "contacts_all:";
  json_t *runs = json_object(), *nodes = json_array(), *days = json_array();
  static const char *const keys[] = {"started", "completed", "failed", "step_limit",
                                     "output_limit"};
  for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
    json_object_set_new(runs, keys[i], json_integer(count(counters, keys[i], NULL)));
  const json_t *n;
  size_t i;
  json_array_foreach(json_object_get(flow, "nodes"), i, n) {
    const char *id = sget(n, "id");
    if (!id) continue;
    json_int_t sent = count(counters, "sent:", id), clicks = count(counters, "click:", id);
    json_array_append_new(
        nodes,
        json_pack("{s:s, s:s?, s:I, s:I, s:I, s:I, s:o}", "node_id", id, "type", sget(n, "type"),
                  "reached", count(counters, contacts, id), "runs", count(counters, "node:", id),
                  "sent", sent, "clicks", clicks, "click_through",
                  sent ? json_real((double)clicks / (double)sent) : json_null()));
  }
  const char *key;
  json_t *v;
  json_object_foreach((json_t *)counters, key, v) {
    if (strncmp(key, "day:", 4) == 0)
      json_array_append_new(
          days, json_pack("{s:s, s:I}", "date", key + 4, "started", json_integer_value(v)));
  }
  /* Counters come in no order (an object): the chart wants days in order. */
  size_t nd = json_array_size(days);
  json_t *sorted = json_array();
  if (nd) {
    json_t **items = malloc(nd * sizeof(*items));
    if (items) {
      for (i = 0; i < nd; i++) items[i] = json_array_get(days, i);
      qsort(items, nd, sizeof(*items), by_date);
      for (i = 0; i < nd; i++) json_array_append(sorted, items[i]);
      free(items);
    }
  }
  json_decref(days);
  return json_pack("{s:O, s:o, s:o, s:o}", "version", version ? version : json_null(), "runs", runs,
                   "nodes", nodes, "days", sorted);
}

static int has_payload(const json_t *list, const char *payload) {
  const json_t *b;
  size_t i;
  json_array_foreach(list, i, b) {
    const char *p = sget(b, "payload");
    if (p && strcmp(p, payload) == 0) return 1;
  }
  return 0;
}

const char *flow_stats_click_node(const json_t *flow, const char *payload) {
  const json_t *n;
  size_t i;
  if (!payload) return NULL;
  json_array_foreach(json_object_get(flow, "nodes"), i, n) {
    const json_t *d = json_object_get(n, "data");
    if (!is_sender(sget0(n, "type"))) continue;
    if (has_payload(json_object_get(d, "buttons"), payload) ||
        has_payload(json_object_get(d, "quick_replies"), payload))
      return sget(n, "id");
  }
  return NULL;
}
