/* Fuzz target: a configuration file as an operator might write it (or not).
 * Whatever the JSON holds, loading must end in a valid configuration or a
 * refusal, never a crash or a leak. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "parley/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static char path[64];
  if (!path[0]) snprintf(path, sizeof(path), "/tmp/parley-fuzz-config-%d.json", (int)getpid());
  FILE *f = fopen(path, "wb");
  if (!f) return 0;
  fwrite(data, 1, size, f);
  fclose(f);
  char *argv[] = {"parleyd", "--config", path, NULL};
  config_t cfg;
  config_load(&cfg, 3, argv);
  config_free(&cfg);
  unlink(path);
  return 0;
}
