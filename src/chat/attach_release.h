/* The bytes of attachments nobody uses any more: a message's deletion
 * (MSG_DELETE) removes the records that no other message and no avatar uses
 * and names their storage keys (removed_files); their files go here. Loop
 * thread. */
#ifndef PARLEY_CHAT_ATTACH_RELEASE_H
#define PARLEY_CHAT_ATTACH_RELEASE_H

#include <jansson.h>

#include "parley/app.h"

/* Removes from files storage each key of result's removed_files (result
 * borrowed; none, or no such member: nothing). A removal that fails leaves
 * bytes that no record names, which no client can reach (logged by storage). */
void attach_release_files(app_t *app, const json_t *result);

#endif
