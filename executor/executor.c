#include "executor.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "executor_impl.h"
#include "log.h"
#include "sign.h"
#include "util.h"

/* An approval of the batch being handled. */
struct job {
  const lf_verdict_t *v; /* NULL: dead-lettered */
  run_t *run;            /* the run here it waits for */
  size_t dup_of;         /* 1 + the index of an earlier job with its key */
  uint8_t *obs;          /* done before: its stored observation */
  size_t obs_len;
};

static const lf_topic_t topics[] = {LF_TOPIC_APPROVED};

static lf_err_t init(lf_worker_t *w, void **ctxp, char *errstr,
                     size_t errstr_size) {
  const lf_conf_t *conf = lf_worker_conf(w);
  executor_t *x = calloc(1, sizeof(*x));
  if (!x) {
    snprintf(errstr, errstr_size, "out of memory");
    return LF_ERR_NOMEM;
  }
  x->w = w;
  x->ttl_s = lf_conf_get_int(conf, "executor.result.ttl.s");
  x->lease_ms = lf_conf_get_int(conf, "executor.lease.ms");
  x->busy_poll_ms = lf_conf_get_int(conf, "executor.busy.poll.ms");
  x->max_inflight = (size_t)lf_conf_get_int(conf, "executor.max.inflight");
  if (!(x->gate = lf_exec_gate_new(conf, errstr, errstr_size)) ||
      !(x->actions = lf_actions_new(lf_exec_gate_catalog(x->gate), errstr,
                                    errstr_size)) ||
      !(x->http = lf_http_actions_new(
            (size_t)lf_conf_get_int(conf, "executor.http.max.header.bytes"),
            errstr, errstr_size)) ||
      !(x->obs_keys =
            lf_keyring_load(conf, "observation", errstr, errstr_size)) ||
      !(x->redis = lf_redis_new(conf, errstr, errstr_size))) {
    lf_keyring_destroy(x->obs_keys);
    lf_http_actions_destroy(x->http);
    lf_actions_destroy(x->actions);
    lf_exec_gate_destroy(x->gate);
    free(x);
    return LF_ERR_INVALID;
  }
  *ctxp = x;
  return LF_OK;
}

static void executor_close(void *ctx) {
  executor_t *x = ctx;
  lf_exec_runs_free(x);
  lf_redis_destroy(x->redis);
  lf_keyring_destroy(x->obs_keys);
  lf_actions_destroy(x->actions);
  lf_exec_gate_destroy(x->gate);
  free(x->jobs);
  free(x->claims);
  free(x);
}

/* Whatever the guard did not approve, or someone changed since, goes to
 * the dead-letter topic (which logs it) and never runs: a security event,
 * counted in approvals_refused. */
static lf_err_t prepare(executor_t *x, const lf_msg_t *msgs, size_t n,
                        lf_out_t *out, char *errstr, size_t errstr_size) {
  int64_t now = lf_now_ms();
  char why[400], reason[600];
  for (size_t i = 0; i < n; i++) {
    const lf_verdict_t *v = (const lf_verdict_t *)msgs[i].pb;
    memset(&x->jobs[i], 0, sizeof(job_t));
    if (!lf_exec_gate_check(x->gate, v, now, why, sizeof(why))) {
      x->jobs[i].v = v;
      continue;
    }
    snprintf(reason, sizeof(reason), "approval refused (action %.100s): %s",
             v->action ? v->action->action_id : "?", why);
    lf_worker_count(x->w, "approvals_refused", 1);
    lf_err_t err =
        lf_out_dead_letter(out, &msgs[i], reason, errstr, errstr_size);
    if (err)
      return err;
  }
  return LF_OK;
}

/* A job waits for a run in flight here (a redelivery), or for an earlier
 * job of the batch with its tenant and key; only the rest are claimed. */
static void match(executor_t *x, job_t *jobs, size_t n) {
  for (size_t i = 0; i < n; i++) {
    const lf_verdict_t *v = jobs[i].v;
    if (!v || (jobs[i].run =
                   lf_exec_run_find(x, v->action->tenant, v->idempotency_key)))
      continue;
    for (size_t k = 0; k < i && !jobs[i].dup_of; k++)
      if (jobs[k].v && !jobs[k].dup_of && !jobs[k].run &&
          !strcmp(jobs[k].v->idempotency_key, v->idempotency_key) &&
          !strcmp(jobs[k].v->action->tenant, v->action->tenant))
        jobs[i].dup_of = k + 1;
  }
}

static int claimed_here(const job_t *j) {
  return j->v && !j->run && !j->dup_of;
}

/* Claims the batch's new runs: done before (replayed now), or runs here
 * (ours, or held elsewhere under a live lease: waited for). */
