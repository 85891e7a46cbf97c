/* Time, ids, hex, UTF-8 and URL helpers (see parley/util.h). Callable from any
 * thread; the only state is each thread's buffer of random bytes for ids and its
 * stream for request ids. */
#include "parley/util.h"

#include <ctype.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

int64_t util_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The calendar fields of one second, formatted; calls within the same second
 * (most of a busy thread's) copy them and write only the milliseconds. */
static _Thread_local struct {
  int64_t secs;
  int valid;
  char prefix[24]; /* "YYYY-MM-DDTHH:MM:SS." */
} iso_second;

static void iso8601_full(int64_t ms, char out[32]) {
  time_t secs = (time_t)(ms / 1000);
  struct tm tm;
  gmtime_r(&secs, &tm);
  /* Years past 9999 do not occur; the clamps keep the compiler's length check honest. */
  snprintf(out, 32, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", (tm.tm_year + 1900) % 10000,
           (tm.tm_mon + 1) % 100, tm.tm_mday % 100, tm.tm_hour % 100, tm.tm_min % 100,
           tm.tm_sec % 100, (int)(ms % 1000) % 1000);
}

void util_iso8601(int64_t ms, char out[32]) {
  if (ms < 0) { /* before 1970: the plain way */
    iso8601_full(ms, out);
    return;
  }
  int64_t secs = ms / 1000;
  if (!iso_second.valid || iso_second.secs != secs) {
    char full[32];
    iso8601_full(secs * 1000, full);
    memcpy(iso_second.prefix, full, 20);
    iso_second.secs = secs;
    iso_second.valid = 1;
  }
  int frac = (int)(ms % 1000);
  memcpy(out, iso_second.prefix, 20);
  out[20] = (char)('0' + frac / 100);
  out[21] = (char)('0' + frac / 10 % 10);
  out[22] = (char)('0' + frac % 10);
  out[23] = 'Z';
  out[24] = '\0';
}

/* n decimal digits at s, or -1 when one of them is not a digit. */
static int digits(const char *s, int n) {
  int v = 0;
  for (int i = 0; i < n; i++) {
    if (s[i] < '0' || s[i] > '9') return -1;
    v = v * 10 + (s[i] - '0');
  }
  return v;
}

/* Days from 1970-01-01 to year-month-day of the proleptic Gregorian calendar
 * (Howard Hinnant's days_from_civil); a day past the month's end runs on into
 * the next month, as timegm() does. */
static int64_t days_from_civil(int64_t y, int m, int d) {
  y -= m <= 2;
  int64_t era = (y >= 0 ? y : y - 399) / 400;
  int64_t yoe = y - era * 400;
  int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

/* By hand rather than sscanf() and timegm(): it runs several times for every
 * Instagram event (profile freshness, the messaging window, automation pauses),
 * and those two cost about 9 times as much (callgrind). */
int util_parse_iso8601(const char *s, int64_t *ms) {
  static const char shape[] = "dddd-dd-ddTdd:dd:dd.dddZ";
  for (int i = 0; i < 24; i++) {
    if (s[i] == '\0') return -1;
    if (shape[i] != 'd' && s[i] != shape[i]) return -1;
  }
  if (s[24] != '\0') return -1;
  int year = digits(s, 4), mon = digits(s + 5, 2), day = digits(s + 8, 2);
  int hour = digits(s + 11, 2), min = digits(s + 14, 2), sec = digits(s + 17, 2);
  int millis = digits(s + 20, 3);
  if (year < 0 || mon < 1 || mon > 12 || day < 1 || day > 31 || hour < 0 || hour > 23 || min < 0 ||
      min > 59 || sec < 0 || sec > 60 || millis < 0)
    return -1;
  int64_t secs = days_from_civil(year, mon, day) * 86400 + hour * 3600 + min * 60 + sec;
  *ms = secs * 1000 + millis;
  return 0;
}

void util_random(void *out, size_t n) { randombytes_buf(out, n); }

/* The random part of ids comes from a per-thread buffer of libsodium output, so
 * one getrandom() serves ID_POOL / 8 ids instead of one. The bytes are as random
 * as before; a fork empties the forking thread's buffer (the child's only thread)
 * so parent and child never hand out the same bytes. */
#define ID_POOL 512

typedef struct id_pool_s {
  unsigned char bytes[ID_POOL];
  size_t used;
} id_pool_t;

static _Thread_local id_pool_t id_pool = {.used = ID_POOL};

/* Request ids are the one random value every request takes (a correlation id,
 * not a secret), so they come from a per-thread ChaCha20 stream instead: keyed
 * from the kernel, with fast key erasure (each refill's first 32 bytes are the
 * next key and overwrite the one that made them, so ids already handed out cannot
 * be computed again from memory), and keyed from the kernel anew every
 * REQ_RESEED refills. getrandom() then runs once per ~65,000 request ids instead
 * of once per 32 (libsodium asks for 256 bytes at a time), and the kernel's
 * ChaCha20 and the system call leave /healthz's path. */
#define REQ_POOL 512
#define REQ_RESEED 1024

typedef struct req_stream_s {
  unsigned char buf[crypto_stream_chacha20_KEYBYTES + REQ_POOL]; /* next key, then ids' bytes */
  size_t used;                                                   /* of the ids' bytes */
  unsigned refills; /* since the key came from the kernel; 0: no key yet */
} req_stream_t;

static _Thread_local req_stream_t req_stream = {.used = REQ_POOL};

/* Ordered ids (util_new_ordered_id): MongoDB's ObjectId layout, per thread. A
 * fork forgets the thread's (id_pool_forget), so a child draws its own. */
typedef struct ordered_s {
  unsigned char origin[5]; /* random, drawn at the thread's first id */
  uint32_t counter;        /* its low 24 bits go into the id */
  int ready;
} ordered_t;

static _Thread_local ordered_t ordered;

static void id_pool_forget(void) {
  memset(&ordered, 0, sizeof(ordered));
  sodium_memzero(id_pool.bytes, sizeof(id_pool.bytes));
  id_pool.used = ID_POOL;
  sodium_memzero(&req_stream, sizeof(req_stream));
  req_stream.used = REQ_POOL;
}

static void id_pool_init(void) { pthread_atfork(NULL, NULL, id_pool_forget); }
static pthread_once_t id_pool_once = PTHREAD_ONCE_INIT;

static void id_random8(unsigned char out[8]) {
  pthread_once(&id_pool_once, id_pool_init);
  if (id_pool.used + 8 > ID_POOL) {
    randombytes_buf(id_pool.bytes, ID_POOL);
    id_pool.used = 0;
  }
  memcpy(out, id_pool.bytes + id_pool.used, 8);
  /* Bytes handed out are not kept: a later memory disclosure cannot replay them. */
  sodium_memzero(id_pool.bytes + id_pool.used, 8);
  id_pool.used += 8;
}

static void req_refill(void) {
  pthread_once(&id_pool_once, id_pool_init);
  static const unsigned char nonce[crypto_stream_chacha20_NONCEBYTES]; /* each key is used once */
  req_stream_t *r = &req_stream;
  unsigned char key[crypto_stream_chacha20_KEYBYTES];
  if (r->refills == 0 || r->refills >= REQ_RESEED) {
    randombytes_buf(key, sizeof(key));
    r->refills = 0;
  } else {
    memcpy(key, r->buf, sizeof(key));
  }
  crypto_stream_chacha20(r->buf, sizeof(r->buf), nonce, key);
  sodium_memzero(key, sizeof(key));
  r->refills++;
  r->used = 0;
}

void util_new_id(char out[25]) {
  unsigned char raw[12];
  uint32_t secs = (uint32_t)(util_now_ms() / 1000);
  raw[0] = (unsigned char)(secs >> 24);
  raw[1] = (unsigned char)(secs >> 16);
  raw[2] = (unsigned char)(secs >> 8);
  raw[3] = (unsigned char)secs;
  id_random8(raw + 4);
  util_hex(raw, sizeof(raw), out);
}

void util_new_ordered_id(char out[25]) {
  unsigned char raw[12];
  if (!ordered.ready) {
    unsigned char r[8];
    id_random8(r);
    memcpy(ordered.origin, r, sizeof(ordered.origin));
    ordered.counter = (uint32_t)r[5] << 16 | (uint32_t)r[6] << 8 | r[7];
    sodium_memzero(r, sizeof(r));
    ordered.ready = 1;
  }
  uint32_t secs = (uint32_t)(util_now_ms() / 1000), n = ordered.counter++;
  raw[0] = (unsigned char)(secs >> 24);
  raw[1] = (unsigned char)(secs >> 16);
  raw[2] = (unsigned char)(secs >> 8);
  raw[3] = (unsigned char)secs;
  memcpy(raw + 4, ordered.origin, sizeof(ordered.origin));
  raw[9] = (unsigned char)(n >> 16);
  raw[10] = (unsigned char)(n >> 8);
  raw[11] = (unsigned char)n;
  util_hex(raw, sizeof(raw), out);
}

void util_random_hex16(char out[17]) {
  req_stream_t *r = &req_stream;
  if (r->used + 8 > REQ_POOL) req_refill();
  unsigned char *raw = r->buf + crypto_stream_chacha20_KEYBYTES + r->used;
  util_hex(raw, 8, out);
  sodium_memzero(raw, 8);
  r->used += 8;
}

void util_hex(const unsigned char *in, size_t n, char *out) {
  static const char digits[] = "0123456789abcdef";
  for (size_t i = 0; i < n; i++) {
    out[2 * i] = digits[in[i] >> 4];
    out[2 * i + 1] = digits[in[i] & 15];
  }
  out[2 * n] = '\0';
}

static int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

int util_unhex(const char *in, unsigned char *out, size_t n) {
  if (strlen(in) != 2 * n) return -1;
  for (size_t i = 0; i < n; i++) {
    int hi = hexval(in[2 * i]), lo = hexval(in[2 * i + 1]);
    if (hi < 0 || lo < 0) return -1;
    out[i] = (unsigned char)(hi << 4 | lo);
  }
  return 0;
}

/* 1 when none of the 8 bytes at s is 0 or above 0x7F: plain ASCII. */
static int ascii8(const unsigned char *s) {
  uint64_t w;
  memcpy(&w, s, sizeof(w));
  const uint64_t ones = 0x0101010101010101ull, highs = 0x8080808080808080ull;
  /* A high bit set, or a zero byte (which borrows into its own high bit). */
  return ((w | (w - ones)) & highs) == 0;
}

int util_utf8_valid(const char *str, size_t len) {
  const unsigned char *s = (const unsigned char *)str;
  size_t i = 0;
  while (i < len) {
    /* Eight plain bytes at a time (a message frame is mostly ASCII): a byte at a
     * time was 1,700 instructions of each message.send frame (callgrind). */
    while (len - i >= 8 && ascii8(s + i)) i += 8;
    if (i >= len) break;
    unsigned c = s[i];
    size_t n;
    uint32_t cp;
    if (c == 0) return 0;
    if (c < 0x80) {
      i++;
      continue;
    } else if ((c & 0xE0) == 0xC0) {
      n = 1;
      cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      n = 2;
      cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      n = 3;
      cp = c & 0x07;
    } else {
      return 0;
    }
    if (len - i <= n) return 0; /* needs bytes i+1 .. i+n */
    for (size_t k = 1; k <= n; k++) {
      if ((s[i + k] & 0xC0) != 0x80) return 0;
      cp = cp << 6 | (s[i + k] & 0x3F);
    }
    if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000)) return 0;
    if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
    i += n + 1;
  }
  return 1;
}

