/* The planner worker: turns each goal into proposed actions through its
 * backend (planner/backend.h: the offline playbook, or a model behind an
 * OpenAI-compatible API) and continues on each observation until the goal
 * completes, fails or reaches a limit. A goal's state lives in Redis,
 * versioned, written only once the batch's outputs are acknowledged, so
 * that any planner of the group can continue it; model calls run
 * concurrently in the worker's own loop, up to planner.max.inflight. */
#ifndef LF_PLANNER_H
#define LF_PLANNER_H

#include "worker.h"

extern const lf_handler_t lf_planner_handler;

#endif
