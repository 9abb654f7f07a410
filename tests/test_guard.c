/* The guard worker on the mock cluster with a real redis-server: every
 * decision code end to end, approvals held in Redis and announced, budgets
 * shared by two guards, and shadow mode. */
#include <hiredis/hiredis.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "admit.h"
#include "guard.h"
#include "kafka.h"
#include "redis.h"
#include "sign.h"
#include "support.h"
#include "util.h"

#define GUARD (1u << LF_KIND_GUARD)

static int match_goal_prefix(const lf_test_record_t *r, void *prefix) {
  return r->key && !strncmp(r->key, prefix, strlen(prefix));
}

/* The observation (or NULL) of goal_id among r. */
/* A worker that retries a batch (after a rebalance, say) publishes its
 * verdicts again; counting goals, not records, keeps the tests exact. */
typedef struct distinct {
  const char *prefix;
  char seen[64][40];
  size_t n;
} distinct_t;

static int match_new_goal(const lf_test_record_t *r, void *opaque) {
  distinct_t *d = opaque;
  if (!match_goal_prefix(r, (void *)d->prefix))
    return 0;
  for (size_t i = 0; i < d->n; i++)
    if (!strcmp(d->seen[i], r->key))
      return 0;
  if (d->n < 64)
    snprintf(d->seen[d->n++], sizeof(d->seen[0]), "%s", r->key);
  return 1;
}

/* Records of at least min different goals whose ids start with prefix,
 * one per goal. */
static lf_test_records_t read_goals(lf_test_env_t *env, lf_topic_t topic,
                                    size_t min, const char *prefix) {
  distinct_t *d = calloc(1, sizeof(*d));
  ck_assert_ptr_nonnull(d);
  d->prefix = prefix;
  lf_test_records_t r = lf_test_read(env, topic, min, 30000, match_new_goal, d);
  free(d);
  return r;
}

static const lf_observation_t *obs_of(const lf_test_records_t *r,
                                      const char *goal_id) {
  for (size_t i = 0; i < r->n; i++)
    if (r->v[i].pb && !strcmp(r->v[i].key, goal_id))
      return (const lf_observation_t *)r->v[i].pb;
  return NULL;
}

static int has_reason(const lf_observation_t *o, const char *code,
                      const char *path) {
  for (size_t i = 0; o && i < o->n_reasons; i++)
    if (!strcmp(o->reasons[i]->code, code) &&
        (!path || !strcmp(o->reasons[i]->path, path)))
      return 1;
  return 0;
}

static const char *const payments[] = {
    "guard.catalog=${examples}/payments.json", NULL};

#define PAY(inv, amount, cur)                                                  \
  "{\"invoice_id\":\"" inv "\",\"amount\":" amount ",\"currency\":\"" cur      \
  "\",\"iban\":\"DE89370400440532013000\"}"

