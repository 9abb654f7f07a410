/* The promise under faults: goals through real planner, guard and executor
 * processes on the mock cluster and a durable redis-server, against a slow
 * payments service that honours Idempotency-Key and counts every call,
 * while brokers go down and up, requests fail, redis-server is killed and
 * restarted, and executors are scaled up, SIGTERMed and SIGKILLed. It
 * counts what a user would audit: goals completed, approved actions,
 * downstream calls per invoice, calls after a success, goals reported
 * failed that were paid, and approved actions never carried out. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kafka.h"
#include "mock.h"
#include "payments.h"
#include "redis_server.h"
#include "support.h"
#include "util.h"

#define MAX_GOALS 400
#define MAX_EXECUTORS 8
#define TENANT "faults"

/* librdkafka's API keys (the protocol's numbers; not in its public API) */
enum { API_PRODUCE = 0, API_FETCH = 1, API_OFFSET_COMMIT = 8 };

typedef struct fleet {
  lf_test_env_t env;
  lf_redis_server_t *redis;
  pid_t planner, guards[2], executors[MAX_EXECUTORS];
  size_t nexec;
  rd_kafka_t *producer; /* the goals', with delivery reports */
  int refused[MAX_GOALS];
  char ids[MAX_GOALS][37];
  char invoice[MAX_GOALS][24];
  size_t n;
} fleet_t;

/* What the audit found for goals [from, to). */
typedef struct audit {
  size_t goals, completed, approved, calls, after_success, failed_but_paid,
      lost;
} audit_t;

static rd_kafka_mock_cluster_t *cluster(fleet_t *f) {
  return lf_mock_cluster(lf_stack_mock(f->env.stack));
}

static lf_payments_t *payments(fleet_t *f) {
  return lf_stack_payments(f->env.stack);
}

static pid_t spawn_executor(fleet_t *f) {
  static const char *const settings[] = {"executor.lease.ms=3000",
                                         "log.level=warn", NULL};
  ck_assert_uint_lt(f->nexec, MAX_EXECUTORS);
  pid_t pid = lf_test_spawn(&f->env, LF_EXECUTOR_PATH, settings);
  f->executors[f->nexec++] = pid;
  return pid;
}

/* A goal the brokers refused (a produce error injected, a timeout): sent
 * again, as a producing service would. */
static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m,
                        void *opaque) {
  (void)rk;
  (void)opaque;
  if (m->err && m->_private)
    *(int *)m->_private = 1;
}

static void produce_goal(fleet_t *f, size_t k) {
  char errstr[512], topic[256], text[64];
  lf_goal_t g = LF_GOAL_INIT;
  lf_kafka_topic_name(f->env.conf, LF_TOPIC_GOALS, topic, sizeof(topic));
  snprintf(text, sizeof(text), "pay invoice %zu", 1000 + k);
  g.goal_id = f->ids[k];
  g.tenant = TENANT;
  g.text = text;
  g.created_at_ms = lf_now_ms();
  f->refused[k] = 0;
  ck_assert_msg(!lf_kafka_produce(f->producer, topic, g.goal_id, &g.base, NULL,
                                  0, &f->refused[k], errstr, sizeof(errstr)),
                "%s", errstr);
}

/* Produces count goals without waiting for their acknowledgement (a
 * broker may be down): delivered() waits. */
static void submit(fleet_t *f, size_t count) {
  for (size_t i = 0; i < count; i++) {
    ck_assert_uint_lt(f->n, MAX_GOALS);
    snprintf(f->invoice[f->n], sizeof(f->invoice[0]), "INV-%zu", 1000 + f->n);
    lf_uuid(f->ids[f->n]);
    produce_goal(f, f->n++);
  }
  rd_kafka_poll(f->producer, 0);
}

/* Waits until every goal so far is on the goals topic, sending again
 * those the brokers refused. */
