/* The planner's openai backend on the mock cluster against a scripted
 * OpenAI-compatible server: what the model is sent (tools, message order,
 * tool_call_id pairing, the guard's reasons), what lands on the topics,
 * what Redis keeps, and how failures, limits, a cap on calls in flight,
 * slow calls and a restarted planner are handled. */
#include <hiredis/hiredis.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "llm_server.h"
#include "mock.h"
#include "support.h"
#include "util.h"

#define PLANNER (1u << LF_KIND_PLANNER)
#define FLEET LF_KINDS_ALL

typedef struct fixture {
  lf_test_env_t env;
  lf_llm_server_t *llm;
  char url[128];
} fixture_t;

/* The fleet with the openai backend pointed at a fresh scripted server;
 * extra settings (NULL-terminated, may be NULL) come last and win. */
static void start(fixture_t *f, unsigned workers, const char *const *extra) {
  const char *base[32] = {"planner.backend=openai", "planner.openai.model=m1",
                          "planner.openai.api.key.env=LF_TEST_LLM_KEY",
                          "planner.openai.backoff.ms=20", NULL};
  size_t n = 4;
  f->llm = lf_llm_server_start();
  snprintf(f->url, sizeof(f->url), "planner.openai.base.url=%s",
           lf_llm_server_url(f->llm));
  base[n++] = f->url;
  for (size_t i = 0; extra && extra[i]; i++) {
    ck_assert_uint_lt(n, 31);
    base[n++] = extra[i];
  }
  base[n] = NULL;
  setenv("LF_TEST_LLM_KEY", "sk-test-key", 1);
  lf_test_env_start_with(&f->env, workers, base);
}

static void stop(fixture_t *f) {
  lf_test_env_stop(&f->env);
  lf_llm_server_stop(f->llm);
}

static lf_result_t *result_of(fixture_t *f, const char *goal_id,
                              lf_test_records_t *keep) {
  *keep = lf_test_read(&f->env, LF_TOPIC_RESULTS, 1, 30000, lf_test_match_goal,
                       (void *)goal_id);
  ck_assert_msg(keep->n == 1, "goal %s: %zu results", goal_id, keep->n);
  ck_assert_ptr_nonnull(keep->v[0].pb);
  return (lf_result_t *)keep->v[0].pb;
}

/* Request i's messages (a new reference) after checking the request. */
static json_t *messages(const lf_llm_request_t *r) {
  json_t *body = json_loads(r->body, 0, NULL);
  ck_assert_msg(body != NULL, "request body is not JSON: %s", r->body);
  ck_assert_str_eq(r->path, "/v1/chat/completions");
  ck_assert_str_eq(r->authorization, "Bearer sk-test-key");
  ck_assert_str_eq(json_string_value(json_object_get(body, "model")), "m1");
  json_t *m = json_incref(json_object_get(body, "messages"));
  json_decref(body);
  ck_assert(json_is_array(m));
  return m;
}

static const char *field(json_t *msgs, size_t i, const char *key) {
  const char *v =
      json_string_value(json_object_get(json_array_get(msgs, i), key));
  return v ? v : "";
}

/* The tool message's content, parsed. */
static json_t *tool_content(json_t *msgs, size_t i) {
  json_t *c = json_loads(field(msgs, i, "content"), 0, NULL);
  ck_assert_msg(c != NULL, "tool content: %s", field(msgs, i, "content"));
  return c;
}

