/* The planner worker: turns each goal into proposed actions one step at a
 * time and advances on each observation until the goal completes, fails or
 * runs out of steps or time. A goal's progress lives in Redis, written only
 * once the batch's outputs are acknowledged, so that any planner of the
 * group can continue it after a restart. */
#ifndef LF_PLANNER_H
#define LF_PLANNER_H

#include "worker.h"

extern const lf_handler_t lf_planner_handler;

#endif
