/* Where a flow's validation error goes (model.c, instantchat.c): the message,
 * the top-level field it is about, and the node it names ("" when none). Flows
 * module only. */
#ifndef PARLEY_FLOWS_VERR_H
#define PARLEY_FLOWS_VERR_H

#include <stddef.h>

typedef struct verr_s {
  char *err;
  size_t errlen;
  char *field;
  size_t fieldlen;
  char *node;
  size_t nodelen;
} verr_t;

/* Writes the error (fmt as printf) and returns -1. */
int flow_verr(verr_t *v, const char *field, const char *node, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#endif
