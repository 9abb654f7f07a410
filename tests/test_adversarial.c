/* The fleet tried as an attacker or a careless producer would: every limit
 * hit while deciding rejects (fail closed), and a bad record goes to the
 * dead-letter topic while the records behind it are handled. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "approver.h"
#include "guard.h"
#include "kafka.h"
#include "lf_text.h"
#include "sign.h"
#include "support.h"
#include "util.h"

#define GUARD (1u << LF_KIND_GUARD)

static char errstr[1024];

/* A regex that backtracks past any match limit on the subject below. */
#define EVIL_RE "^(a+)+$"
#define EVIL_SUBJECT "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa!"

/* anyOf of two refs of anyOf of two refs ... 22 levels: 4 million visits
 * for a value that matches none, so the step budget runs out inside a
 * branch whose failure alone would be fine. */
static char *fanout_catalog(void) {
  char *buf = malloc(65536);
  ck_assert_ptr_nonnull(buf);
  int n = snprintf(
      buf, 65536,
      "{\"version\":\"adv-1\",\"actions\":[{\"name\":\"pay\",\"inputSchema\":"
      "{\"type\":\"object\",\"properties\":{"
      "\"x\":{\"$ref\":\"#/$defs/l0\"},"
      "\"deep\":{\"not\":{\"$ref\":\"#/$defs/nest\"}},"
      "\"code\":{\"type\":\"string\",\"not\":{\"pattern\":\"" EVIL_RE "\"}},"
      "\"amount\":{\"type\":\"number\",\"maximum\":100}},"
      "\"$defs\":{\"nest\":{\"type\":\"object\",\"properties\":{\"a\":"
      "{\"$ref\":\"#/$defs/nest\"}},\"required\":[\"a\"]},");
  for (int i = 0; i < 22; i++)
    n += snprintf(buf + n, 65536 - (size_t)n,
                  "\"l%d\":{\"anyOf\":[{\"$ref\":\"#/$defs/l%d\"},"
                  "{\"$ref\":\"#/$defs/l%d\"}]},",
                  i, i + 1, i + 1);
  snprintf(buf + n, 65536 - (size_t)n,
           "\"l22\":{\"type\":\"integer\"}}}},"
           "{\"name\":\"send\",\"inputSchema\":{\"type\":\"object\","
           "\"properties\":{\"memo\":{\"type\":\"string\"}}},"
           "\"x-lamfleet\":{\"deny\":[{\"when\":\"args.memo matches '" EVIL_RE
           "'\",\"message\":\"no such memos\"}]}},"
           "{\"name\":\"hold\",\"inputSchema\":{\"type\":\"object\","
           "\"properties\":{\"memo\":{\"type\":\"string\"}}},"
           "\"x-lamfleet\":{\"approval\":\"args.memo matches '" EVIL_RE
           "' or args.memo == 'x'\"}},"
           "{\"name\":\"spend\",\"inputSchema\":{\"type\":\"object\","
           "\"properties\":{\"amount\":{\"type\":\"number\"}},"
           "\"required\":[\"amount\"]},\"x-lamfleet\":{\"budget\":"
           "{\"argument\":\"amount\",\"limit\":100,\"window\":\"1d\"}}}]}");
  return buf;
}

typedef struct verdict {
  lf_offline_t offline;
  char codes[512];
} verdict_t;

static verdict_t decide(const lf_catalog_t *cat, const char *name,
                        const char *args) {
  lf_action_t a = LF_ACTION_INIT;
  lf_reasons_t r = {0};
  lf_guard_eval_t e;
  verdict_t v = {0};
  a.name = (char *)name;
  a.arguments_json = (char *)args;
  a.tenant = "t";
  ck_assert_int_eq(lf_guard_evaluate(cat, &a, &r, &e), LF_OK);
  v.offline = lf_guard_offline(cat, &e);
  for (size_t i = 0; i < r.n; i++)
    snprintf(v.codes + strlen(v.codes), sizeof(v.codes) - strlen(v.codes),
             "%s%s %s", i ? "; " : "", r.v[i].code, r.v[i].path);
  lf_guard_eval_clear(&e);
  lf_reasons_free(&r);
  return v;
}

static char *nested(int levels) {
  char *s = malloc((size_t)levels * 6 + 8);
  ck_assert_ptr_nonnull(s);
  size_t n = 0;
  for (int i = 0; i < levels; i++)
    n += (size_t)sprintf(s + n, "{\"a\":");
  n += (size_t)sprintf(s + n, "{}");
  for (int i = 0; i < levels; i++)
    s[n++] = '}';
  s[n] = '\0';
  return s;
}

