/* Message search's pure part, shared by both stores' callers: a query's words
 * (split and folded the way SQLite FTS5's `unicode61 remove_diacritics 2` and a
 * MongoDB text index with language "none" split and fold them), and the
 * snippet of a found message with its highlights as code-point ranges. No I/O,
 * no allocation outside the values returned; any thread. */
#ifndef PARLEY_CHAT_SEARCH_H
#define PARLEY_CHAT_SEARCH_H

#include <jansson.h>
#include <stddef.h>

#define SEARCH_Q_MAX_CHARS 256 /* code points of q */
#define SEARCH_TERMS_MAX 16    /* words of a query that are searched for; more are dropped */
#define SEARCH_SNIPPET_MAX 160 /* code points of a snippet's text, ellipses aside */

enum search_parse_status {
  SEARCH_OK = 0,
  SEARCH_EUTF8 = -1,    /* not valid UTF-8, or a NUL byte */
  SEARCH_ETOOLONG = -2, /* over SEARCH_Q_MAX_CHARS code points */
  SEARCH_ENOWORDS = -3, /* only spaces, punctuation and symbols */
};

/* Parses q ([q, q+len)): on SEARCH_OK, *terms is a new JSON array of its
 * distinct folded words (lower case, Latin diacritics removed), at most
 * SEARCH_TERMS_MAX, in the order they first appear. */
int search_parse(const char *q, size_t len, json_t **terms);

/* The snippet of a message's text for the folded terms (borrowed): a new
 * {text, highlights: [[start, end], ...]} where text is at most
 * SEARCH_SNIPPET_MAX code points of the message around its first match (with
 * "…" where it was cut) and each range [start, end) counts code points of text
 * over a whole word equal to a term after folding. text NULL: an empty snippet. */
json_t *search_snippet(const char *text, json_t *terms);

/* The conversation types whose messages search never returns, as a new JSON
 * array the stores filter by. Empty today; secret (end-to-end) conversations,
 * whose text the server cannot read, belong here once they exist. */
json_t *search_excluded_types(void);

/* The word rules, exposed for tests: 1 when code point cp is part of a word;
 * the folded form of a word character. */
int search_is_word_char(unsigned cp);
unsigned search_fold(unsigned cp);

#endif