START_TEST(rejected_call_is_corrected_and_the_goal_completes) {
  fixture_t f;
  char goal_id[37];
  lf_test_records_t res;
  start(&f, FLEET, NULL);
  /* the model invents an argument, is told, corrects it, then answers */
  lf_llm_server_push_call(f.llm, "call_a", "echo", "{\"msg\":\"hi\"}");
  lf_llm_server_push_call(f.llm, "call_b", "echo", "{\"message\":\"hi\"}");
  lf_llm_server_push_answer(f.llm, "I said hi.");
  lf_test_submit(&f.env, "say hi", "acme", goal_id);

  lf_result_t *r = result_of(&f, goal_id, &res);
  ck_assert_int_eq(r->status, LF_RESULT_COMPLETED);
  ck_assert_str_eq(r->answer, "I said hi.");
  ck_assert_uint_eq(r->llm_calls, 3);
  ck_assert_uint_eq(r->tokens, 180);
  /* published from the model's reply, the result continues the goal's
   * trace */
  lf_test_records_t g = lf_test_read(&f.env, LF_TOPIC_GOALS, 1, 10000,
                                     lf_test_match_goal, goal_id);
  ck_assert_uint_eq(g.n, 1);
  ck_assert_msg(!memcmp(g.v[0].traceparent, res.v[0].traceparent, 35),
                "goal %s result %s", g.v[0].traceparent, res.v[0].traceparent);
  lf_test_records_free(&g);
  lf_test_records_free(&res);

  lf_test_records_t p = lf_test_read(&f.env, LF_TOPIC_PROPOSED, 2, 10000,
                                     lf_test_match_goal, goal_id);
  ck_assert_uint_eq(p.n, 2);
  ck_assert_str_eq(((lf_action_t *)p.v[0].pb)->arguments_json,
                   "{\"msg\":\"hi\"}");
  ck_assert_str_eq(((lf_action_t *)p.v[1].pb)->arguments_json,
                   "{\"message\":\"hi\"}");
  lf_test_records_free(&p);

  lf_llm_request_t *q;
  size_t n = lf_llm_server_requests(f.llm, &q);
  ck_assert_uint_eq(n, 3);
  /* the catalog's actions are the tools */
  json_t *body = json_loads(q[0].body, 0, NULL);
  json_t *tools = json_object_get(body, "tools");
  ck_assert_uint_eq(json_array_size(tools),
                    3); /* echo, pay_invoice, sleep_ms */
  ck_assert_str_eq(
      json_string_value(json_object_get(
          json_object_get(json_array_get(tools, 0), "function"), "name")),
      "echo");
  json_decref(body);
  /* system, user; then the call and its answer, pair by pair */
  json_t *m0 = messages(&q[0]), *m1 = messages(&q[1]), *m2 = messages(&q[2]);
  ck_assert_uint_eq(json_array_size(m0), 2);
  ck_assert_str_eq(field(m0, 0, "role"), "system");
  ck_assert_str_eq(field(m0, 1, "role"), "user");
  ck_assert_str_eq(field(m0, 1, "content"), "say hi");
  ck_assert_uint_eq(json_array_size(m1), 4);
  ck_assert_str_eq(field(m1, 2, "role"), "assistant");
  ck_assert_str_eq(field(m1, 3, "role"), "tool");
  ck_assert_str_eq(field(m1, 3, "tool_call_id"), "call_a");
  json_t *c = tool_content(m1, 3);
  ck_assert_str_eq(json_string_value(json_object_get(c, "status")), "rejected");
  char *reasons = json_dumps(json_object_get(c, "reasons"), 0);
  ck_assert_msg(strstr(reasons, "message") && strstr(reasons, "msg"),
                "the reasons name the argument: %s", reasons);
  free(reasons);
  json_decref(c);
  ck_assert_uint_eq(json_array_size(m2), 6);
  ck_assert_str_eq(field(m2, 5, "tool_call_id"), "call_b");
  c = tool_content(m2, 5);
  ck_assert_str_eq(json_string_value(json_object_get(c, "status")),
                   "succeeded");
  json_decref(c);
  json_decref(m0);
  json_decref(m1);
  json_decref(m2);
  lf_llm_requests_free(q, n);

  /* the ended goal keeps only its result in Redis, and expires */
  redisContext *rc = lf_test_redis(&f.env);
  redisReply *rr = redisCommand(rc, "HGET lamfleet:goal:%s s", goal_id);
  ck_assert_int_eq(rr->type, REDIS_REPLY_STRING);
  json_t *st = json_loads(rr->str, 0, NULL);
  ck_assert_str_eq(json_string_value(json_object_get(st, "status")), "done");
  ck_assert_ptr_null(json_object_get(st, "messages"));
  json_decref(st);
  freeReplyObject(rr);
  rr = redisCommand(rc, "TTL lamfleet:goal:%s", goal_id);
  ck_assert_int_gt(rr->integer, 0);
  freeReplyObject(rr);
  rr = redisCommand(rc, "ZCARD lamfleet:planner:awaiting");
  ck_assert_int_eq(rr->integer, 0);
  freeReplyObject(rr);
  redisFree(rc);
  stop(&f);
}
END_TEST

