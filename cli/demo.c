/* lamfleet demo: the sample goals on the embedded stack, with their traces,
 * checked against what each is expected to show. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "kafka.h"
#include "log.h"
#include "redis_url.h"
#include "stack.h"
#include "util.h"

static int obs_status_of(const char *name) {
  for (int s = 1; s <= LF_OBS_DUPLICATE; s++)
    if (!strcmp(lf_proto_obs_status_name(s), name))
      return s;
  return -1;
}

/* The approval of goal_id, read back from actions.approved; NULL if none
 * within 10 s. */
static ProtobufCMessage *approval_of(const lf_conf_t *conf,
                                     const char *goal_id) {
  char errstr[512];
  lf_follow_t *past =
      lf_follow_new(conf, LF_FOLLOW_ALL, errstr, sizeof(errstr));
  ProtobufCMessage *found = NULL;
  int64_t until = lf_monotonic_ms() + 10000;
  while (past && !found && lf_monotonic_ms() < until) {
    lf_event_t ev;
    if (!lf_follow_next(past, 100, &ev))
      continue;
    if (ev.topic == LF_TOPIC_APPROVED && !strcmp(ev.goal_id, goal_id)) {
      found = ev.pb;
      ev.pb = NULL;
    }
    lf_event_clear(&ev);
  }
  lf_follow_destroy(past);
  return found;
}

/* Delivers the approval of goal_id again, as a crash before a commit would:
 * 1 when the executor answers with its stored observation and the payments
 * service saw no new request. */
static int redeliver(lf_follow_t *f, rd_kafka_t *p, const lf_conf_t *conf,
                     lf_stack_t *s, const char *goal_id, const char *about) {
  char errstr[512], topic[256];
  uint64_t before = lf_payments_requests(lf_stack_payments(s));
  int64_t t0 = lf_now_ms(), until = lf_monotonic_ms() + 30000;
  int again = 0;
  printf("\n[redelivery] %s\n", about);
  ProtobufCMessage *v = approval_of(conf, goal_id);
  if (!v ||
      lf_kafka_produce(
          p, lf_kafka_topic_name(conf, LF_TOPIC_APPROVED, topic, sizeof(topic)),
          goal_id, v, NULL, 0, NULL, errstr, sizeof(errstr)) ||
      rd_kafka_flush(p, 10000)) {
    printf("  cannot deliver it again: %s\n", v ? errstr : "no approval");
    lf_proto_free(v);
    return 0;
  }
  lf_proto_free(v);
  printf("      +0ms  approved   delivered again to %s\n", topic);
  while (!again && lf_monotonic_ms() < until) {
    lf_event_t ev;
    if (!lf_follow_next(f, 100, &ev))
      continue;
    if (ev.topic == LF_TOPIC_OBSERVATIONS && !strcmp(ev.goal_id, goal_id)) {
      lf_event_print(stdout, &ev, t0);
      again = 1;
    }
    lf_event_clear(&ev);
  }
  uint64_t after = lf_payments_requests(lf_stack_payments(s));
  int ok = again && after == before;
  printf("  => %s: the payments service received %llu request(s) for it, "
         "%llu payment(s) in all\n",
         ok ? "as expected" : "UNEXPECTED",
         (unsigned long long)(after - before),
         (unsigned long long)lf_payments_made(lf_stack_payments(s)));
  return ok;
}

/* Runs one sample goal; 1 when it behaved as expected. */
static int run_goal(lf_follow_t *f, rd_kafka_t *p, const lf_conf_t *conf,
                    const json_t *g, const char *tenant, size_t i,
                    char goal_id[LF_UUID_LEN + 1]) {
  const char *text = json_string_value(json_object_get(g, "text"));
  const char *about = json_string_value(json_object_get(g, "about"));
  const char *expect = json_string_value(json_object_get(g, "expect"));
  const char *expect_obs =
      json_string_value(json_object_get(g, "expect_observation"));
  char errstr[512];
  int saw[8] = {0};
  printf("\n[%zu] %s\n", i + 1, about ? about : text);
  lf_goal_defaults_t d = {tenant, 0, NULL};
  if (lf_goal_submit(p, conf, text, &d, goal_id, errstr, sizeof(errstr))) {
    printf("  cannot submit: %s\n", errstr);
    return 0;
  }
  int status = lf_goal_follow(f, goal_id, 60000, stdout, saw);
  const char *got = status ? lf_proto_result_status_name(status) : "no result";
  int ok = expect && !strcmp(got, expect);
  if (expect_obs) {
    int s = obs_status_of(expect_obs);
    ok = ok && s > 0 && saw[s];
  }
  printf("  => %s (expected %s%s%s)\n", ok ? "as expected" : "UNEXPECTED",
         expect ? expect : "?", expect_obs ? " with an observation " : "",
         expect_obs ? expect_obs : "");
  return ok;
}

