/* Compact JSON text of a jansson value, byte for byte what
 * json_dumps(v, JSON_COMPACT) gives, written without jansson's per-token
 * callbacks: the frames every recipient of a message gets are encoded here.
 * No state; any thread. */
#ifndef PARLEY_JSON_OUT_H
#define PARLEY_JSON_OUT_H

#include <jansson.h>
#include <stddef.h>

#include "parley/buf.h"

/* The text (malloc'd, NUL-terminated; *len its length without the NUL), or
 * NULL when out of memory or v is NULL. Any value at the top, not only an
 * object or array (JSON_ENCODE_ANY). */
char *json_out_dumps(const json_t *v, size_t *len);

/* Appends [s, s+n) (valid UTF-8, as jansson holds its strings) to b as a JSON
 * string, quoted and escaped as json_out_dumps writes it: a caller writes a
 * small fixed object's text without building its tree. 0, or -1 when memory
 * runs out. */
int json_out_string(buf_t *b, const char *s, size_t n);

#endif
