/* The playbook backend: offline and deterministic (the embedded stack's
 * default). A goal's text picks a play; its steps are proposed one at a
 * time; a step that does not succeed ends the goal, since a playbook has
 * no other way forward. */
#include <stdio.h>
#include <stdlib.h>

#include "backend.h"
#include "playbook.h"

static const char *sget(const json_t *state, const char *key) {
  const char *s = json_string_value(json_object_get(state, key));
  return s ? s : "";
}

static lf_err_t pb_init(const lf_conf_t *conf, void **ctxp, char *errstr,
                        size_t errstr_size) {
  char path[1024];
  if (!lf_conf_get_path(conf, "planner.playbook", path, sizeof(path))) {
    snprintf(errstr, errstr_size, "planner.playbook: path too long");
    return LF_ERR_INVALID;
  }
  return (*ctxp = lf_playbook_load(path, errstr, errstr_size)) ? LF_OK
                                                               : LF_ERR_INVALID;
}

static void pb_destroy(void *ctx) {
  lf_playbook_destroy(ctx);
}

static lf_err_t pb_start(void *ctx, json_t *state, const lf_goal_t *g,
                         char *errstr, size_t errstr_size) {
  json_t *captures = NULL;
  int play = lf_playbook_match(ctx, g->text, &captures);
  if (json_object_set_new(
          state, "play",
          json_string(play >= 0 ? lf_playbook_name(ctx, play) : "")) ||
      json_object_set_new(state, "captures",
                          captures ? captures : json_array())) {
    snprintf(errstr, errstr_size, "out of memory");
    return LF_ERR_NOMEM;
  }
  return LF_OK;
}

static lf_err_t pb_observe(void *ctx, json_t *state, const char *call_id,
                           const lf_observation_t *o, char *errstr,
                           size_t errstr_size) {
  char why[700];
  (void)ctx;
  (void)call_id;
  if (o->status == LF_OBS_SUCCEEDED ||
      o->status == LF_OBS_DUPLICATE) /* it already ran: the step is done */
    return LF_OK;
  snprintf(why, sizeof(why), "step %u (%s) %s: %s", o->step, o->action_name,
           lf_proto_obs_status_name(o->status),
           *o->error ? o->error : "no reason given");
  if (json_object_set_new(state, "error", json_string(why))) {
    snprintf(errstr, errstr_size, "out of memory");
    return LF_ERR_NOMEM;
  }
  return LF_OK;
}

static lf_err_t pb_decide(void *ctx, json_t *state, lf_plan_t *plan,
                          char *errstr, size_t errstr_size) {
  lf_playbook_t *pb = ctx;
  const char *name = sget(state, "play");
  int play = lf_playbook_find(pb, name);
  lf_play_vars_t v = {
      .goal_id = sget(state, "goal_id"),
      .tenant = sget(state, "tenant"),
      .text = sget(state, "text"),
      .captures = json_object_get(state, "captures"),
      .step = (unsigned)json_integer_value(json_object_get(state, "step"))};
  char why[300];
  lf_err_t err;
  if (json_object_get(state, "error"))
    err = lf_plan_finish(plan, LF_RESULT_FAILED, sget(state, "error"));
  else if (!*name)
    err = lf_plan_finish(plan, LF_RESULT_FAILED,
                         "no playbook matches the goal's text");
  else if (play < 0) {
    snprintf(why, sizeof(why), "play \"%s\" is no longer in the playbook",
             name);
    err = lf_plan_finish(plan, LF_RESULT_FAILED, why);
  } else if (v.step >= lf_playbook_steps(pb, play)) {
    char *answer = lf_playbook_render_answer(pb, play, &v);
    err = answer ? lf_plan_finish(plan, LF_RESULT_COMPLETED, answer)
                 : LF_ERR_NOMEM;
    free(answer);
  } else {
    lf_play_step_t ps;
    if ((err = lf_playbook_render_step(pb, play, v.step, &v, &ps)) == LF_OK) {
      err = lf_plan_add_call(plan, "", ps.action, ps.arguments_json,
                             ps.idempotency_key, ps.rationale);
      lf_play_step_clear(&ps);
    }
  }
  if (err)
    snprintf(errstr, errstr_size, "out of memory");
  return err;
}

const lf_planner_backend_t lf_backend_playbook = {
    .name = "playbook",
    .init = pb_init,
    .destroy = pb_destroy,
    .start = pb_start,
    .observe = pb_observe,
    .decide = pb_decide,
};
