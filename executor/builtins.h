/* Actions the executor runs in-process, for demos and tests. A new kind of
 * action is a new entry behind the same signature. */
#ifndef LF_BUILTINS_H
#define LF_BUILTINS_H

#include <jansson.h>
#include <stdint.h>

#include "config.h"

/* Returns 0 with *result set, or -1 with errstr (the action failed). A
 * built-in that takes time sets *after_ms instead of blocking: the
 * executor keeps polling and reports the outcome once it has passed. */
typedef int (*lf_builtin_fn)(const lf_conf_t *conf, json_t *args,
                             json_t **result, int64_t *after_ms, char *errstr,
                             size_t errstr_size);

lf_builtin_fn lf_builtin_find(const char *name);

#endif
