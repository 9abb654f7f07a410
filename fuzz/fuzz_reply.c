/* A model's reply is untrusted input: any bytes, as the body of a 200,
 * are concluded into a plan and applied to a goal's state (tool calls
 * become pending actions, the answer ends the goal, anything unusable is
 * explained or fails it); never a crash, a leak or undefined behaviour.
 * The state is then serialised as the planner saves it. */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "goal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static json_t *new_state(void) {
  lf_goal_t g = LF_GOAL_INIT;
  lf_goal_limits_t d = {8, 8, 1000};
  g.goal_id = "fuzz";
  g.tenant = "t";
  g.text = "do it";
  json_t *st = lf_goal_state_new("fuzz", &g, &d);
  if (st && json_object_set_new(st, "messages", json_array())) {
    json_decref(st);
    return NULL;
  }
  return st;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char errstr[512];
  json_t *state = new_state();
  lf_plan_t plan = {0};
  lf_thought_t t = {NULL, 200, (const char *)data, size, ""};
  if (!state)
    return 0;
  /* twice: the second unusable reply is the one that fails the goal */
  for (int i = 0; i < 2; i++) {
    if (!lf_backend_openai.conclude(NULL, state, &t, &plan, errstr,
                                    sizeof(errstr)))
      lf_goal_apply(state, &plan, errstr, sizeof(errstr));
    lf_plan_clear(&plan);
    if (!strcmp(lf_goal_status(state), "done"))
      break;
  }
  free(json_dumps(state, JSON_COMPACT));
  json_decref(state);
  return 0;
}
