/* lamfleet-bench-guard: guard decisions per second (one guard worker, so
 * one core, with a real redis-server) and the validator alone, measured
 * in the same run as the raw relay they are compared with.
 * Usage: lamfleet-bench-guard [--relay N] [--actions N] [--validations N]
 *        [-X key=value]... */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "guard.h"
#include "log.h"
#include "util.h"

#define CATALOG LF_BENCH_DIR "/transfer.json"

static const char *args_of(long i, char *buf, size_t size) {
  const char *currency = i % 20 == 7 ? "CHF" : "EUR"; /* 5% denied */
  if (i % 20 == 3)                                    /* 5% malformed */
    return "{\"amount\":-1,\"currency\":\"JPY\"}";
  snprintf(buf, size,
           "{\"from_account\":\"DE89370400440532013000\",\"to_account\":"
           "\"FR7630006000011234567890189\",\"amount\":%ld.25,\"currency\":"
           "\"%s\",\"reference\":\"invoice %ld\",\"execute_on\":\"2026-12-01\","
           "\"priority\":\"normal\",\"tags\":[\"supplier\",\"q4\"],\"notify\":"
           "\"ap@acme.com\",\"metadata\":{\"source\":\"bench\",\"batch\":%ld}}",
           1 + i % 900, currency, i, i / 256);
  return buf;
}

/* Parse + validate, then validation of an already parsed value. */
static void validator(long n) {
  char buf[1024];
  lf_catalog_t *cat = lf_catalog_load(CATALOG, errstr, sizeof(errstr));
  if (!cat)
    die("catalog");
  const lf_catalog_action_t *def = lf_catalog_find(cat, "transfer");
  lf_reasons_t r = {0};
  int64_t t0 = lf_monotonic_ms();
  for (long i = 0; i < n; i++) {
    lf_reasons_clear(&r);
    if (lf_catalog_check_args(def, args_of(i | 1, buf, sizeof(buf)), &r, NULL))
      die("validate");
  }
  double parse_rate = (double)n / ((double)(lf_monotonic_ms() - t0) / 1000.0);
  json_t *v = json_loads(args_of(1, buf, sizeof(buf)), 0, NULL);
  t0 = lf_monotonic_ms();
  for (long i = 0; i < n; i++) {
    lf_reasons_clear(&r);
    lf_schema_validate(def->schema, v, "", &r);
  }
  double rate = (double)n / ((double)(lf_monotonic_ms() - t0) / 1000.0);
  printf("validator, 10-parameter schema: %.0f validations/s of parsed JSON, "
         "%.0f/s including parsing\n",
         rate, parse_rate);
  json_decref(v);
  lf_reasons_free(&r);
  lf_catalog_destroy(cat);
}

static void propose_all(const lf_conf_t *conf, long n) {
  rd_kafka_t *p = producer(conf);
  char topic[256], goal[32], id[40], buf[1024];
  lf_kafka_topic_name(conf, LF_TOPIC_PROPOSED, topic, sizeof(topic));
  for (long i = 0; i < n; i++) {
    lf_action_t a = LF_ACTION_INIT;
    snprintf(goal, sizeof(goal), "bench-%ld", i);
    snprintf(id, sizeof(id), "%s:0", goal);
    a.action_id = id;
    a.goal_id = goal;
    a.tenant = "bench";
    a.name = "transfer";
    a.arguments_json = (char *)args_of(i, buf, sizeof(buf));
    while (lf_kafka_produce(p, topic, goal, &a.base, NULL, 0, NULL, errstr,
                            sizeof(errstr)))
      rd_kafka_poll(p, 10); /* queue full: let deliveries drain */
  }
  rd_kafka_flush(p, 60000);
  rd_kafka_destroy(p);
}

static uint64_t decided(lf_worker_t *w) {
  return lf_worker_counter(w, "approved") + lf_worker_counter(w, "rejected") +
         lf_worker_counter(w, "duplicates") +
         lf_worker_counter(w, "held_for_approval");
}

static double guard_rate(lf_stack_t *s, const lf_conf_t *conf, long n) {
  propose_all(conf, n);
  if (lf_stack_start_worker(s, LF_KIND_GUARD, errstr, sizeof(errstr)))
    die("guard");
  lf_worker_t *w = lf_stack_worker(s, LF_KIND_GUARD);
  while (!lf_worker_counter(w, "records_consumed"))
    lf_sleep_ms(1);
  uint64_t cpu0 = bench_thread_cpu_us("guard");
  int64_t t0 = lf_monotonic_ms(), deadline = t0 + 600000;
  while (decided(w) < (uint64_t)n && lf_monotonic_ms() < deadline)
    lf_sleep_ms(1);
  double secs = (double)(lf_monotonic_ms() - t0) / 1000.0;
  double cpu = (double)(bench_thread_cpu_us("guard") - cpu0);
  printf("guard: %llu decisions (%llu approved, %llu rejected) in %.2f s, "
         "%llu batches\n",
         (unsigned long long)decided(w),
         (unsigned long long)lf_worker_counter(w, "approved"),
         (unsigned long long)lf_worker_counter(w, "rejected"), secs,
         (unsigned long long)lf_worker_counter(w, "batches"));
  printf("guard thread: %.1f us of CPU per decision, %.0f%% of a core\n",
         cpu / (double)decided(w), cpu / (secs * 1e4));
  return (double)decided(w) / secs;
}

int main(int argc, char **argv) {
  long nrelay = 100000, nactions = 30000, nvalid = 200000;
  const bench_opt_t opts[] = {{"--relay", &nrelay},
                              {"--actions", &nactions},
                              {"--validations", &nvalid}};
  lf_conf_t *conf = bench_setup(argc, argv, opts, 3,
                                "lamfleet-bench-guard [--relay N] "
                                "[--actions N] [--validations N] "
                                "[-X key=value]...");
  if (!lf_conf_is_set(conf, "guard.catalog") &&
      lf_conf_set(conf, "guard.catalog", CATALOG, errstr, sizeof(errstr)))
    die("config");
  validator(nvalid);
  bench_baselines_t b;
  lf_stack_t *s = bench_stack_baselines(conf, 0, nrelay, &b);
  double rate = guard_rate(s, conf, nactions);
  printf("guard on one worker thread: %.0f decisions/s: %.3f of the raw "
         "relay, %.3f of the relay with Redis, %.3f of the strict relay\n",
         rate, rate / b.raw, rate / b.redis, rate / b.strict);
  lf_stack_stop(s);
  lf_conf_destroy(conf);
  return 0;
}