static void delivered(fleet_t *f, int timeout_ms) {
  size_t resent = 0;
  for (int round = 0; round < 10; round++) {
    ck_assert_int_eq(rd_kafka_flush(f->producer, timeout_ms), 0);
    size_t again = 0;
    for (size_t k = 0; k < f->n; k++)
      if (f->refused[k]) {
        produce_goal(f, k);
        again++;
      }
    if (!again)
      break;
    resent += again;
  }
  if (resent)
    fprintf(stderr, "%zu goal(s) refused by the brokers were sent again\n",
            resent);
}

typedef struct range {
  fleet_t *f;
  size_t from, to;
} range_t;

static int goal_in(const lf_test_record_t *r, void *opaque) {
  const range_t *g = opaque;
  for (size_t i = g->from; i < g->to; i++)
    if (r->key && !strcmp(r->key, g->f->ids[i]))
      return 1;
  return 0;
}

static size_t index_of(const range_t *g, const char *goal_id) {
  for (size_t i = g->from; i < g->to; i++)
    if (!strcmp(g->f->ids[i], goal_id))
      return i;
  return SIZE_MAX;
}

/* The records of topic for goals in g, read until every goal has one (a
 * record may be there twice, e.g. produced again after a lost ack) or the
 * deadline passes; seen[k] says which goals have one. */
static lf_test_records_t read_each(fleet_t *f, lf_topic_t topic, range_t *g,
                                   int64_t deadline, int seen[MAX_GOALS]) {
  size_t want = g->to - g->from, distinct = 0;
  lf_test_records_t r = {0};
  do {
    lf_test_records_free(&r);
    r = lf_test_read(&f->env, topic, want, (int)(deadline - lf_monotonic_ms()),
                     goal_in, g);
    memset(seen, 0, MAX_GOALS * sizeof(int));
    distinct = 0;
    for (size_t i = 0; i < r.n; i++) {
      size_t k = index_of(g, r.v[i].key);
      distinct += !seen[k];
      seen[k] = 1;
    }
    want = r.n + 1;
  } while (distinct < g->to - g->from && lf_monotonic_ms() < deadline);
  return r;
}

/* Where a goal without a result got to: its records on each topic. */
static void trace_goal(fleet_t *f, size_t k) {
  static const lf_topic_t topics[] = {LF_TOPIC_GOALS, LF_TOPIC_PROPOSED,
                                      LF_TOPIC_APPROVED, LF_TOPIC_OBSERVATIONS,
                                      LF_TOPIC_DLQ};
  fprintf(stderr, "goal %s (%s) has no result; records:", f->ids[k],
          f->invoice[k]);
  for (size_t t = 0; t < sizeof(topics) / sizeof(topics[0]); t++) {
    lf_test_records_t r = lf_test_read(&f->env, topics[t], 1, 1000,
                                       lf_test_match_goal, f->ids[k]);
    fprintf(stderr, " %s %zu", lf_proto_topic_suffix(topics[t]), r.n);
    lf_test_records_free(&r);
  }
  fprintf(stderr, "\n");
}

