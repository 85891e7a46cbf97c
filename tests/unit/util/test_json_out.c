/* json_out_dumps writes what json_dumps(JSON_COMPACT) writes: fixed values
 * with every kind of escape, and many random nested values compared byte for
 * byte with jansson's text. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "parley/json_out.h"

#define POW10_MAX 1000000000000000000LL /* 10^18, the largest power of ten of an int64 */

static void same_as_jansson(const json_t *v) {
  char *want = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
  size_t len = 0;
  char *got = json_out_dumps(v, &len);
  assert_non_null(want);
  assert_non_null(got);
  assert_int_equal(len, strlen(want));
  assert_string_equal(got, want);
  free(want);
  free(got);
}

static void test_escapes_and_kinds(void **state) {
  json_t *m = json_object();
  json_object_set_new(m, "type", json_string("message.new"));
  json_object_set_new(m, "quote\"back\\slash/", json_string("a\"b\\c/d\b\f\n\r\t\x01\x1f\x7f"));
  json_object_set_new(m, "nul", json_stringn("a\0b", 3));
  json_object_set_new(m, "utf8", json_string("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"));
  json_object_set_new(m, "seq", json_integer(-9223372036854775807LL - 1));
  json_object_set_new(m, "big", json_integer(9223372036854775807LL));
  json_object_set_new(m, "zero", json_integer(0));
  json_object_set_new(m, "real", json_real(1.0));
  json_object_set_new(m, "third", json_real(1.0 / 3));
  json_object_set_new(m, "t", json_true());
  json_object_set_new(m, "f", json_false());
  json_object_set_new(m, "n", json_null());
  json_object_set_new(m, "empty_o", json_object());
  json_object_set_new(m, "empty_a", json_array());
  json_object_set_new(m, "", json_pack("[s, i, [o, {}]]", "x", 3, json_pack("{s:n}", "k")));
  same_as_jansson(m);
  /* Keys keep their insertion order, after a delete and a re-set too. */
  json_object_del(m, "seq");
  json_object_set_new(m, "seq", json_integer(7));
  json_object_set_new(m, "type", json_string("again"));
  same_as_jansson(m);
  same_as_jansson(json_object_get(m, "utf8")); /* a bare value */
  /* Integers are written without snprintf: each digit count and sign. */
  for (json_int_t n = 1;; n *= 10) {
    json_int_t edges[] = {n, n - 1, n + 1, -n, -(n - 1), -(n + 1), 9 * n};
    for (size_t k = 0; k < sizeof(edges) / sizeof(edges[0]); k++) {
      json_t *v = json_integer(edges[k]);
      same_as_jansson(v);
      json_decref(v);
    }
    if (n == POW10_MAX) break;
  }
  json_decref(m);
  size_t len = 1;
  assert_null(json_out_dumps(NULL, &len));
  assert_int_equal(len, 0);
}

static void test_deep_nesting(void **state) {
  json_t *v = json_string("leaf");
  for (int i = 0; i < 200; i++) v = i % 2 ? json_pack("[o]", v) : json_pack("{s:o}", "k", v);
  same_as_jansson(v);
  json_decref(v);
}

static json_t *random_value(unsigned *seed, int depth) {
  int kind = rand_r(seed) % (depth > 4 ? 5 : 7);
  char s[24];
  size_t n = (size_t)(rand_r(seed) % (int)sizeof(s));
  for (size_t i = 0; i < n; i++) {
    int c = rand_r(seed) % 100;
    s[i] = (char)(c < 10 ? c : c < 15 ? "\"\\/\x7f\t"[c - 10] : 'a' + c % 26);
  }
  switch (kind) {
    case 0:
      return json_stringn(s, n);
    case 1:
      return json_integer((json_int_t)rand_r(seed) - RAND_MAX / 2);
    case 2:
      return rand_r(seed) % 2 ? json_true() : json_null();
    case 3:
      return json_real((double)rand_r(seed) / 7.0);
    case 4:
      return json_false();
    case 5: {
      json_t *a = json_array();
      for (int i = rand_r(seed) % 5; i > 0; i--)
        json_array_append_new(a, random_value(seed, depth + 1));
      return a;
    }
    default: {
      json_t *o = json_object();
      for (int i = rand_r(seed) % 6; i > 0; i--) {
        char key[8];
        snprintf(key, sizeof(key), "k%d\n", rand_r(seed) % 10);
        json_object_set_new(o, key, random_value(seed, depth + 1));
      }
      return o;
    }
  }
}

static void test_random_values(void **state) {
  unsigned seed = 21;
  for (int i = 0; i < 2000; i++) {
    json_t *v = random_value(&seed, 0);
    same_as_jansson(v);
    json_decref(v);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_escapes_and_kinds),
      cmocka_unit_test(test_deep_nesting),
      cmocka_unit_test(test_random_values),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
