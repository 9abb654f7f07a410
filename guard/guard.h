/* The guard worker: every proposed action is checked against the catalog,
 * deduplicated through a Redis reservation of its idempotency key, and
 * approved (to actions.approved) or turned back to the planner as an
 * observation (rejected or duplicate, with reasons). */
#ifndef LF_GUARD_H
#define LF_GUARD_H

#include <jansson.h>

#include "catalog.h"
#include "rules.h"
#include "worker.h"

extern const lf_handler_t lf_guard_handler;

#endif
