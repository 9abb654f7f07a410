/* The guard worker: every proposed action is checked against the catalog,
 * deduplicated through a Redis reservation of its idempotency key, and
 * approved (to actions.approved) or turned back to the planner as an
 * observation (rejected or duplicate, with reasons). */
#ifndef LF_GUARD_H
#define LF_GUARD_H

#include <jansson.h>

#include "catalog.h"
#include "worker.h"

extern const lf_handler_t lf_guard_handler;

/* The checks that need no Redis: a known action with well-formed
 * arguments. Adds every problem to reasons; returns LF_ERR_NOMEM only. */
lf_err_t lf_guard_check(const lf_catalog_t *cat, const lf_action_t *a,
                        lf_reasons_t *reasons, json_t **args_out);

/* The key an action is deduplicated by: the planner's when it gives one,
 * otherwise the SHA-256 of tenant, action name and canonical arguments. */
void lf_guard_idempotency_key(const lf_action_t *a, const json_t *args,
                              char *out, size_t size);

#endif
