/* The worker loop: fetch a batch, decode, handle, wait for delivery,
 * commit; or rewind and retry. */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kafka.h"
#include "log.h"
#include "util.h"
#include "worker.h"

/* The private parts worker.c shares with the loop. */
#include "worker_impl.h"

static lf_err_t subscribe(lf_worker_t *w, char *errstr, size_t errstr_size) {
  rd_kafka_topic_partition_list_t *topics =
      rd_kafka_topic_partition_list_new((int)w->h->ntopics);
  if (!topics) {
    snprintf(errstr, errstr_size, "out of memory");
    return LF_ERR_NOMEM;
  }
  for (size_t i = 0; i < w->h->ntopics; i++)
    rd_kafka_topic_partition_list_add(topics, w->topics[w->h->topics[i]],
                                      RD_KAFKA_PARTITION_UA);
  rd_kafka_resp_err_t kerr = rd_kafka_subscribe(w->consumer, topics);
  rd_kafka_topic_partition_list_destroy(topics);
  if (kerr) {
    snprintf(errstr, errstr_size, "subscribe: %s", rd_kafka_err2str(kerr));
    return LF_ERR_KAFKA;
  }
  return LF_OK;
}

/* The longest time between two polls so far ("max_poll_gap_ms", a counter
 * that only grows): a worker past kafka.max.poll.interval.ms is evicted
 * from its group, so this is what slow handlers must keep small. */
static void note_poll(lf_worker_t *w) {
  int64_t now = lf_monotonic_ms();
  if (w->last_poll_ms) {
    uint64_t gap = (uint64_t)(now - w->last_poll_ms);
    uint64_t max = lf_worker_counter(w, "max_poll_gap_ms");
    if (gap > max)
      lf_worker_count(w, "max_poll_gap_ms", gap - max);
  }
  w->last_poll_ms = now;
}

/* Waits for the first record only: a lone goal must not wait for a batch to
 * fill. Whatever else is already fetched joins the batch. */
static size_t fetch(lf_worker_t *w, int timeout) {
  size_t n = 0;
  note_poll(w);
  while (n < w->batch_size) {
    rd_kafka_message_t *m =
        rd_kafka_consumer_poll(w->consumer, n ? 0 : timeout);
    if (!m)
      break;
    if (m->err) {
      if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
        lf_warn(w->id, "consumer: %s", rd_kafka_message_errstr(m));
      rd_kafka_message_destroy(m);
      if (n)
        break;
      continue;
    }
    w->batch[n++] = m;
  }
  return n;
}

