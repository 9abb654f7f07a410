/* The records workers consume: any bytes, decoded as each fleet message
 * type, are either refused with a reason or decode into a message whose
 * strings are all valid UTF-8 and whose identifiers are bounded and free
 * of control characters; never a crash, a leak or undefined behaviour.
 * The text cleaner run over the same bytes always yields printable UTF-8
 * within its buffer. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lf_proto.h"
#include "lf_text.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_id(const char *v) {
  if (v && (strlen(v) > LF_ID_MAX || lf_text_has_control(v, strlen(v))))
    abort();
}

static void check(const ProtobufCMessage *m) {
  char *json = lf_proto_to_json(m); /* valid UTF-8: always encodable */
  if (!json)
    abort();
  free(json);
  const char *id = lf_proto_goal_id(m);
  check_id(id);
  if (m->descriptor == lf_proto_topic_descriptor(LF_TOPIC_PROPOSED)) {
    const lf_action_t *a = (const lf_action_t *)m;
    check_id(a->action_id);
    check_id(a->tenant);
    check_id(a->idempotency_key);
    check_id(a->name);
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char why[512], clean[300];
  for (int t = 0; t < LF_TOPIC__CNT; t++) {
    ProtobufCMessage *m = lf_proto_decode(
        lf_proto_topic_descriptor((lf_topic_t)t), data, size, why, sizeof(why));
    if (m)
      check(m);
    else if (!lf_utf8_valid(why, strlen(why), NULL))
      abort();
    lf_proto_free(m);
  }
  lf_text_clean(clean, sizeof(clean), (const char *)data, size);
  if (strlen(clean) >= sizeof(clean) ||
      lf_text_has_control(clean, strlen(clean)))
    abort();
  size_t n;
  char *fixed = lf_utf8_repair((const char *)data, size, &n);
  if (!fixed || !lf_utf8_valid(fixed, n, NULL))
    abort();
  free(fixed);
  return 0;
}
