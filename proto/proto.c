/* Topic ↔ message type mapping, packing and checked unpacking. */
#include "lf_proto.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lf_text.h"

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

/* Protobuf strings are UTF-8: the first string field anywhere in m that is
 * not, by its dotted name, with the offset of the first bad byte. */
static int bad_utf8(const ProtobufCMessage *m, char *where, size_t size) {
  const ProtobufCMessageDescriptor *d = m->descriptor;
  for (unsigned i = 0; i < d->n_fields; i++) {
    const ProtobufCFieldDescriptor *f = &d->fields[i];
    const char *base = (const char *)m + f->offset;
    size_t n = 1;
    const void *const *items = (const void *const *)base;
    if (f->type != PROTOBUF_C_TYPE_STRING && f->type != PROTOBUF_C_TYPE_MESSAGE)
      continue;
    if (f->label == PROTOBUF_C_LABEL_REPEATED) {
      n = *(const size_t *)((const char *)m + f->quantifier_offset);
      items = *(const void *const *const *)base;
    }
    for (size_t k = 0; k < n; k++) {
      const void *v = items[k];
      size_t at;
      if (!v)
        continue;
      if (f->type == PROTOBUF_C_TYPE_STRING &&
          !lf_utf8_valid(v, strlen(v), &at)) {
        snprintf(where, size, "%s (byte %zu)", f->name, at);
        return 1;
      }
      if (f->type == PROTOBUF_C_TYPE_MESSAGE) {
        char inner[200];
        if (bad_utf8(v, inner, sizeof(inner))) {
          snprintf(where, size, "%s.%s", f->name, inner);
          return 1;
        }
      }
    }
  }
  return 0;
}

/* An identifier that reaches keys, headers and logs: bounded, printable. */
static const char *bad_id(const char *name, const char *v, int required,
                          char *why, size_t size) {
  size_t len = v ? strlen(v) : 0;
  if (required && !len)
    snprintf(why, size, "has no %s", name);
  else if (len > LF_ID_MAX)
    snprintf(why, size, "has a %s of %zu bytes (at most %d)", name, len,
             LF_ID_MAX);
  else if (lf_text_has_control(v ? v : "", len))
    snprintf(why, size, "has a control character in %s", name);
  else
    return NULL;
  return why;
}

#define ID(name, v, req)                                                       \
  do {                                                                         \
    if (bad_id(name, v, req, why, size))                                       \
      return why;                                                              \
  } while (0)

static const char *bad_action(const char *in, const lf_action_t *a, char *why,
                              size_t size) {
  char name[64];
  snprintf(name, sizeof(name), "%saction_id", in);
  ID(name, a->action_id, 1);
  snprintf(name, sizeof(name), "%sgoal_id", in);
  ID(name, a->goal_id, 1);
  snprintf(name, sizeof(name), "%stenant", in);
  ID(name, a->tenant, 0);
  snprintf(name, sizeof(name), "%sname", in);
  ID(name, a->name, 0);
  snprintf(name, sizeof(name), "%sidempotency_key", in);
  ID(name, a->idempotency_key, 0);
  return NULL;
}

/* What a record must have to be routed or acted on, with identifiers fit
 * for keys, headers and logs: why not, or NULL. */
static const char *bad_fields(const ProtobufCMessage *m, char *why,
                              size_t size) {
  const ProtobufCMessageDescriptor *d = m->descriptor;
  if (d == &lamfleet__v1__goal__descriptor) {
    const lf_goal_t *g = (const lf_goal_t *)m;
    ID("goal_id", g->goal_id, 1);
    ID("tenant", g->tenant, 0);
    if (empty(g->text))
      return bad_id("text", "", 1, why, size);
  } else if (d == &lamfleet__v1__proposed_action__descriptor) {
    return bad_action("", (const lf_action_t *)m, why, size);
  } else if (d == &lamfleet__v1__verdict__descriptor) {
    const lf_verdict_t *v = (const lf_verdict_t *)m;
    if (!v->action)
      return bad_id("action.action_id", "", 1, why, size);
    ID("idempotency_key", v->idempotency_key, 0);
    return bad_action("action.", v->action, why, size);
  } else if (d == &lamfleet__v1__observation__descriptor) {
    const lf_observation_t *o = (const lf_observation_t *)m;
    ID("goal_id", o->goal_id, 1);
    ID("action_id", o->action_id, 1);
  } else if (d == &lamfleet__v1__goal_result__descriptor) {
    ID("goal_id", ((const lf_result_t *)m)->goal_id, 1);
  } else if (d == &lamfleet__v1__approval_decision__descriptor) {
    const lf_approval_decision_t *a = (const lf_approval_decision_t *)m;
    ID("action_id", a->action_id, 1);
    ID("goal_id", a->goal_id, 1);
    ID("approver", a->approver, 0);
  }
  return NULL;
}

/* protobuf-c allocates through ours: every allocation of the fleet's
 * code goes through malloc, which the allocation-failure tests count. */
static void *pb_alloc(void *unused, size_t n) {
  (void)unused;
  return malloc(n);
}
static void pb_free(void *unused, void *p) {
  (void)unused;
  free(p);
}
static ProtobufCAllocator pb_allocator = {pb_alloc, pb_free, NULL};

ProtobufCMessage *lf_proto_decode(const ProtobufCMessageDescriptor *desc,
                                  const void *data, size_t len, char *errstr,
                                  size_t errstr_size) {
  ProtobufCMessage *m =
      protobuf_c_message_unpack(desc, &pb_allocator, len, data);
  if (!m) {
    snprintf(errstr, errstr_size, "not a valid %s protobuf record (%zu bytes)",
             desc->name, len);
    return NULL;
  }
  char where[256], why[256];
  if (bad_utf8(m, where, sizeof(where))) {
    snprintf(errstr, errstr_size, "%s record has invalid UTF-8 in %s",
             desc->name, where);
    protobuf_c_message_free_unpacked(m, &pb_allocator);
    return NULL;
  }
  if (bad_fields(m, why, sizeof(why))) {
    snprintf(errstr, errstr_size, "%s record %s", desc->name, why);
    protobuf_c_message_free_unpacked(m, &pb_allocator);
    return NULL;
  }
  return m;
}

void lf_proto_free(ProtobufCMessage *msg) {
  if (msg)
    protobuf_c_message_free_unpacked(msg, &pb_allocator);
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