START_TEST(parallel_calls_are_proposed_together) {
  fixture_t f;
  char goal_id[37];
  lf_test_records_t res;
  const char *ids[2] = {"call_slow", "call_fast"};
  const char *names[2] = {"sleep_ms", "echo"};
  const char *args[2] = {"{\"ms\":400}", "{\"message\":\"x\"}"};
  start(&f, FLEET, NULL);
  lf_llm_server_push_calls(f.llm, 2, ids, names, args);
  lf_llm_server_push_answer(f.llm, "both done");
  lf_test_submit(&f.env, "do two things", "acme", goal_id);

  lf_result_t *r = result_of(&f, goal_id, &res);
  ck_assert_int_eq(r->status, LF_RESULT_COMPLETED);
  ck_assert_str_eq(r->answer, "both done");
  lf_test_records_free(&res);
  lf_test_records_t p = lf_test_read(&f.env, LF_TOPIC_PROPOSED, 2, 10000,
                                     lf_test_match_goal, goal_id);
  ck_assert_uint_eq(p.n, 2);
  ck_assert_uint_eq(((lf_action_t *)p.v[0].pb)->step,
                    ((lf_action_t *)p.v[1].pb)->step);
  lf_test_records_free(&p);

  /* one more model call, after both observations, answering both ids */
  lf_llm_request_t *q;
  size_t n = lf_llm_server_requests(f.llm, &q);
  ck_assert_uint_eq(n, 2);
  json_t *m = messages(&q[1]);
  ck_assert_uint_eq(json_array_size(m), 5);
  ck_assert_str_eq(field(m, 3, "tool_call_id"), "call_slow");
  ck_assert_str_eq(field(m, 4, "tool_call_id"), "call_fast");
  json_decref(m);
  lf_llm_requests_free(q, n);
  stop(&f);
}
END_TEST

START_TEST(api_errors_are_retried_then_fail_the_goal) {
  fixture_t f;
  char a[37], b[37];
  lf_test_records_t res;
  const char *const extra[] = {"planner.openai.retries=2", NULL};
  start(&f, PLANNER, extra);
  lf_llm_server_push(f.llm, 429, "{\"error\":{\"message\":\"slow down\"}}", 0,
                     "1");
  lf_llm_server_push(f.llm, 500, "{\"error\":{\"message\":\"oops\"}}", 0, NULL);
  lf_llm_server_push_answer(f.llm, "fine");
  lf_test_submit(&f.env, "be patient", "acme", a);
  lf_result_t *r = result_of(&f, a, &res);
  ck_assert_int_eq(r->status, LF_RESULT_COMPLETED);
  ck_assert_str_eq(r->answer, "fine");
  ck_assert_uint_eq(r->llm_calls, 1); /* retries are one call */
  lf_test_records_free(&res);
  lf_llm_request_t *q;
  size_t n = lf_llm_server_requests(f.llm, &q);
  ck_assert_uint_eq(n, 3);
  ck_assert_msg(q[1].at_ms - q[0].at_ms >= 900,
                "Retry-After: 1 honoured (%lld ms)",
                (long long)(q[1].at_ms - q[0].at_ms));
  ck_assert_str_eq(q[0].body, q[2].body);
  lf_llm_requests_free(q, n);

  /* every attempt fails: the goal fails with the API's reason */
  for (int i = 0; i < 3; i++)
    lf_llm_server_push(f.llm, 503, "{\"error\":{\"message\":\"overloaded\"}}",
                       0, NULL);
  lf_test_submit(&f.env, "be unlucky", "acme", b);
  r = result_of(&f, b, &res);
  ck_assert_int_eq(r->status, LF_RESULT_FAILED);
  ck_assert_msg(strstr(r->error, "model call failed") &&
                    strstr(r->error, "503") && strstr(r->error, "overloaded"),
                "%s", r->error);
  lf_test_records_free(&res);
  ck_assert_uint_eq(lf_llm_server_total(f.llm), 6);
  stop(&f);
}
END_TEST

