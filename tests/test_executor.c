/* The executor runs only what the guard approved: approvals forged,
 * altered, expired, for actions outside its catalog, or not approvals at
 * all land in dlq with the reason and never run. */
#include <stdio.h>
#include <string.h>

#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "llm_server.h"
#include "mock.h"
#include "redis.h"
#include "redis_server.h"
#include "runstate.h"
#include "sign.h"
#include "support.h"
#include "util.h"

#define EXECUTOR (1u << LF_KIND_EXECUTOR)
#define KEY_A "test-a:0123456789abcdef0123456789abcdef0123456789abcdef"
#define KEY_B "test-b:fedcba9876543210fedcba9876543210fedcba9876543210"

typedef struct approval {
  lf_verdict_t v;
  lf_action_t a;
  char action_id[64], goal_id[64];
  uint8_t sig[LF_SIGNATURE_LEN];
} approval_t;

/* An approval of echo for goal_id, valid for a minute, unsigned. */
static void approve(approval_t *p, const char *goal_id, const char *name,
                    const char *args) {
  memset(p, 0, sizeof(*p));
  p->a = (lf_action_t)LF_ACTION_INIT;
  p->v = (lf_verdict_t)LF_VERDICT_INIT;
  snprintf(p->goal_id, sizeof(p->goal_id), "%s", goal_id);
  snprintf(p->action_id, sizeof(p->action_id), "%s:0", goal_id);
  p->a.action_id = p->action_id;
  p->a.goal_id = p->goal_id;
  p->a.tenant = "acme";
  p->a.name = (char *)name;
  p->a.arguments_json = (char *)args;
  p->a.idempotency_key = p->action_id;
  p->v.action = &p->a;
  p->v.decision = LF_DECISION_APPROVED;
  p->v.idempotency_key = p->action_id;
  p->v.catalog_version = "demo-1";
  p->v.expires_at_ms = lf_now_ms() + 60000;
}

static lf_keyring_t *keyring(const char *spec) {
  char errstr[256];
  lf_conf_t *c = lf_conf_new();
  ck_assert_ptr_nonnull(c);
  ck_assert_int_eq(lf_conf_set(c, "signing.keys", spec, errstr, sizeof(errstr)),
                   LF_OK);
  lf_keyring_t *k = lf_keyring_new(c, errstr, sizeof(errstr));
  ck_assert_msg(k != NULL, "%s", errstr);
  lf_conf_destroy(c);
  return k;
}

static void sign(lf_keyring_t *k, approval_t *p) {
  char errstr[256];
  ck_assert_int_eq(
      lf_verdict_sign(k, &p->v, NULL, p->sig, errstr, sizeof(errstr)), LF_OK);
}

static void publish(lf_test_env_t *env, approval_t *p) {
  lf_test_produce(env, LF_TOPIC_APPROVED, p->goal_id, &p->v.base);
}

static const char *dlq_reason(const lf_test_records_t *r, const char *key) {
  for (size_t i = 0; i < r->n; i++)
    if (!strcmp(r->v[i].key, key) && r->v[i].pb)
      return ((const lf_dead_letter_t *)r->v[i].pb)->error;
  return NULL;
}

START_TEST(only_what_the_guard_approved_runs) {
  lf_test_env_t env;
  const char *const settings[] = {"signing.keys=" KEY_A, NULL};
  lf_keyring_t *ka = keyring(KEY_A), *kb = keyring(KEY_B);
  approval_t p;
  lf_test_env_start_with(&env, EXECUTOR, settings);

  approve(&p, "x-ok", "echo", "{\"message\":\"fine\"}");
  sign(ka, &p);
  publish(&env, &p);
  approve(&p, "x-unsigned", "echo", "{\"message\":\"hi\"}");
  publish(&env, &p);
  approve(&p, "x-wrong-key", "echo", "{\"message\":\"hi\"}");
  sign(kb, &p);
  publish(&env, &p);
  approve(&p, "x-altered", "echo", "{\"message\":\"hi\"}");
  sign(ka, &p);
  p.a.arguments_json = "{\"message\":\"rm -rf /\"}";
  publish(&env, &p);
  approve(&p, "x-expired", "echo", "{\"message\":\"hi\"}");
  p.v.expires_at_ms = lf_now_ms() - 1000;
  sign(ka, &p);
  publish(&env, &p);
  approve(&p, "x-unknown", "drop_database", "{\"database\":\"prod\"}");
  sign(ka, &p);
  publish(&env, &p);
  approve(&p, "x-rejected", "echo", "{\"message\":\"hi\"}");
  p.v.decision = LF_DECISION_REJECTED;
  sign(ka, &p);
  publish(&env, &p);

  lf_test_records_t dlq =
      lf_test_read(&env, LF_TOPIC_DLQ, 6, 30000, NULL, NULL);
  ck_assert_uint_eq(dlq.n, 6);
  const struct {
    const char *key, *why;
  } want[] = {{"x-unsigned", "not signed"},
              {"x-wrong-key", "unknown key \"test-b\""},
              {"x-altered", "does not match"},
              {"x-expired", "expired"},
              {"x-unknown", "\"drop_database\" is not in catalog demo-1"},
              {"x-rejected", "not an approval"}};
  for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
    const char *r = dlq_reason(&dlq, want[i].key);
    ck_assert_msg(r && strstr(r, "approval refused") && strstr(r, want[i].why),
                  "%s: %s", want[i].key, r ? r : "not in dlq");
  }
  lf_test_records_free(&dlq);

  /* one observation, of the genuine approval; nothing else ran */
  lf_test_records_t obs =
      lf_test_read(&env, LF_TOPIC_OBSERVATIONS, 2, 3000, NULL, NULL);
  ck_assert_uint_eq(obs.n, 1);
  ck_assert_str_eq(obs.v[0].key, "x-ok");
  lf_test_records_free(&obs);
  lf_worker_t *w = lf_stack_worker(env.stack, LF_KIND_EXECUTOR);
  ck_assert_uint_eq(lf_worker_counter(w, "executions"), 1);
  ck_assert_uint_eq(lf_worker_counter(w, "approvals_refused"), 6);
  lf_keyring_destroy(ka);
  lf_keyring_destroy(kb);
  lf_test_env_stop(&env);
}
END_TEST