START_TEST(every_decision_code) {
  lf_test_env_t env;
  lf_test_env_start_with(&env, GUARD, payments);
  lf_test_propose(&env, "acme", "d-unknown", "wire_money", "{}");
  lf_test_propose(&env, "acme", "d-malformed", "pay_invoice", "{\"amount\":");
  lf_test_propose(&env, "acme", "d-schema", "pay_invoice",
                  "{\"invoice_id\":\"X1\",\"amount\":2500.001,"
                  "\"currency\":\"EUR\",\"extra\":1}");
  lf_test_propose(&env, "acme", "d-policy", "pay_invoice",
                  PAY("INV-0001", "10", "GBP"));
  lf_test_propose(&env, "acme", "d-ok", "pay_invoice",
                  PAY("INV-0002", "100", "EUR"));
  /* a tenant of its own: batches run in no set order, and after the four
   * payments below its 1500 would exceed acme's budget (rejected, not held) */
  lf_test_propose(&env, "acme-hold", "d-hold", "pay_invoice",
                  PAY("INV-0003", "1500", "EUR"));
  /* budget 5000/day: 100 spent, four of 1000 fit, the fifth does not */
  lf_test_propose(&env, "acme", "d-b1", "pay_invoice",
                  PAY("INV-0011", "1000", "EUR"));
  lf_test_propose(&env, "acme", "d-b2", "pay_invoice",
                  PAY("INV-0012", "1000", "EUR"));
  lf_test_propose(&env, "acme", "d-b3", "pay_invoice",
                  PAY("INV-0013", "1000", "EUR"));
  lf_test_propose(&env, "acme", "d-b4", "pay_invoice",
                  PAY("INV-0014", "1000", "EUR"));
  /* rate limit 3 an hour */
  lf_test_propose(&env, "acme", "d-r1", "lookup_customer",
                  "{\"email\":\"a@x.com\"}");
  lf_test_propose(&env, "acme", "d-r2", "lookup_customer",
                  "{\"email\":\"b@x.com\"}");
  lf_test_propose(&env, "acme", "d-r3", "lookup_customer",
                  "{\"email\":\"c@x.com\"}");
  /* Goals are keyed to different partitions, processed in no set order:
   * what must come after waits for what it follows to be decided. */
  lf_test_records_t first = read_goals(&env, LF_TOPIC_APPROVED, 8, "d-");
  ck_assert_uint_eq(first.n, 8); /* d-ok, d-b1..4, d-r1..3 */
  lf_test_records_free(&first);
  lf_test_propose(&env, "acme", "d-dup", "pay_invoice",
                  PAY("INV-0002", "100.00", "EUR"));
  lf_test_propose(&env, "acme", "d-b5", "pay_invoice",
                  PAY("INV-0015", "1000", "EUR"));
  lf_test_propose(&env, "acme", "d-r4", "lookup_customer",
                  "{\"email\":\"d@x.com\"}");

  lf_test_records_t obs = read_goals(&env, LF_TOPIC_OBSERVATIONS, 7, "d-");
  char seen[512] = "";
  for (size_t i = 0; i < obs.n; i++)
    snprintf(seen + strlen(seen), sizeof(seen) - strlen(seen), "%s ",
             obs.v[i].key);
  ck_assert_msg(obs.n == 7, "observations of: %s", seen);
  ck_assert(has_reason(obs_of(&obs, "d-unknown"), "unknown_action", ""));
  ck_assert(has_reason(obs_of(&obs, "d-malformed"), "malformed_arguments", ""));
  const lf_observation_t *o = obs_of(&obs, "d-schema");
  ck_assert(has_reason(o, "missing_required", "/iban"));
  ck_assert(has_reason(o, "value_error", "/amount"));
  ck_assert(has_reason(o, "value_error", "/invoice_id"));
  ck_assert(has_reason(o, "unexpected_param", "/extra"));
  ck_assert_uint_eq(o->n_reasons, 4);
  o = obs_of(&obs, "d-policy");
  ck_assert(has_reason(o, "policy_denied", ""));
  ck_assert_msg(strstr(o->reasons[0]->message, "only EUR and USD"), "%s",
                o->reasons[0]->message);
  o = obs_of(&obs, "d-dup");
  ck_assert_int_eq(o->status, LF_OBS_DUPLICATE);
  ck_assert_str_eq(o->duplicate_of, "d-ok:0");
  o = obs_of(&obs, "d-b5");
  ck_assert_msg(has_reason(o, "budget_exceeded", "/amount"),
                "d-b5: %s (observations of: %s)",
                o ? o->error : "no observation", seen);
  o = obs_of(&obs, "d-r4");
  ck_assert_msg(has_reason(o, "rate_limited", ""),
                "d-r4: %s (observations of: %s)",
                o ? o->error : "no observation", seen);
  lf_test_records_free(&obs);

  lf_test_records_t ok = read_goals(&env, LF_TOPIC_APPROVED, 8, "d-");
  ck_assert_uint_eq(ok.n, 8); /* d-ok, d-b1..4, d-r1..3 */
  /* each approval is signed by the stack's key, and only valid as sent */
  char errstr[256];
  lf_keyring_t *keys = lf_keyring_new(env.conf, errstr, sizeof(errstr));
  ck_assert_msg(keys != NULL, "%s", errstr);
  for (size_t i = 0; i < ok.n; i++) {
    lf_verdict_t *v = (lf_verdict_t *)ok.v[i].pb;
    ck_assert_int_gt(v->expires_at_ms, v->decided_at_ms);
    ck_assert_msg(!lf_verdict_verify(keys, v, errstr, sizeof(errstr)), "%s: %s",
                  v->action->action_id, errstr);
    v->action->tenant[0] ^= 1;
    ck_assert_int_eq(lf_verdict_verify(keys, v, errstr, sizeof(errstr)),
                     LF_ERR_INVALID);
  }
  lf_keyring_destroy(keys);
  lf_test_records_free(&ok);

  lf_test_records_t held = lf_test_read(&env, LF_TOPIC_APPROVALS_PENDING, 1,
                                        30000, match_goal_prefix, "d-hold");
  ck_assert_uint_eq(held.n, 1);
  const lf_verdict_t *v = (const lf_verdict_t *)held.v[0].pb;
  ck_assert_int_eq(v->decision, LF_DECISION_NEEDS_APPROVAL);
  ck_assert_str_eq(v->reasons[0]->code, "needs_approval");
  ck_assert_msg(strstr(v->reasons[0]->message, "args.amount > 1000"), "%s",
                v->reasons[0]->message);
  ck_assert_int_gt(v->expires_at_ms, v->decided_at_ms);
  lf_test_records_free(&held);

  /* Redis: the held action is stored and due; its amount is not spent */
  redisContext *c = lf_test_redis(&env);
  redisReply *r = redisCommand(c, "EXISTS lamfleet:approval:d-hold:0");
  ck_assert_int_eq(r->integer, 1);
  freeReplyObject(r);
  r = redisCommand(c, "ZSCORE lamfleet:approvals:due d-hold:0");
  ck_assert_int_eq(r->type, REDIS_REPLY_STRING);
  freeReplyObject(r);
  r = redisCommand(c, "KEYS lamfleet:budget:9:acme-hold:*");
  ck_assert_uint_eq(r->elements, 0);
  freeReplyObject(r);
  r = redisCommand(c, "KEYS lamfleet:budget:4:acme:11:pay_invoice:*");
  ck_assert_uint_eq(r->elements, 1);
  redisReply *spent = redisCommand(c, "GET %s", r->element[0]->str);
  ck_assert_str_eq(spent->str, "4100");
  freeReplyObject(spent);
  freeReplyObject(r);
  redisFree(c);
  lf_test_env_stop(&env);
}
END_TEST

