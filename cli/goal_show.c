/* lamfleet goal show ID [--json]: a goal's whole trace (the goal, proposed
 * actions, verdicts, held actions and human answers, observations, dead
 * letters, its result) read back from the fleet's topics, in time order,
 * with the time since the goal was submitted. */
#include <stdlib.h>
#include <string.h>

#include "cli.h"

typedef struct trace_ctx {
  const char *prefix, *goal_id;
  lf_events_t *t;
} trace_ctx_t;

static int keep_goal(void *ctx, lf_event_t *ev) {
  trace_ctx_t *c = ctx;
  return lf_event_of_goal(c->prefix, ev, c->goal_id) ? lf_events_add(c->t, ev)
                                                     : 0;
}

static int read_trace(const lf_conf_t *conf, const char *goal_id,
                      lf_events_t *t) {
  static const lf_topic_t all[] = {LF_TOPIC_GOALS,
                                   LF_TOPIC_PROPOSED,
                                   LF_TOPIC_APPROVED,
                                   LF_TOPIC_APPROVALS_PENDING,
                                   LF_TOPIC_APPROVALS_DECISIONS,
                                   LF_TOPIC_OBSERVATIONS,
                                   LF_TOPIC_RESULTS,
                                   LF_TOPIC_DLQ};
  char errstr[512];
  trace_ctx_t c = {lf_conf_get(conf, "topic.prefix"), goal_id, t};
  if (lf_follow_held_read(conf, all, sizeof(all) / sizeof(*all), keep_goal, &c,
                          errstr, sizeof(errstr))) {
    fprintf(stderr, "lamfleet goal show: %s\n", errstr);
    return -1;
  }
  return 0;
}

static const lf_event_t *result_of(const lf_events_t *t) {
  for (size_t i = t->n; i-- > 0;)
    if (t->v[i].topic == LF_TOPIC_RESULTS)
      return &t->v[i];
  return NULL;
}

/* The last line: how the goal ended, or that it has not. */
static void summary(const lf_events_t *t, const lf_event_t *res, int64_t t0) {
  if (!res) {
    printf("no result yet: %zu record%s, the last %lld ms after the goal\n",
           t->n, t->n == 1 ? "" : "s", (long long)(t->v[t->n - 1].ts_ms - t0));
    return;
  }
  const lf_result_t *r = (const lf_result_t *)res->pb;
  printf("%s in %lld ms: %u step%s, %u model call%s, %llu tokens\n",
         lf_proto_result_status_name(r->status), (long long)(res->ts_ms - t0),
         r->steps_used, r->steps_used == 1 ? "" : "s", r->llm_calls,
         r->llm_calls == 1 ? "" : "s", (unsigned long long)r->tokens);
}

static int print_trace(const lf_events_t *t, const char *goal_id, int json,
                       int64_t t0) {
  if (!json)
    printf("goal %s\n", goal_id);
  for (size_t i = 0; i < t->n; i++) {
    if (!json)
      lf_event_print(stdout, &t->v[i], t0);
    else if (lf_event_print_json(stdout, &t->v[i], t0)) {
      fputs("lamfleet goal show: a record would not render as JSON\n", stderr);
      return -1;
    }
  }
  return 0;
}

/* Exit status: 0 completed or still running, 1 failed or exhausted, 3 no
 * such goal or the topics could not be read. */
int lf_goal_show(const lf_conf_t *conf, const char *goal_id, int json) {
  lf_events_t t = {0};
  int rc = LF_EXIT_ERROR;
  if (read_trace(conf, goal_id, &t))
    goto done;
  if (!t.n) {
    fprintf(stderr,
            "lamfleet goal show: no record of goal %s in the fleet's topics\n",
            goal_id);
    goto done;
  }
  lf_events_sort(&t);
  int64_t t0 = t.v[0].ts_ms;
  for (size_t i = 0; i < t.n; i++)
    if (t.v[i].topic == LF_TOPIC_GOALS)
      t0 = t.v[i].ts_ms;
  if (print_trace(&t, goal_id, json, t0))
    goto done;
  const lf_event_t *res = result_of(&t);
  if (!json)
    summary(&t, res, t0);
  rc = !res || ((const lf_result_t *)res->pb)->status == LF_RESULT_COMPLETED
           ? LF_EXIT_OK
           : LF_EXIT_GOAL_FAILED;
done:
  lf_events_clear(&t);
  return rc;
}
