/* How a planner backend turns a goal into actions. The planner core owns
 * the goal's state (a JSON object kept in Redis), its limits, its pending
 * actions and every Kafka record; a backend only reads the goal and adds
 * its own keys to the state (the playbook: "play", "captures"; openai:
 * "messages"), and answers "what next?" with a plan: act, finish, or think
 * (an answer that comes later, for backends calling a remote model).
 *
 * Keys the core owns (backends read them, never write them): tenant, text,
 * context, status, step, max_steps, deadline_ms, llm_calls, max_llm_calls,
 * tokens, max_tokens, pending, rejection, result.
 *
 * A new backend is a new file defining one lf_planner_backend_t. */
#ifndef LF_PLANNER_BACKEND_H
#define LF_PLANNER_BACKEND_H

#include <jansson.h>

#include "config.h"
#include "lf_proto.h"

typedef enum lf_plan_kind {
  LF_PLAN_ACT,    /* propose calls[] together */
  LF_PLAN_FINISH, /* end the goal with status and text */
  LF_PLAN_THINK,  /* ask the backend's model: the plan comes later */
} lf_plan_kind_t;

typedef struct lf_plan_call {
  char *call_id; /* the backend's id answered by the observation, or "" */
  char *name;
  char *arguments_json;
  char *idempotency_key; /* "": once per goal and step */
  char *rationale;
} lf_plan_call_t;

typedef struct lf_plan {
  lf_plan_kind_t kind;
  lf_plan_call_t *calls;
  size_t ncalls;
  int status;       /* FINISH: LF_RESULT_* */
  char *text;       /* FINISH: the answer when completed, else the reason */
  long long tokens; /* tokens the model call being concluded used */
} lf_plan_t;

/* Appends a call (strings copied; NULL as ""). */
lf_err_t lf_plan_add_call(lf_plan_t *p, const char *call_id, const char *name,
                          const char *arguments_json, const char *key,
                          const char *rationale);
/* Sets FINISH with status and text (copied). */
lf_err_t lf_plan_finish(lf_plan_t *p, int status, const char *text);
void lf_plan_clear(lf_plan_t *p);

/* A finished model call, as an asynchronous backend reports it. */
typedef struct lf_thought {
  void *token;      /* what the core passed to think() */
  long status;      /* HTTP status, 0 when no answer came */
  const char *body; /* valid during the callback */
  size_t len;
  const char *error; /* status != 200: why */
} lf_thought_t;

typedef void (*lf_thought_fn)(void *arg, const lf_thought_t *t);

typedef struct lf_planner_backend {
  const char *name;
  lf_err_t (*init)(const lf_conf_t *conf, void **ctxp, char *errstr,
                   size_t errstr_size);
  void (*destroy)(void *ctx);
  /* A new goal: adds the backend's keys to state. */
  lf_err_t (*start)(void *ctx, json_t *state, const lf_goal_t *g, char *errstr,
                    size_t errstr_size);
  /* An observation of a pending call (call_id as the plan gave it). */
  lf_err_t (*observe)(void *ctx, json_t *state, const char *call_id,
                      const lf_observation_t *o, char *errstr,
                      size_t errstr_size);
  /* What next, once every pending call has been observed. */
  lf_err_t (*decide)(void *ctx, json_t *state, lf_plan_t *plan, char *errstr,
                     size_t errstr_size);

  /* Asynchronous backends only (NULL otherwise). think() starts a model
   * call for state; poll() moves calls on, waiting at most timeout_ms or
   * until wake_fd is readable, and reports finished ones to done();
   * conclude() turns one into a plan, updating state (it may THINK again,
   * e.g. to tell the model its reply could not be used). */
  lf_err_t (*think)(void *ctx, void *token, const json_t *state, char *errstr,
                    size_t errstr_size);
  lf_err_t (*poll)(void *ctx, int wake_fd, int timeout_ms, lf_thought_fn done,
                   void *arg);
  lf_err_t (*conclude)(void *ctx, json_t *state, const lf_thought_t *t,
                       lf_plan_t *plan, char *errstr, size_t errstr_size);
  size_t (*inflight)(void *ctx);
} lf_planner_backend_t;

extern const lf_planner_backend_t lf_backend_playbook;
extern const lf_planner_backend_t lf_backend_openai;

/* The backend named by planner.backend, or NULL. */
const lf_planner_backend_t *lf_planner_backend_find(const char *name);

#endif
