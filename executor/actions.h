/* What the executor can run, per action of its catalog: an HTTP binding
 * (x-lamfleet.executor with "kind": "http") or a built-in of the same
 * name (echo, sleep_ms). A new kind of action is a new file behind the
 * same lookup. */
#ifndef LF_EXECUTOR_ACTIONS_H
#define LF_EXECUTOR_ACTIONS_H

#include "catalog.h"
#include "http_binding.h"

typedef struct lf_actions lf_actions_t;

/* Parses every binding of cat; NULL with errstr naming the action and
 * field of the first bad one. */
lf_actions_t *lf_actions_new(const lf_catalog_t *cat, char *errstr,
                             size_t errstr_size);
/* Every bad binding of cat, each to fn as "ACTION: x-lamfleet/FIELD: why"
 * (lint mode: unset variables are not problems); how many. */
size_t lf_actions_lint(const lf_catalog_t *cat,
                       void (*fn)(void *opaque, const char *problem),
                       void *opaque);
void lf_actions_destroy(lf_actions_t *a);

/* The HTTP binding of the action, or NULL (a built-in, or nothing). */
const lf_http_binding_t *lf_actions_http(const lf_actions_t *a,
                                         const char *name);

#endif