/* A long sleep_ms holds up nothing: actions approved after it finish
 * while it waits, and its observation comes when its time is up. */
START_TEST(a_sleep_holds_up_nothing) {
  lf_test_env_t env;
  const char *const settings[] = {"signing.keys=" KEY_A, NULL};
  lf_keyring_t *ka = keyring(KEY_A);
  approval_t p;
  lf_test_env_start_with(&env, EXECUTOR, settings);
  approve(&p, "x-sleep", "sleep_ms", "{\"ms\":4000}");
  sign(ka, &p);
  publish(&env, &p);
  char goal[16];
  for (int i = 0; i < 5; i++) {
    snprintf(goal, sizeof(goal), "x-echo-%d", i);
    approve(&p, goal, "echo", "{\"message\":\"meanwhile\"}");
    sign(ka, &p);
    publish(&env, &p);
  }
  lf_test_records_t obs =
      lf_test_read(&env, LF_TOPIC_OBSERVATIONS, 5, 3000, NULL, NULL);
  ck_assert_uint_eq(obs.n, 5); /* the echoes, not the sleep */
  for (size_t i = 0; i < obs.n; i++)
    ck_assert_msg(strncmp(obs.v[i].key, "x-echo-", 7) == 0, "%s", obs.v[i].key);
  lf_test_records_free(&obs);
  obs = lf_test_read(&env, LF_TOPIC_OBSERVATIONS, 6, 30000, NULL, NULL);
  ck_assert_uint_eq(obs.n, 6);
  const lf_observation_t *slept = NULL;
  for (size_t i = 0; i < obs.n; i++)
    if (!strcmp(obs.v[i].key, "x-sleep"))
      slept = (const lf_observation_t *)obs.v[i].pb;
  ck_assert_ptr_nonnull(slept);
  ck_assert_int_eq(slept->status, LF_OBS_SUCCEEDED);
  ck_assert_str_eq(slept->result_json, "{\"slept_ms\":4000}");
  lf_test_records_free(&obs);
  lf_keyring_destroy(ka);
  lf_test_env_stop(&env);
}
END_TEST

/* A catalog whose actions call the test's server over HTTP. */
static void write_catalog(char *path, unsigned port) {
  int fd = mkstemp(path);
  ck_assert_int_ge(fd, 0);
  FILE *f = fdopen(fd, "w");
  ck_assert_ptr_nonnull(f);
  fprintf(f,
          "{\"version\": \"http-1\", \"actions\": ["
          "{\"name\": \"pay_invoice\", \"description\": \"Pays.\", "
          "\"inputSchema\": {\"type\": \"object\", \"properties\": "
          "{\"invoice_id\": {\"type\": \"string\"}, \"amount\": {\"type\": "
          "\"number\"}}, \"required\": [\"invoice_id\", \"amount\"]}, "
          "\"x-lamfleet\": {\"executor\": {\"kind\": \"http\", \"method\": "
          "\"POST\", \"url\": "
          "\"http://127.0.0.1:%u/v1/invoices/{invoice_id}/pay\", "
          "\"allow_internal\": [\"127.0.0.1:%u\"], \"headers\": "
          "{\"Authorization\": \"Bearer ${LF_TEST_PAY_TOKEN}\"}, "
          "\"response_headers\": [\"x-receipt\"], \"timeout\": \"5s\", "
          "\"retries\": 2, \"redirects\": 1}}},"
          "{\"name\": \"refund_invoice\", \"description\": \"Refunds.\", "
          "\"inputSchema\": {\"type\": \"object\"}, \"x-lamfleet\": "
          "{\"executor\": {\"kind\": \"http\", \"url\": "
          "\"http://127.0.0.1:%u/v1/refunds\", \"allow_internal\": "
          "[\"127.0.0.1:%u\"], \"body\": {\"refund\": {\"invoice\": "
          "\"{invoice_id}\", \"amount\": \"{amount}\"}, \"reason\": "
          "\"refund of {invoice_id}\"}}}},"
          "{\"name\": \"poke_loopback\", \"description\": \"Refused.\", "
          "\"inputSchema\": {\"type\": \"object\"}, \"x-lamfleet\": "
          "{\"executor\": {\"kind\": \"http\", \"url\": "
          "\"http://127.0.0.1:%u/v1/poke\"}}}]}",
          port, port, port, port, port);
  ck_assert_int_eq(fclose(f), 0);
}

static lf_observation_t *observation(lf_test_env_t *env, const char *key,
                                     size_t n, lf_test_records_t *keep) {
  *keep = lf_test_read(env, LF_TOPIC_OBSERVATIONS, n, 30000, lf_test_match_goal,
                       (void *)key);
  ck_assert_uint_eq(keep->n, n);
  return (lf_observation_t *)keep->v[n - 1].pb;
}

/* The executor's HTTP world: a server on loopback, a catalog calling it,
 * the signing key, and the embedded stack with workers (extra settings,
 * NULL-terminated, may be NULL). */
typedef struct http_fixture {
  lf_test_env_t env;
  lf_llm_server_t *srv;
  lf_keyring_t *ka;
  char path[40], setting[128];
} http_fixture_t;

