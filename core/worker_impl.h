/* Private parts of the worker shared by worker.c and worker_loop.c. */
#ifndef LF_WORKER_IMPL_H
#define LF_WORKER_IMPL_H

#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <stdatomic.h>

#include "kafka.h"
#include "worker.h"

#define MAX_COUNTERS 48
#define MAX_HISTOGRAMS 8
#define MAX_GAUGES 16
#define MAX_LAGS 64
#define LF_HIST_BUCKETS 15 /* plus +Inf */

typedef struct counter {
  const char *name;
  atomic_uint_fast64_t value;
} counter_t;

typedef struct histogram {
  const char *name;
  atomic_uint_fast64_t buckets[LF_HIST_BUCKETS + 1]; /* not cumulative */
  atomic_uint_fast64_t count, sum_us;
} histogram_t;

typedef struct gauge {
  const char *name;
  atomic_int_fast64_t value;
} gauge_t;

/* The entry named name of a table of count entries of size bytes, each
 * starting with its name (a string literal): found, or NULL. */
void *lf_worker_find(const void *table, size_t size, const atomic_int *count,
                     const char *name);
/* The same, added (zeroed) when missing and the table has room. */
void *lf_worker_entry(lf_worker_t *w, void *table, size_t size,
                      atomic_int *count, int max, const char *name);

/* A partition's consumer lag, from librdkafka's statistics. */
typedef struct lag {
  int topic; /* lf_topic_t */
  int32_t partition;
  int64_t lag;
} lag_t;

/* Delivery state of the batch in flight. */
struct lf_out {
  lf_worker_t *w;
  int outstanding;
  int failed;
  int record_faults; /* of failed: refused for the record's own sake */
  char first_error[256];
};

/* A batch of records and its outputs' delivery state. */
typedef struct lf_batch {
  lf_out_t out;
  rd_kafka_message_t **recs; /* fetched, batch_size of room */
  size_t n;
  lf_msg_t *msgs; /* decoded, k of them */
  int k;
  /* records that did not decode: dead-lettered only once the handler has
   * taken the rest, so that a retry does not send them twice */
  struct undecoded {
    size_t index;
    char why[512];
  } * undecoded;
  size_t nundecoded;
} lf_batch_t;

/* A record handed on but not finished (lf_out_defer). */
typedef struct deferred {
  uint64_t id;
  const char *topic; /* one of the worker's topic names */
  int32_t partition;
  int64_t offset;
} deferred_t;

/* A partition's commit point: what was handled (next) and committed. */
typedef struct part {
  const char *topic;
  int32_t partition;
  int64_t next, committed;
} part_t;

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
  int holding;           /* taking no records, partitions not yet paused */
  int64_t hold_since_ms; /* monotonic */
  int assign_epoch, paused_epoch; /* rebalances, and the one paused in */
  int64_t last_poll_ms;           /* monotonic, the loop's last consumer poll */
  atomic_int stop;
  lf_out_t out; /* ticks, idle work, lf_worker_handle */
  /* Two batches: the one being handled, and the one before it when the
   * handler lets it stay in flight meanwhile (worker_batch.c) */
  lf_batch_t slots[2];
  lf_batch_t *inflight; /* handled, outputs not yet acknowledged */
  int serial;           /* after a failure: no overlap until a batch passes */
  size_t failed_n;      /* records of the last batch(es) that failed */
  size_t batch_size;
  size_t max_record; /* the producer's message.max.bytes: outputs fit it */
  deferred_t *pend;  /* deferred records, unordered */
  size_t npend, pend_cap;
  uint64_t pend_ids;
  part_t *parts; /* partitions with something to commit, or deferred */
  size_t nparts, parts_cap;
  int64_t last_commit_ms;
  /* Synchronous commits' results arrive here, so that the loop can pump
   * the handler's I/O while it waits for them (worker_defer.c). */
  rd_kafka_queue_t *commit_q;
  int commits_pending;
  int idle_warned;        /* the handler's idle failing: how often */
  int64_t idle_warned_ms; /* since the last warning (monotonic) */
  counter_t counters[MAX_COUNTERS];
  atomic_int ncounters;
  pthread_mutex_t counters_lock; /* adding counters, histograms, gauges */
  histogram_t hists[MAX_HISTOGRAMS];
  atomic_int nhists;
  gauge_t gauges[MAX_GAUGES];
  atomic_int ngauges;
  atomic_uint_fast64_t consumed[LF_TOPIC__CNT], produced[LF_TOPIC__CNT];
  pthread_mutex_t lag_lock;
  lag_t lags[MAX_LAGS];
  int nlags;
};

/* worker_metrics.c. Histogram bucket bounds, seconds: a hop on loopback
 * to a slow model call. */
extern const double lf_hist_bounds[LF_HIST_BUCKETS];
void lf_worker_on_stats(void *arg, const char *json, size_t len);
int lf_worker_topic_index(const lf_worker_t *w, const char *name);

/* worker_batch.c: a batch from fetch to commit. */
lf_err_t lf_batch_init(lf_worker_t *w, lf_batch_t *b);
void lf_batch_free(lf_batch_t *b); /* its records too */
/* Waits until everything produced through out is acknowledged. */
lf_err_t lf_batch_wait(lf_worker_t *w, lf_out_t *out, char *errstr,
                       size_t errstr_size);
/* Handles b's records, settles the batch in flight before it, and then
 * settles b or, when the handler allows it, leaves b in flight. A failure
 * has been dealt with (records dead-lettered, or rewound for a retry)
 * when it returns; w->failed_n says how many records it concerned. */
lf_err_t lf_batch_run(lf_worker_t *w, lf_batch_t *b, char *errstr,
                      size_t errstr_size);
/* Settles the batch in flight, if any: with nothing behind it, before a
 * stop, or at a revoke (retry 0: the records are left to the partitions'
 * next owner, which fetches them from the committed offsets). */
lf_err_t lf_batch_settle_inflight(lf_worker_t *w, int retry, char *errstr,
                                  size_t errstr_size);

/* worker_defer.c: the commit points of out-of-order completion. */
lf_err_t lf_defer_reserve(lf_worker_t *w, size_t n);
lf_err_t lf_defer_handled(lf_worker_t *w, const char *topic, int32_t partition,
                          int64_t next);
/* Commits every partition up to its first deferred record. */
void lf_defer_commit(lf_worker_t *w, int async);
/* Takes the results of commits still out, then frees the commit queue. */
void lf_defer_close(lf_worker_t *w);
/* After a rebalance the consumer fetches again from the committed
 * offsets: what was deferred comes back and is deferred anew. */
void lf_defer_forget(lf_worker_t *w);
void lf_defer_free(lf_worker_t *w);

#endif
