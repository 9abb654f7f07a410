/* Kafka clients built from the property table, with lamfleet's defaults
 * and librdkafka's logs routed into lamfleet's log. */
#ifndef LF_KAFKA_H
#define LF_KAFKA_H

#include <librdkafka/rdkafka.h>

#include "config.h"
#include "lf_proto.h"

/* The settings every client needs are there (bootstrap servers). */
lf_err_t lf_kafka_conf_check(const lf_conf_t *conf, char *errstr,
                             size_t errstr_size);

/* How long the operator command waits for a bootstrap server's TCP
 * connection before it says Kafka cannot be reached. */
#define LF_KAFKA_REACH_MS 5000

/* LF_OK when bootstrap servers are set and one accepts a TCP connection
 * within timeout_ms; else an error naming the last reason (not set,
 * refused, unknown host, timed out). */
lf_err_t lf_kafka_reachable(const lf_conf_t *conf, int timeout_ms, char *errstr,
                            size_t errstr_size);

/* A group consumer that never commits by itself: the worker loop commits
 * only what has been handled and acknowledged downstream. */
rd_kafka_t *lf_kafka_consumer_new(const lf_conf_t *conf, const char *group_id,
                                  const char *client_id, char *errstr,
                                  size_t errstr_size);

/* Told of every rebalance of a watched consumer (from its poll). */
typedef struct lf_kafka_watch {
  void (*on_rebalance)(void *arg, int assigned, int partitions);
  /* librdkafka's statistics (JSON), every statistics.interval.ms. */
  void (*on_stats)(void *arg, const char *json, size_t len);
  void *arg;
} lf_kafka_watch_t;

/* The same, telling watch (which must outlive the consumer; may be NULL). */
rd_kafka_t *lf_kafka_consumer_new_watched(const lf_conf_t *conf,
                                          const char *group_id,
                                          const char *client_id,
                                          const lf_kafka_watch_t *watch,
                                          char *errstr, size_t errstr_size);

/* An idempotent producer (acks=all). dr_cb may be NULL. */
rd_kafka_t *lf_kafka_producer_new(const lf_conf_t *conf, const char *client_id,
                                  void (*dr_cb)(rd_kafka_t *,
                                                const rd_kafka_message_t *,
                                                void *),
                                  char *errstr, size_t errstr_size);

/* prefix + suffix, e.g. "lamfleet.goals". */
const char *lf_kafka_topic_name(const lf_conf_t *conf, lf_topic_t topic,
                                char *buf, size_t size);

/* Makes the client learn a topic's partition leaders now: a client that
 * first hears of a topic when it produces to it holds the record for a
 * metadata refresh (about a second on the mock cluster). The client keeps
 * what it learned. */
lf_err_t lf_kafka_topic_warm(rd_kafka_t *rk, const char *topic, int timeout_ms,
                             char *errstr, size_t errstr_size);

/* Options of an admin request that gives up after timeout_ms (the
 * request, and for CreateTopics the brokers' own operation too): every
 * admin call has a bound, since some brokers never answer some calls. */
rd_kafka_AdminOptions_t *lf_kafka_admin_options(rd_kafka_t *rk,
                                                rd_kafka_admin_op_t op,
                                                int timeout_ms, char *errstr,
                                                size_t errstr_size);

/* Assigns every partition of the topics to a consumer without a group, at
 * the log end (to follow what comes next) or at the beginning. */
lf_err_t lf_kafka_assign_all(rd_kafka_t *consumer, const char *const *topics,
                             size_t ntopics, int from_beginning, int timeout_ms,
                             char *errstr, size_t errstr_size);

/* Produces one message (encoded here) keyed by key with a traceparent
 * header (a child of parent when given) and the type header. */
lf_err_t lf_kafka_produce(rd_kafka_t *producer, const char *topic,
                          const char *key, const ProtobufCMessage *msg,
                          const char *parent_tp, size_t parent_tp_len,
                          void *msg_opaque, char *errstr, size_t errstr_size);

/* The same for an already encoded record of type (a message full name);
 * buf is taken over (freed by librdkafka) only on success. A record
 * larger than the producer's message.max.bytes is LF_ERR_RECORD. */
lf_err_t lf_kafka_produce_bytes(rd_kafka_t *producer, const char *topic,
                                const char *key, uint8_t *buf, size_t len,
                                const char *type, const char *parent_tp,
                                size_t parent_tp_len, void *msg_opaque,
                                char *errstr, size_t errstr_size);

/* Whether the brokers or the client refused a record for its own sake
 * (too large, invalid): producing it again cannot succeed. */
int lf_kafka_err_is_record(rd_kafka_resp_err_t err);

/* The largest record the producer sends (its message.max.bytes). */
size_t lf_kafka_max_record(rd_kafka_t *producer);

#endif
