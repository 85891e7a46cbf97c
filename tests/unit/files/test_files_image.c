/* Images without sockets: a decompression bomb refused from its header in
 * microseconds, truncated files refused, EXIF and GPS gone from a JPEG's
 * stored original and from its thumbnail while its orientation stays, the
 * thumbnail's size, formats libvips must not or cannot read left alone; and
 * the loop's image step (files_imager) over the data-directory backend, read
 * back through the storage reader. Test images are made with libvips. */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <uv.h>
#include <vips/vips.h>
#include <zlib.h>

#include <cmocka.h>

#include "parley/files.h"
#include "parley/files_image.h"
#include "parley/files_imager.h"

#define BUDGET INT64_C(100000000)

typedef struct blob_s {
  char *p;
  size_t len;
} blob_t;

/* A noisy w x h picture (noise does not compress, so a cut loses real data). */
static VipsImage *picture(int w, int h) {
  VipsImage *noise = NULL, *u8 = NULL;
  assert_int_equal(vips_gaussnoise(&noise, w, h, "mean", 128.0, "sigma", 40.0, NULL), 0);
  assert_int_equal(vips_cast_uchar(noise, &u8, NULL), 0);
  g_object_unref(noise);
  VipsImage *bands[3] = {u8, u8, u8}, *rgb = NULL;
  assert_int_equal(vips_bandjoin(bands, &rgb, 3, NULL), 0);
  g_object_unref(u8);
  return rgb;
}

static blob_t save(int w, int h, const char *suffix) {
  VipsImage *im = picture(w, h);
  void *buf = NULL;
  size_t len = 0;
  assert_int_equal(vips_image_write_to_buffer(im, suffix, &buf, &len, "strip", TRUE, NULL), 0);
  g_object_unref(im);
  blob_t b = {malloc(len), len};
  memcpy(b.p, buf, len);
  g_free(buf);
  return b;
}

static void be16(unsigned char *p, unsigned v) {
  p[0] = (unsigned char)(v >> 8);
  p[1] = (unsigned char)v;
}
static void be32(unsigned char *p, uint32_t v) {
  be16(p, v >> 16);
  be16(p + 2, v & 0xffff);
}

/* An APP1 EXIF segment: IFD0 with Make "ParleyCam", Orientation 6 (turned a
 * quarter) and a GPS IFD (latitude N 48 51 29.73). */
static size_t exif_gps(unsigned char *s) {
  unsigned char *t = s + 10; /* the TIFF header, after FFE1, length, "Exif\0\0" */
  memset(s, 0, 128);
  s[0] = 0xFF, s[1] = 0xE1;
  be16(s + 2, 2 + 6 + 114);
  memcpy(s + 4, "Exif\0\0", 6);
  memcpy(t, "MM\0*", 4);
  be32(t + 4, 8);
  be16(t + 8, 3);
  be16(t + 10, 0x010F), be16(t + 12, 2), be32(t + 14, 10), be32(t + 18, 50); /* Make */
  be16(t + 22, 0x0112), be16(t + 24, 3), be32(t + 26, 1), be16(t + 30, 6);   /* Orientation */
  be16(t + 34, 0x8825), be16(t + 36, 4), be32(t + 38, 1), be32(t + 42, 60);  /* GPSInfo */
  be32(t + 46, 0);
  memcpy(t + 50, "ParleyCam", 10);
  be16(t + 60, 2);
  be16(t + 62, 0x0001), be16(t + 64, 2), be32(t + 66, 2), t[70] = 'N';      /* GPSLatitudeRef */
  be16(t + 74, 0x0002), be16(t + 76, 5), be32(t + 78, 3), be32(t + 82, 90); /* GPSLatitude */
  be32(t + 86, 0);
  uint32_t rat[6] = {48, 1, 51, 1, 2973, 100};
  for (int i = 0; i < 6; i++) be32(t + 90 + 4 * i, rat[i]);
  return 2 + 2 + 6 + 114;
}

