/* Operating the fleet: `lamfleet lag` against the mock cluster with
 * offsets produced and committed by the test prints the exact figures,
 * and --max-lag gives scripts their exit codes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kafka.h"
#include "support.h"

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

/* dlq list: a record the guard cannot decode, with where it came from and
 * why. */
START_TEST(dead_letters_listed) {
  static const char garbage[] = "\xff\xff not protobuf";
  lf_test_env_t env;
  char out[32768];
  lf_test_env_start(&env, 1u << LF_KIND_GUARD);
  lf_test_produce_raw(&env, LF_TOPIC_PROPOSED, "bad-1", garbage,
                      sizeof(garbage) - 1);
  lf_test_records_t d = lf_test_read(&env, LF_TOPIC_DLQ, 1, 30000, NULL, NULL);
  ck_assert_uint_eq(d.n, 1);
  lf_test_records_free(&d);
  ck_assert_int_eq(lf_test_cli(&env, LF_CLI_PATH, out, sizeof(out), "dlq list"),
                   0);
  ck_assert_msg(strstr(out, "lamfleet.actions.proposed [") &&
                    strstr(out, "key bad-1  from guard-") &&
                    strstr(out, "1 dead letter\n"),
                "%s", out);
  ck_assert_int_eq(
      lf_test_cli(&env, LF_CLI_PATH, out, sizeof(out), "dlq list --json"), 0);
  ck_assert_msg(strstr(out, "lamfleet.actions.proposed") && out[0] == '{', "%s",
                out);
  ck_assert_int_eq(
      lf_test_cli(&env, LF_CLI_PATH, out, sizeof(out), "dlq replay"), 2);
  lf_test_env_stop(&env);
}
END_TEST

int main(void) {
  Suite *s = suite_create("ops");
  TCase *tc = tcase_create("ops");
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, lag_prints_the_exact_figures);
  tcase_add_test(tc, goals_from_a_file);
  tcase_add_test(tc, dead_letters_listed);
  suite_add_tcase(s, tc);
  return lf_test_run(s);
}
