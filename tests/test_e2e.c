/* End to end on the mock cluster with a real redis-server: goals in,
 * results out, every record on its topic keyed by its goal; a proposal
 * delivered twice runs once; a planner restarted mid-goal finishes it. */
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <string.h>

#include "support.h"
#include "util.h"

#define ALL LF_KINDS_ALL
#define NGOALS 10

typedef struct goal_set {
  char ids[NGOALS + 1][37];
  size_t n;
} goal_set_t;

static int in_set(const lf_test_record_t *r, void *opaque) {
  goal_set_t *s = opaque;
  for (size_t i = 0; i < s->n; i++)
    if (!strcmp(r->key, s->ids[i]))
      return 1;
  return 0;
}

static void expect_keyed(lf_test_env_t *env, lf_topic_t t, goal_set_t *set,
                         size_t want) {
  lf_test_records_t r = lf_test_read(env, t, want, 30000, in_set, set);
  ck_assert_msg(r.n == want, "%s: %zu records, expected %zu",
                lf_proto_topic_suffix(t), r.n, want);
  for (size_t i = 0; i < r.n; i++) {
    ck_assert_ptr_nonnull(r.v[i].pb);
    ck_assert_str_eq(r.v[i].key, lf_proto_goal_id(r.v[i].pb));
    ck_assert(lf_trace_valid(r.v[i].traceparent, strlen(r.v[i].traceparent)));
  }
  lf_test_records_free(&r);
}

START_TEST(goals_in_results_out) {
  lf_test_env_t env;
  goal_set_t set = {0};
  lf_test_env_start(&env, ALL);
  for (; set.n < NGOALS; set.n++) {
    char text[64];
    snprintf(text, sizeof(text), "greet user%zu", set.n);
    lf_test_submit(&env, text, "acme", set.ids[set.n]);
  }
  lf_test_submit(&env, "drop database prod", "acme", set.ids[set.n++]);

  lf_test_records_t res =
      lf_test_read(&env, LF_TOPIC_RESULTS, set.n, 60000, in_set, &set);
  ck_assert_uint_eq(res.n, set.n);
  size_t completed = 0, failed = 0;
  for (size_t i = 0; i < res.n; i++) {
    const lf_result_t *r = (const lf_result_t *)res.v[i].pb;
    if (r->status == LF_RESULT_COMPLETED) {
      completed++;
      ck_assert_uint_eq(r->steps_used, 3);
      ck_assert_ptr_nonnull(strstr(r->answer, "greeted user"));
    } else {
      failed++;
      ck_assert_str_eq(r->goal_id, set.ids[NGOALS]);
      ck_assert_msg(strstr(r->error, "drop_database") &&
                        strstr(r->error, "rejected"),
                    "%s", r->error);
    }
  }
  ck_assert_uint_eq(completed, NGOALS);
  ck_assert_uint_eq(failed, 1);
  lf_test_records_free(&res);

  /* three steps per completed goal, one rejected proposal */
  expect_keyed(&env, LF_TOPIC_PROPOSED, &set, 3 * NGOALS + 1);
  expect_keyed(&env, LF_TOPIC_APPROVED, &set, 3 * NGOALS);
  expect_keyed(&env, LF_TOPIC_OBSERVATIONS, &set, 3 * NGOALS + 1);
  ck_assert_uint_eq(
      lf_worker_counter(lf_stack_worker(env.stack, LF_KIND_EXECUTOR),
                        "executions"),
      3 * NGOALS);

  /* the trace context runs from the goal to its result */
  goal_set_t one = {.n = 1};
  strcpy(one.ids[0], set.ids[0]);
  lf_test_records_t g =
      lf_test_read(&env, LF_TOPIC_GOALS, 1, 10000, in_set, &one);
  lf_test_records_t r =
      lf_test_read(&env, LF_TOPIC_RESULTS, 1, 10000, in_set, &one);
  ck_assert_uint_eq(g.n + r.n, 2);
  ck_assert_msg(!memcmp(g.v[0].traceparent, r.v[0].traceparent, 35),
                "goal %s result %s", g.v[0].traceparent, r.v[0].traceparent);
  lf_test_records_free(&g);
  lf_test_records_free(&r);
  lf_test_env_stop(&env);
}
END_TEST

