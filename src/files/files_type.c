/* The type of an uploaded file: libmagic on the thread pool (one magic_t per
 * thread, made on the thread's first call and closed when it exits), and the
 * allow-list of types Parley stores. */
#include "parley/files_type.h"

#include <magic.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

static pthread_key_t magic_key;
static pthread_once_t magic_once = PTHREAD_ONCE_INIT;

static void magic_free(void *m) { magic_close(m); }
static void magic_key_make(void) { pthread_key_create(&magic_key, magic_free); }

static magic_t thread_magic(void) {
  pthread_once(&magic_once, magic_key_make);
  magic_t m = pthread_getspecific(magic_key);
  if (m) return m;
  /* MAGIC_NO_CHECK_COMPRESS: a gzip of an image is a gzip, not an image. */
  m = magic_open(MAGIC_MIME_TYPE | MAGIC_ERROR | MAGIC_NO_CHECK_COMPRESS);
  if (!m) return NULL;
  if (magic_load(m, NULL) != 0 || pthread_setspecific(magic_key, m) != 0) {
    magic_close(m);
    return NULL;
  }
  return m;
}

int files_type_sniff(const char *data, size_t len, char *out, size_t outlen) {
  magic_t m = thread_magic();
  if (!m) return -1;
  const char *t = magic_buffer(m, data, len > FILES_TYPE_HEAD ? FILES_TYPE_HEAD : len);
  if (!t || (size_t)snprintf(out, outlen, "%s", t) >= outlen) return -1;
  return 0;
}

typedef struct allowed_s {
  const char *mime; /* exact, or a prefix ending in '.' */
  const char *kind;
} allowed_t;

static const allowed_t allowed[] = {
    {"image/jpeg", "image"},
    {"image/png", "image"},
    {"image/gif", "image"},
    {"image/webp", "image"},
    {"image/avif", "image"},
    {"image/heic", "image"},
    {"image/heif", "image"},
    {"image/bmp", "image"},
    {"image/x-ms-bmp", "image"},
    {"image/tiff", "image"},
    {"video/mp4", "video"},
    {"video/webm", "video"},
    {"video/quicktime", "video"},
    {"video/x-matroska", "video"},
    {"video/mpeg", "video"},
    {"video/3gpp", "video"},
    {"video/x-msvideo", "video"},
    {"audio/mpeg", "audio"},
    {"audio/ogg", "audio"},
    {"application/ogg", "audio"},
    {"audio/wav", "audio"},
    {"audio/x-wav", "audio"},
    {"audio/webm", "audio"},
    {"audio/flac", "audio"},
    {"audio/x-flac", "audio"},
    {"audio/aac", "audio"},
    {"audio/x-hx-aac-adts", "audio"},
    {"audio/mp4", "audio"},
    {"audio/x-m4a", "audio"},
    {"audio/opus", "audio"},
    {"application/pdf", "file"},
    {"text/plain", "file"},
    {"text/csv", "file"},
    {"application/csv", "file"},
    {"application/rtf", "file"},
    {"text/rtf", "file"},
    {"application/msword", "file"},
    {"application/vnd.ms-excel", "file"},
    {"application/vnd.ms-powerpoint", "file"},
    {"application/vnd.openxmlformats-officedocument.", "file"},
    {"application/vnd.oasis.opendocument.", "file"},
    {"application/zip", "file"},
};

const char *files_type_kind(const char *mime) {
  if (!mime) return NULL;
  for (size_t i = 0; i < sizeof(allowed) / sizeof(allowed[0]); i++) {
    const char *a = allowed[i].mime;
    size_t n = strlen(a);
    int prefix = a[n - 1] == '.';
    if (prefix ? strncmp(mime, a, n) == 0 && mime[n] : strcmp(mime, a) == 0) return allowed[i].kind;
  }
  return NULL;
}
