/* What every benchmark shares: the raw librdkafka relay they are all
 * measured against, in the same run. */
#include "common.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <dirent.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "redis.h"
#include "util.h"

char errstr[1024];

void die(const char *what) {
  fprintf(stderr, "lamfleet-bench: %s: %s\n", what, errstr);
  exit(1);
}

rd_kafka_t *producer(const lf_conf_t *conf) {
  rd_kafka_t *p =
      lf_kafka_producer_new(conf, "bench", NULL, errstr, sizeof(errstr));
  if (!p)
    die("producer");
  return p;
}

void fill(const lf_conf_t *conf, const char *topic, long n) {
  rd_kafka_t *p = producer(conf);
  char value[200], key[32];
  memset(value, 'x', sizeof(value));
  for (long i = 0; i < n; i++) {
    snprintf(key, sizeof(key), "k%ld", i % 1000);
    while (rd_kafka_producev(p, RD_KAFKA_V_TOPIC(topic),
                             RD_KAFKA_V_KEY(key, strlen(key)),
                             RD_KAFKA_V_VALUE(value, sizeof(value)),
                             RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                             RD_KAFKA_V_END) == RD_KAFKA_RESP_ERR__QUEUE_FULL)
      rd_kafka_poll(p, 10);
  }
  if (rd_kafka_flush(p, 60000)) {
    snprintf(errstr, sizeof(errstr), "%d record(s) not delivered in 60 s",
             rd_kafka_outq_len(p));
    die("fill");
  }
  rd_kafka_destroy(p);
}

/* A producer that already has its idempotent producer id: the ~0.45 s
 * wait for it belongs to start-up, not to any rate. */
static rd_kafka_t *warm_producer(const lf_conf_t *conf) {
  rd_kafka_t *p = producer(conf);
  if (rd_kafka_producev(
          p, RD_KAFKA_V_TOPIC("bench.out"), RD_KAFKA_V_VALUE("warm", 4),
          RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END) ||
      rd_kafka_flush(p, 10000)) {
    snprintf(errstr, sizeof(errstr), "warm-up record not delivered");
    die("relay");
  }
  return p;
}

/* Waits for every acknowledgement as the workers do (polling; a flush
 * waits in 10 ms steps). */
