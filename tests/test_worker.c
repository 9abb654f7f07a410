/* The shared worker loop on the mock cluster: the dead-letter path (a
 * record that cannot be decoded lands in dlq with the reason and its
 * original bytes, its offset is committed, the worker goes on) and a batch
 * that cannot be finished (Redis down) retried, not lost, not committed. */
#include <string.h>

#include "kafka.h"
#include "mock.h"
#include "redis_server.h"
#include "support.h"
#include "util.h"

static int match_key(const lf_test_record_t *r, void *key) {
  return !strcmp(r->key, key);
}

static int64_t committed(lf_test_env_t *env, const char *group, lf_topic_t t,
                         int32_t partition) {
  char errstr[512], name[256];
  rd_kafka_t *c = lf_kafka_consumer_new(env->conf, group, "lamfleet-test",
                                        errstr, sizeof(errstr));
  ck_assert_msg(c != NULL, "%s", errstr);
  rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
  rd_kafka_topic_partition_list_add(
      l, lf_kafka_topic_name(env->conf, t, name, sizeof(name)), partition);
  ck_assert_int_eq(rd_kafka_committed(c, l, 5000), RD_KAFKA_RESP_ERR_NO_ERROR);
  int64_t off = l->elems[0].offset;
  rd_kafka_topic_partition_list_destroy(l);
  rd_kafka_destroy(c);
  return off;
}

START_TEST(garbage_goes_to_dlq_and_the_worker_goes_on) {
  lf_test_env_t env;
  lf_test_env_start(&env, 1u << LF_KIND_GUARD);
  const char garbage[] = "\xff\xfe this is not a ProposedAction";
  lf_test_produce_raw(&env, LF_TOPIC_PROPOSED, "goal-x", garbage,
                      sizeof(garbage));
  lf_test_produce_raw(&env, LF_TOPIC_PROPOSED, "goal-x", "", 0); /* no ids */

  lf_test_propose(&env, "t", "goal-x", "echo", "{\"message\":\"still here\"}");

  lf_test_records_t dlq =
      lf_test_read(&env, LF_TOPIC_DLQ, 2, 30000, match_key, "goal-x");
  ck_assert_uint_eq(dlq.n, 2);
  const lf_dead_letter_t *d0 = (const lf_dead_letter_t *)dlq.v[0].pb;
  const lf_dead_letter_t *d1 = (const lf_dead_letter_t *)dlq.v[1].pb;
  ck_assert_ptr_nonnull(d0);
  ck_assert_str_eq(d0->source_topic, "lamfleet.actions.proposed");
  ck_assert_msg(strstr(d0->error, "not a valid lamfleet.v1.ProposedAction"),
                "%s", d0->error);
  ck_assert_uint_eq(d0->original.len, sizeof(garbage));
  ck_assert_mem_eq(d0->original.data, garbage, sizeof(garbage));
  ck_assert_msg(strstr(d1->error, "has no action_id"), "%s", d1->error);
  ck_assert_int_eq(d1->offset, d0->offset + 1);

  lf_test_records_t ok =
      lf_test_read(&env, LF_TOPIC_APPROVED, 1, 30000, match_key, "goal-x");
  ck_assert_uint_eq(ok.n, 1);
  const lf_verdict_t *v = (const lf_verdict_t *)ok.v[0].pb;
  ck_assert_str_eq(v->action->action_id, "goal-x:0");
  ck_assert_int_eq(v->decision, LF_DECISION_APPROVED);

  /* committed past all three records */
  int64_t want = d0->offset + 3, got = -1;
  for (int i = 0; i < 100 && got != want; i++, lf_sleep_ms(50))
    got = committed(&env, "lamfleet-guard", LF_TOPIC_PROPOSED, d0->partition);
  ck_assert_int_eq(got, want);
  ck_assert_uint_eq(lf_worker_counter(lf_stack_worker(env.stack, LF_KIND_GUARD),
                                      "dead_letters"),
                    2);
  lf_test_records_free(&dlq);
  lf_test_records_free(&ok);
  lf_test_env_stop(&env);
}
END_TEST