static char *write_catalog(const char *text) {
  static char path[64];
  strcpy(path, "/tmp/lf-catalog-XXXXXX");
  int fd = mkstemp(path);
  ck_assert_int_ge(fd, 0);
  ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
  close(fd);
  return path;
}

static void *run_worker(void *w) {
  char errstr[512];
  lf_worker_run(w, errstr, sizeof(errstr));
  return NULL;
}

START_TEST(two_guards_never_overspend) {
  char *path = write_catalog(
      "{\"version\":\"b1\",\"actions\":[{\"name\":\"spend\",\"inputSchema\":"
      "{\"type\":\"object\",\"properties\":{\"n\":{\"type\":\"integer\"},"
      "\"amount\":{\"type\":\"number\"}},\"required\":[\"n\",\"amount\"]},"
      "\"x-lamfleet\":{\"budget\":{\"argument\":\"amount\",\"limit\":500,"
      "\"window\":\"1d\"}}}]}");
  char setting[128];
  snprintf(setting, sizeof(setting), "guard.catalog=%s", path);
  const char *const settings[] = {setting, "worker.batch.size=4", NULL};
  lf_test_env_t env;
  lf_test_env_start_with(&env, GUARD, settings);
  char errstr[512];
  lf_worker_t *second =
      lf_worker_new(env.conf, &lf_guard_handler, errstr, sizeof(errstr));
  ck_assert_msg(second != NULL, "%s", errstr);
  pthread_t t;
  ck_assert_int_eq(pthread_create(&t, NULL, run_worker, second), 0);
  /* both members of the group hold partitions before the records come */
  lf_worker_t *first = lf_stack_worker(env.stack, LF_KIND_GUARD);
  for (int i = 0; i < 600 && !(lf_worker_assigned(second) > 0 &&
                               lf_worker_assigned(first) > 0);
       i++)
    usleep(50000);
  ck_assert_int_gt(lf_worker_assigned(second), 0);
  for (int i = 0; i < 40; i++) {
    char goal[32], args[64];
    snprintf(goal, sizeof(goal), "b-%02d", i);
    snprintf(args, sizeof(args), "{\"n\":%d,\"amount\":20}", i);
    lf_test_propose(&env, "acme", goal, "spend", args);
  }
  lf_test_records_t ok = read_goals(&env, LF_TOPIC_APPROVED, 25, "b-");
  lf_test_records_t no = read_goals(&env, LF_TOPIC_OBSERVATIONS, 15, "b-");
  ck_assert_uint_eq(ok.n, 25); /* 25 x 20 = 500 */
  ck_assert_uint_eq(no.n, 15);
  for (size_t i = 0; i < no.n; i++)
    ck_assert(has_reason((const lf_observation_t *)no.v[i].pb,
                         "budget_exceeded", "/amount"));
  ck_assert_uint_gt(lf_worker_counter(second, "records_consumed"), 0);
  ck_assert_uint_gt(lf_worker_counter(lf_stack_worker(env.stack, LF_KIND_GUARD),
                                      "records_consumed"),
                    0);
  lf_test_records_free(&ok);
  lf_test_records_free(&no);
  lf_worker_stop(second);
  pthread_join(t, NULL);
  lf_worker_destroy(second);
  lf_test_env_stop(&env);
  unlink(path);
}
END_TEST

