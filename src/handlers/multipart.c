/* Streamed multipart/form-data: the body is read as if it began with CRLF,
 * so every boundary is the same delimiter "\r\n--boundary", found across
 * piece edges by a KMP match whose state is the count of delimiter bytes
 * matched; bytes of a match that fails are a prefix of the delimiter, so they
 * are given back from the delimiter itself and nothing of the body is held.
 * Pure. */
#include "handlers/multipart.h"

#include <string.h>
#include <strings.h>

enum { MP_PREAMBLE, MP_AFTER_DELIM, MP_HEADERS, MP_BODY, MP_DONE, MP_DEAD };

int multipart_init(multipart_t *m, const char *content_type, const multipart_cbs_t *cbs,
                   void *ctx) {
  memset(m, 0, sizeof(*m));
  m->cbs = cbs;
  m->ctx = ctx;
  if (!content_type || strncasecmp(content_type, "multipart/form-data", 19) != 0) return -1;
  const char *p = content_type + 19;
  const char *b = NULL;
  while ((p = strchr(p, ';'))) {
    p++;
    while (*p == ' ' || *p == '\t') p++;
    if (strncasecmp(p, "boundary=", 9) == 0) {
      b = p + 9;
      break;
    }
  }
  if (!b) return -1;
  size_t n = 0;
  char bnd[MULTIPART_BOUNDARY_MAX + 1];
  if (*b == '"') {
    for (b++; *b && *b != '"'; b++) {
      if (n == MULTIPART_BOUNDARY_MAX) return -1;
      bnd[n++] = *b;
    }
    if (*b != '"') return -1;
  } else {
    for (; *b && *b != ';' && *b != ' ' && *b != '\t'; b++) {
      if (n == MULTIPART_BOUNDARY_MAX) return -1;
      bnd[n++] = *b;
    }
  }
  if (n == 0) return -1;
  memcpy(m->delim, "\r\n--", 4);
  memcpy(m->delim + 4, bnd, n);
  m->dlen = n + 4;
  /* fail[k]: the longest proper prefix of delim[0..k) that is also its suffix. */
  m->fail[0] = m->fail[1] = 0;
  for (size_t i = 1, j = 0; i < m->dlen; i++) {
    while (j > 0 && m->delim[i] != m->delim[j]) j = m->fail[j];
    if (m->delim[i] == m->delim[j]) j++;
    m->fail[i + 1] = j;
  }
  m->state = MP_PREAMBLE;
  m->k = 2; /* the CRLF the body is read as beginning with */
  return 0;
}

static void flush(multipart_t *m) {
  if (m->olen && m->taking && m->state != MP_DEAD) m->cbs->on_data(m->ctx, m->out, m->olen);
  m->olen = 0;
}

/* Bytes of the current part (discarded in the preamble and skipped parts). */
static void emit(multipart_t *m, const char *p, size_t n) {
  if (m->state != MP_BODY || !m->taking) return;
  while (n) {
    size_t room = sizeof(m->out) - m->olen, t = n < room ? n : room;
    memcpy(m->out + m->olen, p, t);
    m->olen += t;
    p += t;
    n -= t;
    if (m->olen == sizeof(m->out)) flush(m);
  }
}

/* The value of a parameter (name="x" or name=x) in a header value; writes it
 * to out. Returns 1, 0 when absent, -1 when too long or malformed. */
static int param(const char *v, const char *name, char *out, size_t outlen) {
  size_t nlen = strlen(name);
  for (const char *p = strchr(v, ';'); p; p = strchr(p, ';')) {
    p++;
    while (*p == ' ' || *p == '\t') p++;
    if (strncasecmp(p, name, nlen) != 0 || p[nlen] != '=') continue;
    p += nlen + 1;
    size_t n = 0;
    if (*p == '"') {
      for (p++; *p && *p != '"'; p++) {
        if (*p == '\\' && p[1]) p++;
        if (n + 1 >= outlen) return -1;
        out[n++] = *p;
      }
      if (*p != '"') return -1;
    } else {
      for (; *p && *p != ';' && *p != ' ' && *p != '\t'; p++) {
        if (n + 1 >= outlen) return -1;
        out[n++] = *p;
      }
    }
    out[n] = '\0';
    return 1;
  }
  return 0;
}

