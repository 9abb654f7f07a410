#include "support.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kafka.h"
#include "log.h"
#include "util.h"

extern char **environ;

lf_conf_t *lf_test_conf(void) {
  char errstr[512];
  lf_conf_t *conf = lf_conf_new();
  ck_assert_ptr_nonnull(conf);
  const char *level = getenv("LF_TEST_LOG");
  ck_assert_int_eq(lf_conf_set(conf, "log.level", level ? level : "warn",
                               errstr, sizeof(errstr)),
                   LF_OK);
  /* Tests run side by side: no fixed metrics port unless a test asks. */
  ck_assert_int_eq(
      lf_conf_set(conf, "metrics.port", "0", errstr, sizeof(errstr)), LF_OK);
  /* LAMFLEET_* variables reach the tests too, e.g. LAMFLEET_KAFKA_DEBUG. */
  if (lf_conf_load_env(conf, environ, errstr, sizeof(errstr)))
    ck_abort_msg("%s", errstr);
  lf_log_configure(conf);
  return conf;
}

void lf_test_env_start(lf_test_env_t *env, unsigned workers) {
  lf_test_env_start_with(env, workers, NULL);
}

void lf_test_env_start_with(lf_test_env_t *env, unsigned workers,
                            const char *const *settings) {
  char errstr[1024];
  memset(env, 0, sizeof(*env));
  env->conf = lf_test_conf();
  for (size_t i = 0; settings && settings[i]; i++)
    if (lf_conf_set_kv(env->conf, settings[i], errstr, sizeof(errstr)))
      ck_abort_msg("%s", errstr);
  env->stack = lf_stack_start(env->conf, workers, errstr, sizeof(errstr));
  if (!env->stack)
    ck_abort_msg("cannot start the embedded stack: %s", errstr);
  env->producer = lf_kafka_producer_new(env->conf, "lamfleet-test", NULL,
                                        errstr, sizeof(errstr));
  if (!env->producer)
    ck_abort_msg("producer: %s", errstr);
  for (int t = 0; t < LF_TOPIC__CNT; t++) {
    char name[256];
    lf_kafka_topic_name(env->conf, (lf_topic_t)t, name, sizeof(name));
    if (lf_kafka_topic_warm(env->producer, name, 10000, errstr, sizeof(errstr)))
      ck_abort_msg("producer: %s", errstr);
  }
}

redisContext *lf_test_redis(lf_test_env_t *env) {
  int port = 0;
  ck_assert_int_eq(
      sscanf(lf_stack_redis_url(env->stack), "redis://127.0.0.1:%d", &port), 1);
  redisContext *c = redisConnect("127.0.0.1", port);
  ck_assert(c && !c->err);
  return c;
}

void lf_test_env_stop(lf_test_env_t *env) {
  if (env->producer)
    rd_kafka_destroy(env->producer);
  lf_stack_stop(env->stack);
  lf_conf_destroy(env->conf);
  memset(env, 0, sizeof(*env));
}

static void flush(lf_test_env_t *env) {
  ck_assert_int_eq(rd_kafka_flush(env->producer, 10000),
                   RD_KAFKA_RESP_ERR_NO_ERROR);
}

void lf_test_produce(lf_test_env_t *env, lf_topic_t topic, const char *key,
                     const ProtobufCMessage *msg) {
  char errstr[512], name[256];
  lf_kafka_topic_name(env->conf, topic, name, sizeof(name));
  if (lf_kafka_produce(env->producer, name, key, msg, NULL, 0, NULL, errstr,
                       sizeof(errstr)))
    ck_abort_msg("produce: %s", errstr);
  flush(env);
}

