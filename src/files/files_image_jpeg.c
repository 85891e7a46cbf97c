/* A JPEG's metadata removed from its bytes, segment by segment, without
 * decoding the picture again (no generation loss, no cost in pixels): EXIF
 * (and GPS with it), XMP, IPTC and comments go, the colour profile and the
 * JFIF and Adobe segments stay, and whatever follows the end of the image
 * (MPF's second pictures, which carry their own EXIF) is dropped. Pure. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "parley/files_image.h"

typedef struct out_s {
  char *p;
  size_t len, cap;
} out_t;

static void put(out_t *o, const unsigned char *d, size_t n) {
  memcpy(o->p + o->len, d, n); /* cap is len of the input + the EXIF we add */
  o->len += n;
}

/* APP1 with a big-endian TIFF header and one IFD0 entry: Orientation. */
static void put_orientation(out_t *o, int orientation) {
  unsigned char e[36] = {0xFF, 0xE1, 0, 34, 'E', 'x', 'i', 'f', 0,    0,    'M', 'M',
                         0,    42,   0, 0,  0,   8,   0,   1,   0x01, 0x12, 0,   3,
                         0,    0,    0, 1,  0,   0,   0,   0,   0,    0,    0,   0};
  e[29] = (unsigned char)orientation; /* the SHORT value, left-justified in its 4 bytes */
  put(o, e, sizeof(e));
}

/* Segments kept: JFIF (APP0), an ICC profile (APP2 "ICC_PROFILE"), Adobe's
 * colour transform (APP14), and every non-APP segment but comments. */
static int keep(unsigned m, const unsigned char *body, size_t n) {
  if (m == 0xFE) return 0;
  if (m < 0xE0 || m > 0xEF) return 1;
  if (m == 0xE0 || m == 0xEE) return 1;
  return m == 0xE2 && n >= 12 && memcmp(body, "ICC_PROFILE", 12) == 0;
}

/* Entropy-coded data after a SOS header: up to the next marker that is not a
 * stuffed 0xFF00 or a restart marker. Returns its end, or len when none. */
static size_t scan_end(const unsigned char *p, size_t i, size_t len) {
  for (; i + 1 < len; i++)
    if (p[i] == 0xFF && p[i + 1] != 0 && !(p[i + 1] >= 0xD0 && p[i + 1] <= 0xD7)) return i;
  return len;
}

int files_image_jpeg_strip(const void *data, size_t len, int orientation, char **out,
                           size_t *outlen) {
  const unsigned char *p = data;
  if (len < 4 || p[0] != 0xFF || p[1] != 0xD8) return -1;
  out_t o = {malloc(len + 64), 0, len + 64};
  if (!o.p) return -1;
  put(&o, p, 2);
  int exif = orientation >= 2 && orientation <= 8;
  size_t i = 2;
  for (;;) {
    if (i + 2 > len || p[i] != 0xFF) goto bad;
    unsigned m = p[i + 1];
    if (m == 0xFF) { /* fill byte */
      i++;
      continue;
    }
    if (m == 0xD9) {
      put(&o, p + i, 2);
      break;
    }
    if ((m >= 0xD0 && m <= 0xD7) || m == 0x01) {
      put(&o, p + i, 2);
      i += 2;
      continue;
    }
    if (i + 4 > len) goto bad;
    size_t seg = (size_t)p[i + 2] << 8 | p[i + 3];
    if (seg < 2 || i + 2 + seg > len) goto bad;
    if (exif && m != 0xE0) {
      put_orientation(&o, orientation);
      exif = 0;
    }
    if (keep(m, p + i + 4, seg - 2)) put(&o, p + i, 2 + seg);
    i += 2 + seg;
    if (m == 0xDA) {
      size_t end = scan_end(p, i, len);
      if (end >= len) goto bad;
      put(&o, p + i, end - i);
      i = end;
    }
  }
  *out = o.p;
  *outlen = o.len;
  return 0;
bad:
  free(o.p);
  return -1;
}
