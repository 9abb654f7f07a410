/* Private parts shared by executor.c (a batch of approvals) and
 * inflight.c (the runs that outlive their batch). */
#ifndef LF_EXECUTOR_IMPL_H
#define LF_EXECUTOR_IMPL_H

#include "action_http.h"
#include "actions.h"
#include "redis.h"
#include "runstate.h"
#include "sign.h"
#include "verify.h"
#include "worker.h"

/* A record whose observation a run here will publish. */
typedef struct waiter {
  uint64_t token; /* lf_out_defer's */
  char traceparent[64];
} waiter_t;

enum run_phase {
  RUN_QUEUED,    /* claimed here, its call waiting for room under the cap */
  RUN_CALLING,   /* its call in flight */
  RUN_WAITING,   /* a built-in's outcome, due at recheck_ms */
  RUN_ELSEWHERE, /* running at another executor under a live lease */
  RUN_READY,     /* observed: to store, publish, and complete */
};

/* An action in flight here, from its claim to its published observation.
 * A record of it delivered again meanwhile (a rebalance, a retried batch)
 * becomes one more waiter instead of a second run. */
typedef struct run {
  struct run *next, *prev; /* every run here, in claim order */
  struct run *hnext;       /* the next of its hash bucket */
  struct run *qnext;       /* RUN_QUEUED: the next to start */
  struct run *rnext;       /* RUN_READY: the next to settle */
  lf_verdict_t *v;         /* owned, decoded again from the record */
  lf_run_t claim;          /* tenant and key point into v */
  enum run_phase phase;
  int64_t recheck_ms; /* RUN_ELSEWHERE: when to look again; RUN_WAITING:
                         when its outcome is due */
  lf_http_call_t call;
  json_t *args;
  uint8_t *obs; /* RUN_READY */
  size_t obs_len;
  int store;     /* observed here: to store under the claim's fence */
  int stored;    /* stored (or dropped as stale): publish only */
  int stale;     /* taken over meanwhile: its new executor publishes */
  int published; /* its observation is out, waiting for the brokers */
  waiter_t *waiters;
  size_t nwaiters, wcap;
} run_t;

typedef struct job job_t;

typedef struct executor {
  lf_worker_t *w;
  lf_redis_t *redis;
  lf_exec_gate_t *gate;
  lf_actions_t *actions;
  lf_http_actions_t *http;
  lf_keyring_t *obs_keys; /* observations are signed with these */
  int64_t ttl_s, lease_ms, busy_poll_ms;
  int64_t backoff_ms, retry_at_ms; /* Redis or brokers failing: wait */
  size_t max_inflight;
  /* Every event costs the same however many runs are here: runs found by
   * (tenant, key) in a hash table, started from a queue, settled from a
   * list of the ready ones, and the rarer phases counted so that a loop
   * that looks for them runs only when there are some. */
  run_t *runs, *runs_tail; /* every run here, in claim order */
  run_t **table;           /* by tenant and key, chained */
  size_t nbuckets;
  run_t *queue, *queue_tail; /* RUN_QUEUED, oldest first */
  run_t *ready, *ready_tail; /* RUN_READY, in the order they became so */
  size_t nruns;
  size_t nready;               /* runs RUN_READY */
  size_t nelsewhere, nwaiting; /* runs RUN_ELSEWHERE, RUN_WAITING */
  int64_t ready_since_ms;      /* when the first of them became ready */
  int64_t renew_ms; /* when the leases of runs here are renewed next */
  job_t *jobs;      /* the batch's */
  lf_run_t *claims;
  size_t cap;
} executor_t;

/* inflight.c */
run_t *lf_exec_run_find(executor_t *x, const char *tenant, const char *key);
/* A run for the claimed (or busy elsewhere) approval in msg; NULL on no
 * memory. */
run_t *lf_exec_run_new(executor_t *x, const lf_msg_t *msg,
                       const lf_run_t *claim);
/* Defers msg until r's observation is published. */
lf_err_t lf_exec_run_wait(run_t *r, lf_out_t *out, const lf_msg_t *msg);
/* The observation of an action that ran here. */
lf_err_t lf_exec_observe(executor_t *x, const lf_verdict_t *v,
                         const json_t *result, const char *error, uint8_t **obs,
                         size_t *obs_len);
void lf_exec_runs_start(executor_t *x);
/* Moves the HTTP calls in flight on without waiting (lf_handler_t.pump). */
lf_err_t lf_exec_runs_pump(executor_t *x, char *errstr, size_t errstr_size);
lf_err_t lf_exec_runs_idle(executor_t *x, int wake_fd, int timeout_ms,
                           lf_out_t *out, char *errstr, size_t errstr_size);
void lf_exec_runs_free(executor_t *x);

#endif
