/* A batch from fetch to commit: decode, handle, wait for delivery, commit;
 * a record at fault handled alone and dead-lettered; a batch the
 * infrastructure failed rewound for a retry. A handler that allows it
 * (lf_handler_t.overlap) has its batch left in flight, acknowledgements
 * and commit still to come, while the loop handles the next one. */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kafka.h"
#include "log.h"
#include "util.h"
#include "worker.h"

#include "worker_impl.h"

lf_err_t lf_batch_init(lf_worker_t *w, lf_batch_t *b) {
  b->out.w = w;
  b->recs = calloc(w->batch_size, sizeof(*b->recs));
  b->msgs = calloc(w->batch_size, sizeof(*b->msgs));
  b->undecoded = calloc(w->batch_size, sizeof(*b->undecoded));
  return b->recs && b->msgs && b->undecoded ? LF_OK : LF_ERR_NOMEM;
}

void lf_batch_free(lf_batch_t *b) {
  for (size_t i = 0; b->recs && i < b->n; i++)
    rd_kafka_message_destroy(b->recs[i]);
  free(b->recs);
  free(b->msgs);
  free(b->undecoded);
}

/* The batch's records are done with (committed, rewound or handed over). */
static void release(lf_batch_t *b) {
  for (size_t i = 0; i < b->n; i++)
    rd_kafka_message_destroy(b->recs[i]);
  b->n = 0;
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

static void raw_msg(const rd_kafka_message_t *m, lf_msg_t *msg) {
  memset(msg, 0, sizeof(*msg));
  msg->topic_name = rd_kafka_topic_name(m->rkt);
  msg->partition = m->partition;
  msg->offset = m->offset;
  msg->key = m->key;
  msg->key_len = m->key_len;
  msg->value = m->payload;
  msg->len = m->len;
  header(m, LF_HDR_TRACEPARENT, &msg->traceparent, &msg->traceparent_len);
}

/* Decodes recs into b->msgs; what cannot be decoded is left out, noted in
 * b->undecoded with the reason. Sets b->k, the count decoded. */
static void decode(lf_worker_t *w, lf_batch_t *b,
                   rd_kafka_message_t *const *recs, size_t n) {
  b->k = 0;
  b->nundecoded = 0;
  for (size_t i = 0; i < n; i++) {
    lf_msg_t *msg = &b->msgs[b->k];
    char *why = b->undecoded[b->nundecoded].why;
    size_t why_size = sizeof(b->undecoded[0].why);
    raw_msg(recs[i], msg);
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
      b->undecoded[b->nundecoded++].index = i;
      continue;
    }
    msg->topic = (lf_topic_t)kind;
    msg->pb = pb;
    b->k++;
  }
}

/* The records that did not decode, to the dead-letter topic. */
static lf_err_t dead_letter_undecoded(lf_batch_t *b,
                                      rd_kafka_message_t *const *recs,
                                      char *errstr, size_t errstr_size) {
  for (size_t i = 0; i < b->nundecoded; i++) {
    lf_msg_t msg;
    raw_msg(recs[b->undecoded[i].index], &msg);
    lf_err_t err = lf_out_dead_letter(&b->out, &msg, b->undecoded[i].why,
                                      errstr, errstr_size);
    if (err)
      return err;
  }
  return LF_OK;
}

static void free_decoded(lf_batch_t *b) {
  for (int i = 0; i < b->k; i++) {
    lf_proto_free((ProtobufCMessage *)b->msgs[i].pb);
    b->msgs[i].pb = NULL;
  }
  b->k = 0;
}

/* Adds, per partition of recs not yet in l, its first offset (rewind) or
 * the offset after its last record (commit). */
static void positions(rd_kafka_topic_partition_list_t *l,
                      rd_kafka_message_t *const *recs, size_t n, int first) {
  for (size_t i = 0; i < n; i++) {
    const rd_kafka_message_t *m = recs[i];
    const char *t = rd_kafka_topic_name(m->rkt);
    rd_kafka_topic_partition_t *p =
        rd_kafka_topic_partition_list_find(l, t, m->partition);
    if (!p)
      (p = rd_kafka_topic_partition_list_add(l, t, m->partition))->offset =
          first ? m->offset : m->offset + 1;
    else if (!first && m->offset + 1 > p->offset)
      p->offset = m->offset + 1;
  }
}

