/* lamfleet topics create [--partitions N] [--replication R] [--timeout S]:
 * the fleet's topics through the admin API (CreateTopics), each reported
 * as created, already there, or failed. Partitions bound how many workers
 * of a kind share the work: a group has at most one member per partition
 * of its topics. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "kafka.h"

static void usage(FILE *out) {
  fputs("Usage: lamfleet topics create [--partitions N] [--replication R] "
        "[--timeout SECONDS]\n"
        "  --partitions N   partitions of each topic (6): at most N workers "
        "of a kind\n"
        "                   share the work\n"
        "  --replication R  replicas of each partition (3)\n"
        "  --timeout S      how long to wait for the brokers (30)\n",
        out);
}

static int parse(int argc, char **argv, long *parts, long *repl,
                 long *timeout_s) {
  for (int i = 2; i < argc; i += 2) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    long *dst = !strcmp(a, "--partitions")    ? parts
                : !strcmp(a, "--replication") ? repl
                : !strcmp(a, "--timeout")     ? timeout_s
                                              : NULL;
    char *end = NULL;
    long n = v ? strtol(v, &end, 10) : 0;
    if (!dst || !v || *end || n < 1) {
      fprintf(stderr, "lamfleet topics create: %s \"%s\"\n",
              !dst ? "unknown option" : "expected a positive number after", a);
      usage(stderr);
      return LF_EXIT_USAGE;
    }
    *dst = n;
  }
  return 0;
}

/* Each topic's outcome; the count of failures. */
static int report(const rd_kafka_CreateTopics_result_t *res, long parts) {
  size_t n = 0;
  int failed = 0;
  const rd_kafka_topic_result_t **r =
      rd_kafka_CreateTopics_result_topics(res, &n);
  for (size_t i = 0; i < n; i++) {
    rd_kafka_resp_err_t err = rd_kafka_topic_result_error(r[i]);
    const char *name = rd_kafka_topic_result_name(r[i]);
    if (!err)
      printf("%-32s created, %ld partitions\n", name, parts);
    else if (err == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS)
      printf("%-32s already there (left as it is)\n", name);
    else {
      failed++;
      printf("%-32s FAILED: %s\n", name,
             rd_kafka_topic_result_error_string(r[i])
                 ? rd_kafka_topic_result_error_string(r[i])
                 : rd_kafka_err2str(err));
    }
  }
  return failed;
}

static int create(rd_kafka_t *rk, const lf_conf_t *conf, long parts, long repl,
                  long timeout_s) {
  char errstr[512], name[256];
  rd_kafka_NewTopic_t *nt[LF_TOPIC__CNT] = {0};
  rd_kafka_AdminOptions_t *o =
      lf_kafka_admin_options(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS,
                             (int)timeout_s * 1000, errstr, sizeof(errstr));
  rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
  int rc = LF_EXIT_ERROR;
  if (!o || !q) {
    fprintf(stderr, "lamfleet topics create: %s\n",
            o ? "out of memory" : errstr);
    goto done;
  }
  for (int t = 0; t < LF_TOPIC__CNT; t++)
    if (!(nt[t] = rd_kafka_NewTopic_new(
              lf_kafka_topic_name(conf, (lf_topic_t)t, name, sizeof(name)),
              (int)parts, (int)repl, errstr, sizeof(errstr)))) {
      fprintf(stderr, "lamfleet topics create: %s: %s\n", name, errstr);
      goto done;
    }
  rd_kafka_CreateTopics(rk, nt, LF_TOPIC__CNT, o, q);
  /* the request's own timeout answers first; this one only guards it */
  rd_kafka_event_t *ev = rd_kafka_queue_poll(q, (int)timeout_s * 1000 + 5000);
  const rd_kafka_CreateTopics_result_t *res =
      ev ? rd_kafka_event_CreateTopics_result(ev) : NULL;
  if (!ev || rd_kafka_event_error(ev))
    fprintf(stderr,
            "lamfleet topics create: the brokers (%s) did not create the "
            "topics: %s (librdkafka's mock cluster never answers "
            "CreateTopics: the embedded stack creates its own)\n",
            lf_conf_get(conf, "kafka.bootstrap.servers"),
            ev ? rd_kafka_event_error_string(ev) : "no answer");
  else if (!report(res, parts)) {
    printf("a group has at most one worker per partition: up to %ld "
           "planners, %ld guards and %ld executors share the work\n",
           parts, parts, parts);
    rc = LF_EXIT_OK;
  }
  if (ev)
    rd_kafka_event_destroy(ev);
done:
  for (int t = 0; t < LF_TOPIC__CNT; t++)
    if (nt[t])
      rd_kafka_NewTopic_destroy(nt[t]);
  if (o)
    rd_kafka_AdminOptions_destroy(o);
  if (q)
    rd_kafka_queue_destroy(q);
  return rc;
}

int lf_cmd_topics(lf_conf_t *conf, int argc, char **argv) {
  long parts = 6, repl = 3, timeout_s = 30;
  char errstr[512];
  if (argc < 2 || strcmp(argv[1], "create")) {
    usage(argc < 2 || strcmp(argv[1], "--help") ? stderr : stdout);
    return argc >= 2 && !strcmp(argv[1], "--help") ? LF_EXIT_OK : LF_EXIT_USAGE;
  }
  int rc = parse(argc, argv, &parts, &repl, &timeout_s);
  if (rc)
    return rc;
  rd_kafka_t *rk = lf_cli_producer_new(conf, "lamfleet-topics", NULL, errstr,
                                       sizeof(errstr));
  if (!rk) {
    fprintf(stderr, "lamfleet topics create: %s\n", errstr);
    return LF_EXIT_ERROR;
  }
  rc = create(rk, conf, parts, repl, timeout_s);
  rd_kafka_destroy(rk);
  return rc;
}