START_TEST(limits_hit_while_deciding_reject) {
  char *json = fanout_catalog();
  lf_catalog_t *cat =
      lf_catalog_parse(json, "adv.json", errstr, sizeof(errstr));
  ck_assert_msg(cat != NULL, "%s", errstr);
  /* the budget runs out inside anyOf: the amount behind it is not waved
   * through, and the verdict says why */
  verdict_t v = decide(cat, "pay", "{\"x\":\"s\",\"amount\":99999999}");
  ck_assert_int_eq(v.offline, LF_OFFLINE_REJECT);
  ck_assert_msg(strstr(v.codes, "limit_exceeded /x"), "%s", v.codes);
  /* a value nested past the depth limit inside "not" */
  char *deep = nested(200), args[4096];
  snprintf(args, sizeof(args), "{\"deep\":%s}", deep);
  v = decide(cat, "pay", args);
  ck_assert_int_eq(v.offline, LF_OFFLINE_REJECT);
  ck_assert_msg(strstr(v.codes, "limit_exceeded /deep"), "%s", v.codes);
  free(deep);
  /* a pattern's match limit inside "not" */
  v = decide(cat, "pay", "{\"code\":\"" EVIL_SUBJECT "\"}");
  ck_assert_int_eq(v.offline, LF_OFFLINE_REJECT);
  ck_assert_msg(strstr(v.codes, "limit_exceeded /code"), "%s", v.codes);
  /* the same fields within bounds still pass */
  v = decide(cat, "pay",
             "{\"x\":5,\"deep\":{\"b\":1},\"code\":\"ab\",\"amount\":5}");
  ck_assert_msg(v.offline == LF_OFFLINE_ADMIT, "%s", v.codes);
  /* a deny rule whose regex hits its match limit denies nothing silently */
  v = decide(cat, "send", "{\"memo\":\"" EVIL_SUBJECT "\"}");
  ck_assert_int_eq(v.offline, LF_OFFLINE_REJECT);
  ck_assert_str_eq(v.codes, "limit_exceeded ");
  v = decide(cat, "send", "{\"memo\":\"hello\"}");
  ck_assert_int_eq(v.offline, LF_OFFLINE_ADMIT);
  /* nor does an approval condition: a human is not asked about what was
   * not checked, the action is refused */
  v = decide(cat, "hold", "{\"memo\":\"" EVIL_SUBJECT "\"}");
  ck_assert_int_eq(v.offline, LF_OFFLINE_REJECT);
  ck_assert_str_eq(v.codes, "limit_exceeded ");
  v = decide(cat, "hold", "{\"memo\":\"x\"}");
  ck_assert_int_eq(v.offline, LF_OFFLINE_HOLD);
  /* a budgeted amount below zero would give budget back */
  v = decide(cat, "spend", "{\"amount\":-500}");
  ck_assert_int_eq(v.offline, LF_OFFLINE_REJECT);
  ck_assert_str_eq(v.codes, "value_error /amount");
  v = decide(cat, "spend", "{\"amount\":50}");
  ck_assert_int_eq(v.offline, LF_OFFLINE_ADMIT);
  lf_catalog_destroy(cat);
  free(json);
}
END_TEST

static char *write_temp(const char *prefix, const char *text) {
  char *path = malloc(64);
  ck_assert_ptr_nonnull(path);
  snprintf(path, 64, "/tmp/%s-XXXXXX", prefix);
  int fd = mkstemp(path);
  ck_assert_int_ge(fd, 0);
  FILE *f = fdopen(fd, "w");
  ck_assert_ptr_nonnull(f);
  fputs(text, f);
  fclose(f);
  return path;
}

static int has_code(const lf_observation_t *o, const char *code) {
  for (size_t i = 0; o && i < o->n_reasons; i++)
    if (!strcmp(o->reasons[i]->code, code))
      return 1;
  return 0;
}

