/* The executor worker: carries out approved actions and publishes one
 * observation each. Only approvals that pass executor/verify.h run; the
 * rest are dead-lettered. Each run is claimed, fenced and finished once in
 * Redis (executor/runstate.h), so a redelivered action republishes its
 * stored observation instead of running again. Actions are HTTP calls
 * (executor/action_http.h, run concurrently under executor.max.inflight,
 * their records completed out of order: executor/inflight.c) or
 * built-ins. */
#ifndef LF_EXECUTOR_H
#define LF_EXECUTOR_H

#include "worker.h"

extern const lf_handler_t lf_executor_handler;

#endif
