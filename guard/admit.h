/* Admission in Redis, atomic per action: one Lua script (loaded once,
 * called by SHA) looks up the idempotency key, checks the tenant's rate
 * limit and budget for the action, and only when everything passes
 * consumes them and reserves the key. Two guards side by side therefore
 * cannot both pass the last unit of a budget, and a duplicate or a
 * redelivery costs no rate or budget. A batch is one script call. */
#ifndef LF_ADMIT_H
#define LF_ADMIT_H

#include "catalog.h"
#include "redis.h"

typedef enum {
  LF_ADMIT_OK,  /* admitted (and, when committing, consumed) */
  LF_ADMIT_OWN, /* the key is held by this very action: a redelivery */
  LF_ADMIT_DUPLICATE,
  LF_ADMIT_RATE_LIMITED,
  LF_ADMIT_BUDGET_EXCEEDED,
} lf_admit_status_t;

typedef struct lf_admit {
  const char *tenant, *action_id, *key;
  const lf_catalog_action_t *def;
  double amount;  /* the budget argument's value */
  int64_t ttl_ms; /* of the idempotency reservation */
  int commit;     /* 0: only check (an action waiting for a human) */
  int enforce;    /* 0 (shadow): consume even over the limits */
  int64_t now_ms;
} lf_admit_t;

typedef struct lf_admit_result {
  lf_admit_status_t status;
  char holder[160]; /* the action id holding the key */
  long long used;   /* rate: calls in the window before this one */
  double spent;     /* budget: spent in the window before this one */
} lf_admit_result_t;

/* Queues one script call (EVALSHA, the script loaded once per
 * connection) admitting the n actions of a[], in order. */
lf_err_t lf_limits_append(lf_redis_t *r, const lf_admit_t *a, size_t n,
                          char *errstr, size_t errstr_size);
/* Reads its n results. */
lf_err_t lf_limits_reply(lf_redis_t *r, lf_admit_result_t *res, size_t n,
                         char *errstr, size_t errstr_size);

#endif
