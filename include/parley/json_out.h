/* Compact JSON text of a jansson value, byte for byte what
 * json_dumps(v, JSON_COMPACT) gives, written without jansson's per-token
 * callbacks: the frames every recipient of a message gets are encoded here.
 * No state; any thread. */
#ifndef PARLEY_JSON_OUT_H
#define PARLEY_JSON_OUT_H

#include <jansson.h>
#include <stddef.h>

/* The text (malloc'd, NUL-terminated; *len its length without the NUL), or
 * NULL when out of memory or v is NULL. Any value at the top, not only an
 * object or array (JSON_ENCODE_ANY). */
char *json_out_dumps(const json_t *v, size_t *len);

#endif
