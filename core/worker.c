#include "worker.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kafka.h"
#include "lf_text.h"
#include "log.h"
#include "util.h"

#include "worker_impl.h"

static atomic_int worker_seq;

static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque) {
  lf_out_t *out = m->_private;
  if (!out)
    return;
  out->outstanding--;
  if (m->err) {
    out->record_faults += lf_kafka_err_is_record(m->err);
    if (!out->failed++)
      snprintf(out->first_error, sizeof(out->first_error), "delivery to %s: %s",
               rd_kafka_topic_name(m->rkt), rd_kafka_err2str(m->err));
  } else {
    int t = lf_worker_topic_index(out->w, rd_kafka_topic_name(m->rkt));
    lf_worker_count(out->w, "records_produced", 1);
    if (t >= 0)
      atomic_fetch_add(&out->w->produced[t], 1);
  }
}

/* Learn the output topics' leaders before the first record needs them. A
 * topic that cannot be described yet is only a slower first record; after
 * one failure (brokers unreachable, most likely) the rest are not tried. */
static void warm_producer(lf_worker_t *w) {
  char errstr[512];
  for (int t = 0; t < LF_TOPIC__CNT; t++)
    if (t != LF_TOPIC_GOALS &&
        lf_kafka_topic_warm(w->producer, w->topics[t], 5000, errstr,
                            sizeof(errstr))) {
      lf_warn(w->id, "%s", errstr);
      return;
    }
}
/* Handlers that wait on their own I/O need to wake up when records arrive:
 * librdkafka writes to a pipe when the consumer queue becomes non-empty. */
/* Metrics show members leaving and joining: a worker that stops polling
 * for too long is one. */
static void on_rebalance(void *arg, int assigned, int partitions) {
  lf_worker_t *w = arg;
  (void)partitions;
  lf_worker_count(w, assigned ? "rebalances_assigned" : "rebalances_revoked",
                  1);
  if (!assigned) {
    char why[512];
    /* committed while the partitions are still ours */
    if (lf_batch_settle_inflight(w, 0, why, sizeof(why)))
      lf_warn(w->id,
              "revoked with %zu record(s) not committed, the next "
              "owner handles them: %s",
              w->failed_n, why);
    lf_defer_forget(w);
  } else
    w->assign_epoch++;
}

static lf_err_t wake_setup(lf_worker_t *w, char *errstr, size_t errstr_size) {
  if (pipe(w->wake) || fcntl(w->wake[0], F_SETFL, O_NONBLOCK) ||
      fcntl(w->wake[1], F_SETFL, O_NONBLOCK)) {
    snprintf(errstr, errstr_size, "pipe: %s", strerror(errno));
    return LF_ERR_IO;
  }
  if (!(w->queue = rd_kafka_queue_get_consumer(w->consumer))) {
    snprintf(errstr, errstr_size, "no consumer queue");
    return LF_ERR_KAFKA;
  }
  rd_kafka_queue_io_event_enable(w->queue, w->wake[1], "1", 1);
  return LF_OK;
}