/* A w x h JPEG with the EXIF above right after its SOI. */
static blob_t jpeg_with_gps(int w, int h) {
  blob_t j = save(w, h, ".jpg");
  unsigned char seg[160];
  size_t n = exif_gps(seg);
  blob_t b = {malloc(j.len + n), j.len + n};
  memcpy(b.p, j.p, 2);
  memcpy(b.p + 2, seg, n);
  memcpy(b.p + 2 + n, j.p + 2, j.len - 2);
  free(j.p);
  return b;
}

static int has(const blob_t *b, const char *what, size_t n) {
  for (size_t i = 0; i + n <= b->len; i++)
    if (memcmp(b->p + i, what, n) == 0) return 1;
  return 0;
}

static VipsImage *load(const char *p, size_t len) {
  VipsImage *im = vips_image_new_from_buffer(p, len, "", NULL);
  assert_non_null(im);
  return im;
}

static void png_chunk(unsigned char **w, const char *type, const unsigned char *d, uint32_t n) {
  be32(*w, n);
  memcpy(*w + 4, type, 4);
  if (n) memcpy(*w + 8, d, n);
  uLong crc = crc32(0, *w + 4, 4 + n);
  be32(*w + 8 + n, (uint32_t)crc);
  *w += 12 + n;
}

static int setup_vips(void **state) {
  (void)state;
  assert_int_equal(files_image_init(), 0);
  return 0;
}

static void test_bomb_refused_from_header(void **state) {
  (void)state;
  /* A PNG of a few KB claiming 50,000 x 50,000: IHDR, a start of zlib data,
   * IEND. Decoding it would take 7.5 GB of pixels. */
  unsigned char png[4096], *w = png, ihdr[13], idat[2048];
  memcpy(w, "\x89PNG\r\n\x1a\n", 8);
  w += 8;
  be32(ihdr, 50000), be32(ihdr + 4, 50000);
  ihdr[8] = 8, ihdr[9] = 2, ihdr[10] = ihdr[11] = ihdr[12] = 0;
  png_chunk(&w, "IHDR", ihdr, 13);
  unsigned char zeros[4096] = {0};
  uLongf zn = sizeof(idat);
  assert_int_equal(compress(idat, &zn, zeros, sizeof(zeros)), Z_OK);
  png_chunk(&w, "IDAT", idat, (uint32_t)zn);
  png_chunk(&w, "IEND", NULL, 0);
  size_t len = (size_t)(w - png);
  assert_true(len < 4096);

  files_image_t out;
  struct timespec a, b;
  clock_gettime(CLOCK_MONOTONIC, &a);
  assert_int_equal(files_image_process(png, len, BUDGET, &out), FILES_IMAGE_TOO_LARGE);
  clock_gettime(CLOCK_MONOTONIC, &b);
  double us = (double)(b.tv_sec - a.tv_sec) * 1e6 + (double)(b.tv_nsec - a.tv_nsec) / 1e3;
  print_message("bomb of %zu bytes claiming 50000x50000 refused in %.0f us\n", len, us);
  /* Decoding even one row of it takes longer; the header is all it reads. */
  assert_true(us < 50000);
  assert_null(out.thumb);
  assert_null(out.original);
  files_image_free(&out);

  /* The budget is the setting's: the same file passes a budget above it, and
   * is then refused as the truncated file it is. */
  assert_int_equal(files_image_process(png, len, INT64_C(3000000000), &out), FILES_IMAGE_INVALID);
  files_image_free(&out);
}

static void test_truncated_refused(void **state) {
  (void)state;
  files_image_t out;
  blob_t j = save(600, 400, ".jpg");
  assert_int_equal(files_image_process(j.p, j.len, BUDGET, &out), FILES_IMAGE_OK);
  files_image_free(&out);
  assert_int_equal(files_image_process(j.p, j.len / 2, BUDGET, &out), FILES_IMAGE_INVALID);
  assert_null(out.thumb);
  files_image_free(&out);
  free(j.p);

  blob_t p = save(600, 400, ".png");
  assert_int_equal(files_image_process(p.p, p.len, BUDGET, &out), FILES_IMAGE_OK);
  files_image_free(&out);
  assert_int_equal(files_image_process(p.p, p.len / 2, BUDGET, &out), FILES_IMAGE_INVALID);
  files_image_free(&out);
  free(p.p);
}

