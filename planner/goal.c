#include "goal.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "canon.h"
#include "log.h"
#include "util.h"

static const char *sget(const json_t *st, const char *key) {
  const char *s = json_string_value(json_object_get(st, key));
  return s ? s : "";
}

static int64_t iget(const json_t *st, const char *key) {
  return json_integer_value(json_object_get(st, key));
}

static int iset(json_t *st, const char *key, int64_t v) {
  return json_object_set_new(st, key, json_integer(v));
}

const char *lf_goal_status(const json_t *state) {
  return sget(state, "status");
}

/* The operator's limit is a ceiling: a goal may ask for less, never more.
 * 0 means "not set" on either side (the operator's 0: no limit). */
static json_int_t within(uint64_t asked, int64_t ceiling) {
  if (!asked)
    return (json_int_t)ceiling;
  if (ceiling > 0 && asked > (uint64_t)ceiling)
    return (json_int_t)ceiling;
  return asked > (uint64_t)INT64_MAX ? INT64_MAX : (json_int_t)asked;
}

json_t *lf_goal_state_new(const char *goal_id, const lf_goal_t *g,
                          const lf_goal_limits_t *d) {
  json_t *st = json_pack(
      "{s:s, s:s, s:s, s:s, s:s, s:i, s:I, s:I, s:I, s:I, s:i, s:i, s:[], "
      "s:[], s:[]}",
      "goal_id", goal_id, "tenant", *g->tenant ? g->tenant : "default", "text",
      g->text, "context", g->context_json, "status", "running", "step", 0,
      "max_steps", within(g->max_steps, d->max_steps), "max_llm_calls",
      within(g->max_llm_calls, d->max_llm_calls), "max_tokens",
      within(g->max_tokens, d->max_tokens), "deadline_ms",
      (json_int_t)g->deadline_ms, "llm_calls", 0, "tokens", 0, "pending",
      "rejected", "rejecting");
  return st;
}

int lf_goal_finish(json_t *state, int status, const char *text) {
  json_t *res = json_pack("{s:i,s:s,s:I}", "status", status, "text",
                          text ? text : "", "at_ms", (json_int_t)lf_now_ms());
  if (!res || json_object_set_new(state, "result", res) ||
      json_object_set_new(state, "status", json_string("done")))
    return -1;
  /* A finished goal keeps only what its result needs. */
  json_object_del(state, "messages");
  json_object_del(state, "captures");
  json_object_del(state, "pending");
  return LF_GOAL_PUBLISH;
}

/* The limit a plan would cross, or NULL. */
static const char *limit(const json_t *state, const lf_plan_t *plan, char *why,
                         size_t size) {
  long long tokens = iget(state, "tokens"), max = iget(state, "max_tokens");
  int64_t deadline = iget(state, "deadline_ms");
  if (deadline && lf_now_ms() > deadline)
    snprintf(why, size, "deadline passed");
  else if (max && tokens > max)
    snprintf(why, size, "token limit of %lld reached (%lld used)", max, tokens);
  else if (plan->kind == LF_PLAN_ACT &&
           iget(state, "step") >= iget(state, "max_steps"))
    snprintf(why, size, "step limit of %lld reached",
             (long long)iget(state, "max_steps"));
  else if (plan->kind == LF_PLAN_THINK &&
           iget(state, "llm_calls") >= iget(state, "max_llm_calls"))
    snprintf(why, size, "model call limit of %lld reached",
             (long long)iget(state, "max_llm_calls"));
  else
    return NULL;
  return why;
}

static int nomem(char *errstr, size_t errstr_size) {
  snprintf(errstr, errstr_size, "out of memory");
  return -1;
}