/* The worker and `lamfleet guard check` give the same limit_exceeded. */
START_TEST(limits_reject_in_the_worker_and_guard_check) {
  char *json = fanout_catalog();
  char *cat = write_temp("lf-adv-cat", json);
  char *actions = write_temp(
      "lf-adv-act", "{\"name\":\"send\",\"arguments\":{\"memo\":\"" EVIL_SUBJECT
                    "\"}}\n{\"name\":\"pay\",\"arguments\":{\"x\":\"s\","
                    "\"amount\":99999999}}\n");
  char setting[128], cli_args[512], out[16384];
  snprintf(setting, sizeof(setting), "guard.catalog=%s", cat);
  const char *const settings[] = {setting, NULL};
  lf_test_env_t env;
  lf_test_env_start_with(&env, GUARD, settings);
  lf_test_propose(&env, "acme", "lim-send", "send",
                  "{\"memo\":\"" EVIL_SUBJECT "\"}");
  lf_test_propose(&env, "acme", "lim-pay", "pay",
                  "{\"x\":\"s\",\"amount\":99999999}");
  lf_test_propose(&env, "acme", "lim-ok", "send", "{\"memo\":\"hi\"}");
  lf_test_records_t ok = lf_test_read(&env, LF_TOPIC_APPROVED, 1, 30000,
                                      lf_test_match_goal, "lim-ok");
  ck_assert_uint_eq(ok.n, 1);
  lf_test_records_t obs =
      lf_test_read(&env, LF_TOPIC_OBSERVATIONS, 2, 30000, NULL, NULL);
  int rejected = 0;
  for (size_t i = 0; i < obs.n; i++) {
    const lf_observation_t *o = (const lf_observation_t *)obs.v[i].pb;
    if (o && o->status == LF_OBS_REJECTED && has_code(o, "limit_exceeded"))
      rejected++;
  }
  ck_assert_int_eq(rejected, 2);
  /* waits for a second approval that must not come (a fresh consumer may
   * take a while to read from the start on a loaded machine) */
  lf_test_records_t all =
      lf_test_read(&env, LF_TOPIC_APPROVED, 2, 3000, NULL, NULL);
  ck_assert_uint_eq(all.n, 1); /* only lim-ok */
  snprintf(cli_args, sizeof(cli_args), "guard check --catalog %s --json %s",
           cat, actions);
  ck_assert_int_eq(lf_test_cli(&env, LF_CLI_PATH, out, sizeof(out), cli_args),
                   1);
  ck_assert_msg(strstr(out, "\"limit_exceeded\"") &&
                    !strstr(out, "\"decision\":\"approved\""),
                "%s", out);
  lf_test_records_free(&ok);
  lf_test_records_free(&obs);
  lf_test_records_free(&all);
  lf_test_env_stop(&env);
  unlink(cat);
  unlink(actions);
  free(cat);
  free(actions);
  free(json);
}
END_TEST

#define FLEET                                                                  \
  ((1u << LF_KIND_PLANNER) | (1u << LF_KIND_GUARD) | (1u << LF_KIND_EXECUTOR))

static int match_key(const lf_test_record_t *r, void *key) {
  return r->key && !strcmp(r->key, key);
}

/* A goal packed as any producer could write it (protobuf-c checks no
 * UTF-8 when packing). */
static void produce_goal(lf_test_env_t *env, const char *key, const char *id,
                         const char *tenant, const char *text) {
  lf_goal_t g = LF_GOAL_INIT;
  g.goal_id = (char *)id;
  g.tenant = (char *)tenant;
  g.text = (char *)text;
  g.created_at_ms = lf_now_ms();
  lf_test_produce(env, LF_TOPIC_GOALS, key, &g.base);
}

static const lf_dead_letter_t *dead_letter_with(const lf_test_records_t *r,
                                                const char *text) {
  for (size_t i = 0; i < r->n; i++) {
    const lf_dead_letter_t *d = (const lf_dead_letter_t *)r->v[i].pb;
    if (d && strstr(d->error, text))
      return d;
  }
  return NULL;
}

static lf_result_t *result_of(lf_test_env_t *env, const char *goal_id,
                              lf_test_records_t *keep) {
  *keep = lf_test_read(env, LF_TOPIC_RESULTS, 1, 30000, lf_test_match_goal,
                       (void *)goal_id);
  ck_assert_msg(keep->n == 1 && keep->v[0].pb, "goal %s: %zu results", goal_id,
                keep->n);
  return (lf_result_t *)keep->v[0].pb;
}

/* Produces a goal through a producer of its own that sends records up to
 * what the brokers take (the stack's workers are set to send less). */
static void produce_big_goal(lf_test_env_t *env, const char *key,
                             const char *id, size_t text_len) {
  char why[512];
  lf_conf_t *conf = lf_test_conf();
  ck_assert_int_eq(
      lf_conf_set(conf, "kafka.bootstrap.servers",
                  lf_conf_get(env->conf, "kafka.bootstrap.servers"), why,
                  sizeof(why)),
      LF_OK);
  rd_kafka_t *p = lf_kafka_producer_new(conf, "big", NULL, why, sizeof(why));
  ck_assert_msg(p != NULL, "%s", why);
  char *text = malloc(text_len + 1);
  ck_assert_ptr_nonnull(text);
  memcpy(text, "greet ", 6);
  memset(text + 6, 'x', text_len - 6);
  text[text_len] = '\0';
  lf_goal_t g = LF_GOAL_INIT;
  g.goal_id = (char *)id;
  g.tenant = "acme";
  g.text = text;
  size_t len;
  uint8_t *buf = lf_proto_encode(&g.base, &len);
  ck_assert_ptr_nonnull(buf);
  char topic[256];
  lf_kafka_topic_name(env->conf, LF_TOPIC_GOALS, topic, sizeof(topic));
  ck_assert_int_eq(rd_kafka_producev(p, RD_KAFKA_V_TOPIC(topic),
                                     RD_KAFKA_V_KEY(key, strlen(key)),
                                     RD_KAFKA_V_VALUE(buf, len),
                                     RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                     RD_KAFKA_V_END),
                   RD_KAFKA_RESP_ERR_NO_ERROR);
  ck_assert_int_eq(rd_kafka_flush(p, 10000), RD_KAFKA_RESP_ERR_NO_ERROR);
  free(buf);
  free(text);
  rd_kafka_destroy(p);
  lf_conf_destroy(conf);
}

