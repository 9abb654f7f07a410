/* Operating the fleet: `lamfleet lag` against the mock cluster with
 * offsets produced and committed by the test prints the exact figures,
 * and --max-lag gives scripts their exit codes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kafka.h"
#include "support.h"
#include "util.h"

static void produce_to(lf_test_env_t *env, const char *topic, int32_t part,
                       int n) {
  for (int i = 0; i < n; i++) {
    rd_kafka_resp_err_t err = rd_kafka_producev(
        env->producer, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION(part),
        RD_KAFKA_V_VALUE("x", 1), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
        RD_KAFKA_V_END);
    ck_assert_msg(!err, "%s", rd_kafka_err2str(err));
  }
  ck_assert_int_eq(rd_kafka_flush(env->producer, 10000), 0);
}

/* Commits as the group would, without joining it. */
static void commit(lf_test_env_t *env, const char *group, const char *topic,
                   int32_t part, int64_t offset) {
  char errstr[512];
  rd_kafka_t *c = lf_kafka_consumer_new(env->conf, group, "test-commit", errstr,
                                        sizeof(errstr));
  ck_assert_msg(c != NULL, "%s", errstr);
  rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
  rd_kafka_topic_partition_list_add(l, topic, part)->offset = offset;
  rd_kafka_resp_err_t err = rd_kafka_commit(c, l, 0);
  ck_assert_msg(!err, "%s", rd_kafka_err2str(err));
  rd_kafka_topic_partition_list_destroy(l);
  rd_kafka_destroy_flags(c, RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
}

/* Runs `lamfleet ARGS` and checks its exit status, showing its output
 * when it differs. */
#define CLI_EXPECT(env, out, args, want)                                       \
  do {                                                                         \
    int rc_ = lf_test_cli(env, LF_CLI_PATH, out, sizeof(out), args);           \
    ck_assert_msg(rc_ == (want), "lamfleet %s: exit %d, not %d:\n%s", args,    \
                  rc_, want, out);                                             \
  } while (0)

static int has_line(const char *out, const char *line) {
  const char *at = strstr(out, line);
  return at && (at == out || at[-1] == '\n') && at[strlen(line)] == '\n';
}

START_TEST(lag_prints_the_exact_figures) {
  lf_test_env_t env;
  char out[32768];
  lf_test_env_start(&env, 0);
  produce_to(&env, "lamfleet.goals", 2, 7);
  produce_to(&env, "lamfleet.goals", 4, 3);
  produce_to(&env, "lamfleet.actions.approved", 1, 4);
  commit(&env, "lamfleet-planner", "lamfleet.goals", 2, 5);
  commit(&env, "lamfleet-executor", "lamfleet.actions.approved", 1, 4);

  ck_assert_int_eq(
      lf_test_cli(&env, LF_CLI_PATH, out, sizeof(out), "lag --json"), 0);
  /* committed 5 of 7: 2 behind; nothing committed of 3: all 3 behind */
  ck_assert_msg(
      has_line(out, "{\"group\":\"lamfleet-planner\",\"topic\":\"lamfleet."
                    "goals\",\"partition\":2,\"committed\":5,\"end\":7,"
                    "\"lag\":2}") &&
          has_line(out, "{\"group\":\"lamfleet-planner\",\"topic\":"
                        "\"lamfleet.goals\",\"partition\":4,\"committed\":-1,"
                        "\"end\":3,\"lag\":3}") &&
          has_line(out, "{\"group\":\"lamfleet-executor\",\"topic\":"
                        "\"lamfleet.actions.approved\",\"partition\":1,"
                        "\"committed\":4,\"end\":4,\"lag\":0}") &&
          strstr(out, "{\"group\":\"lamfleet-planner\",\"kind\":\"planner\","
                      "\"lag\":5,\"state\":\"state unknown (the broker does "
                      "not support DescribeGroups)\"}") &&
          strstr(out, "{\"group\":\"lamfleet-guard\",\"kind\":\"guard\","
                      "\"lag\":0,"),
      "%s", out);

  ck_assert_int_eq(lf_test_cli(&env, LF_CLI_PATH, out, sizeof(out),
                               "lag --group lamfleet-planner"),
                   0);
  ck_assert_msg(strstr(out,
                       "lamfleet-planner     lamfleet.goals          "
                       "        2            5            7          2\n") &&
                    strstr(out, "lamfleet-planner     (total)") &&
                    !strstr(out, "lamfleet-guard"),
                "%s", out);

  /* the planner's 5 are above 4; the other groups are not the question */
  ck_assert_int_eq(
      lf_test_cli(&env, LF_CLI_PATH, out, sizeof(out), "lag --max-lag 4"), 1);
  ck_assert_int_eq(
      lf_test_cli(&env, LF_CLI_PATH, out, sizeof(out), "lag --max-lag 5"), 0);
  ck_assert_int_eq(lf_test_cli(&env, LF_CLI_PATH, out, sizeof(out),
                               "lag --watch 1 --max-lag 5"),
                   0);
  ck_assert_int_eq(
      lf_test_cli(&env, LF_CLI_PATH, out, sizeof(out), "lag --group nobody"),
      2);
  ck_assert_msg(strstr(out, "\"nobody\" is not a group of the fleet"), "%s",
                out);
  ck_assert_int_eq(
      lf_test_cli(&env, LF_CLI_PATH, out, sizeof(out), "lag --max-lag -3"), 2);

  /* the mock cluster never answers CreateTopics: a bounded wait, and a
   * plain reason */
  ck_assert_int_eq(lf_test_cli(&env, LF_CLI_PATH, out, sizeof(out),
                               "topics create --timeout 2"),
                   3);
  ck_assert_msg(strstr(out, "did not create the topics") &&
                    strstr(out, "mock cluster never answers CreateTopics"),
                "%s", out);
  ck_assert_int_eq(lf_test_cli(&env, LF_CLI_PATH, out, sizeof(out),
                               "topics create --partitions 0"),
                   2);
  lf_test_env_stop(&env);
}
END_TEST

static int count_lines(const char *s) {
  int n = 0;
  for (; *s; s++)
    n += *s == '\n';
  return n;
}

/* goal submit --file: lines of text or JSON, a bad line reported by
 * number and skipped (exit 2), every other goal on the topic once. */
START_TEST(goals_from_a_file) {
  lf_test_env_t env;
  static char out[1 << 20];
  char path[] = "/tmp/lamfleet-goals-XXXXXX", args[256];
  lf_test_env_start(&env, 0);
  int fd = mkstemp(path);
  ck_assert_int_ge(fd, 0);
  FILE *f = fdopen(fd, "w");
  for (int i = 0; i < 300; i++)
    fprintf(f, "echo line %d\n", i);
  fprintf(f, "{\"text\": \"pay invoice 7\", \"tenant\": \"acme\", "
             "\"max_steps\": 2}\n\n{\"text\": 5}\n");
  fclose(f);
  snprintf(args, sizeof(args), "goal submit --tenant ops --file %s", path);
  ck_assert_int_eq(lf_test_cli(&env, LF_CLI_PATH, out, sizeof(out), args), 2);
  ck_assert_msg(strstr(out, ":303: expected {\"text\": \"...\"}"), "%s", out);
  ck_assert_int_eq(count_lines(out), 302); /* 301 ids and the complaint */

  lf_test_records_t r =
      lf_test_read(&env, LF_TOPIC_GOALS, 400, 5000, NULL, NULL);
  ck_assert_uint_eq(r.n, 301);
  int acme = 0;
  for (size_t i = 0; i < r.n; i++) {
    const lf_goal_t *g = (const lf_goal_t *)r.v[i].pb;
    ck_assert_msg(strstr(out, g->goal_id), "%s not printed", g->goal_id);
    if (!strcmp(g->tenant, "acme")) {
      acme++;
      ck_assert_str_eq(g->text, "pay invoice 7");
      ck_assert_uint_eq(g->max_steps, 2);
    } else {
      ck_assert_str_eq(g->tenant, "ops");
    }
  }
  ck_assert_int_eq(acme, 1);
  lf_test_records_free(&r);

  f = fopen(path, "w");
  fprintf(f, "[{\"text\": \"a\"}, {\"text\": \"b\", \"key\": \"k\"}]");
  fclose(f);
  snprintf(args, sizeof(args), "goal submit --json --file %s", path);
  ck_assert_int_eq(lf_test_cli(&env, LF_CLI_PATH, out, sizeof(out), args), 0);
  ck_assert_int_eq(count_lines(out), 2);
  ck_assert_msg(strstr(out, "\"text\":\"b\""), "%s", out);
  unlink(path);
  lf_test_env_stop(&env);
}
END_TEST

/* Where `dlq list --json` puts the dead letter whose line holds what. */
static void dlq_position(const char *out, const char *what, char *pos,
                         size_t size) {
  const char *at = strstr(out, what);
  ck_assert_msg(at != NULL, "%s not in %s", what, out);
  while (at > out && at[-1] != '\n')
    at--;
  int part = -1;
  long long off = -1;
  ck_assert_int_eq(sscanf(at,
                          "{\"topic\":\"dlq\",\"partition\":%d,\"offset\":%lld",
                          &part, &off),
                   2);
  snprintf(pos, size, "%d:%lld", part, off);
}

/* A dead letter holding a proposal the guard would approve, as a worker
 * that failed on it for a passing reason would have written it. */
static void dead_letter_a_proposal(lf_test_env_t *env, const char *goal_id) {
  char action_id[64];
  size_t len;
  snprintf(action_id, sizeof(action_id), "%s:0", goal_id);
  lf_action_t a = LF_ACTION_INIT;
  a.action_id = action_id;
  a.goal_id = (char *)goal_id;
  a.tenant = "ops";
  a.name = "echo";
  a.arguments_json = "{\"message\":\"again\"}";
  uint8_t *bytes = lf_proto_encode(&a.base, &len);
  ck_assert_ptr_nonnull(bytes);
  lf_dead_letter_t d = LF_DEAD_LETTER_INIT;
  d.source_topic = "lamfleet.actions.proposed";
  d.error = "redis: connection refused";
  d.original.data = bytes;
  d.original.len = len;
  d.original_key.data = (uint8_t *)goal_id;
  d.original_key.len = strlen(goal_id);
  d.worker = "guard-gone";
  d.failed_at_ms = lf_now_ms();
  lf_test_produce(env, LF_TOPIC_DLQ, goal_id, &d.base);
  free(bytes);
}

static int count_of(lf_test_env_t *env, lf_topic_t topic, size_t min,
                    const char *key) {
  lf_test_records_t r =
      lf_test_read(env, topic, min, 3000, lf_test_match_goal, (void *)key);
  int n = (int)r.n;
  lf_test_records_free(&r);
  return n;
}

/* dlq list: a record the guard cannot decode, with where it came from and
 * why. dlq replay: a dead letter back on its source topic, the proposal
 * approved then; replaying everything again approves nothing twice. */
START_TEST(dead_letters_listed_and_replayed) {
  static const char garbage[] = "\xff\xff not protobuf";
  lf_test_env_t env;
  char out[32768], pos[64], args[256];
  lf_test_env_start(&env, 1u << LF_KIND_GUARD);
  lf_test_produce_raw(&env, LF_TOPIC_PROPOSED, "bad-1", garbage,
                      sizeof(garbage) - 1);
  lf_test_records_t d = lf_test_read(&env, LF_TOPIC_DLQ, 1, 30000, NULL, NULL);
  ck_assert_uint_eq(d.n, 1);
  lf_test_records_free(&d);
  CLI_EXPECT(&env, out, "dlq list", 0);
  ck_assert_msg(strstr(out, "lamfleet.actions.proposed [") &&
                    strstr(out, "key bad-1  from guard-") &&
                    strstr(out, "1 dead letter\n"),
                "%s", out);

  dead_letter_a_proposal(&env, "replayed-goal");
  CLI_EXPECT(&env, out, "dlq list --json", 0);
  ck_assert_int_eq(count_lines(out), 2);
  ck_assert_msg(out[0] == '{' && strstr(out, "\"source_topic\":\"lamfleet."
                                             "actions.proposed\""),
                "%s", out);
  dlq_position(out, "redis: connection refused", pos, sizeof(pos));

  snprintf(args, sizeof(args), "dlq replay --dry-run %s", pos);
  CLI_EXPECT(&env, out, args, 0);
  ck_assert_msg(strstr(out, "would replay"), "%s", out);
  ck_assert_int_eq(count_of(&env, LF_TOPIC_PROPOSED, 1, "replayed-goal"), 0);

  snprintf(args, sizeof(args), "dlq replay %s", pos);
  CLI_EXPECT(&env, out, args, 0);
  ck_assert_msg(
      strstr(out, "-> lamfleet.actions.proposed (key replayed-goal") &&
          strstr(out, "1 dead letter replayed\n"),
      "%s", out);
  ck_assert_int_eq(count_of(&env, LF_TOPIC_APPROVED, 1, "replayed-goal"), 1);

  /* Everything again: the garbage comes back dead; the proposal is the
   * same action again, approved again under the same idempotency key, so
   * the executor runs it once. */
  CLI_EXPECT(&env, out,
             "dlq replay --all --source "
             "lamfleet.actions.proposed",
             0);
  ck_assert_msg(strstr(out, "2 dead letters replayed\n"), "%s", out);
  ck_assert_int_eq(count_of(&env, LF_TOPIC_PROPOSED, 4, "bad-1") +
                       count_of(&env, LF_TOPIC_PROPOSED, 4, "replayed-goal"),
                   4);
  d = lf_test_read(&env, LF_TOPIC_DLQ, 3, 30000, NULL, NULL);
  ck_assert_uint_eq(d.n, 3);
  lf_test_records_free(&d);
  lf_test_records_t a = lf_test_read(&env, LF_TOPIC_APPROVED, 2, 30000,
                                     lf_test_match_goal, "replayed-goal");
  ck_assert_uint_eq(a.n, 2);
  ck_assert_str_eq(((lf_verdict_t *)a.v[0].pb)->idempotency_key,
                   ((lf_verdict_t *)a.v[1].pb)->idempotency_key);
  lf_test_records_free(&a);

  CLI_EXPECT(&env, out, "dlq replay 0:999", 3);
  ck_assert_msg(strstr(out, "no dead letter at 0:999"), "%s", out);
  CLI_EXPECT(&env, out, "dlq replay", 2);
  CLI_EXPECT(&env, out, "dlq replay 1:x", 2);
  lf_test_env_stop(&env);
}
END_TEST

/* The position in out of each of lines, in order; fails if one is
 * missing or out of order. */
static void in_order(const char *out, const char *const *lines) {
  const char *at = out;
  for (size_t i = 0; lines[i]; i++) {
    const char *next = strstr(at, lines[i]);
    ck_assert_msg(next != NULL, "\"%s\" missing or out of order in:\n%s",
                  lines[i], out);
    at = next + strlen(lines[i]);
  }
}

/* goal show: a finished goal's trace, in order, timed; --json one record
 * a line; tail: what the topics hold and what comes. */
START_TEST(goal_traced_and_tailed) {
  static const char *const trace[] = {
      "goal       \"greet ops\" (tenant ops)",
      "proposed   step 0 echo {\"message\":\"hello, ops\"}",
      "approved   step 0 echo",
      "observed   step 0 echo succeeded",
      "proposed   step 1 sleep_ms",
      "observed   step 1 sleep_ms succeeded",
      "proposed   step 2 echo",
      "observed   step 2 echo succeeded",
      "result     completed after 3 steps: greeted ops",
      "completed in ",
      NULL};
  lf_test_env_t env;
  static char out[1 << 16];
  char id[37], other[37], args[256];
  lf_test_env_start(&env, LF_KINDS_ALL);
  lf_test_submit(&env, "greet ops", "ops", id);
  lf_test_submit(&env, "greet dev", "dev", other);
  ck_assert_int_eq(count_of(&env, LF_TOPIC_RESULTS, 1, id), 1);
  ck_assert_int_eq(count_of(&env, LF_TOPIC_RESULTS, 1, other), 1);

  snprintf(args, sizeof(args), "goal show %s", id);
  CLI_EXPECT(&env, out, args, 0);
  in_order(out, trace);
  ck_assert_msg(!strstr(out, other) && !strstr(out, "dev"), "%s", out);

  snprintf(args, sizeof(args), "goal show %s --json", id);
  CLI_EXPECT(&env, out, args, 0);
  ck_assert_msg(count_lines(out) == 11, "%s", out); /* goal, 3 x 3, result */
  long long last = -1, ms;
  for (const char *l = strstr(out, "\"elapsed_ms\":"); l;
       l = strstr(l + 1, "\"elapsed_ms\":")) {
    ck_assert_int_eq(sscanf(l, "\"elapsed_ms\":%lld", &ms), 1);
    ck_assert_int_ge(ms, last);
    last = ms;
  }
  ck_assert_int_ge(last, 0);
  CLI_EXPECT(&env, out, "goal show nobody", 3);
  ck_assert_msg(strstr(out, "no record of goal nobody"), "%s", out);

  CLI_EXPECT(&env, out, "tail --exit --json results", 0);
  ck_assert_msg(count_lines(out) == 2 && strstr(out, id) && strstr(out, other),
                "%s", out);
  snprintf(args, sizeof(args), "tail --exit --goal %s goals observations", id);
  CLI_EXPECT(&env, out, args, 0);
  ck_assert_msg(count_lines(out) == 4 && strstr(out, "observations [") &&
                    !strstr(out, other),
                "%s", out);
  CLI_EXPECT(&env, out, "tail nowhere", 2);

  /* Live: tail reads the two results held, then waits for a third. */
  char cmd[1024];
  snprintf(cmd, sizeof(cmd),
           "timeout 60 %s -b %s tail --from-beginning --count 3 results",
           LF_CLI_PATH, lf_stack_bootstraps(env.stack));
  FILE *p = popen(cmd, "r");
  ck_assert_ptr_nonnull(p);
  usleep(300 * 1000);
  lf_test_submit(&env, "greet live", "live", id);
  size_t n = fread(out, 1, sizeof(out) - 1, p);
  out[n] = '\0';
  ck_assert_int_eq(pclose(p), 0);
  ck_assert_int_eq(count_lines(out), 3);
  ck_assert_msg(strstr(out, id) && strstr(out, "greeted live"), "%s", out);
  lf_test_env_stop(&env);
}
END_TEST

int main(void) {
  Suite *s = suite_create("ops");
  TCase *tc = tcase_create("ops");
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, lag_prints_the_exact_figures);
  tcase_add_test(tc, goals_from_a_file);
  tcase_add_test(tc, dead_letters_listed_and_replayed);
  tcase_add_test(tc, goal_traced_and_tailed);
  suite_add_tcase(s, tc);
  return lf_test_run(s);
}
