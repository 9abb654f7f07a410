/* The Kafka loop, written once for every worker kind. A worker kind is a
 * small handler (init / handle / delivered / close) around its own context;
 * the loop consumes batches, decodes records by topic (dead-lettering what
 * cannot be decoded), hands them to the handler, waits until everything the
 * handler produced is acknowledged by the brokers, and only then commits the
 * batch's offsets. A batch the handler cannot finish (e.g. Redis is down)
 * is not committed: the loop rewinds to it and retries with backoff. */
#ifndef LF_WORKER_H
#define LF_WORKER_H

#include <stdint.h>

#include "config.h"
#include "lf_proto.h"

typedef struct lf_worker lf_worker_t;
typedef struct lf_out lf_out_t;

/* One consumed record, decoded. Valid during handle() only. */
typedef struct lf_msg {
  lf_topic_t topic;
  const ProtobufCMessage *pb; /* cast by topic: lf_goal_t *, ... */
  const char *topic_name;
  int32_t partition;
  int64_t offset;
  const char *key;
  size_t key_len;
  const char *traceparent; /* NULL when the record had none */
  size_t traceparent_len;
  const void *value; /* the encoded bytes */
  size_t len;
} lf_msg_t;

typedef struct lf_handler {
  const char *kind;      /* "planner", "guard", "executor" */
  const char *group_key; /* property naming the consumer group */
  const lf_topic_t *topics;
  size_t ntopics;
  lf_err_t (*init)(lf_worker_t *w, void **ctxp, char *errstr,
                   size_t errstr_size);
  /* Handles msgs in order, producing through out. An error leaves the
   * batch uncommitted, to be handled again: handling must be idempotent. */
  lf_err_t (*handle)(void *ctx, const lf_msg_t *msgs, size_t n, lf_out_t *out,
                     char *errstr, size_t errstr_size);
  /* Optional: called once the batch's outputs are acknowledged and before
   * its offsets are committed (e.g. to persist state only then). */
  lf_err_t (*delivered)(void *ctx, char *errstr, size_t errstr_size);
  /* Optional: asked after handle(), whether the batch may stay in flight
   * (outputs not yet acknowledged, nothing committed) while the next batch
   * is handled: nonzero only when its delivered() would have nothing to
   * do, for it is then not called. The loop waits for both in turn and
   * commits them in order; if the first fails, both are handled again. */
  int (*overlap)(void *ctx);
  /* Optional: called between batches every worker.tick.ms, for work that
   * no record brings (e.g. expiring what waited too long). Errors are
   * logged; the next tick tries again. */
  lf_err_t (*tick)(void *ctx, lf_out_t *out, char *errstr, size_t errstr_size);
  /* Optional: the handler's own I/O (e.g. HTTP calls in flight). Instead
   * of blocking in Kafka, the loop calls it to wait at most timeout_ms for
   * that I/O or for wake_fd, which becomes readable when records arrive.
   * It produces through out and waits for delivery itself when it must
   * act only after it (lf_out_wait); errors are logged. */
  lf_err_t (*idle)(void *ctx, int wake_fd, int timeout_ms, lf_out_t *out,
                   char *errstr, size_t errstr_size);
  /* Optional: how much of the handler's own work is in flight (e.g. calls
   * running here). A revoke forgets deferred records, not this work, so a
   * stop waits for it too (worker.drain.timeout.ms): it finishes here
   * rather than being cut off and done again by the next owner. */
  size_t (*busy)(void *ctx);
  /* Optional: moves the handler's own I/O on without waiting and without
   * acting on it (answers are taken and kept for idle). Every wait for the
   * brokers (lf_out_wait, the loop's own, commits) calls it between short
   * polls, so that with a broker down for seconds an answer that arrives is
   * never turned into a timeout. It must not produce or wait; its errors are
   * logged (once a wait), never the batch's. */
  lf_err_t (*pump)(void *ctx, char *errstr, size_t errstr_size);
  void (*close)(void *ctx);
} lf_handler_t;

lf_worker_t *lf_worker_new(const lf_conf_t *conf, const lf_handler_t *h,
                           char *errstr, size_t errstr_size);
/* Frees the worker; accepts NULL. */
void lf_worker_destroy(lf_worker_t *w);

