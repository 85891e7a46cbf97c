/* Instagram media fetched into storage (API.md, Instagram media): an incoming
 * message's attachments are shown with Meta's URLs at once and fetched in the
 * background, because those URLs expire. A fetch goes through the outbound
 * HTTP client with the address guard (media_fetch_allow lists hosts it may
 * reach at private addresses), is bounded by upload_max_bytes, typed by its
 * magic bytes against the uploads' allow-list on the thread pool, written to
 * files storage, and an image goes through the uploads' libvips step
 * (thumbnail, EXIF stripped). Then the store swaps the message's copy to the
 * stored file (ATTACH_MEDIA_DONE) and the message is delivered as
 * message.updated; its view's url becomes the signed Parley URL. A failed
 * fetch is retried media_fetch_attempts times in all, media_fetch_retry_ms
 * apart and doubling; a file too large or of a refused type is not retried.
 * Either leaves Meta's URL. At most media_fetch_concurrency fetches at once;
 * what is pending lives in the store (claimed with a lease), so fetches
 * resume after a restart and on any instance. Loop thread. */
#ifndef PARLEY_INSTAGRAM_MEDIA_H
#define PARLEY_INSTAGRAM_MEDIA_H

#include <jansson.h>
#include <stdint.h>

#include "parley/app.h"

typedef struct ig_media_s ig_media_t;

/* Starts the fetcher: it claims what is due at once (media left by a stopped
 * instance too). NULL when out of memory. */
ig_media_t *ig_media_new(app_t *app);
/* Something new may be due: claims now (or after the claim in flight). */
void ig_media_kick(ig_media_t *m);
/* Stops claiming (shutdown); fetches in flight finish. */
void ig_media_stop(ig_media_t *m);
/* Fetches in flight and claims waiting for the store (shutdown waits for 0). */
int ig_media_busy(const ig_media_t *m);
/* Frees m once the loop has ended. */
void ig_media_free(ig_media_t *m);

/* The items ATTACH_MEDIA_ADD records for a stored message (borrowed): its
 * attachments whose fetch is "pending", as [{id, type, name, source_url}]; a
 * new array, empty when there are none. Pure. */
json_t *ig_media_items(const json_t *message);

/* When a fetch that failed for the attempts-th time (1 for the first) is due
 * again: now_ms + retry_ms * 2^(attempts - 1), or -1 once attempts reached
 * max_attempts (Meta's URL is kept for good). Pure. */
int64_t ig_media_retry_at(int64_t now_ms, int attempts, int retry_ms, int max_attempts);

#endif