static int match_prefix(const lf_test_record_t *r, void *prefix) {
  return !strncmp(r->key, prefix, strlen(prefix));
}

/* A batch far larger than a part of its admission (ADMIT_PART): its
 * parts are admitted while the guard evaluates the next ones, and still
 * in the batch's order, each part seeing what the ones before it spent. */
START_TEST(a_big_batch_is_admitted_in_order) {
  char *path = write_catalog(
      "{\"version\":\"p1\",\"actions\":[{\"name\":\"spend\",\"inputSchema\":"
      "{\"type\":\"object\",\"properties\":{\"n\":{\"type\":\"integer\"},"
      "\"amount\":{\"type\":\"number\"}},\"required\":[\"n\",\"amount\"]},"
      "\"x-lamfleet\":{\"budget\":{\"argument\":\"amount\",\"limit\":500,"
      "\"window\":\"1d\"}}}]}");
  char setting[128], errstr[512];
  snprintf(setting, sizeof(setting), "guard.catalog=%s", path);
  const char *const settings[] = {setting, NULL};
  lf_test_env_t env;
  lf_test_env_start_with(&env, 0, settings);
  lf_test_propose_many(&env, "one", 200, "p-", "acme", "spend",
                       "{\"n\":%d,\"amount\":5}");
  ck_assert_int_eq(
      lf_stack_start_worker(env.stack, LF_KIND_GUARD, errstr, sizeof(errstr)),
      LF_OK);
  lf_test_records_t ok =
      lf_test_read(&env, LF_TOPIC_APPROVED, 100, 30000, match_prefix, "p-");
  lf_test_records_t no =
      lf_test_read(&env, LF_TOPIC_OBSERVATIONS, 100, 30000, match_prefix, "p-");
  ck_assert_uint_eq(ok.n, 100); /* 100 x 5 = 500 */
  ck_assert_uint_eq(no.n, 100);
  /* the first hundred (outputs are keyed by goal: read back in any order) */
  for (size_t i = 0; i < ok.n; i++)
    ck_assert_msg(strcmp(ok.v[i].key, "p-100") < 0, "%s", ok.v[i].key);
  for (size_t i = 0; i < no.n; i++) {
    ck_assert_msg(strcmp(no.v[i].key, "p-100") >= 0, "%s", no.v[i].key);
    ck_assert(has_reason((const lf_observation_t *)no.v[i].pb,
                         "budget_exceeded", "/amount"));
  }
  /* in few batches: the parts were parts of a batch */
  ck_assert_uint_le(
      lf_worker_counter(lf_stack_worker(env.stack, LF_KIND_GUARD), "batches"),
      4);
  lf_test_records_free(&ok);
  lf_test_records_free(&no);
  lf_test_env_stop(&env);
  unlink(path);
}
END_TEST

START_TEST(shadow_mode_approves_and_reports) {
  char *path = write_catalog(
      "{\"version\":\"s1\",\"x-lamfleet\":{\"mode\":\"shadow\"},\"actions\":["
      "{\"name\":\"pay\",\"inputSchema\":{\"type\":\"object\",\"properties\":"
      "{\"amount\":{\"type\":\"number\"}},\"required\":[\"amount\"]},"
      "\"x-lamfleet\":{\"deny\":\"args.amount > 100\"}}]}");
  char setting[128];
  snprintf(setting, sizeof(setting), "guard.catalog=%s", path);
  const char *const settings[] = {setting, NULL};
  lf_test_env_t env;
  lf_test_env_start_with(&env, GUARD, settings);
  lf_test_propose(&env, "acme", "s-big", "pay", "{\"amount\":500}");
  lf_test_propose(&env, "acme", "s-bad", "pay", "{\"amount\":\"x\"}");
  lf_test_records_t ok =
      lf_test_read(&env, LF_TOPIC_APPROVED, 1, 30000, match_goal_prefix, "s-");
  ck_assert_uint_eq(ok.n, 1);
  const lf_verdict_t *v = (const lf_verdict_t *)ok.v[0].pb;
  ck_assert_str_eq(ok.v[0].key, "s-big");
  ck_assert_uint_eq(v->n_reasons, 1);
  ck_assert_str_eq(v->reasons[0]->code, "policy_denied");
  /* malformed is still rejected: shadow only relaxes policy and limits */
  lf_test_records_t no = lf_test_read(&env, LF_TOPIC_OBSERVATIONS, 1, 30000,
                                      match_goal_prefix, "s-bad");
  ck_assert_uint_eq(no.n, 1);
  ck_assert_uint_eq(lf_worker_counter(lf_stack_worker(env.stack, LF_KIND_GUARD),
                                      "shadow_would_reject"),
                    1);
  lf_test_records_free(&ok);
  lf_test_records_free(&no);
  lf_test_env_stop(&env);
  unlink(path);
}
END_TEST

