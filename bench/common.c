/* What every benchmark shares: the raw librdkafka relay they are all
 * measured against, in the same run. */
#include "common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
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

/* Consume n records from in, produce each to out, until all are acked. */
/* The relay is the best a raw client does: it produces as it consumes and
 * flushes once, so it lingers only briefly, unlike the workers (which
 * flush per batch and linger long to keep a batch in one request). */
double relay(lf_conf_t *fleet_conf, lf_mock_t *mock, long n) {
  lf_conf_t *conf = lf_conf_dup(fleet_conf);
  if (!conf ||
      (!lf_conf_kafka_is_set(fleet_conf, "linger.ms") &&
       lf_conf_set(conf, "kafka.linger.ms", "5", errstr, sizeof(errstr))))
    die("relay config");
  lf_mock_topic_create(mock, "bench.in", 6, errstr, sizeof(errstr));
  lf_mock_topic_create(mock, "bench.out", 6, errstr, sizeof(errstr));
  fill(conf, "bench.in", n);
  rd_kafka_t *c = lf_kafka_consumer_new(conf, "bench-relay", "bench", errstr,
                                        sizeof(errstr));
  if (!c)
    die("consumer");
  const char *topics[] = {"bench.in"};
  if (lf_kafka_assign_all(c, topics, 1, 1, 10000, errstr, sizeof(errstr)))
    die("assign");
  rd_kafka_t *p = producer(conf);
  long got = 0;
  int64_t t0 = 0;
  int idle = 0;
  while (got < n) {
    rd_kafka_message_t *m = rd_kafka_consumer_poll(c, 1000);
    if (!m && ++idle > 30) {
      snprintf(errstr, sizeof(errstr), "%ld of %ld records after 30 s idle",
               got, n);
      die("relay");
    }
    if (!m)
      continue;
    idle = 0;
    if (!m->err) {
      if (!t0)
        t0 = lf_monotonic_ms();
      while (rd_kafka_producev(p, RD_KAFKA_V_TOPIC("bench.out"),
                               RD_KAFKA_V_KEY(m->key, m->key_len),
                               RD_KAFKA_V_VALUE(m->payload, m->len),
                               RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                               RD_KAFKA_V_END) == RD_KAFKA_RESP_ERR__QUEUE_FULL)
        rd_kafka_poll(p, 10);
      got++;
    }
    rd_kafka_message_destroy(m);
    rd_kafka_poll(p, 0);
  }
  rd_kafka_flush(p, 60000);
  double secs = (double)(lf_monotonic_ms() - t0) / 1000.0;
  rd_kafka_destroy(p);
  rd_kafka_consumer_close(c);
  rd_kafka_destroy(c);
  lf_conf_destroy(conf);
  return (double)n / secs;
}

lf_stack_t *bench_stack(lf_conf_t *conf, unsigned workers, long n,
                        double *relay_rate) {
  lf_stack_t *s = lf_stack_start(conf, workers, errstr, sizeof(errstr));
  if (!s)
    die("stack");
  *relay_rate = relay(conf, lf_stack_mock(s), n);
  printf("raw relay (consume+produce, 200 B records): %.0f records/s\n",
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