/* The plan's calls become the step's pending actions. */
static int act(json_t *state, const lf_plan_t *plan, char *errstr,
               size_t errstr_size) {
  const char *goal_id = sget(state, "goal_id");
  int64_t step = iget(state, "step");
  json_t *pending = json_array();
  for (size_t i = 0; pending && i < plan->ncalls; i++) {
    const lf_plan_call_t *c = &plan->calls[i];
    char id[400];
    /* one action per step keeps the plain goal:step id */
    if (i)
      snprintf(id, sizeof(id), "%s:%lld.%zu", goal_id, (long long)step, i);
    else
      snprintf(id, sizeof(id), "%s:%lld", goal_id, (long long)step);
    json_t *a =
        json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:b}", "id", id, "call", c->call_id,
                  "name", c->name, "args", c->arguments_json, "key",
                  *c->idempotency_key ? c->idempotency_key : id, "why",
                  c->rationale, "seen", 0);
    if (!a || json_array_append_new(pending, a)) {
      json_decref(pending);
      pending = NULL;
    }
  }
  if (!pending || json_object_set_new(state, "pending", pending) ||
      json_object_set_new(state, "status", json_string("running")))
    return nomem(errstr, errstr_size);
  return LF_GOAL_PUBLISH;
}

int lf_goal_apply(json_t *state, lf_plan_t *plan, char *errstr,
                  size_t errstr_size) {
  char why[200];
  if (iset(state, "tokens", iget(state, "tokens") + plan->tokens))
    return nomem(errstr, errstr_size);
  /* a final answer is kept even when it crossed the token limit */
  if (plan->kind == LF_PLAN_FINISH)
    return lf_goal_finish(state, plan->status, plan->text);
  if (limit(state, plan, why, sizeof(why)))
    return lf_goal_finish(state, LF_RESULT_EXHAUSTED, why);
  if (plan->kind == LF_PLAN_ACT)
    return plan->ncalls ? act(state, plan, errstr, errstr_size)
                        : lf_goal_finish(state, LF_RESULT_FAILED,
                                         "the backend proposed no action");
  if (iset(state, "llm_calls", iget(state, "llm_calls") + 1) ||
      json_object_set_new(state, "status", json_string("thinking")))
    return nomem(errstr, errstr_size);
  return LF_GOAL_THINK;
}

int lf_goal_next(json_t *state, const lf_planner_backend_t *be, void *bctx,
                 char *errstr, size_t errstr_size) {
  int64_t deadline = iget(state, "deadline_ms");
  lf_plan_t plan = {0};
  if (deadline && lf_now_ms() > deadline)
    return lf_goal_finish(state, LF_RESULT_EXHAUSTED, "deadline passed");
  if (be->decide(bctx, state, &plan, errstr, errstr_size)) {
    lf_plan_clear(&plan);
    return -1;
  }
  int r = lf_goal_apply(state, &plan, errstr, errstr_size);
  lf_plan_clear(&plan);
  return r;
}

/* What makes two rejections "the same": the action, its arguments (in
 * canonical form) and the guard's reasons. */
static char *rejection(const json_t *pending, const lf_observation_t *o) {
  json_t *args = json_loads(sget(pending, "args"), 0, NULL);
  json_t *sig = json_pack("{s:s,s:o*,s:[]}", "name", sget(pending, "name"),
                          "args", args, "reasons");
  for (size_t i = 0; sig && i < o->n_reasons; i++)
    if (json_array_append_new(
            json_object_get(sig, "reasons"),
            json_pack("[s,s]", o->reasons[i]->code, o->reasons[i]->path))) {
      json_decref(sig);
      sig = NULL;
    }
  char *text = sig ? lf_json_canonical(sig) : NULL;
  json_decref(sig);
  return text;
}

static int in(const json_t *arr, const char *s) {
  size_t i;
  json_t *v;
  json_array_foreach(arr, i, v) if (!strcmp(json_string_value(v), s)) return 1;
  return 0;
}

/* Returns 1 when the goal ended (the same rejection as last step). */
static int check_loop(json_t *state, const json_t *p, const lf_observation_t *o,
                      char *errstr, size_t errstr_size) {
  char why[700];
  if (o->status != LF_OBS_REJECTED)
    return 0;
  char *sig = rejection(p, o);
  if (!sig)
    return nomem(errstr, errstr_size);
  if (in(json_object_get(state, "rejected"), sig)) {
    free(sig);
    snprintf(why, sizeof(why),
             "%s was rejected twice in a row for the same reasons: %s",
             sget(p, "name"), *o->error ? o->error : "no reason given");
    return lf_goal_finish(state, LF_RESULT_FAILED, why) < 0 ? -1 : 1;
  }
  int bad = json_array_append_new(json_object_get(state, "rejecting"),
                                  json_string(sig));
  free(sig);
  return bad ? nomem(errstr, errstr_size) : 0;
}