int lf_cmd_demo(lf_conf_t *conf, int argc, char **argv) {
  char errstr[1024], path[1024], tenant[32], id[LF_UUID_LEN + 1], url[600];
  json_error_t jerr;
  int rc = LF_EXIT_ERROR, ok = 0;
  size_t n = 0;
  lf_stack_t *s = NULL;
  lf_follow_t *f = NULL;
  char(*ids)[LF_UUID_LEN + 1] = NULL;
  rd_kafka_t *p = NULL;
  if (argc > 1) {
    fprintf(stderr, "lamfleet demo: unexpected \"%s\"\n", argv[1]);
    return LF_EXIT_USAGE;
  }
  lf_conf_get_path(conf, "dev.goals", path, sizeof(path));
  json_t *root = json_load_file(path, 0, &jerr);
  json_t *goals = json_object_get(root, "goals");
  if (!json_is_array(goals)) {
    fprintf(stderr, "lamfleet demo: %s:%d: %s\n", path, jerr.line,
            root ? "expected {\"goals\": [...]}" : jerr.text);
    json_decref(root);
    return LF_EXIT_USAGE;
  }
  /* The demo runs beside anything: any free metrics port, unless asked. */
  if (lf_conf_get_int(conf, "metrics.port") == 9464 &&
      lf_conf_set(conf, "metrics.port", "-1", errstr, sizeof(errstr)))
    return LF_EXIT_ERROR;
  /* A tenant of its own, so reruns against one Redis don't collide. */
  lf_uuid(id);
  snprintf(tenant, sizeof(tenant), "demo-%.8s", id);
  if (!(s = lf_stack_start(conf, 7, errstr, sizeof(errstr))) ||
      !(f = lf_follow_new(conf, LF_FOLLOW_NEW, errstr, sizeof(errstr))) ||
      !(p = lf_goal_producer_new(conf, "lamfleet-demo", NULL, errstr,
                                 sizeof(errstr)))) {
    fprintf(stderr, "lamfleet demo: %s\n", errstr);
    goto done;
  }
  printf("lamfleet demo: embedded stack on %s, redis %s, tenant %s\n",
         lf_stack_bootstraps(s),
         lf_redis_url_redact(lf_stack_redis_url(s), url, sizeof(url)), tenant);
  n = json_array_size(goals);
  if (!(ids = calloc(n + 1, sizeof(*ids)))) {
    fprintf(stderr, "lamfleet demo: out of memory\n");
    goto done;
  }
  for (size_t i = 0; i < n; i++) {
    const json_t *g = json_array_get(goals, i);
    json_int_t again = json_integer_value(json_object_get(g, "redeliver"));
    const char *about = json_string_value(json_object_get(g, "about"));
    if (again > 0 && (size_t)again <= i)
      ok += redeliver(f, p, conf, s, ids[again - 1], about ? about : "");
    else
      ok += run_goal(f, p, conf, g, tenant, i, ids[i]);
  }
  printf("\n%d of %zu sample goals behaved as expected; the executor ran %llu "
         "action(s), the guard rejected %llu and caught %llu duplicate(s).\n",
         ok, n,
         (unsigned long long)lf_worker_counter(
             lf_stack_worker(s, LF_KIND_EXECUTOR), "executions"),
         (unsigned long long)lf_worker_counter(
             lf_stack_worker(s, LF_KIND_GUARD), "rejected"),
         (unsigned long long)lf_worker_counter(
             lf_stack_worker(s, LF_KIND_GUARD), "duplicates"));
  rc = (size_t)ok == n ? LF_EXIT_OK : LF_EXIT_GOAL_FAILED;
done:
  if (p)
    rd_kafka_destroy(p);
  lf_follow_destroy(f);
  lf_stack_stop(s);
  json_decref(root);
  free(ids);
  return rc;
}
