/* lamfleet-bench-planner: one planner process with the openai backend
 * against a local OpenAI-compatible server that answers after --delay ms
 * (200): goals per second, model calls in flight, memory per goal in
 * flight, and whether the planner kept its consumer group meanwhile, after
 * the raw relay measured in the same run. The server runs in a child
 * process so that the memory figures are the planner's (and the embedded
 * mock cluster's). With --rounds N each goal calls a tool N times before
 * its answer, through the guard and executor.
 * Usage: lamfleet-bench-planner [--relay N] [--goals N] [--delay MS]
 * [--rounds N] [-X key=value]... */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common.h"
#include "follow.h"
#include "server.h"
#include "util.h"
#include "worker.h"

/* Heap in use (malloc's view, so freed memory counts as freed). */
static size_t heap_in_use(void) {
  struct mallinfo2 mi = mallinfo2();
  return mi.uordblks + mi.hblkhd;
}

static void submit(rd_kafka_t *p, const lf_conf_t *conf, long i) {
  char topic[256], id[LF_UUID_LEN + 1], text[64];
  lf_goal_t g = LF_GOAL_INIT;
  lf_uuid(id);
  snprintf(text, sizeof(text), "greet user %ld", i);
  g.goal_id = id;
  g.tenant = "bench";
  g.text = text;
  g.created_at_ms = lf_now_ms();
  lf_kafka_topic_name(conf, LF_TOPIC_GOALS, topic, sizeof(topic));
  while (lf_kafka_produce(p, topic, id, &g.base, NULL, 0, NULL, errstr,
                          sizeof(errstr)))
    if (rd_kafka_poll(p, 10) < 0 || !strstr(errstr, "full"))
      die("submit");
}

typedef struct peak {
  long inflight;
  size_t heap;
} peak_t;

/* Follows results until n completed, sampling calls in flight. */
static long follow(lf_follow_t *f, server_t *sv, long n, peak_t *pk) {
  long got = 0, idle = 0;
  int64_t next = 0;
  while (got < n && idle < 600) {
    lf_event_t ev;
    if (server_sample(sv, &next, &pk->inflight))
      pk->heap = heap_in_use();
    if (!lf_follow_next(f, 100, &ev)) {
      idle++;
      continue;
    }
    idle = 0;
    got += ev.topic == LF_TOPIC_RESULTS &&
           ((lf_result_t *)ev.pb)->status == LF_RESULT_COMPLETED;
    lf_event_clear(&ev);
  }
  return got;
}

static double cpu_s(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

static void raise_fd_limit(void) {
  struct rlimit rl;
  if (!getrlimit(RLIMIT_NOFILE, &rl) && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
}

int main(int argc, char **argv) {
  long nrelay = 100000, ngoals = 10000, delay = 200, rounds = 0;
  const bench_opt_t opts[] = {{"--relay", &nrelay},
                              {"--goals", &ngoals},
                              {"--delay", &delay},
                              {"--rounds", &rounds}};
  char url[256];
  server_t sv = {0};
  /* a call in flight holds a socket on each side */
  raise_fd_limit();
  lf_conf_t *conf = bench_setup(argc, argv, opts, 4,
                                "lamfleet-bench-planner [--relay N] [--goals "
                                "N] [--delay MS] [--rounds N] [-X key=value]");
  server_start(&sv, (int)delay, (int)rounds);
  snprintf(url, sizeof(url), "%s", sv.url);
  set(conf, "planner.backend", "openai");
  set(conf, "planner.openai.base.url", url);
  set(conf, "planner.openai.model", "bench");
  if (!strcmp(lf_conf_get(conf, "planner.max.inflight"), "1000"))
    set(conf, "planner.max.inflight", "2000");
  unsigned workers = 1u << LF_KIND_PLANNER;
  if (rounds)
    workers |= (1u << LF_KIND_GUARD) | (1u << LF_KIND_EXECUTOR);
  double relay_rate;
  lf_stack_t *s = bench_stack(conf, workers, nrelay, &relay_rate);

  lf_follow_t *f = lf_follow_new(conf, LF_FOLLOW_NEW, errstr, sizeof(errstr));
  rd_kafka_t *p = producer(conf);
  peak_t warm = {0}, pk = {0};
  if (!f)
    die("follow");
  submit(p, conf, -1); /* warm-up: the group joined, the server reached */
  rd_kafka_flush(p, 10000);
  if (follow(f, &sv, 1, &warm) != 1)
    die("warm-up goal");
  size_t heap0 = heap_in_use();

  int64_t t0 = lf_monotonic_ms();
  double cpu0 = cpu_s();
  for (long i = 0; i < ngoals; i++)
    submit(p, conf, i);
  rd_kafka_flush(p, 60000);
  long done = follow(f, &sv, ngoals, &pk);
  double secs = (double)(lf_monotonic_ms() - t0) / 1000.0;
  size_t heap1 = heap_in_use();
  double cpu = cpu_s() - cpu0;

  lf_worker_t *w = lf_stack_worker(s, LF_KIND_PLANNER);
  long max_pending = 0;
  long total = server_ask(&sv, "q", &max_pending);
  waitpid(sv.pid, NULL, 0);
  double rate = (double)done / secs;
  printf("planner, model answering after %ld ms, %ld tool round(s) a goal: "
         "%ld goals in %.2f s: %.0f goals/s (%.4f of the relay's "
         "records/s), %ld model calls\n",
         delay, rounds, done, secs, rate, rate / relay_rate, total);
  printf("model calls in flight: at most %ld (planner.max.inflight %s); "
         "CPU of this process (planner, mock cluster, clients): %.0f%% of a "
         "core\n",
         max_pending, lf_conf_get(conf, "planner.max.inflight"),
         100.0 * cpu / secs);
  if (pk.inflight)
    printf("memory per goal in flight: %.1f KiB (heap %.1f MiB with %ld in "
           "flight, %.1f MiB before, %.1f MiB after)\n",
           (double)(pk.heap > heap1 ? pk.heap - heap1 : 0) / 1024.0 /
               (double)pk.inflight,
           (double)pk.heap / 1048576.0, pk.inflight, (double)heap0 / 1048576.0,
           (double)heap1 / 1048576.0);
  printf("consumer group kept: %s (%llu assignment(s), %llu revocation(s); "
         "longest gap between polls %llu ms, where librdkafka evicts at "
         "kafka.max.poll.interval.ms%s)\n",
         lf_worker_counter(w, "rebalances_revoked") ? "NO" : "yes",
         (unsigned long long)lf_worker_counter(w, "rebalances_assigned"),
         (unsigned long long)lf_worker_counter(w, "rebalances_revoked"),
         (unsigned long long)lf_worker_counter(w, "max_poll_gap_ms"),
         lf_conf_kafka_is_set(conf, "max.poll.interval.ms")
             ? ""
             : ", 300000 by default");
  rd_kafka_destroy(p);
  lf_follow_destroy(f);
  lf_stack_stop(s);
  lf_conf_destroy(conf);
  return done == ngoals ? 0 : 1;
}