START_TEST(unusable_replies_are_explained_once) {
  fixture_t f;
  char a[37], b[37];
  lf_test_records_t res;
  start(&f, PLANNER, NULL);
  /* malformed JSON, explained; then a good answer */
  lf_llm_server_push(f.llm, 200, "{\"choices\": [", 0, NULL);
  lf_llm_server_push_answer(f.llm, "recovered");
  lf_test_submit(&f.env, "first", "acme", a);
  lf_result_t *r = result_of(&f, a, &res);
  ck_assert_int_eq(r->status, LF_RESULT_COMPLETED);
  ck_assert_str_eq(r->answer, "recovered");
  lf_test_records_free(&res);
  lf_llm_request_t *q;
  size_t n = lf_llm_server_requests(f.llm, &q);
  ck_assert_uint_eq(n, 2);
  json_t *m = messages(&q[1]);
  ck_assert_uint_eq(json_array_size(m), 3);
  ck_assert_str_eq(field(m, 2, "role"), "user");
  ck_assert_ptr_nonnull(strstr(field(m, 2, "content"), "could not be used"));
  json_decref(m);
  lf_llm_requests_free(q, n);

  /* invalid tool-call arguments twice: the goal fails, nothing proposed */
  lf_llm_server_push_call(f.llm, "call_1", "echo", "{\"message\": ");
  lf_llm_server_push_call(f.llm, "call_2", "echo", "not json");
  lf_test_submit(&f.env, "second", "acme", b);
  r = result_of(&f, b, &res);
  ck_assert_int_eq(r->status, LF_RESULT_FAILED);
  ck_assert_msg(strstr(r->error, "could not be used twice"), "%s", r->error);
  lf_test_records_free(&res);
  n = lf_llm_server_requests(f.llm, &q);
  ck_assert_uint_eq(n, 4);
  m = messages(&q[3]);
  ck_assert_str_eq(field(m, 3, "role"), "tool");
  ck_assert_str_eq(field(m, 3, "tool_call_id"), "call_1");
  json_decref(m);
  lf_llm_requests_free(q, n);
  lf_test_records_t p =
      lf_test_read(&f.env, LF_TOPIC_PROPOSED, 1, 1000, lf_test_match_goal, b);
  ck_assert_uint_eq(p.n, 0);
  lf_test_records_free(&p);
  stop(&f);
}
END_TEST

START_TEST(same_rejection_twice_fails_the_goal) {
  fixture_t f;
  char goal_id[37];
  lf_test_records_t res;
  start(&f, FLEET, NULL);
  lf_llm_server_push_call(f.llm, "c1", "echo", "{\"msg\":\"x\"}");
  lf_llm_server_push_call(f.llm, "c2", "echo", "{\"msg\": \"x\"}");
  lf_llm_server_push_answer(f.llm, "never asked");
  lf_test_submit(&f.env, "loop", "acme", goal_id);
  lf_result_t *r = result_of(&f, goal_id, &res);
  ck_assert_int_eq(r->status, LF_RESULT_FAILED);
  ck_assert_msg(strstr(r->error, "rejected twice in a row"), "%s", r->error);
  lf_test_records_free(&res);
  ck_assert_uint_eq(lf_llm_server_total(f.llm), 2);
  stop(&f);
}
END_TEST

static void submit_goal(fixture_t *f, const char *text, uint32_t max_steps,
                        uint64_t max_tokens, int64_t deadline_ms, char id[37]) {
  lf_goal_t g = LF_GOAL_INIT;
  lf_uuid(id);
  g.goal_id = id;
  g.tenant = "acme";
  g.text = (char *)text;
  g.max_steps = max_steps;
  g.max_tokens = max_tokens;
  g.deadline_ms = deadline_ms;
  g.created_at_ms = lf_now_ms();
  lf_test_produce(&f->env, LF_TOPIC_GOALS, id, &g.base);
}

static void expect_exhausted(fixture_t *f, const char *goal_id,
                             const char *why) {
  lf_test_records_t res;
  lf_result_t *r = result_of(f, goal_id, &res);
  ck_assert_int_eq(r->status, LF_RESULT_EXHAUSTED);
  ck_assert_msg(strstr(r->error, why), "%s: %s", why, r->error);
  lf_test_records_free(&res);
}

START_TEST(limits_end_goals_as_exhausted) {
  fixture_t f;
  char calls[37], tokens[37], steps[37], late[37];
  const char *const extra[] = {"planner.max.llm.calls=3", NULL};
  start(&f, FLEET, extra);
  /* a model that never stops calling tools */
  lf_llm_server_agent(f.llm, 0, 100, "echo", "message");
  submit_goal(&f, "forever", 0, 0, 0, calls);
  expect_exhausted(&f, calls, "model call limit of 3 reached");
  /* the operator's limits are ceilings: a goal asking for more gets them */
  lf_goal_t g = LF_GOAL_INIT;
  char greedy[37];
  lf_uuid(greedy);
  g.goal_id = greedy;
  g.tenant = "acme";
  g.text = "forever, please";
  g.max_llm_calls = 500;
  g.max_steps = 10000;
  g.created_at_ms = lf_now_ms();
  lf_test_produce(&f.env, LF_TOPIC_GOALS, greedy, &g.base);
  expect_exhausted(&f, greedy, "model call limit of 3 reached");
  submit_goal(&f, "costly", 0, 100, 0, tokens); /* 60 tokens a reply */
  expect_exhausted(&f, tokens, "token limit of 100 reached (120 used)");
  submit_goal(&f, "busy", 1, 0, 0, steps);
  expect_exhausted(&f, steps, "step limit of 1 reached");
  lf_test_records_t p = lf_test_read(&f.env, LF_TOPIC_PROPOSED, 2, 10000,
                                     lf_test_match_goal, steps);
  ck_assert_uint_eq(p.n, 1);
  lf_test_records_free(&p);
  /* a reply that comes after the deadline proposes nothing */
  lf_llm_server_agent(f.llm, 1500, 100, "echo", "message");
  submit_goal(&f, "hurry", 0, 0, lf_now_ms() + 1000, late);
  expect_exhausted(&f, late, "deadline passed");
  p = lf_test_read(&f.env, LF_TOPIC_PROPOSED, 1, 1000, lf_test_match_goal,
                   late);
  ck_assert_uint_eq(p.n, 0);
  lf_test_records_free(&p);
  stop(&f);
}
END_TEST

