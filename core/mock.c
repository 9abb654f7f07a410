#include "mock.h"

#include <stdio.h>
#include <stdlib.h>

#include "kafka.h"
#include "log.h"

struct lf_mock {
  rd_kafka_t *rk; /* librdkafka's book-keeping handle for the cluster */
  rd_kafka_mock_cluster_t *cluster;
  int replication;
};

static void log_cb(const rd_kafka_t *rk, int level, const char *fac,
                   const char *buf) {
  lf_log(lf_log_level_from_syslog(level), "mock-kafka", "[%s] %s", fac, buf);
}

lf_mock_t *lf_mock_new(const lf_conf_t *conf, char *errstr,
                       size_t errstr_size) {
  lf_mock_t *m = calloc(1, sizeof(*m));
  rd_kafka_conf_t *kc = rd_kafka_conf_new();
  if (!m || !kc) {
    snprintf(errstr, errstr_size, "out of memory");
    goto fail;
  }
  rd_kafka_conf_set_log_cb(kc, log_cb);
  /* The mock brokers' sockets take this handle's settings: without
   * TCP_NODELAY a second response on a connection (librdkafka sends one
   * ProduceRequest per partition) waits ~40 ms for a delayed ACK. */
  if (rd_kafka_conf_set(kc, "socket.nagle.disable", "true", errstr,
                        errstr_size) != RD_KAFKA_CONF_OK)
    goto fail;
  if (!(m->rk = rd_kafka_new(RD_KAFKA_PRODUCER, kc, errstr, errstr_size)))
    goto fail;
  kc = NULL;
  int brokers = (int)lf_conf_get_int(conf, "dev.brokers");
  if (!(m->cluster = rd_kafka_mock_cluster_new(m->rk, brokers))) {
    snprintf(errstr, errstr_size, "cannot start a mock cluster of %d brokers",
             brokers);
    goto fail;
  }
  m->replication = brokers < 3 ? brokers : 3;
  int partitions = (int)lf_conf_get_int(conf, "dev.partitions");
  for (int t = 0; t < LF_TOPIC__CNT; t++) {
    char name[256];
    lf_kafka_topic_name(conf, (lf_topic_t)t, name, sizeof(name));
    if (lf_mock_topic_create(m, name, partitions, errstr, errstr_size))
      goto fail;
  }
  return m;
fail:
  if (kc)
    rd_kafka_conf_destroy(kc);
  lf_mock_destroy(m);
  return NULL;
}

void lf_mock_destroy(lf_mock_t *m) {
  if (!m)
    return;
  if (m->cluster)
    rd_kafka_mock_cluster_destroy(m->cluster);
  if (m->rk)
    rd_kafka_destroy(m->rk);
  free(m);
}

const char *lf_mock_bootstraps(const lf_mock_t *m) {
  return rd_kafka_mock_cluster_bootstraps(m->cluster);
}

rd_kafka_mock_cluster_t *lf_mock_cluster(lf_mock_t *m) {
  return m->cluster;
}

lf_err_t lf_mock_topic_create(lf_mock_t *m, const char *topic, int partitions,
                              char *errstr, size_t errstr_size) {
  rd_kafka_resp_err_t kerr =
      rd_kafka_mock_topic_create(m->cluster, topic, partitions, m->replication);
  if (kerr) {
    snprintf(errstr, errstr_size, "create topic %s: %s", topic,
             rd_kafka_err2str(kerr));
    return LF_ERR_KAFKA;
  }
  return LF_OK;
}