static void test_exif_and_gps_stripped(void **state) {
  (void)state;
  blob_t j = jpeg_with_gps(64, 48);
  /* What the upload holds, as libvips reads it. */
  VipsImage *in = load(j.p, j.len);
  assert_true(vips_image_get_typeof(in, "exif-ifd3-GPSLatitude") != 0);
  assert_true(vips_image_get_typeof(in, "exif-ifd0-Make") != 0);
  g_object_unref(in);
  assert_true(has(&j, "ParleyCam", 9));

  files_image_t out;
  assert_int_equal(files_image_process(j.p, j.len, BUDGET, &out), FILES_IMAGE_OK);
  /* Orientation 6 shows it a quarter turned: 48 wide, 64 high. */
  assert_int_equal(out.width, 48);
  assert_int_equal(out.height, 64);
  assert_non_null(out.original);
  blob_t o = {out.original, out.original_len};
  assert_false(has(&o, "ParleyCam", 9));
  VipsImage *im = load(out.original, out.original_len);
  assert_int_equal(vips_image_get_typeof(im, "exif-ifd3-GPSLatitude"), 0);
  assert_int_equal(vips_image_get_typeof(im, "exif-ifd3-GPSLatitudeRef"), 0);
  assert_int_equal(vips_image_get_typeof(im, "exif-ifd0-Make"), 0);
  int orientation = 0;
  assert_int_equal(vips_image_get_int(im, VIPS_META_ORIENTATION, &orientation), 0);
  assert_int_equal(orientation, 6);
  /* The pixels are the same bytes, not decoded and saved again. */
  assert_int_equal(vips_image_get_width(im), 64);
  assert_true(out.original_len < j.len);
  assert_memory_equal(out.original + out.original_len - 200, j.p + j.len - 200, 200);
  g_object_unref(im);

  VipsImage *t = load(out.thumb, out.thumb_len);
  assert_int_equal(vips_image_get_typeof(t, VIPS_META_EXIF_NAME), 0);
  assert_int_equal(vips_image_get_typeof(t, "exif-ifd3-GPSLatitude"), 0);
  /* Turned upright. */
  assert_int_equal(vips_image_get_width(t), 48);
  assert_int_equal(vips_image_get_height(t), 64);
  g_object_unref(t);
  files_image_free(&out);
  free(j.p);
}

static void test_jpeg_strip_rules(void **state) {
  (void)state;
  blob_t j = jpeg_with_gps(16, 16);
  char *out = NULL;
  size_t n = 0;
  /* Orientation 1 needs no EXIF at all. */
  assert_int_equal(files_image_jpeg_strip(j.p, j.len, 1, &out, &n), 0);
  blob_t o = {out, n};
  assert_false(has(&o, "Exif", 4));
  /* A second picture after the end (as MPF appends) is dropped. */
  char *twice = malloc(j.len * 2);
  memcpy(twice, j.p, j.len);
  memcpy(twice + j.len, j.p, j.len);
  char *out2 = NULL;
  size_t n2 = 0;
  assert_int_equal(files_image_jpeg_strip(twice, j.len * 2, 1, &out2, &n2), 0);
  assert_int_equal(n2, n);
  free(out2);
  free(twice);
  free(out);
  /* Cut short, or not a JPEG at all. */
  assert_int_equal(files_image_jpeg_strip(j.p, j.len - 10, 1, &out, &n), -1);
  assert_int_equal(files_image_jpeg_strip("GIF89a", 6, 1, &out, &n), -1);
  free(j.p);
}

