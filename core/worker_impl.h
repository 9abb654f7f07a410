/* Private parts of the worker shared by worker.c and worker_loop.c. */
#ifndef LF_WORKER_IMPL_H
#define LF_WORKER_IMPL_H

#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <stdatomic.h>

#include "kafka.h"
#include "worker.h"

#define MAX_COUNTERS 32

typedef struct counter {
  const char *name;
  atomic_uint_fast64_t value;
} counter_t;

/* Delivery state of the batch in flight. */
struct lf_out {
  lf_worker_t *w;
  int outstanding;
  int failed;
  char first_error[256];
};

struct lf_worker {
  lf_conf_t *conf;
  const lf_handler_t *h;
  void *ctx;
  char id[128];
  char topics[LF_TOPIC__CNT][256];
  rd_kafka_t *consumer, *producer;
  lf_kafka_watch_t watch;  /* counts rebalances */
  rd_kafka_queue_t *queue; /* the consumer's, signalling wake[1] */
  int wake[2];             /* pipe: readable when records arrive */
  int want_pause, paused;
  int64_t last_poll_ms; /* monotonic, the loop's last consumer poll */
  atomic_int stop;
  lf_out_t out;
  rd_kafka_message_t **batch;
  lf_msg_t *msgs;
  size_t batch_size;
  counter_t counters[MAX_COUNTERS];
  atomic_int ncounters;
  pthread_mutex_t counters_lock;
};

#endif