static int acked(rd_kafka_t *p) {
  int64_t until = lf_monotonic_ms() + 60000;
  while (rd_kafka_outq_len(p) > 0 && lf_monotonic_ms() < until)
    rd_kafka_poll(p, 1);
  return rd_kafka_outq_len(p) > 0;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

void bench_hop(lf_conf_t *conf, lf_mock_t *mock, int n, double *p50,
               double *p99) {
  static char payload[200];
  const char *topics[] = {"bench.hop"};
  double *lat = calloc((size_t)n, sizeof(*lat));
  lf_mock_topic_create(mock, "bench.hop", 1, errstr, sizeof(errstr));
  rd_kafka_t *c = lf_kafka_consumer_new(conf, "bench-hop", "bench-hop", errstr,
                                        sizeof(errstr));
  if (!lat || !c ||
      lf_kafka_assign_all(c, topics, 1, 0, 10000, errstr, sizeof(errstr)))
    die("hop consumer");
  rd_kafka_t *p = warm_producer(conf);
  for (int i = -1; i < n; i++) { /* -1: the consumer's first fetch, untimed */
    struct timespec t0, t1;
    rd_kafka_message_t *m = NULL;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    if (rd_kafka_producev(p, RD_KAFKA_V_TOPIC("bench.hop"),
                          RD_KAFKA_V_VALUE(payload, sizeof(payload)),
                          RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                          RD_KAFKA_V_END))
      die("hop produce");
    for (int tries = 0; !m && tries < 100; tries++) {
      rd_kafka_poll(p, 0);
      if ((m = rd_kafka_consumer_poll(c, 100)) && m->err) {
        rd_kafka_message_destroy(m);
        m = NULL;
      }
    }
    if (!m)
      die("hop: the record did not arrive");
    clock_gettime(CLOCK_MONOTONIC, &t1);
    rd_kafka_message_destroy(m);
    if (i >= 0)
      lat[i] = (double)(t1.tv_sec - t0.tv_sec) * 1e3 +
               (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
  }
  qsort(lat, (size_t)n, sizeof(*lat), cmp_double);
  *p50 = lat[n / 2];
  *p99 = lat[(n * 99) / 100];
  acked(p);
  rd_kafka_destroy(p);
  rd_kafka_consumer_close(c);
  rd_kafka_destroy(c);
  free(lat);
}

/* Up to max records: waits for the first, takes what else is there. */
static size_t take(rd_kafka_t *c, rd_kafka_message_t **batch, size_t max) {
  size_t k = 0;
  for (int idle = 0; !k && idle < 30; idle++)
    if ((batch[0] = rd_kafka_consumer_poll(c, 1000)))
      k = 1;
  while (k && k < max && (batch[k] = rd_kafka_consumer_poll(c, 0)))
    k++;
  return k;
}

/* One SET NX PX per record, pipelined over the batch, as a guard's
 * idempotency check is at its cheapest. */
static void dedupe(lf_redis_t *r, rd_kafka_message_t **batch, size_t k,
                   relay_mode_t mode) {
  char key[96];
  for (size_t i = 0; i < k; i++) {
    snprintf(key, sizeof(key), "bench:relay:%d:%d:%lld", (int)mode,
             (int)batch[i]->partition, (long long)batch[i]->offset);
    if (lf_redis_append(r, errstr, sizeof(errstr), "SET %s 1 NX PX 600000",
                        key))
      die("relay redis");
  }
  for (size_t i = 0; i < k; i++) {
    redisReply *rep;
    if (lf_redis_reply(r, &rep, errstr, sizeof(errstr)))
      die("relay redis");
    freeReplyObject(rep);
  }
}

/* The relay is the best a raw client does with the workers' settings: it
 * produces as it consumes; RELAY_REDIS adds the pipelined SET NX per
 * record; RELAY_STRICT adds the workers' discipline too (every batch's
 * outputs acknowledged, then its offsets committed, before the next). */
double relay_mode(lf_conf_t *fleet_conf, lf_mock_t *mock, long n,
                  relay_mode_t mode) {
  static long filled;
  enum { BATCH = 256 };
  rd_kafka_message_t *batch[BATCH];
  lf_conf_t *conf = lf_conf_dup(fleet_conf);
  if (!conf)
    die("relay config");
  if (filled < n) { /* one backlog, read by every mode from the start */
    lf_mock_topic_create(mock, "bench.in", 6, errstr, sizeof(errstr));
    lf_mock_topic_create(mock, "bench.out", 6, errstr, sizeof(errstr));
    fill(conf, "bench.in", n - filled);
    filled = n;
  }
  lf_redis_t *r =
      mode == RELAY_RAW ? NULL : lf_redis_new(conf, errstr, sizeof(errstr));
  if (mode != RELAY_RAW && (!r || lf_redis_connect(r, errstr, sizeof(errstr))))
    die("relay redis");
  rd_kafka_t *c = lf_kafka_consumer_new(conf, "bench-relay", "bench", errstr,
                                        sizeof(errstr));
  const char *topics[] = {"bench.in"};
  if (!c || lf_kafka_assign_all(c, topics, 1, 1, 10000, errstr, sizeof(errstr)))
    die("relay consumer");
  rd_kafka_t *p = warm_producer(conf);
  long got = 0;
  int64_t t0 = 0;
  while (got < n) {
    size_t k = take(c, batch, BATCH);
    if (!k) {
      snprintf(errstr, sizeof(errstr), "%ld of %ld records after 30 s idle",
               got, n);
      die("relay");
    }
    if (!t0)
      t0 = lf_monotonic_ms();
    if (r)
      dedupe(r, batch, k, mode);
    for (size_t i = 0; i < k; i++) {
      rd_kafka_message_t *m = batch[i];
      while (!m->err &&
             rd_kafka_producev(p, RD_KAFKA_V_TOPIC("bench.out"),
                               RD_KAFKA_V_KEY(m->key, m->key_len),
                               RD_KAFKA_V_VALUE(m->payload, m->len),
                               RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                               RD_KAFKA_V_END) == RD_KAFKA_RESP_ERR__QUEUE_FULL)
        rd_kafka_poll(p, 10);
      got += !m->err;
    }
    if (mode == RELAY_STRICT &&
        (acked(p) || rd_kafka_commit_message(c, batch[k - 1], 0)))
      die("strict relay");
    for (size_t i = 0; i < k; i++)
      rd_kafka_message_destroy(batch[i]);
    rd_kafka_poll(p, 0);
  }
  rd_kafka_flush(p, 60000);
  double secs = (double)(lf_monotonic_ms() - t0) / 1000.0;
  rd_kafka_destroy(p);
  rd_kafka_consumer_close(c);
  rd_kafka_destroy(c);
  lf_redis_destroy(r);
  lf_conf_destroy(conf);
  return (double)n / secs;
}

double relay(lf_conf_t *conf, lf_mock_t *mock, long n) {
  return relay_mode(conf, mock, n, RELAY_RAW);
}

lf_stack_t *bench_stack_baselines(lf_conf_t *conf, unsigned workers, long n,
                                  bench_baselines_t *b) {
  lf_stack_t *s = lf_stack_start(conf, workers, errstr, sizeof(errstr));
  if (!s)
    die("stack");
  b->raw = relay_mode(conf, lf_stack_mock(s), n, RELAY_RAW);
  b->redis = relay_mode(conf, lf_stack_mock(s), n, RELAY_REDIS);
  b->strict = relay_mode(conf, lf_stack_mock(s), n, RELAY_STRICT);
  printf("relays of %ld records of 200 B, the workers' settings, warmed "
         "producers:\n"
         "  raw (consume+produce):                          %8.0f records/s\n"
         "  + Redis SET NX per record, pipelined per 256:   %8.0f records/s\n"
         "  + acks awaited and offsets committed per batch: %8.0f records/s\n",
         n, b->raw, b->redis, b->strict);
  return s;
}

lf_stack_t *bench_stack(lf_conf_t *conf, unsigned workers, long n,
                        double *relay_rate) {
  lf_stack_t *s = lf_stack_start(conf, workers, errstr, sizeof(errstr));
  if (!s)
    die("stack");
  *relay_rate = relay(conf, lf_stack_mock(s), n);
  printf("raw relay (consume+produce, 200 B records, warmed producer): %.0f "
         "records/s\n",
         *relay_rate);
  return s;
}

lf_conf_t *bench_setup(int argc, char **argv, const bench_opt_t *opts,
                       size_t nopts, const char *usage) {
  setvbuf(stdout, NULL, _IOLBF, 0); /* progress visible through pipes */
  lf_conf_t *conf = lf_conf_new();
  /* benches run beside anything: any free metrics port, unless asked */
  if (!conf ||
      lf_conf_set(conf, "log.level", "error", errstr, sizeof(errstr)) ||
      lf_conf_set(conf, "metrics.port", "-1", errstr, sizeof(errstr)))
    die("config");
  /* -c/-X/-b as for every lamfleet program: compare settings in one run */
  lf_err_t err = lf_conf_parse_args(conf, &argc, argv, errstr, sizeof(errstr));
  if (err == LF_ERR_DONE)
    exit(0);
  if (err)
    die("config");
  int ok = argc % 2 == 1;
  for (int i = 1; ok && i + 1 < argc; i += 2) {
    size_t k = 0;
    while (k < nopts && strcmp(argv[i], opts[k].name))
      k++;
    ok = k < nopts && (*opts[k].value = strtol(argv[i + 1], NULL, 10)) > 0;
  }
  if (!ok) {
    fprintf(stderr, "usage: %s\n", usage);
    exit(2);
  }
  lf_log_configure(conf);
  return conf;
}

uint64_t bench_thread_cpu_us(const char *comm) {
  uint64_t total = 0;
  DIR *d = opendir("/proc/self/task");
  struct dirent *e;
  while (d && (e = readdir(d))) {
    char path[300], name[64] = "";
    unsigned long long ns = 0;
    snprintf(path, sizeof(path), "/proc/self/task/%s/comm", e->d_name);
    FILE *f = fopen(path, "r");
    if (!f)
      continue;
    int named = fgets(name, sizeof(name), f) != NULL;
    fclose(f);
    name[strcspn(name, "\n")] = '\0';
    if (!named || strcmp(name, comm))
      continue;
    /* on-CPU time in ns, the first field */
    snprintf(path, sizeof(path), "/proc/self/task/%s/schedstat", e->d_name);
    if ((f = fopen(path, "r"))) {
      if (fscanf(f, "%llu", &ns) == 1)
        total += ns / 1000;
      fclose(f);
    }
  }
  if (d)
    closedir(d);
  return total;
}

int bench_spawn(const char *const *argv) {
  pid_t pid = fork();
  if (pid < 0)
    die("fork");
  if (!pid) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    execv(argv[0], (char *const *)argv);
    _exit(127);
  }
  return (int)pid;
}

void bench_stop_child(int pid) {
  kill((pid_t)pid, SIGTERM);
  waitpid((pid_t)pid, NULL, 0);
}

int bench_free_port(void) {
  struct sockaddr_in a = {.sin_family = AF_INET};
  socklen_t len = sizeof(a);
  int fd = socket(AF_INET, SOCK_STREAM, 0), port = 0;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (fd >= 0 && !bind(fd, (struct sockaddr *)&a, sizeof(a)) &&
      !getsockname(fd, (struct sockaddr *)&a, &len))
    port = ntohs(a.sin_port);
  if (fd >= 0)
    close(fd);
  if (!port)
    die("no free port");
  return port;
}

static size_t discard(char *p, size_t size, size_t n, void *opaque) {
  (void)p, (void)opaque;
  return size * n;
}

int bench_http_ok(const char *url) {
  CURL *c = curl_easy_init();
  long status = 0;
  if (!c)
    return 0;
  curl_easy_setopt(c, CURLOPT_URL, url);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 1000L);
  if (curl_easy_perform(c) == CURLE_OK)
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
  curl_easy_cleanup(c);
  return status == 200;
}