static void test_thumbnail_size(void **state) {
  (void)state;
  files_image_t out;
  blob_t p = save(1000, 500, ".png");
  assert_int_equal(files_image_process(p.p, p.len, BUDGET, &out), FILES_IMAGE_OK);
  assert_int_equal(out.width, 1000);
  assert_int_equal(out.height, 500);
  assert_null(out.original); /* a PNG is kept as it came */
  VipsImage *t = load(out.thumb, out.thumb_len);
  assert_int_equal(vips_image_get_width(t), FILES_IMAGE_THUMB_EDGE);
  assert_int_equal(vips_image_get_height(t), FILES_IMAGE_THUMB_EDGE / 2);
  assert_memory_equal(out.thumb, "\xff\xd8\xff", 3);
  g_object_unref(t);
  files_image_free(&out);
  free(p.p);
  /* A small one keeps its size. */
  blob_t s = save(100, 50, ".png");
  assert_int_equal(files_image_process(s.p, s.len, BUDGET, &out), FILES_IMAGE_OK);
  t = load(out.thumb, out.thumb_len);
  assert_int_equal(vips_image_get_width(t), 100);
  assert_int_equal(vips_image_get_height(t), 50);
  g_object_unref(t);
  files_image_free(&out);
  free(s.p);
}

static void test_untrusted_and_unknown_left_alone(void **state) {
  (void)state;
  files_image_t out;
  static const char svg[] =
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"10\" "
      "height=\"10\"><rect width=\"10\" height=\"10\"/></svg>";
  assert_int_equal(files_image_process(svg, sizeof(svg) - 1, BUDGET, &out), FILES_IMAGE_UNKNOWN);
  assert_null(out.thumb);
  static const char pdf[] = "%PDF-1.4\n1 0 obj<</Type/Catalog>>endobj\n%%EOF\n";
  assert_int_equal(files_image_process(pdf, sizeof(pdf) - 1, BUDGET, &out), FILES_IMAGE_UNKNOWN);
  assert_int_equal(files_image_process("hello", 5, BUDGET, &out), FILES_IMAGE_UNKNOWN);
  assert_int_equal(out.width, 0);
  files_image_free(&out);
}

/* ---- the loop's image step over the data directory ---- */

typedef struct fx_s {
  uv_loop_t loop;
  char dir[64];
  files_t *f;
  files_imager_t *im;
  int calls, status;
  ssize_t nread;
  int images, image_status[4]; /* the image step's callbacks, apart */
  files_imaged_t res[4];
} fx_t;

static int setup(void **state) {
  fx_t *fx = calloc(1, sizeof(*fx));
  uv_loop_init(&fx->loop);
  snprintf(fx->dir, sizeof(fx->dir), "/tmp/parley-image-XXXXXX");
  assert_non_null(mkdtemp(fx->dir));
  fx->f = files_open_dir(&fx->loop, fx->dir);
  fx->im = files_imager_new(&fx->loop, fx->f, BUDGET, 1);
  assert_non_null(fx->im);
  *state = fx;
  return 0;
}

static int teardown(void **state) {
  fx_t *fx = *state;
  files_imager_free(fx->im);
  files_close(fx->f);
  uv_run(&fx->loop, UV_RUN_DEFAULT);
  assert_int_equal(uv_loop_close(&fx->loop), 0);
  char cmd[128];
  snprintf(cmd, sizeof(cmd), "rm -rf %s", fx->dir);
  assert_int_equal(system(cmd), 0);
  free(fx);
  return 0;
}

static void done(void *ctx, int status) {
  fx_t *fx = ctx;
  fx->calls++;
  fx->status = status;
}

static void read_done(void *ctx, ssize_t n) {
  fx_t *fx = ctx;
  fx->calls++;
  fx->nread = n;
}

static void imaged(void *ctx, int status, const files_imaged_t *r) {
  fx_t *fx = ctx;
  assert_true(fx->images < 4);
  fx->image_status[fx->images] = status;
  fx->res[fx->images++] = *r;
}

static void wait_images(fx_t *fx, int want) {
  while (fx->images < want) uv_run(&fx->loop, UV_RUN_ONCE);
}

static void wait_calls(fx_t *fx, int want) {
  while (fx->calls < want) uv_run(&fx->loop, UV_RUN_ONCE);
}

