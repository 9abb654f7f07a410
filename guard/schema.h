/* A JSON Schema compiled once into a validator that runs without reading
 * the schema again. The supported vocabulary is closed: a keyword the
 * validator does not implement is a compile error, never silently ignored.
 *
 * Numbers: jansson holds integers as exact int64 and everything else as a
 * finite double (JSON cannot express NaN or infinities, and jansson refuses
 * integers beyond int64 and overflowing reals). Integer bounds are compared
 * exactly, also beyond 2^53; an integer-valued real (2.0) is an "integer",
 * as JSON Schema says. */
#ifndef LF_SCHEMA_H
#define LF_SCHEMA_H

#include <jansson.h>

#include "lf_err.h"
#include "reasons.h"

typedef struct lf_schema lf_schema_t;

typedef struct lf_schema_opts {
  /* Object schemas that declare "properties" but not
   * "additionalProperties" get false (lamfleet's strict mode). */
  int strict;
} lf_schema_opts_t;

/* Compiles schema (borrowed during the call; the compiled form keeps what
 * it needs). On error returns NULL and names the JSON pointer of the bad
 * keyword, relative to the schema, in errstr. */
lf_schema_t *lf_schema_compile(json_t *schema, const lf_schema_opts_t *opts,
                               char *errstr, size_t errstr_size);
void lf_schema_destroy(lf_schema_t *s);

/* Validates v, adding one reason per problem (every problem, not only the
 * first) with codes type_error, missing_required, unexpected_param or
 * value_error and paths under base (an RFC 6901 pointer, "" for the root).
 * Returns LF_ERR_NOMEM only. */
lf_err_t lf_schema_validate(const lf_schema_t *s, const json_t *v,
                            const char *base, lf_reasons_t *reasons);

/* The schema it was compiled from (borrowed; NULL for NULL). */
json_t *lf_schema_source(const lf_schema_t *s);

/* Length of a UTF-8 string in code points. */
size_t lf_utf8_length(const char *s, size_t bytes);

#endif