int64_t bench_topic_end(rd_kafka_t *rk, const char *topic, int partitions) {
  int64_t total = 0;
  for (int p = 0; p < partitions; p++) {
    int64_t lo = 0, hi = 0;
    if (rd_kafka_query_watermark_offsets(rk, topic, p, &lo, &hi, 5000))
      die("watermarks");
    total += hi;
  }
  return total;
}

void bench_commit_end(const lf_conf_t *conf, const char *group,
                      const char *topic, int partitions) {
  rd_kafka_t *c =
      lf_kafka_consumer_new(conf, group, "bench", errstr, sizeof(errstr));
  rd_kafka_topic_partition_list_t *l =
      c ? rd_kafka_topic_partition_list_new(partitions) : NULL;
  if (!l)
    die("consumer");
  for (int p = 0; p < partitions; p++) {
    int64_t lo = 0, hi = 0;
    if (rd_kafka_query_watermark_offsets(c, topic, p, &lo, &hi, 5000))
      die("watermarks");
    rd_kafka_topic_partition_list_add(l, topic, p)->offset = hi;
  }
  rd_kafka_resp_err_t err = rd_kafka_commit(c, l, 0);
  if (err) {
    snprintf(errstr, sizeof(errstr), "%s", rd_kafka_err2str(err));
    die("commit");
  }
  rd_kafka_topic_partition_list_destroy(l);
  rd_kafka_destroy(c);
}

uint64_t bench_process_cpu_us(int pid) {
  char path[64];
  unsigned long long ns = 0;
  snprintf(path, sizeof(path), "/proc/%d/task/%d/schedstat", pid, pid);
  FILE *f = fopen(path, "r");
  if (f) {
    if (fscanf(f, "%llu", &ns) != 1)
      ns = 0;
    fclose(f);
  }
  return ns / 1000;
}