/* Poison goals, all on one key (so one partition, in order) ahead of a
 * good one: each goes to the dead-letter topic saying why, the good one
 * behind them completes. */
START_TEST(poison_goals_go_to_the_dlq_and_the_rest_go_on) {
  lf_test_env_t env;
  /* the workers send records of at most 300 kB */
  const char *const settings[] = {"kafka.message.max.bytes=300000", NULL};
  lf_test_env_start_with(&env, FLEET, settings);
  const char *key = "poison-key";
  produce_goal(&env, key, "p-utf8-text", "acme", "greet \xff\xfe world");
  produce_goal(&env, key, "p-utf8-tenant", "ac\xc3me", "greet world");
  produce_goal(&env, key, "p-id\r\nX-Injected: 1", "acme", "greet world");
  produce_goal(&env, key, "p-tenant-ctl", "acme\x1b[31m", "greet world");
  char long_id[400];
  memset(long_id, 'i', sizeof(long_id) - 1);
  long_id[sizeof(long_id) - 1] = '\0';
  produce_goal(&env, key, long_id, "acme", "greet world");
  /* 600 kB: the goal came in, the action it leads to cannot go out, and
   * its dead letter must fit as well */
  size_t big_len = 600000;
  produce_big_goal(&env, key, "p-big", big_len);
  produce_goal(&env, key, "p-good", "acme", "greet world");

  lf_test_records_t res;
  lf_result_t *r = result_of(&env, "p-good", &res);
  ck_assert_int_eq(r->status, LF_RESULT_COMPLETED);
  lf_test_records_free(&res);
  lf_test_records_t dlq =
      lf_test_read(&env, LF_TOPIC_DLQ, 6, 30000, match_key, (void *)key);
  ck_assert_msg(dlq.n == 6, "%zu dead letters", dlq.n);
  ck_assert_ptr_nonnull(dead_letter_with(&dlq, "invalid UTF-8 in text"));
  ck_assert_ptr_nonnull(dead_letter_with(&dlq, "invalid UTF-8 in tenant"));
  ck_assert_ptr_nonnull(
      dead_letter_with(&dlq, "has a control character in goal_id"));
  ck_assert_ptr_nonnull(
      dead_letter_with(&dlq, "has a control character in tenant"));
  ck_assert_ptr_nonnull(dead_letter_with(&dlq, "has a goal_id of 399 bytes"));
  const lf_dead_letter_t *d =
      dead_letter_with(&dlq, "larger than the brokers accept");
  ck_assert_ptr_nonnull(d);
  /* the dead letter of a record too large fits: the original cut, with
   * its size and hash */
  ck_assert_uint_gt(d->original_size, big_len);
  ck_assert_uint_lt(d->original.len, 300000);
  ck_assert(d->original_truncated);
  ck_assert_uint_eq(strlen(d->original_sha256), 64);
  for (size_t i = 0; i < dlq.n; i++) { /* every reason is printable UTF-8 */
    const lf_dead_letter_t *e = (const lf_dead_letter_t *)dlq.v[i].pb;
    ck_assert_msg(!lf_text_has_control(e->error, strlen(e->error)), "%s",
                  e->error);
  }
  lf_test_records_free(&dlq);
  lf_test_env_stop(&env);
}
END_TEST

/* A forged observation and a forged decision with bytes that are not
 * UTF-8: dead-lettered as such, and the records behind them, on the same
 * partitions, are handled (the goal of the same id completes). */
