/* Topic ↔ message type mapping, packing and checked unpacking. */
#include "lf_proto.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const topic_suffix[LF_TOPIC__CNT] = {
    [LF_TOPIC_GOALS] = "goals",
    [LF_TOPIC_PROPOSED] = "actions.proposed",
    [LF_TOPIC_APPROVED] = "actions.approved",
    [LF_TOPIC_OBSERVATIONS] = "observations",
    [LF_TOPIC_RESULTS] = "results",
    [LF_TOPIC_DLQ] = "dlq",
    [LF_TOPIC_APPROVALS_PENDING] = "approvals.pending",
    [LF_TOPIC_APPROVALS_DECISIONS] = "approvals.decisions",
};

const char *lf_proto_topic_suffix(lf_topic_t topic) {
  return (unsigned)topic < LF_TOPIC__CNT ? topic_suffix[topic] : NULL;
}

const ProtobufCMessageDescriptor *lf_proto_topic_descriptor(lf_topic_t topic) {
  switch (topic) {
  case LF_TOPIC_GOALS:
    return &lamfleet__v1__goal__descriptor;
  case LF_TOPIC_PROPOSED:
    return &lamfleet__v1__proposed_action__descriptor;
  case LF_TOPIC_APPROVED:
    return &lamfleet__v1__verdict__descriptor;
  case LF_TOPIC_OBSERVATIONS:
    return &lamfleet__v1__observation__descriptor;
  case LF_TOPIC_RESULTS:
    return &lamfleet__v1__goal_result__descriptor;
  case LF_TOPIC_DLQ:
    return &lamfleet__v1__dead_letter__descriptor;
  case LF_TOPIC_APPROVALS_PENDING:
    return &lamfleet__v1__verdict__descriptor;
  case LF_TOPIC_APPROVALS_DECISIONS:
    return &lamfleet__v1__approval_decision__descriptor;
  default:
    return NULL;
  }
}

int lf_proto_topic_from_name(const char *prefix, const char *name) {
  size_t plen = strlen(prefix);
  if (strncmp(name, prefix, plen) != 0)
    return -1;
  for (int i = 0; i < LF_TOPIC__CNT; i++)
    if (!strcmp(name + plen, topic_suffix[i]))
      return i;
  return -1;
}

const char *lf_proto_goal_id(const ProtobufCMessage *msg) {
  const ProtobufCMessageDescriptor *d = msg->descriptor;
  if (d == &lamfleet__v1__goal__descriptor)
    return ((const lf_goal_t *)msg)->goal_id;
  if (d == &lamfleet__v1__proposed_action__descriptor)
    return ((const lf_action_t *)msg)->goal_id;
  if (d == &lamfleet__v1__verdict__descriptor)
    return ((const lf_verdict_t *)msg)->action->goal_id;
  if (d == &lamfleet__v1__observation__descriptor)
    return ((const lf_observation_t *)msg)->goal_id;
  if (d == &lamfleet__v1__goal_result__descriptor)
    return ((const lf_result_t *)msg)->goal_id;
  if (d == &lamfleet__v1__approval_decision__descriptor)
    return ((const lf_approval_decision_t *)msg)->goal_id;
  return NULL;
}

uint8_t *lf_proto_encode(const ProtobufCMessage *msg, size_t *lenp) {
  size_t len = protobuf_c_message_get_packed_size(msg);
  /* +1: malloc(0) may return NULL for an all-default message. */
  uint8_t *buf = malloc(len + 1);
  if (!buf)
    return NULL;
  *lenp = protobuf_c_message_pack(msg, buf);
  return buf;
}

static int empty(const char *s) {
  return !s || !*s;
}

/* Identifying fields without which a record cannot be routed or acted on. */
static const char *missing_field(const ProtobufCMessage *m) {
  const ProtobufCMessageDescriptor *d = m->descriptor;
  if (d == &lamfleet__v1__goal__descriptor) {
    const lf_goal_t *g = (const lf_goal_t *)m;
    if (empty(g->goal_id))
      return "goal_id";
    if (empty(g->text))
      return "text";
  } else if (d == &lamfleet__v1__proposed_action__descriptor) {
    const lf_action_t *a = (const lf_action_t *)m;
    if (empty(a->action_id))
      return "action_id";
    if (empty(a->goal_id))
      return "goal_id";
  } else if (d == &lamfleet__v1__verdict__descriptor) {
    const lf_verdict_t *v = (const lf_verdict_t *)m;
    if (!v->action || empty(v->action->action_id))
      return "action.action_id";
    if (empty(v->action->goal_id))
      return "action.goal_id";
  } else if (d == &lamfleet__v1__observation__descriptor) {
    const lf_observation_t *o = (const lf_observation_t *)m;
    if (empty(o->goal_id))
      return "goal_id";
    if (empty(o->action_id))
      return "action_id";
  } else if (d == &lamfleet__v1__goal_result__descriptor) {
    if (empty(((const lf_result_t *)m)->goal_id))
      return "goal_id";
  } else if (d == &lamfleet__v1__approval_decision__descriptor) {
    const lf_approval_decision_t *a = (const lf_approval_decision_t *)m;
    if (empty(a->action_id))
      return "action_id";
    if (empty(a->goal_id))
      return "goal_id";
  }
  return NULL;
}

ProtobufCMessage *lf_proto_decode(const ProtobufCMessageDescriptor *desc,
                                  const void *data, size_t len, char *errstr,
                                  size_t errstr_size) {
  ProtobufCMessage *m = protobuf_c_message_unpack(desc, NULL, len, data);
  if (!m) {
    snprintf(errstr, errstr_size, "not a valid %s protobuf record (%zu bytes)",
             desc->name, len);
    return NULL;
  }
  const char *field = missing_field(m);
  if (field) {
    snprintf(errstr, errstr_size, "%s record has no %s", desc->name, field);
    protobuf_c_message_free_unpacked(m, NULL);
    return NULL;
  }
  return m;
}

void lf_proto_free(ProtobufCMessage *msg) {
  if (msg)
    protobuf_c_message_free_unpacked(msg, NULL);
}

const char *lf_proto_decision_name(int d) {
  static const char *const n[] = {"unspecified", "approved", "rejected",
                                  "needs_approval", "duplicate"};
  return d >= 0 && d < 5 ? n[d] : "unknown";
}

const char *lf_proto_obs_status_name(int s) {
  static const char *const n[] = {"unspecified", "succeeded", "failed",
                                  "rejected", "duplicate"};
  return s >= 0 && s < 5 ? n[s] : "unknown";
}

const char *lf_proto_result_status_name(int s) {
  static const char *const n[] = {"unspecified", "completed", "failed",
                                  "exhausted"};
  return s >= 0 && s < 4 ? n[s] : "unknown";
}
