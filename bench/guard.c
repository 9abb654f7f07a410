/* lamfleet-bench-guard: guard decisions per second (one guard worker, so
 * one core, with a real redis-server) and the validator alone, measured
 * in the same run as the raw relay they are compared with.
 * Usage: lamfleet-bench-guard [--relay N] [--actions N] [--validations N]
 *        [-X key=value]... */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common.h"
#include "guard.h"
#include "log.h"
#include "redis_server.h"
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

static void propose_all(const lf_conf_t *conf, const char *tag, long n) {
  rd_kafka_t *p = producer(conf);
  char topic[256], goal[64], id[80], buf[1024];
  lf_kafka_topic_name(conf, LF_TOPIC_PROPOSED, topic, sizeof(topic));
  for (long i = 0; i < n; i++) {
    lf_action_t a = LF_ACTION_INIT;
    snprintf(goal, sizeof(goal), "%s-%ld", tag, i);
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
  propose_all(conf, "bench", n);
  if (lf_stack_start_worker(s, LF_KIND_GUARD, errstr, sizeof(errstr)))
    die("guard");
  lf_worker_t *w = lf_stack_worker(s, LF_KIND_GUARD);
  while (!lf_worker_counter(w, "records_consumed"))
    lf_sleep_ms(1);
  uint64_t cpu0 = bench_thread_cpu_us("guard");
  int redis_pid = lf_redis_server_pid(lf_stack_redis_server(s));
  uint64_t rcpu0 = bench_process_cpu_us(redis_pid);
  int64_t t0 = lf_monotonic_ms(), deadline = t0 + 600000;
  int64_t fifth = 0, four_fifths = 0; /* when the backlog was that far */
  while (decided(w) < (uint64_t)n && lf_monotonic_ms() < deadline) {
    lf_sleep_ms(1);
    if (!fifth && decided(w) >= (uint64_t)n / 5)
      fifth = lf_monotonic_ms();
    if (!four_fifths && decided(w) >= (uint64_t)n * 4 / 5)
      four_fifths = lf_monotonic_ms();
  }
  int64_t end = lf_monotonic_ms();
  double secs = (double)(end - t0) / 1000.0;
  double cpu = (double)(bench_thread_cpu_us("guard") - cpu0);
  double rcpu = (double)(bench_process_cpu_us(redis_pid) - rcpu0);
  printf("guard: %llu decisions (%llu approved, %llu rejected) in %.2f s, "
         "%llu batches\n",
         (unsigned long long)decided(w),
         (unsigned long long)lf_worker_counter(w, "approved"),
         (unsigned long long)lf_worker_counter(w, "rejected"), secs,
         (unsigned long long)lf_worker_counter(w, "batches"));
  printf("guard thread: %.1f us of CPU per decision, %.0f%% of a core; "
         "redis-server: %.1f us per decision\n",
         cpu / (double)decided(w), cpu / (secs * 1e4),
         rcpu / (double)decided(w));
  if (fifth > t0 && end > four_fifths && four_fifths)
    printf("the backlog drained at %.0f decisions/s over its first fifth, "
           "%.0f/s over its last\n",
           (double)n / 5 / ((double)(fifth - t0) / 1000.0),
           (double)n / 5 / ((double)(end - four_fifths) / 1000.0));
  return (double)decided(w) / secs;
}

/* Appends " -FLAG 'key=value'" for each kafka.* setting of role. */
typedef struct cmdline {
  char *s;
  size_t size, n;
  const char *flag;
} cmdline_t;

static void cmd_add(cmdline_t *c, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int k = vsnprintf(c->s + c->n, c->size - c->n, fmt, ap);
  va_end(ap);
  if (k < 0 || (size_t)k >= c->size - c->n)
    die("python command line too long");
  c->n += (size_t)k;
}

static lf_err_t add_setting(void *opaque, const char *key, const char *value,
                            char *err, size_t err_size) {
  cmdline_t *c = opaque;
  (void)err, (void)err_size;
  if (!strcmp(key, "bootstrap.servers"))
    return LF_OK;
  cmd_add(c, c->flag, key, value);
  return LF_OK;
}

/* The Python reference guard (bench/py_guard.py) on the same inputs, the
 * same cluster, Redis and librdkafka settings: its decisions per second,
 * or 0 (said why) when it cannot run. */
static double python_rate(lf_stack_t *s, const lf_conf_t *conf, long n) {
  char cmd[8192], line[512], validator[128] = "";
  cmdline_t c = {cmd, sizeof(cmd), 0, NULL};
  int port = 0;
  if (sscanf(lf_stack_redis_url(s), "redis://127.0.0.1:%d", &port) != 1)
    die("redis url");
  cmd_add(&c,
          "/usr/bin/python3 '%s' --actions %ld --bootstrap '%s' --catalog "
          "'%s' --redis-port %d --proto '%s' --topic-prefix '%s'",
          LF_BENCH_DIR "/py_guard.py", n, lf_stack_bootstraps(s),
          lf_conf_get(conf, "guard.catalog"), port,
          LF_BENCH_DIR "/../proto/lamfleet.proto",
          lf_conf_get(conf, "topic.prefix"));
  c.flag = " -C '%s=%s'";
  lf_conf_kafka_foreach(conf, LF_KAFKA_CONSUMER, add_setting, &c, errstr,
                        sizeof(errstr));
  c.flag = " -P '%s=%s'";
  lf_conf_kafka_foreach(conf, LF_KAFKA_PRODUCER, add_setting, &c, errstr,
                        sizeof(errstr));
  cmd_add(&c, " 2>&1");
  FILE *p = popen(cmd, "r");
  long decided = 0, approved = 0;
  double secs = 0, cpu = 0;
  int got = 0;
  while (p && fgets(line, sizeof(line), p))
    if (sscanf(line, "%ld %ld %lf %lf %127[^\n]", &decided, &approved, &secs,
               &cpu, validator) == 5)
      got = 1;
    else
      fprintf(stderr, "py_guard: %s", line);
  if (!p || pclose(p) != 0 || !got || secs <= 0) {
    printf("Python reference guard: did not run (python3-confluent-kafka, "
           "python3-fastjsonschema, python3-redis, python3-protobuf and "
           "protoc are needed)\n");
    return 0;
  }
  printf("Python reference guard (confluent-kafka, %s, redis-py, protobuf): "
         "%ld decisions (%ld approved) in %.2f s, %.1f us of CPU per decision "
         "in its main thread\n",
         validator, decided, approved, secs, cpu * 1e6 / (double)decided);
  return (double)decided / secs;
}

/* Starts a lamfleet-guard process on the stack, as its users would run
 * one, in group "bench-<tag>" with Redis keys of its own; returns its pid,
 * its /readyz in url. */
static int spawn_guard(lf_stack_t *s, const lf_conf_t *conf, const char *tag,
                       char *url, size_t url_size) {
  static char set[8][1024];
  int port = bench_free_port();
  snprintf(url, url_size, "http://127.0.0.1:%d/readyz", port);
  snprintf(set[0], sizeof(set[0]), "redis.url=%s", lf_stack_redis_url(s));
  snprintf(set[1], sizeof(set[1]), "signing.keys=%s",
           lf_conf_get(conf, "signing.keys"));
  snprintf(set[2], sizeof(set[2]), "observation.keys=%s",
           lf_conf_get(conf, "observation.keys"));
  snprintf(set[3], sizeof(set[3]), "approvers=%s",
           lf_conf_get(conf, "approvers"));
  snprintf(set[4], sizeof(set[4]), "guard.catalog=%s",
           lf_conf_get(conf, "guard.catalog"));
  snprintf(set[5], sizeof(set[5]), "guard.group.id=bench-%s", tag);
  snprintf(set[6], sizeof(set[6]), "redis.key.prefix=%s:", tag);
  snprintf(set[7], sizeof(set[7]), "metrics.port=%d", port);
  const char *const argv[] = {LF_GUARD_BIN, "-b",   lf_stack_bootstraps(s),
                              "-X",         set[0], "-X",
                              set[1],       "-X",   set[2],
                              "-X",         set[3], "-X",
                              set[4],       "-X",   set[5],
                              "-X",         set[6], "-X",
                              set[7],       "-X",   "log.level=error",
                              NULL};
  return bench_spawn(argv);
}

/* nproc guard processes deciding n fresh proposals, counted as a user
 * would: records arriving on the output topics. Decisions per second. */
static double processes_rate(lf_stack_t *s, const lf_conf_t *conf, long n,
                             int nproc, const char *tag) {
  char url[2][128], approved[256], observed[256];
  int pids[2];
  int parts = (int)lf_conf_get_int(conf, "dev.partitions");
  char group[64], proposed[256];
  snprintf(group, sizeof(group), "bench-%s", tag);
  lf_kafka_topic_name(conf, LF_TOPIC_PROPOSED, proposed, sizeof(proposed));
  /* the group starts where the proposals end now: only the fresh ones */
  bench_commit_end(conf, group, proposed, parts);
  for (int i = 0; i < nproc; i++)
    pids[i] = spawn_guard(s, conf, tag, url[i], sizeof(url[i]));
  int64_t until = lf_monotonic_ms() + 60000;
  for (int i = 0; i < nproc; i++) /* ready: each holds partitions */
    while (!bench_http_ok(url[i]))
      if (lf_monotonic_ms() > until)
        die("guard processes not ready within 60 s");
      else
        lf_sleep_ms(50);
  rd_kafka_t *p = producer(conf);
  lf_kafka_topic_name(conf, LF_TOPIC_APPROVED, approved, sizeof(approved));
  lf_kafka_topic_name(conf, LF_TOPIC_OBSERVATIONS, observed, sizeof(observed));
  int64_t before = bench_topic_end(p, approved, parts) +
                   bench_topic_end(p, observed, parts),
          done = 0;
  int64_t t0 = lf_monotonic_ms();
  propose_all(conf, tag, n);
  for (until = lf_monotonic_ms() + 600000;
       done < n && lf_monotonic_ms() < until; lf_sleep_ms(5))
    done = bench_topic_end(p, approved, parts) +
           bench_topic_end(p, observed, parts) - before;
  double secs = (double)(lf_monotonic_ms() - t0) / 1000.0;
  rd_kafka_destroy(p);
  for (int i = 0; i < nproc; i++)
    bench_stop_child(pids[i]);
  printf("%d guard process%s: %lld decisions in %.2f s\n", nproc,
         nproc > 1 ? "es" : "", (long long)done, secs);
  return (double)done / secs;
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
  lf_stack_stop_worker(s, LF_KIND_GUARD); /* the rest have the cores */
  double py = python_rate(s, conf, nactions);
  printf("guard on one worker thread: %.0f decisions/s: %.3f of the raw "
         "relay, %.3f of the relay with Redis, %.3f of the strict relay",
         rate, rate / b.raw, rate / b.redis, rate / b.strict);
  if (py > 0)
    printf(", %.2f times the Python reference guard (%.0f/s)", rate / py, py);
  printf("\n");
  double one = processes_rate(s, conf, nactions, 1, "one");
  double two = processes_rate(s, conf, nactions, 2, "two");
  printf("guard processes on %ld cores: one %.0f decisions/s, two together "
         "%.0f/s (%.2f times one)\n",
         sysconf(_SC_NPROCESSORS_ONLN), one, two, two / one);
  lf_stack_stop(s);
  lf_conf_destroy(conf);
  return 0;
}
