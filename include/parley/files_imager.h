/* The image step of a stored file, for the loop: the object is read back from
 * storage, files_image_process runs on the thread pool, a JPEG's original is
 * stored again without its EXIF (under the same key) and the thumbnail under
 * a key of its own. At most a few run at once (each holds the whole file in
 * memory while libvips reads it); the others wait their turn in order. Loop
 * thread. */
#ifndef PARLEY_FILES_IMAGER_H
#define PARLEY_FILES_IMAGER_H

#include <stdint.h>
#include <uv.h>

#include "parley/files.h"

typedef struct files_imager_s files_imager_t;

typedef struct files_imaged_s {
  int width, height;  /* 0 when the format is not one libvips reads (stored as is) */
  char thumb_key[25]; /* "" without a thumbnail; there is one whenever width is set */
  int64_t thumb_size; /* its bytes (an image/jpeg) */
  int64_t size;       /* the stored original's bytes (a JPEG without EXIF is smaller); 0
                         when width is 0 */
} files_imaged_t;

/* status: 0, or a FILES_IMAGE_ code below 0 (TOO_LARGE, INVALID: the file is
 * not an image to keep; ERROR), or a negative libuv error from storage. The
 * original stays in storage whatever the status: the caller decides. */
typedef void (*files_imager_cb)(void *ctx, int status, const files_imaged_t *r);

/* max_pixels: the budget (image_max_pixels); running: jobs at once. */
files_imager_t *files_imager_new(uv_loop_t *loop, files_t *files, int64_t max_pixels, int running);
/* Processes the object key of size bytes (at most max_bytes); cb always runs,
 * later, on the loop. Returns 0 or a negative error without calling cb. */
int files_imager_run(files_imager_t *im, const char *key, int64_t size, files_imager_cb cb,
                     void *ctx);
/* Jobs still running or waiting (a shutdown waits for 0). */
int files_imager_busy(const files_imager_t *im);
/* Frees it; nothing may be busy. */
void files_imager_free(files_imager_t *im);

#endif
