/* JSON text to a jansson value, the tree json_loadb(buf, len, 0, err) builds,
 * read from the buffer directly (jansson's lexer takes each character through
 * a stream callback: about 200 instructions a byte). Only the common case is
 * read here: ASCII strings whose escapes are the one-character ones, integers
 * of at most 18 digits, nesting at most JSON_IN_MAX_DEPTH deep; anything else
 * (a \u escape, a byte above 0x7f, a real, an error) goes to json_loadb whole,
 * so the value, or the error, is always jansson's. No state; any thread. */
#ifndef PARLEY_JSON_IN_H
#define PARLEY_JSON_IN_H

#include <jansson.h>
#include <stddef.h>

#define JSON_IN_MAX_DEPTH 32

/* A new reference to the object or array buf holds, or NULL with err set (as
 * json_loadb sets it). */
json_t *json_in_loadb(const char *buf, size_t len, json_error_t *err);

#endif
