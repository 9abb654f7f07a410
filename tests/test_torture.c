/* Allocation failures, in curl's spirit: each scenario runs once counting
 * its allocations, then once for every k with the k-th allocation
 * failing. Every run must end cleanly (an error said, or success): no
 * crash, no double free, no leak (the sanitizer build checks those). The
 * fleet's own allocations are counted through -Wl,--wrap (malloc, calloc,
 * realloc, strdup, strndup), jansson's through json_set_alloc_funcs and
 * protobuf-c's through the decoder's allocator. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "actions.h"
#include "approver.h"
#include "body.h"
#include "guard.h"
#include "lf_text.h"
#include "log.h"
#include "mock.h"
#include "playbook.h"
#include "redis_server.h"
#include "sign.h"
#include "util.h"
#include "worker.h"

/* No test framework here: its own allocations would be failed too. */
#define ck_assert_msg(cond, ...)                                               \
  do {                                                                         \
    if (!(cond)) {                                                             \
      fail_at = -1;                                                            \
      fprintf(stderr, "%s:%d: %s: ", __FILE__, __LINE__, #cond);               \
      fprintf(stderr, __VA_ARGS__);                                            \
      fprintf(stderr, " (allocation %ld of the run failed)\n", failing);       \
      exit(1);                                                                 \
    }                                                                          \
  } while (0)
#define ck_assert(cond) ck_assert_msg(cond, "%s", "")
#define ck_assert_ptr_nonnull(p) ck_assert((p) != NULL)
#define ck_assert_int_eq(a, b) ck_assert((a) == (b))
#define ck_assert_int_gt(a, b) ck_assert((a) > (b))

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t n);
char *__real_strdup(const char *s);
char *__real_strndup(const char *s, size_t n);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_realloc(void *p, size_t n);
char *__wrap_strdup(const char *s);
char *__wrap_strndup(const char *s, size_t n);

static long fail_at = -1, count, failing = -1;

static int fails(void) {
  long k = count++;
  return fail_at >= 0 && k == fail_at;
}
void *__wrap_malloc(size_t n) {
  return fails() ? NULL : __real_malloc(n);
}
void *__wrap_calloc(size_t n, size_t size) {
  return fails() ? NULL : __real_calloc(n, size);
}
void *__wrap_realloc(void *p, size_t n) {
  return fails() ? NULL : __real_realloc(p, n);
}
char *__wrap_strdup(const char *s) {
  return fails() ? NULL : __real_strdup(s);
}
char *__wrap_strndup(const char *s, size_t n) {
  return fails() ? NULL : __real_strndup(s, n);
}
/* jansson's lexer asserts instead of failing when an allocation fails
 * inside json_loads (jansson issue #362, open): while it parses, its
 * allocations are not failed; everything else of jansson's is. */
static int parsing;
json_t *__real_json_loads(const char *s, size_t flags, json_error_t *e);
json_t *__real_json_loadb(const char *b, size_t n, size_t flags,
                          json_error_t *e);
json_t *__wrap_json_loads(const char *s, size_t flags, json_error_t *e);
json_t *__wrap_json_loadb(const char *b, size_t n, size_t flags,
                          json_error_t *e);
json_t *__wrap_json_loads(const char *s, size_t flags, json_error_t *e) {
  if (fails()) /* as if the parser's first allocation failed */
    return NULL;
  parsing++;
  json_t *v = __real_json_loads(s, flags, e);
  parsing--;
  return v;
}
json_t *__wrap_json_loadb(const char *b, size_t n, size_t flags,
                          json_error_t *e) {
  if (fails())
    return NULL;
  parsing++;
  json_t *v = __real_json_loadb(b, n, flags, e);
  parsing--;
  return v;
}
static void *json_alloc(size_t n) {
  return !parsing && fails() ? NULL : __real_malloc(n);
}

/* Runs fn with no failure (counting), then failing each allocation in
 * turn; returns how many allocations the clean run made. */
static long torture(void (*fn)(int clean)) {
  json_set_alloc_funcs(json_alloc, free);
  fail_at = -1;
  count = 0;
  fn(1);
  long n = count;
  count = 0;
  fail_at = -1;
  fn(1); /* the same count again: the scenario is deterministic */
  ck_assert_int_eq(count, n);
  for (long k = 0; k < n; k++) {
    fail_at = failing = k;
    count = 0;
    fn(0);
  }
  failing = -1;
  fail_at = -1;
  return n;
}

static char *payments, *catalog_text;

static void load_examples(void) {
  payments = lf_read_file(LF_EXAMPLES_DIR "/payments.json", NULL, NULL, 0);
  catalog_text = lf_read_file(LF_EXAMPLES_DIR "/catalog.json", NULL, NULL, 0);
  ck_assert(payments && catalog_text);
}