START_TEST(redis_outage_retries_the_batch) {
  lf_test_env_t env;
  char errstr[512];
  lf_test_env_start(&env, 1u << LF_KIND_GUARD);
  lf_redis_server_t *srv = lf_stack_redis_server(env.stack);
  lf_worker_t *guard = lf_stack_worker(env.stack, LF_KIND_GUARD);
  lf_redis_server_kill(srv);

  lf_test_propose(&env, "t", "goal-r", "echo",
                  "{\"message\":\"wait for redis\"}");

  /* fail closed: nothing approved while Redis is away, and retried */
  lf_test_records_t none =
      lf_test_read(&env, LF_TOPIC_APPROVED, 1, 4000, match_key, "goal-r");
  ck_assert_uint_eq(none.n, 0);
  ck_assert_uint_ge(lf_worker_counter(guard, "batches_failed"), 1);
  lf_test_records_free(&none);

  ck_assert_int_eq(lf_redis_server_restart(srv, errstr, sizeof(errstr)), LF_OK);
  lf_test_records_t ok =
      lf_test_read(&env, LF_TOPIC_APPROVED, 1, 30000, match_key, "goal-r");
  ck_assert_uint_eq(ok.n, 1);
  lf_test_records_free(&ok);
  /* exactly once: no second approval shows up later */
  ok = lf_test_read(&env, LF_TOPIC_APPROVED, 2, 1500, match_key, "goal-r");
  ck_assert_uint_eq(ok.n, 1);
  lf_test_records_free(&ok);
  lf_test_env_stop(&env);
}
END_TEST

static int match_prefix(const lf_test_record_t *r, void *prefix) {
  return !strncmp(r->key, prefix, strlen(prefix));
}

/* The guard handles a batch while the one before it waits for its
 * acknowledgements. Produce requests refused: the batch in flight is not
 * delivered after the next one was handled on its account, so both are
 * handled again; every action is approved, none is lost, the offsets are
 * committed to the end. */
START_TEST(a_batch_in_flight_that_fails_takes_the_next_one_with_it) {
  lf_test_env_t env;
  char errstr[512];
  const int n = 300;
  const char *const settings[] = {"worker.batch.size=25", NULL};
  lf_test_env_start_with(&env, 0, settings);
  lf_test_propose_many(&env, "ovl", n, "ovl-", "t", "echo",
                       "{\"message\":\"overlap %d\"}");
  /* the guard's first produce requests, once it has handled two batches */
  rd_kafka_mock_push_request_errors(lf_mock_cluster(lf_stack_mock(env.stack)),
                                    0 /* Produce */, 2,
                                    RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE,
                                    RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE);
  ck_assert_int_eq(
      lf_stack_start_worker(env.stack, LF_KIND_GUARD, errstr, sizeof(errstr)),
      LF_OK);
  lf_worker_t *guard = lf_stack_worker(env.stack, LF_KIND_GUARD);

  /* committed to the end only once everything before is delivered */
  int64_t got = -1;
  int parts = (int)lf_conf_get_int(env.conf, "dev.partitions");
  for (int i = 0; i < 600 && got != n; i++, lf_sleep_ms(50)) {
    got = 0; /* the one partition of key "ovl" */
    for (int p = 0; p < parts; p++) {
      int64_t at = committed(&env, "lamfleet-guard", LF_TOPIC_PROPOSED, p);
      got += at > 0 ? at : 0;
    }
  }
  ck_assert_int_eq(got, n);
  /* all there by then; reads what the topic has (some twice) */
  lf_test_records_t ok = lf_test_read(&env, LF_TOPIC_APPROVED, 2 * (size_t)n,
                                      3000, match_prefix, "ovl-");
  char *seen = calloc((size_t)n, 1);
  for (size_t i = 0; i < ok.n; i++) {
    const lf_verdict_t *v = (const lf_verdict_t *)ok.v[i].pb;
    int k = -1;
    ck_assert_int_eq(v->decision, LF_DECISION_APPROVED);
    ck_assert_int_eq(sscanf(v->action->action_id, "ovl-%03d:0", &k), 1);
    ck_assert(k >= 0 && k < n);
    seen[k] = 1;
  }
  for (int k = 0; k < n; k++)
    ck_assert_msg(seen[k], "action ovl-%03d:0 was never approved", k);
  free(seen);
  ck_assert_uint_ge(lf_worker_counter(guard, "batches_overlapped"), 1);
  ck_assert_uint_ge(lf_worker_counter(guard, "batches_failed"), 1);
  ck_assert_uint_eq(lf_worker_counter(guard, "dead_letters"), 0);
  lf_test_records_free(&ok);
  lf_test_env_stop(&env);
}
END_TEST

int main(void) {
  Suite *s = suite_create("worker");
  TCase *tc = tcase_create("worker");
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, garbage_goes_to_dlq_and_the_worker_goes_on);
  tcase_add_test(tc, redis_outage_retries_the_batch);
  tcase_add_test(tc, a_batch_in_flight_that_fails_takes_the_next_one_with_it);
  suite_add_tcase(s, tc);
  return lf_test_run(s);
}