static void http_start(http_fixture_t *h, unsigned workers,
                       const char *const *extra) {
  const char *settings[8] = {"signing.keys=" KEY_A, h->setting};
  unsigned port = 0;
  size_t n = 2;
  h->srv = lf_llm_server_start();
  ck_assert_int_eq(
      sscanf(lf_llm_server_url(h->srv), "http://127.0.0.1:%u", &port), 1);
  snprintf(h->path, sizeof(h->path), "/tmp/lamfleet-http-catalog-XXXXXX");
  write_catalog(h->path, port);
  snprintf(h->setting, sizeof(h->setting), "executor.catalog=%s", h->path);
  for (size_t i = 0; extra && extra[i] && n < 7; i++)
    settings[n++] = extra[i];
  settings[n] = NULL;
  setenv("LF_TEST_PAY_TOKEN", "tok-123", 1);
  h->ka = keyring(KEY_A);
  lf_test_env_start_with(&h->env, workers, settings);
}

static void http_stop(http_fixture_t *h) {
  lf_keyring_destroy(h->ka);
  lf_test_env_stop(&h->env);
  lf_llm_server_stop(h->srv);
  unlink(h->path);
}

/* A genuine approval of name(args) for goal, on actions.approved. */
static void send_approved(http_fixture_t *h, approval_t *p, const char *goal,
                          const char *name, const char *args) {
  approve(p, goal, name, args);
  sign(h->ka, p);
  publish(&h->env, p);
}

START_TEST(http_actions_reach_only_what_they_may) {
  http_fixture_t h;
  lf_test_records_t r;
  approval_t p;
  http_start(&h, EXECUTOR, NULL);
  lf_llm_server_t *srv = h.srv;

  /* a 503, then a hang-up mid-response, are retried with the same
   * Idempotency-Key; the 201 is observed */
  lf_llm_server_push(srv, 503, "{\"error\":\"busy\"}", 0, NULL);
  lf_llm_server_push_hangup(srv, "{\"paid\":");
  lf_llm_server_push(srv, 201, "{\"paid\":true}", 0, NULL);
  send_approved(&h, &p, "x-pay", "pay_invoice",
                "{\"invoice_id\":\"INV/7\",\"amount\":5}");
  lf_observation_t *o = observation(&h.env, "x-pay", 1, &r);
  ck_assert_msg(o->status == LF_OBS_SUCCEEDED, "%s", o->error);
  json_t *res = json_loads(o->result_json, 0, NULL);
  ck_assert_int_eq(json_integer_value(json_object_get(res, "status")), 201);
  ck_assert(
      json_is_true(json_object_get(json_object_get(res, "body"), "paid")));
  json_decref(res);
  lf_test_records_free(&r);
  lf_llm_request_t *q;
  size_t n = lf_llm_server_requests(srv, &q);
  ck_assert_uint_eq(n, 3);
  for (size_t i = 0; i < n; i++) {
    /* the server decodes the path: INV%2F7 on the wire (see http_guard) */
    ck_assert_str_eq(q[i].path, "/v1/invoices/INV/7/pay");
    ck_assert_str_eq(q[i].idempotency_key, "x-pay:0");
    ck_assert_str_eq(q[i].authorization, "Bearer tok-123");
    ck_assert_str_eq(q[i].body, "{\"invoice_id\":\"INV/7\",\"amount\":5}");
  }
  lf_llm_requests_free(q, n);

  /* delivered again: the stored observation, not a second payment */
  publish(&h.env, &p);
  o = observation(&h.env, "x-pay", 2, &r);
  ck_assert_int_eq(o->status, LF_OBS_SUCCEEDED);
  lf_test_records_free(&r);
  ck_assert_uint_eq(lf_llm_server_total(srv), 3);

  /* a body template places the arguments; the rest is the catalog's */
  lf_llm_server_push(srv, 200, "{}", 0, NULL);
  send_approved(&h, &p, "x-refund", "refund_invoice",
                "{\"invoice_id\":\"INV-3\",\"amount\":2.5}");
  o = observation(&h.env, "x-refund", 1, &r);
  ck_assert_msg(o->status == LF_OBS_SUCCEEDED, "%s", o->error);
  lf_test_records_free(&r);
  n = lf_llm_server_requests(srv, &q);
  ck_assert_uint_eq(n, 4);
  ck_assert_str_eq(q[3].path, "/v1/refunds");
  ck_assert_str_eq(q[3].body, "{\"refund\":{\"invoice\":\"INV-3\",\"amount\":"
                              "2.5},\"reason\":\"refund of INV-3\"}");
  lf_llm_requests_free(q, n);

  /* a status the binding does not accept fails the action */
  lf_llm_server_push(srv, 402, "{\"error\":\"insufficient funds\"}", 0, NULL);
  send_approved(&h, &p, "x-402", "pay_invoice",
                "{\"invoice_id\":\"INV-8\",\"amount\":9}");
  o = observation(&h.env, "x-402", 1, &r);
  ck_assert_int_eq(o->status, LF_OBS_FAILED);
  ck_assert_msg(strstr(o->error, "HTTP 402") &&
                    strstr(o->error, "insufficient funds"),
                "%s", o->error);
  lf_test_records_free(&r);

  /* a redirect is followed within the allowlist, and only there */
  lf_llm_server_push_redirect(srv, "/v1/invoices/INV-10/receipt");
  lf_llm_server_push(srv, 201, "{\"paid\":\"after a redirect\"}", 0, NULL);
  send_approved(&h, &p, "x-moved", "pay_invoice",
                "{\"invoice_id\":\"INV-10\",\"amount\":1}");
  o = observation(&h.env, "x-moved", 1, &r);
  ck_assert_msg(o->status == LF_OBS_SUCCEEDED, "%s", o->error);
  ck_assert_ptr_nonnull(strstr(o->result_json, "after a redirect"));
  lf_test_records_free(&r);
  static const char *const away[] = {"/admin/wipe",
                                     "http://169.254.169.254/latest/"};
  for (int i = 0; i < 2; i++) {
    char goal[32];
    lf_llm_server_push_redirect(srv, away[i]);
    snprintf(goal, sizeof(goal), "x-away-%d", i);
    send_approved(&h, &p, goal, "pay_invoice",
                  "{\"invoice_id\":\"INV-11\",\"amount\":1}");
    o = observation(&h.env, goal, 1, &r);
    ck_assert_int_eq(o->status, LF_OBS_FAILED);
    ck_assert_msg(strstr(o->error, "not in the binding's allowlist"), "%s: %s",
                  away[i], o->error);
    lf_test_records_free(&r);
  }
  ck_assert_uint_eq(lf_llm_server_total(srv), 9); /* no request followed */

  /* loopback without allow_internal: refused before connecting, and no
   * connection kept alive for the other bindings is lent to this one */
  send_approved(&h, &p, "x-poke", "poke_loopback", "{}");
  o = observation(&h.env, "x-poke", 1, &r);
  ck_assert_int_eq(o->status, LF_OBS_FAILED);
  ck_assert_msg(strstr(o->error, "refused to connect") &&
                    strstr(o->error, "loopback"),
                "%s", o->error);
  lf_test_records_free(&r);
  ck_assert_uint_eq(lf_llm_server_total(srv), 9);

  http_stop(&h);
}
END_TEST

