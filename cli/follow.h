/* Following goals through the fleet's topics, decoded, for `goal submit
 * --wait`, `demo` and the tests: a group-less consumer assigned at the log
 * end of every topic a goal's records cross. */
#ifndef LF_FOLLOW_H
#define LF_FOLLOW_H

#include <stdio.h>

#include "config.h"
#include "lf_proto.h"

typedef struct lf_follow lf_follow_t;

typedef struct lf_event {
  lf_topic_t topic;
  ProtobufCMessage *pb; /* owned; lf_event_clear() frees it */
  const char *goal_id;  /* inside pb */
  int64_t ts_ms;        /* the record's timestamp */
  char key[128];
} lf_event_t;

/* from_beginning: read what the topics already hold instead of what comes. */
lf_follow_t *lf_follow_new(const lf_conf_t *conf, int from_beginning,
                           char *errstr, size_t errstr_size);
/* The same over the given topics. */
lf_follow_t *lf_follow_new_topics(const lf_conf_t *conf,
                                  const lf_topic_t *which, size_t n,
                                  int from_beginning, char *errstr,
                                  size_t errstr_size);
void lf_follow_destroy(lf_follow_t *f);

/* 1: *ev holds the next record; 0: none within timeout_ms. Records that do
 * not decode are skipped (the workers dead-letter them). */
int lf_follow_next(lf_follow_t *f, int timeout_ms, lf_event_t *ev);
void lf_event_clear(lf_event_t *ev);

/* One human-readable line: "+12ms  proposed  step 0 echo {...}". */
void lf_event_print(FILE *out, const lf_event_t *ev, int64_t t0_ms);

#endif