static void catalog(int clean) {
  char errstr[512] = "";
  lf_catalog_t *cat =
      lf_catalog_parse(payments, "payments.json", errstr, sizeof(errstr));
  ck_assert_msg(cat || *errstr, "no catalog and no error");
  ck_assert(cat || !clean);
  lf_catalog_destroy(cat);
}

static lf_catalog_t *fixed_catalog;

static void evaluate(int clean) {
  static const char *const args[] = {
      "{\"invoice_id\":\"INV-0042\",\"amount\":250.5,\"currency\":\"EUR\","
      "\"iban\":\"DE89370400440532013000\"}",
      "{\"invoice_id\":\"nope\",\"amount\":99999,\"currency\":\"JPY\","
      "\"iban\":\"KP00\",\"extra\":[1,2]}",
      "{\"invoice_id\":"};
  for (size_t i = 0; i < 3; i++) {
    lf_action_t a = LF_ACTION_INIT;
    lf_reasons_t r = {0};
    lf_guard_eval_t e;
    a.name = "pay_invoice";
    a.tenant = "acme";
    a.arguments_json = (char *)args[i];
    lf_err_t err = lf_guard_evaluate(fixed_catalog, &a, &r, &e);
    ck_assert(err == LF_OK || err == LF_ERR_NOMEM);
    ck_assert(err == LF_OK || !clean);
    /* a failure never reads as "approved": with no memory, either the
     * error or a reason stands */
    if (i && err == LF_OK)
      ck_assert(r.n > 0);
    lf_guard_eval_clear(&e);
    lf_reasons_free(&r);
  }
}

static void body(int clean) {
  char errstr[256] = "";
  json_t *tmpl = json_loads("{\"refund\": {\"invoice\": \"{invoice_id}\", "
                            "\"amount\": \"{amount}\"}, \"reason\": \"refund "
                            "of {invoice_id} for {amount}\", \"tags\": "
                            "[\"{invoice_id}\", \"x\"]}",
                            0, NULL);
  json_t *args =
      json_loads("{\"invoice_id\": \"INV-7\", \"amount\": 12.5}", 0, NULL);
  if (tmpl && args) {
    json_t *out = lf_http_body_render(tmpl, args, errstr, sizeof(errstr));
    ck_assert_msg(out || *errstr, "no body and no error");
    json_decref(out);
  } else {
    ck_assert(!clean);
  }
  json_decref(tmpl);
  json_decref(args);
}

static uint8_t *verdict_bytes;
static size_t verdict_len;

static void decode(int clean) {
  char why[256] = "";
  ProtobufCMessage *m =
      lf_proto_decode(lf_proto_topic_descriptor(LF_TOPIC_APPROVED),
                      verdict_bytes, verdict_len, why, sizeof(why));
  ck_assert_msg(m || *why, "no record and no reason");
  ck_assert(m || !clean);
  if (m) {
    char *json = lf_proto_to_json(m);
    char digest[LF_SHA256_HEX_LEN + 1];
    lf_verdict_digest((const lf_verdict_t *)m, digest);
    free(json);
  }
  lf_proto_free(m);
}

static void playbook(int clean) {
  char errstr[512] = "";
  const char *text =
      "{\"playbooks\":[{\"name\":\"p\",\"match\":\"^pay ([0-9]+) to (.+)$\","
      "\"steps\":[{\"action\":\"pay\",\"arguments\":{\"to\":\"{{2}}\","
      "\"memo\":[\"{{tenant}}\",\"goal {{goal_id}} step {{step}}\"]},"
      "\"idempotency_key\":\"pay-{{1}}\"}],\"answer\":\"paid {{1}}\"}]}";
  lf_playbook_t *pb = lf_playbook_parse(text, "p.json", errstr, sizeof(errstr));
  ck_assert_msg(pb || *errstr, "no playbook and no error");
  ck_assert(pb || !clean);
  json_t *caps = NULL;
  int play = pb ? lf_playbook_match(pb, "pay 12 to Bob", &caps) : -1;
  if (play >= 0) {
    lf_play_vars_t v = {.goal_id = "g1",
                        .tenant = "acme",
                        .text = "pay 12 to Bob",
                        .captures = caps,
                        .step = 0};
    lf_play_step_t s;
    if (lf_playbook_render_step(pb, play, 0, &v, &s) == LF_OK)
      lf_play_step_clear(&s);
    free(lf_playbook_render_answer(pb, play, &v));
  }
  json_decref(caps);
  lf_playbook_destroy(pb);
}

