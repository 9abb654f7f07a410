#ifndef LF_CANON_H
#define LF_CANON_H

#include <jansson.h>

/* The canonical text of v (malloc'ed), or NULL when out of memory. */
char *lf_json_canonical(const json_t *v);

/* The canonical text of a number (as lf_json_canonical writes it: an
 * integral value as an integer, -0 as 0, any other in the fewest of 15 to
 * 17 significant digits that read back as d) into buf of at least
 * LF_REAL_TEXT_MAX bytes; returns its length. */
#define LF_REAL_TEXT_MAX 40
size_t lf_json_real_text(double d, char *buf);

#endif
