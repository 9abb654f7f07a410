/* lamfleet wire format: which message travels on which topic, encoding,
 * decoding and a JSON rendering for humans and scripts. The generated
 * protobuf-c types are re-exported under shorter lf_ names. */
#ifndef LF_PROTO_H
#define LF_PROTO_H

#include <stddef.h>
#include <stdint.h>

#include "lamfleet.pb-c.h"

typedef Lamfleet__V1__Goal lf_goal_t;
typedef Lamfleet__V1__ProposedAction lf_action_t;
typedef Lamfleet__V1__Reason lf_reason_t;
typedef Lamfleet__V1__Verdict lf_verdict_t;
typedef Lamfleet__V1__Observation lf_observation_t;
typedef Lamfleet__V1__GoalResult lf_result_t;
typedef Lamfleet__V1__DeadLetter lf_dead_letter_t;
typedef Lamfleet__V1__ApprovalDecision lf_approval_decision_t;

#define LF_GOAL_INIT LAMFLEET__V1__GOAL__INIT
#define LF_ACTION_INIT LAMFLEET__V1__PROPOSED_ACTION__INIT
#define LF_REASON_INIT LAMFLEET__V1__REASON__INIT
#define LF_VERDICT_INIT LAMFLEET__V1__VERDICT__INIT
#define LF_OBSERVATION_INIT LAMFLEET__V1__OBSERVATION__INIT
#define LF_RESULT_INIT LAMFLEET__V1__GOAL_RESULT__INIT
#define LF_DEAD_LETTER_INIT LAMFLEET__V1__DEAD_LETTER__INIT
#define LF_APPROVAL_DECISION_INIT LAMFLEET__V1__APPROVAL_DECISION__INIT

#define LF_DECISION_APPROVED LAMFLEET__V1__VERDICT__DECISION__APPROVED
#define LF_DECISION_REJECTED LAMFLEET__V1__VERDICT__DECISION__REJECTED
#define LF_DECISION_NEEDS_APPROVAL                                             \
  LAMFLEET__V1__VERDICT__DECISION__NEEDS_APPROVAL
#define LF_DECISION_DUPLICATE LAMFLEET__V1__VERDICT__DECISION__DUPLICATE

#define LF_OBS_SUCCEEDED LAMFLEET__V1__OBSERVATION__STATUS__SUCCEEDED
#define LF_OBS_FAILED LAMFLEET__V1__OBSERVATION__STATUS__FAILED
#define LF_OBS_REJECTED LAMFLEET__V1__OBSERVATION__STATUS__REJECTED
#define LF_OBS_DUPLICATE LAMFLEET__V1__OBSERVATION__STATUS__DUPLICATE

#define LF_RESULT_COMPLETED LAMFLEET__V1__GOAL_RESULT__STATUS__COMPLETED
#define LF_RESULT_FAILED LAMFLEET__V1__GOAL_RESULT__STATUS__FAILED
#define LF_RESULT_EXHAUSTED LAMFLEET__V1__GOAL_RESULT__STATUS__EXHAUSTED

/* The fleet's topics. Each carries exactly one message type. */
typedef enum lf_topic {
  LF_TOPIC_GOALS = 0,
  LF_TOPIC_PROPOSED,
  LF_TOPIC_APPROVED,
  LF_TOPIC_OBSERVATIONS,
  LF_TOPIC_RESULTS,
  LF_TOPIC_DLQ,
  LF_TOPIC_APPROVALS_PENDING,   /* Verdict (needs_approval) */
  LF_TOPIC_APPROVALS_DECISIONS, /* ApprovalDecision */
  LF_TOPIC__CNT
} lf_topic_t;

/* Topic name without the configurable prefix, e.g. "actions.proposed". */
const char *lf_proto_topic_suffix(lf_topic_t topic);
/* The message type carried by a topic. */
const ProtobufCMessageDescriptor *lf_proto_topic_descriptor(lf_topic_t topic);
/* Topic kind for a full topic name under prefix, or -1. */
int lf_proto_topic_from_name(const char *prefix, const char *name);

/* Header names on every record. */
#define LF_HDR_TRACEPARENT "traceparent"
#define LF_HDR_TYPE "lf-type"

/* Packs a message into a malloc'ed buffer. NULL on allocation failure. */
uint8_t *lf_proto_encode(const ProtobufCMessage *msg, size_t *lenp);

/* Unpacks len bytes as desc. On failure returns NULL and writes why into
 * errstr. Free the result with lf_proto_free(). Beyond protobuf's own
 * checks, a message must have its identifying fields (e.g. goal_id). */
ProtobufCMessage *lf_proto_decode(const ProtobufCMessageDescriptor *desc,
                                  const void *data, size_t len, char *errstr,
                                  size_t errstr_size);
void lf_proto_free(ProtobufCMessage *msg);

/* The goal a message belongs to (the key of its record), or NULL for a
 * message that has none (DeadLetter). */
const char *lf_proto_goal_id(const ProtobufCMessage *msg);

/* Renders any lamfleet message as a JSON object text (malloc'ed). Fields
 * holding JSON text (…_json) are embedded as JSON, not as strings. */
char *lf_proto_to_json(const ProtobufCMessage *msg);

/* Human label of enum values, e.g. "approved", "succeeded", "completed". */
const char *lf_proto_decision_name(int decision);
const char *lf_proto_obs_status_name(int status);
const char *lf_proto_result_status_name(int status);

/* W3C trace context: "00-<32 hex trace id>-<16 hex span id>-01". */
#define LF_TRACEPARENT_LEN 55
void lf_trace_new(char out[LF_TRACEPARENT_LEN + 1]);
/* A child span of parent in the same trace; a new trace when parent is NULL
 * or not a valid traceparent. */
void lf_trace_child(const char *parent, size_t parent_len,
                    char out[LF_TRACEPARENT_LEN + 1]);
int lf_trace_valid(const char *tp, size_t len);

#endif
