/* Actions waiting for a human, kept in Redis:
 *   <prefix>approval:<action_id>       the NEEDS_APPROVAL verdict (protobuf)
 *   <prefix>approvals:due              sorted set: action id by expiry
 *   <prefix>approval-done:<action_id>  the outcome that won: approved,
 *                                      denied or expired
 *   <prefix>approval-votes:<action_id>:<digest>  approvers who approved
 *                                      that held verdict (a quorum)
 * A decision and the expiry may race (or two guards may see the same
 * decision): claiming sets the outcome with SET NX in one script, and only
 * the claim that set it, or a redelivery of that same outcome, acts. Used
 * by the guard worker and by `lamfleet approvals`. */
#ifndef LF_APPROVALS_H
#define LF_APPROVALS_H

#include "lf_proto.h"
#include "redis.h"

/* Stores v (a NEEDS_APPROVAL verdict) and schedules its expiry, unless
 * the action id already waits: then *held is what waits (never replaced:
 * the human approves what they were shown). Free it with lf_proto_free(). */
lf_err_t lf_approvals_hold(lf_redis_t *r, const lf_verdict_t *v,
                           lf_verdict_t **held, char *errstr,
                           size_t errstr_size);

/* Approvers who approved the held verdict of this digest so far (a
 * quorum counts distinct names), this one included. */
#define LF_APPROVALS_MAX_VOTERS 16
typedef struct lf_approvals_voters {
  char names[LF_APPROVALS_MAX_VOTERS][72];
  size_t n;
} lf_approvals_voters_t;
lf_err_t lf_approvals_vote(lf_redis_t *r, const char *action_id,
                           const char *digest, const char *approver,
                           int64_t ttl_ms, lf_approvals_voters_t *voters,
                           char *errstr, size_t errstr_size);

/* The stored verdict of a pending action (*out NULL when there is none:
 * expired, decided or never held). Free with lf_proto_free(). */
lf_err_t lf_approvals_get(lf_redis_t *r, const char *action_id,
                          lf_verdict_t **out, char *errstr, size_t errstr_size);

/* Claims the action for outcome ("approved", "denied", "expired"). On
 * LF_OK, *won tells whether this outcome holds (newly or already); *out is
 * the stored verdict or NULL when nothing is pending. */
lf_err_t lf_approvals_claim(lf_redis_t *r, const char *action_id,
                            const char *outcome, int *won, lf_verdict_t **out,
                            char *errstr, size_t errstr_size);

/* How many actions wait for a human, and the earliest expiry among them
 * (0 when none). */
lf_err_t lf_approvals_stats(lf_redis_t *r, long long *count,
                            int64_t *earliest_ms, char *errstr,
                            size_t errstr_size);
/* Up to max action ids whose approval expired by now_ms. */
lf_err_t lf_approvals_due(lf_redis_t *r, int64_t now_ms, char (*ids)[256],
                          size_t max, size_t *n, char *errstr,
                          size_t errstr_size);

/* Drops the stored verdict once its outcome is out. */
lf_err_t lf_approvals_forget(lf_redis_t *r, const char *action_id, char *errstr,
                             size_t errstr_size);

/* Calls fn for every pending action. */
lf_err_t lf_approvals_list(lf_redis_t *r,
                           void (*fn)(void *opaque, const lf_verdict_t *v),
                           void *opaque, char *errstr, size_t errstr_size);

#endif
