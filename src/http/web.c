/* The web client's files: loaded from web_dir into a sorted in-memory table at
 * start-up (with gzip variants made by zlib, or taken from name.gz files beside
 * them, and content ETags), then served from that table with the security and
 * caching headers of a single-page app. Loop thread after loading. */
#include "parley/web.h"

#include <dirent.h>
#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <zlib.h>

#include "parley/log.h"
#include "parley/util.h"

#define WEB_MAX_FILES 4096
#define WEB_MAX_DEPTH 16
#define WEB_MIN_GZIP 256 /* smaller files go as they are */

typedef struct web_file_s {
  char *path; /* "/assets/app-X2Y4Z6W8.js", the key */
  const char *type;
  char *body;
  size_t len;
  char *gz; /* NULL when not worth it */
  size_t gzlen;
  char etag[20];    /* "\"" + 16 hex + "\"" */
  char etag_gz[24]; /* the gzip variant's: "\"" + 16 hex + "-gz\"" */
  int immutable;
  int dropped; /* a name.gz merged into name */
} web_file_t;

struct web_s {
  web_file_t *files;
  size_t n;
  size_t bytes;
  int64_t max_bytes;
  const web_file_t *index;
};

/* ---- loading ---- */

static const struct {
  const char *ext;
  const char *type;
  int compress;
} types[] = {
    {".html", "text/html; charset=utf-8", 1},
    {".js", "text/javascript; charset=utf-8", 1},
    {".mjs", "text/javascript; charset=utf-8", 1},
    {".css", "text/css; charset=utf-8", 1},
    {".json", "application/json", 1},
    {".map", "application/json", 1},
    {".webmanifest", "application/manifest+json", 1},
    {".svg", "image/svg+xml", 1},
    {".txt", "text/plain; charset=utf-8", 1},
    {".xml", "application/xml", 1},
    {".wasm", "application/wasm", 1},
    {".ico", "image/x-icon", 1},
    {".png", "image/png", 0},
    {".jpg", "image/jpeg", 0},
    {".jpeg", "image/jpeg", 0},
    {".gif", "image/gif", 0},
    {".webp", "image/webp", 0},
    {".avif", "image/avif", 0},
    {".woff", "font/woff", 0},
    {".woff2", "font/woff2", 0},
    {".mp3", "audio/mpeg", 0},
    {".ogg", "audio/ogg", 0},
    {".gz", "application/gzip", 0},
};

static int type_of(const char *path, const char **type) {
  const char *dot = strrchr(path, '.');
  const char *slash = strrchr(path, '/');
  if (dot && (!slash || dot > slash))
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
      if (strcasecmp(dot, types[i].ext) == 0) {
        *type = types[i].type;
        return types[i].compress;
      }
  *type = "application/octet-stream";
  return 0;
}