lf_worker_t *lf_worker_new(const lf_conf_t *conf, const lf_handler_t *h,
                           char *errstr, size_t errstr_size) {
  lf_worker_t *w = calloc(1, sizeof(*w));
  if (!w || !(w->conf = lf_conf_dup(conf))) {
    snprintf(errstr, errstr_size, "out of memory");
    free(w);
    return NULL;
  }
  w->h = h;
  w->out.w = w;
  w->wake[0] = w->wake[1] = -1;
  pthread_mutex_init(&w->counters_lock, NULL);
  pthread_mutex_init(&w->lag_lock, NULL);
  const char *id = lf_conf_get(conf, "worker.id");
  if (*id) {
    snprintf(w->id, sizeof(w->id), "%s", id);
  } else {
    char host[64] = "localhost";
    gethostname(host, sizeof(host) - 1);
    snprintf(w->id, sizeof(w->id), "%s-%s-%d-%d", h->kind, host, (int)getpid(),
             atomic_fetch_add(&worker_seq, 1));
  }
  for (int t = 0; t < LF_TOPIC__CNT; t++)
    lf_kafka_topic_name(conf, (lf_topic_t)t, w->topics[t],
                        sizeof(w->topics[t]));
  w->batch_size = (size_t)lf_conf_get_int(conf, "worker.batch.size");
  if (lf_batch_init(w, &w->slots[0]) || lf_batch_init(w, &w->slots[1])) {
    snprintf(errstr, errstr_size, "out of memory");
    goto fail;
  }
  /* The handler's own configuration errors come first, alone: before the
   * clients start reporting on the brokers. */
  if (lf_kafka_conf_check(conf, errstr, errstr_size) ||
      h->init(w, &w->ctx, errstr, errstr_size))
    goto fail;
  w->watch = (lf_kafka_watch_t){on_rebalance, lf_worker_on_stats, w};
  w->consumer =
      lf_kafka_consumer_new_watched(conf, lf_conf_get(conf, h->group_key),
                                    w->id, &w->watch, errstr, errstr_size);
  if (w->consumer && !(w->commit_q = rd_kafka_queue_new(w->consumer))) {
    snprintf(errstr, errstr_size, "out of memory");
    goto fail;
  }
  if (!w->consumer || (h->idle && wake_setup(w, errstr, errstr_size)))
    goto fail;
  w->producer = lf_kafka_producer_new(conf, w->id, dr_cb, errstr, errstr_size);
  if (!w->producer)
    goto fail;
  w->max_record = lf_kafka_max_record(w->producer);
  warm_producer(w);
  return w;
fail:
  lf_worker_destroy(w);
  return NULL;
}

void lf_worker_destroy(lf_worker_t *w) {
  if (!w)
    return;
  if (w->ctx && w->h->close)
    w->h->close(w->ctx);
  if (w->queue) {
    rd_kafka_queue_io_event_enable(w->queue, -1, NULL, 0);
    rd_kafka_queue_destroy(w->queue);
  }
  lf_defer_close(w);
  lf_batch_free(&w->slots[0]); /* records first: they hold the consumer */
  lf_batch_free(&w->slots[1]);
  if (w->consumer)
    rd_kafka_destroy(w->consumer);
  for (int i = 0; i < 2; i++)
    if (w->wake[i] >= 0)
      close(w->wake[i]);
  if (w->producer) {
    rd_kafka_flush(w->producer, 5000);
    rd_kafka_destroy(w->producer);
  }
  pthread_mutex_destroy(&w->counters_lock);
  pthread_mutex_destroy(&w->lag_lock);
  lf_conf_destroy(w->conf);
  lf_defer_free(w);
  free(w);
}

void lf_worker_stop(lf_worker_t *w) {
  atomic_store(&w->stop, 1);
  if (w->wake[1] >= 0) /* a handler waiting in idle() returns at once */
    (void)!write(w->wake[1], "s", 1);
}

void lf_worker_pause(lf_worker_t *w, int paused) {
  w->want_pause = paused;
}
int lf_worker_assigned(const lf_worker_t *w) {
  rd_kafka_topic_partition_list_t *parts = NULL;
  if (rd_kafka_assignment(w->consumer, &parts))
    return 0;
  int n = parts->cnt;
  rd_kafka_topic_partition_list_destroy(parts);
  return n;
}

const lf_conf_t *lf_worker_conf(const lf_worker_t *w) {
  return w->conf;
}
const char *lf_worker_id(const lf_worker_t *w) {
  return w->id;
}
const char *lf_worker_kind(const lf_worker_t *w) {
  return w->h->kind;
}
const char *lf_worker_topic(const lf_worker_t *w, lf_topic_t t) {
  return w->topics[t];
}

void lf_worker_count(lf_worker_t *w, const char *name, uint64_t n) {
  counter_t *c = lf_worker_entry(w, w->counters, sizeof(*c), &w->ncounters,
                                 MAX_COUNTERS, name);
  if (c)
    atomic_fetch_add(&c->value, n);
}

