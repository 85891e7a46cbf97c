/* Generated secrets kept in the data directory (mode 0600), for deployments
 * that set none: read when present, created otherwise. Start-up only. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "parley/log.h"
#include "parley/util.h"

int util_secret_file(const char *dir, const char *name, unsigned char *out, size_t n) {
  char path[4096], hex[1025];
  if (n * 2 >= sizeof(hex)) return -1;
  snprintf(path, sizeof(path), "%s/%s", dir, name);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd >= 0) {
    ssize_t got = read(fd, hex, n * 2);
    close(fd);
    if (got != (ssize_t)(n * 2)) goto bad;
    hex[n * 2] = '\0';
    if (util_unhex(hex, out, n) != 0) goto bad;
    return 0;
  }
  if (errno != ENOENT) goto bad;
  util_random(out, n);
  util_hex(out, n, hex);
  fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) goto bad;
  ssize_t wrote = write(fd, hex, n * 2);
  if (fsync(fd) != 0 || wrote != (ssize_t)(n * 2)) {
    close(fd);
    goto bad;
  }
  close(fd);
  return 1;
bad:
  log_error("cannot read or create the secret %s: %s", path,
            errno ? strerror(errno) : "bad contents");
  return -1;
}
