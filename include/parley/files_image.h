/* Images among uploaded files, through libvips: the size read from the header
 * (refused over a pixel budget before any pixel is decoded), the original of a
 * JPEG rewritten without its EXIF (GPS with it), and a small JPEG thumbnail
 * without metadata. Blocking: thread-pool threads only (files_image_job.c runs
 * it there for the loop). */
#ifndef PARLEY_FILES_IMAGE_H
#define PARLEY_FILES_IMAGE_H

#include <stddef.h>
#include <stdint.h>

/* The thumbnail's longest edge, in pixels (smaller images keep their size). */
#define FILES_IMAGE_THUMB_EDGE 320

enum {
  FILES_IMAGE_OK = 0,
  FILES_IMAGE_UNKNOWN = 1,    /* no trusted loader takes it: stored as is, no size */
  FILES_IMAGE_ERROR = -1,     /* libvips could not start, or out of memory */
  FILES_IMAGE_TOO_LARGE = -2, /* over the pixel budget; nothing was decoded */
  FILES_IMAGE_INVALID = -3,   /* damaged or truncated */
};

typedef struct files_image_s {
  int width, height; /* as shown: EXIF orientation 5 to 8 swaps them; 0 when unknown */
  char *original;    /* the original rewritten (a JPEG without EXIF), or NULL: keep it */
  size_t original_len;
  char *thumb; /* image/jpeg, or NULL */
  size_t thumb_len;
} files_image_t;

/* Starts libvips once per process (later calls return at once): one thread per
 * operation (the pool gives the parallelism), the operation cache off, and
 * the untrusted loaders (SVG, PDF, ImageMagick, ...) blocked. Any thread.
 * Returns 0 or -1. */
int files_image_init(void);

/* Looks at data (borrowed, len bytes of a whole image) and fills *out (which
 * the caller frees with files_image_free, whatever the answer). max_pixels is
 * the budget for width * height (times the frames of an animation). Returns
 * one of the FILES_IMAGE_ codes. Thread-pool threads. */
int files_image_process(const void *data, size_t len, int64_t max_pixels, files_image_t *out);
void files_image_free(files_image_t *im);

/* The JPEG in data (len bytes) without APP1 (EXIF, XMP), APP12, APP13 (IPTC)
 * and comment segments, and without anything after its end; a minimal EXIF
 * holding only orientation (1 to 8) is written when that is not 1, so the
 * picture stays upright. A new buffer in *out, or -1 when data is not a
 * well-formed JPEG. Pure. */
int files_image_jpeg_strip(const void *data, size_t len, int orientation, char **out,
                           size_t *outlen);

#endif
