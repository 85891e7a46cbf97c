/* Message search's pure part: splitting text into words, folding case and Latin
 * diacritics, parsing a query, and cutting a snippet with code-point highlights.
 * The word rules follow SQLite FTS5's unicode61 tokenizer (letters and digits
 * are word characters; punctuation, symbols, spaces and combining marks
 * separate words) closely enough that what the store matched is what gets
 * highlighted. Pure; any thread. */
#include "chat/search.h"

#include <stdlib.h>
#include <string.h>

#include "parley/util.h"

#define WORD_BYTES_MAX 256 /* a folded word longer than this is cut (it never matches) */

/* Decodes one code point of valid UTF-8 at s, returns its byte length. */
static size_t utf8_next(const unsigned char *s, unsigned *cp) {
  if (s[0] < 0x80) {
    *cp = s[0];
    return 1;
  }
  if ((s[0] & 0xe0) == 0xc0) {
    *cp = ((unsigned)(s[0] & 0x1f) << 6) | (s[1] & 0x3f);
    return 2;
  }
  if ((s[0] & 0xf0) == 0xe0) {
    *cp = ((unsigned)(s[0] & 0x0f) << 12) | ((unsigned)(s[1] & 0x3f) << 6) | (s[2] & 0x3f);
    return 3;
  }
  *cp = ((unsigned)(s[0] & 0x07) << 18) | ((unsigned)(s[1] & 0x3f) << 12) |
        ((unsigned)(s[2] & 0x3f) << 6) | (s[3] & 0x3f);
  return 4;
}

