/* The wire format: every message round-trips; garbage and records without
 * their identifying fields are refused with a reason; trace context. */
#include <stdlib.h>
#include <string.h>

#include "support.h"

static char errstr[512];

static ProtobufCMessage *roundtrip(const ProtobufCMessage *m) {
  size_t len;
  uint8_t *buf = lf_proto_encode(m, &len);
  ck_assert_ptr_nonnull(buf);
  ProtobufCMessage *back =
      lf_proto_decode(m->descriptor, buf, len, errstr, sizeof(errstr));
  free(buf);
  ck_assert_msg(back != NULL, "decode: %s", errstr);
  return back;
}

START_TEST(goal_roundtrip) {
  lf_goal_t g = LF_GOAL_INIT;
  g.goal_id = "g-1";
  g.tenant = "acme";
  g.text = "greet wörld";
  g.context_json = "{\"a\":1}";
  g.max_steps = 7;
  g.deadline_ms = 1700000000123;
  lf_goal_t *b = (lf_goal_t *)roundtrip(&g.base);
  ck_assert_str_eq(b->goal_id, "g-1");
  ck_assert_str_eq(b->text, "greet wörld");
  ck_assert_str_eq(b->context_json, "{\"a\":1}");
  ck_assert_uint_eq(b->max_steps, 7);
  ck_assert_int_eq(b->deadline_ms, 1700000000123);
  lf_proto_free(&b->base);
}
END_TEST

START_TEST(verdict_and_observation_roundtrip) {
  lf_action_t a = LF_ACTION_INIT;
  a.action_id = "g-1:0";
  a.goal_id = "g-1";
  a.name = "echo";
  a.arguments_json = "{\"message\":\"hi\"}";
  lf_reason_t r = LF_REASON_INIT, *rs[1] = {&r};
  r.code = "type_error";
  r.path = "/amount";
  r.message = "/amount: expected integer";
  lf_verdict_t v = LF_VERDICT_INIT;
  v.action = &a;
  v.decision = LF_DECISION_REJECTED;
  v.n_reasons = 1;
  v.reasons = rs;
  lf_verdict_t *vb = (lf_verdict_t *)roundtrip(&v.base);
  ck_assert_str_eq(vb->action->arguments_json, "{\"message\":\"hi\"}");
  ck_assert_int_eq(vb->decision, LF_DECISION_REJECTED);
  ck_assert_uint_eq(vb->n_reasons, 1);
  ck_assert_str_eq(vb->reasons[0]->path, "/amount");
  char *json = lf_proto_to_json(&vb->base);
  ck_assert_msg(strstr(json, "\"decision\":\"rejected\"") &&
                    strstr(json, "\"arguments_json\":{\"message\":\"hi\"}"),
                "json: %s", json);
  free(json);
  lf_proto_free(&vb->base);

  lf_observation_t o = LF_OBSERVATION_INIT;
  o.goal_id = "g-1";
  o.action_id = "g-1:0";
  o.status = LF_OBS_DUPLICATE;
  o.duplicate_of = "g-0:0";
  lf_observation_t *ob = (lf_observation_t *)roundtrip(&o.base);
  ck_assert_int_eq(ob->status, LF_OBS_DUPLICATE);
  ck_assert_str_eq(ob->duplicate_of, "g-0:0");
  lf_proto_free(&ob->base);
}
END_TEST

START_TEST(result_and_dead_letter_roundtrip) {
  lf_result_t r = LF_RESULT_INIT;
  r.goal_id = "g-2";
  r.status = LF_RESULT_EXHAUSTED;
  r.steps_used = 3;
  lf_result_t *rb = (lf_result_t *)roundtrip(&r.base);
  ck_assert_int_eq(rb->status, LF_RESULT_EXHAUSTED);
  ck_assert_uint_eq(rb->steps_used, 3);
  lf_proto_free(&rb->base);

  uint8_t garbage[] = {0xff, 0x00, 0x13};
  lf_dead_letter_t d = LF_DEAD_LETTER_INIT;
  d.source_topic = "lamfleet.goals";
  d.offset = 42;
  d.error = "bad";
  d.original.data = garbage;
  d.original.len = sizeof(garbage);
  lf_dead_letter_t *db = (lf_dead_letter_t *)roundtrip(&d.base);
  ck_assert_int_eq(db->offset, 42);
  ck_assert_mem_eq(db->original.data, garbage, sizeof(garbage));
  lf_proto_free(&db->base);
}
END_TEST

START_TEST(garbage_is_refused_with_a_reason) {
  const char junk[] = "\xff\xff\xff\xff not protobuf";
  ck_assert_ptr_null(lf_proto_decode(&lamfleet__v1__goal__descriptor, junk,
                                     sizeof(junk), errstr, sizeof(errstr)));
  ck_assert_msg(strstr(errstr, "lamfleet.v1.Goal"), "got: %s", errstr);
  /* an empty record decodes as protobuf, but has no goal_id */
  ck_assert_ptr_null(lf_proto_decode(&lamfleet__v1__goal__descriptor, "", 0,
                                     errstr, sizeof(errstr)));
  ck_assert_msg(strstr(errstr, "no goal_id"), "got: %s", errstr);
  lf_verdict_t v = LF_VERDICT_INIT; /* no action */
  size_t len;
  uint8_t *buf = lf_proto_encode(&v.base, &len);
  ck_assert_ptr_null(lf_proto_decode(&lamfleet__v1__verdict__descriptor, buf,
                                     len, errstr, sizeof(errstr)));
  ck_assert_msg(strstr(errstr, "action.action_id"), "got: %s", errstr);
  free(buf);
}
END_TEST

START_TEST(topics_map_to_types) {
  ck_assert_str_eq(lf_proto_topic_suffix(LF_TOPIC_PROPOSED),
                   "actions.proposed");
  ck_assert_int_eq(
      lf_proto_topic_from_name("lamfleet.", "lamfleet.observations"),
      LF_TOPIC_OBSERVATIONS);
  ck_assert_int_eq(lf_proto_topic_from_name("lamfleet.", "other.goals"), -1);
  ck_assert_ptr_eq(lf_proto_topic_descriptor(LF_TOPIC_APPROVED),
                   &lamfleet__v1__verdict__descriptor);
}
END_TEST

START_TEST(traceparent) {
  char a[LF_TRACEPARENT_LEN + 1], b[LF_TRACEPARENT_LEN + 1];
  lf_trace_new(a);
  ck_assert(lf_trace_valid(a, strlen(a)));
  lf_trace_child(a, strlen(a), b);
  ck_assert(lf_trace_valid(b, strlen(b)));
  ck_assert(!memcmp(a, b, 35));          /* same trace id */
  ck_assert(memcmp(a + 36, b + 36, 16)); /* new span id */
  lf_trace_child("00-bogus", 8, b);      /* invalid parent: new trace */
  ck_assert(lf_trace_valid(b, strlen(b)));
  ck_assert(!lf_trace_valid("00-ABC", 6));
}
END_TEST

int main(void) {
  Suite *s = suite_create("proto");
  TCase *tc = tcase_create("proto");
  tcase_add_test(tc, goal_roundtrip);
  tcase_add_test(tc, verdict_and_observation_roundtrip);
  tcase_add_test(tc, result_and_dead_letter_roundtrip);
  tcase_add_test(tc, garbage_is_refused_with_a_reason);
  tcase_add_test(tc, topics_map_to_types);
  tcase_add_test(tc, traceparent);
  suite_add_tcase(s, tc);
  return lf_test_run(s);
}
