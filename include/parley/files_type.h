/* What an uploaded file is: its MIME type read from its first bytes by
 * libmagic (never the client's claim), and whether that type may be stored. */
#ifndef PARLEY_FILES_TYPE_H
#define PARLEY_FILES_TYPE_H

#include <stddef.h>

/* Bytes of a file's start that files_type_sniff looks at (enough for the
 * zip directory of an OOXML document). */
#define FILES_TYPE_HEAD 65536

/* The MIME type of data (the first len bytes of a file, at most
 * FILES_TYPE_HEAD) into out ("image/png"). Blocking: thread-pool threads only.
 * libmagic is not thread-safe, so each thread loads its own magic_t once and
 * keeps it until the thread ends. Returns 0, or -1 when libmagic cannot load
 * its database or judge the data. */
int files_type_sniff(const char *data, size_t len, char *out, size_t outlen);

/* The attachment type ("image", "video", "audio" or "file") of a MIME type on
 * the allow-list of images, video, audio, PDF and common documents, or NULL
 * for any other (HTML, SVG, scripts, executables, ...). Pure. */
const char *files_type_kind(const char *mime);

#endif
