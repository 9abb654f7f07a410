#include "follow.h"

#include <stdlib.h>
#include <string.h>

#include "kafka.h"
#include "util.h"

/* A partition of a held read: done once the consumer reached where its
 * end was at the start (what arrives later is not read, so a command that
 * writes to the topics it reads cannot chase its own records). */
typedef struct held_part {
  char topic[256];
  int32_t partition;
  int64_t end;
  int reached;
} held_part_t;

struct lf_follow {
  rd_kafka_t *consumer;
  char prefix[128];
  held_part_t *parts; /* LF_FOLLOW_HELD only */
  size_t nparts, nreached;
};

static const lf_topic_t followed[] = {LF_TOPIC_GOALS, LF_TOPIC_PROPOSED,
                                      LF_TOPIC_APPROVED, LF_TOPIC_OBSERVATIONS,
                                      LF_TOPIC_RESULTS};
#define NFOLLOWED (sizeof(followed) / sizeof(followed[0]))

lf_follow_t *lf_follow_new(const lf_conf_t *conf, lf_follow_from_t from,
                           char *errstr, size_t errstr_size) {
  return lf_follow_new_topics(conf, followed, NFOLLOWED, from, errstr,
                              errstr_size);
}

/* The assignment becomes the list of partitions a held read waits for,
 * each with its end now. The consumer also says when it reaches an end
 * (enable.partition.eof): the last offsets may be transaction markers,
 * which it never hands out. */
static int hold_parts(lf_follow_t *f, char *errstr, size_t errstr_size) {
  rd_kafka_topic_partition_list_t *a = NULL;
  rd_kafka_resp_err_t kerr = rd_kafka_assignment(f->consumer, &a);
  if (kerr) {
    snprintf(errstr, errstr_size, "assignment: %s", rd_kafka_err2str(kerr));
    return -1;
  }
  f->parts = calloc(a->cnt ? (size_t)a->cnt : 1, sizeof(*f->parts));
  if (!f->parts) {
    rd_kafka_topic_partition_list_destroy(a);
    snprintf(errstr, errstr_size, "out of memory");
    return -1;
  }
  for (int i = 0; i < a->cnt; i++) {
    snprintf(f->parts[i].topic, sizeof(f->parts[i].topic), "%s",
             a->elems[i].topic);
    f->parts[i].partition = a->elems[i].partition;
    int64_t lo = 0;
    if ((kerr = rd_kafka_query_watermark_offsets(f->consumer, a->elems[i].topic,
                                                 a->elems[i].partition, &lo,
                                                 &f->parts[i].end, 10000))) {
      snprintf(errstr, errstr_size, "%s [%d] watermarks: %s", a->elems[i].topic,
               (int)a->elems[i].partition, rd_kafka_err2str(kerr));
      rd_kafka_topic_partition_list_destroy(a);
      return -1;
    }
    if (f->parts[i].end <= lo) {
      f->parts[i].reached = 1;
      f->nreached++;
    }
  }
  f->nparts = (size_t)a->cnt;
  rd_kafka_topic_partition_list_destroy(a);
  return 0;
}

static rd_kafka_t *consumer_new(const lf_conf_t *conf, lf_follow_from_t from,
                                char *errstr, size_t errstr_size) {
  lf_conf_t *c = lf_conf_dup(conf);
  rd_kafka_t *rk = NULL;
  if (!c)
    snprintf(errstr, errstr_size, "out of memory");
  else if (!lf_kafka_reachable(conf, LF_KAFKA_REACH_MS, errstr, errstr_size) &&
           !lf_conf_set(c, "kafka.enable.partition.eof",
                        from == LF_FOLLOW_HELD ? "true" : "false", errstr,
                        errstr_size))
    /* group.id is required by librdkafka even for assign(); it never
     * joins. */
    rk = lf_kafka_consumer_new(c, "lamfleet-cli-follow", "lamfleet-cli", errstr,
                               errstr_size);
  lf_conf_destroy(c);
  return rk;
}

