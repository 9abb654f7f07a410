/* A goal's rules, whatever the backend: its state's core keys, its limits
 * (steps, model calls, tokens, deadline), its pending actions and their
 * observations, the loop breaker (the same action rejected for the same
 * reasons in two steps in a row fails the goal), its end, and the records
 * that publish what it has outstanding. */
#ifndef LF_PLANNER_GOAL_H
#define LF_PLANNER_GOAL_H

#include <jansson.h>

#include "backend.h"
#include "worker.h"

typedef struct lf_goal_limits {
  /* a goal's defaults and ceilings: a goal may only lower them */
  int64_t max_steps, max_llm_calls, max_tokens;
} lf_goal_limits_t;

/* What the caller must do after a change. */
enum {
  LF_GOAL_PUBLISH = 1, /* publish what is outstanding (lf_goal_publish) */
  LF_GOAL_THINK = 2,   /* start the backend's model call */
};

/* A new goal's state with the core's keys; NULL when out of memory. */
json_t *lf_goal_state_new(const char *goal_id, const lf_goal_t *g,
                          const lf_goal_limits_t *defaults);

const char *lf_goal_status(const json_t *state); /* running thinking done */

/* Asks the backend what next (limits first) and applies its answer.
 * Returns LF_GOAL_* bits, or -1 with errstr set. */
int lf_goal_next(json_t *state, const lf_planner_backend_t *be, void *bctx,
                 char *errstr, size_t errstr_size);
/* Applies a plan (e.g. from a concluded model call): bits, or -1. */
int lf_goal_apply(json_t *state, lf_plan_t *plan, char *errstr,
                  size_t errstr_size);
/* Ends the goal with status and text: LF_GOAL_PUBLISH, or -1. */
int lf_goal_finish(json_t *state, int status, const char *text);

/* An observation: hands it to the backend when it was awaited and moves
 * the goal on once all of its step's observations are in. Returns bits
 * (0 when not awaited or others are still pending), or -1. */
int lf_goal_observe(json_t *state, const lf_observation_t *o,
                    const lf_planner_backend_t *be, void *bctx, char *errstr,
                    size_t errstr_size);

/* Produces the goal's result when it is done, else its pending actions
 * not yet observed (the same bytes every time: republishing is safe). */
lf_err_t lf_goal_publish(const json_t *state, const char *proposer,
                         const lf_msg_t *cause, lf_out_t *out, char *errstr,
                         size_t errstr_size);

#endif