lf_err_t lf_batch_wait(lf_worker_t *w, lf_out_t *out, char *errstr,
                       size_t errstr_size) {
  int64_t deadline =
      lf_monotonic_ms() + lf_conf_get_int(w->conf, "worker.flush.timeout.ms");
  /* Polled, not flushed: rd_kafka_flush() waits in 10 ms steps, which
   * was most of a guard batch's time (kafka.linger.ms sends them). */
  int warned = 0;
  while (out->outstanding > 0 && lf_monotonic_ms() < deadline) {
    char why[512];
    rd_kafka_poll(w->producer, 1);
    /* the handler's own failure is not the batch's: the wait goes on
     * (said once a wait) */
    if (w->h->pump && out->outstanding > 0 &&
        w->h->pump(w->ctx, why, sizeof(why)) && !warned++)
      lf_warn(w->id, "while waiting for the brokers: %s", why);
  }
  if (out->failed) {
    snprintf(errstr, errstr_size, "%d record(s) not delivered, first: %s",
             out->failed, out->first_error);
    /* refused for what they are, not for where they went: no retry helps */
    return out->failed == out->record_faults ? LF_ERR_RECORD : LF_ERR_KAFKA;
  }
  if (out->outstanding > 0) {
    snprintf(errstr, errstr_size, "%d record(s) not acknowledged in time",
             out->outstanding);
    return LF_ERR_TIMEOUT;
  }
  return LF_OK;
}

lf_err_t lf_out_wait(lf_out_t *out, char *errstr, size_t errstr_size) {
  return lf_batch_wait(out->w, out, errstr, errstr_size);
}

/* Commits the records, short of what handlers deferred. */
static lf_err_t commit(lf_worker_t *w, rd_kafka_message_t *const *recs,
                       size_t n, char *errstr, size_t errstr_size) {
  for (size_t i = 0; i < n; i++) {
    const rd_kafka_message_t *m = recs[i];
    if (lf_defer_handled(w, rd_kafka_topic_name(m->rkt), m->partition,
                         m->offset + 1)) {
      snprintf(errstr, errstr_size, "out of memory");
      return LF_ERR_NOMEM;
    }
  }
  lf_defer_commit(w, 0);
  return LF_OK;
}

/* Back to the first record of each partition of a (and then of b, for
 * the partitions a does not have): fetched again for the retry. */
static void rewind_to(lf_worker_t *w, rd_kafka_message_t *const *a, size_t na,
                      rd_kafka_message_t *const *b, size_t nb) {
  rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(8);
  if (!l)
    return;
  positions(l, a, na, 1);
  positions(l, b, nb, 1);
  rd_kafka_error_t *e = rd_kafka_seek_partitions(w->consumer, l, 5000);
  if (e) {
    lf_error(w->id, "rewind: %s", rd_kafka_error_string(e));
    rd_kafka_error_destroy(e);
  }
  rd_kafka_topic_partition_list_destroy(l);
}

/* A fresh start for the outputs of n records. */
static lf_err_t begin(lf_worker_t *w, lf_out_t *out, size_t n, char *errstr,
                      size_t errstr_size) {
  /* What a failed attempt left in flight settles first: its delivery
   * reports must not be counted against this one's. */
  if (out->outstanding > 0)
    (void)lf_batch_wait(w, out, errstr, errstr_size);
  out->outstanding = out->failed = out->record_faults = 0;
  errstr[0] = '\0';
  if (lf_defer_reserve(w, n)) {
    snprintf(errstr, errstr_size, "out of memory");
    return LF_ERR_NOMEM;
  }
  return LF_OK;
}

lf_err_t lf_worker_handle(lf_worker_t *w, const lf_msg_t *msgs, size_t n,
                          char *errstr, size_t errstr_size) {
  lf_err_t err = begin(w, &w->out, n, errstr, errstr_size);
  if (!err)
    err = w->h->handle(w->ctx, msgs, n, &w->out, errstr, errstr_size);
  if (!err)
    err = lf_batch_wait(w, &w->out, errstr, errstr_size);
  if (!err && w->h->delivered)
    err = w->h->delivered(w->ctx, errstr, errstr_size);
  return err;
}

/* Decodes and handles recs in b: their outputs are produced, not yet
 * acknowledged. On failure nothing decoded is left. */
static lf_err_t front(lf_worker_t *w, lf_batch_t *b,
                      rd_kafka_message_t *const *recs, size_t n, char *errstr,
                      size_t errstr_size) {
  lf_err_t err = begin(w, &b->out, n, errstr, errstr_size);
  if (err)
    return err;
  decode(w, b, recs, n);
  if (b->k > 0)
    err = w->h->handle(w->ctx, b->msgs, (size_t)b->k, &b->out, errstr,
                       errstr_size);
  if (!err)
    err = dead_letter_undecoded(b, recs, errstr, errstr_size);
  if (err)
    free_decoded(b);
  return err;
}

/* Waits for b's outputs, tells the handler (unless it said it need not be
 * told: an overlapped batch) and commits recs. */
static lf_err_t settle(lf_worker_t *w, lf_batch_t *b,
                       rd_kafka_message_t *const *recs, size_t n, int tell,
                       char *errstr, size_t errstr_size) {
  lf_err_t err = lf_batch_wait(w, &b->out, errstr, errstr_size);
  /* The handler may still refer to the decoded records here. */
  if (!err && tell && b->k > 0 && w->h->delivered)
    err = w->h->delivered(w->ctx, errstr, errstr_size);
  free_decoded(b);
  if (!err)
    err = commit(w, recs, n, errstr, errstr_size);
  return err;
}