static pid_t spawn_executor(lf_test_env_t *env, const char *catalog) {
  char cat[512];
  snprintf(cat, sizeof(cat), "executor.catalog=%s", catalog);
  const char *const settings[] = {"signing.keys=" KEY_A, cat,
                                  "executor.lease.ms=3000", NULL};
  return lf_test_spawn(env, LF_EXECUTOR_PATH, settings);
}

/* Killed between the HTTP call and its commit, the executor's successor
 * makes the call again with the same Idempotency-Key (a downstream that
 * honours it pays once) and the goal gets one observation. */
/* An action slower than executor.lease.ms keeps its lease while its
 * executor lives: a second executor (another group, so it gets the same
 * approval) waits for it instead of taking it over, and the server is
 * called once. */
START_TEST(a_slow_action_keeps_its_lease) {
  http_fixture_t h;
  const char *const extra[] = {"executor.lease.ms=900", NULL};
  const char *const other[] = {"executor.group.id=lamfleet-executor-b",
                               "executor.lease.ms=900", NULL};
  lf_test_records_t r;
  approval_t p;
  http_start(&h, EXECUTOR, extra);
  char cat[512];
  snprintf(cat, sizeof(cat), "executor.catalog=%s", h.path);
  const char *const settings[] = {other[0], other[1], cat,
                                  "signing.keys=" KEY_A, NULL};
  pid_t child = lf_test_spawn(&h.env, LF_EXECUTOR_PATH, settings);

  /* both executors are consuming once each has answered a first action */
  lf_llm_server_push(h.srv, 201, "{\"paid\":\"warm\"}", 0, NULL);
  send_approved(&h, &p, "x-warm", "pay_invoice",
                "{\"invoice_id\":\"INV-1\",\"amount\":1}");
  observation(&h.env, "x-warm", 2, &r);
  lf_test_records_free(&r);

  lf_llm_server_push(h.srv, 201, "{\"paid\":\"slowly\"}", 3000, NULL);
  lf_llm_server_push(h.srv, 201, "{\"paid\":\"twice\"}", 0, NULL);
  send_approved(&h, &p, "x-slow", "pay_invoice",
                "{\"invoice_id\":\"INV-2\",\"amount\":2}");
  lf_observation_t *o = observation(&h.env, "x-slow", 2, &r);
  ck_assert_ptr_nonnull(strstr(o->result_json, "slowly"));
  ck_assert_ptr_nonnull(
      strstr(((lf_observation_t *)r.v[0].pb)->result_json, "slowly"));
  lf_test_records_free(&r);
  ck_assert_uint_eq(lf_llm_server_total(h.srv), 2); /* warm-up, slow: once */
  lf_worker_t *w = lf_stack_worker(h.env.stack, LF_KIND_EXECUTOR);
  ck_assert_uint_eq(lf_worker_counter(w, "runs_taken_over"), 0);
  kill(child, SIGTERM);
  waitpid(child, NULL, 0);
  http_stop(&h);
}
END_TEST

START_TEST(a_killed_executor_is_taken_over) {
  http_fixture_t h;
  char errstr[512];
  const char *const extra[] = {"kafka.session.timeout.ms=6000",
                               "executor.lease.ms=3000", NULL};
  lf_test_records_t r;
  approval_t p;
  http_start(&h, 0, extra);
  lf_llm_server_t *srv = h.srv;
  pid_t child = spawn_executor(&h.env, h.path);

  lf_llm_server_push(srv, 201, "{\"paid\":\"late\"}", 3000, NULL);
  lf_llm_server_push(srv, 201, "{\"paid\":true}", 0, NULL);
  send_approved(&h, &p, "x-crash", "pay_invoice",
                "{\"invoice_id\":\"INV-9\",\"amount\":1}");
  for (int i = 0; i < 600 && !lf_llm_server_total(srv); i++)
    usleep(50000);
  ck_assert_uint_eq(lf_llm_server_total(srv), 1);
  kill(child, SIGKILL);
  waitpid(child, NULL, 0);

  ck_assert_int_eq(lf_stack_start_worker(h.env.stack, LF_KIND_EXECUTOR, errstr,
                                         sizeof(errstr)),
                   LF_OK);
  lf_observation_t *o = observation(&h.env, "x-crash", 1, &r);
  ck_assert_msg(o->status == LF_OBS_SUCCEEDED, "%s", o->error);
  ck_assert_ptr_nonnull(strstr(o->result_json, "\"paid\":true"));
  lf_test_records_free(&r);
  lf_llm_request_t *q;
  size_t n = lf_llm_server_requests(srv, &q);
  ck_assert_uint_eq(n, 2);
  ck_assert_str_eq(q[0].idempotency_key, "x-crash:0");
  ck_assert_str_eq(q[1].idempotency_key, "x-crash:0");
  lf_llm_requests_free(q, n);
  sleep(4); /* the first call's answer went to nobody */
  r = lf_test_read(&h.env, LF_TOPIC_OBSERVATIONS, 2, 2000, lf_test_match_goal,
                   "x-crash");
  ck_assert_uint_eq(r.n, 1);
  lf_test_records_free(&r);

  http_stop(&h);
}
END_TEST