START_TEST(calls_in_flight_are_capped) {
  fixture_t f;
  enum { N = 8 };
  char ids[N][37];
  const char *const extra[] = {"planner.max.inflight=2", NULL};
  start(&f, PLANNER, extra);
  lf_llm_server_agent(f.llm, 300, 0, "echo", "message");
  for (int i = 0; i < N; i++)
    lf_test_submit(&f.env, "quick", "acme", ids[i]);
  lf_test_records_t res =
      lf_test_read(&f.env, LF_TOPIC_RESULTS, N, 30000, NULL, NULL);
  ck_assert_uint_eq(res.n, N);
  for (size_t i = 0; i < res.n; i++)
    ck_assert_int_eq(((lf_result_t *)res.v[i].pb)->status, LF_RESULT_COMPLETED);
  lf_test_records_free(&res);
  ck_assert_uint_eq(lf_llm_server_total(f.llm), N);
  ck_assert_uint_eq(lf_llm_server_max_pending(f.llm), 2);
  lf_worker_t *w = lf_stack_worker(f.env.stack, LF_KIND_PLANNER);
  ck_assert_uint_ge(lf_worker_counter(w, "fetch_pauses"), 1);
  stop(&f);
}
END_TEST

START_TEST(slow_calls_keep_the_planner_in_its_group) {
  fixture_t f;
  char goal_id[37];
  lf_test_records_t res;
  /* far shorter than the call: a planner blocked on it would be evicted */
  const char *const extra[] = {"kafka.session.timeout.ms=6000",
                               "kafka.max.poll.interval.ms=6000", NULL};
  start(&f, PLANNER, extra);
  lf_llm_server_push(f.llm, 200,
                     "{\"choices\":[{\"message\":{\"role\":\"assistant\","
                     "\"content\":\"slow but sure\"}}]}",
                     9000, NULL);
  lf_test_submit(&f.env, "take your time", "acme", goal_id);
  lf_result_t *r = result_of(&f, goal_id, &res);
  ck_assert_int_eq(r->status, LF_RESULT_COMPLETED);
  ck_assert_str_eq(r->answer, "slow but sure");
  lf_test_records_free(&res);
  lf_worker_t *w = lf_stack_worker(f.env.stack, LF_KIND_PLANNER);
  ck_assert_uint_eq(lf_worker_counter(w, "rebalances_revoked"), 0);
  ck_assert_uint_eq(lf_worker_counter(w, "rebalances_assigned"), 1);
  stop(&f);
}
END_TEST

START_TEST(a_restarted_planner_makes_the_call_again) {
  fixture_t f;
  char goal_id[37], errstr[512];
  lf_test_records_t res;
  start(&f, PLANNER, NULL);
  lf_llm_server_push(f.llm, 200,
                     "{\"choices\":[{\"message\":{\"role\":\"assistant\","
                     "\"content\":\"too late\"}}]}",
                     2000, NULL);
  lf_llm_server_push_answer(f.llm, "second try");
  lf_test_submit(&f.env, "survive a restart", "acme", goal_id);
  for (int i = 0; i < 100 && !lf_llm_server_total(f.llm); i++)
    usleep(50000);
  ck_assert_uint_eq(lf_llm_server_total(f.llm), 1);
  lf_stack_stop_worker(f.env.stack, LF_KIND_PLANNER);
  ck_assert_int_eq(lf_stack_start_worker(f.env.stack, LF_KIND_PLANNER, errstr,
                                         sizeof(errstr)),
                   LF_OK);
  lf_result_t *r = result_of(&f, goal_id, &res);
  ck_assert_int_eq(r->status, LF_RESULT_COMPLETED);
  ck_assert_str_eq(r->answer, "second try");
  lf_test_records_free(&res);
  /* the same conversation was sent again; one result, no other */
  lf_llm_request_t *q;
  size_t n = lf_llm_server_requests(f.llm, &q);
  ck_assert_uint_eq(n, 2);
  ck_assert_str_eq(q[0].body, q[1].body);
  lf_llm_requests_free(q, n);
  sleep(3); /* the first reply arrives at nobody */
  res = lf_test_read(&f.env, LF_TOPIC_RESULTS, 2, 2000, lf_test_match_goal,
                     goal_id);
  ck_assert_uint_eq(res.n, 1);
  lf_test_records_free(&res);
  stop(&f);
}
END_TEST