void lf_test_produce_raw(lf_test_env_t *env, lf_topic_t topic, const char *key,
                         const void *data, size_t len) {
  char name[256];
  lf_kafka_topic_name(env->conf, topic, name, sizeof(name));
  rd_kafka_resp_err_t err = rd_kafka_producev(
      env->producer, RD_KAFKA_V_TOPIC(name),
      RD_KAFKA_V_KEY(key, key ? strlen(key) : 0),
      RD_KAFKA_V_VALUE((void *)data, len),
      RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
  ck_assert_msg(!err, "produce: %s", rd_kafka_err2str(err));
  flush(env);
}

void lf_test_propose(lf_test_env_t *env, const char *tenant,
                     const char *goal_id, const char *name,
                     const char *arguments_json) {
  lf_test_propose_keyed(env, tenant, goal_id, name, arguments_json, "");
}

void lf_test_propose_keyed(lf_test_env_t *env, const char *tenant,
                           const char *goal_id, const char *name,
                           const char *arguments_json, const char *key) {
  char action_id[300];
  snprintf(action_id, sizeof(action_id), "%s:0", goal_id);
  lf_action_t a = LF_ACTION_INIT;
  a.action_id = action_id;
  a.goal_id = (char *)goal_id;
  a.tenant = (char *)tenant;
  a.name = (char *)name;
  a.arguments_json = (char *)arguments_json;
  a.idempotency_key = (char *)key;
  lf_test_produce(env, LF_TOPIC_PROPOSED, goal_id, &a.base);
}

void lf_test_propose_many(lf_test_env_t *env, const char *key, int n,
                          const char *prefix, const char *tenant,
                          const char *name, const char *args_fmt) {
  char errstr[512], topic[256], goal[256], id[300], args[1024];
  lf_kafka_topic_name(env->conf, LF_TOPIC_PROPOSED, topic, sizeof(topic));
  for (int i = 0; i < n; i++) {
    lf_action_t a = LF_ACTION_INIT;
    snprintf(goal, sizeof(goal), "%s%03d", prefix, i);
    snprintf(id, sizeof(id), "%s:0", goal);
    snprintf(args, sizeof(args), args_fmt, i);
    a.action_id = id;
    a.goal_id = goal;
    a.tenant = (char *)tenant;
    a.name = (char *)name;
    a.arguments_json = args;
    if (lf_kafka_produce(env->producer, topic, key, &a.base, NULL, 0, NULL,
                         errstr, sizeof(errstr)))
      ck_abort_msg("produce: %s", errstr);
  }
  ck_assert_int_eq(rd_kafka_flush(env->producer, 10000), 0);
}

void lf_test_submit(lf_test_env_t *env, const char *text, const char *tenant,
                    char out_goal_id[37]) {
  lf_goal_t g = LF_GOAL_INIT;
  lf_uuid(out_goal_id);
  g.goal_id = out_goal_id;
  g.tenant = (char *)tenant;
  g.text = (char *)text;
  g.created_at_ms = lf_now_ms();
  lf_test_produce(env, LF_TOPIC_GOALS, out_goal_id, &g.base);
}

static int record_of(const rd_kafka_message_t *m, lf_topic_t topic,
                     lf_test_record_t *r) {
  char why[256];
  memset(r, 0, sizeof(*r));
  r->partition = m->partition;
  r->key = strndup(m->key ? (const char *)m->key : "", m->key_len);
  r->value = malloc(m->len + 1);
  if (!r->key || !r->value)
    return -1;
  memcpy(r->value, m->payload, m->len);
  r->len = m->len;
  r->pb = lf_proto_decode(lf_proto_topic_descriptor(topic), m->payload, m->len,
                          why, sizeof(why));
  rd_kafka_headers_t *h;
  const void *v;
  size_t vlen;
  if (!rd_kafka_message_headers(m, &h) &&
      !rd_kafka_header_get_last(h, LF_HDR_TRACEPARENT, &v, &vlen) &&
      vlen == LF_TRACEPARENT_LEN)
    memcpy(r->traceparent, v, vlen);
  return 0;
}

static void record_free(lf_test_record_t *r) {
  lf_proto_free(r->pb);
  free(r->key);
  free(r->value);
}

lf_test_records_t lf_test_read(lf_test_env_t *env, lf_topic_t topic, size_t min,
                               int timeout_ms,
                               int (*match)(const lf_test_record_t *, void *),
                               void *opaque) {
  char errstr[512], name[256];
  const char *topics[1] = {
      lf_kafka_topic_name(env->conf, topic, name, sizeof(name))};
  lf_test_records_t out = {0};
  size_t cap = 0;
  rd_kafka_t *c =
      lf_kafka_consumer_new(env->conf, "lamfleet-test-reader", "lamfleet-test",
                            errstr, sizeof(errstr));
  if (!c || lf_kafka_assign_all(c, topics, 1, 1, 10000, errstr, sizeof(errstr)))
    ck_abort_msg("reader for %s: %s", name, errstr);
  int64_t deadline = lf_monotonic_ms() + timeout_ms;
  while (out.n < min && lf_monotonic_ms() < deadline) {
    rd_kafka_message_t *m = rd_kafka_consumer_poll(c, 100);
    if (!m)
      continue;
    lf_test_record_t r;
    if (!m->err && !record_of(m, topic, &r)) {
      if (!match || match(&r, opaque)) {
        if (out.n == cap) {
          cap = cap ? cap * 2 : 16;
          out.v = realloc(out.v, cap * sizeof(*out.v));
          ck_assert_ptr_nonnull(out.v);
        }
        out.v[out.n++] = r;
      } else {
        record_free(&r);
      }
    }
    rd_kafka_message_destroy(m);
  }
  rd_kafka_consumer_close(c);
  rd_kafka_destroy(c);
  return out;
}

void lf_test_records_free(lf_test_records_t *r) {
  for (size_t i = 0; i < r->n; i++)
    record_free(&r->v[i]);
  free(r->v);
  memset(r, 0, sizeof(*r));
}

int lf_test_match_goal(const lf_test_record_t *r, void *goal_id) {
  return !strcmp(r->key, goal_id);
}

int lf_test_run(Suite *s) {
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? 1 : 0;
}

pid_t lf_test_spawn(lf_test_env_t *env, const char *path,
                    const char *const *settings) {
  enum { MAX_ARGS = 64 };
  char redis[512], keys[1024], approvers[1024], obs_keys[1024];
  const char *argv[MAX_ARGS + 1];
  int n = 0;
  snprintf(redis, sizeof(redis), "redis.url=%s",
           lf_stack_redis_url(env->stack));
  snprintf(keys, sizeof(keys), "signing.keys=%s",
           lf_conf_get(env->conf, "signing.keys"));
  snprintf(approvers, sizeof(approvers), "approvers=%s",
           lf_conf_get(env->conf, "approvers"));
  snprintf(obs_keys, sizeof(obs_keys), "observation.keys=%s",
           lf_conf_get(env->conf, "observation.keys"));
  const char *const fixed[] = {"-b", lf_stack_bootstraps(env->stack),
                               "-X", redis,
                               "-X", keys,
                               "-X", approvers,
                               "-X", obs_keys,
                               "-X", "metrics.port=0",
                               "-X", "kafka.session.timeout.ms=6000",
                               "-X", "log.level=error"};
  argv[n++] = path;
  for (size_t i = 0; i < sizeof(fixed) / sizeof(*fixed); i++)
    argv[n++] = fixed[i];
  for (size_t i = 0; settings && settings[i]; i++) {
    ck_assert_int_lt(n + 2, MAX_ARGS);
    argv[n++] = "-X";
    argv[n++] = settings[i];
  }
  argv[n] = NULL;
  pid_t pid = fork();
  ck_assert_int_ge(pid, 0);
  if (!pid) {
    prctl(PR_SET_PDEATHSIG, SIGKILL); /* a failed test leaves none behind */
    execv(path, (char *const *)argv);
    _exit(127);
  }
  return pid;
}

int lf_test_cli(lf_test_env_t *env, const char *path, char *out, size_t size,
                const char *args) {
  char cmd[2048];
  /* with the stack's approver key, as an approver holds it */
  snprintf(cmd, sizeof(cmd),
           "%s -b %s -X redis.url=%s -X approver.key=%s %s 2>&1", path,
           lf_stack_bootstraps(env->stack), lf_stack_redis_url(env->stack),
           lf_conf_get(env->conf, "approver.key"), args);
  FILE *p = popen(cmd, "r");
  ck_assert_ptr_nonnull(p);
  size_t n = fread(out, 1, size - 1, p);
  out[n] = '\0';
  int st = pclose(p);
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}
