/* Test support: the embedded stack (in-process mock Kafka cluster and a real
 * redis-server child) plus helpers to put records on topics and read them
 * back the way a user would check them. */
#ifndef LF_TEST_SUPPORT_H
#define LF_TEST_SUPPORT_H

#include <check.h>
#include <hiredis/hiredis.h>
#include <librdkafka/rdkafka.h>

#include "config.h"
#include "lf_proto.h"
#include "stack.h"

typedef struct lf_test_env {
  lf_conf_t *conf;
  lf_stack_t *stack;
  rd_kafka_t *producer;
} lf_test_env_t;

/* A quiet configuration for tests (log.level=warn). */
lf_conf_t *lf_test_conf(void);

/* Starts mock Kafka, redis-server and the workers in mask. Fails the test
 * (ck_abort) when anything cannot start. */
void lf_test_env_start(lf_test_env_t *env, unsigned workers);
void lf_test_env_stop(lf_test_env_t *env);
/* The same with settings ("key=value", NULL-terminated) applied first. */
void lf_test_env_start_with(lf_test_env_t *env, unsigned workers,
                            const char *const *settings);

/* Runs the lamfleet CLI (at path) against env's stack with args; returns
 * its exit status, its output (stdout and stderr) in out. */
int lf_test_cli(lf_test_env_t *env, const char *path, char *out, size_t size,
                const char *args);

/* Starts the worker program at path against env's stack as a process of
 * its own (killed when the test dies): -b, redis.url, the stack's signing
 * keys, metrics.port=0, kafka.session.timeout.ms=6000, log.level=error,
 * then settings ("key=value", NULL-terminated; later ones win). */
pid_t lf_test_spawn(lf_test_env_t *env, const char *path,
                    const char *const *settings);

/* A connection to the stack's redis-server, to look at its keys. */
redisContext *lf_test_redis(lf_test_env_t *env);

/* Produces a message / raw bytes to a fleet topic and waits for the ack. */
void lf_test_produce(lf_test_env_t *env, lf_topic_t topic, const char *key,
                     const ProtobufCMessage *msg);
void lf_test_produce_raw(lf_test_env_t *env, lf_topic_t topic, const char *key,
                         const void *data, size_t len);

/* Proposes step 0 of goal_id (action id "<goal_id>:0", keyed by goal_id)
 * as a planner would, straight to actions.proposed. */
void lf_test_propose(lf_test_env_t *env, const char *tenant,
                     const char *goal_id, const char *name,
                     const char *arguments_json);
/* The same with the planner's idempotency key ("" for none). */
void lf_test_propose_keyed(lf_test_env_t *env, const char *tenant,
                           const char *goal_id, const char *name,
                           const char *arguments_json, const char *key);

/* Proposes n actions at once, all keyed by key (one partition, in order):
 * goal i is prefix followed by i in three digits, its arguments args_fmt
 * with i for its %d. Flushed once, at the end. */
void lf_test_propose_many(lf_test_env_t *env, const char *key, int n,
                          const char *prefix, const char *tenant,
                          const char *name, const char *args_fmt);

/* A record read back from a topic. */
typedef struct lf_test_record {
  ProtobufCMessage *pb; /* decoded, NULL if it did not decode */
  char *key;
  void *value;
  size_t len;
  int32_t partition;
  char traceparent[LF_TRACEPARENT_LEN + 1];
} lf_test_record_t;

typedef struct lf_test_records {
  lf_test_record_t *v;
  size_t n;
} lf_test_records_t;

/* Reads a topic from the beginning until it holds at least min records
 * matching (when match is non-NULL) or timeout_ms passes. Returns all
 * records read that match. */
lf_test_records_t lf_test_read(lf_test_env_t *env, lf_topic_t topic, size_t min,
                               int timeout_ms,
                               int (*match)(const lf_test_record_t *, void *),
                               void *opaque);
void lf_test_records_free(lf_test_records_t *r);

/* Submits a goal; returns its id (static buffer per call site not needed:
 * caller provides out). */
void lf_test_submit(lf_test_env_t *env, const char *text, const char *tenant,
                    char out_goal_id[37]);

/* Record matchers. */
int lf_test_match_goal(const lf_test_record_t *r, void *goal_id);

/* Runs a suite: returns 0 when every test passed. */
int lf_test_run(Suite *s);

#endif
