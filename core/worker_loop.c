/* The worker loop: fetch a batch and hand it on (worker_batch.c), with
 * ticks, the handler's idle work, backpressure and stopping around it. */
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
static size_t fetch(lf_worker_t *w, lf_batch_t *b, int timeout) {
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
    b->recs[n++] = m;
  }
  return n;
}

static void tick(lf_worker_t *w, int64_t *next) {
  char why[512] = "";
  if (!w->h->tick || lf_monotonic_ms() < *next)
    return;
  *next = lf_monotonic_ms() + lf_conf_get_int(w->conf, "worker.tick.ms");
  w->out.outstanding = w->out.failed = w->out.record_faults = 0;
  lf_err_t err = w->h->tick(w->ctx, &w->out, why, sizeof(why));
  if (!err)
    err = lf_batch_wait(w, &w->out, why, sizeof(why));
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
    err = lf_batch_wait(w, &w->out, why, sizeof(why));
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
static void observe_age(lf_worker_t *w, const lf_batch_t *b) {
  int64_t now = lf_now_ms();
  for (size_t i = 0; i < b->n; i++) {
    rd_kafka_timestamp_type_t type;
    int64_t ts = rd_kafka_message_timestamp(b->recs[i], &type);
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

/* A batch (or two, see lf_batch_run) not committed: retried after a
 * backoff that doubles up to worker.retry.backoff.max.ms. */
static void failed(lf_worker_t *w, int64_t *wait, const char *why) {
  int64_t max = lf_conf_get_int(w->conf, "worker.retry.backoff.max.ms");
  lf_error(w->id, "batch of %zu not committed, retrying in %lld ms: %s",
           w->failed_n, (long long)*wait, why);
  lf_worker_count(w, "batches_failed", 1);
  backoff(w, *wait);
  *wait = *wait * 2 > max ? max : *wait * 2;
}

lf_err_t lf_worker_run(lf_worker_t *w, char *errstr, size_t errstr_size) {
  lf_err_t err = subscribe(w, errstr, errstr_size);
  if (err)
    return err;
  lf_info(w->id, "consuming as group %s",
          lf_conf_get(w->conf, w->h->group_key));
  int64_t base = lf_conf_get_int(w->conf, "worker.retry.backoff.ms");
  int64_t wait = base, next_tick = 0;
  int timeout = (int)lf_conf_get_int(w->conf, "worker.poll.timeout.ms");
  size_t n = 0;
  char why[512];
  while (!atomic_load(&w->stop)) {
    tick(w, &next_tick);
    if (w->h->idle)
      idle(w, n ? 0 : timeout);
    /* the slot not in flight; a batch in flight only waits for records
     * already fetched, or is settled at once */
    lf_batch_t *b = w->inflight == &w->slots[0] ? &w->slots[1] : &w->slots[0];
    int wait_ms = w->h->idle || w->inflight ? 0 : timeout;
    b->n = n = apply_pause(w) ? fetch(w, b, wait_ms) : 0;
    rd_kafka_poll(w->producer, 0);
    if (!n) {
      if (lf_batch_settle_inflight(w, 1, why, sizeof(why)))
        failed(w, &wait, why);
      continue;
    }
    lf_worker_count(w, "records_consumed", n);
    lf_worker_count(w, "batches", 1);
    observe_age(w, b);
    int64_t t0 = lf_monotonic_ms();
    if (lf_batch_run(w, b, why, sizeof(why))) {
      failed(w, &wait, why);
    } else {
      wait = base;
      lf_worker_observe(w, "handling_seconds",
                        (double)(lf_monotonic_ms() - t0) / 1000.0, n);
    }
  }
  if (lf_batch_settle_inflight(w, 1, why, sizeof(why)))
    lf_warn(w->id,
            "stopping: %zu record(s) not committed, they will be "
            "handled again: %s",
            w->failed_n, why);
  drain(w);
  lf_info(w->id, "stopping: leaving the group");
  rd_kafka_flush(w->producer, 5000);
  rd_kafka_resp_err_t kerr = rd_kafka_consumer_close(w->consumer);
  if (kerr)
    lf_warn(w->id, "consumer close: %s", rd_kafka_err2str(kerr));
  return LF_OK;
}