lf_follow_t *lf_follow_new_topics(const lf_conf_t *conf,
                                  const lf_topic_t *which, size_t n,
                                  lf_follow_from_t from, char *errstr,
                                  size_t errstr_size) {
  char names[LF_TOPIC__CNT][256];
  const char *topics[LF_TOPIC__CNT];
  lf_follow_t *f = n <= LF_TOPIC__CNT ? calloc(1, sizeof(*f)) : NULL;
  if (!f) {
    snprintf(errstr, errstr_size, "out of memory");
    return NULL;
  }
  snprintf(f->prefix, sizeof(f->prefix), "%s",
           lf_conf_get(conf, "topic.prefix"));
  for (size_t i = 0; i < n; i++)
    topics[i] = lf_kafka_topic_name(conf, which[i], names[i], sizeof(names[i]));
  if (!(f->consumer = consumer_new(conf, from, errstr, errstr_size)) ||
      lf_kafka_assign_all(f->consumer, topics, n, from != LF_FOLLOW_NEW, 10000,
                          errstr, errstr_size) ||
      (from == LF_FOLLOW_HELD && hold_parts(f, errstr, errstr_size))) {
    lf_follow_destroy(f);
    return NULL;
  }
  return f;
}

void lf_follow_destroy(lf_follow_t *f) {
  if (!f)
    return;
  if (f->consumer) {
    rd_kafka_consumer_close(f->consumer);
    rd_kafka_destroy(f->consumer);
  }
  free(f->parts);
  free(f);
}

/* For a held read: 0 when m lies beyond its partition's end, to be
 * skipped; marks the partition reached at its end. */
static int within(lf_follow_t *f, const rd_kafka_message_t *m) {
  const char *topic = rd_kafka_topic_name(m->rkt);
  for (size_t i = 0; i < f->nparts; i++) {
    held_part_t *hp = &f->parts[i];
    if (hp->partition != m->partition || strcmp(hp->topic, topic))
      continue;
    int eof = m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF;
    if (!hp->reached && (eof || m->offset + 1 >= hp->end)) {
      hp->reached = 1;
      f->nreached++;
    }
    return !eof && m->offset < hp->end;
  }
  return 0;
}

static int take(lf_follow_t *f, rd_kafka_message_t *m, lf_event_t *ev) {
  int kind = lf_proto_topic_from_name(f->prefix, rd_kafka_topic_name(m->rkt));
  char why[256];
  ProtobufCMessage *pb =
      kind < 0 ? NULL
               : lf_proto_decode(lf_proto_topic_descriptor((lf_topic_t)kind),
                                 m->payload, m->len, why, sizeof(why));
  if (!pb)
    return 0;
  ev->topic = (lf_topic_t)kind;
  ev->pb = pb;
  ev->goal_id = lf_proto_goal_id(pb);
  ev->ts_ms = rd_kafka_message_timestamp(m, NULL);
  ev->partition = m->partition;
  ev->offset = m->offset;
  snprintf(ev->key, sizeof(ev->key), "%.*s", (int)m->key_len,
           m->key ? (const char *)m->key : "");
  return 1;
}

int lf_follow_next(lf_follow_t *f, int timeout_ms, lf_event_t *ev) {
  int64_t deadline = lf_monotonic_ms() + timeout_ms;
  memset(ev, 0, sizeof(*ev));
  for (;;) {
    if (f->parts && f->nreached == f->nparts)
      return -1;
    int64_t left = deadline - lf_monotonic_ms();
    rd_kafka_message_t *m =
        rd_kafka_consumer_poll(f->consumer, left > 0 ? (int)left : 0);
    if (!m)
      return 0;
    int got = !m->err && (!f->parts || within(f, m)) && take(f, m, ev);
    if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF && f->parts)
      within(f, m);
    rd_kafka_message_destroy(m);
    if (got)
      return 1;
  }
}

void lf_event_clear(lf_event_t *ev) {
  lf_proto_free(ev->pb);
  memset(ev, 0, sizeof(*ev));
}

int lf_follow_held_read(const lf_conf_t *conf, const lf_topic_t *which,
                        size_t n, lf_follow_take_fn fn, void *ctx, char *errstr,
                        size_t errstr_size) {
  lf_follow_t *f =
      lf_follow_new_topics(conf, which, n, LF_FOLLOW_HELD, errstr, errstr_size);
  if (!f)
    return -1;
  lf_event_t ev;
  int r, nomem = 0;
  while (!nomem && (r = lf_follow_next(f, LF_FOLLOW_STALL_MS, &ev)) == 1) {
    nomem = fn(ctx, &ev);
    lf_event_clear(&ev);
  }
  lf_follow_destroy(f);
  if (nomem)
    snprintf(errstr, errstr_size, "out of memory");
  else if (!r)
    snprintf(errstr, errstr_size, "the topics stopped answering for %d s",
             LF_FOLLOW_STALL_MS / 1000);
  return !nomem && r == -1 ? 0 : -1;
}