START_TEST(poison_observations_and_decisions_go_to_the_dlq) {
  lf_test_env_t env;
  lf_test_env_start(&env, FLEET);
  lf_observation_t o = LF_OBSERVATION_INIT;
  o.goal_id = "p-obs";
  o.action_id = "p-obs:0";
  o.status = LF_OBS_FAILED;
  o.error = "broken \xc3\x28 text";
  lf_test_produce(&env, LF_TOPIC_OBSERVATIONS, "p-obs", &o.base);
  lf_approval_decision_t d = LF_APPROVAL_DECISION_INIT;
  d.goal_id = "p-dec";
  d.action_id = "p-dec:0";
  d.approved = 1;
  d.approver = "mallory";
  d.note = "ok \xed\xa0\x80"; /* a surrogate, not UTF-8 */
  lf_test_produce(&env, LF_TOPIC_APPROVALS_DECISIONS, "p-dec", &d.base);
  produce_goal(&env, "p-obs", "p-obs", "acme", "greet world");
  lf_test_records_t res;
  lf_result_t *r = result_of(&env, "p-obs", &res);
  ck_assert_int_eq(r->status, LF_RESULT_COMPLETED);
  lf_test_records_free(&res);
  lf_test_records_t dlq =
      lf_test_read(&env, LF_TOPIC_DLQ, 2, 30000, NULL, NULL);
  ck_assert_uint_eq(dlq.n, 2);
  ck_assert_ptr_nonnull(
      dead_letter_with(&dlq, "Observation record has invalid UTF-8 in error"));
  ck_assert_ptr_nonnull(dead_letter_with(
      &dlq, "ApprovalDecision record has invalid UTF-8 in note"));
  lf_test_records_free(&dlq);
  lf_test_env_stop(&env);
}
END_TEST

static size_t count_keys(redisContext *c, const char *pattern) {
  redisReply *r = redisCommand(c, "KEYS %s", pattern);
  ck_assert_ptr_nonnull(r);
  size_t n = r->elements;
  freeReplyObject(r);
  return n;
}

/* Tenants and keys that would run into each other if joined by ':' or
 * truncated: each action is its own, approved and run once, under keys of
 * its own. */
START_TEST(tenants_never_share_keys) {
  lf_test_env_t env;
  lf_test_env_start(&env, (1u << LF_KIND_GUARD) | (1u << LF_KIND_EXECUTOR));
  lf_test_propose_keyed(&env, "acme", "t-1", "echo", "{\"message\":\"one\"}",
                        "k:1");
  lf_test_propose_keyed(&env, "acme:k", "t-2", "echo", "{\"message\":\"two\"}",
                        "1");
  char tenant[251], k1[251], k2[251];
  memset(tenant, 't', 250);
  tenant[250] = '\0';
  memset(k1, 'k', 250);
  k1[250] = '\0';
  memcpy(k2, k1, sizeof(k2));
  k2[249] = 'K'; /* the two keys differ in their last byte only */
  lf_test_propose_keyed(&env, tenant, "t-3", "echo", "{\"message\":\"three\"}",
                        k1);
  lf_test_propose_keyed(&env, tenant, "t-4", "echo", "{\"message\":\"four\"}",
                        k2);
  lf_test_records_t obs =
      lf_test_read(&env, LF_TOPIC_OBSERVATIONS, 4, 30000, NULL, NULL);
  ck_assert_uint_eq(obs.n, 4);
  for (size_t i = 0; i < obs.n; i++) {
    const lf_observation_t *o = (const lf_observation_t *)obs.v[i].pb;
    ck_assert_msg(o->status == LF_OBS_SUCCEEDED, "%s: %s %s", o->goal_id,
                  lf_proto_obs_status_name(o->status), o->error);
  }
  lf_test_records_free(&obs);
  redisContext *c = lf_test_redis(&env);
  ck_assert_uint_eq(count_keys(c, "lamfleet:idem:*"), 4);
  ck_assert_uint_eq(count_keys(c, "lamfleet:obs:*"), 4);
  redisFree(c);
  lf_test_env_stop(&env);
}
END_TEST

/* A goal id another tenant already uses is refused, not taken for a
 * redelivery of that tenant's goal. */
START_TEST(a_goal_id_is_one_tenants) {
  lf_test_env_t env;
  lf_test_env_start(&env, FLEET);
  produce_goal(&env, "g-shared", "g-shared", "acme", "greet world");
  lf_test_records_t res;
  lf_result_t *r = result_of(&env, "g-shared", &res);
  ck_assert_int_eq(r->status, LF_RESULT_COMPLETED);
  lf_test_records_free(&res);
  produce_goal(&env, "g-shared", "g-shared", "globex", "greet world");
  produce_goal(&env, "g-shared", "g-after", "globex", "greet world");
  r = result_of(&env, "g-after", &res);
  ck_assert_int_eq(r->status, LF_RESULT_COMPLETED);
  lf_test_records_free(&res);
  lf_test_records_t dlq =
      lf_test_read(&env, LF_TOPIC_DLQ, 1, 30000, match_key, "g-shared");
  ck_assert_ptr_nonnull(dead_letter_with(&dlq, "taken by another tenant"));
  lf_test_records_free(&dlq);
  /* and globex was never told acme's result */
  lf_test_records_t all = lf_test_read(&env, LF_TOPIC_RESULTS, 3, 1000,
                                       lf_test_match_goal, "g-shared");
  ck_assert_uint_eq(all.n, 1);
  lf_test_records_free(&all);
  lf_test_env_stop(&env);
}
END_TEST

/* ---- human approvals ------------------------------------------------ */

