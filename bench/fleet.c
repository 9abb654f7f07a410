/* lamfleet-bench: the raw librdkafka consume-then-produce relay on the mock
 * cluster (the ceiling every worker is compared with), then the whole fleet
 * on the same machine in the same run: goals per second through planner,
 * guard and executor, and the latency of a lone goal, as ratios of the
 * relay. Usage: lamfleet-bench [--relay N] [--goals N] [--lone N]
 * [-X key=value]... */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "follow.h"
#include "kafka.h"
#include "log.h"
#include "stack.h"
#include "util.h"

static void submit(rd_kafka_t *p, const lf_conf_t *conf, const char *text,
                   char *goal_id) {
  char topic[256];
  lf_goal_t g = LF_GOAL_INIT;
  lf_uuid(goal_id);
  g.goal_id = goal_id;
  g.tenant = "bench";
  g.text = (char *)text;
  g.created_at_ms = lf_now_ms();
  if (lf_kafka_produce(
          p, lf_kafka_topic_name(conf, LF_TOPIC_GOALS, topic, sizeof(topic)),
          goal_id, &g.base, NULL, 0, NULL, errstr, sizeof(errstr)))
    die("submit");
}

/* Waits for n results; returns how many arrived. */
static long await_results(lf_follow_t *f, long n, int timeout_ms) {
  long got = 0;
  int64_t deadline = lf_monotonic_ms() + timeout_ms;
  while (got < n && lf_monotonic_ms() < deadline) {
    lf_event_t ev;
    if (!lf_follow_next(f, 100, &ev))
      continue;
    got += ev.topic == LF_TOPIC_RESULTS &&
           ((lf_result_t *)ev.pb)->status == LF_RESULT_COMPLETED;
    lf_event_clear(&ev);
  }
  return got;
}

static int cmp_i64(const void *a, const void *b) {
  int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  return (x > y) - (x < y);
}

int main(int argc, char **argv) {
  long nrelay = 100000, ngoals = 5000, nlone = 30;
  const bench_opt_t opts[] = {
      {"--relay", &nrelay}, {"--goals", &ngoals}, {"--lone", &nlone}};
  lf_conf_t *conf = bench_setup(argc, argv, opts, 3,
                                "lamfleet-bench [--relay N] [--goals N] "
                                "[--lone N] [-X key=value]...");
  double relay_rate;
  lf_stack_t *s = bench_stack(conf, 7, nrelay, &relay_rate);

  lf_follow_t *f = lf_follow_new(conf, LF_FOLLOW_NEW, errstr, sizeof(errstr));
  rd_kafka_t *p = producer(conf);
  char id[LF_UUID_LEN + 1], text[64];
  submit(p, conf, "pay invoice 0", id); /* warm-up: groups joined */
  rd_kafka_flush(p, 10000);
  if (await_results(f, 1, 60000) != 1)
    die("warm-up goal");

  int64_t *lat = calloc((size_t)nlone, sizeof(*lat));
  for (long i = 0; i < nlone; i++) {
    snprintf(text, sizeof(text), "pay invoice %ld", 1000000 + i);
    int64_t t0 = lf_monotonic_ms();
    submit(p, conf, text, id);
    rd_kafka_flush(p, 10000);
    if (await_results(f, 1, 30000) != 1)
      die("lone goal");
    lat[i] = lf_monotonic_ms() - t0;
  }
  qsort(lat, (size_t)nlone, sizeof(*lat), cmp_i64);
  double hop50, hop99;
  bench_hop(conf, lf_stack_mock(s), (int)(nlone > 20 ? nlone : 20), &hop50,
            &hop99);
  printf("lone goal, 1 step (goal > proposed > approved > observation > "
         "result, 5 hops): p50 %lld ms, p99 %lld ms\n",
         (long long)lat[nlone / 2], (long long)lat[(nlone * 99) / 100]);
  printf("one hop (produce, then consume, the workers' settings), same run: "
         "p50 %.1f ms, p99 %.1f ms: the lone goal takes %.1f hops' time\n",
         hop50, hop99, (double)lat[nlone / 2] / hop50);
  free(lat);

  int64_t t0 = lf_monotonic_ms();
  for (long i = 0; i < ngoals; i++) {
    snprintf(text, sizeof(text), "pay invoice %ld", 2000000 + i);
    submit(p, conf, text, id);
  }
  rd_kafka_flush(p, 60000);
  long done = await_results(f, ngoals, 300000);
  double secs = (double)(lf_monotonic_ms() - t0) / 1000.0;
  double goal_rate = (double)done / secs;
  /* one goal = 5 records consumed by workers (goal, proposal, approval,
   * observation) + the result produced: count worker-consumed records. */
  double rec_rate = goal_rate * 4;
  printf("fleet: %ld goals of 1 step in %.2f s: %.0f goals/s, %.0f worker "
         "records/s\n",
         done, secs, goal_rate, rec_rate);
  printf("ratio to the raw relay: goals/s %.4f, worker records/s %.3f "
         "(each worker sees 1/3 of the records; all share 2 cores)\n",
         goal_rate / relay_rate, rec_rate / relay_rate);
  rd_kafka_destroy(p);
  lf_follow_destroy(f);
  lf_stack_stop(s);
  lf_conf_destroy(conf);
  return done == ngoals ? 0 : 1;
}