static int cli(lf_test_env_t *env, char *out, size_t size, const char *args) {
  return lf_test_cli(env, LF_CLI_PATH, out, size, args);
}

START_TEST(approval_round_trip_through_the_cli) {
  char out[8192];
  lf_test_env_t env;
  lf_test_env_start_with(&env, GUARD, payments);
  lf_test_propose(&env, "acme", "a-yes", "pay_invoice",
                  PAY("INV-0101", "1500", "EUR"));
  lf_test_propose(&env, "acme", "a-no", "pay_invoice",
                  PAY("INV-0102", "2000", "EUR"));
  lf_test_records_t held = lf_test_read(&env, LF_TOPIC_APPROVALS_PENDING, 2,
                                        30000, match_goal_prefix, "a-");
  ck_assert_uint_eq(held.n, 2);
  lf_test_records_free(&held);

  ck_assert_int_eq(cli(&env, out, sizeof(out), "approvals list"), 0);
  ck_assert_msg(strstr(out, "a-yes:0") && strstr(out, "a-no:0") &&
                    strstr(out, "args.amount > 1000"),
                "%s", out);
  ck_assert_int_eq(cli(&env, out, sizeof(out), "approvals deny a-no:0"), 2);
  ck_assert_int_eq(
      cli(&env, out, sizeof(out), "approvals approve a-yes:0 --note ok"), 0);
  ck_assert_int_eq(cli(&env, out, sizeof(out),
                       "approvals deny a-no:0 --reason 'over the limit'"),
                   0);

  lf_test_records_t ok = lf_test_read(&env, LF_TOPIC_APPROVED, 1, 30000,
                                      match_goal_prefix, "a-yes");
  ck_assert_uint_eq(ok.n, 1);
  lf_test_records_t no = lf_test_read(&env, LF_TOPIC_OBSERVATIONS, 1, 30000,
                                      match_goal_prefix, "a-no");
  ck_assert_uint_eq(no.n, 1);
  const lf_observation_t *o = (const lf_observation_t *)no.v[0].pb;
  ck_assert(has_reason(o, "approval_denied", ""));
  ck_assert_msg(strstr(o->reasons[0]->message, "denied by dev") &&
                    strstr(o->reasons[0]->message, "over the limit"),
                "%s", o->reasons[0]->message);
  lf_test_records_free(&ok);
  lf_test_records_free(&no);

  /* decided: nothing waits any more, the approved amount is spent */
  for (int i = 0; i < 100; i++) {
    cli(&env, out, sizeof(out), "approvals list");
    if (!*out)
      break;
    usleep(50000);
  }
  ck_assert_msg(!*out, "still listed: %s", out);
  ck_assert_int_eq(cli(&env, out, sizeof(out), "approvals approve a-no:0"), 1);
  ck_assert_msg(strstr(out, "no action a-no:0 waits"), "%s", out);
  redisContext *c = lf_test_redis(&env);
  redisReply *r =
      redisCommand(c, "KEYS lamfleet:budget:4:acme:11:pay_invoice:*");
  ck_assert_uint_eq(r->elements, 1);
  redisReply *spent = redisCommand(c, "GET %s", r->element[0]->str);
  ck_assert_str_eq(spent->str, "1500");
  freeReplyObject(spent);
  freeReplyObject(r);
  redisFree(c);
  lf_test_env_stop(&env);
}
END_TEST

START_TEST(unanswered_approval_expires) {
  const char *const settings[] = {"guard.catalog=${examples}/payments.json",
                                  "guard.approval.ttl.ms=1000",
                                  "worker.tick.ms=100", NULL};
  lf_test_env_t env;
  lf_test_env_start_with(&env, GUARD, settings);
  lf_test_propose(&env, "acme", "e-late", "refund_order",
                  "{\"order_id\":\"0b0a3f5e-8c3d-4d7e-9f3a-1b2c3d4e5f60\","
                  "\"reason\":\"damaged\"}");
  lf_test_records_t no = lf_test_read(&env, LF_TOPIC_OBSERVATIONS, 1, 30000,
                                      match_goal_prefix, "e-late");
  ck_assert_uint_eq(no.n, 1);
  ck_assert(
      has_reason((const lf_observation_t *)no.v[0].pb, "approval_expired", ""));
  lf_test_records_free(&no);
  lf_test_env_stop(&env);
}
END_TEST

