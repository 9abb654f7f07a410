/* The fleet tried as an attacker or a careless producer would: every limit
 * hit while deciding rejects (fail closed), and a bad record goes to the
 * dead-letter topic while the records behind it are handled. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "guard.h"
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
           "' or args.memo == 'x'\"}}]}");
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
  lf_test_records_t all =
      lf_test_read(&env, LF_TOPIC_APPROVED, 1, 500, NULL, NULL);
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

int main(void) {
  Suite *s = suite_create("adversarial");
  TCase *tc = tcase_create("adversarial");
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, limits_hit_while_deciding_reject);
  tcase_add_test(tc, limits_reject_in_the_worker_and_guard_check);
  suite_add_tcase(s, tc);
  return lf_test_run(s);
}