/* Runs until lf_worker_stop(): then stops fetching, finishes the batch in
 * flight, commits it and leaves the group. */
lf_err_t lf_worker_run(lf_worker_t *w, char *errstr, size_t errstr_size);
/* Hands msgs to the handler as one batch and waits for its outputs, as
 * run() does, but with nothing consumed or committed: for tests (e.g. the
 * allocation torture) and benchmarks of one handler. */
lf_err_t lf_worker_handle(lf_worker_t *w, const lf_msg_t *msgs, size_t n,
                          char *errstr, size_t errstr_size);
/* Asks run() to return. Async-signal-safe and thread-safe. */
void lf_worker_stop(lf_worker_t *w);

/* Backpressure: while paused the worker takes no new records (after a
 * moment its assigned partitions are paused) but keeps polling, so it stays in
 * its group however long the handler's own work takes. */
void lf_worker_pause(lf_worker_t *w, int paused);

/* How many partitions the worker's consumer group gave it (0 until it has
 * joined, or when the group has more members than partitions). Any thread. */
int lf_worker_assigned(const lf_worker_t *w);

const lf_conf_t *lf_worker_conf(const lf_worker_t *w);
const char *lf_worker_id(const lf_worker_t *w);
const char *lf_worker_kind(const lf_worker_t *w); /* "planner", ... */
/* Full name of a fleet topic, e.g. "lamfleet.observations". */
const char *lf_worker_topic(const lf_worker_t *w, lf_topic_t topic);

/* Named counters (records_consumed, dead_letters, handlers' own such as
 * executions), safe to read from any thread. name must outlive the
 * worker (a string literal): the counter keeps the pointer. */
void lf_worker_count(lf_worker_t *w, const char *name, uint64_t n);
uint64_t lf_worker_counter(const lf_worker_t *w, const char *name);

/* Out-of-order completion: a record whose work goes on after handle()
 * (e.g. an HTTP call) is deferred, and completed once its outputs are
 * acknowledged. Until then its offset, and every later one of its
 * partition, stays uncommitted: a crash or a rebalance fetches it again,
 * and the handler must recognise work it still has in flight. Returns
 * the token to complete (never 0 for a record of the batch being
 * handled; room is reserved before handle()). */
uint64_t lf_out_defer(lf_out_t *out, const lf_msg_t *msg);
/* Completes a deferred record (a token forgotten since, after a
 * rebalance, is ignored). Loop thread only. */
void lf_worker_complete(lf_worker_t *w, uint64_t token);
/* Deferred records not yet completed. */
size_t lf_worker_deferred(const lf_worker_t *w);

/* A duration (seconds) observed n times, for a histogram (name a string
 * literal, as for counters); and a gauge's current value. */
void lf_worker_observe(lf_worker_t *w, const char *name, double seconds,
                       uint64_t n);
void lf_worker_gauge(lf_worker_t *w, const char *name, int64_t value);

/* Waits until everything produced through out is acknowledged (at most
 * worker.flush.timeout.ms), pumping the handler's own I/O meanwhile. */
lf_err_t lf_out_wait(lf_out_t *out, char *errstr, size_t errstr_size);

/* Produces m to topic, keyed by key, traced as a child of cause. */
lf_err_t lf_out_produce(lf_out_t *out, const lf_msg_t *cause, lf_topic_t topic,
                        const char *key, const ProtobufCMessage *m,
                        char *errstr, size_t errstr_size);
/* Produces an already encoded record (buf taken over on success only). */
lf_err_t lf_out_produce_bytes(lf_out_t *out, const lf_msg_t *cause,
                              lf_topic_t topic, const char *key, uint8_t *buf,
                              size_t len, char *errstr, size_t errstr_size);
/* The largest record the worker's producer sends (message.max.bytes):
 * handlers bound what they produce to it. */
size_t lf_worker_max_record(const lf_worker_t *w);

/* Sends msg to the dead-letter topic with the reason (cleaned: valid
 * UTF-8, control characters escaped, bounded), the original's size and
 * SHA-256, and as much of the original as keeps the dead letter within
 * the brokers' record size (original_truncated says when cut). */
lf_err_t lf_out_dead_letter(lf_out_t *out, const lf_msg_t *msg,
                            const char *reason, char *errstr,
                            size_t errstr_size);

#endif
