/* Where goals live between records: one Redis hash per goal (its state as
 * JSON, and a version that every save increments, so that two planners
 * never overwrite each other: a save expecting an older version is
 * refused), plus one sorted set of goals that wait on something no Kafka
 * record will redeliver (a model call, or outputs not yet acknowledged),
 * scored by when another planner may take them over. */
#ifndef LF_PLANNER_STORE_H
#define LF_PLANNER_STORE_H

#include <jansson.h>

#include "redis.h"

typedef struct lf_goal_slot {
  char *goal_id;
  json_t *state;   /* NULL: not in Redis */
  int64_t version; /* as loaded or last saved; 0: none */
  int dirty;       /* to save */
  int conflict;    /* the save was refused: someone else moved the goal */
  int64_t await;   /* on save: 0 leaves the set alone, -1 takes the goal
                      out, >0 puts it in with this score (unix ms) */
  int release;     /* release: take it out if its score is still await */
  /* for the caller */
  int publish, think;
  const void *cause;
} lf_goal_slot_t;

/* Loads slots[i].state and .version for every slot (one pipeline). */
lf_err_t lf_goal_store_load(lf_redis_t *r, lf_goal_slot_t *slots, size_t n,
                            char *errstr, size_t errstr_size);
/* Saves the dirty slots, each only if its version is still the one
 * loaded (one pipeline): a refused one gets conflict = 1. */
lf_err_t lf_goal_store_save(lf_redis_t *r, lf_goal_slot_t *slots, size_t n,
                            int64_t ttl_s, char *errstr, size_t errstr_size);
/* Takes the slots marked release out of the set, unless someone has
 * re-scored them since (their score is no longer await). */
lf_err_t lf_goal_store_release(lf_redis_t *r, lf_goal_slot_t *slots, size_t n,
                               char *errstr, size_t errstr_size);
/* Claims up to max goals whose score is due (rescoring them to
 * now + lease_ms); *ids is a malloc'ed array of malloc'ed strings. */
lf_err_t lf_goal_store_claim(lf_redis_t *r, int64_t now, int64_t lease_ms,
                             size_t max, char ***ids, size_t *n, char *errstr,
                             size_t errstr_size);
/* Pushes the score of goals still in the set (calls in flight here). */
lf_err_t lf_goal_store_renew(lf_redis_t *r, const char *const *ids, size_t n,
                             int64_t score, char *errstr, size_t errstr_size);

void lf_goal_slots_clear(lf_goal_slot_t *slots, size_t n);

#endif