typedef struct approver_keys {
  char pub[256], priv[256];
} approver_keys_t;

static approver_keys_t make_approver(const char *name) {
  approver_keys_t k;
  ck_assert_int_eq(lf_approver_keygen(name, k.pub, sizeof(k.pub), k.priv,
                                      sizeof(k.priv), errstr, sizeof(errstr)),
                   LF_OK);
  return k;
}

static lf_approver_key_t *key_of(const approver_keys_t *k) {
  char setting[300];
  lf_conf_t *conf = lf_conf_new();
  ck_assert_ptr_nonnull(conf);
  snprintf(setting, sizeof(setting), "approver.key=%s", k->priv);
  ck_assert_int_eq(lf_conf_set_kv(conf, setting, errstr, sizeof(errstr)),
                   LF_OK);
  lf_approver_key_t *key = lf_approver_key_load(conf, errstr, sizeof(errstr));
  ck_assert_msg(key != NULL, "%s", errstr);
  lf_conf_destroy(conf);
  return key;
}

/* The held verdict of action_id, read back from approvals.pending (the
 * latest one). */
static lf_verdict_t *held_of(lf_test_env_t *env, const char *goal, size_t count,
                             lf_test_records_t *keep) {
  *keep = lf_test_read(env, LF_TOPIC_APPROVALS_PENDING, count, 30000,
                       lf_test_match_goal, (void *)goal);
  ck_assert_msg(keep->n >= count, "%s: %zu held", goal, keep->n);
  return (lf_verdict_t *)keep->v[keep->n - 1].pb;
}

/* A decision on held, signed by key (NULL: unsigned, by name), bound to
 * digest (NULL: held's own). */
static void decide_as(lf_test_env_t *env, const lf_verdict_t *held,
                      const approver_keys_t *k, const char *name, int approve,
                      const char *digest) {
  char own[LF_SHA256_HEX_LEN + 1];
  uint8_t sig[LF_APPROVER_SIG_LEN];
  lf_approval_decision_t d = LF_APPROVAL_DECISION_INIT;
  ck_assert_int_eq(lf_verdict_digest(held, own), LF_OK);
  d.action_id = held->action->action_id;
  d.goal_id = held->action->goal_id;
  d.approved = approve;
  d.approver = (char *)name;
  d.note = "";
  d.decided_at_ms = lf_now_ms();
  d.held_digest = (char *)(digest ? digest : own);
  if (k) {
    lf_approver_key_t *key = key_of(k);
    ck_assert_int_eq(lf_decision_sign(key, &d, sig, errstr, sizeof(errstr)),
                     LF_OK);
    d.approver = (char *)name; /* a forger may claim any name */
    lf_test_produce(env, LF_TOPIC_APPROVALS_DECISIONS, d.goal_id, &d.base);
    lf_approver_key_destroy(key);
  } else {
    lf_test_produce(env, LF_TOPIC_APPROVALS_DECISIONS, d.goal_id, &d.base);
  }
}

/* How many approvals of goal there are, waiting up to 2 s for one more
 * than expected to show up. */
static size_t approved_count(lf_test_env_t *env, const char *goal,
                             size_t expected) {
  lf_test_records_t r = lf_test_read(env, LF_TOPIC_APPROVED, expected + 1, 2000,
                                     lf_test_match_goal, (void *)goal);
  size_t n = r.n;
  lf_test_records_free(&r);
  return n;
}

static const char *approvals_catalog =
    "{\"version\":\"appr-1\",\"actions\":["
    "{\"name\":\"wire\",\"inputSchema\":{\"type\":\"object\","
    "\"properties\":{\"amount\":{\"type\":\"number\"}}},"
    "\"x-lamfleet\":{\"approval\":\"always\"}},"
    "{\"name\":\"payout\",\"inputSchema\":{\"type\":\"object\","
    "\"properties\":{\"amount\":{\"type\":\"number\"}}},"
    "\"x-lamfleet\":{\"risk\":\"critical\",\"approval\":\"always\","
    "\"approvers\":[\"group:finance\"],\"quorum\":2}}]}";

/* Decisions are authenticated and bound to what was shown: forged,
 * unknown, mis-signed, misdirected and replayed decisions are refused to
 * dlq with a counted reason while the action keeps waiting; a held action
 * is never replaced by a new proposal under its id; a quorum needs that
 * many distinct approvers, and the verdict says who approved. */
