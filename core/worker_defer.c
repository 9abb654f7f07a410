/* Out-of-order completion: a handler may defer a record (its work goes on
 * after the batch, e.g. an HTTP call) and complete it later. A partition
 * is committed only up to its first deferred record, so whatever has not
 * finished is fetched again after a crash or a rebalance; handlers
 * recognise work they still have in flight and defer the record again. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "util.h"
#include "worker_impl.h"

lf_err_t lf_defer_reserve(lf_worker_t *w, size_t n) {
  deferred_t *p = lf_grow(w->pend, &w->pend_cap, w->npend + n, sizeof(*p));
  if (!p)
    return LF_ERR_NOMEM;
  w->pend = p;
  return LF_OK;
}

static part_t *find_part(lf_worker_t *w, const char *topic, int32_t partition) {
  for (size_t i = 0; i < w->nparts; i++)
    if (w->parts[i].partition == partition && !strcmp(w->parts[i].topic, topic))
      return &w->parts[i];
  return NULL;
}

/* The worker's own copy of a topic name: it outlives the records. */
static const char *own_topic(const lf_worker_t *w, const char *topic) {
  for (int i = 0; i < LF_TOPIC__CNT; i++)
    if (!strcmp(w->topics[i], topic))
      return w->topics[i];
  return NULL;
}

lf_err_t lf_defer_handled(lf_worker_t *w, const char *topic, int32_t partition,
                          int64_t next) {
  part_t *p = find_part(w, topic, partition);
  if (!p) {
    if (!(topic = own_topic(w, topic)))
      return LF_OK; /* not a fleet topic: nothing of ours to hold back */
    part_t *grown =
        lf_grow(w->parts, &w->parts_cap, w->nparts + 1, sizeof(*grown));
    if (!grown)
      return LF_ERR_NOMEM;
    w->parts = grown;
    p = &w->parts[w->nparts++];
    *p = (part_t){topic, partition, next, -1};
  }
  if (next > p->next)
    p->next = next;
  return LF_OK;
}

uint64_t lf_out_defer(lf_out_t *out, const lf_msg_t *msg) {
  lf_worker_t *w = out->w;
  const char *topic = own_topic(w, msg->topic_name);
  if (!topic || w->npend == w->pend_cap) /* reserved before handle() */
    return 0;
  w->pend[w->npend] =
      (deferred_t){++w->pend_ids, topic, msg->partition, msg->offset};
  w->npend++;
  return w->pend_ids;
}

void lf_worker_complete(lf_worker_t *w, uint64_t id) {
  for (size_t i = 0; i < w->npend; i++)
    if (w->pend[i].id == id) {
      w->pend[i] = w->pend[--w->npend];
      return;
    }
}

size_t lf_worker_deferred(const lf_worker_t *w) {
  return w->npend;
}

static int64_t commit_point(const lf_worker_t *w, const part_t *p) {
  int64_t at = p->next;
  for (size_t i = 0; i < w->npend; i++)
    if (w->pend[i].partition == p->partition && w->pend[i].topic == p->topic &&
        w->pend[i].offset < at)
      at = w->pend[i].offset;
  return at;
}

/* The result of a synchronous commit, served from w->commit_q. */
static void on_committed(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *offsets,
                         void *opaque) {
  lf_worker_t *w = opaque;
  (void)rk;
  w->commits_pending--;
  if (err) { /* the outputs are out; a new owner's redelivery is absorbed */
    lf_warn(w->id, "commit: %s", rd_kafka_err2str(err));
    return;
  }
  for (int k = 0; offsets && k < offsets->cnt; k++) {
    const rd_kafka_topic_partition_t *e = &offsets->elems[k];
    part_t *p = e->err ? NULL : find_part(w, e->topic, e->partition);
    if (p && e->offset > p->committed)
      p->committed = e->offset;
  }
}

/* Waits for the synchronous commits' results (at most
 * worker.flush.timeout.ms), pumping the handler's own I/O meanwhile: a
 * coordinator that is away for seconds must not turn the answers to calls
 * in flight into timeouts. A result that comes later is taken then. */
static void await_commits(lf_worker_t *w) {
  char why[512];
  int64_t until =
      lf_monotonic_ms() + lf_conf_get_int(w->conf, "worker.flush.timeout.ms");
  int warned = 0;
  while (w->commits_pending > 0 && lf_monotonic_ms() < until) {
    rd_kafka_queue_poll_callback(w->commit_q, w->h->pump ? 10 : 100);
    if (w->h->pump && w->h->pump(w->ctx, why, sizeof(why)) && !warned++)
      lf_warn(w->id, "while committing: %s", why);
  }
  if (w->commits_pending > 0)
    lf_warn(w->id, "commit not answered within worker.flush.timeout.ms");
}

void lf_defer_commit(lf_worker_t *w, int async) {
  rd_kafka_topic_partition_list_t *l = NULL;
  for (size_t i = 0; i < w->nparts; i++) {
    int64_t at = commit_point(w, &w->parts[i]);
    if (at <= w->parts[i].committed)
      continue;
    if (!l && !(l = rd_kafka_topic_partition_list_new((int)w->nparts)))
      return; /* the next commit tries again */
    rd_kafka_topic_partition_list_add(l, w->parts[i].topic,
                                      w->parts[i].partition)
        ->offset = at;
  }
  if (!l)
    return;
  w->last_commit_ms = lf_monotonic_ms();
  rd_kafka_resp_err_t kerr =
      async
          ? rd_kafka_commit(w->consumer, l, 1)
          : rd_kafka_commit_queue(w->consumer, l, w->commit_q, on_committed, w);
  if (kerr)
    lf_warn(w->id, "commit: %s", rd_kafka_err2str(kerr));
  else if (!async)
    w->commits_pending++;
  for (int k = 0; async && !kerr && k < l->cnt; k++)
    find_part(w, l->elems[k].topic, l->elems[k].partition)->committed =
        l->elems[k].offset;
  rd_kafka_topic_partition_list_destroy(l);
  if (!async)
    await_commits(w);
}

void lf_defer_close(lf_worker_t *w) {
  if (!w->commit_q)
    return;
  for (int i = 0; i < 50 && w->commits_pending > 0; i++)
    rd_kafka_queue_poll_callback(w->commit_q, 100);
  rd_kafka_queue_destroy(w->commit_q);
  w->commit_q = NULL;
}

void lf_defer_forget(lf_worker_t *w) {
  w->npend = 0;
  w->nparts = 0;
}

void lf_defer_free(lf_worker_t *w) {
  free(w->pend);
  free(w->parts);
}
