/* The executor's gate: a record on actions.approved runs only when the
 * guard approved it and nobody changed it since. Checked before anything
 * else: an approved decision with an idempotency key, a signature by a
 * known key over the record's canonical bytes (so altered arguments,
 * goal or key fail), not expired, and an action of the executor's own
 * catalog. */
#ifndef LF_EXECUTOR_VERIFY_H
#define LF_EXECUTOR_VERIFY_H

#include "catalog.h"
#include "config.h"
#include "lf_proto.h"
#include "sign.h"

typedef struct lf_exec_gate lf_exec_gate_t;

/* Loads the signing keys and executor.catalog (guard.catalog when empty). */
lf_exec_gate_t *lf_exec_gate_new(const lf_conf_t *conf, char *errstr,
                                 size_t errstr_size);
void lf_exec_gate_destroy(lf_exec_gate_t *g);

/* The executor's catalog (owned by g). */
const lf_catalog_t *lf_exec_gate_catalog(const lf_exec_gate_t *g);

/* LF_OK when v may run at now_ms; otherwise LF_ERR_INVALID and why. */
lf_err_t lf_exec_gate_check(const lf_exec_gate_t *g, const lf_verdict_t *v,
                            int64_t now_ms, char *why, size_t why_size);

#endif