size_t util_utf8_len(const char *s, size_t len) {
  size_t n = 0;
  for (size_t i = 0; i < len; i++)
    if (((unsigned char)s[i] & 0xC0) != 0x80) n++;
  return n;
}

int util_ct_equal(const void *a, const void *b, size_t n) { return sodium_memcmp(a, b, n) == 0; }

long util_url_decode(const char *s, size_t len, char *out, size_t outlen, int form) {
  size_t o = 0;
  for (size_t i = 0; i < len; i++) {
    char c = s[i];
    if (c == '%') {
      if (len - i < 3) return -1;
      int hi = hexval(s[i + 1]), lo = hexval(s[i + 2]);
      if (hi < 0 || lo < 0) return -1;
      c = (char)(hi << 4 | lo);
      i += 2;
    } else if (c == '+' && form) {
      c = ' ';
    }
    if (o + 1 >= outlen) return -1;
    out[o++] = c;
  }
  if (outlen) out[o] = '\0';
  return (long)o;
}

int util_strncasecmp(const char *a, const char *b, size_t n) {
  for (size_t i = 0; i < n; i++) {
    int ca = tolower((unsigned char)a[i]), cb = tolower((unsigned char)b[i]);
    if (ca != cb) return ca - cb;
    if (ca == 0) return 0;
  }
  return 0;
}