/* SIGTERM in the middle of a call: the executor lets the call finish,
 * publishes its observation, commits and leaves; its successor finds
 * nothing to do (scaling down loses nothing and duplicates nothing). */
START_TEST(sigterm_drains_calls_in_flight) {
  http_fixture_t h;
  char errstr[512];
  const char *const extra[] = {"kafka.session.timeout.ms=6000", NULL};
  lf_test_records_t r;
  approval_t p;
  int status = 0;
  http_start(&h, 0, extra);
  pid_t child = spawn_executor(&h.env, h.path);
  lf_llm_server_push(h.srv, 201, "{\"paid\":\"drained\"}", 1500, NULL);
  send_approved(&h, &p, "x-drain", "pay_invoice",
                "{\"invoice_id\":\"INV-12\",\"amount\":1}");
  for (int i = 0; i < 600 && !lf_llm_server_total(h.srv); i++)
    usleep(50000);
  ck_assert_uint_eq(lf_llm_server_total(h.srv), 1);
  int64_t t0 = lf_monotonic_ms();
  kill(child, SIGTERM);
  ck_assert_int_eq(waitpid(child, &status, 0), child);
  ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "status %d",
                status);
  ck_assert_int_lt(lf_monotonic_ms() - t0, 15000);
  lf_observation_t *o = observation(&h.env, "x-drain", 1, &r);
  ck_assert_msg(o->status == LF_OBS_SUCCEEDED, "%s", o->error);
  ck_assert_ptr_nonnull(strstr(o->result_json, "drained"));
  lf_test_records_free(&r);

  ck_assert_int_eq(lf_stack_start_worker(h.env.stack, LF_KIND_EXECUTOR, errstr,
                                         sizeof(errstr)),
                   LF_OK);
  lf_worker_t *w = lf_stack_worker(h.env.stack, LF_KIND_EXECUTOR);
  for (int i = 0; i < 400 && !lf_worker_assigned(w); i++)
    usleep(50000);
  ck_assert_int_gt(lf_worker_assigned(w), 0);
  sleep(2);
  r = lf_test_read(&h.env, LF_TOPIC_OBSERVATIONS, 2, 2000, lf_test_match_goal,
                   "x-drain");
  ck_assert_uint_eq(r.n, 1);
  lf_test_records_free(&r);
  ck_assert_uint_eq(lf_worker_counter(w, "records_consumed"), 0);
  ck_assert_uint_eq(lf_llm_server_total(h.srv), 1);
  http_stop(&h);
}
END_TEST

static lf_run_t claim_key(lf_redis_t *r, const char *key, const char *owner,
                          int64_t lease_ms) {
  char errstr[256];
  lf_run_t run = {.tenant = "acme", .key = key};
  ck_assert_msg(lf_run_claim(r, &run, 1, owner, lf_now_ms(), lease_ms, errstr,
                             sizeof(errstr)) == LF_OK,
                "%s", errstr);
  return run;
}

static lf_run_t claim_as(lf_redis_t *r, const char *owner, int64_t lease_ms) {
  return claim_key(r, "k-1", owner, lease_ms);
}

static int finish_as(lf_redis_t *r, lf_run_t *run, const char *obs) {
  char errstr[256];
  run->obs = (uint8_t *)obs;
  run->obs_len = strlen(obs);
  ck_assert_msg(lf_run_finish(r, run, 1, 60, errstr, sizeof(errstr)) == LF_OK,
                "%s", errstr);
  run->obs = NULL;
  return run->stale;
}

static int renew_as(lf_redis_t *r, lf_run_t *run, const char *owner,
                    int64_t lease_ms) {
  char errstr[256];
  ck_assert_msg(lf_run_renew(r, run, 1, owner, lf_now_ms(), lease_ms, errstr,
                             sizeof(errstr)) == LF_OK,
                "%s", errstr);
  return run->stale;
}

/* The run state machine against a real redis-server: a live lease is
 * waited for, an expired one taken over with a higher fence, the old
 * owner's late result refused, and a done run answered from its store. */