/* Waits for a result of every goal in [from, to), then audits them. */
static audit_t audit(fleet_t *f, size_t from, size_t to, int timeout_ms) {
  range_t g = {f, from, to};
  audit_t a = {.goals = to - from};
  int status[MAX_GOALS] = {0}, seen[MAX_GOALS], approved[MAX_GOALS];
  delivered(f, timeout_ms);
  int64_t deadline = lf_monotonic_ms() + timeout_ms;
  lf_test_records_t r = read_each(f, LF_TOPIC_RESULTS, &g, deadline, seen);
  for (size_t i = 0; i < r.n; i++) {
    const lf_result_t *res = (const lf_result_t *)r.v[i].pb;
    ck_assert_ptr_nonnull(res);
    size_t k = index_of(&g, res->goal_id);
    ck_assert_uint_ne(k, SIZE_MAX);
    if (!status[k] || res->status != LF_RESULT_COMPLETED)
      status[k] = res->status; /* any result not completed counts */
    if (res->status != LF_RESULT_COMPLETED)
      fprintf(stderr, "goal %zu (%s): %s\n", k, f->invoice[k], res->error);
  }
  lf_test_records_free(&r);
  /* every approved action of these goals must have been carried out */
  lf_test_records_t ap =
      read_each(f, LF_TOPIC_APPROVED, &g, lf_monotonic_ms() + 10000, approved);
  lf_test_records_free(&ap);
  for (size_t k = from; k < to; k++) {
    uint64_t calls = lf_payments_calls(payments(f), f->invoice[k]);
    a.completed += status[k] == LF_RESULT_COMPLETED;
    a.approved += (size_t)approved[k];
    a.calls += calls;
    a.after_success += calls > 1 ? calls - 1 : 0;
    if (calls > 1)
      fprintf(stderr, "goal %s: %s paid once, called %llu times\n", f->ids[k],
              f->invoice[k], (unsigned long long)calls);
    a.failed_but_paid += status[k] != LF_RESULT_COMPLETED && calls > 0;
    a.lost += (approved[k] && !calls) || !status[k];
  }
  for (size_t k = from; k < to; k++)
    if (!status[k])
      trace_goal(f, k);
  fprintf(stderr,
          "audit of goals %zu-%zu: %zu completed of %zu, %zu approved, %zu "
          "downstream calls, %zu after a success, %zu reported failed but "
          "paid, %zu lost\n",
          from, to - 1, a.completed, a.goals, a.approved, a.calls,
          a.after_success, a.failed_but_paid, a.lost);
  return a;
}

static void fleet_start(fleet_t *f) {
  char errstr[512], url[256];
  memset(f, 0, sizeof(*f));
  lf_redis_server_opts_t o = {.durable = 1};
  f->redis =
      lf_redis_server_start_opts("redis-server", &o, errstr, sizeof(errstr));
  ck_assert_msg(f->redis != NULL, "%s", errstr);
  snprintf(url, sizeof(url), "redis.url=%s", lf_redis_server_url(f->redis));
  const char *const settings[] = {url, "dev.brokers=3", NULL};
  lf_test_env_start_with(&f->env, 0, settings);
  f->producer = lf_kafka_producer_new(f->env.conf, "faults-goals", on_delivery,
                                      errstr, sizeof(errstr));
  ck_assert_msg(f->producer != NULL, "%s", errstr);
  f->planner = lf_test_spawn(&f->env, LF_PLANNER_PATH, NULL);
  for (int i = 0; i < 2; i++)
    f->guards[i] = lf_test_spawn(&f->env, LF_GUARD_PATH, NULL);
  for (int i = 0; i < 3; i++)
    spawn_executor(f);
  /* one goal through, so every process has joined its group */
  submit(f, 1);
  audit_t a = audit(f, 0, 1, 90000);
  ck_assert_uint_eq(a.completed, 1);
  /* a downstream slow enough that faults meet calls in flight */
  lf_payments_set_delay(payments(f), 300);
}

static void stop_pid(pid_t pid, int sig, int expect_clean_exit) {
  int status = 0;
  if (pid <= 0)
    return;
  kill(pid, sig);
  ck_assert_int_eq(waitpid(pid, &status, 0), pid);
  if (expect_clean_exit)
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                  "pid %d: status %d", (int)pid, status);
}

static void fleet_stop(fleet_t *f) {
  for (size_t i = 0; i < f->nexec; i++)
    stop_pid(f->executors[i], SIGKILL, 0);
  for (int i = 0; i < 2; i++)
    stop_pid(f->guards[i], SIGKILL, 0);
  stop_pid(f->planner, SIGKILL, 0);
  rd_kafka_destroy(f->producer);
  lf_test_env_stop(&f->env);
  lf_redis_server_stop(f->redis);
}

/* Phase one: faults of the infrastructure and a scale-down by SIGTERM, no
 * process killed. Nothing may be called twice: 0 calls after a success. */