static void store_blob(fx_t *fx, const char *key, const blob_t *b) {
  files_upload_t *u = NULL;
  int c = fx->calls;
  assert_int_equal(files_upload_begin(fx->f, key, &u, done, fx), 0);
  wait_calls(fx, c + 1);
  assert_int_equal(files_upload_write(u, b->p, b->len, done, fx), 0);
  wait_calls(fx, c + 2);
  assert_int_equal(files_upload_commit(u, done, fx), 0);
  wait_calls(fx, c + 3);
  assert_int_equal(fx->status, 0);
}

static blob_t read_back(fx_t *fx, const char *key) {
  files_reader_t *r = NULL;
  int c = fx->calls;
  assert_int_equal(files_reader_open(fx->f, key, 0, &r, done, fx), 0);
  wait_calls(fx, ++c);
  assert_int_equal(fx->status, 0);
  blob_t b = {malloc(1 << 20), 0};
  for (;;) {
    assert_int_equal(files_reader_read(r, b.p + b.len, (1 << 20) - b.len, read_done, fx), 0);
    wait_calls(fx, ++c);
    assert_true(fx->nread >= 0);
    if (fx->nread == 0) break;
    b.len += (size_t)fx->nread;
  }
  files_reader_close(r);
  return b;
}

static void test_imager_stores_stripped_original_and_thumbnail(void **state) {
  fx_t *fx = *state;
  const char *key = "0123456789abcdef01234567", *key2 = "0123456789abcdef01234568";
  blob_t j = jpeg_with_gps(640, 480);
  store_blob(fx, key, &j);
  blob_t p = save(100, 80, ".png");
  store_blob(fx, key2, &p);
  /* One at a time: the second waits for the first. */
  assert_int_equal(files_imager_run(fx->im, key, (int64_t)j.len, imaged, fx), 0);
  assert_int_equal(files_imager_run(fx->im, key2, (int64_t)p.len, imaged, fx), 0);
  assert_int_equal(files_imager_busy(fx->im), 2);
  wait_images(fx, 1);
  files_imaged_t first = fx->res[0];
  assert_int_equal(fx->image_status[0], 0);
  assert_int_equal(first.width, 480);
  assert_int_equal(first.height, 640);
  assert_true(files_key_valid(first.thumb_key));

  blob_t o = read_back(fx, key);
  assert_false(has(&o, "ParleyCam", 9));
  VipsImage *im = load(o.p, o.len);
  assert_int_equal(vips_image_get_typeof(im, "exif-ifd3-GPSLatitude"), 0);
  g_object_unref(im);
  blob_t t = read_back(fx, first.thumb_key);
  im = load(t.p, t.len);
  assert_int_equal(vips_image_get_height(im), FILES_IMAGE_THUMB_EDGE);
  assert_int_equal(vips_image_get_width(im), FILES_IMAGE_THUMB_EDGE * 3 / 4);
  assert_int_equal(vips_image_get_typeof(im, VIPS_META_EXIF_NAME), 0);
  g_object_unref(im);

  wait_images(fx, 2);
  assert_int_equal(fx->image_status[1], 0);
  assert_int_equal(fx->res[1].width, 100);
  assert_int_equal(files_imager_busy(fx->im), 0);
  blob_t p2 = read_back(fx, key2);
  assert_int_equal(p2.len, p.len); /* a PNG stays as it was uploaded */

  /* An absent object: its error, and nothing else. */
  assert_int_equal(files_imager_run(fx->im, "0123456789abcdef0123456f", 10, imaged, fx), 0);
  wait_images(fx, 3);
  assert_int_equal(fx->image_status[2], UV_ENOENT);
  assert_string_equal(fx->res[2].thumb_key, "");
  free(j.p), free(p.p), free(o.p), free(t.p), free(p2.p);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_bomb_refused_from_header),
      cmocka_unit_test(test_truncated_refused),
      cmocka_unit_test(test_exif_and_gps_stripped),
      cmocka_unit_test(test_jpeg_strip_rules),
      cmocka_unit_test(test_thumbnail_size),
      cmocka_unit_test(test_untrusted_and_unknown_left_alone),
      cmocka_unit_test_setup_teardown(test_imager_stores_stripped_original_and_thumbnail, setup,
                                      teardown),
  };
  return cmocka_run_group_tests(tests, setup_vips, NULL);
}