/* One batch (or one record of it), start to commit, in b. */
static lf_err_t process(lf_worker_t *w, lf_batch_t *b,
                        rd_kafka_message_t *const *recs, size_t n, char *errstr,
                        size_t errstr_size) {
  lf_err_t err = front(w, b, recs, n, errstr, errstr_size);
  return err ? err : settle(w, b, recs, n, 1, errstr, errstr_size);
}

/* A record that failed alone, for its own sake, goes to the dead-letter
 * topic with the reason, and its offset is committed. */
static lf_err_t refuse(lf_worker_t *w, lf_batch_t *s, rd_kafka_message_t *m,
                       char *why, size_t why_size) {
  lf_msg_t msg;
  char ignored[512]; /* why is the reason, kept */
  lf_worker_count(w, "records_refused", 1);
  raw_msg(m, &msg);
  lf_err_t err = begin(w, &s->out, 1, ignored, sizeof(ignored));
  if (err)
    snprintf(why, why_size, "%s", ignored);
  if (!err)
    err = lf_out_dead_letter(&s->out, &msg, why, why, why_size);
  if (!err)
    err = lf_batch_wait(w, &s->out, why, why_size);
  if (!err)
    err = commit(w, &m, 1, why, why_size);
  return err;
}

/* A batch failed for a reason that is not the infrastructure's: some
 * record of it is at fault. Each record is handled alone (in s); one that
 * fails alone for its own sake is dead-lettered, the others go through,
 * so a bad record never blocks the ones behind it. Returns the first
 * index not done (n when all are) with err set, for the caller to retry
 * from. */
static size_t isolate(lf_worker_t *w, lf_batch_t *b, lf_batch_t *s,
                      lf_err_t *err, char *errstr, size_t errstr_size) {
  for (size_t i = 0; i < b->n; i++) {
    char why[512];
    *err = process(w, s, &b->recs[i], 1, why, sizeof(why));
    if (*err && !lf_err_is_infra(*err))
      *err = refuse(w, s, b->recs[i], why, sizeof(why));
    if (*err) {
      snprintf(errstr, errstr_size, "%s", why);
      return i;
    }
  }
  return b->n;
}

/* b failed with err: record by record when a record is at fault, and
 * rewound for a retry when the infrastructure is. */
static lf_err_t recover(lf_worker_t *w, lf_batch_t *b, lf_err_t err,
                        char *errstr, size_t errstr_size) {
  lf_batch_t *s = b == &w->slots[0] ? &w->slots[1] : &w->slots[0];
  size_t from = 0;
  if (!lf_err_is_infra(err) && b->n == 1) {
    err = refuse(w, s, b->recs[0], errstr, errstr_size);
  } else if (!lf_err_is_infra(err)) {
    lf_warn(w->id, "batch of %zu failed (%s): handling its records one by one",
            b->n, errstr);
    from = isolate(w, b, s, &err, errstr, errstr_size);
  }
  if (err)
    rewind_to(w, b->recs + from, b->n - from, NULL, 0);
  return err;
}

/* The batch in flight failed after the one in b was handled on its
 * account: both are fetched again, the next time without overlap. */
static void fail_both(lf_worker_t *w, lf_batch_t *p, lf_batch_t *b,
                      lf_err_t b_err) {
  char ignored[512];
  if (!b_err) {
    (void)lf_batch_wait(w, &b->out, ignored, sizeof(ignored));
    free_decoded(b);
  }
  rewind_to(w, p->recs, p->n, b->recs, b->n);
  w->serial = 1;
  w->failed_n = p->n + b->n;
  release(p);
  release(b);
}

lf_err_t lf_batch_run(lf_worker_t *w, lf_batch_t *b, char *errstr,
                      size_t errstr_size) {
  lf_err_t err = front(w, b, b->recs, b->n, errstr, errstr_size);
  lf_batch_t *p = w->inflight;
  w->failed_n = b->n;
  if (p) {
    w->inflight = NULL;
    lf_err_t perr = settle(w, p, p->recs, p->n, 0, errstr, errstr_size);
    if (perr) {
      fail_both(w, p, b, err);
      return perr;
    }
    release(p);
  }
  if (!err && !w->serial && w->h->overlap && w->h->overlap(w->ctx)) {
    lf_worker_count(w, "batches_overlapped", 1);
    w->inflight = b;
    return LF_OK;
  }
  if (!err)
    err = settle(w, b, b->recs, b->n, 1, errstr, errstr_size);
  if (err)
    err = recover(w, b, err, errstr, errstr_size);
  if (!err)
    w->serial = 0;
  release(b);
  return err;
}

lf_err_t lf_batch_settle_inflight(lf_worker_t *w, int retry, char *errstr,
                                  size_t errstr_size) {
  lf_batch_t *p = w->inflight;
  if (!p)
    return LF_OK;
  w->inflight = NULL;
  w->failed_n = p->n;
  lf_err_t err = settle(w, p, p->recs, p->n, 0, errstr, errstr_size);
  if (err && retry)
    err = recover(w, p, err, errstr, errstr_size);
  release(p);
  return err;
}