/* Offline cases: what `lamfleet guard check` says must be what the worker
 * does with the same action. */
static const char *const agree[][3] = {
    {"c-unknown", "wire_money", "{}"},
    {"c-malformed", "pay_invoice", "{\"amount\":"},
    {"c-schema", "pay_invoice",
     "{\"invoice_id\":\"X1\",\"amount\":20000.001,\"currency\":\"JPY\","
     "\"extra\":1}"},
    {"c-policy", "pay_invoice", PAY("INV-0201", "10", "GBP")},
    {"c-type", "pay_invoice",
     "{\"invoice_id\":\"INV-0203\",\"amount\":\"ten\",\"currency\":\"EUR\","
     "\"iban\":7}"},
    {"c-email", "send_email",
     "{\"to\":\"eve@evil.com\",\"subject\":\"hi\",\"body\":\"x\"}"},
    {"c-ok", "pay_invoice", PAY("INV-0202", "100", "EUR")},
    {"c-hold", "refund_order",
     "{\"order_id\":\"0b0a3f5e-8c3d-4d7e-9f3a-1b2c3d4e5f60\","
     "\"reason\":\"damaged\"}"},
};

/* "code path;code path;..." of a list of reasons. */
static void codes(char *out, size_t size, Lamfleet__V1__Reason **r, size_t n) {
  out[0] = '\0';
  for (size_t i = 0; i < n; i++)
    snprintf(out + strlen(out), size - strlen(out), "%s %s;", r[i]->code,
             r[i]->path);
}

START_TEST(guard_check_agrees_with_the_worker) {
  const size_t n = sizeof(agree) / sizeof(agree[0]);
  char path[] = "/tmp/lf-actions-XXXXXX", args[256], out[16384];
  int fd = mkstemp(path);
  FILE *f = fdopen(fd, "w");
  lf_test_env_t env;
  lf_test_env_start_with(&env, GUARD, payments);
  for (size_t i = 0; i < n; i++) {
    json_t *line = json_pack("{s:s,s:s,s:s}", "name", agree[i][1], "arguments",
                             agree[i][2], "tenant", "acme");
    char *text = json_dumps(line, JSON_COMPACT);
    fprintf(f, "%s\n", text);
    free(text);
    json_decref(line);
    lf_test_propose(&env, "acme", agree[i][0], agree[i][1], agree[i][2]);
  }
  fclose(f);
  snprintf(args, sizeof(args),
           "-X 'guard.catalog=${examples}/payments.json' guard check --json %s",
           path);
  ck_assert_int_eq(cli(&env, out, sizeof(out), args), 1);
  lf_test_records_t obs = read_goals(&env, LF_TOPIC_OBSERVATIONS, 6, "c-");
  lf_test_records_t ok =
      lf_test_read(&env, LF_TOPIC_APPROVED, 1, 30000, match_goal_prefix, "c-");
  lf_test_records_t held = lf_test_read(&env, LF_TOPIC_APPROVALS_PENDING, 1,
                                        30000, match_goal_prefix, "c-");
  ck_assert_uint_eq(obs.n + ok.n + held.n, n);
  char *line = out;
  for (size_t i = 0; i < n; i++) {
    char *end = strchr(line, '\n');
    ck_assert_ptr_nonnull(end);
    *end = '\0';
    json_t *v = json_loads(line, 0, NULL);
    ck_assert_msg(v != NULL, "not JSON: %s", line);
    const char *decision = json_string_value(json_object_get(v, "decision"));
    char offline[2048] = "", online[2048] = "";
    size_t k;
    json_t *r;
    json_array_foreach(json_object_get(v, "reasons"), k, r) {
      snprintf(offline + strlen(offline), sizeof(offline) - strlen(offline),
               "%s %s;", json_string_value(json_object_get(r, "code")),
               json_string_value(json_object_get(r, "path")));
    }
    const char *worker = "?";
    for (size_t j = 0; j < obs.n; j++)
      if (!strcmp(obs.v[j].key, agree[i][0])) {
        const lf_observation_t *o = (const lf_observation_t *)obs.v[j].pb;
        worker = "rejected";
        codes(online, sizeof(online), o->reasons, o->n_reasons);
      }
    for (size_t j = 0; j < ok.n; j++)
      if (!strcmp(ok.v[j].key, agree[i][0]))
        worker = "approved";
    for (size_t j = 0; j < held.n; j++)
      if (!strcmp(held.v[j].key, agree[i][0])) {
        const lf_verdict_t *hv = (const lf_verdict_t *)held.v[j].pb;
        worker = "needs_approval";
        codes(online, sizeof(online), hv->reasons, hv->n_reasons);
      }
    ck_assert_msg(!strcmp(decision, worker) && !strcmp(offline, online),
                  "%s: guard check says %s [%s], the worker %s [%s]",
                  agree[i][0], decision, offline, worker, online);
    json_decref(v);
    line = end + 1;
  }
  lf_test_records_free(&obs);
  lf_test_records_free(&ok);
  lf_test_records_free(&held);
  unlink(path);
  lf_test_env_stop(&env);
}
END_TEST

