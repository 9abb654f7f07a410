/* Exactly-once runs, in Redis, per tenant and idempotency key: after the
 * guard's reservation, an executor claims the run (in_flight: its id, a
 * lease, and a fencing token that grows on every claim), then finishes it
 * (done: the stored observation) only while its token is still the
 * latest. A run done before is answered from its stored observation; one
 * in flight under a live lease elsewhere (renewed by its executor while
 * the action runs) is waited for; one whose lease has
 * expired (its executor died) is taken over with a higher token, and the
 * dead executor's late result is refused. Every transition is one Lua
 * script, pipelined over the batch. Keys: <prefix>obs:<tenant>:<key>
 * (done), <prefix>run:<tenant>:<key> (in flight). */
#ifndef LF_EXECUTOR_RUNSTATE_H
#define LF_EXECUTOR_RUNSTATE_H

#include <stddef.h>
#include <stdint.h>

#include "redis.h"

enum { LF_RUN_CLAIMED = 1, LF_RUN_DONE, LF_RUN_BUSY };

typedef struct lf_run {
  const char *tenant, *key; /* in */
  int state;                /* claim: LF_RUN_* */
  int64_t fence;            /* claim: this run's token */
  int took_over;            /* claim: another executor's expired run */
  char holder[128];         /* claim, BUSY: who runs it */
  int64_t until_ms;         /* claim, BUSY: until when its lease holds */
  uint8_t *obs;             /* claim, DONE: the stored observation (owned);
                               finish: the observation to store */
  size_t obs_len;
  int stale; /* finish: a newer claim superseded this run */
} lf_run_t;

/* Claims runs[i] for owner (runs with a NULL key are skipped). */
lf_err_t lf_run_claim(lf_redis_t *r, lf_run_t *runs, size_t n,
                      const char *owner, int64_t now_ms, int64_t lease_ms,
                      char *errstr, size_t errstr_size);

/* Extends the lease of each claimed run (its fence) to now_ms + lease_ms
 * while owner still holds it; stale when it does not (taken over). */
lf_err_t lf_run_renew(lf_redis_t *r, lf_run_t *runs, size_t n,
                      const char *owner, int64_t now_ms, int64_t lease_ms,
                      char *errstr, size_t errstr_size);

/* Stores the observation of each claimed run whose obs is set, unless its
 * token was superseded (then stale). */
lf_err_t lf_run_finish(lf_redis_t *r, lf_run_t *runs, size_t n, int64_t ttl_s,
                       char *errstr, size_t errstr_size);

#endif
