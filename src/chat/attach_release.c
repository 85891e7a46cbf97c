/* Files of deleted attachments removed from storage (attach_release.h). Loop
 * thread. */
#include "chat/attach_release.h"

#include "parley/files.h"

void attach_release_files(app_t *app, const json_t *result) {
  json_t *key;
  size_t i;
  json_array_foreach(json_object_get(result, "removed_files"), i, key) {
    const char *k = json_string_value(key);
    if (k && app->files && files_key_valid(k)) files_remove(app->files, k, NULL, NULL);
  }
}