/* A human approves under one catalog, the guard runs another by then: the
 * action needs a fresh approval under the catalog in force. */
START_TEST(catalog_change_asks_again) {
  char *text = lf_read_file(LF_EXAMPLES_DIR "/payments.json", NULL, NULL, 0);
  ck_assert_ptr_nonnull(text);
  char *v = strstr(text, "payments-1");
  ck_assert_ptr_nonnull(v);
  v[9] = '2'; /* version payments-2, same rules */
  char *path = write_catalog(text);
  free(text);
  char out[4096], setting[128];
  lf_test_env_t env;
  lf_test_env_start_with(&env, GUARD, payments);
  lf_test_propose(&env, "acme", "v-pay", "pay_invoice",
                  PAY("INV-0301", "1500", "EUR"));
  lf_test_records_t held = lf_test_read(&env, LF_TOPIC_APPROVALS_PENDING, 1,
                                        30000, match_goal_prefix, "v-pay");
  ck_assert_uint_eq(held.n, 1);
  lf_test_records_free(&held);
  lf_stack_stop_worker(env.stack, LF_KIND_GUARD);
  char errstr[512];
  snprintf(setting, sizeof(setting), "guard.catalog=%s", path);
  ck_assert_int_eq(lf_conf_set_kv(env.conf, setting, errstr, sizeof(errstr)),
                   LF_OK);
  ck_assert_int_eq(
      lf_stack_start_worker(env.stack, LF_KIND_GUARD, errstr, sizeof(errstr)),
      LF_OK);
  ck_assert_int_eq(cli(&env, out, sizeof(out), "approvals approve v-pay:0"), 0);
  held = lf_test_read(&env, LF_TOPIC_APPROVALS_PENDING, 2, 30000,
                      match_goal_prefix, "v-pay");
  ck_assert_uint_eq(held.n, 2);
  const lf_verdict_t *again = (const lf_verdict_t *)held.v[1].pb;
  ck_assert_str_eq(again->catalog_version, "payments-2");
  ck_assert_msg(strstr(again->reasons[again->n_reasons - 1]->message,
                       "catalog changed from payments-1 to payments-2"),
                "%s", again->reasons[again->n_reasons - 1]->message);
  lf_test_records_t ok = lf_test_read(&env, LF_TOPIC_APPROVED, 1, 2000,
                                      match_goal_prefix, "v-pay");
  ck_assert_uint_eq(ok.n, 0); /* not approved on the old say-so */
  lf_test_records_free(&ok);
  lf_test_records_free(&held);
  /* the fresh approval goes through */
  ck_assert_int_eq(cli(&env, out, sizeof(out), "approvals approve v-pay:0"), 0);
  ok = lf_test_read(&env, LF_TOPIC_APPROVED, 1, 30000, match_goal_prefix,
                    "v-pay");
  ck_assert_uint_eq(ok.n, 1);
  lf_test_records_free(&ok);
  lf_test_env_stop(&env);
  unlink(path);
}
END_TEST

/* One call of the admission script, its n results in res. */
static void admit_call(lf_redis_t *r, const lf_admit_t *a, size_t n,
                       lf_admit_result_t *res) {
  char errstr[512];
  ck_assert_msg(!lf_limits_append(r, a, n, errstr, sizeof(errstr)) &&
                    !lf_limits_reply(r, res, n, errstr, sizeof(errstr)),
                "%s", errstr);
}

/* The admission script on its own against the real redis-server: a
 * batch's actions see one another's rate and budget use, the counters
 * are written once per batch with their window's TTL, the next batch
 * starts from them, and a duplicate key is answered with its holder. */