int web_is_hashed(const char *path) {
  const char *base = strrchr(path, '/');
  base = base ? base + 1 : path;
  const char *dot = strrchr(base, '.');
  if (!dot) return 0;
  const char *start = dot;
  while (start > base && start[-1] != '-' && start[-1] != '.') start--;
  if (start == base) return 0; /* no separator before the hash */
  size_t n = (size_t)(dot - start);
  if (n < 8) return 0;
  int upper = 1, hex = 1;
  for (const char *p = start; p < dot; p++) {
    if (!((*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9'))) upper = 0;
    if (!((*p >= 'a' && *p <= 'f') || (*p >= '0' && *p <= '9'))) hex = 0;
  }
  return upper || hex;
}

/* gzip at the best level; NULL when it does not save at least a tenth. */
static char *gzip_of(const char *data, size_t len, size_t *outlen) {
  z_stream z;
  memset(&z, 0, sizeof(z));
  if (deflateInit2(&z, 9, Z_DEFLATED, 15 + 16, 9, Z_DEFAULT_STRATEGY) != Z_OK) return NULL;
  uLong cap = deflateBound(&z, (uLong)len);
  char *out = malloc(cap);
  if (!out) {
    deflateEnd(&z);
    return NULL;
  }
  z.next_in = (Bytef *)data;
  z.avail_in = (uInt)len;
  z.next_out = (Bytef *)out;
  z.avail_out = (uInt)cap;
  int rc = deflate(&z, Z_FINISH);
  size_t n = z.total_out;
  deflateEnd(&z);
  if (rc != Z_STREAM_END || n >= len - len / 10) {
    free(out);
    return NULL;
  }
  *outlen = n;
  return out;
}

static int read_file(const char *fs_path, size_t size, char **out) {
  FILE *f = fopen(fs_path, "rb");
  if (!f) return -1;
  char *data = malloc(size ? size : 1);
  size_t got = data ? fread(data, 1, size, f) : 0;
  fclose(f);
  if (!data || got != size) {
    free(data);
    return -1;
  }
  *out = data;
  return 0;
}

static void add_file(web_t *w, const char *fs_path, const char *url_path, size_t size) {
  if (w->n == WEB_MAX_FILES) {
    log_warn("web: skipping %s: more than %d files", fs_path, WEB_MAX_FILES);
    return;
  }
  if ((int64_t)(w->bytes + size) > w->max_bytes) {
    log_warn("web: skipping %s (%zu bytes): the web client's files passed web_max_bytes (%lld)",
             fs_path, size, (long long)w->max_bytes);
    return;
  }
  web_file_t f = {0};
  if (read_file(fs_path, size, &f.body) != 0) {
    log_warn("web: skipping %s: %s", fs_path, strerror(errno));
    return;
  }
  f.path = strdup(url_path);
  if (!f.path) {
    free(f.body);
    return;
  }
  f.len = size;
  f.type = "";
  unsigned char h[8];
  crypto_generichash(h, sizeof(h), (const unsigned char *)f.body, f.len, NULL, 0);
  f.etag[0] = '"';
  util_hex(h, sizeof(h), f.etag + 1);
  strcat(f.etag, "\"");
  snprintf(f.etag_gz, sizeof(f.etag_gz), "%.17s-gz\"", f.etag);
  f.immutable = web_is_hashed(url_path);
  w->files[w->n++] = f;
  w->bytes += size;
}

static void walk(web_t *w, const char *fs_dir, const char *url_dir, int depth) {
  DIR *d = opendir(fs_dir);
  if (!d) {
    log_warn("web: cannot read %s: %s", fs_dir, strerror(errno));
    return;
  }
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    if (e->d_name[0] == '.') continue;
    char fs[4096], url[2048];
    if (snprintf(fs, sizeof(fs), "%s/%s", fs_dir, e->d_name) >= (int)sizeof(fs) ||
        snprintf(url, sizeof(url), "%s/%s", url_dir, e->d_name) >= (int)sizeof(url)) {
      log_warn("web: skipping %s/%s: the path is too long", fs_dir, e->d_name);
      continue;
    }
    struct stat st;
    if (lstat(fs, &st) != 0) continue;
    if (S_ISDIR(st.st_mode)) {
      if (depth < WEB_MAX_DEPTH)
        walk(w, fs, url, depth + 1);
      else
        log_warn("web: skipping %s: nested too deep", fs);
    } else if (S_ISREG(st.st_mode)) {
      add_file(w, fs, url, (size_t)st.st_size);
    } else {
      log_warn("web: skipping %s: not a regular file", fs);
    }
  }
  closedir(d);
}

static int by_path(const void *a, const void *b) {
  return strcmp(((const web_file_t *)a)->path, ((const web_file_t *)b)->path);
}

static web_file_t *find(const web_t *w, const char *path) {
  web_file_t key = {.path = (char *)path};
  return bsearch(&key, w->files, w->n, sizeof(web_file_t), by_path);
}

/* name.gz beside name becomes name's gzip variant (made by the build, maybe
 * at a higher level); other files get one from zlib when it pays. */
static void make_variants(web_t *w) {
  for (size_t i = 0; i < w->n; i++) {
    web_file_t *f = &w->files[i];
    size_t plen = strlen(f->path);
    if (plen <= 3 || strcmp(f->path + plen - 3, ".gz") != 0) continue;
    char *name = strndup(f->path, plen - 3);
    web_file_t *base = name ? find(w, name) : NULL;
    free(name);
    if (!base || base->gz || f->len >= base->len) continue;
    base->gz = f->body;
    base->gzlen = f->len;
    f->body = NULL;
    f->dropped = 1;
  }
  for (size_t i = 0; i < w->n; i++) {
    web_file_t *f = &w->files[i];
    int compress = type_of(f->path, &f->type);
    if (f->dropped || f->gz || !compress || f->len < WEB_MIN_GZIP) continue;
    char *gz = gzip_of(f->body, f->len, &f->gzlen);
    if (!gz) continue;
    if ((int64_t)(w->bytes + f->gzlen) > w->max_bytes) {
      free(gz);
      continue;
    }
    f->gz = gz;
    w->bytes += f->gzlen;
  }
  size_t kept = 0;
  for (size_t i = 0; i < w->n; i++) {
    if (w->files[i].dropped) { /* its bytes live on as another file's variant */
      free(w->files[i].path);
      continue;
    }
    w->files[kept++] = w->files[i];
  }
  w->n = kept;
}

web_t *web_load(const char *dir, int64_t max_bytes) {
  if (!dir || !*dir) return NULL;
  struct stat st;
  if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
    log_warn("web: web_dir %s is not a directory (%s): serving the API only", dir,
             errno ? strerror(errno) : "not a directory");
    return NULL;
  }
  web_t *w = calloc(1, sizeof(*w));
  if (!w || !(w->files = calloc(WEB_MAX_FILES, sizeof(web_file_t)))) {
    free(w);
    return NULL;
  }
  w->max_bytes = max_bytes;
  walk(w, dir, "", 0);
  if (w->n == 0) {
    log_warn("web: web_dir %s holds no file: serving the API only", dir);
    web_free(w);
    return NULL;
  }
  qsort(w->files, w->n, sizeof(web_file_t), by_path);
  make_variants(w);
  w->index = find(w, "/index.html");
  if (!w->index) log_warn("web: %s has no index.html: client routes answer 404", dir);
  log_info("web: serving %zu files from %s (%zu bytes in memory)", w->n, dir, w->bytes);
  return w;
}

void web_free(web_t *w) {
  if (!w) return;
  for (size_t i = 0; i < w->n; i++) {
    free(w->files[i].path);
    free(w->files[i].body);
    free(w->files[i].gz);
  }
  free(w->files);
  free(w);
}

size_t web_count(const web_t *w) { return w ? w->n : 0; }
size_t web_bytes(const web_t *w) { return w ? w->bytes : 0; }

/* ---- serving ---- */

/* Paths that belong to the server: never answered with the web client. */
static int reserved(const char *path) {
  static const char *const prefixes[] = {"/api",    "/ws",      "/healthz",
                                         "/readyz", "/metrics", "/webhooks"};
  for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++) {
    size_t n = strlen(prefixes[i]);
    if (strncmp(path, prefixes[i], n) == 0 && (path[n] == '\0' || path[n] == '/')) return 1;
  }
  return 0;
}

