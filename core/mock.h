/* The embedded Kafka: librdkafka's mock cluster, speaking the real protocol
 * over real TCP on loopback, with the fleet's topics created through the
 * mock's own API (it does not answer the admin CreateTopics). */
#ifndef LF_MOCK_H
#define LF_MOCK_H

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include "config.h"

typedef struct lf_mock lf_mock_t;

/* Starts brokers and creates every fleet topic under topic.prefix with
 * dev.partitions partitions. */
lf_mock_t *lf_mock_new(const lf_conf_t *conf, char *errstr, size_t errstr_size);
void lf_mock_destroy(lf_mock_t *m);

const char *lf_mock_bootstraps(const lf_mock_t *m);
/* For fault injection in tests. */
rd_kafka_mock_cluster_t *lf_mock_cluster(lf_mock_t *m);
lf_err_t lf_mock_topic_create(lf_mock_t *m, const char *topic, int partitions,
                              char *errstr, size_t errstr_size);

#endif