/* The part's headers are in m->hdr (CRLF-separated, NUL-terminated). */
static int part_begins(multipart_t *m) {
  char name[MULTIPART_FIELD_MAX] = "", filename[MULTIPART_FIELD_MAX] = "";
  char ctype[MULTIPART_FIELD_MAX] = "";
  int has_disp = 0, has_file = 0, has_type = 0;
  for (char *line = m->hdr; *line;) {
    char *end = strstr(line, "\r\n");
    if (end) *end = '\0';
    char *colon = strchr(line, ':');
    if (colon) {
      char *v = colon + 1;
      while (*v == ' ' || *v == '\t') v++;
      size_t klen = (size_t)(colon - line);
      if (klen == 19 && strncasecmp(line, "content-disposition", 19) == 0) {
        if (strncasecmp(v, "form-data", 9) != 0) return -1;
        if (param(v, "name", name, sizeof(name)) <= 0) return -1;
        int f = param(v, "filename", filename, sizeof(filename));
        if (f < 0) return -1;
        has_file = f;
        has_disp = 1;
      } else if (klen == 12 && strncasecmp(line, "content-type", 12) == 0) {
        size_t n = strlen(v);
        while (n && (v[n - 1] == ' ' || v[n - 1] == '\t')) n--;
        if (n >= sizeof(ctype)) return -1;
        memcpy(ctype, v, n);
        ctype[n] = '\0';
        has_type = 1;
      }
    } else if (*line) {
      return -1; /* a header line without a colon */
    }
    if (!end) break;
    line = end + 2;
  }
  if (!has_disp) return -1;
  int take = m->cbs->on_part(m->ctx, name, has_file ? filename : NULL, has_type ? ctype : NULL);
  if (take < 0) return -1;
  m->taking = take;
  return 0;
}

/* Headers are gathered until the blank line; returns bytes used, or -1. */
static long headers(multipart_t *m, const char *p, size_t n) {
  for (size_t i = 0; i < n; i++) {
    if (m->hlen + 1 >= sizeof(m->hdr)) return -1;
    m->hdr[m->hlen++] = p[i];
    /* No headers at all ("\r\n" right after the delimiter's CRLF), or the end
     * of the last one. */
    int blank = m->hlen == 2 && memcmp(m->hdr, "\r\n", 2) == 0;
    int end = m->hlen >= 4 && memcmp(m->hdr + m->hlen - 4, "\r\n\r\n", 4) == 0;
    if (blank || end) {
      m->hlen -= blank ? 2 : 4;
      m->hdr[m->hlen] = '\0';
      m->hlen = 0;
      if (part_begins(m) != 0) return -1;
      m->state = MP_BODY;
      m->k = 0;
      return (long)i + 1;
    }
  }
  return (long)n;
}

/* After "--boundary": "--" ends the body, CRLF (after optional blanks) starts
 * a part. Returns bytes used, or -1. */
static long after_delim(multipart_t *m, const char *p, size_t n) {
  for (size_t i = 0; i < n; i++) {
    char c = p[i];
    if (m->dash) {
      if (c != (m->dash == 1 ? '-' : '\n')) return -1;
      if (m->dash == 1) {
        m->state = MP_DONE;
      } else {
        m->state = MP_HEADERS;
        m->hlen = 0;
      }
      m->dash = 0;
      return (long)i + 1;
    }
    if (c == '-')
      m->dash = 1;
    else if (c == '\r')
      m->dash = 2;
    else if (c != ' ' && c != '\t')
      return -1;
  }
  return (long)n;
}

/* The preamble or a part's bytes, up to the next delimiter. Returns bytes used. */
static long body(multipart_t *m, const char *p, size_t n) {
  size_t i = 0, run = 0; /* run: where the bytes not yet emitted start (k == 0) */
  while (i < n) {
    if (m->k == 0) {
      const char *cr = memchr(p + i, '\r', n - i);
      size_t stop = cr ? (size_t)(cr - p) : n;
      i = stop;
      if (!cr) break;
      emit(m, p + run, i - run);
      m->k = 1;
      i++;
      run = i;
      continue;
    }
    char c = p[i];
    while (m->k > 0 && c != m->delim[m->k]) {
      size_t back = m->fail[m->k];
      emit(m, m->delim, m->k - back); /* they were delimiter bytes after all */
      m->k = back;
    }
    if (c == m->delim[m->k]) {
      m->k++;
      i++;
      run = i;
      if (m->k == m->dlen) {
        flush(m);
        if (m->state == MP_BODY && m->taking) m->cbs->on_part_end(m->ctx);
        m->taking = 0;
        m->k = 0;
        m->state = MP_AFTER_DELIM;
        return (long)i;
      }
    } else {
      run = i; /* k == 0: c is part of the next run */
    }
  }
  if (m->k == 0) emit(m, p + run, n - run);
  flush(m);
  return (long)n;
}

int multipart_feed(multipart_t *m, const char *data, size_t len) {
  while (len && m->state != MP_DEAD) {
    long used;
    switch (m->state) {
      case MP_PREAMBLE:
      case MP_BODY:
        used = body(m, data, len);
        break;
      case MP_AFTER_DELIM:
        used = after_delim(m, data, len);
        break;
      case MP_HEADERS:
        used = headers(m, data, len);
        break;
      default: /* MP_DONE: the epilogue is ignored */
        return 0;
    }
    if (used < 0) {
      m->state = MP_DEAD;
      return -1;
    }
    data += used;
    len -= (size_t)used;
  }
  return m->state == MP_DEAD ? -1 : 0;
}

int multipart_finish(const multipart_t *m) { return m->state == MP_DONE ? 0 : -1; }