START_TEST(runs_are_claimed_fenced_and_finished_once) {
  lf_test_env_t env;
  char errstr[256];
  lf_test_env_start(&env, 0);
  lf_redis_t *r = lf_redis_new(env.conf, errstr, sizeof(errstr));
  ck_assert_msg(r != NULL, "%s", errstr);

  lf_run_t a = claim_as(r, "exec-a", 300);
  ck_assert_int_eq(a.state, LF_RUN_CLAIMED);
  ck_assert_int_eq(a.fence, 1);
  ck_assert(!a.took_over);
  lf_run_t b = claim_as(r, "exec-b", 300);
  ck_assert_int_eq(b.state, LF_RUN_BUSY);
  ck_assert_str_eq(b.holder, "exec-a");
  ck_assert_int_gt(b.until_ms, lf_now_ms());

  /* renewed, a lease outlives its first term */
  for (int i = 0; i < 3; i++) {
    lf_sleep_ms(150);
    ck_assert(!renew_as(r, &a, "exec-a", 300));
  }
  ck_assert_int_eq(claim_as(r, "exec-b", 300).state, LF_RUN_BUSY);
  ck_assert(renew_as(r, &a, "exec-b", 300)); /* not exec-b's to renew */

  lf_sleep_ms(400); /* exec-a's lease runs out */
  b = claim_as(r, "exec-b", 300);
  ck_assert_int_eq(b.state, LF_RUN_CLAIMED);
  ck_assert_int_eq(b.fence, 2);
  ck_assert(b.took_over);
  ck_assert(renew_as(r, &a, "exec-a", 300));       /* lost: b holds it now */
  ck_assert(finish_as(r, &a, "late result of a")); /* refused */
  ck_assert(!finish_as(r, &b, "result of b"));

  lf_run_t c = claim_as(r, "exec-c", 300);
  ck_assert_int_eq(c.state, LF_RUN_DONE);
  ck_assert_uint_eq(c.obs_len, strlen("result of b"));
  ck_assert_mem_eq(c.obs, "result of b", c.obs_len);
  free(c.obs);
  ck_assert(finish_as(r, &a, "even later")); /* still refused */

  redisContext *rc = lf_test_redis(&env);
  redisReply *rep = redisCommand(rc, "EXISTS lamfleet:run:4:acme:k-1");
  ck_assert_int_eq(rep->integer, 0); /* done: only the observation stays */
  freeReplyObject(rep);
  redisFree(rc);
  lf_redis_destroy(r);
  lf_test_env_stop(&env);
}
END_TEST

/* At most executor.max.inflight calls at once, the rest waiting their
 * turn with fetching paused; an action running at another executor is
 * waited for on the side (the batch is not failed and retried), then
 * taken over when that executor's lease runs out. */
START_TEST(actions_in_flight_are_capped) {
  http_fixture_t h;
  char errstr[256];
  const char *const extra[] = {"executor.max.inflight=2", NULL};
  approval_t p;
  http_start(&h, EXECUTOR, extra);
  lf_redis_t *rd = lf_redis_new(h.env.conf, errstr, sizeof(errstr));
  ck_assert_msg(rd != NULL, "%s", errstr);
  lf_run_t held = claim_key(rd, "x-held:0", "executor-elsewhere", 3000);
  ck_assert_int_eq(held.state, LF_RUN_CLAIMED);
  for (int i = 0; i < 7; i++)
    lf_llm_server_push(h.srv, 201, "{\"paid\":true}", 300, NULL);

  send_approved(&h, &p, "x-held", "pay_invoice",
                "{\"invoice_id\":\"INV-0\",\"amount\":1}");
  for (int i = 0; i < 6; i++) {
    char goal[32], args[64];
    snprintf(goal, sizeof(goal), "x-cap-%d", i);
    snprintf(args, sizeof(args), "{\"invoice_id\":\"INV-%d\",\"amount\":1}",
             i + 1);
    send_approved(&h, &p, goal, "pay_invoice", args);
  }
  lf_test_records_t r =
      lf_test_read(&h.env, LF_TOPIC_OBSERVATIONS, 7, 30000, NULL, NULL);
  ck_assert_uint_eq(r.n, 7);
  size_t last = 0;
  for (size_t i = 0; i < r.n; i++) {
    const lf_observation_t *o = (const lf_observation_t *)r.v[i].pb;
    ck_assert_msg(o->status == LF_OBS_SUCCEEDED, "%s: %s", r.v[i].key,
                  o->error);
    for (size_t k = 0; k < i; k++)
      ck_assert_str_ne(r.v[k].key, r.v[i].key);
    if (o->observed_at_ms >
        ((const lf_observation_t *)r.v[last].pb)->observed_at_ms)
      last = i;
  }
  /* the six went by while x-held waited out the other's lease */
  ck_assert_str_eq(r.v[last].key, "x-held");
  lf_test_records_free(&r);
  ck_assert_uint_eq(lf_llm_server_total(h.srv), 7);
  ck_assert_uint_eq(lf_llm_server_max_pending(h.srv), 2);
  lf_worker_t *w = lf_stack_worker(h.env.stack, LF_KIND_EXECUTOR);
  ck_assert_uint_ge(lf_worker_counter(w, "fetch_pauses"), 1);
  ck_assert_uint_eq(lf_worker_counter(w, "batches_failed"), 0);
  ck_assert_uint_eq(lf_worker_counter(w, "runs_taken_over"), 1);
  lf_redis_destroy(rd);
  http_stop(&h);
}
END_TEST

/* An executor stopped (SIGTERM) just after a rebalance took partitions
 * from it lets its calls in flight finish and publishes them before it
 * leaves; its successor waits for those runs instead of calling again once
 * their leases lapse: every key is called once. */