static json_t *awaited(json_t *state, const char *action_id, size_t *left) {
  json_t *found = NULL, *p;
  size_t i;
  *left = 0;
  json_array_foreach(json_object_get(state, "pending"), i, p) {
    int seen = json_is_true(json_object_get(p, "seen"));
    if (!seen && !strcmp(sget(p, "id"), action_id))
      found = p;
    else if (!seen)
      (*left)++;
  }
  return found;
}

int lf_goal_observe(json_t *state, const lf_observation_t *o,
                    const lf_planner_backend_t *be, void *bctx, char *errstr,
                    size_t errstr_size) {
  size_t left;
  json_t *p = strcmp(lf_goal_status(state), "running")
                  ? NULL
                  : awaited(state, o->action_id, &left);
  if (!p || (*o->action_name && strcmp(o->action_name, sget(p, "name"))))
    return 0; /* repeats, late copies and strays move nothing */
  int ended = check_loop(state, p, o, errstr, errstr_size);
  if (ended)
    return ended < 0 ? -1 : LF_GOAL_PUBLISH;
  if (json_object_set_new(p, "seen", json_true()) ||
      be->observe(bctx, state, sget(p, "call"), o, errstr, errstr_size))
    return -1;
  if (left)
    return 0;
  /* The step is over: the next one compares its rejections with it. */
  json_t *now = json_array();
  if (!now || iset(state, "step", iget(state, "step") + 1) ||
      json_object_set(state, "rejected", json_object_get(state, "rejecting")) ||
      json_object_set_new(state, "rejecting", now))
    return nomem(errstr, errstr_size);
  return lf_goal_next(state, be, bctx, errstr, errstr_size);
}

static lf_err_t publish_result(const json_t *state, const lf_msg_t *cause,
                               lf_out_t *out, char *errstr,
                               size_t errstr_size) {
  const json_t *res = json_object_get(state, "result");
  lf_result_t r = LF_RESULT_INIT;
  int status = (int)iget(res, "status");
  r.goal_id = (char *)sget(state, "goal_id");
  r.tenant = (char *)sget(state, "tenant");
  r.status = status;
  r.answer = (char *)(status == LF_RESULT_COMPLETED ? sget(res, "text") : "");
  r.error = (char *)(status == LF_RESULT_COMPLETED ? "" : sget(res, "text"));
  r.steps_used = (uint32_t)iget(state, "step");
  r.llm_calls = (uint32_t)iget(state, "llm_calls");
  r.tokens = (uint64_t)iget(state, "tokens");
  r.finished_at_ms = iget(res, "at_ms");
  return lf_out_produce(out, cause, LF_TOPIC_RESULTS, r.goal_id, &r.base,
                        errstr, errstr_size);
}

lf_err_t lf_goal_publish(const json_t *state, const char *proposer,
                         const lf_msg_t *cause, lf_out_t *out, char *errstr,
                         size_t errstr_size) {
  const json_t *p;
  size_t i;
  lf_err_t err = LF_OK;
  if (!strcmp(lf_goal_status(state), "done"))
    return publish_result(state, cause, out, errstr, errstr_size);
  json_array_foreach(json_object_get(state, "pending"), i, p) {
    if (json_is_true(json_object_get(p, "seen")))
      continue;
    lf_action_t a = LF_ACTION_INIT;
    a.action_id = (char *)sget(p, "id");
    a.goal_id = (char *)sget(state, "goal_id");
    a.tenant = (char *)sget(state, "tenant");
    a.step = (uint32_t)iget(state, "step");
    a.name = (char *)sget(p, "name");
    a.arguments_json = (char *)sget(p, "args");
    a.idempotency_key = (char *)sget(p, "key");
    a.rationale = (char *)sget(p, "why");
    a.proposer = (char *)proposer;
    a.context_json = (char *)sget(state, "context");
    if ((err = lf_out_produce(out, cause, LF_TOPIC_PROPOSED, a.goal_id, &a.base,
                              errstr, errstr_size)))
      break;
  }
  return err;
}
