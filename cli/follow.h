/* Following goals through the fleet's topics, decoded, for `goal submit
 * --wait`, `demo` and the tests: a group-less consumer assigned at the log
 * end of every topic a goal's records cross. */
#ifndef LF_FOLLOW_H
#define LF_FOLLOW_H

#include <stdio.h>

#include "config.h"
#include "lf_proto.h"

typedef struct lf_follow lf_follow_t;

/* Where following starts, and whether it ends. */
typedef enum lf_follow_from {
  LF_FOLLOW_NEW = 0,  /* what comes from now on */
  LF_FOLLOW_ALL = 1,  /* what the topics hold, then what comes */
  LF_FOLLOW_HELD = 2, /* what the topics hold now; then lf_follow_next -1 */
} lf_follow_from_t;

typedef struct lf_event {
  lf_topic_t topic;
  ProtobufCMessage *pb; /* owned; lf_event_clear() frees it */
  const char *goal_id;  /* inside pb */
  int64_t ts_ms;        /* the record's timestamp */
  int32_t partition;
  int64_t offset;
  char key[128];
} lf_event_t;

/* Follows the goal's way: goals, proposed, approved, observations, results. */
lf_follow_t *lf_follow_new(const lf_conf_t *conf, lf_follow_from_t from,
                           char *errstr, size_t errstr_size);
/* The same over the given topics. */
lf_follow_t *lf_follow_new_topics(const lf_conf_t *conf,
                                  const lf_topic_t *which, size_t n,
                                  lf_follow_from_t from, char *errstr,
                                  size_t errstr_size);
void lf_follow_destroy(lf_follow_t *f);

/* 1: *ev holds the next record; 0: none within timeout_ms; -1 (only
 * LF_FOLLOW_HELD): every partition has been read to where its end was.
 * Records that do not decode are skipped (the workers dead-letter them). */
int lf_follow_next(lf_follow_t *f, int timeout_ms, lf_event_t *ev);
void lf_event_clear(lf_event_t *ev);

/* A held read stalled this long is an error: the topics stopped answering. */
#define LF_FOLLOW_STALL_MS 10000

/* Called with each record of a held read; may take it over (ev is cleared
 * after). -1: out of memory, which ends the read. */
typedef int (*lf_follow_take_fn)(void *ctx, lf_event_t *ev);

/* Reads what the topics hold now, record by record, into take. 0 at the
 * end; -1 with errstr when the read cannot start, stalls for
 * LF_FOLLOW_STALL_MS, or take runs out of memory. */
int lf_follow_held_read(const lf_conf_t *conf, const lf_topic_t *which,
                        size_t n, lf_follow_take_fn take, void *ctx,
                        char *errstr, size_t errstr_size);

/* Records kept to be ordered: read from several partitions, they arrive
 * in no time order. */
typedef struct lf_events {
  lf_event_t *v;
  size_t n, cap;
} lf_events_t;
/* Takes ev's record over (ev is left empty); -1 when out of memory. */
int lf_events_add(lf_events_t *es, lf_event_t *ev);
/* Time order; at the same millisecond, the order a goal moves in. */
void lf_events_sort(lf_events_t *es);
void lf_events_clear(lf_events_t *es);

/* 1 when ev belongs to goal_id; a dead letter does when its original
 * record decodes as its source topic's message of that goal. */
int lf_event_of_goal(const char *prefix, const lf_event_t *ev,
                     const char *goal_id);

/* What a record says, on one line without a newline: "proposed   step 0
 * echo {...}". */
void lf_event_describe(FILE *out, const lf_event_t *ev);
/* One line with the time since t0_ms: "    +12ms  proposed  step 0 ...". */
void lf_event_print(FILE *out, const lf_event_t *ev, int64_t t0_ms);
/* One JSON object: topic, partition, offset, key, timestamp, the time
 * since t0_ms (unless t0_ms < 0), the record. */
int lf_event_print_json(FILE *out, const lf_event_t *ev, int64_t t0_ms);

#endif
