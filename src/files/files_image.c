/* Images through libvips, on thread-pool threads: the header first (the pixel
 * budget is judged before a pixel is decoded), then the thumbnail, which
 * decodes the whole file with fail_on=error, so a truncated or damaged image
 * is refused rather than half shown; and a JPEG's EXIF removed from the bytes
 * of the original without decoding it again (files_image_jpeg.c). libvips is
 * started once per process, with one thread per operation, no operation
 * cache and its untrusted loaders blocked. */
#include "parley/files_image.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <vips/vips.h>

#include "parley/log.h"

static pthread_once_t vips_once = PTHREAD_ONCE_INIT;
static int vips_rc = -1;

/* libvips warns through GLib ("not enough data" for every truncated upload):
 * into Parley's log at debug, not onto stderr. */
static void on_vips_log(const gchar *domain, GLogLevelFlags level, const gchar *msg, gpointer u) {
  (void)domain, (void)level, (void)u;
  log_debug("libvips: %s", msg);
}

static void vips_start(void) {
  g_log_set_handler(
      "VIPS", G_LOG_LEVEL_WARNING | G_LOG_LEVEL_MESSAGE | G_LOG_LEVEL_INFO | G_LOG_LEVEL_DEBUG,
      on_vips_log, NULL);
  if (VIPS_INIT("parleyd") != 0) return;
  vips_concurrency_set(1);
  vips_cache_set_max(0);
  vips_cache_set_max_mem(0);
  vips_cache_set_max_files(0);
  /* SVG (librsvg), PDF (poppler), ImageMagick and the other loaders marked
   * untrusted never see an uploaded byte; trusted() below narrows further. */
  vips_block_untrusted_set(TRUE);
  vips_rc = 0;
}

int files_image_init(void) {
  pthread_once(&vips_once, vips_start);
  return vips_rc;
}

/* The loaders an upload may reach: the formats of the allow-list libvips
 * decodes itself (BMP would need ImageMagick, which stays blocked). */
static int trusted(const char *loader) {
  static const char *const ok[] = {"VipsForeignLoadJpegBuffer",  "VipsForeignLoadPngBuffer",
                                   "VipsForeignLoadNsgifBuffer", "VipsForeignLoadWebpBuffer",
                                   "VipsForeignLoadHeifBuffer",  "VipsForeignLoadTiffBuffer"};
  for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
    if (strcmp(loader, ok[i]) == 0) return 1;
  return 0;
}

static char *copy_out(void *gbuf, size_t len) {
  char *c = malloc(len ? len : 1);
  if (c) memcpy(c, gbuf, len);
  g_free(gbuf);
  return c;
}

/* The header only: size and orientation. libvips loads lazily, so nothing
 * past the header is decoded here. */
static int read_header(const void *data, size_t len, int *w, int *h, int *orientation) {
  VipsImage *im = vips_image_new_from_buffer(data, len, "", "access", VIPS_ACCESS_SEQUENTIAL,
                                             "fail_on", VIPS_FAIL_ON_ERROR, NULL);
  if (!im) return FILES_IMAGE_INVALID;
  *w = vips_image_get_width(im);
  *h = vips_image_get_height(im);
  *orientation = 1;
  if (vips_image_get_typeof(im, VIPS_META_ORIENTATION) &&
      vips_image_get_int(im, VIPS_META_ORIENTATION, orientation) != 0)
    *orientation = 1;
  if (*orientation < 1 || *orientation > 8) *orientation = 1;
  g_object_unref(im);
  return FILES_IMAGE_OK;
}

/* The thumbnail: shrunk on load where the format allows (JPEG, WebP), turned
 * upright, transparency laid on white, saved as a JPEG without metadata
 * (libvips 8.14's WebP saver writes an EXIF block even when told to strip). */
static int make_thumb(const void *data, size_t len, files_image_t *out) {
  VipsImage *t = NULL, *flat = NULL;
  void *buf = NULL;
  size_t n = 0;
  if (vips_thumbnail_buffer((void *)data, len, &t, FILES_IMAGE_THUMB_EDGE, "height",
                            FILES_IMAGE_THUMB_EDGE, "size", VIPS_SIZE_DOWN, "option_string",
                            "fail_on=error", NULL) != 0)
    return FILES_IMAGE_INVALID;
  if (vips_image_hasalpha(t)) {
    VipsArrayDouble *white = vips_array_double_newv(1, 255.0);
    int rc = vips_flatten(t, &flat, "background", white, NULL);
    vips_area_unref(VIPS_AREA(white));
    g_object_unref(t);
    if (rc != 0) return FILES_IMAGE_INVALID;
    t = flat;
  }
  int rc = vips_jpegsave_buffer(t, &buf, &n, "Q", 80, "strip", TRUE, "optimize_coding", TRUE, NULL);
  g_object_unref(t);
  if (rc != 0) return FILES_IMAGE_INVALID;
  out->thumb = copy_out(buf, n);
  out->thumb_len = n;
  return out->thumb ? FILES_IMAGE_OK : FILES_IMAGE_ERROR;
}

static int process(const void *data, size_t len, int64_t max_pixels, files_image_t *out) {
  const char *loader = vips_foreign_find_load_buffer(data, len);
  if (!loader || !trusted(loader)) return FILES_IMAGE_UNKNOWN;
  int w, h, orientation;
  int rc = read_header(data, len, &w, &h, &orientation);
  if (rc != FILES_IMAGE_OK) return rc;
  if (w <= 0 || h <= 0) return FILES_IMAGE_INVALID;
  if ((int64_t)w * h > max_pixels) return FILES_IMAGE_TOO_LARGE;
  out->width = orientation >= 5 ? h : w;
  out->height = orientation >= 5 ? w : h;
  if ((rc = make_thumb(data, len, out)) != FILES_IMAGE_OK) return rc;
  if (strcmp(loader, "VipsForeignLoadJpegBuffer") == 0 &&
      files_image_jpeg_strip(data, len, orientation, &out->original, &out->original_len) != 0)
    return FILES_IMAGE_INVALID;
  return FILES_IMAGE_OK;
}

int files_image_process(const void *data, size_t len, int64_t max_pixels, files_image_t *out) {
  memset(out, 0, sizeof(*out));
  if (files_image_init() != 0) return FILES_IMAGE_ERROR;
  int rc = process(data, len, max_pixels, out);
  if (rc != FILES_IMAGE_OK) {
    files_image_free(out);
    if (rc == FILES_IMAGE_UNKNOWN) memset(out, 0, sizeof(*out));
  }
  /* libvips keeps an error log and per-thread buffers; a pool thread lives
   * on, so both go now. */
  vips_error_clear();
  vips_thread_shutdown();
  return rc;
}

void files_image_free(files_image_t *im) {
  free(im->original);
  free(im->thumb);
  memset(im, 0, sizeof(*im));
}
