/* The executor worker: carries out approved actions and publishes one
 * observation each. Only approvals that pass executor/verify.h run; the
 * rest are dead-lettered. An action whose idempotency key already has a stored
 * observation is not run again: the stored observation is republished. */
#ifndef LF_EXECUTOR_H
#define LF_EXECUTOR_H

#include "worker.h"

extern const lf_handler_t lf_executor_handler;

#endif