/* Whether a header's comma-separated list holds token (case-insensitive),
 * without a q of zero ("gzip;q=0" refuses gzip). */
static int list_has(const char *list, const char *token) {
  size_t tlen = strlen(token);
  for (const char *p = list; p && *p;) {
    while (*p == ' ' || *p == ',') p++;
    const char *end = p;
    while (*end && *end != ',') end++;
    if ((size_t)(end - p) >= tlen && strncasecmp(p, token, tlen) == 0 &&
        (p[tlen] == ',' || p[tlen] == ';' || p[tlen] == ' ' || p[tlen] == '\0')) {
      const char *q = p + tlen;
      while (q < end && (*q == ' ' || *q == ';')) q++;
      if (end - q >= 3 && strncasecmp(q, "q=0", 3) == 0) {
        const char *r = q + 3;
        if (r == end || *r == ' ' || (*r == '.' && strspn(r + 1, "0") == (size_t)(end - r - 1)))
          return 0;
      }
      return 1;
    }
    p = end;
  }
  return 0;
}

/* If-None-Match: "*", or a list of (possibly weak) tags one of which is ours. */
static int etag_matches(const char *inm, const char *etag) {
  if (!inm) return 0;
  size_t elen = strlen(etag);
  for (const char *p = inm; *p;) {
    while (*p == ' ' || *p == ',') p++;
    if (*p == '*') return 1;
    if (strncmp(p, "W/", 2) == 0) p += 2;
    if (strncmp(p, etag, elen) == 0) return 1;
    while (*p && *p != ',') p++;
  }
  return 0;
}

/* A path whose last segment has no dot is a client-side route; so is any path
 * asked for by a browser navigating (Accept: text/html). A missing
 * /assets/x.js stays a 404, so a stale page never runs HTML as a script. */
static int is_page(const http_req_t *req) {
  const char *last = strrchr(req->path, '/');
  if (!strchr(last ? last : req->path, '.')) return 1;
  const char *accept = http_req_header(req, "accept");
  return accept && strstr(accept, "text/html") != NULL;
}

int web_serve(const web_t *w, http_req_t *req) {
  if (!w || !req->path || req->path[0] != '/') return 0;
  if (strcmp(req->method, "GET") != 0 && strcmp(req->method, "HEAD") != 0) return 0;
  if (reserved(req->path)) return 0;
  const web_file_t *f = strcmp(req->path, "/") == 0 ? w->index : find(w, req->path);
  if (!f && is_page(req)) f = w->index;
  if (!f) return 0;
  req->route = "web";
  http_reply_header(req, "Content-Security-Policy", WEB_CSP);
  http_reply_header(req, "X-Content-Type-Options", "nosniff");
  http_reply_header(req, "Referrer-Policy", "no-referrer");
  http_reply_header(req, "Cross-Origin-Opener-Policy", "same-origin");
  http_reply_header(req, "Vary", "Accept-Encoding");
  http_reply_header(req, "Cache-Control",
                    f->immutable ? "public, max-age=31536000, immutable" : "no-cache");
  /* Each representation has its own tag, as a strong validator must. */
  int gz = f->gz && list_has(http_req_header(req, "accept-encoding"), "gzip");
  const char *etag = gz ? f->etag_gz : f->etag;
  http_reply_header(req, "ETag", etag);
  if (etag_matches(http_req_header(req, "if-none-match"), etag)) {
    http_reply_empty(req, 304);
    return 1;
  }
  if (gz) {
    http_reply_header(req, "Content-Encoding", "gzip");
    http_reply_raw(req, 200, f->type, f->gz, f->gzlen);
  } else {
    http_reply_raw(req, 200, f->type, f->body, f->len);
  }
  return 1;
}
