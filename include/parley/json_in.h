/* JSON text to a jansson value, the tree json_loadb(buf, len, 0, err) builds,
 * read from the buffer directly (jansson's lexer takes each character through
 * a stream callback: about 200 instructions a byte). Only the common case is
 * read here: strings of valid UTF-8 (checked as jansson checks it) whose
 * escapes are the one-character ones, integers of at most 18 digits, nesting
 * at most JSON_IN_MAX_DEPTH deep; anything else (a \u escape, invalid UTF-8,
 * a real, an error) goes to json_loadb whole, so the value, or the error, is
 * always jansson's. No state but a per-thread count; any thread. */
#ifndef PARLEY_JSON_IN_H
#define PARLEY_JSON_IN_H

#include <jansson.h>
#include <stddef.h>

#define JSON_IN_MAX_DEPTH 32

/* A new reference to the object or array buf holds, or NULL with err set (as
 * json_loadb sets it). */
json_t *json_in_loadb(const char *buf, size_t len, json_error_t *err);
/* The same as json_loadb(buf, len, flags, err) for flags 0 or
 * JSON_REJECT_DUPLICATES (a repeated key in any object: jansson's refusal); any
 * other flag goes to jansson with the text. */
json_t *json_in_loadb_flags(const char *buf, size_t len, size_t flags, json_error_t *err);

/* How many texts this thread's json_in_loadb handed to json_loadb (tests). */
unsigned long json_in_handed_over(void);

#endif