static void infrastructure_faults(fleet_t *f) {
  char errstr[512];
  rd_kafka_mock_cluster_t *mc = cluster(f);
  size_t from = f->n;

  /* a broker down for longer than an action's timeout (5 s) while calls
   * are in flight and observations wait for it */
  uint64_t calls = lf_payments_requests(payments(f));
  submit(f, 30);
  for (int i = 0; i < 3000 && lf_payments_requests(payments(f)) < calls + 6;
       i++)
    usleep(10000);
  ck_assert_int_eq(rd_kafka_mock_broker_set_down(mc, 1), 0);
  submit(f, 5);
  sleep(7);
  ck_assert_int_eq(rd_kafka_mock_broker_set_up(mc, 1), 0);

  /* produce, fetch and commit requests failing */
  submit(f, 25);
  rd_kafka_mock_push_request_errors(
      mc, API_PRODUCE, 6, RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION,
      RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT,
      RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS,
      RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION,
      RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT,
      RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS_AFTER_APPEND);
  rd_kafka_mock_push_request_errors(mc, API_FETCH, 3,
                                    RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION,
                                    RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART,
                                    RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION);
  rd_kafka_mock_push_request_errors(mc, API_OFFSET_COMMIT, 3,
                                    RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT,
                                    RD_KAFKA_RESP_ERR_COORDINATOR_NOT_AVAILABLE,
                                    RD_KAFKA_RESP_ERR_NOT_COORDINATOR);

  /* redis-server killed (kill -9) and restarted 1.5 s later */
  usleep(300000);
  kill(lf_redis_server_pid(f->redis), SIGKILL);
  submit(f, 10);
  usleep(1500000);
  ck_assert_msg(lf_redis_server_restart(f->redis, errstr, sizeof(errstr)) ==
                    LF_OK,
                "%s", errstr);

  /* scale up, and at once scale down by SIGTERM: a rebalance under load */
  submit(f, 25);
  spawn_executor(f);
  usleep(500000);
  stop_pid(f->executors[0], SIGTERM, 1);
  f->executors[0] = 0;
  submit(f, 25);

  audit_t a = audit(f, from, f->n, 240000);
  ck_assert_uint_eq(a.completed, a.goals);
  ck_assert_uint_eq(a.approved, a.goals);
  ck_assert_uint_eq(a.lost, 0);
  ck_assert_uint_eq(a.failed_but_paid, 0);
  ck_assert_uint_eq(a.after_success, 0); /* no process died */
  ck_assert_uint_eq(a.calls, a.goals);
}

/* Phase two: an executor killed (SIGKILL) with calls in flight. Its calls
 * may be made again by its successor (the downstream honours the key, so
 * each invoice is paid once), but nothing is lost or reported failed. */
static void executor_killed(fleet_t *f) {
  size_t from = f->n;
  submit(f, 40);
  usleep(400000);
  stop_pid(f->executors[1], SIGKILL, 0);
  f->executors[1] = 0;
  spawn_executor(f);
  submit(f, 20);
  audit_t a = audit(f, from, f->n, 240000);
  ck_assert_uint_eq(a.completed, a.goals);
  ck_assert_uint_eq(a.approved, a.goals);
  ck_assert_uint_eq(a.lost, 0);
  ck_assert_uint_eq(a.failed_but_paid, 0);
  ck_assert_uint_eq(a.calls, a.goals + a.after_success);
  ck_assert_uint_eq(lf_payments_made(payments(f)), f->n); /* each paid once */
}

START_TEST(nothing_lost_nothing_twice_under_faults) {
  fleet_t *f = calloc(1, sizeof(*f));
  ck_assert_ptr_nonnull(f);
  fleet_start(f);
  infrastructure_faults(f);
  executor_killed(f);
  fleet_stop(f);
  free(f);
}
END_TEST

int main(void) {
  Suite *s = suite_create("faults");
  TCase *tc = tcase_create("faults");
  tcase_set_timeout(tc, 900);
  tcase_add_test(tc, nothing_lost_nothing_twice_under_faults);
  suite_add_tcase(s, tc);
  return lf_test_run(s);
}