static void bindings(int clean) {
  char errstr[512] = "";
  setenv("DEMO_PAYMENTS_ADDR", "127.0.0.1:9", 1);
  lf_catalog_t *cat =
      lf_catalog_parse(catalog_text, "catalog.json", errstr, sizeof(errstr));
  lf_actions_t *a = cat ? lf_actions_new(cat, errstr, sizeof(errstr)) : NULL;
  ck_assert_msg(a || *errstr, "no bindings and no error");
  ck_assert(a || !clean);
  lf_actions_destroy(a);
  lf_catalog_destroy(cat);
}

static void text(int clean) {
  (void)clean;
  char clean_text[64];
  const char raw[] = "ok \xff\xfe \r\n \x1b[31m done \xc3";
  lf_text_clean(clean_text, sizeof(clean_text), raw, sizeof(raw) - 1);
  size_t n;
  free(lf_utf8_repair(raw, sizeof(raw) - 1, &n));
}

static void approvers(int clean) {
  char errstr[512] = "", pub[256], priv[256], setting[600];
  lf_conf_t *conf = lf_conf_new();
  if (!conf) {
    ck_assert(!clean);
    return;
  }
  if (lf_approver_keygen("alice", pub, sizeof(pub), priv, sizeof(priv), errstr,
                         sizeof(errstr)) == LF_OK) {
    snprintf(setting, sizeof(setting), "approvers=%s:finance", pub);
    if (lf_conf_set_kv(conf, setting, errstr, sizeof(errstr)) == LF_OK) {
      lf_approvers_t *ap = lf_approvers_new(conf, errstr, sizeof(errstr));
      ck_assert_msg(ap || *errstr, "no approvers and no error");
      lf_approvers_destroy(ap);
    }
  }
  lf_conf_destroy(conf);
}

/* One guard batch through a real worker (mock cluster, redis-server):
 * approvals signed and published, rejections, a duplicate, all through
 * Redis. Every run uses a tenant of its own so that each run takes the
 * same path. */
static lf_worker_t *guard_w;
static long guard_runs;

static uint64_t counter(const char *name) {
  return lf_worker_counter(guard_w, name);
}

static void guard_batch(int clean) {
  static const char *const actions[][3] = {
      {"echo", "{\"message\":\"hi\"}", ""},
      {"pay_invoice", "{\"invoice_id\":\"INV-1\"}", "invoice-1"},
      {"drop_database", "{\"database\":\"prod\"}", ""},
      {"echo", "{\"message\":5}", ""},
      {"echo", "{\"message\":\"hi\"}", ""}}; /* the first again */
  enum { N = 5 };
  char tenant[32], goal[N][48], action[N][64], errstr[512] = "";
  lf_action_t a[N];
  lf_msg_t m[N];
  uint8_t *bytes[N] = {0};
  int ok = 1;
  snprintf(tenant, sizeof(tenant), "t%08ld", guard_runs++);
  memset(m, 0, sizeof(m));
  for (int i = 0; i < N; i++) {
    snprintf(goal[i], sizeof(goal[i]), "g-%s-%d", tenant, i == 4 ? 0 : i);
    snprintf(action[i], sizeof(action[i]), "%s:%d", goal[i], i == 4 ? 1 : 0);
    a[i] = (lf_action_t)LF_ACTION_INIT;
    a[i].action_id = action[i];
    a[i].goal_id = goal[i];
    a[i].tenant = tenant;
    a[i].name = (char *)actions[i][0];
    a[i].arguments_json = (char *)actions[i][1];
    a[i].idempotency_key = (char *)actions[i][2];
    m[i].topic = LF_TOPIC_PROPOSED;
    m[i].pb = &a[i].base;
    m[i].topic_name = "lamfleet.actions.proposed";
    m[i].offset = i;
    m[i].key = goal[i];
    m[i].key_len = strlen(goal[i]);
    ok = ok && (bytes[i] = lf_proto_encode(&a[i].base, &m[i].len));
    m[i].value = bytes[i];
  }
  uint64_t approved = counter("approved"), rejected = counter("rejected"),
           duplicates = counter("duplicates");
  lf_err_t err = ok ? lf_worker_handle(guard_w, m, N, errstr, sizeof(errstr))
                    : LF_ERR_NOMEM;
  ck_assert_msg(err == LF_OK || *errstr || !ok, "error %d and no message", err);
  ck_assert_msg(err == LF_OK || !clean, "%s", errstr);
  /* fail closed: whatever failed, never more than the two good actions
   * approved (an allocation failure while deciding rejects); a batch that
   * says it went through decided all five, and a clean one right */
  approved = counter("approved") - approved;
  rejected = counter("rejected") - rejected;
  duplicates = counter("duplicates") - duplicates;
  ck_assert_msg(approved <= 2, "%llu approved", (unsigned long long)approved);
  ck_assert_msg(err || approved + rejected + duplicates == N,
                "%llu approved, %llu rejected, %llu duplicates",
                (unsigned long long)approved, (unsigned long long)rejected,
                (unsigned long long)duplicates);
  ck_assert(!clean || (approved == 2 && rejected == 2 && duplicates == 1));
  for (int i = 0; i < N; i++)
    free(bytes[i]);
}

