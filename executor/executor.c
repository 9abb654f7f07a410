#include "executor.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "action_http.h"
#include "actions.h"
#include "builtins.h"
#include "log.h"
#include "redis.h"
#include "runstate.h"
#include "util.h"
#include "verify.h"

typedef struct job {
  const lf_verdict_t *v; /* NULL: dead-lettered */
  uint8_t *obs;          /* encoded observation to publish */
  size_t obs_len;
  int store;     /* newly executed: persist before publishing */
  int replayed;  /* stored (or earlier in this batch): not run again */
  size_t call;   /* 1 + its index in the batch's HTTP calls; 0: none */
  size_t dup_of; /* 1 + the index of an earlier job with its key */
} job_t;

typedef struct executor {
  lf_worker_t *w;
  lf_redis_t *redis;
  lf_exec_gate_t *gate;
  lf_actions_t *actions;
  int64_t ttl_s;
  job_t *jobs;
  lf_http_call_t *calls;
  json_t **args; /* of the calls */
  lf_run_t *runs;
  int64_t lease_ms;
  size_t cap;
} executor_t;

static const lf_topic_t topics[] = {LF_TOPIC_APPROVED};

static lf_err_t init(lf_worker_t *w, void **ctxp, char *errstr,
                     size_t errstr_size) {
  executor_t *x = calloc(1, sizeof(*x));
  if (!x) {
    snprintf(errstr, errstr_size, "out of memory");
    return LF_ERR_NOMEM;
  }
  x->w = w;
  x->ttl_s = lf_conf_get_int(lf_worker_conf(w), "executor.result.ttl.s");
  x->lease_ms = lf_conf_get_int(lf_worker_conf(w), "executor.lease.ms");
  if (!(x->gate = lf_exec_gate_new(lf_worker_conf(w), errstr, errstr_size)) ||
      !(x->actions = lf_actions_new(lf_exec_gate_catalog(x->gate), errstr,
                                    errstr_size)) ||
      !(x->redis = lf_redis_new(lf_worker_conf(w), errstr, errstr_size))) {
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
  lf_redis_destroy(x->redis);
  lf_actions_destroy(x->actions);
  lf_exec_gate_destroy(x->gate);
  free(x->jobs);
  free(x->calls);
  free(x->args);
  free(x->runs);
  free(x);
}

/* The observation of a run: result (may be NULL) and error ("" when it
 * succeeded). */
static lf_err_t observe(executor_t *x, const lf_verdict_t *v, job_t *job,
                        const json_t *result, const char *error) {
  const lf_action_t *a = v->action;
  lf_observation_t o = LF_OBSERVATION_INIT;
  char *result_json =
      result ? json_dumps(result, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
  o.goal_id = a->goal_id;
  o.action_id = a->action_id;
  o.action_name = a->name;
  o.step = a->step;
  o.status = error[0] ? LF_OBS_FAILED : LF_OBS_SUCCEEDED;
  o.result_json = result_json ? result_json : "";
  o.error = (char *)error;
  o.observer = (char *)lf_worker_id(x->w);
  o.observed_at_ms = lf_now_ms();
  job->obs = lf_proto_encode(&o.base, &job->obs_len);
  job->store = 1;
  lf_worker_count(x->w, "executions", 1);
  lf_debug(lf_worker_id(x->w), "ran %s (%s): %s", a->action_id, a->name,
           error[0] ? error : "succeeded");
  free(result_json);
  return job->obs ? LF_OK : LF_ERR_NOMEM;
}

/* Runs a built-in action now. */
static lf_err_t run_builtin(executor_t *x, const lf_verdict_t *v, job_t *job) {
  const lf_action_t *a = v->action;
  char error[512] = "";
  json_t *args = json_loads(a->arguments_json, 0, NULL), *result = NULL;
  lf_builtin_fn fn = lf_builtin_find(a->name);
  if (!fn)
    snprintf(error, sizeof(error), "no executor for action \"%s\"", a->name);
  else if (!json_is_object(args))
    snprintf(error, sizeof(error), "arguments are not a JSON object");
  else if (fn(lf_worker_conf(x->w), args, &result, error, sizeof(error)) == 0)
    error[0] = '\0';
  lf_err_t err = observe(x, v, job, result, error);
  json_decref(result);
  json_decref(args);
  return err;
}

/* Queues an HTTP action for the batch's concurrent run. */
static lf_err_t queue_http(executor_t *x, const lf_http_binding_t *b,
                           job_t *job, size_t *ncalls) {
  const lf_action_t *a = job->v->action;
  json_t *args = json_loads(a->arguments_json, 0, NULL);
  if (!json_is_object(args)) {
    json_decref(args);
    return observe(x, job->v, job, NULL, "arguments are not a JSON object");
  }
  x->args[*ncalls] = args;
  x->calls[*ncalls] =
      (lf_http_call_t){b, args, job->v->idempotency_key, NULL, ""};
  job->call = ++*ncalls;
  return LF_OK;
}

/* The batch's HTTP actions, all at once; then their observations. */
static lf_err_t run_http(executor_t *x, job_t *jobs, size_t n, size_t ncalls,
                         char *errstr, size_t errstr_size) {
  lf_err_t err =
      ncalls ? lf_http_run(x->calls, ncalls, errstr, errstr_size) : LF_OK;
  for (size_t i = 0; i < n && !err; i++)
    if (jobs[i].call) {
      lf_http_call_t *c = &x->calls[jobs[i].call - 1];
      err = observe(x, jobs[i].v, &jobs[i], c->result, c->error);
    }
  for (size_t i = 0; i < ncalls; i++) {
    json_decref(x->calls[i].result);
    json_decref(x->args[i]);
  }
  return err;
}

/* Jobs sharing an earlier job's tenant and key (a batch can hold the same
 * record twice) are not claimed or run: they replay its observation. */
static void mark_duplicates(job_t *jobs, size_t n) {
  for (size_t i = 0; i < n; i++)
    for (size_t k = 0; jobs[i].v && k < i && !jobs[i].dup_of; k++)
      if (jobs[k].v && !jobs[k].dup_of &&
          !strcmp(jobs[k].v->idempotency_key, jobs[i].v->idempotency_key) &&
          !strcmp(jobs[k].v->action->tenant, jobs[i].v->action->tenant))
        jobs[i].dup_of = k + 1;
}

/* Claims the batch's runs: done before (replayed), or ours now. One
 * running elsewhere under a live lease fails the batch, which is retried
 * later and then finds it done, or its lease expired. */
static lf_err_t claim(executor_t *x, job_t *jobs, size_t n, char *errstr,
                      size_t errstr_size) {
  lf_run_t *runs = x->runs;
  for (size_t i = 0; i < n; i++)
    runs[i] = (lf_run_t){.tenant = jobs[i].v ? jobs[i].v->action->tenant : NULL,
                         .key = jobs[i].v && !jobs[i].dup_of
                                    ? jobs[i].v->idempotency_key
                                    : NULL};
  lf_err_t err = lf_run_claim(x->redis, runs, n, lf_worker_id(x->w),
                              lf_now_ms(), x->lease_ms, errstr, errstr_size);
  for (size_t i = 0; i < n && !err; i++) {
    if (runs[i].state == LF_RUN_DONE) {
      jobs[i].obs = runs[i].obs;
      jobs[i].obs_len = runs[i].obs_len;
      jobs[i].replayed = 1;
      runs[i].obs = NULL;
    } else if (runs[i].state == LF_RUN_BUSY) {
      snprintf(errstr, errstr_size,
               "action %s (key %s) is running at %s for up to %lld ms more: "
               "waiting for it",
               jobs[i].v->action->action_id, jobs[i].v->idempotency_key,
               runs[i].holder, (long long)(runs[i].until_ms - lf_now_ms()));
      err = LF_ERR_TIMEOUT;
    } else if (runs[i].took_over) {
      lf_worker_count(x->w, "runs_taken_over", 1);
      lf_warn(lf_worker_id(x->w),
              "action %s (key %s): its executor's lease expired; running it "
              "again with the same idempotency key (fence %lld)",
              jobs[i].v->action->action_id, jobs[i].v->idempotency_key,
              (long long)runs[i].fence);
    }
  }
  for (size_t i = 0; i < n; i++)
    free(runs[i].obs); /* left only on error */
  return err;
}

/* Duplicates replay their first's observation. */
static lf_err_t copy_duplicates(job_t *jobs, size_t n) {
  for (size_t i = 0; i < n; i++) {
    const job_t *prev = jobs[i].dup_of ? &jobs[jobs[i].dup_of - 1] : NULL;
    if (!prev || !prev->obs)
      continue;
    if (!(jobs[i].obs = malloc(prev->obs_len + 1)))
      return LF_ERR_NOMEM;
    memcpy(jobs[i].obs, prev->obs, prev->obs_len);
    jobs[i].obs_len = prev->obs_len;
    jobs[i].replayed = 1;
  }
  return LF_OK;
}

/* Stores the new observations under this run's fence. A run taken over
 * meanwhile is not ours to report: its new executor publishes. */
static lf_err_t finish(executor_t *x, job_t *jobs, size_t n, char *errstr,
                       size_t errstr_size) {
  lf_run_t *runs = x->runs;
  for (size_t i = 0; i < n; i++) {
    runs[i].obs = jobs[i].store ? jobs[i].obs : NULL;
    runs[i].obs_len = jobs[i].obs_len;
  }
  lf_err_t err =
      lf_run_finish(x->redis, runs, n, x->ttl_s, errstr, errstr_size);
  for (size_t i = 0; i < n; i++) {
    runs[i].obs = NULL; /* the job's */
    if (err || !runs[i].stale)
      continue;
    lf_worker_count(x->w, "results_refused_stale", 1);
    lf_warn(lf_worker_id(x->w),
            "action %s (key %s): taken over by another executor while it "
            "ran here; this result is dropped",
            jobs[i].v->action->action_id, jobs[i].v->idempotency_key);
    free(jobs[i].obs);
    jobs[i].obs = NULL;
  }
  return err;
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

static lf_err_t handle(void *ctx, const lf_msg_t *msgs, size_t n, lf_out_t *out,
                       char *errstr, size_t errstr_size) {
  executor_t *x = ctx;
  lf_err_t err = LF_OK;
  size_t ncalls = 0;
  if (n > x->cap) {
    job_t *jobs = realloc(x->jobs, n * sizeof(*jobs));
    lf_http_call_t *calls = jobs ? realloc(x->calls, n * sizeof(*calls)) : NULL;
    json_t **args = calls ? realloc(x->args, n * sizeof(*args)) : NULL;
    lf_run_t *runs = args ? realloc(x->runs, n * sizeof(*runs)) : NULL;
    x->jobs = jobs ? jobs : x->jobs;
    x->calls = calls ? calls : x->calls;
    x->args = args ? args : x->args;
    x->runs = runs ? runs : x->runs;
    if (!runs) {
      snprintf(errstr, errstr_size, "out of memory");
      return LF_ERR_NOMEM;
    }
    x->cap = n;
  }
  job_t *jobs = x->jobs;
  if ((err = prepare(x, msgs, n, out, errstr, errstr_size)))
    goto done;
  mark_duplicates(jobs, n);
  if ((err = claim(x, jobs, n, errstr, errstr_size)))
    goto done;
  for (size_t i = 0; i < n && !err; i++) {
    const lf_http_binding_t *b;
    if (!jobs[i].v || jobs[i].obs || jobs[i].dup_of)
      continue;
    if ((b = lf_actions_http(x->actions, jobs[i].v->action->name)))
      err = queue_http(x, b, &jobs[i], &ncalls);
    else
      err = run_builtin(x, jobs[i].v, &jobs[i]);
  }
  if (!err)
    err = run_http(x, jobs, n, ncalls, errstr, errstr_size);
  else
    for (size_t i = 0; i < ncalls; i++)
      json_decref(x->args[i]);
  /* The observation is stored before it is published: a redelivery then
   * finds it instead of running the action again. */
  if (err || (err = finish(x, jobs, n, errstr, errstr_size)) ||
      (err = copy_duplicates(jobs, n)))
    goto done;
  for (size_t i = 0; i < n && !err; i++) {
    if (!jobs[i].obs)
      continue;
    if (jobs[i].replayed) {
      lf_worker_count(x->w, "replays", 1);
      lf_info(lf_worker_id(x->w),
              "action %s (key %s) already ran: "
              "republishing its observation",
              jobs[i].v->action->action_id, jobs[i].v->idempotency_key);
    }
    err = lf_out_produce_bytes(out, &msgs[i], LF_TOPIC_OBSERVATIONS,
                               jobs[i].v->action->goal_id, jobs[i].obs,
                               jobs[i].obs_len, errstr, errstr_size);
    if (!err)
      jobs[i].obs = NULL; /* librdkafka owns it now */
  }
done:
  if (err == LF_ERR_NOMEM && !errstr[0])
    snprintf(errstr, errstr_size, "out of memory");
  for (size_t i = 0; i < n; i++)
    free(jobs[i].obs);
  return err;
}

const lf_handler_t lf_executor_handler = {
    .kind = "executor",
    .group_key = "executor.group.id",
    .topics = topics,
    .ntopics = 1,
    .init = init,
    .handle = handle,
    .close = executor_close,
};
