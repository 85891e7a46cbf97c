/* The storage interface's calls, handed to the backend's table, and the rule
 * for keys. Loop thread. */
#include "parley/files.h"

#include <string.h>

/* Every upload and reader starts with its backend pointer, so the calls on
 * them find their table (see files_dir.c). */
struct files_upload_s {
  files_t *f;
};
struct files_reader_s {
  files_t *f;
};

int files_upload_begin(files_t *f, const char *key, files_upload_t **out, files_cb cb, void *ctx) {
  if (!files_key_valid(key)) return UV_EINVAL;
  return f->ops->upload_begin(f, key, out, cb, ctx);
}

int files_upload_write(files_upload_t *u, const char *data, size_t len, files_cb cb, void *ctx) {
  return u->f->ops->upload_write(u, data, len, cb, ctx);
}

int files_upload_commit(files_upload_t *u, files_cb cb, void *ctx) {
  return u->f->ops->upload_commit(u, cb, ctx);
}

void files_upload_abort(files_upload_t *u) {
  if (u) u->f->ops->upload_abort(u);
}

int files_remove(files_t *f, const char *key, files_cb cb, void *ctx) {
  if (!files_key_valid(key)) return UV_EINVAL;
  return f->ops->remove(f, key, cb, ctx);
}

int files_reader_open(files_t *f, const char *key, uint64_t offset, files_reader_t **out,
                      files_cb cb, void *ctx) {
  if (!files_key_valid(key)) return UV_EINVAL;
  return f->ops->reader_open(f, key, offset, out, cb, ctx);
}

int files_reader_read(files_reader_t *r, char *buf, size_t len, files_read_cb cb, void *ctx) {
  return r->f->ops->reader_read(r, buf, len, cb, ctx);
}

void files_reader_close(files_reader_t *r) {
  if (r) r->f->ops->reader_close(r);
}

void files_close(files_t *f) {
  if (f) f->ops->close(f);
}

int files_key_valid(const char *key) {
  if (!key || strlen(key) != 24) return 0;
  for (const char *c = key; *c; c++)
    if (!((*c >= '0' && *c <= '9') || (*c >= 'a' && *c <= 'f'))) return 0;
  return 1;
}
