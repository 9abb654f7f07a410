/* lamfleet-bench-executor: one executor carrying out signed approvals of an
 * HTTP action against a local server (in a child process) that answers
 * after --delay ms (50): actions executed per second and actions in flight
 * at the server, as ratios of the raw relay measured in the same run.
 * Usage: lamfleet-bench-executor [--relay N] [--actions N] [--delay MS]
 * [-X key=value]... */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <curl/curl.h>

#include "common.h"
#include "follow.h"
#include "server.h"
#include "sign.h"
#include "util.h"

static const char key_spec[] =
    "bench:0123456789abcdef0123456789abcdef0123456789abcdef";

/* A catalog of one HTTP action against the server at url. */
static void write_catalog(char *path, const char *url) {
  unsigned port = 0;
  int fd = mkstemp(path);
  FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
  if (!f || sscanf(url, "http://127.0.0.1:%u", &port) != 1)
    die("catalog file");
  fprintf(f,
          "{\"version\": \"bench-1\", \"actions\": [{\"name\": \"notify\", "
          "\"description\": \"Posts a notification.\", \"inputSchema\": "
          "{\"type\": \"object\"}, \"x-lamfleet\": {\"executor\": {\"kind\": "
          "\"http\", \"url\": \"http://127.0.0.1:%u/v1/notify/{id}\", "
          "\"allow_internal\": [\"127.0.0.1:%u\"], \"timeout\": \"10s\"}}}]}",
          port, port);
  if (fclose(f))
    die("catalog file");
}

static void approve(rd_kafka_t *p, const lf_conf_t *conf, lf_keyring_t *k,
                    long i) {
  char id[64], args[64], topic[256];
  uint8_t sig[LF_SIGNATURE_LEN];
  lf_action_t a = LF_ACTION_INIT;
  lf_verdict_t v = LF_VERDICT_INIT;
  snprintf(id, sizeof(id), "bench-%ld:0", i);
  snprintf(args, sizeof(args), "{\"id\":\"n%ld\"}", i);
  a.action_id = a.goal_id = a.idempotency_key = id;
  a.tenant = "bench";
  a.name = "notify";
  a.arguments_json = args;
  v.action = &a;
  v.decision = LF_DECISION_APPROVED;
  v.idempotency_key = id;
  v.catalog_version = "bench-1";
  v.expires_at_ms = lf_now_ms() + 600000;
  if (lf_verdict_sign(k, &v, NULL, sig, errstr, sizeof(errstr)))
    die("sign");
  lf_kafka_topic_name(conf, LF_TOPIC_APPROVED, topic, sizeof(topic));
  while (lf_kafka_produce(p, topic, id, &v.base, NULL, 0, NULL, errstr,
                          sizeof(errstr)))
    if (rd_kafka_poll(p, 10) < 0 || !strstr(errstr, "full"))
      die("produce");
}

static size_t sink(char *p, size_t size, size_t n, void *opaque) {
  (void)p, (void)opaque;
  return size * n;
}

static CURL *load_handle(const char *url, long i) {
  char path[256];
  CURL *c = curl_easy_init();
  if (!c)
    die("curl");
  snprintf(path, sizeof(path), "%s/v1/notify/load-%ld", url, i);
  curl_easy_setopt(c, CURLOPT_URL, path);
  curl_easy_setopt(c, CURLOPT_COPYPOSTFIELDS, "{}");
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sink);
  return c;
}

/* What the downstream serves on its own: n POSTs from one libcurl multi
 * handle, `concurrency` at a time (no Kafka, no Redis): requests/s. */
static double downstream_rate(const char *url, long concurrency, long n) {
  CURLM *m = curl_multi_init();
  long started = 0, done = 0;
  int running = 0;
  if (!m)
    die("curl");
  curl_multi_setopt(m, CURLMOPT_MAX_TOTAL_CONNECTIONS, concurrency);
  int64_t t0 = lf_monotonic_ms();
  for (; started < concurrency && started < n; started++)
    curl_multi_add_handle(m, load_handle(url, started));
  while (done < n) {
    curl_multi_perform(m, &running);
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(m, &left)))
      if (msg->msg == CURLMSG_DONE) {
        CURL *c = msg->easy_handle;
        done++;
        curl_multi_remove_handle(m, c);
        curl_easy_cleanup(c);
        if (started < n)
          curl_multi_add_handle(m, load_handle(url, started++));
      }
    curl_multi_poll(m, NULL, 0, 100, NULL);
  }
  double rate = (double)n / ((double)(lf_monotonic_ms() - t0) / 1000.0);
  curl_multi_cleanup(m);
  return rate;
}