START_TEST(a_rebalance_then_sigterm_calls_nothing_twice) {
  http_fixture_t h;
  char errstr[512], goal[32];
  const char *const extra[] = {"kafka.session.timeout.ms=6000",
                               "executor.lease.ms=3000", NULL};
  approval_t p;
  int status = 0;
  enum { N = 8 };
  http_start(&h, 0, extra);
  pid_t child = spawn_executor(&h.env, h.path);
  /* answers from 4 s to 8.9 s (within refund_invoice's default 10 s
   * timeout): whichever partitions stay with the first executor after
   * the rebalance, some calls of the others outlast theirs */
  for (int i = 0; i < N; i++)
    lf_llm_server_push(h.srv, 201, "{\"refunded\":true}", 4000 + 700 * i, NULL);
  for (int i = 0; i < N; i++) {
    char args[64];
    snprintf(goal, sizeof(goal), "x-rb-%d", i);
    snprintf(args, sizeof(args), "{\"invoice_id\":\"INV-%d\",\"amount\":1}",
             100 + i);
    send_approved(&h, &p, goal, "refund_invoice", args);
  }
  for (int i = 0; i < 600 && lf_llm_server_total(h.srv) < N; i++)
    usleep(20000);
  ck_assert_uint_eq(lf_llm_server_total(h.srv), N);
  /* a second executor joins: the first one's partitions are revoked */
  ck_assert_int_eq(lf_stack_start_worker(h.env.stack, LF_KIND_EXECUTOR, errstr,
                                         sizeof(errstr)),
                   LF_OK);
  lf_worker_t *w = lf_stack_worker(h.env.stack, LF_KIND_EXECUTOR);
  /* the group rebalances: the first one's partitions are revoked, some
   * come back; the runs of the others were forgotten as records */
  for (int i = 0; i < 1500 && !lf_worker_assigned(w); i++)
    usleep(20000); /* a rejoin waits for a heartbeat: seconds */
  ck_assert_int_gt(lf_worker_assigned(w), 0);
  kill(child, SIGTERM); /* calls still in flight there */
  ck_assert_int_eq(waitpid(child, &status, 0), child);
  ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "status %d",
                status);
  for (int i = 0; i < N; i++) {
    lf_test_records_t r;
    snprintf(goal, sizeof(goal), "x-rb-%d", i);
    lf_observation_t *o = observation(&h.env, goal, 1, &r);
    ck_assert_msg(o->status == LF_OBS_SUCCEEDED, "%s: %s", goal, o->error);
    lf_test_records_free(&r);
  }
  sleep(4); /* past the leases: nothing is taken over and called again */
  ck_assert_uint_eq(lf_llm_server_total(h.srv), N);
  ck_assert_uint_eq(lf_worker_counter(w, "runs_taken_over"), 0);
  http_stop(&h);
}
END_TEST

/* Redis goes away while a call is in flight: the answer that arrives is
 * kept (not turned into a timeout), the executor backs off instead of
 * spinning on Redis, and once Redis is back the run is stored and
 * published, the server called once. */
START_TEST(a_redis_outage_costs_no_spinning) {
  http_fixture_t h;
  char errstr[512];
  lf_test_records_t r;
  approval_t p;
  uint64_t conn0, conn1, reply;
  http_start(&h, EXECUTOR, NULL);
  lf_redis_server_t *rs = lf_stack_redis_server(h.env.stack);
  lf_llm_server_push(h.srv, 201, "{\"paid\":\"late\"}", 1000, NULL);
  send_approved(&h, &p, "x-outage", "pay_invoice",
                "{\"invoice_id\":\"INV-77\",\"amount\":1}");
  for (int i = 0; i < 600 && !lf_llm_server_total(h.srv); i++)
    usleep(10000);
  ck_assert_uint_eq(lf_llm_server_total(h.srv), 1);
  ck_assert_int_eq(lf_redis_server_kill(rs), LF_OK);
  lf_redis_errors(&conn0, &reply);
  sleep(3); /* the answer comes at 1 s; Redis stays away for 3 */
  lf_redis_errors(&conn1, &reply);
  ck_assert_int_eq(lf_redis_server_restart(rs, errstr, sizeof(errstr)), LF_OK);
  /* backing off (20 ms doubling to 2 s) makes a handful of attempts */
  ck_assert_msg(conn1 - conn0 < 50, "%llu Redis connection errors in 3 s",
                (unsigned long long)(conn1 - conn0));
  lf_observation_t *o = observation(&h.env, "x-outage", 1, &r);
  ck_assert_msg(o->status == LF_OBS_SUCCEEDED, "%s", o->error);
  ck_assert_ptr_nonnull(strstr(o->result_json, "late"));
  lf_test_records_free(&r);
  ck_assert_uint_eq(lf_llm_server_total(h.srv), 1);
  http_stop(&h);
}
END_TEST

/* What a server sends back is its business, but it must not stop the
 * fleet: a body larger than a record is cut so that the observation fits
 * (status and headers kept, "truncated"), bytes that are not UTF-8 are
 * replaced, and an error quoting a body stays printable. */
START_TEST(responses_are_observed_within_a_record) {
  http_fixture_t h;
  lf_test_records_t r;
  approval_t p;
  http_start(&h, EXECUTOR, NULL);
  size_t big = 1040000; /* under max_response_bytes (1 MiB), over a record */
  char *body = malloc(big + 3);
  ck_assert_ptr_nonnull(body);
  body[0] = '"';
  memset(body + 1, 'b', big);
  body[big + 1] = '"';
  body[big + 2] = '\0';
  lf_llm_server_push(h.srv, 201, body, 0, NULL);
  free(body);
  send_approved(&h, &p, "x-big", "pay_invoice", "{\"invoice_id\":\"INV-1\"}");
  lf_observation_t *o = observation(&h.env, "x-big", 1, &r);
  ck_assert_msg(o->status == LF_OBS_SUCCEEDED, "%s", o->error);
  json_t *res = json_loads(o->result_json, 0, NULL);
  ck_assert_ptr_nonnull(res);
  ck_assert_int_eq(json_integer_value(json_object_get(res, "status")), 201);
  ck_assert(json_is_true(json_object_get(res, "truncated")));
  size_t kept = json_string_length(json_object_get(res, "body"));
  ck_assert_msg(kept > 900000 && kept < big, "%zu bytes kept", kept);
  json_decref(res);
  lf_test_records_free(&r);

  lf_llm_server_push(h.srv, 201, "ok \xff\xfe done", 0, NULL);
  send_approved(&h, &p, "x-bytes", "pay_invoice", "{\"invoice_id\":\"INV-2\"}");
  o = observation(&h.env, "x-bytes", 1, &r);
  ck_assert_msg(o->status == LF_OBS_SUCCEEDED, "%s", o->error);
  res = json_loads(o->result_json, 0, NULL);
  ck_assert_str_eq(json_string_value(json_object_get(res, "body")),
                   "ok \xef\xbf\xbd\xef\xbf\xbd done");
  json_decref(res);
  lf_test_records_free(&r);

  lf_llm_server_push(h.srv, 400, "bad \xff\r\nX-Evil: 1", 0, NULL);
  send_approved(&h, &p, "x-bad", "pay_invoice", "{\"invoice_id\":\"INV-3\"}");
  o = observation(&h.env, "x-bad", 1, &r);
  ck_assert_int_eq(o->status, LF_OBS_FAILED);
  ck_assert_msg(strstr(o->error, "HTTP 400: bad \\xFF\\r\\nX-Evil: 1"), "%s",
                o->error);
  lf_test_records_free(&r);
  lf_test_records_t dlq =
      lf_test_read(&h.env, LF_TOPIC_DLQ, 1, 2000, NULL, NULL);
  ck_assert_uint_eq(dlq.n, 0);
  lf_test_records_free(&dlq);

  /* a header value with CR/LF (here from the environment, read when the
   * action runs) is refused before any request is sent */
  lf_llm_request_t *q;
  size_t before = lf_llm_server_requests(h.srv, &q);
  lf_llm_requests_free(q, before);
  setenv("LF_TEST_PAY_TOKEN", "tok\r\nX-Injected: 1", 1);
  send_approved(&h, &p, "x-crlf", "pay_invoice", "{\"invoice_id\":\"INV-4\"}");
  o = observation(&h.env, "x-crlf", 1, &r);
  ck_assert_int_eq(o->status, LF_OBS_FAILED);
  ck_assert_msg(strstr(o->error, "refused: header Authorization: its value "
                                 "holds a control character"),
                "%s", o->error);
  ck_assert_msg(!strstr(o->error, "tok"), "the value leaked: %s", o->error);
  lf_test_records_free(&r);
  size_t after = lf_llm_server_requests(h.srv, &q);
  lf_llm_requests_free(q, after);
  ck_assert_uint_eq(after, before);
  setenv("LF_TEST_PAY_TOKEN", "tok-123", 1);
  http_stop(&h);
}
END_TEST

