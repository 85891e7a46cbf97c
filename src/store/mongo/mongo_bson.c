/* JSON <-> BSON for the MongoDB backend: values by hand (so no BSON type
 * leaks into results), field readers, and the parameter readers the operations
 * share. Pure functions; any thread. */
#include <string.h>

#include "parley/util.h"
#include "store/mongo/mongo_internal.h"

void mongo_bson_append_json(bson_t *b, const char *key, json_t *v) {
  switch (v ? json_typeof(v) : JSON_NULL) {
    case JSON_STRING:
      bson_append_utf8(b, key, -1, json_string_value(v), (int)json_string_length(v));
      break;
    case JSON_INTEGER:
      bson_append_int64(b, key, -1, json_integer_value(v));
      break;
    case JSON_REAL:
      bson_append_double(b, key, -1, json_real_value(v));
      break;
    case JSON_TRUE:
      bson_append_bool(b, key, -1, true);
      break;
    case JSON_FALSE:
      bson_append_bool(b, key, -1, false);
      break;
    case JSON_OBJECT: {
      bson_t child;
      const char *k;
      json_t *e;
      bson_append_document_begin(b, key, -1, &child);
      json_object_foreach(v, k, e) mongo_bson_append_json(&child, k, e);
      bson_append_document_end(b, &child);
      break;
    }
    case JSON_ARRAY: {
      bson_t child;
      char idx[24];
      size_t i;
      json_t *e;
      bson_append_array_begin(b, key, -1, &child);
      json_array_foreach(v, i, e) {
        snprintf(idx, sizeof(idx), "%zu", i);
        mongo_bson_append_json(&child, idx, e);
      }
      bson_append_array_end(b, &child);
      break;
    }
    default:
      bson_append_null(b, key, -1);
      break;
  }
}

static json_t *iso_json(int64_t ms) {
  char buf[32];
  util_iso8601(ms, buf);
  return json_string(buf);
}

static json_t *container_json(const bson_iter_t *it, int array) {
  bson_iter_t child;
  json_t *out = array ? json_array() : json_object();
  if (!bson_iter_recurse(it, &child)) return out;
  while (bson_iter_next(&child)) {
    json_t *v = mongo_bson_iter_json(&child);
    if (array)
      json_array_append_new(out, v);
    else
      json_object_set_new(out, strcmp(bson_iter_key(&child), "_id") ? bson_iter_key(&child) : "id",
                          v);
  }
  return out;
}

json_t *mongo_bson_iter_json(const bson_iter_t *it) {
  switch (bson_iter_type(it)) {
    case BSON_TYPE_UTF8: {
      uint32_t len;
      const char *s = bson_iter_utf8(it, &len);
      return json_stringn(s, len);
    }
    case BSON_TYPE_INT32:
      return json_integer(bson_iter_int32(it));
    case BSON_TYPE_INT64:
      return json_integer(bson_iter_int64(it));
    case BSON_TYPE_DOUBLE:
      return json_real(bson_iter_double(it));
    case BSON_TYPE_BOOL:
      return json_boolean(bson_iter_bool(it));
    case BSON_TYPE_DATE_TIME:
      return iso_json(bson_iter_date_time(it));
    case BSON_TYPE_OID: {
      char hex[25];
      bson_oid_to_string(bson_iter_oid(it), hex);
      return json_string(hex);
    }
    case BSON_TYPE_DOCUMENT:
      return container_json(it, 0);
    case BSON_TYPE_ARRAY:
      return container_json(it, 1);
    default:
      return json_null();
  }
}

static int find(const bson_t *doc, const char *key, bson_iter_t *it) {
  bson_iter_t top;
  if (!doc || !bson_iter_init(&top, doc)) return 0;
  return strchr(key, '.') ? bson_iter_find_descendant(&top, key, it)
                          : (*it = top, bson_iter_find(it, key));
}

const char *mongo_bson_str(const bson_t *doc, const char *key) {
  bson_iter_t it;
  if (!find(doc, key, &it) || !BSON_ITER_HOLDS_UTF8(&it)) return NULL;
  return bson_iter_utf8(&it, NULL);
}

int64_t mongo_bson_int(const bson_t *doc, const char *key, int64_t def) {
  bson_iter_t it;
  if (!find(doc, key, &it)) return def;
  if (BSON_ITER_HOLDS_INT32(&it)) return bson_iter_int32(&it);
  if (BSON_ITER_HOLDS_INT64(&it)) return bson_iter_int64(&it);
  if (BSON_ITER_HOLDS_DOUBLE(&it)) return (int64_t)bson_iter_double(&it);
  if (BSON_ITER_HOLDS_DATE_TIME(&it)) return bson_iter_date_time(&it);
  return def;
}

int mongo_bson_bool(const bson_t *doc, const char *key) {
  bson_iter_t it;
  return find(doc, key, &it) && bson_iter_as_bool(&it);
}

json_t *mongo_bson_json(const bson_t *doc, const char *key) {
  bson_iter_t it;
  if (!find(doc, key, &it)) return json_null();
  return mongo_bson_iter_json(&it);
}

json_t *mongo_bson_iso(const bson_t *doc, const char *key) {
  bson_iter_t it;
  if (!find(doc, key, &it)) return json_null();
  if (BSON_ITER_HOLDS_DATE_TIME(&it)) return iso_json(bson_iter_date_time(&it));
  if (BSON_ITER_HOLDS_INT64(&it) || BSON_ITER_HOLDS_INT32(&it))
    return iso_json(bson_iter_as_int64(&it));
  return json_null();
}

json_t *mongo_bson_parsed(const bson_t *doc, const char *key, json_t *def) {
  const char *s = mongo_bson_str(doc, key);
  json_t *v = s ? json_loads(s, JSON_DECODE_ANY, NULL) : NULL;
  if (!v) return def ? def : json_null();
  json_decref(def);
  return v;
}

void mongo_bson_append_text(bson_t *b, const char *key, json_t *v) {
  char *s = json_dumps(v ? v : json_null(), JSON_COMPACT | JSON_ENCODE_ANY);
  bson_append_utf8(b, key, -1, s ? s : "null", -1);
  free(s);
}

int64_t mongo_bson_time_param(json_t *v) {
  int64_t ms;
  if (json_is_integer(v)) return json_integer_value(v);
  if (json_is_string(v) && util_parse_iso8601(json_string_value(v), &ms) == 0) return ms;
  return -1;
}

const char *mongo_param_str(json_t *params, const char *key) {
  json_t *v = json_object_get(params, key);
  return json_is_string(v) ? json_string_value(v) : NULL;
}

int mongo_param_int(json_t *params, const char *key, int64_t *out) {
  json_t *v = json_object_get(params, key);
  if (!json_is_integer(v)) return -1;
  *out = json_integer_value(v);
  return 0;
}
