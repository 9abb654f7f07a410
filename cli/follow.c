#include "follow.h"

#include <stdlib.h>
#include <string.h>

#include "kafka.h"

struct lf_follow {
  rd_kafka_t *consumer;
  char prefix[128];
};

static const lf_topic_t followed[] = {LF_TOPIC_GOALS, LF_TOPIC_PROPOSED,
                                      LF_TOPIC_APPROVED, LF_TOPIC_OBSERVATIONS,
                                      LF_TOPIC_RESULTS};
#define NFOLLOWED (sizeof(followed) / sizeof(followed[0]))

lf_follow_t *lf_follow_new(const lf_conf_t *conf, int from_beginning,
                           char *errstr, size_t errstr_size) {
  return lf_follow_new_topics(conf, followed, NFOLLOWED, from_beginning, errstr,
                              errstr_size);
}

lf_follow_t *lf_follow_new_topics(const lf_conf_t *conf,
                                  const lf_topic_t *which, size_t n,
                                  int from_beginning, char *errstr,
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
  /* group.id is required by librdkafka even for assign(); it never joins. */
  if (!(f->consumer =
            lf_kafka_consumer_new(conf, "lamfleet-cli-follow", "lamfleet-cli",
                                  errstr, errstr_size)) ||
      lf_kafka_assign_all(f->consumer, topics, n, from_beginning, 10000, errstr,
                          errstr_size)) {
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
  free(f);
}

int lf_follow_next(lf_follow_t *f, int timeout_ms, lf_event_t *ev) {
  memset(ev, 0, sizeof(*ev));
  rd_kafka_message_t *m = rd_kafka_consumer_poll(f->consumer, timeout_ms);
  for (; m; m = rd_kafka_consumer_poll(f->consumer, 0)) {
    int kind = m->err ? -1
                      : lf_proto_topic_from_name(f->prefix,
                                                 rd_kafka_topic_name(m->rkt));
    char why[256];
    ProtobufCMessage *pb =
        kind < 0 ? NULL
                 : lf_proto_decode(lf_proto_topic_descriptor((lf_topic_t)kind),
                                   m->payload, m->len, why, sizeof(why));
    if (pb) {
      ev->topic = (lf_topic_t)kind;
      ev->pb = pb;
      ev->goal_id = lf_proto_goal_id(pb);
      ev->ts_ms = rd_kafka_message_timestamp(m, NULL);
      snprintf(ev->key, sizeof(ev->key), "%.*s", (int)m->key_len,
               m->key ? (const char *)m->key : "");
      rd_kafka_message_destroy(m);
      return 1;
    }
    rd_kafka_message_destroy(m);
  }
  return 0;
}

void lf_event_clear(lf_event_t *ev) {
  lf_proto_free(ev->pb);
  memset(ev, 0, sizeof(*ev));
}

static void print_observation(FILE *out, const lf_observation_t *o) {
  fprintf(out, "observed   step %u %s %s", o->step, o->action_name,
          lf_proto_obs_status_name(o->status));
  if (o->status == LF_OBS_SUCCEEDED)
    fprintf(out, " %s", o->result_json);
  else if (o->status == LF_OBS_DUPLICATE)
    fprintf(out, " of action %s: not executed again", o->duplicate_of);
  for (size_t i = 0; i < o->n_reasons; i++)
    fprintf(out, "%s %s: %s", i ? ";" : ":", o->reasons[i]->code,
            o->reasons[i]->message);
  if (o->status == LF_OBS_FAILED)
    fprintf(out, ": %s", o->error);
}

void lf_event_print(FILE *out, const lf_event_t *ev, int64_t t0_ms) {
  fprintf(out, "  %+6lldms  ", (long long)(ev->ts_ms - t0_ms));
  switch (ev->topic) {
  case LF_TOPIC_GOALS: {
    const lf_goal_t *g = (const lf_goal_t *)ev->pb;
    fprintf(out, "goal       \"%s\" (tenant %s)", g->text, g->tenant);
    break;
  }
  case LF_TOPIC_PROPOSED: {
    const lf_action_t *a = (const lf_action_t *)ev->pb;
    fprintf(out, "proposed   step %u %s %s", a->step, a->name,
            a->arguments_json);
    break;
  }
  case LF_TOPIC_APPROVED: {
    const lf_verdict_t *v = (const lf_verdict_t *)ev->pb;
    fprintf(out, "approved   step %u %s (key %.24s%s)", v->action->step,
            v->action->name, v->idempotency_key,
            strlen(v->idempotency_key) > 24 ? "..." : "");
    break;
  }
  case LF_TOPIC_OBSERVATIONS:
    print_observation(out, (const lf_observation_t *)ev->pb);
    break;
  default: {
    const lf_result_t *r = (const lf_result_t *)ev->pb;
    fprintf(out, "result     %s after %u step%s%s%s",
            lf_proto_result_status_name(r->status), r->steps_used,
            r->steps_used == 1 ? "" : "s", *r->answer ? ": " : "",
            *r->answer ? r->answer : "");
    if (*r->error)
      fprintf(out, ": %s", r->error);
  }
  }
  fputc('\n', out);
}