START_TEST(same_proposal_twice_runs_once) {
  lf_test_env_t env;
  goal_set_t set = {.n = 1};
  strcpy(set.ids[0], "goal-dup");
  lf_test_env_start(&env, (1u << LF_KIND_GUARD) | (1u << LF_KIND_EXECUTOR));
  lf_test_propose(&env, "acme", "goal-dup", "echo", "{\"message\":\"once\"}");
  lf_test_propose(&env, "acme", "goal-dup", "echo", "{\"message\":\"once\"}");

  lf_test_records_t obs =
      lf_test_read(&env, LF_TOPIC_OBSERVATIONS, 2, 30000, in_set, &set);
  ck_assert_uint_eq(obs.n, 2);
  /* the second is the stored observation of the first run, not a new run */
  ck_assert_uint_eq(obs.v[0].len, obs.v[1].len);
  ck_assert_mem_eq(obs.v[0].value, obs.v[1].value, obs.v[0].len);
  ck_assert_int_eq(((lf_observation_t *)obs.v[0].pb)->status, LF_OBS_SUCCEEDED);
  lf_worker_t *x = lf_stack_worker(env.stack, LF_KIND_EXECUTOR);
  ck_assert_uint_eq(lf_worker_counter(x, "executions"), 1);
  ck_assert_uint_eq(lf_worker_counter(x, "replays"), 1);
  lf_test_records_free(&obs);

  /* Redis holds one reservation and one stored observation for the key */
  redisContext *c = lf_test_redis(&env);
  redisReply *r = redisCommand(c, "KEYS lamfleet:obs:4:acme:*");
  ck_assert_int_eq(r->type, REDIS_REPLY_ARRAY);
  ck_assert_uint_eq(r->elements, 1);
  freeReplyObject(r);
  r = redisCommand(c, "KEYS lamfleet:idem:4:acme:*");
  ck_assert_uint_eq(r->elements, 1);
  freeReplyObject(r);
  redisFree(c);

  /* the same call proposed by another goal is a duplicate, never run */
  lf_test_propose(&env, "acme", "goal-dup2", "echo", "{\"message\":\"once\"}");
  strcpy(set.ids[0], "goal-dup2");
  obs = lf_test_read(&env, LF_TOPIC_OBSERVATIONS, 1, 30000, in_set, &set);
  ck_assert_uint_eq(obs.n, 1);
  const lf_observation_t *o = (const lf_observation_t *)obs.v[0].pb;
  ck_assert_int_eq(o->status, LF_OBS_DUPLICATE);
  ck_assert_str_eq(o->duplicate_of, "goal-dup:0");
  ck_assert_uint_eq(lf_worker_counter(x, "executions"), 1);
  lf_test_records_free(&obs);
  lf_test_env_stop(&env);
}
END_TEST

static int is_step(const lf_test_record_t *r, void *opaque) {
  const char **want = opaque; /* goal id, step */
  const lf_action_t *a = (const lf_action_t *)r->pb;
  return a && !strcmp(a->goal_id, want[0]) &&
         a->step == (unsigned)(want[1][0] - '0');
}

START_TEST(restarted_planner_finishes_the_goal) {
  lf_test_env_t env;
  char goal_id[37], errstr[512];
  lf_test_env_start(&env, ALL);
  lf_test_submit(&env, "count slowly to 3", "acme", goal_id);
  /* step 1 is a 1.5 s sleep: stop the planner while it runs */
  const char *want[2] = {goal_id, "1"};
  lf_test_records_t p =
      lf_test_read(&env, LF_TOPIC_PROPOSED, 1, 30000, is_step, want);
  ck_assert_uint_eq(p.n, 1);
  lf_test_records_free(&p);
  lf_stack_stop_worker(env.stack, LF_KIND_PLANNER);

  goal_set_t set = {.n = 1};
  strcpy(set.ids[0], goal_id);
  lf_test_records_t res =
      lf_test_read(&env, LF_TOPIC_RESULTS, 1, 2500, in_set, &set);
  ck_assert_uint_eq(res.n, 0); /* no planner, no progress */
  lf_test_records_free(&res);

  ck_assert_int_eq(
      lf_stack_start_worker(env.stack, LF_KIND_PLANNER, errstr, sizeof(errstr)),
      LF_OK);
  res = lf_test_read(&env, LF_TOPIC_RESULTS, 1, 60000, in_set, &set);
  ck_assert_uint_eq(res.n, 1);
  const lf_result_t *r = (const lf_result_t *)res.v[0].pb;
  ck_assert_int_eq(r->status, LF_RESULT_COMPLETED);
  ck_assert_uint_eq(r->steps_used, 4);
  ck_assert_str_eq(r->answer, "counted to 3");
  lf_test_records_free(&res);
  /* each step proposed exactly once, despite the restart */
  lf_test_records_t all =
      lf_test_read(&env, LF_TOPIC_PROPOSED, 4, 10000, in_set, &set);
  ck_assert_uint_eq(all.n, 4);
  lf_test_records_free(&all);
  lf_test_env_stop(&env);
}
END_TEST

int main(void) {
  Suite *s = suite_create("e2e");
  TCase *tc = tcase_create("e2e");
  tcase_set_timeout(tc, 240);
  tcase_add_test(tc, goals_in_results_out);
  tcase_add_test(tc, same_proposal_twice_runs_once);
  tcase_add_test(tc, restarted_planner_finishes_the_goal);
  suite_add_tcase(s, tc);
  return lf_test_run(s);
}