uint64_t lf_worker_counter(const lf_worker_t *w, const char *name) {
  const counter_t *c =
      lf_worker_find(w->counters, sizeof(*c), &w->ncounters, name);
  return c ? atomic_load(&c->value) : 0;
}

lf_err_t lf_out_produce(lf_out_t *out, const lf_msg_t *cause, lf_topic_t topic,
                        const char *key, const ProtobufCMessage *m,
                        char *errstr, size_t errstr_size) {
  lf_worker_t *w = out->w;
  lf_err_t err = lf_kafka_produce(
      w->producer, w->topics[topic], key, m, cause ? cause->traceparent : NULL,
      cause ? cause->traceparent_len : 0, out, errstr, errstr_size);
  if (!err)
    out->outstanding++;
  return err;
}

lf_err_t lf_out_produce_bytes(lf_out_t *out, const lf_msg_t *cause,
                              lf_topic_t topic, const char *key, uint8_t *buf,
                              size_t len, char *errstr, size_t errstr_size) {
  lf_worker_t *w = out->w;
  lf_err_t err = lf_kafka_produce_bytes(
      w->producer, w->topics[topic], key, buf, len,
      lf_proto_topic_descriptor(topic)->name, cause ? cause->traceparent : NULL,
      cause ? cause->traceparent_len : 0, out, errstr, errstr_size);
  if (!err)
    out->outstanding++;
  return err;
}

/* What a dead letter keeps of the reason and of the key, and the room
 * left for its envelope (topic, worker, numbers, headers). */
#define DL_REASON_MAX 4096
#define DL_KEY_MAX 4096
#define DL_ENVELOPE 8192

lf_err_t lf_out_dead_letter(lf_out_t *out, const lf_msg_t *msg,
                            const char *reason, char *errstr,
                            size_t errstr_size) {
  lf_worker_t *w = out->w;
  lf_dead_letter_t dl = LF_DEAD_LETTER_INIT;
  char why[DL_REASON_MAX], key[DL_KEY_MAX], hash[LF_SHA256_HEX_LEN + 1];
  size_t klen = msg->key_len < sizeof(key) - 1 ? msg->key_len : sizeof(key) - 1;
  /* The reason may quote the record: valid UTF-8, printable, bounded. */
  lf_text_clean(why, sizeof(why), reason, strlen(reason));
  lf_text_clean(key, sizeof(key), msg->key ? msg->key : "", klen);
  size_t room =
      w->max_record > 2 * DL_ENVELOPE + DL_REASON_MAX + 2 * DL_KEY_MAX
          ? w->max_record - 2 * DL_ENVELOPE - DL_REASON_MAX - 2 * DL_KEY_MAX
          : 0;
  lf_sha256_hex(msg->value, msg->len, hash);
  dl.source_topic = (char *)msg->topic_name;
  dl.partition = msg->partition;
  dl.offset = msg->offset;
  dl.error = why;
  dl.original.data = (uint8_t *)msg->value;
  dl.original.len = msg->len < room ? msg->len : room;
  dl.original_size = msg->len;
  dl.original_sha256 = hash;
  dl.original_truncated = dl.original.len < msg->len;
  dl.original_key.data = (uint8_t *)msg->key;
  dl.original_key.len = msg->key_len < DL_KEY_MAX ? msg->key_len : DL_KEY_MAX;
  dl.worker = w->id;
  dl.failed_at_ms = lf_now_ms();
  lf_warn(w->id, "dead letter from %s [%d] @%lld (%zu bytes%s): %s",
          msg->topic_name, (int)msg->partition, (long long)msg->offset,
          msg->len, dl.original_truncated ? ", kept truncated" : "", why);
  lf_worker_count(w, "dead_letters", 1);
  return lf_out_produce(out, msg, LF_TOPIC_DLQ, klen ? key : NULL, &dl.base,
                        errstr, errstr_size);
}

size_t lf_worker_max_record(const lf_worker_t *w) {
  return w->max_record;
}