START_TEST(admission_counts_within_and_across_batches) {
  lf_test_env_t env;
  char errstr[512];
  lf_test_env_start(&env, 0);
  lf_redis_t *r = lf_redis_new(env.conf, errstr, sizeof(errstr));
  ck_assert_msg(r != NULL, "%s", errstr);
  lf_catalog_action_t d = {.name = "pay",
                           .rate_count = 3,
                           .rate_window_ms = 60000,
                           .budget_arg = "amount",
                           .budget_limit = 100,
                           .budget_window_ms = 120000};
  int64_t now = 1700000000000;
  const char *ids[] = {"a:0", "b:0", "c:0", "d:0", "e:0"};
  const char *keys[] = {"k-a", "k-b", "k-c", "k-a", "k-e"};
  double amounts[] = {40, 50.5, 20, 1, 1};
  lf_admit_t a[5];
  for (int i = 0; i < 5; i++)
    a[i] =
        (lf_admit_t){"acme", ids[i], keys[i], &d, amounts[i], 60000, 1, 1, now};
  lf_admit_result_t res[5];
  /* 40 + 50.5 fit the budget of 100; 20 more does not; k-a again is a
   * duplicate of a:0; the rate (3) is not reached: 2 admitted so far */
  admit_call(r, a, 4, res);
  ck_assert_int_eq(res[0].status, LF_ADMIT_OK);
  ck_assert_int_eq(res[1].status, LF_ADMIT_OK);
  ck_assert_int_eq(res[2].status, LF_ADMIT_BUDGET_EXCEEDED);
  ck_assert(res[2].spent > 90.4 && res[2].spent < 90.6);
  ck_assert_int_eq(res[3].status, LF_ADMIT_DUPLICATE);
  ck_assert_str_eq(res[3].holder, "a:0");
  redisContext *c = lf_test_redis(&env);
  redisReply *k = redisCommand(c, "KEYS lamfleet:rate:*");
  ck_assert_uint_eq(k->elements, 1);
  redisReply *v = redisCommand(c, "GET %s", k->element[0]->str);
  ck_assert_str_eq(v->str, "2");
  freeReplyObject(v);
  v = redisCommand(c, "PTTL %s", k->element[0]->str);
  ck_assert(v->integer > 50000 && v->integer <= 60000);
  freeReplyObject(v);
  freeReplyObject(k);
  k = redisCommand(c, "KEYS lamfleet:budget:*");
  ck_assert_uint_eq(k->elements, 1);
  v = redisCommand(c, "GET %s", k->element[0]->str);
  ck_assert_str_eq(v->str, "90.5");
  freeReplyObject(v);
  v = redisCommand(c, "PTTL %s", k->element[0]->str);
  ck_assert(v->integer > 110000 && v->integer <= 120000);
  freeReplyObject(v);
  freeReplyObject(k);
  /* the next batch starts from the stored counters: one more call is
   * within the rate (3rd), the one after is over it */
  a[3] = (lf_admit_t){"acme", "f:0", "k-f", &d, 1, 60000, 1, 1, now};
  lf_admit_t next[2] = {a[3], a[4]};
  admit_call(r, next, 2, res);
  ck_assert_int_eq(res[0].status, LF_ADMIT_OK);
  ck_assert_int_eq(res[1].status, LF_ADMIT_RATE_LIMITED);
  ck_assert_int_eq(res[1].used, 3);
  /* tenants in one call count on counters of their own, each passed once */
  lf_admit_t mixed[3] = {{"t1", "m1:0", "k-m1", &d, 60, 60000, 1, 1, now},
                         {"t2", "m2:0", "k-m2", &d, 60, 60000, 1, 1, now},
                         {"t1", "m3:0", "k-m3", &d, 60, 60000, 1, 1, now}};
  admit_call(r, mixed, 3, res);
  ck_assert_int_eq(res[0].status, LF_ADMIT_OK);
  ck_assert_int_eq(res[1].status, LF_ADMIT_OK);
  ck_assert_int_eq(res[2].status, LF_ADMIT_BUDGET_EXCEEDED);
  ck_assert(res[2].spent > 59.9 && res[2].spent < 60.1);
  redisFree(c);
  lf_redis_destroy(r);
  lf_test_env_stop(&env);
}
END_TEST

int main(void) {
  Suite *s = suite_create("guard");
  TCase *tc = tcase_create("guard");
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, every_decision_code);
  tcase_add_test(tc, admission_counts_within_and_across_batches);
  tcase_add_test(tc, two_guards_never_overspend);
  tcase_add_test(tc, a_big_batch_is_admitted_in_order);
  tcase_add_test(tc, shadow_mode_approves_and_reports);
  tcase_add_test(tc, approval_round_trip_through_the_cli);
  tcase_add_test(tc, unanswered_approval_expires);
  tcase_add_test(tc, guard_check_agrees_with_the_worker);
  tcase_add_test(tc, catalog_change_asks_again);
  suite_add_tcase(s, tc);
  return lf_test_run(s);
}
