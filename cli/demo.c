/* lamfleet demo: the sample goals on the embedded stack, with their traces,
 * checked against what each is expected to show. */
#include <jansson.h>
#include <string.h>

#include "cli.h"
#include "kafka.h"
#include "log.h"
#include "stack.h"

static int obs_status_of(const char *name) {
  for (int s = 1; s <= LF_OBS_DUPLICATE; s++)
    if (!strcmp(lf_proto_obs_status_name(s), name))
      return s;
  return -1;
}

/* Runs one sample goal; 1 when it behaved as expected. */
static int run_goal(lf_follow_t *f, rd_kafka_t *p, const lf_conf_t *conf,
                    const json_t *g, const char *tenant, size_t i) {
  const char *text = json_string_value(json_object_get(g, "text"));
  const char *about = json_string_value(json_object_get(g, "about"));
  const char *expect = json_string_value(json_object_get(g, "expect"));
  const char *expect_obs =
      json_string_value(json_object_get(g, "expect_observation"));
  char errstr[512], goal_id[LF_UUID_LEN + 1];
  int saw[8] = {0};
  printf("\n[%zu] %s\n", i + 1, about ? about : text);
  if (lf_goal_submit(p, conf, text, tenant, 0, goal_id, errstr,
                     sizeof(errstr))) {
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
  char errstr[1024], path[1024], tenant[32], id[LF_UUID_LEN + 1];
  json_error_t jerr;
  int rc = LF_EXIT_ERROR, ok = 0;
  size_t n = 0;
  lf_stack_t *s = NULL;
  lf_follow_t *f = NULL;
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
  /* A tenant of its own, so reruns against one Redis don't collide. */
  lf_uuid(id);
  snprintf(tenant, sizeof(tenant), "demo-%.8s", id);
  if (!(s = lf_stack_start(conf, 7, errstr, sizeof(errstr))) ||
      !(f = lf_follow_new(conf, 0, errstr, sizeof(errstr))) ||
      !(p = lf_goal_producer_new(conf, "lamfleet-demo", errstr,
                                 sizeof(errstr)))) {
    fprintf(stderr, "lamfleet demo: %s\n", errstr);
    goto done;
  }
  printf("lamfleet demo: embedded stack on %s, redis %s, tenant %s\n",
         lf_stack_bootstraps(s), lf_stack_redis_url(s), tenant);
  n = json_array_size(goals);
  for (size_t i = 0; i < n; i++)
    ok += run_goal(f, p, conf, json_array_get(goals, i), tenant, i);
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
  return rc;
}
