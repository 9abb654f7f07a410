#ifndef LF_CANON_H
#define LF_CANON_H

#include <jansson.h>

/* The canonical text of v (malloc'ed), or NULL when out of memory. */
char *lf_json_canonical(const json_t *v);

#endif
