#include "executor.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "action_http.h"
#include "actions.h"
#include "builtins.h"
#include "log.h"
#include "redis.h"
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

static lf_err_t lookup_stored(executor_t *x, job_t *jobs, size_t n,
                              char *errstr, size_t errstr_size) {
  const char *prefix = lf_redis_prefix(x->redis);
  lf_err_t err = LF_OK;
  for (size_t i = 0; i < n && !err; i++)
    if (jobs[i].v)
      err = lf_redis_append(x->redis, errstr, errstr_size, "GET %sobs:%s:%s",
                            prefix, jobs[i].v->action->tenant,
                            jobs[i].v->idempotency_key);
  for (size_t i = 0; i < n && !err; i++) {
    redisReply *r;
    if (!jobs[i].v || (err = lf_redis_reply(x->redis, &r, errstr, errstr_size)))
      continue;
    if (r->type == REDIS_REPLY_STRING && (jobs[i].obs = malloc(r->len + 1))) {
      memcpy(jobs[i].obs, r->str, r->len);
      jobs[i].obs_len = r->len;
      jobs[i].replayed = 1;
    } else if (r->type == REDIS_REPLY_STRING) {
      err = LF_ERR_NOMEM;
      snprintf(errstr, errstr_size, "out of memory");
    }
    freeReplyObject(r);
  }
  if (err)
    lf_redis_discard(x->redis);
  return err;
}

/* 1 + an earlier job of this batch with the same key (run, or about to
 * be), or 0. */
static size_t earlier(const job_t *jobs, size_t i) {
  const lf_action_t *a = jobs[i].v->action;
  for (size_t k = 0; k < i; k++)
    if (jobs[k].v && (jobs[k].obs || jobs[k].call) && !jobs[k].dup_of &&
        !strcmp(jobs[k].v->idempotency_key, jobs[i].v->idempotency_key) &&
        !strcmp(jobs[k].v->action->tenant, a->tenant))
      return k + 1;
  return 0;
}

/* Jobs sharing an earlier job's key replay its observation. */
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

static lf_err_t store_new(executor_t *x, job_t *jobs, size_t n, char *errstr,
                          size_t errstr_size) {
  const char *prefix = lf_redis_prefix(x->redis);
  lf_err_t err = LF_OK;
  for (size_t i = 0; i < n && !err; i++)
    if (jobs[i].store)
      err = lf_redis_append(
          x->redis, errstr, errstr_size, "SET %sobs:%s:%s %b EX %lld", prefix,
          jobs[i].v->action->tenant, jobs[i].v->idempotency_key, jobs[i].obs,
          jobs[i].obs_len, (long long)x->ttl_s);
  for (size_t i = 0; i < n && !err; i++) {
    redisReply *r;
    if (jobs[i].store &&
        !(err = lf_redis_reply(x->redis, &r, errstr, errstr_size)))
      freeReplyObject(r);
  }
  if (err)
    lf_redis_discard(x->redis);
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
    x->jobs = jobs ? jobs : x->jobs;
    x->calls = calls ? calls : x->calls;
    x->args = args ? args : x->args;
    if (!args) {
      snprintf(errstr, errstr_size, "out of memory");
      return LF_ERR_NOMEM;
    }
    x->cap = n;
  }
  job_t *jobs = x->jobs;
  if ((err = prepare(x, msgs, n, out, errstr, errstr_size)) ||
      (err = lookup_stored(x, jobs, n, errstr, errstr_size)))
    goto done;
  for (size_t i = 0; i < n && !err; i++) {
    const lf_http_binding_t *b;
    if (!jobs[i].v || jobs[i].obs || (jobs[i].dup_of = earlier(jobs, i)))
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
  if (!err)
    err = copy_duplicates(jobs, n);
  /* The observation is stored before it is published: a redelivery then
   * finds it instead of running the action again. */
  if (err || (err = store_new(x, jobs, n, errstr, errstr_size)))
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