/* With every broker down, the planner waits for the acknowledgement of one
 * goal's result while another goal's model call is in flight: the answer
 * that arrives meanwhile is taken, not turned into a timeout. */
START_TEST(answers_during_a_broker_outage_are_not_timeouts) {
  fixture_t f;
  char slow[37], quick[37];
  lf_test_records_t res;
  const char *const extra[] = {"planner.openai.timeout.ms=3500",
                               "planner.openai.retries=0", NULL};
  start(&f, PLANNER, extra);
  static const char answer[] =
      "{\"choices\":[{\"index\":0,\"finish_reason\":\"stop\",\"message\":"
      "{\"role\":\"assistant\",\"content\":\"%s\"}}],"
      "\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":2,"
      "\"total_tokens\":7}}";
  char body[256];
  snprintf(body, sizeof(body), answer, "slow answer");
  lf_llm_server_push(f.llm, 200, body, 2000, NULL);
  snprintf(body, sizeof(body), answer, "quick answer");
  lf_llm_server_push(f.llm, 200, body, 300, NULL);
  lf_test_submit(&f.env, "take your time", "acme", slow);
  for (int i = 0; i < 400 && lf_llm_server_total(f.llm) < 1; i++)
    usleep(10000);
  lf_test_submit(&f.env, "be quick", "acme", quick);
  for (int i = 0; i < 400 && lf_llm_server_total(f.llm) < 2; i++)
    usleep(10000);
  ck_assert_uint_eq(lf_llm_server_total(f.llm), 2);
  /* the quick answer's result cannot be delivered for 5 s; the slow answer
   * arrives 2 s into the outage, before its 3.5 s timeout */
  rd_kafka_mock_cluster_t *mc = lf_mock_cluster(lf_stack_mock(f.env.stack));
  for (int b = 1; b <= 3; b++)
    rd_kafka_mock_broker_set_down(mc, b);
  sleep(5);
  for (int b = 1; b <= 3; b++)
    rd_kafka_mock_broker_set_up(mc, b);
  lf_result_t *r = result_of(&f, slow, &res);
  ck_assert_msg(r->status == LF_RESULT_COMPLETED, "%s", r->error);
  ck_assert_str_eq(r->answer, "slow answer");
  lf_test_records_free(&res);
  r = result_of(&f, quick, &res);
  ck_assert_msg(r->status == LF_RESULT_COMPLETED, "%s", r->error);
  ck_assert_str_eq(r->answer, "quick answer");
  lf_test_records_free(&res);
  ck_assert_uint_eq(lf_llm_server_total(f.llm), 2); /* nothing asked again */
  stop(&f);
}
END_TEST

int main(void) {
  Suite *s = suite_create("planner");
  TCase *tc = tcase_create("planner");
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, rejected_call_is_corrected_and_the_goal_completes);
  tcase_add_test(tc, parallel_calls_are_proposed_together);
  tcase_add_test(tc, api_errors_are_retried_then_fail_the_goal);
  tcase_add_test(tc, unusable_replies_are_explained_once);
  tcase_add_test(tc, same_rejection_twice_fails_the_goal);
  tcase_add_test(tc, limits_end_goals_as_exhausted);
  tcase_add_test(tc, calls_in_flight_are_capped);
  tcase_add_test(tc, slow_calls_keep_the_planner_in_its_group);
  tcase_add_test(tc, a_restarted_planner_makes_the_call_again);
  tcase_add_test(tc, answers_during_a_broker_outage_are_not_timeouts);
  suite_add_tcase(s, tc);
  return lf_test_run(s);
}