static void header(const rd_kafka_message_t *m, const char *name,
                   const char **val, size_t *len) {
  rd_kafka_headers_t *hdrs = NULL;
  const void *v = NULL;
  *val = NULL;
  *len = 0;
  if (rd_kafka_message_headers(m, &hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR &&
      rd_kafka_header_get_last(hdrs, name, &v, len) ==
          RD_KAFKA_RESP_ERR_NO_ERROR)
    *val = v;
}

static void raw_msg(lf_worker_t *w, const rd_kafka_message_t *m,
                    lf_msg_t *msg) {
  memset(msg, 0, sizeof(*msg));
  msg->topic_name = rd_kafka_topic_name(m->rkt);
  msg->partition = m->partition;
  msg->offset = m->offset;
  msg->key = m->key;
  msg->key_len = m->key_len;
  msg->value = m->payload;
  msg->len = m->len;
  header(m, LF_HDR_TRACEPARENT, &msg->traceparent, &msg->traceparent_len);
  (void)w;
}

/* Decodes the batch into w->msgs; what cannot be decoded is left out,
 * noted in w->undecoded with the reason. Returns the count decoded. */
static int decode(lf_worker_t *w, rd_kafka_message_t *const *batch, size_t n) {
  int k = 0;
  w->nundecoded = 0;
  for (size_t i = 0; i < n; i++) {
    lf_msg_t *msg = &w->msgs[k];
    char *why = w->undecoded[w->nundecoded].why;
    size_t why_size = sizeof(w->undecoded[0].why);
    raw_msg(w, batch[i], msg);
    int kind = lf_proto_topic_from_name(lf_conf_get(w->conf, "topic.prefix"),
                                        msg->topic_name);
    if (kind >= 0)
      atomic_fetch_add(&w->consumed[kind], 1);
    ProtobufCMessage *pb = NULL;
    if (kind < 0)
      snprintf(why, why_size, "topic %s is not a fleet topic", msg->topic_name);
    else
      pb = lf_proto_decode(lf_proto_topic_descriptor((lf_topic_t)kind),
                           msg->value, msg->len, why, why_size);
    if (!pb) {
      w->undecoded[w->nundecoded++].index = i;
      continue;
    }
    msg->topic = (lf_topic_t)kind;
    msg->pb = pb;
    k++;
  }
  return k;
}

/* The records that did not decode, to the dead-letter topic. */
static lf_err_t dead_letter_undecoded(lf_worker_t *w,
                                      rd_kafka_message_t *const *batch,
                                      char *errstr, size_t errstr_size) {
  for (size_t i = 0; i < w->nundecoded; i++) {
    lf_msg_t msg;
    raw_msg(w, batch[w->undecoded[i].index], &msg);
    lf_err_t err = lf_out_dead_letter(&w->out, &msg, w->undecoded[i].why,
                                      errstr, errstr_size);
    if (err)
      return err;
  }
  return LF_OK;
}

static void free_decoded(lf_worker_t *w, int k) {
  for (int i = 0; i < k; i++) {
    lf_proto_free((ProtobufCMessage *)w->msgs[i].pb);
    w->msgs[i].pb = NULL;
  }
}

/* Per partition of the batch: its first offset (rewind) or the offset
 * after its last record (commit). */
static rd_kafka_topic_partition_list_t *
positions(rd_kafka_message_t *const *batch, size_t n, int first) {
  rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(8);
  for (size_t i = 0; l && i < n; i++) {
    const rd_kafka_message_t *m = batch[i];
    const char *t = rd_kafka_topic_name(m->rkt);
    rd_kafka_topic_partition_t *p =
        rd_kafka_topic_partition_list_find(l, t, m->partition);
    if (!p)
      (p = rd_kafka_topic_partition_list_add(l, t, m->partition))->offset =
          first ? m->offset : m->offset + 1;
    else if (!first && m->offset + 1 > p->offset)
      p->offset = m->offset + 1;
  }
  return l;
}

/* Waits for the brokers' acknowledgements; a handler with I/O of its own
 * has it pumped between short flushes (see lf_handler_t.pump). */
static lf_err_t wait_delivery(lf_worker_t *w, char *errstr,
                              size_t errstr_size) {
  int64_t deadline =
      lf_monotonic_ms() + lf_conf_get_int(w->conf, "worker.flush.timeout.ms");
  /* Polled, not flushed: rd_kafka_flush() waits in 10 ms steps, which
   * was most of a guard batch's time (kafka.linger.ms sends them). */
  int warned = 0;
  while (w->out.outstanding > 0 && lf_monotonic_ms() < deadline) {
    char why[512];
    rd_kafka_poll(w->producer, 1);
    /* the handler's own failure is not the batch's: the wait goes on
     * (said once a wait) */
    if (w->h->pump && w->out.outstanding > 0 &&
        w->h->pump(w->ctx, why, sizeof(why)) && !warned++)
      lf_warn(w->id, "while waiting for the brokers: %s", why);
  }
  if (w->out.failed) {
    snprintf(errstr, errstr_size, "%d record(s) not delivered, first: %s",
             w->out.failed, w->out.first_error);
    /* refused for what they are, not for where they went: no retry helps */
    return w->out.failed == w->out.record_faults ? LF_ERR_RECORD : LF_ERR_KAFKA;
  }
  if (w->out.outstanding > 0) {
    snprintf(errstr, errstr_size, "%d record(s) not acknowledged in time",
             w->out.outstanding);
    return LF_ERR_TIMEOUT;
  }
  return LF_OK;
}

lf_err_t lf_out_wait(lf_out_t *out, char *errstr, size_t errstr_size) {
  return wait_delivery(out->w, errstr, errstr_size);
}

/* Commits the batch, short of what handlers deferred. */
static lf_err_t commit(lf_worker_t *w, rd_kafka_message_t *const *batch,
                       size_t n, char *errstr, size_t errstr_size) {
  for (size_t i = 0; i < n; i++) {
    const rd_kafka_message_t *m = batch[i];
    if (lf_defer_handled(w, rd_kafka_topic_name(m->rkt), m->partition,
                         m->offset + 1)) {
      snprintf(errstr, errstr_size, "out of memory");
      return LF_ERR_NOMEM;
    }
  }
  lf_defer_commit(w, 0);
  return LF_OK;
}

static void rewind_batch(lf_worker_t *w, rd_kafka_message_t *const *batch,
                         size_t n) {
  rd_kafka_topic_partition_list_t *l = positions(batch, n, 1);
  if (!l)
    return;
  rd_kafka_error_t *e = rd_kafka_seek_partitions(w->consumer, l, 5000);
  if (e) {
    lf_error(w->id, "rewind: %s", rd_kafka_error_string(e));
    rd_kafka_error_destroy(e);
  }
  rd_kafka_topic_partition_list_destroy(l);
}

/* A fresh start for the outputs of n records. */
static lf_err_t begin(lf_worker_t *w, size_t n, char *errstr,
                      size_t errstr_size) {
  /* What a failed attempt left in flight settles first: its delivery
   * reports must not be counted against this one's. */
  if (w->out.outstanding > 0)
    (void)wait_delivery(w, errstr, errstr_size);
  w->out.outstanding = w->out.failed = w->out.record_faults = 0;
  errstr[0] = '\0';
  if (lf_defer_reserve(w, n)) {
    snprintf(errstr, errstr_size, "out of memory");
    return LF_ERR_NOMEM;
  }
  return LF_OK;
}

lf_err_t lf_worker_handle(lf_worker_t *w, const lf_msg_t *msgs, size_t n,
                          char *errstr, size_t errstr_size) {
  lf_err_t err = begin(w, n, errstr, errstr_size);
  if (!err)
    err = w->h->handle(w->ctx, msgs, n, &w->out, errstr, errstr_size);
  if (!err)
    err = wait_delivery(w, errstr, errstr_size);
  if (!err && w->h->delivered)
    err = w->h->delivered(w->ctx, errstr, errstr_size);
  return err;
}

/* One batch (or one record of it), start to commit. */
static lf_err_t process(lf_worker_t *w, rd_kafka_message_t *const *batch,
                        size_t n, char *errstr, size_t errstr_size) {
  lf_err_t err = begin(w, n, errstr, errstr_size);
  if (err)
    return err;
  int k = decode(w, batch, n);
  if (k > 0)
    err =
        w->h->handle(w->ctx, w->msgs, (size_t)k, &w->out, errstr, errstr_size);
  if (!err)
    err = dead_letter_undecoded(w, batch, errstr, errstr_size);
  if (!err)
    err = wait_delivery(w, errstr, errstr_size);
  /* The handler may still refer to the decoded records here. */
  if (!err && k > 0 && w->h->delivered)
    err = w->h->delivered(w->ctx, errstr, errstr_size);
  free_decoded(w, k);
  if (!err)
    err = commit(w, batch, n, errstr, errstr_size);
  return err;
}

/* A record that failed alone, for its own sake, goes to the dead-letter
 * topic with the reason, and its offset is committed. */
static lf_err_t dead_letter(lf_worker_t *w, rd_kafka_message_t *m,
                            const char *reason, char *errstr,
                            size_t errstr_size) {
  lf_msg_t msg;
  raw_msg(w, m, &msg);
  w->out.outstanding = w->out.failed = w->out.record_faults = 0;
  lf_err_t err = lf_out_dead_letter(&w->out, &msg, reason, errstr, errstr_size);
  if (!err)
    err = wait_delivery(w, errstr, errstr_size);
  if (!err)
    err = commit(w, &m, 1, errstr, errstr_size);
  return err;
}

/* A record that failed alone, for its own sake: to the dead-letter topic. */
static lf_err_t refuse(lf_worker_t *w, rd_kafka_message_t *m, char *why,
                       size_t why_size) {
  lf_worker_count(w, "records_refused", 1);
  return dead_letter(w, m, why, why, why_size);
}

/* A batch failed for a reason that is not the infrastructure's: some
 * record of it is at fault. Each record is handled alone; one that fails
 * alone for its own sake is dead-lettered, the others go through, so a bad
 * record never blocks the ones behind it. Returns the first index not
 * done (n when all are) with err set, for the caller to retry from. */
static size_t isolate(lf_worker_t *w, size_t n, lf_err_t *err, char *errstr,
                      size_t errstr_size) {
  for (size_t i = 0; i < n; i++) {
    char why[512];
    *err = process(w, &w->batch[i], 1, why, sizeof(why));
    if (*err && !lf_err_is_infra(*err))
      *err = refuse(w, w->batch[i], why, sizeof(why));
    if (*err) {
      snprintf(errstr, errstr_size, "%s", why);
      return i;
    }
  }
  return n;
}

/* A batch: all at once, record by record when a record is at fault, and
 * rewound for a retry when the infrastructure is. */
static lf_err_t run_batch(lf_worker_t *w, size_t n, char *errstr,
                          size_t errstr_size) {
  size_t from = 0;
  lf_err_t err = process(w, w->batch, n, errstr, errstr_size);
  if (err && !lf_err_is_infra(err) && n == 1) {
    err = refuse(w, w->batch[0], errstr, errstr_size);
  } else if (err && !lf_err_is_infra(err)) {
    lf_warn(w->id, "batch of %zu failed (%s): handling its records one by one",
            n, errstr);
    from = isolate(w, n, &err, errstr, errstr_size);
  }
  if (err)
    rewind_batch(w, w->batch + from, n - from);
  return err;
}

static void tick(lf_worker_t *w, int64_t *next) {
  char why[512] = "";
  if (!w->h->tick || lf_monotonic_ms() < *next)
    return;
  *next = lf_monotonic_ms() + lf_conf_get_int(w->conf, "worker.tick.ms");
  w->out.outstanding = w->out.failed = 0;
  lf_err_t err = w->h->tick(w->ctx, &w->out, why, sizeof(why));
  if (!err)
    err = wait_delivery(w, why, sizeof(why));
  if (err)
    lf_warn(w->id, "tick: %s", why);
}

/* A failure that repeats (Redis down) is logged when it starts and then
 * once every few seconds with how often it happened, not at every turn. */
#define WARN_EVERY_MS 5000

static void warn_repeated(lf_worker_t *w, const char *why) {
  int64_t now = lf_monotonic_ms();
  if (w->idle_warned && now - w->idle_warned_ms < WARN_EVERY_MS) {
    w->idle_warned++;
    return;
  }
  if (w->idle_warned > 1)
    lf_warn(w->id, "idle: %s (%d times in %lld s)", why, w->idle_warned,
            (long long)((now - w->idle_warned_ms) / 1000));
  else
    lf_warn(w->id, "idle: %s", why);
  w->idle_warned = 1;
  w->idle_warned_ms = now;
}

/* The handler's own I/O, waiting only when no records are known to be
 * waiting (after a partial batch the consumer queue is empty, so the next
 * record writes to the wake pipe). */
static void idle(lf_worker_t *w, int timeout) {
  char why[512] = "", drain[64];
  w->out.outstanding = w->out.failed = 0;
  lf_err_t err =
      w->h->idle(w->ctx, w->wake[0], timeout, &w->out, why, sizeof(why));
  while (read(w->wake[0], drain, sizeof(drain)) > 0)
    ;
  if (!err)
    err = wait_delivery(w, why, sizeof(why));
  if (err)
    warn_repeated(w, why);
  /* Completions are committed together, a few times a second. */
  if (lf_monotonic_ms() - w->last_commit_ms >= 100)
    lf_defer_commit(w, 1);
}

/* Backpressure in two steps. A short stall only stops taking records
 * (librdkafka's queue fills up to its own bound), because a resumed
 * partition waits up to a second for its broker thread to fetch again;
 * past PAUSE_HOLD_MS the partitions are paused for real, so the loop can
 * poll (heartbeats, rebalances) however long the handler's work takes. */
#define PAUSE_HOLD_MS 500

/* Whether to take records now. */
static int apply_pause(lf_worker_t *w) {
  rd_kafka_topic_partition_list_t *parts = NULL;
  int64_t now = lf_monotonic_ms();
  if (w->want_pause && !w->holding && !w->paused) {
    w->holding = 1;
    w->hold_since_ms = now;
    lf_worker_count(w, "fetch_pauses", 1);
  }
  if (!w->want_pause)
    w->holding = 0;
  int pause = w->want_pause && now - w->hold_since_ms >= PAUSE_HOLD_MS;
  if (pause == w->paused && (!pause || w->paused_epoch == w->assign_epoch))
    return !w->want_pause || w->paused;
  if (rd_kafka_assignment(w->consumer, &parts))
    return !w->want_pause;
  if (pause)
    rd_kafka_pause_partitions(w->consumer, parts);
  else
    rd_kafka_resume_partitions(w->consumer, parts);
  w->paused = pause;
  w->paused_epoch = w->assign_epoch;
  rd_kafka_topic_partition_list_destroy(parts);
  return !w->want_pause || w->paused;
}

static size_t busy(lf_worker_t *w) {
  return w->h->busy ? w->h->busy(w->ctx) : 0;
}

/* Stopping: no new records; what handlers deferred gets its time to
 * finish (worker.drain.timeout.ms) and is committed. What is left is
 * fetched again by whoever takes the partitions. */
static void drain(lf_worker_t *w) {
  int64_t until =
      lf_monotonic_ms() + lf_conf_get_int(w->conf, "worker.drain.timeout.ms");
  w->want_pause = 1;
  while (w->h->idle && (lf_worker_deferred(w) || busy(w)) &&
         lf_monotonic_ms() < until) {
    idle(w, 50);
    rd_kafka_poll(w->producer, 0);
  }
  if (lf_worker_deferred(w) || busy(w))
    lf_warn(w->id,
            "stopping with %zu record(s) and %zu call(s) unfinished: they "
            "will be handled again",
            lf_worker_deferred(w), busy(w));
  lf_defer_commit(w, 0);
}

/* How long records waited in Kafka before this worker took them: the hop
 * latency a goal pays at every stage. */
static void observe_age(lf_worker_t *w, size_t n) {
  int64_t now = lf_now_ms();
  for (size_t i = 0; i < n; i++) {
    rd_kafka_timestamp_type_t type;
    int64_t ts = rd_kafka_message_timestamp(w->batch[i], &type);
    if (ts > 0 && now >= ts)
      lf_worker_observe(w, "record_wait_seconds", (double)(now - ts) / 1000.0,
                        1);
  }
}

static void backoff(lf_worker_t *w, int64_t ms) {
  int64_t until = lf_monotonic_ms() + ms;
  while (!atomic_load(&w->stop) && lf_monotonic_ms() < until)
    lf_sleep_ms(20);
}

lf_err_t lf_worker_run(lf_worker_t *w, char *errstr, size_t errstr_size) {
  lf_err_t err = subscribe(w, errstr, errstr_size);
  if (err)
    return err;
  lf_info(w->id, "consuming as group %s",
          lf_conf_get(w->conf, w->h->group_key));
  int64_t base = lf_conf_get_int(w->conf, "worker.retry.backoff.ms");
  int64_t max = lf_conf_get_int(w->conf, "worker.retry.backoff.max.ms");
  int64_t wait = base, next_tick = 0;
  int timeout = (int)lf_conf_get_int(w->conf, "worker.poll.timeout.ms");
  size_t n = 0;
  while (!atomic_load(&w->stop)) {
    tick(w, &next_tick);
    if (w->h->idle)
      idle(w, n ? 0 : timeout);
    n = apply_pause(w) ? fetch(w, w->h->idle ? 0 : timeout) : 0;
    rd_kafka_poll(w->producer, 0);
    if (!n)
      continue;
    lf_worker_count(w, "records_consumed", n);
    lf_worker_count(w, "batches", 1);
    observe_age(w, n);
    char why[512];
    int64_t t0 = lf_monotonic_ms();
    if ((err = run_batch(w, n, why, sizeof(why)))) {
      lf_error(w->id, "batch of %zu not committed, retrying in %lld ms: %s", n,
               (long long)wait, why);
      lf_worker_count(w, "batches_failed", 1);
      backoff(w, wait);
      wait = wait * 2 > max ? max : wait * 2;
    } else {
      wait = base;
      lf_worker_observe(w, "handling_seconds",
                        (double)(lf_monotonic_ms() - t0) / 1000.0, n);
    }
    for (size_t i = 0; i < n; i++)
      rd_kafka_message_destroy(w->batch[i]);
  }
  drain(w);
  lf_info(w->id, "stopping: leaving the group");
  rd_kafka_flush(w->producer, 5000);
  rd_kafka_resp_err_t kerr = rd_kafka_consumer_close(w->consumer);
  if (kerr)
    lf_warn(w->id, "consumer close: %s", rd_kafka_err2str(kerr));
  return LF_OK;
}