static lf_mock_t *guard_mock;
static lf_redis_server_t *guard_redis;
static lf_conf_t *guard_conf;

static void guard_start(void) {
  char errstr[512], keys[128], obs[128];
  guard_conf = lf_conf_new();
  ck_assert_ptr_nonnull(guard_conf);
  guard_redis =
      lf_redis_server_start("redis-server", 1, errstr, sizeof(errstr));
  ck_assert_msg(guard_redis != NULL, "%s", errstr);
  ck_assert(!lf_keyring_random_spec(keys, sizeof(keys)) &&
            !lf_keyring_random_spec(obs, sizeof(obs)));
  const char *const kv[][2] = {{"log.level", "error"},
                               {"kafka.statistics.interval.ms", "0"},
                               {"redis.url", lf_redis_server_url(guard_redis)},
                               {"signing.keys", keys},
                               {"observation.keys", obs},
                               {"dev.brokers", "1"},
                               {"dev.partitions", "1"}};
  for (size_t i = 0; i < sizeof(kv) / sizeof(kv[0]); i++)
    ck_assert_msg(
        !lf_conf_set(guard_conf, kv[i][0], kv[i][1], errstr, sizeof(errstr)),
        "%s", errstr);
  lf_log_configure(guard_conf);
  guard_mock = lf_mock_new(guard_conf, errstr, sizeof(errstr));
  ck_assert_msg(guard_mock != NULL, "%s", errstr);
  ck_assert(!lf_conf_set(guard_conf, "kafka.bootstrap.servers",
                         lf_mock_bootstraps(guard_mock), errstr,
                         sizeof(errstr)));
  guard_w =
      lf_worker_new(guard_conf, &lf_guard_handler, errstr, sizeof(errstr));
  ck_assert_msg(guard_w != NULL, "%s", errstr);
  guard_batch(1); /* counters and connections made once, outside the count */
}

static void guard_stop(void) {
  guard_batch(1); /* still deciding right after every failure */
  lf_worker_destroy(guard_w);
  lf_mock_destroy(guard_mock);
  lf_redis_server_stop(guard_redis);
  lf_conf_destroy(guard_conf);
}

int main(void) {
  load_examples();
  char errstr[512];
  fixed_catalog =
      lf_catalog_parse(payments, "payments.json", errstr, sizeof(errstr));
  ck_assert_msg(fixed_catalog != NULL, "%s", errstr);
  lf_verdict_t v = LF_VERDICT_INIT;
  lf_action_t a = LF_ACTION_INIT;
  lf_reason_t r = LF_REASON_INIT, *rs[] = {&r, &r};
  a.action_id = "g1:0";
  a.goal_id = "g1";
  a.tenant = "acme";
  a.name = "pay_invoice";
  a.arguments_json = "{\"invoice_id\":\"INV-1\",\"amount\":5}";
  r.code = "value_error";
  r.path = "/amount";
  r.message = "too much";
  v.action = &a;
  v.n_reasons = 2;
  v.reasons = rs;
  v.idempotency_key = "k-1";
  verdict_bytes = lf_proto_encode(&v.base, &verdict_len);
  ck_assert_ptr_nonnull(verdict_bytes);

  struct {
    const char *name;
    void (*fn)(int);
  } scenarios[] = {{"catalog", catalog},
                   {"evaluate", evaluate},
                   {"body", body},
                   {"decode", decode},
                   {"playbook", playbook},
                   {"bindings", bindings},
                   {"text", text},
                   {"approvers", approvers},
                   {"guard batch", guard_batch}};
  guard_start();
  for (size_t i = 0; i < sizeof(scenarios) / sizeof(scenarios[0]); i++) {
    long n = torture(scenarios[i].fn);
    fprintf(stderr, "torture %-10s %ld allocations, each failed in turn\n",
            scenarios[i].name, n);
    ck_assert_int_gt(n, 0);
  }
  json_set_alloc_funcs(malloc, free);
  guard_stop();
  lf_catalog_destroy(fixed_catalog);
  free(verdict_bytes);
  free(payments);
  free(catalog_text);
  printf("%zu passed, 0 failed\n", sizeof(scenarios) / sizeof(scenarios[0]));
  return 0;
}