static lf_err_t claim(executor_t *x, const lf_msg_t *msgs, job_t *jobs,
                      size_t n, char *errstr, size_t errstr_size) {
  lf_run_t *c = x->claims;
  for (size_t i = 0; i < n; i++)
    c[i] = (lf_run_t){.tenant = jobs[i].v ? jobs[i].v->action->tenant : NULL,
                      .key = claimed_here(&jobs[i]) ? jobs[i].v->idempotency_key
                                                    : NULL};
  lf_err_t err = lf_run_claim(x->redis, c, n, lf_worker_id(x->w), lf_now_ms(),
                              x->lease_ms, errstr, errstr_size);
  for (size_t i = 0; i < n && !err; i++) {
    if (!claimed_here(&jobs[i]))
      continue;
    if (c[i].state == LF_RUN_DONE) {
      jobs[i].obs = c[i].obs;
      jobs[i].obs_len = c[i].obs_len;
      c[i].obs = NULL;
      continue;
    }
    if (c[i].took_over) {
      lf_worker_count(x->w, "runs_taken_over", 1);
      lf_warn(lf_worker_id(x->w),
              "action %s (key %s): its executor's lease expired; running it "
              "again with the same idempotency key (fence %lld)",
              jobs[i].v->action->action_id, jobs[i].v->idempotency_key,
              (long long)c[i].fence);
    }
    if (!(jobs[i].run = lf_exec_run_new(x, &msgs[i], &c[i]))) {
      snprintf(errstr, errstr_size, "out of memory");
      err = LF_ERR_NOMEM;
    }
  }
  for (size_t i = 0; i < n; i++)
    free(c[i].obs); /* left only on error */
  return err;
}

/* Observations stored before: republished now, once per record. */
static lf_err_t replay(executor_t *x, const lf_msg_t *msgs, job_t *jobs,
                       size_t n, lf_out_t *out, char *errstr,
                       size_t errstr_size) {
  for (size_t i = 0; i < n; i++) {
    const job_t *first = jobs[i].dup_of ? &jobs[jobs[i].dup_of - 1] : &jobs[i];
    if (!first->obs)
      continue;
    uint8_t *copy = malloc(first->obs_len + 1);
    if (!copy) {
      snprintf(errstr, errstr_size, "out of memory");
      return LF_ERR_NOMEM;
    }
    memcpy(copy, first->obs, first->obs_len);
    lf_worker_count(x->w, "replays", 1);
    lf_info(lf_worker_id(x->w),
            "action %s (key %s) already ran: republishing its observation",
            jobs[i].v->action->action_id, jobs[i].v->idempotency_key);
    lf_err_t err = lf_out_produce_bytes(out, &msgs[i], LF_TOPIC_OBSERVATIONS,
                                        jobs[i].v->action->goal_id, copy,
                                        first->obs_len, errstr, errstr_size);
    if (err) {
      free(copy);
      return err;
    }
  }
  return LF_OK;
}

/* The rest wait for their runs: their records are completed when the
 * observations are out (executor/inflight.c). */
static lf_err_t wait_runs(job_t *jobs, const lf_msg_t *msgs, size_t n,
                          lf_out_t *out) {
  for (size_t i = 0; i < n; i++) {
    run_t *r = jobs[i].dup_of ? jobs[jobs[i].dup_of - 1].run : jobs[i].run;
    if (r && lf_exec_run_wait(r, out, &msgs[i]))
      return LF_ERR_NOMEM;
  }
  return LF_OK;
}

static lf_err_t reserve(executor_t *x, size_t n) {
  if (n <= x->cap)
    return LF_OK;
  job_t *jobs = realloc(x->jobs, n * sizeof(*jobs));
  if (jobs)
    x->jobs = jobs;
  lf_run_t *claims = jobs ? realloc(x->claims, n * sizeof(*claims)) : NULL;
  if (!claims)
    return LF_ERR_NOMEM;
  x->claims = claims;
  x->cap = n;
  return LF_OK;
}

static lf_err_t handle(void *ctx, const lf_msg_t *msgs, size_t n, lf_out_t *out,
                       char *errstr, size_t errstr_size) {
  executor_t *x = ctx;
  lf_err_t err = reserve(x, n);
  job_t *jobs = x->jobs;
  if (err) {
    snprintf(errstr, errstr_size, "out of memory");
    return err;
  }
  if ((err = prepare(x, msgs, n, out, errstr, errstr_size)))
    return err;
  match(x, jobs, n);
  if (!(err = claim(x, msgs, jobs, n, errstr, errstr_size)) &&
      !(err = replay(x, msgs, jobs, n, out, errstr, errstr_size)) &&
      (err = wait_runs(jobs, msgs, n, out)))
    snprintf(errstr, errstr_size, "out of memory");
  for (size_t i = 0; i < n; i++)
    free(jobs[i].obs);
  lf_exec_runs_start(x);
  return err;
}

static lf_err_t idle(void *ctx, int wake_fd, int timeout_ms, lf_out_t *out,
                     char *errstr, size_t errstr_size) {
  return lf_exec_runs_idle(ctx, wake_fd, timeout_ms, out, errstr, errstr_size);
}

static lf_err_t pump(void *ctx, char *errstr, size_t errstr_size) {
  return lf_exec_runs_pump(ctx, errstr, errstr_size);
}

/* Runs of ours not yet published (those running at another executor are
 * that one's to finish). */
static size_t busy(void *ctx) {
  const executor_t *x = ctx;
  return x->nruns - x->nelsewhere;
}

const lf_handler_t lf_executor_handler = {
    .kind = "executor",
    .group_key = "executor.group.id",
    .topics = topics,
    .ntopics = 1,
    .init = init,
    .handle = handle,
    .idle = idle,
    .busy = busy,
    .pump = pump,
    .close = executor_close,
};