/* While the brokers are down and an observation waits for them, the leases
 * of calls still in flight are renewed: a rebalance meanwhile (members can
 * expire during an outage longer than the lease) finds them alive, and
 * nobody calls again what is being called here. */
START_TEST(leases_are_renewed_while_the_brokers_are_down) {
  http_fixture_t h;
  lf_test_records_t r;
  approval_t p, q;
  const char *const extra[] = {"executor.lease.ms=900", NULL};
  http_start(&h, EXECUTOR, extra);
  lf_llm_server_push(h.srv, 201, "{\"paid\":\"slowly\"}", 4000, NULL);
  lf_llm_server_push(h.srv, 201, "{\"paid\":\"soon\"}", 500, NULL);
  send_approved(&h, &p, "x-slow", "pay_invoice", "{\"invoice_id\":\"INV-1\"}");
  for (int i = 0; i < 500 && lf_llm_server_total(h.srv) < 1; i++)
    usleep(10000);
  send_approved(&h, &q, "x-soon", "pay_invoice", "{\"invoice_id\":\"INV-2\"}");
  for (int i = 0; i < 500 && lf_llm_server_total(h.srv) < 2; i++)
    usleep(10000);
  ck_assert_uint_eq(lf_llm_server_total(h.srv), 2);
  rd_kafka_mock_cluster_t *mc = lf_mock_cluster(lf_stack_mock(h.env.stack));
  for (int b = 1; b <= 3; b++)
    rd_kafka_mock_broker_set_down(mc, b);
  /* x-soon's observation waits for the brokers; x-slow is still called,
   * its lease (900 ms) renewed all along */
  sleep(3);
  redisContext *rc = lf_test_redis(&h.env);
  redisReply *keys = redisCommand(rc, "KEYS lamfleet:run:*");
  ck_assert_msg(keys && keys->elements == 1, "%zu runs in flight",
                keys ? keys->elements : 0);
  redisReply *until = redisCommand(rc, "HGET %s until", keys->element[0]->str);
  ck_assert(until && until->type == REDIS_REPLY_STRING);
  long long left = atoll(until->str) - (long long)lf_now_ms();
  ck_assert_msg(left > 0, "the lease lapsed %lld ms ago", -left);
  freeReplyObject(until);
  freeReplyObject(keys);
  redisFree(rc);
  for (int b = 1; b <= 3; b++)
    rd_kafka_mock_broker_set_up(mc, b);
  lf_observation_t *o = observation(&h.env, "x-soon", 1, &r);
  ck_assert_msg(o->status == LF_OBS_SUCCEEDED, "%s", o->error);
  lf_test_records_free(&r);
  o = observation(&h.env, "x-slow", 1, &r);
  ck_assert_msg(o->status == LF_OBS_SUCCEEDED, "%s", o->error);
  lf_test_records_free(&r);
  ck_assert_uint_eq(lf_llm_server_total(h.srv), 2);
  http_stop(&h);
}
END_TEST

int main(void) {
  Suite *s = suite_create("executor");
  TCase *tc = tcase_create("executor");
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, runs_are_claimed_fenced_and_finished_once);
  tcase_add_test(tc, only_what_the_guard_approved_runs);
  tcase_add_test(tc, a_sleep_holds_up_nothing);
  tcase_add_test(tc, http_actions_reach_only_what_they_may);
  tcase_add_test(tc, a_killed_executor_is_taken_over);
  tcase_add_test(tc, a_slow_action_keeps_its_lease);
  tcase_add_test(tc, actions_in_flight_are_capped);
  tcase_add_test(tc, sigterm_drains_calls_in_flight);
  tcase_add_test(tc, responses_are_observed_within_a_record);
  tcase_add_test(tc, a_rebalance_then_sigterm_calls_nothing_twice);
  tcase_add_test(tc, a_redis_outage_costs_no_spinning);
  tcase_add_test(tc, leases_are_renewed_while_the_brokers_are_down);
  suite_add_tcase(s, tc);
  return lf_test_run(s);
}