/* Observations until n arrived (or 60 s of silence). */
static long await(lf_follow_t *f, server_t *sv, long n, long *peak) {
  long got = 0, idle = 0;
  int64_t next = 0;
  while (got < n && idle < 600) {
    lf_event_t ev;
    server_sample(sv, &next, peak);
    if (!lf_follow_next(f, 100, &ev)) {
      idle++;
      continue;
    }
    idle = 0;
    got += ev.topic == LF_TOPIC_OBSERVATIONS;
    lf_event_clear(&ev);
  }
  return got;
}

int main(int argc, char **argv) {
  long nrelay = 100000, nactions = 5000, delay = 50;
  const bench_opt_t opts[] = {
      {"--relay", &nrelay}, {"--actions", &nactions}, {"--delay", &delay}};
  char path[] = "/tmp/lamfleet-bench-catalog-XXXXXX", setting[128];
  server_t sv = {0};
  lf_conf_t *conf = bench_setup(argc, argv, opts, 3,
                                "lamfleet-bench-executor [--relay N] "
                                "[--actions N] [--delay MS] [-X key=value]");
  server_start(&sv, (int)delay, 0);
  write_catalog(path, sv.url);
  long cap = (long)lf_conf_get_int(conf, "executor.max.inflight");
  long nload = 8 * cap; /* enough rounds that connecting is not most */
  double served = downstream_rate(sv.url, cap, nload);
  printf("downstream alone (libcurl multi, %ld at a time, answers after %ld "
         "ms): %.0f requests/s\n",
         cap, delay, served);
  snprintf(setting, sizeof(setting), "%s", path);
  set(conf, "executor.catalog", setting);
  set(conf, "signing.keys", key_spec);
  lf_keyring_t *k = lf_keyring_new(conf, errstr, sizeof(errstr));
  if (!k)
    die("keys");
  double relay_rate;
  lf_stack_t *s =
      bench_stack(conf, 1u << LF_KIND_EXECUTOR, nrelay, &relay_rate);
  lf_follow_t *f = lf_follow_new(conf, LF_FOLLOW_NEW, errstr, sizeof(errstr));
  rd_kafka_t *p = producer(conf);
  long peak = 0;
  if (!f)
    die("follow");
  approve(p, conf, k, -1); /* warm-up */
  rd_kafka_flush(p, 10000);
  if (await(f, &sv, 1, &peak) != 1)
    die("warm-up action");
  peak = 0;
  uint64_t cpu0 = bench_thread_cpu_us("executor");
  int64_t t0 = lf_monotonic_ms();
  for (long i = 0; i < nactions; i++)
    approve(p, conf, k, i);
  rd_kafka_flush(p, 60000);
  long done = await(f, &sv, nactions, &peak);
  double secs = (double)(lf_monotonic_ms() - t0) / 1000.0;
  double rate = (double)done / secs;
  double cpu = (double)(bench_thread_cpu_us("executor") - cpu0);
  long most = 0, total = server_ask(&sv, "q", &most);
  waitpid(sv.pid, NULL, 0);
  printf("executor, HTTP action answered after %ld ms: %ld actions in %.2f "
         "s: %.0f actions/s (%.4f of the relay's records/s), %ld requests\n",
         delay, done, secs, rate, rate / relay_rate, total - nload);
  printf("actions in flight at the server: at most %ld (executor.max.inflight "
         "%ld)\n",
         most, cap);
  double ceiling = (double)cap * 1000.0 / (double)delay;
  if (served < ceiling)
    ceiling = served;
  printf("executor thread: %.1f us of CPU per action, %.0f%% of a core; "
         "%.2f of min(cap / delay, what the downstream serves) = %.0f/s\n",
         cpu / (double)done, cpu / (secs * 1e4), rate / ceiling, ceiling);
  rd_kafka_destroy(p);
  lf_follow_destroy(f);
  lf_stack_stop(s);
  lf_keyring_destroy(k);
  lf_conf_destroy(conf);
  unlink(path);
  return done == nactions ? 0 : 1;
}