START_TEST(human_approvals_cannot_be_forged_swapped_or_replayed) {
  approver_keys_t ops = make_approver("ops"), alice = make_approver("alice"),
                  bob = make_approver("bob"), eve = make_approver("eve");
  char approvers[1200], cat_setting[128];
  snprintf(approvers, sizeof(approvers), "approvers=%s;%s:finance;%s:finance",
           ops.pub, alice.pub, bob.pub);
  char *cat = write_temp("lf-adv-appr", approvals_catalog);
  snprintf(cat_setting, sizeof(cat_setting), "guard.catalog=%s", cat);
  const char *const settings[] = {approvers, cat_setting, NULL};
  lf_test_env_t env;
  lf_test_env_start_with(&env, GUARD, settings);
  lf_test_records_t keep, dlq;

  lf_test_propose(&env, "acme", "h-wire", "wire", "{\"amount\":10}");
  lf_verdict_t *held = held_of(&env, "h-wire", 1, &keep);
  /* unsigned; by a key nobody configured; signed by eve claiming to be
   * ops; for another digest */
  decide_as(&env, held, NULL, "ops", 1, NULL);
  decide_as(&env, held, &eve, "eve", 1, NULL);
  decide_as(&env, held, &eve, "ops", 1, NULL);
  decide_as(&env, held, &ops, "ops", 1,
            "0000000000000000000000000000000000000000000000000000000000000000");
  /* a new proposal under the held id, with other arguments */
  lf_test_propose(&env, "acme", "h-wire", "wire", "{\"amount\":999999}");
  dlq = lf_test_read(&env, LF_TOPIC_DLQ, 4, 30000, NULL, NULL);
  ck_assert_uint_eq(dlq.n, 4);
  ck_assert_ptr_nonnull(dead_letter_with(&dlq, "(decision_unsigned)"));
  ck_assert_ptr_nonnull(dead_letter_with(&dlq, "(unknown_approver)"));
  ck_assert_ptr_nonnull(dead_letter_with(&dlq, "(bad_signature)"));
  ck_assert_ptr_nonnull(dead_letter_with(&dlq, "(wrong_digest)"));
  lf_test_records_free(&dlq);
  lf_test_records_t obs = lf_test_read(&env, LF_TOPIC_OBSERVATIONS, 1, 30000,
                                       lf_test_match_goal, "h-wire");
  ck_assert_uint_eq(obs.n, 1);
  ck_assert(
      has_code((const lf_observation_t *)obs.v[0].pb, "approval_conflict"));
  lf_test_records_free(&obs);
  ck_assert_uint_eq(approved_count(&env, "h-wire", 0), 0);
  /* the genuine decision approves what was shown: amount 10 */
  decide_as(&env, held, &ops, "ops", 1, NULL);
  lf_test_records_t ok = lf_test_read(&env, LF_TOPIC_APPROVED, 1, 30000,
                                      lf_test_match_goal, "h-wire");
  ck_assert_uint_eq(ok.n, 1);
  const lf_verdict_t *v = (const lf_verdict_t *)ok.v[0].pb;
  ck_assert_str_eq(v->action->arguments_json, "{\"amount\":10}");
  ck_assert_uint_eq(v->n_approved_by, 1);
  ck_assert_str_eq(v->approved_by[0], "ops");
  lf_test_records_free(&ok);

  /* the same id held again later (the first one is decided): the old
   * decision, replayed, is refused */
  lf_verdict_t old = *held;
  lf_action_t old_action = *held->action;
  old.action = &old_action;
  lf_test_propose(&env, "acme", "h-wire", "wire", "{\"amount\":11}");
  lf_test_records_t keep2;
  held_of(&env, "h-wire", 2, &keep2);
  decide_as(&env, &old, &ops, "ops", 1, NULL);
  dlq = lf_test_read(&env, LF_TOPIC_DLQ, 5, 30000, NULL, NULL);
  ck_assert_uint_eq(dlq.n, 5);
  ck_assert_uint_eq(approved_count(&env, "h-wire", 1), 1);
  lf_test_records_free(&dlq);
  lf_test_records_free(&keep2);
  lf_test_records_free(&keep);

  /* payout: finance only, two of them */
  lf_test_propose(&env, "acme", "h-payout", "payout", "{\"amount\":5}");
  held = held_of(&env, "h-payout", 1, &keep);
  decide_as(&env, held, &ops, "ops", 1, NULL); /* not in finance */
  decide_as(&env, held, &alice, "alice", 1, NULL);
  decide_as(&env, held, &alice, "alice", 1, NULL); /* the same one twice */
  dlq = lf_test_read(&env, LF_TOPIC_DLQ, 6, 30000, NULL, NULL);
  ck_assert_ptr_nonnull(dead_letter_with(&dlq, "(approver_not_allowed)"));
  lf_test_records_free(&dlq);
  ck_assert_uint_eq(approved_count(&env, "h-payout", 0), 0);
  decide_as(&env, held, &bob, "bob", 1, NULL);
  ok = lf_test_read(&env, LF_TOPIC_APPROVED, 1, 30000, lf_test_match_goal,
                    "h-payout");
  ck_assert_uint_eq(ok.n, 1);
  v = (const lf_verdict_t *)ok.v[0].pb;
  ck_assert_uint_eq(v->n_approved_by, 2);
  ck_assert_str_eq(v->approved_by[0], "alice");
  ck_assert_str_eq(v->approved_by[1], "bob");
  lf_test_records_free(&ok);
  lf_test_records_free(&keep);
  lf_test_env_stop(&env);
  unlink(cat);
  free(cat);
}
END_TEST