static size_t utf8_put(unsigned cp, char *out) {
  if (cp < 0x80) {
    out[0] = (char)cp;
    return 1;
  }
  if (cp < 0x800) {
    out[0] = (char)(0xc0 | (cp >> 6));
    out[1] = (char)(0x80 | (cp & 0x3f));
    return 2;
  }
  if (cp < 0x10000) {
    out[0] = (char)(0xe0 | (cp >> 12));
    out[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
    out[2] = (char)(0x80 | (cp & 0x3f));
    return 3;
  }
  out[0] = (char)(0xf0 | (cp >> 18));
  out[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
  out[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
  out[3] = (char)(0x80 | (cp & 0x3f));
  return 4;
}

/* Ranges of non-ASCII code points that separate words: Latin-1 punctuation and
 * symbols, combining marks, general punctuation, currency, arrows to dingbats,
 * CJK punctuation, variation selectors, full-width punctuation, emoji. */
static const unsigned separators[][2] = {
    {0x80, 0xa9},     {0xab, 0xb1},     {0xb4, 0xb4},       {0xb6, 0xb8},       {0xbb, 0xbb},
    {0xbf, 0xbf},     {0xd7, 0xd7},     {0xf7, 0xf7},       {0x300, 0x36f},     {0x2000, 0x206f},
    {0x20a0, 0x20ff}, {0x2190, 0x2bff}, {0x2e00, 0x2e7f},   {0x3000, 0x3004},   {0x3008, 0x303f},
    {0xfe00, 0xfe0f}, {0xfe30, 0xfe4f}, {0xfeff, 0xfeff},   {0xff00, 0xff0f},   {0xff1a, 0xff20},
    {0xff3b, 0xff40}, {0xff5b, 0xff65}, {0x1f000, 0x1faff}, {0xe0000, 0xe007f},
};

int search_is_word_char(unsigned cp) {
  if (cp < 0x80)
    return (cp >= '0' && cp <= '9') || (cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z');
  for (size_t i = 0; i < sizeof(separators) / sizeof(separators[0]); i++)
    if (cp >= separators[i][0] && cp <= separators[i][1]) return 0;
  return 1;
}

/* U+00C0..U+00FF and U+0100..U+017F to their base letter; '*' keeps the code
 * point (lower-cased when it is the upper one of a pair), '-' never occurs
 * (a separator). */
static const char latin1[] =
    "aaaaaa*ceeeeiiii*nooooo-*uuuuy*"
    "*aaaaaa*ceeeeiiii*nooooo-*uuuuy*y";
static const char latin_ext_a[] =
    "aaaaaaccccccccddddeeeeeeeeeegggggggghhhhiiiiiiiiii**jjkk*"
    "llllllllllnnnnnn***oooooo**rrrrrrsssssssstttttt"
    "uuuuuuuuuuuuwwyyyzzzzzzs";

static unsigned fold_greek(unsigned cp) {
  static const unsigned tonos[][2] = {
      {0x386, 0x3b1}, {0x388, 0x3b5}, {0x389, 0x3b7}, {0x38a, 0x3b9}, {0x38c, 0x3bf},
      {0x38e, 0x3c5}, {0x38f, 0x3c9}, {0x3ac, 0x3b1}, {0x3ad, 0x3b5}, {0x3ae, 0x3b7},
      {0x3af, 0x3b9}, {0x3cc, 0x3bf}, {0x3cd, 0x3c5}, {0x3ce, 0x3c9}};
  for (size_t i = 0; i < sizeof(tonos) / sizeof(tonos[0]); i++)
    if (cp == tonos[i][0]) return tonos[i][1];
  if (cp >= 0x391 && cp <= 0x3a9 && cp != 0x3a2) return cp + 0x20;
  return cp;
}

unsigned search_fold(unsigned cp) {
  if (cp < 0x80) return (cp >= 'A' && cp <= 'Z') ? cp + 32 : cp;
  if (cp >= 0xc0 && cp <= 0xff) {
    char c = latin1[cp - 0xc0];
    if (c != '*' && c != '-') return (unsigned char)c;
    return (cp <= 0xde && cp != 0xd7) ? cp + 0x20 : cp; /* Æ Ð Ø Þ to lower */
  }
  if (cp >= 0x100 && cp <= 0x17f) {
    char c = latin_ext_a[cp - 0x100];
    if (c != '*') return (unsigned char)c;
    return (cp == 0x132 || cp == 0x14a || cp == 0x152) ? cp + 1 : cp;
  }
  if (cp >= 0x386 && cp <= 0x3ce) return fold_greek(cp);
  if (cp >= 0x410 && cp <= 0x42f) return cp + 0x20; /* Cyrillic А..Я */
  if (cp >= 0x400 && cp <= 0x40f) return cp + 0x50; /* Ѐ..Џ */
  return cp;
}

/* One word of a text: its code-point and byte ranges, and its folded UTF-8. */
typedef struct {
  size_t cp_start, cp_end, byte_start, byte_end;
  char folded[WORD_BYTES_MAX + 4];
  size_t folded_len;
} word_t;

/* Calls fn for each word of valid UTF-8 [s, s+len); stops when fn returns
 * nonzero. */
static void each_word(const char *s, size_t len, int (*fn)(void *arg, const word_t *w), void *arg) {
  const unsigned char *p = (const unsigned char *)s;
  size_t i = 0, cpi = 0;
  word_t w;
  int in = 0;
  while (i < len) {
    unsigned cp;
    size_t n = utf8_next(p + i, &cp);
    if (search_is_word_char(cp)) {
      if (!in) {
        memset(&w, 0, sizeof(w));
        w.cp_start = cpi;
        w.byte_start = i;
        in = 1;
      }
      if (w.folded_len <= WORD_BYTES_MAX)
        w.folded_len += utf8_put(search_fold(cp), w.folded + w.folded_len);
      w.cp_end = cpi + 1;
      w.byte_end = i + n;
    } else if (in) {
      in = 0;
      w.folded[w.folded_len] = '\0';
      if (fn(arg, &w)) return;
    }
    i += n;
    cpi++;
  }
  if (in) {
    w.folded[w.folded_len] = '\0';
    fn(arg, &w);
  }
}

static int has_term(json_t *terms, const char *word) {
  size_t i;
  json_t *t;
  json_array_foreach(terms, i, t) if (strcmp(json_string_value(t), word) == 0) return 1;
  return 0;
}

static int add_term(void *arg, const word_t *w) {
  json_t *terms = arg;
  if (json_array_size(terms) >= SEARCH_TERMS_MAX) return 1;
  if (w->folded_len <= WORD_BYTES_MAX && !has_term(terms, w->folded))
    json_array_append_new(terms, json_string(w->folded));
  return 0;
}

int search_parse(const char *q, size_t len, json_t **terms) {
  if (!util_utf8_valid(q, len)) return SEARCH_EUTF8;
  if (util_utf8_len(q, len) > SEARCH_Q_MAX_CHARS) return SEARCH_ETOOLONG;
  json_t *list = json_array();
  each_word(q, len, add_term, list);
  if (json_array_size(list) == 0) {
    json_decref(list);
    return SEARCH_ENOWORDS;
  }
  *terms = list;
  return SEARCH_OK;
}

/* ---- snippets ---- */

typedef struct {
  json_t *terms;
  size_t cps;      /* code points of the whole text */
  word_t *hits;    /* matched words, in order */
  size_t n, cap;   /* hits used and allocated */
  size_t prev_end; /* end of the word before the one being read, for cut points */
} scan_t;

static int collect_hit(void *arg, const word_t *w) {
  scan_t *s = arg;
  if (w->folded_len > WORD_BYTES_MAX || !has_term(s->terms, w->folded)) return 0;
  if (s->n == s->cap) {
    size_t cap = s->cap ? s->cap * 2 : 8;
    word_t *grown = realloc(s->hits, cap * sizeof(*grown));
    if (!grown) return 1;
    s->hits = grown;
    s->cap = cap;
  }
  s->hits[s->n++] = *w;
  return 0;
}

/* The byte offset of code point index cpi in valid UTF-8 text. */
static size_t byte_at(const char *text, size_t cpi) {
  const unsigned char *p = (const unsigned char *)text;
  size_t i = 0;
  for (size_t c = 0; c < cpi && p[i]; c++) {
    unsigned cp;
    i += utf8_next(p + i, &cp);
  }
  return i;
}

/* Moves a window start forward past a word it cuts in two (but never past
 * limit), and a window end back before one (but never before limit). */
static size_t start_on_boundary(const unsigned *cps, size_t start, size_t limit) {
  size_t s = start;
  while (s > 0 && s < limit && search_is_word_char(cps[s - 1]) && search_is_word_char(cps[s])) s++;
  return s < limit ? s : start;
}

static size_t end_on_boundary(const unsigned *cps, size_t total, size_t end, size_t limit) {
  size_t e = end;
  while (e < total && e > limit && search_is_word_char(cps[e - 1]) && search_is_word_char(cps[e]))
    e--;
  return e > limit ? e : end;
}

/* The window [*start, *end) of at most SEARCH_SNIPPET_MAX code points around the
 * first hit: a quarter of it before the hit, cut between words where it can. */
static void window(const char *text, size_t total, const scan_t *s, size_t *start, size_t *end) {
  *start = 0;
  *end = total;
  if (total <= SEARCH_SNIPPET_MAX) return;
  unsigned *cps = malloc(total * sizeof(*cps));
  size_t first = s->n ? s->hits[0].cp_start : 0, first_end = s->n ? s->hits[0].cp_end : 0;
  size_t st = first > SEARCH_SNIPPET_MAX / 4 ? first - SEARCH_SNIPPET_MAX / 4 : 0;
  if (st + SEARCH_SNIPPET_MAX > total) st = total - SEARCH_SNIPPET_MAX;
  size_t en = st + SEARCH_SNIPPET_MAX;
  if (cps) {
    const unsigned char *p = (const unsigned char *)text;
    for (size_t i = 0, c = 0; c < total; c++) i += utf8_next(p + i, &cps[c]);
    st = start_on_boundary(cps, st, s->n ? first : en);
    en = end_on_boundary(cps, total, en, first_end > st ? first_end : st);
    free(cps);
  }
  *start = st;
  *end = en;
}

json_t *search_snippet(const char *text, json_t *terms) {
  if (!text) return json_pack("{s:s, s:[]}", "text", "", "highlights");
  size_t len = strlen(text);
  scan_t s = {.terms = terms, .cps = util_utf8_len(text, len)};
  each_word(text, len, collect_hit, &s);
  size_t start, end;
  window(text, s.cps, &s, &start, &end);
  size_t b0 = byte_at(text, start), b1 = b0 + byte_at(text + b0, end - start);
  int lead = start > 0, trail = end < s.cps;
  char *out = malloc((b1 - b0) + 8);
  json_t *snippet = NULL;
  if (out) {
    size_t o = 0;
    if (lead) o += utf8_put(0x2026, out + o);
    memcpy(out + o, text + b0, b1 - b0);
    o += b1 - b0;
    if (trail) o += utf8_put(0x2026, out + o);
    json_t *ranges = json_array();
    for (size_t i = 0; i < s.n; i++) {
      if (s.hits[i].cp_start < start || s.hits[i].cp_end > end) continue;
      size_t a = s.hits[i].cp_start - start + (size_t)lead;
      json_array_append_new(ranges,
                            json_pack("[I, I]", (json_int_t)a,
                                      (json_int_t)(a + s.hits[i].cp_end - s.hits[i].cp_start)));
    }
    snippet = json_pack("{s:s%, s:o}", "text", out, o, "highlights", ranges);
    free(out);
  }
  free(s.hits);
  return snippet;
}

json_t *search_excluded_types(void) { return json_array(); }
