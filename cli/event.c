/* A fleet record on one line, for people (`goal show`, `tail`, `demo`) or
 * for scripts (--json). */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "follow.h"

static char *dead_letter_goal_id(const char *prefix,
                                 const lf_dead_letter_t *d) {
  int kind = lf_proto_topic_from_name(prefix, d->source_topic);
  char why[256];
  ProtobufCMessage *pb =
      kind < 0 || kind == LF_TOPIC_DLQ
          ? NULL
          : lf_proto_decode(lf_proto_topic_descriptor((lf_topic_t)kind),
                            d->original.data, d->original.len, why,
                            sizeof(why));
  const char *id = pb ? lf_proto_goal_id(pb) : NULL;
  char *copy = id ? strdup(id) : NULL;
  lf_proto_free(pb);
  return copy;
}

int lf_event_of_goal(const char *prefix, const lf_event_t *ev,
                     const char *goal_id) {
  if (ev->topic != LF_TOPIC_DLQ)
    return ev->goal_id && !strcmp(ev->goal_id, goal_id);
  char *id = dead_letter_goal_id(prefix, (const lf_dead_letter_t *)ev->pb);
  int yes = id && !strcmp(id, goal_id);
  free(id);
  return yes;
}

int lf_events_add(lf_events_t *es, lf_event_t *ev) {
  if (es->n == es->cap) {
    size_t cap = es->cap ? es->cap * 2 : 32;
    lf_event_t *v = realloc(es->v, cap * sizeof(*v));
    if (!v)
      return -1;
    es->v = v;
    es->cap = cap;
  }
  es->v[es->n++] = *ev;
  memset(ev, 0, sizeof(*ev));
  return 0;
}

/* The step a record belongs to: a goal comes before its steps, its result
 * after them. */
static int64_t step_of(const lf_event_t *e) {
  if (!e->pb)
    return 0;
  switch (e->topic) {
  case LF_TOPIC_GOALS:
    return -1;
  case LF_TOPIC_PROPOSED:
    return ((const lf_action_t *)e->pb)->step;
  case LF_TOPIC_APPROVED:
  case LF_TOPIC_APPROVALS_PENDING: {
    const lf_verdict_t *v = (const lf_verdict_t *)e->pb;
    return v->action ? v->action->step : 0;
  }
  case LF_TOPIC_OBSERVATIONS:
    return ((const lf_observation_t *)e->pb)->step;
  case LF_TOPIC_RESULTS:
    return INT64_MAX;
  default:
    return 0;
  }
}

/* At the same millisecond (common on loopback), step 1's observation
 * still comes before step 2's proposal. */
static int by_time(const void *a, const void *b) {
  const lf_event_t *x = a, *y = b;
  if (x->ts_ms != y->ts_ms)
    return x->ts_ms < y->ts_ms ? -1 : 1;
  int64_t sx = step_of(x), sy = step_of(y);
  if (sx != sy)
    return sx < sy ? -1 : 1;
  return (int)x->topic - (int)y->topic;
}

void lf_events_sort(lf_events_t *es) {
  if (es->n)
    qsort(es->v, es->n, sizeof(*es->v), by_time);
}

void lf_events_clear(lf_events_t *es) {
  for (size_t i = 0; i < es->n; i++)
    lf_event_clear(&es->v[i]);
  free(es->v);
  memset(es, 0, sizeof(*es));
}

static void print_reasons(FILE *out, Lamfleet__V1__Reason **reasons, size_t n) {
  for (size_t i = 0; i < n; i++)
    fprintf(out, "%s %s: %s", i ? ";" : ":", reasons[i]->code,
            reasons[i]->message);
}

static void print_observation(FILE *out, const lf_observation_t *o) {
  fprintf(out, "observed   step %u %s %s", o->step, o->action_name,
          lf_proto_obs_status_name(o->status));
  if (o->status == LF_OBS_SUCCEEDED)
    fprintf(out, " %s", o->result_json);
  else if (o->status == LF_OBS_DUPLICATE)
    fprintf(out, " of action %s: not executed again", o->duplicate_of);
  print_reasons(out, o->reasons, o->n_reasons);
  if (o->status == LF_OBS_FAILED)
    fprintf(out, ": %s", o->error);
}

static void print_verdict(FILE *out, const char *label, const lf_verdict_t *v) {
  fprintf(out, "%-10s step %u %s", label, v->action->step, v->action->name);
  if (*v->idempotency_key)
    fprintf(out, " (key %.24s%s)", v->idempotency_key,
            strlen(v->idempotency_key) > 24 ? "..." : "");
  print_reasons(out, v->reasons, v->n_reasons);
}

static void print_result(FILE *out, const lf_result_t *r) {
  fprintf(out, "result     %s after %u step%s%s%s",
          lf_proto_result_status_name(r->status), r->steps_used,
          r->steps_used == 1 ? "" : "s", *r->answer ? ": " : "",
          *r->answer ? r->answer : "");
  if (*r->error)
    fprintf(out, ": %s", r->error);
}

void lf_event_describe(FILE *out, const lf_event_t *ev) {
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
  case LF_TOPIC_APPROVED:
    print_verdict(out, "approved", (const lf_verdict_t *)ev->pb);
    break;
  case LF_TOPIC_APPROVALS_PENDING:
    print_verdict(out, "held", (const lf_verdict_t *)ev->pb);
    fputs(" (waiting for a human)", out);
    break;
  case LF_TOPIC_APPROVALS_DECISIONS: {
    const lf_approval_decision_t *d = (const lf_approval_decision_t *)ev->pb;
    fprintf(out, "%-10s action %s by %s%s%s",
            d->approved ? "allowed" : "denied", d->action_id, d->approver,
            *d->note ? ": " : "", d->note);
    break;
  }
  case LF_TOPIC_OBSERVATIONS:
    print_observation(out, (const lf_observation_t *)ev->pb);
    break;
  case LF_TOPIC_RESULTS:
    print_result(out, (const lf_result_t *)ev->pb);
    break;
  default: {
    const lf_dead_letter_t *d = (const lf_dead_letter_t *)ev->pb;
    fprintf(out, "dead       from %s [%d] @%lld by %s: %s", d->source_topic,
            (int)d->partition, (long long)d->offset, d->worker, d->error);
  }
  }
}

void lf_event_print(FILE *out, const lf_event_t *ev, int64_t t0_ms) {
  fprintf(out, "  %+6lldms  ", (long long)(ev->ts_ms - t0_ms));
  lf_event_describe(out, ev);
  fputc('\n', out);
}

int lf_event_print_json(FILE *out, const lf_event_t *ev, int64_t t0_ms) {
  char *text = lf_proto_to_json(ev->pb);
  json_t *record = text ? json_loads(text, 0, NULL) : NULL;
  json_t *o = json_pack("{s:s, s:i, s:I, s:s, s:I}", "topic",
                        lf_proto_topic_suffix(ev->topic), "partition",
                        (int)ev->partition, "offset", (json_int_t)ev->offset,
                        "key", ev->key, "timestamp_ms", (json_int_t)ev->ts_ms);
  int rc = -1;
  if (o && record &&
      (t0_ms < 0 || !json_object_set_new(o, "elapsed_ms",
                                         json_integer(ev->ts_ms - t0_ms))) &&
      !json_object_set(o, "record", record))
    rc = json_dumpf(o, out, JSON_COMPACT);
  if (!rc)
    fputc('\n', out);
  json_decref(record);
  json_decref(o);
  free(text);
  return rc;
}