/* ---- forged observations --------------------------------------------- */

static void observe_as(lf_test_env_t *env, const lf_keyring_t *k,
                       const char *goal_id, const char *action_name) {
  char action_id[64];
  uint8_t sig[LF_SIGNATURE_LEN];
  snprintf(action_id, sizeof(action_id), "%s:0", goal_id);
  lf_observation_t o = LF_OBSERVATION_INIT;
  o.goal_id = (char *)goal_id;
  o.action_id = action_id;
  o.action_name = (char *)action_name;
  o.status = LF_OBS_SUCCEEDED;
  o.result_json = "{\"dropped\":true}";
  o.observer = "executor-forged";
  o.observed_at_ms = lf_now_ms();
  if (k)
    ck_assert_int_eq(lf_observation_sign(k, &o, sig, errstr, sizeof(errstr)),
                     LF_OK);
  lf_test_produce(env, LF_TOPIC_OBSERVATIONS, goal_id, &o.base);
}

/* Only observations signed by a guard's or an executor's observation key
 * move a goal: a forged SUCCEEDED (unsigned, or signed by another key)
 * for an action no executor ran goes to dlq and completes nothing. */
START_TEST(forged_observations_complete_nothing) {
  lf_test_env_t env;
  lf_test_env_start(&env, 1u << LF_KIND_PLANNER); /* nobody else answers */
  char goal[37];
  lf_test_submit(&env, "drop database prod", "acme", goal);
  lf_test_records_t p =
      lf_test_read(&env, LF_TOPIC_PROPOSED, 1, 30000, lf_test_match_goal, goal);
  ck_assert_uint_eq(p.n, 1);
  lf_test_records_free(&p);
  lf_conf_t *other = lf_conf_new();
  ck_assert_ptr_nonnull(other);
  ck_assert_int_eq(lf_conf_set(other, "observation.keys",
                               "mallory:0123456789abcdef0123456789abcdef0123",
                               errstr, sizeof(errstr)),
                   LF_OK);
  lf_keyring_t *theirs =
      lf_keyring_load(other, "observation", errstr, sizeof(errstr));
  ck_assert_msg(theirs != NULL, "%s", errstr);
  observe_as(&env, NULL, goal, "drop_database");
  observe_as(&env, theirs, goal, "drop_database");
  lf_test_records_t dlq =
      lf_test_read(&env, LF_TOPIC_DLQ, 2, 30000, lf_test_match_goal, goal);
  ck_assert_uint_eq(dlq.n, 2);
  ck_assert_ptr_nonnull(dead_letter_with(&dlq, "refused: not signed"));
  ck_assert_ptr_nonnull(
      dead_letter_with(&dlq, "refused: signed with unknown key \"mallory\""));
  lf_test_records_free(&dlq);
  lf_test_records_t res =
      lf_test_read(&env, LF_TOPIC_RESULTS, 1, 2000, lf_test_match_goal, goal);
  ck_assert_uint_eq(res.n, 0);
  lf_test_records_free(&res);
  /* one signed with the fleet's observation key is taken */
  lf_keyring_t *ours =
      lf_keyring_load(env.conf, "observation", errstr, sizeof(errstr));
  ck_assert_msg(ours != NULL, "%s", errstr);
  observe_as(&env, ours, goal, "drop_database");
  lf_result_t *r = result_of(&env, goal, &res);
  ck_assert_int_eq(r->status, LF_RESULT_COMPLETED);
  lf_test_records_free(&res);
  lf_keyring_destroy(ours);
  lf_keyring_destroy(theirs);
  lf_conf_destroy(other);
  lf_test_env_stop(&env);
}
END_TEST

int main(void) {
  Suite *s = suite_create("adversarial");
  TCase *tc = tcase_create("adversarial");
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, limits_hit_while_deciding_reject);
  tcase_add_test(tc, limits_reject_in_the_worker_and_guard_check);
  tcase_add_test(tc, poison_goals_go_to_the_dlq_and_the_rest_go_on);
  tcase_add_test(tc, poison_observations_and_decisions_go_to_the_dlq);
  tcase_add_test(tc, tenants_never_share_keys);
  tcase_add_test(tc, a_goal_id_is_one_tenants);
  tcase_add_test(tc, human_approvals_cannot_be_forged_swapped_or_replayed);
  tcase_add_test(tc, forged_observations_complete_nothing);
  suite_add_tcase(s, tc);
  return lf_test_run(s);
}
