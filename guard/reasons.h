/* Why an action is not approved: a list of (code, JSON pointer, sentence). */
#ifndef LF_REASONS_H
#define LF_REASONS_H

#include <stddef.h>

#include "lf_err.h"
#include "lf_proto.h"

typedef struct lf_reasons {
  size_t n, cap;
  lf_reason_t *v;   /* protobuf-ready; strings owned here */
  lf_reason_t **pv; /* pointer array for repeated fields */
} lf_reasons_t;

lf_err_t lf_reasons_add(lf_reasons_t *r, const char *code, const char *path,
                        const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void lf_reasons_clear(lf_reasons_t *r); /* empties, keeps capacity */
void lf_reasons_free(lf_reasons_t *r);
/* RFC 6901 pointer of parent + "/" + escaped name into out. */
void lf_json_pointer(char *out, size_t size, const char *parent,
                     const char *name);

#endif
